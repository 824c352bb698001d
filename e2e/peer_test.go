package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/internal/bridgetest"
	"github.com/srvbridge/srvbridge/internal/consultest"
)

// peeredClusters starts two dev agents, each its own cluster, peers them and exports
// web from the first: the second (where srvbridge runs) knows the first as "west".
func peeredClusters(t *testing.T) (exp, imp *consultest.Agent) {
	t.Helper()
	imp = consultest.Start(t, consultest.WithDatacenter("dc2"), consultest.WithNodeName("imp"))
	return exportedWeb(t, imp, "west", "dc1", "", [3]string{"127.0.0.11", "127.0.0.12", "127.0.0.13"}), imp
}

// exportedWeb starts a cluster (datacenter dc, node exp) peered with imp, which
// knows it as peer, and exports web to it: <p>web-1 and <p>web-2 with addresses of
// their own (tags v1, v2) and <p>web-3 on node <p>ext1's address, all passing; flip
// them with SetTTL("service:<p>web-1", …).
func exportedWeb(t *testing.T, imp *consultest.Agent, peer, dc, p string, addrs [3]string) *consultest.Agent {
	t.Helper()
	exp := consultest.Start(t, consultest.WithDatacenter(dc), consultest.WithNodeName("exp"))
	consultest.Peer(t, exp, "east", imp, peer)
	instance(t, exp, "web", p+"web-1", addrs[0], 8080, "v1")
	instance(t, exp, "web", p+"web-2", addrs[1], 8080, "v2")
	exp.RegisterExternal(t, p+"ext1", addrs[2], &api.AgentService{ID: p + "web-3", Service: "web", Port: 8081},
		&api.HealthCheck{CheckID: p + "web-3", Name: p + "web-3", ServiceID: p + "web-3", Status: api.HealthPassing})
	exp.Export(t, "east", "web")
	importedCount(t, imp, peer, "web", 3)
	return exp
}

// importedCount waits until the importing agent lists n instances of svc from peer.
func importedCount(t *testing.T, imp *consultest.Agent, peer, svc string, n int) {
	t.Helper()
	consultest.Eventually(t, 30*time.Second, func() error {
		got, _, err := imp.Client.Health().Service(svc, "", false, &api.QueryOptions{Peer: peer})
		if err != nil {
			return err
		}
		if len(got) != n {
			return fmt.Errorf("%d instances of %s imported from %s, want %d", len(got), svc, peer, n)
		}
		return nil
	})
}

