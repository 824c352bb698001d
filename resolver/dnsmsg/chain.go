package dnsmsg

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// maxChain bounds the CNAMEs Chain follows, as resolvers bound theirs: a longer
// chain (or a loop) gives no answer.
const maxChain = 8

// ErrChain: the reply's CNAMEs loop or run longer than resolvers follow.
var ErrChain = errors.New("CNAME chain too long, or a loop")

// Chain reads a reply to a question for name and qtype (A or AAAA) and returns what
// answers it, in order: the CNAMEs from name on, then the records of type qtype
// owned by the chain's last name. Names are lower case; records of any other owner
// or type are not returned, so a reply cannot slip in data for names it was not
// asked about. rcode is the reply's. It reads bytes another server chose.
func Chain(msg []byte, name string, qtype uint16) (recs []Record, rcode int, err error) {
	m := new(dns.Msg)
	if err := m.Unpack(msg); err != nil {
		return nil, 0, fmt.Errorf("reply for %s: %w", name, err)
	}
	owner := strings.ToLower(dns.Fqdn(name))
	for hops := 0; ; hops++ {
		next := ""
		for _, rr := range m.Answer {
			if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, owner) {
				next = strings.ToLower(c.Target)
				recs = append(recs, Record{Type: dns.TypeCNAME, Name: owner, TTL: c.Hdr.Ttl, Target: next})
				break
			}
		}
		if next == "" {
			break
		}
		if hops == maxChain || next == owner {
			return nil, m.Rcode, fmt.Errorf("reply for %s: %w", name, ErrChain)
		}
		owner = next
	}
	for _, rr := range m.Answer {
		if rr.Header().Rrtype != qtype || !strings.EqualFold(rr.Header().Name, owner) {
			continue
		}
		var ip netip.Addr
		switch r := rr.(type) {
		case *dns.A:
			ip, _ = netip.AddrFromSlice(r.A.To4())
		case *dns.AAAA:
			ip, _ = netip.AddrFromSlice(r.AAAA.To16())
		}
		if !ip.IsValid() || ip.Is4In6() || (qtype == dns.TypeA) != ip.Is4() {
			continue
		}
		recs = append(recs, Record{Type: qtype, Name: owner, TTL: rr.Header().Ttl, IP: ip})
	}
	return recs, m.Rcode, nil
}
