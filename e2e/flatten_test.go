package e2e

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/internal/bridgetest"
	"github.com/srvbridge/srvbridge/internal/consultest"
	"github.com/srvbridge/srvbridge/internal/upstreamtest"
)

// flatUpstream is a real DNS server whose records for ext.example.test change while
// it runs: A is whatever addr holds, AAAA fixed, both with TTL 2, and
// alias.example.test is a CNAME to it. It records every name it is asked.
type flatUpstream struct {
	*upstreamtest.Server
	addr  atomic.Value // string
	mu    sync.Mutex
	asked []string
}

const flatTTL = 2

func startFlatUpstream(t *testing.T) *flatUpstream {
	u := &flatUpstream{}
	u.addr.Store("192.0.2.1")
	u.Server = upstreamtest.StartHandler(t, "127.0.0.3", dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		name := strings.ToLower(q.Name)
		u.mu.Lock()
		u.asked = append(u.asked, name)
		u.mu.Unlock()
		hdr := func(owner string, rrtype uint16) dns.RR_Header {
			return dns.RR_Header{Name: owner, Rrtype: rrtype, Class: dns.ClassINET, Ttl: flatTTL}
		}
		owner := name
		switch name {
		case "alias.example.test.":
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: hdr(name, dns.TypeCNAME), Target: "ext.example.test."})
			owner = "ext.example.test."
			fallthrough
		case "ext.example.test.":
			switch q.Qtype {
			case dns.TypeA:
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr(owner, dns.TypeA), A: net.ParseIP(u.addr.Load().(string))})
			case dns.TypeAAAA:
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr(owner, dns.TypeAAAA), AAAA: net.ParseIP("2001:db8::1")})
			}
		default:
			m.Rcode = dns.RcodeNameError
		}
		if len(m.Answer) == 0 {
			m.Ns = []dns.RR{&dns.SOA{Hdr: hdr("example.test.", dns.TypeSOA), Ns: "ns.example.test.", Mbox: "h.example.test.",
				Serial: 1, Refresh: 60, Retry: 60, Expire: 60, Minttl: flatTTL}}
		}
		w.WriteMsg(m)
	}))
	return u
}

func (u *flatUpstream) wasAsked(name string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Contains(u.asked, name)
}

// answerOf renders an answer section as "TYPE data" lines, TTLs aside.
func answerOf(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		f := strings.Fields(rr.String())
		out = append(out, strings.Join(append([]string{f[0], f[3]}, f[4:]...), " "))
	}
	return out
}

func answerIs(want ...string) func(*dns.Msg) bool {
	return func(r *dns.Msg) bool { return r.Rcode == dns.RcodeSuccess && slices.Equal(answerOf(r), want) }
}

