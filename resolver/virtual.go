package resolver

import (
	"github.com/srvbridge/srvbridge/cache"
	"github.com/srvbridge/srvbridge/resolver/wire"
)

// virtual answers <svc>.virtual[.<peer>]: the virtual IP Consul gave the service,
// which transparent proxies dial. It is read from the service's connect entry (the
// consul-virtual tagged address of its sidecars or native instances), so it exists
// once the service has a Connect instance. Consul answers an unknown service, or a
// peer, with NOERROR and no record; so does srvbridge, with the SOA (NODATA).
func (s *Server) virtual(q *query, p *parsed, out []byte, st *shard) ([]byte, outcome) {
	if p.peer {
		return s.count(st, q.QType, s.negative(out, q, p, wire.RcodeSuccess))
	}
	a, res := s.store.LookupAny(p.kind.entry(), p.dc, p.svc)
	if res != cache.Hit {
		return s.missed(q, p, res, wire.RcodeSuccess, out, st)
	}
	if !a.vipOK || (q.QType != wire.TypeA && q.QType != wire.TypeANY) {
		return s.count(st, q.QType, s.negative(out, q, p, wire.RcodeSuccess))
	}
	return s.count(st, q.QType, s.addrAnswer(out, q, a.vip[:]))
}
