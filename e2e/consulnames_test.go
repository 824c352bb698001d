package e2e

import (
	"fmt"
	"slices"
	"testing"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/internal/bridgetest"
	"github.com/srvbridge/srvbridge/internal/consultest"
)

// asConsul asks Consul's own DNS and srvbridge the same question and compares what
// the two must agree on: the rcode, and the SRV targets and ports or the addresses
// answered. TTLs and weights follow each server's own configuration.
func asConsul(t *testing.T, a *consultest.Agent, b *bridgetest.Bridge, name string, qtype uint16) *dns.Msg {
	t.Helper()
	return asConsulFor(t, a, name, b, name, qtype)
}

// asConsulFor compares srvbridge's answer to name with Consul's to consulName.
func asConsulFor(t *testing.T, a *consultest.Agent, consulName string, b *bridgetest.Bridge, name string, qtype uint16) *dns.Msg {
	t.Helper()
	want, err := bridgetest.Exchange(a.DNSAddr, "tcp", consulName, qtype)
	if err != nil {
		t.Fatal(err)
	}
	got, err := bridgetest.Exchange(b.DNSAddr, "tcp", name, qtype)
	if err != nil {
		t.Fatal(err)
	}
	if got.Rcode != want.Rcode || !slices.Equal(answerKeys(got), answerKeys(want)) {
		t.Errorf("%s %s: srvbridge and Consul (%s) differ\nsrvbridge:\n%sConsul:\n%s", name, dns.TypeToString[qtype],
			consulName, bridgetest.Summary(got), bridgetest.Summary(want))
	}
	return got
}

// answerKeys is what identifies each answer record apart from TTL and weight.
func answerKeys(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.SRV:
			out = append(out, fmt.Sprintf("SRV %s:%d", rr.Target, rr.Port))
		case *dns.A:
			out = append(out, "A "+rr.A.String())
		case *dns.AAAA:
			out = append(out, "AAAA "+rr.AAAA.String())
		case *dns.CNAME:
			out = append(out, "CNAME "+rr.Target)
		default:
			out = append(out, rr.String())
		}
	}
	slices.Sort(out)
	return out
}

// webQuery creates the prepared query "webq": web's passing instances, TTL 2 s.
func webQuery(t *testing.T, a *consultest.Agent) {
	t.Helper()
	if _, _, err := a.Client.PreparedQuery().Create(&api.PreparedQueryDefinition{
		Name:    "webq",
		Service: api.ServiceQuery{Service: "web", OnlyPassing: true},
		DNS:     api.QueryDNSOptions{TTL: "2s"},
	}, nil); err != nil {
		t.Fatal(err)
	}
}

