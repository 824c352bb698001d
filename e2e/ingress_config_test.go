package e2e

import (
	"testing"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/internal/bridgetest"
	"github.com/srvbridge/srvbridge/internal/consultest"
)

// TestIngressFollowsConfigEntry: a change of the ingress-gateway config entry alone
// (no registration, no check) adds a service to <svc>.ingress and takes it away
// again. Nothing else moves in the catalog, so without the feed's watch of the
// config entries the change would wait for an unrelated sweep.
func TestIngressFollowsConfigEntry(t *testing.T) {
	a := consultest.Start(t)
	meshCatalog(t, a)
	b := bridgetest.Start(t, a.HTTPAddr, "--upstream", "none")
	const gw = "7f000029.addr.dc1.consul.:8443"
	waitFor(t, b, "web.ingress.consul.", dns.TypeSRV, hasTargets(gw))
	// Held from here on: api is registered, but edge does not expose it.
	waitFor(t, b, "api.ingress.consul.", dns.TypeSRV, isRcode(dns.RcodeNameError))

	expose := func(svcs ...string) {
		t.Helper()
		// A tcp listener exposes one service: one listener each.
		var ls []api.IngressListener
		for i, s := range svcs {
			ls = append(ls, api.IngressListener{Port: 8888 + i, Protocol: "tcp", Services: []api.IngressService{{Name: s}}})
		}
		if _, _, err := a.Client.ConfigEntries().Set(&api.IngressGatewayConfigEntry{
			Kind: api.IngressGateway, Name: "edge", Listeners: ls,
		}, nil); err != nil {
			t.Fatal(err)
		}
	}
	before := catalogIndex(t, a)
	expose("web", "api")
	took := waitFor(t, b, "api.ingress.consul.", dns.TypeSRV, hasTargets(gw))
	t.Logf("a service added to the gateway answered after %v", took)
	asConsul(t, a, b, "api.ingress.consul.", dns.TypeSRV)
	expose("web")
	took = waitFor(t, b, "api.ingress.consul.", dns.TypeSRV, isRcode(dns.RcodeNameError))
	t.Logf("a service taken off the gateway gone after %v", took)
	if r := b.Query(t, "web.ingress.consul.", dns.TypeSRV); !hasTargets(gw)(r) {
		t.Errorf("web.ingress after the change:\n%s", bridgetest.Summary(r))
	}
	// The premise: the catalog's own index did not move, so no sweep can have
	// brought the change.
	if after := catalogIndex(t, a); after != before {
		t.Fatalf("the services index moved (%d → %d): the test no longer isolates a config-entry-only change", before, after)
	}
}

// catalogIndex is the services index, which every registration moves.
func catalogIndex(t *testing.T, a *consultest.Agent) uint64 {
	t.Helper()
	_, meta, err := a.Client.Catalog().Services(nil)
	if err != nil {
		t.Fatal(err)
	}
	return meta.LastIndex
}
