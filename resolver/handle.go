package resolver

import (
	"encoding/hex"

	"github.com/srvbridge/srvbridge/cache"
	"github.com/srvbridge/srvbridge/resolver/dnsmsg"
)

// Transport limits.
const (
	udpPlainLimit = 512
	tcpLimit      = 65535
)

// outcome tells the transport what to do with a query.
type outcome uint8

const (
	replied outcome = iota
	drop            // no reply at all (responses, garbage): never amplify
	await           // the answer needs a first fetch from Consul: take the slow path
	forward         // a name outside our zones, from a client allowed recursion
)

// respond answers a parsed query into out. It is the per-query path: no allocation,
// no lock, no log. A Miss is handed back as await so a socket reader never blocks.
func (s *Server) respond(q *query, perr error, out []byte, tcp bool, st *shard) ([]byte, outcome) {
	if perr != nil {
		switch perr {
		case errShort, errIsResponse:
			st.dropped.Add(1)
			return nil, drop
		}
		// Malformed question or records where none belong: FORMERR, with no more
		// than a header so a reply is never bigger than the query.
		q.qdcount = 0
		return s.count(st, 0, s.errorReply(out, q, dnsmsg.RcodeFormErr))
	}
	if q.opcode() != 0 {
		return s.count(st, q.qtype, s.errorReply(out, q, dnsmsg.RcodeNotImp))
	}
	if q.qdcount != 1 || q.ednsBad {
		return s.count(st, q.qtype, s.errorReply(out, q, dnsmsg.RcodeFormErr))
	}
	if q.edns && q.ednsVer != 0 {
		out = appendHeader(out, q, dnsmsg.RcodeBadVers&0xF, 0, 0, 1)
		return s.count(st, q.qtype, s.appendOPT(out, q, dnsmsg.RcodeBadVers))
	}
	p := parseName(q.name, q.qtype, s.comp.zones)
	if q.odd && p.kind != kindOutside {
		p.kind = kindInvalid // a label with a dot or a control byte names nothing of ours
	}
	if p.kind == kindOutside {
		if q.qtype == typePTR && q.qclass == classIN {
			if reply, oc, ok := s.ptr(q, out, tcp, st); ok {
				return reply, oc
			}
		}
		if q.recursion {
			return nil, forward
		}
		st.refusedRecursion.Add(1)
		return s.count(st, q.qtype, s.errorReply(out, q, dnsmsg.RcodeRefused))
	}
	if q.qclass != classIN {
		return s.count(st, q.qtype, s.errorReply(out, q, dnsmsg.RcodeRefused))
	}
	if q.qtype == typeAXFR || q.qtype == typeIXFR {
		return s.count(st, q.qtype, s.errorReply(out, q, dnsmsg.RcodeRefused))
	}
	switch p.kind {
	case kindService:
		return s.service(q, &p, out, tcp, st)
	case kindAddr:
		return s.addr(q, &p, out, st)
	case kindApex:
		return s.apex(q, &p, out, tcp, st)
	case kindNode:
		return s.node(q, &p, out, st)
	case kindQuery:
		a, res := s.store.LookupQuery(p.dc, p.svc)
		return s.fromAnswers(q, &p, a, res, out, tcp, st)
	}
	if string(q.name) == s.cfg.NSName {
		return s.nameServer(q, &p, out, tcp, st)
	}
	return s.count(st, q.qtype, s.negative(out, q, &p, dnsmsg.RcodeNXDomain))
}

func (s *Server) service(q *query, p *parsed, out []byte, tcp bool, st *shard) ([]byte, outcome) {
	a, res := s.store.Lookup(p.dc, p.svc)
	return s.fromAnswers(q, p, a, res, out, tcp, st)
}

// fromAnswers sends the compiled reply for a service or prepared query lookup.
func (s *Server) fromAnswers(q *query, p *parsed, a *Answers, res cache.Result, out []byte, tcp bool, st *shard) ([]byte, outcome) {
	switch res {
	case cache.Hit:
	case cache.Miss:
		return nil, await
	case cache.NotReady:
		return s.count(st, q.qtype, s.errorReply(out, q, dnsmsg.RcodeServFail))
	default: // NoService, NoDatacenter
		return s.count(st, q.qtype, s.negative(out, q, p, dnsmsg.RcodeNXDomain))
	}
	if len(p.tag) != 0 {
		if _, ok := a.tags[string(p.tag)]; !ok {
			return s.count(st, q.qtype, s.negative(out, q, p, dnsmsg.RcodeNXDomain))
		}
	}
	k := s.variantKey(q, tcp)
	v := a.get(q.name, k)
	if v == nil {
		st.compiles.Add(1)
		v = a.build(q.name, k)
	}
	if v.failed {
		return s.count(st, q.qtype, s.errorReply(out, q, dnsmsg.RcodeServFail))
	}
	if v.truncated {
		st.truncated.Add(1)
	}
	if fb := a.svc.Fallback; fb != cache.NoFallback {
		st.fallback[fb].Add(1)
	}
	return s.count(st, q.qtype, fromTemplate(out, v.pick(), q))
}

// variantKey picks the reply size the client can take (RFC 6891: at least 512, at
// most what we are willing to send in one datagram).
func (s *Server) variantKey(q *query, tcp bool) variantKey {
	k := variantKey{qtype: q.qtype, limit: udpPlainLimit, edns: q.edns}
	switch {
	case tcp:
		k.limit = tcpLimit
	case q.edns:
		k.limit = min(max(q.ednsSize, udpPlainLimit), s.cfg.MaxUDPSize)
	}
	return k
}

func (s *Server) addr(q *query, p *parsed, out []byte, st *shard) ([]byte, outcome) {
	var ip [16]byte
	n := len(p.svc) / 2
	if (n != 4 && n != 16) || len(p.svc)%2 != 0 {
		return s.count(st, q.qtype, s.negative(out, q, p, dnsmsg.RcodeNXDomain))
	}
	if _, err := hex.Decode(ip[:n], p.svc); err != nil {
		return s.count(st, q.qtype, s.negative(out, q, p, dnsmsg.RcodeNXDomain))
	}
	want := uint16(typeA)
	if n == 16 {
		want = typeAAAA
	}
	if q.qtype != want && q.qtype != typeANY {
		return s.count(st, q.qtype, s.negative(out, q, p, dnsmsg.RcodeSuccess))
	}
	return s.count(st, q.qtype, s.addrAnswer(out, q, ip[:n]))
}

// apex answers SOA and NS for the zone itself from templates built at start.
func (s *Server) apex(q *query, p *parsed, out []byte, tcp bool, st *shard) ([]byte, outcome) {
	if q.qtype != typeSOA && q.qtype != typeNS {
		return s.count(st, q.qtype, s.negative(out, q, p, dnsmsg.RcodeSuccess))
	}
	tpl := s.apexTemplate(p.zone, s.variantKey(q, tcp))
	if tpl == nil {
		return s.count(st, q.qtype, s.errorReply(out, q, dnsmsg.RcodeServFail))
	}
	return s.count(st, q.qtype, fromTemplate(out, tpl, q))
}

func (s *Server) count(st *shard, qtype uint16, reply []byte) ([]byte, outcome) {
	st.add(qtype, int(reply[3]&0xF))
	return reply, replied
}
