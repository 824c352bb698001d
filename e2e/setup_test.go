package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/internal/bridgetest"
	"github.com/srvbridge/srvbridge/internal/consultest"
)

// instance registers one instance of svc on the agent's node with a TTL check that
// starts passing, so tests flip health with SetTTL("service:"+id, ...).
func instance(t *testing.T, a *consultest.Agent, svc, id, addr string, port int, tags ...string) {
	t.Helper()
	a.RegisterService(t, api.AgentServiceRegistration{
		Name: svc, ID: id, Address: addr, Port: port, Tags: tags,
		Check: &api.AgentServiceCheck{CheckID: "service:" + id, TTL: "10m", Status: api.HealthPassing},
	})
}

// waitFor polls name/qtype until the reply's summary satisfies ok, and returns how
// long that took.
func waitFor(t *testing.T, b *bridgetest.Bridge, name string, qtype uint16, ok func(*dns.Msg) bool) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(15 * time.Second)
	var last *dns.Msg
	var lastErr error
	for {
		r, err := bridgetest.Exchange(b.DNSAddr, "udp", name, qtype)
		lastErr = err
		if err == nil {
			last = r
			if ok(r) {
				return time.Since(start)
			}
		}
		if time.Now().After(deadline) {
			summary := fmt.Sprintf("no reply: %v", lastErr)
			if last != nil {
				summary = bridgetest.Summary(last)
			}
			t.Fatalf("%s %s: condition not met within 15s; last reply:\n%s", name, dns.TypeToString[qtype], summary)
		}
		time.Sleep(time.Millisecond)
	}
}

func hasTargets(want ...string) func(*dns.Msg) bool {
	slices.Sort(want)
	return func(r *dns.Msg) bool {
		return r.Rcode == dns.RcodeSuccess && slices.Equal(bridgetest.Targets(r), want)
	}
}

func isRcode(rc int) func(*dns.Msg) bool {
	return func(r *dns.Msg) bool { return r.Rcode == rc }
}

// checkReply compares rcode, answer and additional as zone-file lines, and whether
// the authority section holds exactly the zone's SOA.
func checkReply(t *testing.T, r *dns.Msg, rcode int, answer, additional []string, soa bool) {
	t.Helper()
	var problems []string
	if r.Rcode != rcode {
		problems = append(problems, fmt.Sprintf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[rcode]))
	}
	if !r.Authoritative {
		problems = append(problems, "AA not set")
	}
	slices.Sort(answer)
	slices.Sort(additional)
	if got := bridgetest.Lines(r.Answer); !slices.Equal(got, answer) {
		problems = append(problems, fmt.Sprintf("answer\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(answer, "\n  ")))
	}
	if got := bridgetest.Lines(r.Extra); !slices.Equal(got, additional) {
		problems = append(problems, fmt.Sprintf("additional\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(additional, "\n  ")))
	}
	hasSOA := len(r.Ns) == 1 && r.Ns[0].Header().Rrtype == dns.TypeSOA && r.Ns[0].Header().Name == "consul."
	if hasSOA != soa || (!soa && len(r.Ns) != 0) {
		problems = append(problems, fmt.Sprintf("authority %v, want SOA: %v", bridgetest.Lines(r.Ns), soa))
	}
	if len(problems) > 0 {
		t.Errorf("%s %s:\n%s", r.Question[0].Name, dns.TypeToString[r.Question[0].Qtype], strings.Join(problems, "\n"))
	}
}
