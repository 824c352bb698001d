package bridgetest

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Exchange sends one query over net ("udp" or "tcp") and returns the reply. A test
// client only: the server side never sees this package.
func Exchange(addr, network, name string, qtype uint16, opts ...func(*dns.Msg)) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	for _, o := range opts {
		o(m)
	}
	c := &dns.Client{Net: network, Timeout: 2 * time.Second, UDPSize: 65535}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		return nil, fmt.Errorf("%s %s over %s: %w", name, dns.TypeToString[qtype], network, err)
	}
	if r.Id != m.Id {
		return nil, fmt.Errorf("%s: reply ID %d for query %d", name, r.Id, m.Id)
	}
	return r, nil
}

// Query is Exchange over UDP that fails the test on a transport error.
func (b *Bridge) Query(t testing.TB, name string, qtype uint16) *dns.Msg {
	t.Helper()
	r, err := Exchange(b.DNSAddr, "udp", name, qtype)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Lines renders a section as sorted zone-file lines with the TTL, so tests compare
// whole records: "web.service.consul. 5 IN SRV 1 1 80 7f000001.addr.dc1.consul.".
func Lines(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	sort.Strings(out)
	return out
}

// Summary is a reply's rcode and sections in one comparable string.
func Summary(r *dns.Msg) string {
	var b strings.Builder
	fmt.Fprintf(&b, "rcode=%s aa=%v tc=%v\n", dns.RcodeToString[r.Rcode], r.Authoritative, r.Truncated)
	for _, sec := range []struct {
		name string
		rrs  []dns.RR
	}{{"answer", r.Answer}, {"authority", r.Ns}, {"additional", r.Extra}} {
		for _, l := range Lines(sec.rrs) {
			fmt.Fprintf(&b, "%s: %s\n", sec.name, l)
		}
	}
	return b.String()
}

// Targets returns "target:port" of each SRV answer, sorted.
func Targets(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		if s, ok := rr.(*dns.SRV); ok {
			out = append(out, fmt.Sprintf("%s:%d", s.Target, s.Port))
		}
	}
	sort.Strings(out)
	return out
}
