package resolver

import (
	"context"
	"net"
	"net/netip"

	"github.com/srvbridge/srvbridge/resolver/wire"
)

// slowUDP answers a query that must wait (for a first fetch from Consul, or for an
// upstream) off the reader goroutine. The number waiting is bounded; past it the
// answer is SERVFAIL at once.
func (s *Server) slowUDP(c *net.UDPConn, q *query, oc outcome, from netip.AddrPort, src []byte, st *shard) {
	sem := s.slowSem
	if oc == forward {
		sem = s.fwdSem
	}
	if s.closing.Load() || !acquire(sem) {
		st.overload.Add(1)
		reply, _ := s.count(st, q.QType, s.errorReply(make([]byte, 0, 512), q, wire.RcodeServFail))
		c.WriteMsgUDPAddrPort(reply, src, from)
		return
	}
	pkt := append([]byte(nil), q.Pkt...)
	src = append([]byte(nil), src...)
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		defer func() { <-sem }()
		var q query
		var reply []byte
		if oc == forward {
			q.Parse(pkt)
			q.recursion = true // only allowed clients are forwarded: a SERVFAIL keeps RA
			reply = s.forwardQuery(&q, pkt, false, st)
		} else {
			st.slow.Add(1)
			q.recursion = s.mayRecurse(from.Addr())
			reply = s.answerAfterFetch(&q, pkt, false, st)
		}
		c.WriteMsgUDPAddrPort(reply, src, from)
	}()
}

func acquire(sem chan struct{}) bool {
	select {
	case sem <- struct{}{}:
		return true
	default:
		return false
	}
}

// answerAfterFetch waits for the service's first fetch, then answers as usual;
// SERVFAIL if Consul did not answer in time.
func (s *Server) answerAfterFetch(q *query, pkt []byte, tcp bool, st *shard) []byte {
	out := make([]byte, 0, wire.MaxMsgLen)
	v := q.Parse(pkt)
	p := parseName(q.Name, q.QType, s.comp.zones)
	if p.kind == kindQuery {
		s.store.AwaitQuery(context.Background(), string(p.dc), string(p.svc))
	} else {
		s.store.Await(context.Background(), string(p.dc), string(p.svc))
	}
	reply, oc := s.respond(q, v, out, tcp, st)
	if oc != replied {
		reply, _ = s.count(st, q.QType, s.errorReply(out, q, wire.RcodeServFail))
	}
	return reply
}
