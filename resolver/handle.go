package resolver

import (
	"encoding/hex"

	"github.com/srvbridge/srvbridge/cache"
	"github.com/srvbridge/srvbridge/health"
	"github.com/srvbridge/srvbridge/resolver/wire"
)

// outcome tells a session what became of a query.
type outcome uint8

const (
	replied outcome = iota
	drop            // no reply at all (responses, garbage): never amplify
	await           // the answer needs a first fetch from Consul: take the slow path
	forward         // a name outside our zones, from a client allowed recursion
)

// respond answers a parsed query into out; v is what parsing made of it. A cached
// answer costs no allocation, no lock and no log line. The first query for a
// name and query type builds its reply template (allocating, under the service's
// lock) and memoises it for the ones after; rare shapes (TXT, PTR, the NS name's
// addresses) are packed per query. A Miss is handed back as await so a socket
// reader never blocks.
func (s *Server) respond(q *query, v wire.Verdict, out []byte, tcp bool, st *shard) ([]byte, outcome) {
	switch v {
	case wire.Ignore:
		st.dropped.Add(1)
		return nil, drop
	case wire.FormErr:
		// Malformed, or records where none belong: Parse left no question to echo,
		// so the reply is a header and never bigger than the query.
		return s.count(st, 0, s.errorReply(out, q, wire.RcodeFormErr))
	case wire.NotImp:
		return s.count(st, q.QType, s.errorReply(out, q, wire.RcodeNotImp))
	}
	if q.EDNSBad {
		return s.count(st, q.QType, s.errorReply(out, q, wire.RcodeFormErr))
	}
	if q.EDNS && q.EDNSVer != 0 {
		out = appendHeader(out, q, wire.RcodeBadVers&wire.RcodeMask, false, 0, 0, 1)
		return s.count(st, q.QType, s.appendOPT(out, q, wire.RcodeBadVers))
	}
	p := parseName(q.Name, q.QType, s.comp.zones)
	if q.Odd && p.kind != kindOutside {
		p.kind = kindInvalid // a label with a dot or a control byte names nothing of ours
	}
	if p.kind == kindOutside {
		if len(s.comp.search) != 0 && !q.Odd && q.QClass == wire.ClassIN && s.comp.searchSuffixNX(q.Name) {
			// Not our zone, so no AA and no SOA; for every client, as a REFUSED
			// would abort the lookup of a client not allowed recursion just the same.
			st.searchNX.Add(1)
			return s.count(st, q.QType, s.errorReply(out, q, wire.RcodeNXDomain))
		}
		if q.QType == wire.TypePTR && q.QClass == wire.ClassIN {
			if reply, oc, ok := s.ptr(q, out, tcp, st); ok {
				return reply, oc
			}
		}
		if q.recursion {
			return nil, forward
		}
		st.refusedRecursion.Add(1)
		return s.count(st, q.QType, s.errorReply(out, q, wire.RcodeRefused))
	}
	if q.QClass != wire.ClassIN {
		return s.count(st, q.QType, s.errorReply(out, q, wire.RcodeRefused))
	}
	if q.QType == wire.TypeAXFR || q.QType == wire.TypeIXFR {
		return s.count(st, q.QType, s.errorReply(out, q, wire.RcodeRefused))
	}
	switch p.kind {
	case kindService, kindConnect, kindIngress:
		return s.service(q, &p, out, tcp, st)
	case kindAddr:
		return s.addr(q, &p, out, st)
	case kindApex:
		return s.apex(q, &p, out, tcp, st)
	case kindNode:
		return s.node(q, &p, out, st)
	case kindVirtual:
		return s.virtual(q, &p, out, st)
	case kindQuery:
		a, res := s.store.LookupQuery(p.dc, p.svc)
		return s.fromAnswers(q, &p, a, res, out, tcp, st)
	}
	if string(q.Name) == s.cfg.NSName {
		return s.nameServer(q, &p, out, tcp, st)
	}
	return s.count(st, q.QType, s.negative(out, q, &p, wire.RcodeNXDomain))
}

func (s *Server) service(q *query, p *parsed, out []byte, tcp bool, st *shard) ([]byte, outcome) {
	a, res := s.store.LookupEntry(p.kind.entry(), p.dc, p.svc)
	return s.fromAnswers(q, p, a, res, out, tcp, st)
}

