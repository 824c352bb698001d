package resolver

import (
	"net/netip"

	"github.com/srvbridge/srvbridge/cache"
	"github.com/srvbridge/srvbridge/resolver/dnsmsg"
	"github.com/srvbridge/srvbridge/resolver/wire"
)

// node answers <node>.node[.<dc>].<domain>: the node's address as A or AAAA, and its
// metadata as TXT ("key=value", as Consul writes it).
func (s *Server) node(q *query, p *parsed, out []byte, st *shard) ([]byte, outcome) {
	nd, res := s.store.LookupNode(p.dc, p.svc)
	switch res {
	case cache.Hit:
	case cache.Miss:
		return nil, await
	case cache.NotReady:
		return s.count(st, q.QType, s.errorReply(out, q, wire.RcodeServFail))
	default:
		return s.count(st, q.QType, s.negative(out, q, p, wire.RcodeNXDomain))
	}
	ip, err := netip.ParseAddr(nd.Address)
	if err == nil {
		ip = ip.Unmap()
		if q.QType == wire.TypeANY || (q.QType == wire.TypeA && ip.Is4()) || (q.QType == wire.TypeAAAA && ip.Is6()) {
			return s.count(st, q.QType, s.addrAnswer(out, q, ip.AsSlice()))
		}
	}
	if q.QType == wire.TypeTXT && len(nd.Meta) > 0 {
		r := s.newReply(q, false)
		for _, kv := range sortedMeta(nd.Meta) {
			r.Answer = append(r.Answer, dnsmsg.Record{Type: wire.TypeTXT, Name: r.Name, TTL: s.cfg.TTL, Text: []string{kv}})
		}
		return s.packed(q, r, out, st)
	}
	return s.count(st, q.QType, s.negative(out, q, p, wire.RcodeSuccess))
}
