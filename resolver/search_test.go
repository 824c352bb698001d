package resolver

import (
	"testing"

	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/resolver/wire"
)

// TestSearchSuffixNXDomain: our names with a configured search suffix appended get
// NXDOMAIN at once (no AA: not our zone), without an allocation; Kubernetes' own
// names in a namespace named like our domain do not.
func TestSearchSuffixNXDomain(t *testing.T) {
	comp, err := NewCompiler(Config{TTL: 5, NegativeTTL: 5, AltDomain: "alt.example",
		SearchSuffixes: []string{"*.svc.cluster.local", "svc.cluster.local", "Cluster.Local."}})
	if err != nil {
		t.Fatal(err)
	}
	s := New(comp, nil)
	tests := []struct {
		name  string
		qtype uint16
		rcode int
	}{
		{"web.service.consul.kong.svc.cluster.local.", dns.TypeA, dns.RcodeNameError},
		{"Web.Service.Consul.svc.cluster.local.", dns.TypeA, dns.RcodeNameError},
		{"web.service.consul.cluster.local.", dns.TypeAAAA, dns.RcodeNameError},
		{"_web._tcp.service.consul.kong.svc.cluster.local.", dns.TypeSRV, dns.RcodeNameError},
		{"v1.web.service.dc1.consul.svc.cluster.local.", dns.TypeSRV, dns.RcodeNameError},
		{"7f000001.addr.dc1.consul.svc.cluster.local.", dns.TypeA, dns.RcodeNameError},
		{"node1.node.consul.cluster.local.", dns.TypeA, dns.RcodeNameError},
		{"webq.query.consul.svc.cluster.local.", dns.TypeSRV, dns.RcodeNameError},
		{"web.service.alt.example.svc.cluster.local.", dns.TypeA, dns.RcodeNameError},
		// Kubernetes names that pass through a namespace called "consul".
		{"consul-ui.consul.svc.cluster.local.", dns.TypeA, dns.RcodeRefused},
		{"consul-server-0.consul-server.consul.svc.cluster.local.", dns.TypeA, dns.RcodeRefused},
		{"_http._tcp.consul-ui.consul.svc.cluster.local.", dns.TypeSRV, dns.RcodeRefused},
		{"consul.svc.cluster.local.", dns.TypeA, dns.RcodeRefused},
		// Not a configured suffix, or the suffix alone.
		{"web.service.consul.example.com.", dns.TypeA, dns.RcodeRefused},
		{"web.service.consul.a.b.svc.cluster.local.", dns.TypeA, dns.RcodeRefused},
		{"svc.cluster.local.", dns.TypeA, dns.RcodeRefused},
		{"cluster.local.", dns.TypeA, dns.RcodeRefused},
	}
	for _, tc := range tests {
		reply, oc := respondRaw(s, packQuery(t, tc.name, tc.qtype, false))
		if oc != replied {
			t.Fatalf("%s: outcome %d", tc.name, oc)
		}
		m := mustUnpack(t, reply)
		if m.Rcode != tc.rcode || m.Authoritative || len(m.Ns) != 0 {
			t.Errorf("%s: rcode %s AA %v authority %d; want %s, no AA, no SOA", tc.name,
				dns.RcodeToString[m.Rcode], m.Authoritative, len(m.Ns), dns.RcodeToString[tc.rcode])
		}
	}
	if n := s.stats.SearchSuffixNXDomain(); n != 9 {
		t.Errorf("counted %d, want 9", n)
	}

	var q query
	out := make([]byte, 0, wire.MaxMsgLen)
	st := s.stats.shard()
	pkt := packQuery(t, "_web._tcp.service.consul.kong.svc.cluster.local.", dns.TypeSRV, true)
	allocs := testing.AllocsPerRun(200, func() {
		if _, oc := s.respond(&q, q.Parse(pkt), out, false, st); oc != replied {
			t.Fatal("no reply")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per search-suffix query", allocs)
	}
}

// TestNoSearchSuffixesForwardAll: without the option, such names are not ours.
func TestNoSearchSuffixesForwardAll(t *testing.T) {
	s := storelessServer(t)
	reply, _ := respondRaw(s, packQuery(t, "web.service.consul.svc.cluster.local.", dns.TypeA, false))
	if m := mustUnpack(t, reply); m.Rcode != dns.RcodeRefused {
		t.Errorf("rcode %s, want REFUSED (not ours, no forwarder)", dns.RcodeToString[m.Rcode])
	}
}
