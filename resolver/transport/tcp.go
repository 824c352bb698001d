package transport

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/srvbridge/srvbridge/resolver/wire"
)

var aLongTimeAgo = time.Unix(1, 0)

func (t *Transport) serveTCP() {
	defer t.serving.Done()
	for {
		c, err := t.tcp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		select {
		case t.tcpSem <- struct{}{}:
		default:
			c.Close() // over the connection limit: refuse rather than queue
			continue
		}
		t.connMu.Lock()
		t.conns[c] = struct{}{}
		t.connMu.Unlock()
		t.serving.Add(1)
		go t.serveConn(c)
	}
}

// serveConn answers length-prefixed queries (RFC 1035 4.2.2, RFC 7766) until the
// client goes quiet for the idle timeout; a slow sender cannot hold a reader.
func (t *Transport) serveConn(c net.Conn) {
	defer func() {
		c.Close()
		t.connMu.Lock()
		delete(t.conns, c)
		t.connMu.Unlock()
		<-t.tcpSem
		t.serving.Done()
	}()
	buf := make([]byte, wire.MaxMsgLen)
	out := make([]byte, 2, wire.MaxMsgLen+2)
	s := t.h.Session(true)
	var from netip.AddrPort
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		from = a.AddrPort()
	}
	for !t.closing.Load() {
		c.SetReadDeadline(time.Now().Add(t.cfg.TCPIdleTimeout))
		if _, err := io.ReadFull(c, buf[:2]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(buf))
		if _, err := io.ReadFull(c, buf[:n]); err != nil {
			return
		}
		reply, wait := s.Answer(buf[:n], from, out[2:2])
		if wait {
			reply = s.Wait(buf[:n], from, nil)
		}
		if reply == nil {
			continue
		}
		msg := append(binary.BigEndian.AppendUint16(out[:0], uint16(len(reply))), reply...)
		c.SetWriteDeadline(time.Now().Add(t.cfg.TCPIdleTimeout))
		if _, err := c.Write(msg); err != nil {
			return
		}
	}
}
