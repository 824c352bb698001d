package forward

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/srvbridge/srvbridge/resolver/wire"
)

var (
	errMismatch = errors.New("reply does not match the query")
	errOversize = errors.New("UDP reply larger than the query allows")
	aLongAgo    = time.Unix(1, 0)
)

// exchange asks one upstream. Over UDP a reply with TC set is asked again over TCP
// of the same upstream, and the full reply returned; if TCP fails, the truncated
// reply is returned and the client retries over TCP itself. maxUDP is the reply size
// the query asks for (512, or its EDNS size).
func exchange(ctx context.Context, addr netip.AddrPort, pkt []byte, qend int, tcp bool, maxUDP int) ([]byte, error) {
	if tcp {
		return exchangeTCP(ctx, addr, pkt, qend)
	}
	reply, err := exchangeUDP(ctx, addr, pkt, qend, maxUDP)
	oversize := errors.Is(err, errOversize)
	if err != nil && !oversize || err == nil && binary.BigEndian.Uint16(reply[2:])&wire.FlagTC == 0 {
		return reply, err
	}
	full, terr := exchangeTCP(ctx, addr, pkt, qend)
	switch {
	case terr == nil:
		return full, nil
	case oversize:
		return nil, fmt.Errorf("%w; over TCP: %w", err, terr)
	}
	return reply, nil
}

// exchangeUDP sends pkt from a fresh socket, so each query has its own random source
// port (the kernel picks it) besides its random ID. The socket is connected: the
// kernel drops datagrams from any other address, and an ICMP port unreachable ends
// the wait at once. A datagram that does not match the query is ignored and the wait
// goes on: it may be a late reply, or a spoofing attempt. The receive buffer is sized
// to what the query asks for, so a query waiting on a silent upstream holds little
// memory; a larger reply (the upstream ignored the limit) is asked again over TCP.
func exchangeUDP(ctx context.Context, addr netip.AddrPort, pkt []byte, qend, maxUDP int) ([]byte, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", addr.String())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(aLongAgo) })
	defer stop()
	if _, err := c.Write(pkt); err != nil {
		return nil, ctxErr(ctx, err)
	}
	buf := make([]byte, min(maxUDP, wire.MaxMsgLen)+1)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return nil, ctxErr(ctx, err)
		}
		if !matches(buf[:n], pkt, qend) {
			continue
		}
		if n > maxUDP {
			return nil, errOversize
		}
		return buf[:n:n], nil
	}
}

// exchangeTCP asks over a fresh connection (RFC 7766 framing). Queries over TCP are
// rare (large answers, retries after TC), so connections are not pooled.
func exchangeTCP(ctx context.Context, addr netip.AddrPort, pkt []byte, qend int) ([]byte, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(aLongAgo) })
	defer stop()
	msg := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(pkt)), uint16(len(pkt)))
	if _, err := c.Write(append(msg, pkt...)); err != nil {
		return nil, ctxErr(ctx, err)
	}
	var n [2]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		return nil, ctxErr(ctx, err)
	}
	reply := make([]byte, binary.BigEndian.Uint16(n[:]))
	if _, err := io.ReadFull(c, reply); err != nil {
		return nil, ctxErr(ctx, err)
	}
	if !matches(reply, pkt, qend) {
		return nil, fmt.Errorf("tcp: %w", errMismatch)
	}
	return reply, nil
}

// ctxErr reports the context's end rather than the deadline error it caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
