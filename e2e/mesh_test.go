package e2e

import (
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/internal/bridgetest"
	"github.com/srvbridge/srvbridge/internal/consultest"
)

// meshCatalog registers web with two sidecar proxies (TTL-checked, so tests flip
// them), a Connect-native service api, and an ingress gateway edge exposing web.
func meshCatalog(t *testing.T, a *consultest.Agent) {
	t.Helper()
	instance(t, a, "web", "web-1", "127.0.0.11", 8080)
	instance(t, a, "web", "web-2", "127.0.0.12", 8080)
	for i, id := range []string{"web-1", "web-2"} {
		pid := id + "-sidecar-proxy"
		a.RegisterService(t, api.AgentServiceRegistration{
			Kind: api.ServiceKindConnectProxy, Name: "web-sidecar-proxy", ID: pid,
			Address: []string{"127.0.0.21", "127.0.0.22"}[i], Port: 21000,
			Proxy: &api.AgentServiceConnectProxyConfig{DestinationServiceName: "web", DestinationServiceID: id},
			Check: &api.AgentServiceCheck{CheckID: "service:" + pid, TTL: "10m", Status: api.HealthPassing},
		})
	}
	a.RegisterService(t, api.AgentServiceRegistration{Name: "api", ID: "api-1", Address: "127.0.0.31", Port: 9090,
		Connect: &api.AgentServiceConnect{Native: true}})
	a.RegisterService(t, api.AgentServiceRegistration{Name: "plain", ID: "plain-1", Address: "127.0.0.51", Port: 80})
	a.RegisterService(t, api.AgentServiceRegistration{Kind: api.ServiceKindIngressGateway, Name: "edge", ID: "edge-1",
		Address: "127.0.0.41", Port: 8443,
		Check: &api.AgentServiceCheck{CheckID: "service:edge-1", TTL: "10m", Status: api.HealthPassing}})
	if _, _, err := a.Client.ConfigEntries().Set(&api.IngressGatewayConfigEntry{
		Kind: api.IngressGateway, Name: "edge",
		Listeners: []api.IngressListener{{Port: 8888, Protocol: "tcp", Services: []api.IngressService{{Name: "web"}}}},
	}, nil); err != nil {
		t.Fatal(err)
	}
}

