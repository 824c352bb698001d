package resolver

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

func (s *Server) serveTCP(l net.Listener) {
	defer s.readers.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		select {
		case s.tcpSem <- struct{}{}:
		default:
			c.Close() // over the connection limit: refuse rather than queue
			continue
		}
		s.connMu.Lock()
		s.conns[c] = struct{}{}
		s.connMu.Unlock()
		s.readers.Add(1)
		go s.serveConn(c)
	}
}

// serveConn answers length-prefixed queries (RFC 1035 4.2.2, RFC 7766) until the
// client goes quiet for the idle timeout; a slow sender cannot hold a reader.
func (s *Server) serveConn(c net.Conn) {
	defer func() {
		c.Close()
		s.connMu.Lock()
		delete(s.conns, c)
		s.connMu.Unlock()
		<-s.tcpSem
		s.readers.Done()
	}()
	buf := make([]byte, wire.MaxMsgLen)
	out := make([]byte, 2, wire.MaxMsgLen+2)
	var q query
	var recursion bool
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		recursion = s.mayRecurse(ap.Addr())
	}
	for !s.closing.Load() {
		c.SetReadDeadline(time.Now().Add(s.cfg.TCPIdleTimeout))
		if _, err := io.ReadFull(c, buf[:2]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(buf))
		if _, err := io.ReadFull(c, buf[:n]); err != nil {
			return
		}
		v := q.Parse(buf[:n])
		q.recursion = recursion
		reply, oc := s.respond(&q, v, out[2:2], true, s.tcpStats)
		switch oc {
		case drop:
			continue
		case await:
			reply = s.answerAfterFetch(&q, buf[:n], true, s.tcpStats)
		case forward:
			reply = s.forwardQuery(&q, buf[:n], true, s.tcpStats)
		}
		msg := append(binary.BigEndian.AppendUint16(out[:0], uint16(len(reply))), reply...)
		c.SetWriteDeadline(time.Now().Add(s.cfg.TCPIdleTimeout))
		if _, err := c.Write(msg); err != nil {
			return
		}
	}
}