// TestCNAMEFlattening: a service registered with a host name as its address is
// answered for A and AAAA with the CNAME and the target's records of that type, as
// a resolver would give them, from a real upstream; SRV stays as Consul answers it;
// the records follow the upstream within their TTL; a target in our own zone comes
// from our own answers; and when the upstream goes, the answer falls back to the
// CNAME alone, never SERVFAIL.
func TestCNAMEFlattening(t *testing.T) {
	a := consultest.Start(t)
	instance(t, a, "web", "web-1", "127.0.0.11", 8080)
	a.RegisterExternal(t, "ext-node", "127.0.0.60", &api.AgentService{ID: "ext-1", Service: "ext", Address: "ext.example.test", Port: 5432})
	a.RegisterExternal(t, "ext-node", "127.0.0.60", &api.AgentService{ID: "chained-1", Service: "chained", Address: "alias.example.test", Port: 5432})
	a.RegisterExternal(t, "ext-node", "127.0.0.60", &api.AgentService{ID: "inzone-1", Service: "inzone", Address: "web.service.consul", Port: 8080})
	up := startFlatUpstream(t)
	b := bridgetest.Start(t, a.HTTPAddr, "--upstream", up.Addr.String())

	const cname = "ext.service.consul. CNAME ext.example.test."
	t.Run("A and AAAA", func(t *testing.T) {
		took := waitFor(t, b, "ext.service.consul.", dns.TypeA, answerIs(cname, "ext.example.test. A 192.0.2.1"))
		t.Logf("first flattened answer after %v", took)
		waitFor(t, b, "ext.service.consul.", dns.TypeAAAA, answerIs(cname, "ext.example.test. AAAA 2001:db8::1"))
		r := b.Query(t, "ext.service.consul.", dns.TypeA)
		if !r.Authoritative {
			t.Errorf("flattened answer without AA:\n%s", bridgetest.Summary(r))
		}
		for _, rr := range r.Answer[1:] {
			if rr.Header().Ttl > flatTTL {
				t.Errorf("spliced %s: TTL %d above the upstream's %d", rr.Header().Name, rr.Header().Ttl, flatTTL)
			}
		}
		// The target's own CNAME chain comes along.
		waitFor(t, b, "chained.service.consul.", dns.TypeA, answerIs("chained.service.consul. CNAME alias.example.test.",
			"alias.example.test. CNAME ext.example.test.", "ext.example.test. A 192.0.2.1"))
	})
	t.Run("SRV unchanged", func(t *testing.T) {
		r := asConsul(t, a, b, "ext.service.consul.", dns.TypeSRV)
		if got := bridgetest.Targets(r); len(got) != 1 || got[0] != "ext.example.test.:5432" {
			t.Errorf("SRV targets %v", got)
		}
	})
	t.Run("target in our zone", func(t *testing.T) {
		waitFor(t, b, "inzone.service.consul.", dns.TypeA, answerIs("inzone.service.consul. CNAME web.service.consul.",
			"web.service.consul. A 127.0.0.11"))
		if up.wasAsked("web.service.consul.") {
			t.Error("a target in our own zone was forwarded")
		}
	})
	t.Run("follows the upstream", func(t *testing.T) {
		up.addr.Store("192.0.2.2")
		took := waitFor(t, b, "ext.service.consul.", dns.TypeA, answerIs(cname, "ext.example.test. A 192.0.2.2"))
		t.Logf("new address answered after %v (upstream TTL %ds)", took, flatTTL)
		if took > 2*flatTTL*time.Second+time.Second {
			t.Errorf("the new address took %v, more than twice the upstream's TTL", took)
		}
	})
	t.Run("upstream down", func(t *testing.T) {
		up.Stop()
		deadline := time.Now().Add(15 * time.Second)
		for {
			r, err := bridgetest.Exchange(b.DNSAddr, "udp", "ext.service.consul.", dns.TypeA)
			if err != nil {
				t.Fatal(err)
			}
			if r.Rcode != dns.RcodeSuccess {
				t.Fatalf("with the upstream down: %s", bridgetest.Summary(r))
			}
			if slices.Equal(answerOf(r), []string{cname}) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("still spliced with the upstream down:\n%s", bridgetest.Summary(r))
			}
			time.Sleep(50 * time.Millisecond) // polling interval
		}
	})
}

// TestCNAMEFlatteningOutsideAllowList: a client outside --allow-recursion gets the
// spliced records too (they are data our zone points at, resolved whatever any
// client asks), while a name outside the zone stays REFUSED to it.
func TestCNAMEFlatteningOutsideAllowList(t *testing.T) {
	a := consultest.Start(t)
	a.RegisterExternal(t, "ext-node", "127.0.0.60", &api.AgentService{ID: "ext-1", Service: "ext", Address: "ext.example.test", Port: 5432})
	up := startFlatUpstream(t)
	b := bridgetest.Start(t, a.HTTPAddr, "--upstream", up.Addr.String(), "--allow-recursion", "none")
	waitFor(t, b, "ext.service.consul.", dns.TypeA, answerIs("ext.service.consul. CNAME ext.example.test.", "ext.example.test. A 192.0.2.1"))
	if r := b.Query(t, "ext.example.test.", dns.TypeA); r.Rcode != dns.RcodeRefused {
		t.Errorf("the target itself, asked directly: want REFUSED, got %s", fmt.Sprint(dns.RcodeToString[r.Rcode]))
	}
}
