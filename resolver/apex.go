package resolver

import (
	"sync"
	"sync/atomic"

	"github.com/srvbridge/srvbridge/resolver/dnsmsg"
	"github.com/srvbridge/srvbridge/resolver/wire"
)

// apexAnswers holds SOA and NS replies for one zone apex, built on first use.
type apexAnswers struct {
	mu   sync.Mutex
	tpls atomic.Pointer[map[variantKey][]byte]
}

func (s *Server) apexTemplate(z *zone, k variantKey) []byte {
	a := s.apexes[z]
	if t, ok := (*a.tpls.Load())[k]; ok {
		return t
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	old := *a.tpls.Load()
	if t, ok := old[k]; ok {
		return t
	}
	name := string(z.name)
	var tpl []byte
	switch k.qtype {
	case wire.TypeSOA:
		tpl = s.comp.soaReply(name, k, wire.RcodeSuccess, true, 0)
	case wire.TypeNS:
		r := &dnsmsg.Reply{Name: name, Qtype: k.qtype, Limit: int(k.limit)}
		if k.edns {
			r.EDNSSize = s.cfg.MaxUDPSize
		}
		r.Answer = []dnsmsg.Record{{Type: wire.TypeNS, Name: name, TTL: s.cfg.TTL, Target: s.cfg.NSName}}
		for _, ip := range s.cfg.NSAddrs {
			r.Additional = append(r.Additional, addrRecord(s.cfg.NSName, ip, s.cfg.TTL))
		}
		packed, err := dnsmsg.Pack(r)
		if err != nil {
			// Built once per zone and reply size, off the per-query path.
			s.log.Error("building apex answer", "zone", name, "err", err)
			return nil
		}
		tpl = packed.Wire
	}
	m := make(map[variantKey][]byte, len(old)+1)
	for key, t := range old {
		m[key] = t
	}
	m[k] = tpl
	a.tpls.Store(&m)
	return tpl
}

// nameServer answers A and AAAA for the NS name with srvbridge's own addresses.
func (s *Server) nameServer(q *query, p *parsed, out []byte, tcp bool, st *shard) ([]byte, outcome) {
	r := s.newReply(q, tcp)
	for _, ip := range s.cfg.NSAddrs {
		if q.QType == wire.TypeANY || (q.QType == wire.TypeA) == ip.Is4() && (q.QType == wire.TypeA || q.QType == wire.TypeAAAA) {
			r.Answer = append(r.Answer, addrRecord(r.Name, ip, s.cfg.TTL))
		}
	}
	if len(r.Answer) == 0 {
		return s.count(st, q.QType, s.negative(out, q, p, wire.RcodeSuccess))
	}
	return s.packed(q, r, out, st)
}