// fromAnswers sends the compiled reply for a service or prepared query lookup.
func (s *Server) fromAnswers(q *query, p *parsed, a *Answers, res cache.Result, out []byte, tcp bool, st *shard) ([]byte, outcome) {
	if res != cache.Hit {
		return s.missed(q, p, res, wire.RcodeNXDomain, out, st)
	}
	if len(p.tag) != 0 {
		if _, ok := a.tags[string(p.tag)]; !ok {
			return s.count(st, q.QType, s.negative(out, q, p, wire.RcodeNXDomain))
		}
	}
	k := s.variantKey(q, tcp)
	v := a.get(q.Name, k)
	if v == nil {
		st.compiles.Add(1)
		v = a.build(q.Name, k)
	}
	if v.failed {
		return s.count(st, q.QType, s.errorReply(out, q, wire.RcodeServFail))
	}
	tpl := v.pick()
	if truncated(tpl) {
		st.truncated.Add(1)
	}
	if fb := a.svc.Fallback; fb != health.NoFallback {
		st.fallback[fb].Add(1)
	}
	return s.count(st, q.QType, fromTemplate(out, tpl, q))
}

// missed answers a lookup that found no compiled answers: wait for a first fetch,
// SERVFAIL before Consul was read, else the negative answer with rcode (a service:
// NXDOMAIN).
func (s *Server) missed(q *query, p *parsed, res cache.Result, rcode int, out []byte, st *shard) ([]byte, outcome) {
	switch res {
	case cache.Miss:
		return nil, await
	case cache.NotReady:
		return s.count(st, q.QType, s.errorReply(out, q, wire.RcodeServFail))
	default: // NoService, NoDatacenter
		return s.count(st, q.QType, s.negative(out, q, p, rcode))
	}
}

// variantKey is the reply a query needs: its type, and the size the client takes.
func (s *Server) variantKey(q *query, tcp bool) variantKey {
	return variantKey{qtype: q.QType, limit: uint16(s.replyLimit(q, tcp)), edns: q.EDNS}
}

func (s *Server) addr(q *query, p *parsed, out []byte, st *shard) ([]byte, outcome) {
	var ip [16]byte
	n := len(p.svc) / 2
	if (n != 4 && n != 16) || len(p.svc)%2 != 0 {
		return s.count(st, q.QType, s.negative(out, q, p, wire.RcodeNXDomain))
	}
	if _, err := hex.Decode(ip[:n], p.svc); err != nil {
		return s.count(st, q.QType, s.negative(out, q, p, wire.RcodeNXDomain))
	}
	want := uint16(wire.TypeA)
	if n == 16 {
		want = wire.TypeAAAA
	}
	if q.QType != want && q.QType != wire.TypeANY {
		return s.count(st, q.QType, s.negative(out, q, p, wire.RcodeSuccess))
	}
	return s.count(st, q.QType, s.addrAnswer(out, q, ip[:n]))
}

// apex answers SOA and NS for the zone itself from templates built at start.
func (s *Server) apex(q *query, p *parsed, out []byte, tcp bool, st *shard) ([]byte, outcome) {
	if q.QType != wire.TypeSOA && q.QType != wire.TypeNS {
		return s.count(st, q.QType, s.negative(out, q, p, wire.RcodeSuccess))
	}
	tpl := s.apexTemplate(p.zone, s.variantKey(q, tcp))
	if tpl == nil {
		return s.count(st, q.QType, s.errorReply(out, q, wire.RcodeServFail))
	}
	return s.count(st, q.QType, fromTemplate(out, tpl, q))
}

func (s *Server) count(st *shard, qtype uint16, reply []byte) ([]byte, outcome) {
	st.add(qtype, int(reply[3]&0xF))
	return reply, replied
}

// replyLimit is the largest reply the client takes: anything over TCP; over UDP
// what its EDNS size says (RFC 6891: at least 512), but no more than we are
// willing to send in one datagram.
func (s *Server) replyLimit(q *query, tcp bool) int {
	switch {
	case tcp:
		return wire.MaxMsgLen
	case q.EDNS:
		return int(min(max(q.EDNSSize, wire.MinUDPSize), s.cfg.MaxUDPSize))
	}
	return wire.MinUDPSize
}
