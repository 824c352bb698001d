package resolver

import (
	"slices"
	"strings"

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

// sortedMeta is a node's metadata as the TXT strings Consul gives, in a stable order.
func sortedMeta(meta map[string]string) []string {
	out := make([]string, 0, len(meta))
	for k, v := range meta {
		out = append(out, metaTXT(k, v))
	}
	slices.Sort(out)
	return out
}

// metaTXT encodes one metadata pair as Consul does (agent/dns.go,
// encodeKVasRFC1464): a key starting "rfc1035-" (any case) gives its value alone,
// so operators can publish arbitrary TXT data; any other pair is "key=value"
// escaped as RFC 1464 says: a backquote doubled, an '=' in the key and the key's
// leading and trailing spaces each preceded by a backquote.
func metaTXT(key, value string) string {
	if len(key) >= len(rfc1035Prefix) && strings.EqualFold(key[:len(rfc1035Prefix)], rfc1035Prefix) {
		return value
	}
	key = strings.ReplaceAll(key, "`", "``")
	key = strings.ReplaceAll(key, "=", "`=")
	lead := len(key) - len(strings.TrimLeft(key, " "))
	key = strings.Repeat("` ", lead) + key[lead:]
	trail := len(key) - len(strings.TrimRight(key, " "))
	key = key[:len(key)-trail] + strings.Repeat("` ", trail)
	return key + "=" + strings.ReplaceAll(value, "`", "``")
}

const rfc1035Prefix = "rfc1035-"