// TestPeeredServiceAsConsul: <svc>.service.<peer>.peer answers as Consul's own DNS
// does on the importing side, and follows the exporting side's health changes,
// registrations and deregistrations.
func TestPeeredServiceAsConsul(t *testing.T) {
	exp, imp := peeredClusters(t)
	b := bridgetest.Start(t, imp.HTTPAddr, "--upstream", "none")
	const w1, w2, w3 = "7f00000b.addr.consul.:8080", "7f00000c.addr.consul.:8080", "ext1.node.west.peer.consul.:8081"
	const name = "web.service.west.peer.consul."
	waitFor(t, b, name, dns.TypeSRV, hasTargets(w1, w2, w3))

	t.Run("as consul", func(t *testing.T) {
		for _, n := range []string{
			name, "WEB.service.West.PEER.consul.", "v1.web.service.west.peer.consul.", "nope.web.service.west.peer.consul.",
			"_web._v2.service.west.peer.consul.", "_web._tcp.service.west.peer.consul.",
			"nope.service.west.peer.consul.", "web.service.nope.peer.consul.", "web.service.west.peer.dc2.dc.consul.",
			"web.service.default.ns.west.peer.consul.", "web.service.west.consul.", "7f00000b.addr.west.peer.consul.",
		} {
			for _, qtype := range []uint16{dns.TypeSRV, dns.TypeA, dns.TypeAAAA} {
				asConsul(t, imp, b, n, qtype)
			}
		}
		// The SRV target of an instance without an address of its own, and the
		// other node of the peer's held service (SRV for a node name is a
		// deliberate difference, docs/dns.md).
		for _, n := range []string{"ext1.node.west.peer.consul.", "exp.node.west.peer.consul.", "nope.node.west.peer.consul.",
			"ext1.node.nope.peer.consul."} {
			for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
				asConsul(t, imp, b, n, qtype)
			}
		}
		asConsul(t, imp, b, "_web._tcp.west.peer.consul.", dns.TypeSRV)
		r := b.Query(t, "web.service.nope.peer.consul.", dns.TypeA)
		checkReply(t, r, dns.RcodeNameError, nil, nil, true)
		r = b.Query(t, name, dns.TypeSRV)
		checkReply(t, r, dns.RcodeSuccess, []string{
			"web.service.west.peer.consul. 5 IN SRV 1 1 8080 7f00000b.addr.consul.",
			"web.service.west.peer.consul. 5 IN SRV 1 1 8080 7f00000c.addr.consul.",
			"web.service.west.peer.consul. 5 IN SRV 1 1 8081 ext1.node.west.peer.consul.",
		}, []string{
			"7f00000b.addr.consul. 5 IN A 127.0.0.11",
			"7f00000c.addr.consul. 5 IN A 127.0.0.12",
			"ext1.node.west.peer.consul. 5 IN A 127.0.0.13",
		}, false)
	})

	t.Run("health", func(t *testing.T) {
		exp.SetTTL(t, "service:web-1", "fail")
		t.Logf("critical on the exporting side → gone from the answer in %v", waitFor(t, b, name, dns.TypeSRV, hasTargets(w2, w3)))
		waitFor(t, b, name, dns.TypeA, hasAddrs("127.0.0.12", "127.0.0.13"))
		asConsul(t, imp, b, name, dns.TypeA)
		exp.SetTTL(t, "service:web-1", "pass")
		waitFor(t, b, name, dns.TypeSRV, hasTargets(w1, w2, w3))
	})

	t.Run("maintenance", func(t *testing.T) {
		// An imported instance in maintenance carries one check with status
		// "maintenance". Consul 1.16.3 still serves it; srvbridge keeps it out as
		// it does a local one (docs/dns.md, deliberate differences).
		exp.Maintenance(t, "web-1", true)
		waitFor(t, b, name, dns.TypeSRV, hasTargets(w2, w3))
		if r, err := bridgetest.Exchange(imp.DNSAddr, "tcp", name, dns.TypeSRV); err != nil || !slices.Contains(bridgetest.Targets(r), w1) {
			t.Errorf("Consul no longer serves an imported instance in maintenance (err %v): make this a common answer", err)
		}
		exp.Maintenance(t, "web-1", false)
		waitFor(t, b, name, dns.TypeSRV, hasTargets(w1, w2, w3))
	})

	t.Run("deregister", func(t *testing.T) {
		exp.Deregister(t, "web-2")
		t.Logf("deregistered on the exporting side → gone from the answer in %v", waitFor(t, b, name, dns.TypeSRV, hasTargets(w1, w3)))
		exp.DeregisterExternal(t, "ext1", "")
		waitFor(t, b, name, dns.TypeSRV, hasTargets(w1))
		asConsul(t, imp, b, name, dns.TypeSRV)
	})

	t.Run("exported later", func(t *testing.T) {
		// A name asked before the service is exported is NXDOMAIN, as in Consul,
		// and answers once it is: its held query follows it.
		const api1 = "api.service.west.peer.consul."
		asConsul(t, imp, b, api1, dns.TypeA)
		waitFor(t, b, api1, dns.TypeA, isRcode(dns.RcodeNameError))
		instance(t, exp, "api", "api-1", "127.0.0.21", 9090)
		exp.Export(t, "east", "web", "api")
		waitFor(t, b, api1, dns.TypeA, hasAddrs("127.0.0.21"))
		asConsul(t, imp, b, api1, dns.TypeA)
	})
}

// hasAddrs: NOERROR with exactly these A records.
func hasAddrs(want ...string) func(*dns.Msg) bool {
	return func(r *dns.Msg) bool {
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != len(want) {
			return false
		}
		for _, rr := range r.Answer {
			a, ok := rr.(*dns.A)
			if !ok || !slices.Contains(want, a.A.String()) {
				return false
			}
		}
		return true
	}
}

// differentialPeer peers a with a second cluster, which a knows as "cluster2" and
// which exports web to it (exportedWeb: pweb-1 to pweb-3, node pext1).
func differentialPeer(t *testing.T, a *consultest.Agent) *consultest.Agent {
	t.Helper()
	return exportedWeb(t, a, "cluster2", "dc0", "p", [3]string{"127.0.0.71", "127.0.0.72", "127.0.0.73"})
}
