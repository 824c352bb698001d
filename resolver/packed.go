package resolver

import (
	"slices"

	"github.com/srvbridge/srvbridge/resolver/dnsmsg"
	"github.com/srvbridge/srvbridge/resolver/wire"
)

// Replies packed per query with dnsmsg, for rare questions (TXT, PTR) where a
// template per name would cost more memory than the packing costs time.

func (s *Server) newReply(q *query, tcp bool) *dnsmsg.Reply {
	k := s.variantKey(q, tcp)
	r := &dnsmsg.Reply{Name: string(q.Name), Qtype: q.QType, Limit: int(k.limit)}
	if q.EDNS {
		r.EDNSSize = s.cfg.MaxUDPSize
	}
	return r
}

func (s *Server) packed(q *query, r *dnsmsg.Reply, out []byte, st *shard) ([]byte, outcome) {
	p, err := dnsmsg.Pack(r)
	if err != nil {
		s.log.Error("packing reply", "name", r.Name, "err", err)
		return s.count(st, q.QType, s.errorReply(out, q, wire.RcodeServFail))
	}
	if p.Truncated {
		st.truncated.Add(1)
	}
	return s.count(st, q.QType, fromTemplate(out, p.Wire, q))
}

func sortedMeta(meta map[string]string) []string {
	out := make([]string, 0, len(meta))
	for k, v := range meta {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}