// TestNameFormsAsConsul checks name forms against Consul's own DNS on one catalog.
func TestNameFormsAsConsul(t *testing.T) {
	a := consultest.Start(t)
	threeWeb(t, a)
	// web-1 registered a second time: the same node, address and port.
	a.RegisterService(t, api.AgentServiceRegistration{
		Name: "web", ID: "web-1-again", Address: "127.0.0.11", Port: 8081,
		Weights: &api.AgentWeights{Passing: 9, Warning: 1},
		Check:   &api.AgentServiceCheck{CheckID: "service:web-1-again", TTL: "10m", Status: api.HealthPassing},
	})
	webQuery(t, a)
	b := bridgetest.Start(t, a.HTTPAddr, "--upstream", "none")
	waitFor(t, b, "web.service.consul", dns.TypeSRV, hasTargets(t1, t2, t3))

	t.Run("duplicate endpoints", func(t *testing.T) {
		for _, name := range []string{"web.service.consul.", "_web._tcp.service.consul.", "webq.query.consul."} {
			r := asConsul(t, a, b, name, dns.TypeSRV)
			if got := bridgetest.Targets(r); !slices.Equal(got, []string{t1, t2, t3}) {
				t.Errorf("%s: targets %v, want each endpoint once", name, got)
			}
		}
	})
	t.Run("host name address", func(t *testing.T) {
		// An external service whose address is a host name: Consul answers A, AAAA
		// and ANY with a CNAME to it, and SRV with the host as the target.
		a.RegisterExternal(t, "ext-node", "127.0.0.60", &api.AgentService{ID: "ext-1", Service: "ext",
			Address: "db.example.com", Port: 5432})
		waitFor(t, b, "ext.service.consul", dns.TypeA, func(r *dns.Msg) bool { return len(r.Answer) > 0 })
		for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeANY, dns.TypeSRV} {
			r := asConsul(t, a, b, "ext.service.consul.", qtype)
			if qtype != dns.TypeSRV && (len(r.Answer) != 1 || r.Answer[0].Header().Rrtype != dns.TypeCNAME) {
				t.Errorf("ext %s: want one CNAME:\n%s", dns.TypeToString[qtype], bridgetest.Summary(r))
			}
		}
	})
	t.Run("RFC 2782 prepared query", func(t *testing.T) {
		for _, name := range []string{"_webq._tcp.query.consul.", "_webq._tcp.query.dc1.consul.", "_webq._udp.query.consul.", "_nope._tcp.query.consul."} {
			for _, qtype := range []uint16{dns.TypeSRV, dns.TypeA} {
				asConsul(t, a, b, name, qtype)
			}
		}
		r := b.Query(t, "_webq._tcp.query.consul.", dns.TypeSRV)
		if got := bridgetest.Targets(r); !slices.Equal(got, []string{t1, t2, t3}) || r.Answer[0].Header().Ttl != 2 {
			t.Errorf("_webq._tcp.query.consul.: want the query's result with its TTL:\n%s", bridgetest.Summary(r))
		}
	})
	t.Run("labelled locality", func(t *testing.T) {
		// Consul CE answers NXDOMAIN to every name with a namespace or partition
		// label, "default" included; srvbridge answers "default" as the name
		// without it (docs/dns.md, deliberate differences).
		for _, tc := range []struct{ name, plain string }{
			{"web.service.default.ns.consul.", "web.service.consul."},
			{"web.service.default.ap.consul.", "web.service.consul."},
			{"web.service.default.ns.default.ap.consul.", "web.service.consul."},
			{"web.service.default.ns.default.ap.dc1.dc.consul.", "web.service.dc1.consul."},
			{"web.service.default.ap.dc1.dc.consul.", "web.service.dc1.consul."},
			{"_web._tcp.service.default.ns.consul.", "_web._tcp.service.consul."},
			{"consultest.node.default.ns.dc1.dc.consul.", "consultest.node.dc1.consul."},
		} {
			for _, qtype := range []uint16{dns.TypeSRV, dns.TypeA} {
				asConsulFor(t, a, tc.plain, b, tc.name, qtype)
				if r, err := bridgetest.Exchange(a.DNSAddr, "tcp", tc.name, qtype); err != nil || r.Rcode != dns.RcodeNameError {
					t.Errorf("Consul's answer to %s changed (%v): docs/dns.md says NXDOMAIN", tc.name, err)
				}
			}
		}
		// Other namespaces and partitions, wrong orders, and a prepared query with a
		// labelled datacenter: NXDOMAIN from both.
		for _, name := range []string{
			"web.service.dc1.dc.consul.",
			"web.service.nope.dc.consul.",
			"web.service.other.ns.consul.",
			"web.service.default.ns.other.ap.consul.",
			"web.service.default.ap.default.ns.consul.",
			"web.service.dc1.dc.default.ns.consul.",
			"web.service.default.ns.dc1.consul.",
			"consultest.node.other.ns.consul.",
			"webq.query.dc1.dc.consul.",
			"webq.query.default.ns.consul.",
		} {
			for _, qtype := range []uint16{dns.TypeSRV, dns.TypeA} {
				asConsul(t, a, b, name, qtype)
			}
		}
	})
}

// TestSearchSuffixes: with --search-suffix, our names with a Kubernetes search
// domain appended get NXDOMAIN from srvbridge, counted, while Kubernetes names in a
// namespace called like our domain are still not ours.
func TestSearchSuffixes(t *testing.T) {
	a := consultest.Start(t)
	threeWeb(t, a)
	b := bridgetest.Start(t, a.HTTPAddr, "--upstream", "none",
		"--search-suffix", "*.svc.cluster.local,svc.cluster.local", "--search-suffix", "cluster.local")
	waitFor(t, b, "web.service.consul", dns.TypeSRV, hasTargets(t1, t2, t3))
	for _, name := range []string{
		"web.service.consul.kong.svc.cluster.local.",
		"web.service.consul.svc.cluster.local.",
		"web.service.consul.cluster.local.",
	} {
		for _, qtype := range []uint16{dns.TypeSRV, dns.TypeA} {
			if r := b.Query(t, name, qtype); r.Rcode != dns.RcodeNameError || r.Authoritative {
				t.Errorf("%s %s:\n%s", name, dns.TypeToString[qtype], bridgetest.Summary(r))
			}
		}
	}
	// Forwarding is off here, so a name that is not ours is REFUSED.
	if r := b.Query(t, "consul-server.consul.svc.cluster.local.", dns.TypeA); r.Rcode != dns.RcodeRefused {
		t.Errorf("a Kubernetes name in namespace consul:\n%s", bridgetest.Summary(r))
	}
	if n := b.Metrics(t)["srvbridge_search_suffix_nxdomain_total"]; n != 6 {
		t.Errorf("srvbridge_search_suffix_nxdomain_total %v, want 6", n)
	}
}
