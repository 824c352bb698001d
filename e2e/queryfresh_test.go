package e2e

import (
	"testing"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/internal/bridgetest"
	"github.com/srvbridge/srvbridge/internal/consultest"
)

// TestPreparedQueryFresh: a prepared query in use follows its service's health as fast
// as the service name does, whatever the query's DNS TTL. The query's TTL here is a
// minute, so an answer that follows within the 15 s of waitFor can only come from the
// change itself (before, the result was kept for its whole TTL, and after an idle
// period served once more however old it was).
func TestPreparedQueryFresh(t *testing.T) {
	a := consultest.Start(t)
	threeWeb(t, a)
	if _, _, err := a.Client.PreparedQuery().Create(&api.PreparedQueryDefinition{
		Name:    "slowq",
		Service: api.ServiceQuery{Service: "web", OnlyPassing: true},
		DNS:     api.QueryDNSOptions{TTL: "60s"},
	}, nil); err != nil {
		t.Fatal(err)
	}
	b := bridgetest.Start(t, a.HTTPAddr, "--upstream", "none")
	waitFor(t, b, "slowq.query.consul", dns.TypeSRV, hasTargets(t1, t2, t3))

	a.SetTTL(t, "service:web-1", "fail")
	t.Logf("one instance failed: the query followed in %v", waitFor(t, b, "slowq.query.consul", dns.TypeSRV, hasTargets(t2, t3)))

	// No healthy instance left: NXDOMAIN, as Consul answers; then healthy again.
	a.SetTTL(t, "service:web-2", "fail")
	a.SetTTL(t, "service:web-3", "fail")
	waitFor(t, b, "slowq.query.consul", dns.TypeSRV, isRcode(dns.RcodeNameError))
	a.SetTTL(t, "service:web-3", "pass")
	t.Logf("from none healthy to one: the query followed in %v", waitFor(t, b, "slowq.query.consul", dns.TypeSRV, hasTargets(t3)))
}
