package resolver

import (
	"context"
	"errors"
	"net"
	"net/netip"

	"github.com/srvbridge/srvbridge/resolver/dnsmsg"
)

const maxPacket = 65535

func (s *Server) serveUDP(c *net.UDPConn) {
	defer s.readers.Done()
	st := s.stats.shard()
	buf := make([]byte, maxPacket)
	out := make([]byte, 0, maxPacket)
	var q query
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		perr := q.parse(buf[:n])
		reply, oc := s.respond(&q, perr, out, false, st)
		switch oc {
		case replied:
			c.WriteToUDPAddrPort(reply, from)
		case await:
			s.slowUDP(c, &q, from, st)
		}
	}
}

// slowUDP answers a query whose service is not watched yet, off the reader
// goroutine. The number waiting is bounded; past it the answer is SERVFAIL at once.
func (s *Server) slowUDP(c *net.UDPConn, q *query, from netip.AddrPort, st *shard) {
	if s.closing.Load() || !s.acquireSlow() {
		st.overload.Add(1)
		reply, _ := s.count(st, q.qtype, s.errorReply(make([]byte, 0, 512), q, dnsmsg.RcodeServFail))
		c.WriteToUDPAddrPort(reply, from)
		return
	}
	st.slow.Add(1)
	pkt := append([]byte(nil), q.pkt...)
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		defer s.releaseSlow()
		var q query
		reply := s.answerAfterFetch(&q, pkt, false, st)
		c.WriteToUDPAddrPort(reply, from)
	}()
}

func (s *Server) acquireSlow() bool {
	select {
	case s.slowSem <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s *Server) releaseSlow() { <-s.slowSem }

// answerAfterFetch waits for the service's first fetch, then answers as usual;
// SERVFAIL if Consul did not answer in time.
func (s *Server) answerAfterFetch(q *query, pkt []byte, tcp bool, st *shard) []byte {
	out := make([]byte, 0, maxPacket)
	perr := q.parse(pkt)
	p := parseName(q.name, q.qtype, s.comp.zones)
	s.store.Await(context.Background(), string(p.dc), string(p.svc))
	reply, oc := s.respond(q, perr, out, tcp, st)
	if oc != replied {
		reply, _ = s.count(st, q.qtype, s.errorReply(out, q, dnsmsg.RcodeServFail))
	}
	return reply
}
