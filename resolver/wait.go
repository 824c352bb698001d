package resolver

import (
	"context"
	"net/netip"

	"github.com/srvbridge/srvbridge/resolver/transport"
	"github.com/srvbridge/srvbridge/resolver/wire"
)

// session is the answering state of one transport reader: a UDP socket's reader,
// or one TCP connection. Its query is reused, so answering allocates nothing.
type session struct {
	s   *Server
	st  *shard
	tcp bool
	q   query
	oc  outcome // of the last Answer: await or forward when it waits
}

// Session gives each UDP reader counters of its own (no cache line shared between
// cores); TCP connections, fewer and slower, share one set.
func (s *Server) Session(tcp bool) transport.Session {
	if tcp {
		return &session{s: s, st: s.tcpStats, tcp: true}
	}
	return &session{s: s, st: s.stats.shard()}
}

func (ss *session) Answer(pkt []byte, from netip.AddrPort, out []byte) ([]byte, bool) {
	q := &ss.q
	v := q.Parse(pkt)
	q.recursion = ss.s.mayRecurse(from.Addr())
	reply, oc := ss.s.respond(q, v, out, ss.tcp, ss.st)
	ss.oc = oc
	return reply, oc == await || oc == forward
}

func (ss *session) Wait(pkt []byte, from netip.AddrPort, send func([]byte)) []byte {
	s, q, st := ss.s, &ss.q, ss.st
	if send == nil { // TCP: answer in order, on the connection's goroutine
		if ss.oc == forward {
			return s.forwardQuery(q, pkt, true, st)
		}
		return s.answerAfterFetch(q, pkt, true, st)
	}
	return s.slowUDP(q, ss.oc, from, send, st)
}

// slowUDP answers a query that must wait off the reader goroutine: one waiting for
// a first fetch from Consul is parked on its name (park.go); a forwarded one gets a
// goroutine of its own, bounded by fwdSem, past which the answer is SERVFAIL at once.
func (s *Server) slowUDP(q *query, oc outcome, from netip.AddrPort, send func([]byte), st *shard) []byte {
	if oc != forward {
		return s.park(q, from, send, st)
	}
	if s.closing.Load() || !acquire(s.fwdSem) {
		st.overload.Add(1)
		reply, _ := s.count(st, q.QType, s.errorReply(make([]byte, 0, wire.MinUDPSize), q, wire.RcodeServFail))
		return reply
	}
	pkt := append([]byte(nil), q.Pkt...)
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		defer func() { <-s.fwdSem }()
		var q query
		q.Parse(pkt)
		q.recursion = true // only allowed clients are forwarded: a SERVFAIL keeps RA
		send(s.forwardQuery(&q, pkt, false, st))
	}()
	return nil
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
// SERVFAIL if Consul did not answer in time. TCP waits so, on its connection's
// goroutine, to keep its replies in order; UDP parks (park.go).
func (s *Server) answerAfterFetch(q *query, pkt []byte, tcp bool, st *shard) []byte {
	out := make([]byte, 0, wire.MaxMsgLen)
	v := q.Parse(pkt)
	p := parseName(q.Name, q.QType, s.comp.zones)
	if p.kind == kindQuery {
		s.store.AwaitQuery(context.Background(), string(p.dc), string(p.svc))
	} else {
		s.store.AwaitEntry(context.Background(), p.kind.entry(), string(p.dc), string(p.svc))
	}
	reply, oc := s.respond(q, v, out, tcp, st)
	if oc != replied {
		reply, _ = s.count(st, q.QType, s.errorReply(out, q, wire.RcodeServFail))
	}
	return reply
}