// TestMeshFormsAsConsul: <svc>.connect and <svc>.ingress answer as Consul's own DNS
// does, and follow a sidecar's and a gateway's health.
func TestMeshFormsAsConsul(t *testing.T) {
	a := consultest.Start(t)
	meshCatalog(t, a)
	b := bridgetest.Start(t, a.HTTPAddr, "--upstream", "none")
	const p1, p2, gw = "7f000015.addr.dc1.consul.:21000", "7f000016.addr.dc1.consul.:21000", "7f000029.addr.dc1.consul.:8443"
	waitFor(t, b, "web.connect.consul.", dns.TypeSRV, hasTargets(p1, p2))

	compare := func() {
		t.Helper()
		for _, name := range []string{
			"web.connect.consul.", "web.connect.dc1.consul.", "v1.web.connect.consul.", "wEb.CoNnEcT.dc1.dc.consul.",
			"api.connect.consul.", "nope.connect.consul.", "_web._tcp.connect.consul.",
			"web.ingress.consul.", "x.web.ingress.dc1.consul.", "api.ingress.consul.", "nope.ingress.consul.",
			"web.service.consul.", "web-sidecar-proxy.service.consul.",
		} {
			for _, qtype := range []uint16{dns.TypeSRV, dns.TypeA, dns.TypeAAAA, dns.TypeANY} {
				asConsul(t, a, b, name, qtype)
			}
		}
	}
	t.Run("healthy", func(t *testing.T) {
		if got := bridgetest.Targets(asConsul(t, a, b, "web.ingress.consul.", dns.TypeSRV)); len(got) != 1 || got[0] != gw {
			t.Errorf("web.ingress targets %v, want %s", got, gw)
		}
		compare()
	})
	t.Run("virtual", func(t *testing.T) {
		// The virtual IP, from the consul-virtual tagged address of the service's
		// Connect instances: a sidecar's for web, the native app's own for api.
		// Consul answers it as an A record whatever the type asked; srvbridge only
		// to A and ANY (docs/dns.md, deliberate differences).
		for _, name := range []string{"web.virtual.consul.", "WEB.Virtual.consul.", "api.virtual.consul.", "x.api.virtual.consul.",
			"plain.virtual.consul.", "nope.virtual.consul.", "web.virtual.peer1.consul.", "web.virtual.dc1.consul."} {
			for _, qtype := range []uint16{dns.TypeA, dns.TypeANY} {
				asConsul(t, a, b, name, qtype)
			}
			for _, qtype := range []uint16{dns.TypeAAAA, dns.TypeSRV, dns.TypeTXT} {
				r := b.Query(t, name, qtype)
				if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 {
					t.Errorf("%s %s: want NODATA with the SOA:\n%s", name, dns.TypeToString[qtype], bridgetest.Summary(r))
				}
			}
		}
		r := b.Query(t, "web.virtual.consul.", dns.TypeA)
		if len(r.Answer) != 1 || !strings.HasPrefix(r.Answer[0].(*dns.A).A.String(), "240.") {
			t.Errorf("web.virtual: want one A record in 240.0.0.0/4:\n%s", bridgetest.Summary(r))
		}
	})
	t.Run("sidecar critical", func(t *testing.T) {
		// A check of the sidecar, not of web: the connect entry must follow it.
		a.SetTTL(t, "service:web-2-sidecar-proxy", "fail")
		waitFor(t, b, "web.connect.consul.", dns.TypeSRV, hasTargets(p1))
		compare()
		a.SetTTL(t, "service:web-2-sidecar-proxy", "pass")
		waitFor(t, b, "web.connect.consul.", dns.TypeSRV, hasTargets(p1, p2))
	})
	t.Run("virtual without a healthy sidecar", func(t *testing.T) {
		// The virtual IP is the service's: it stays while no proxy is healthy.
		a.SetTTL(t, "service:web-1-sidecar-proxy", "fail")
		a.SetTTL(t, "service:web-2-sidecar-proxy", "fail")
		waitFor(t, b, "web.connect.consul.", dns.TypeSRV, isRcode(dns.RcodeNameError))
		if r := asConsul(t, a, b, "web.virtual.consul.", dns.TypeA); len(r.Answer) != 1 {
			t.Errorf("web.virtual with no healthy sidecar: want its A record:\n%s", bridgetest.Summary(r))
		}
		a.SetTTL(t, "service:web-1-sidecar-proxy", "pass")
		a.SetTTL(t, "service:web-2-sidecar-proxy", "pass")
		waitFor(t, b, "web.connect.consul.", dns.TypeSRV, hasTargets(p1, p2))
	})
	t.Run("gateway critical", func(t *testing.T) {
		a.SetTTL(t, "service:edge-1", "fail")
		waitFor(t, b, "web.ingress.consul.", dns.TypeSRV, isRcode(dns.RcodeNameError))
		compare()
		a.SetTTL(t, "service:edge-1", "pass")
		waitFor(t, b, "web.ingress.consul.", dns.TypeSRV, hasTargets(gw))
	})
	t.Run("new sidecar", func(t *testing.T) {
		// A registration: seen by the services feed's sweep.
		a.RegisterService(t, api.AgentServiceRegistration{
			Kind: api.ServiceKindConnectProxy, Name: "web-sidecar-proxy", ID: "web-3-sidecar-proxy",
			Address: "127.0.0.23", Port: 21000,
			Proxy: &api.AgentServiceConnectProxyConfig{DestinationServiceName: "web"},
		})
		waitFor(t, b, "web.connect.consul.", dns.TypeSRV, hasTargets(p1, p2, "7f000017.addr.dc1.consul.:21000"))
		compare()
	})
}
