package e2e

import (
	"slices"
	"testing"

	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/internal/bridgetest"
	"github.com/srvbridge/srvbridge/internal/consultest"
)

// TestOtherNameForms: nodes, reverse lookups and prepared queries.
func TestOtherNameForms(t *testing.T) {
	a := consultest.Start(t)
	threeWeb(t, a)
	a.RegisterExternal(t, "node-b", "127.0.0.50", nil)
	webQuery(t, a)
	// Forwarding off: an unknown reverse name must not depend on the host's resolvers.
	b := bridgetest.Start(t, a.HTTPAddr, "--upstream", "none")
	waitFor(t, b, "web.service.consul", dns.TypeSRV, hasTargets(t1, t2, t3))

	t.Run("node", func(t *testing.T) {
		checkReply(t, b.Query(t, "node-b.node.consul.", dns.TypeA), dns.RcodeSuccess,
			[]string{"node-b.node.consul. 5 IN A 127.0.0.50"}, nil, false)
		checkReply(t, b.Query(t, "consultest.node.dc1.consul.", dns.TypeA), dns.RcodeSuccess,
			[]string{"consultest.node.dc1.consul. 5 IN A 127.0.0.1"}, nil, false)
		checkReply(t, b.Query(t, "node-b.node.consul.", dns.TypeAAAA), dns.RcodeSuccess, nil, nil, true)
		checkReply(t, b.Query(t, "nope.node.consul.", dns.TypeA), dns.RcodeNameError, nil, nil, true)
		txt := b.Query(t, "consultest.node.consul.", dns.TypeTXT)
		if txt.Rcode != dns.RcodeSuccess || len(txt.Answer) == 0 {
			t.Errorf("node meta TXT:\n%s", bridgetest.Summary(txt))
		}
	})
	t.Run("ptr", func(t *testing.T) {
		checkReply(t, b.Query(t, "50.0.0.127.in-addr.arpa.", dns.TypePTR), dns.RcodeSuccess,
			[]string{"50.0.0.127.in-addr.arpa. 5 IN PTR node-b.node.dc1.consul."}, nil, false)
		// A served instance's own address names its service.
		checkReply(t, b.Query(t, "12.0.0.127.in-addr.arpa.", dns.TypePTR), dns.RcodeSuccess,
			[]string{"12.0.0.127.in-addr.arpa. 5 IN PTR web.service.dc1.consul."}, nil, false)
		// An address Consul does not know is not ours: with forwarding off, REFUSED
		// (with forwarding on, allowed clients get the upstream's answer).
		if r := b.Query(t, "9.9.9.10.in-addr.arpa.", dns.TypePTR); r.Rcode != dns.RcodeRefused {
			t.Errorf("unknown address: %s", dns.RcodeToString[r.Rcode])
		}
	})
	t.Run("prepared query", func(t *testing.T) {
		r := b.Query(t, "webq.query.consul.", dns.TypeSRV)
		if got := bridgetest.Targets(r); !slices.Equal(got, []string{t1, t2, t3}) || r.Answer[0].Header().Ttl != 2 {
			t.Fatalf("prepared query:\n%s", bridgetest.Summary(r))
		}
		checkReply(t, b.Query(t, "nope.query.consul.", dns.TypeSRV), dns.RcodeNameError, nil, nil, true)
		// The result is kept for the query's TTL, then refreshed while still served.
		a.SetTTL(t, "service:web-1", "fail")
		waitFor(t, b, "webq.query.consul", dns.TypeSRV, hasTargets(t2, t3))
	})
	t.Run("apex", func(t *testing.T) {
		r := b.Query(t, "consul.", dns.TypeNS)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].Header().Rrtype != dns.TypeNS {
			t.Fatalf("apex NS:\n%s", bridgetest.Summary(r))
		}
		// Named and glued as configured, and the name answers itself.
		ns := bridgetest.Start(t, a.HTTPAddr, "--ns-name", "dns1.consul", "--ns-address", "127.0.0.53")
		checkReply(t, ns.Query(t, "consul.", dns.TypeNS), dns.RcodeSuccess,
			[]string{"consul. 5 IN NS dns1.consul."}, []string{"dns1.consul. 5 IN A 127.0.0.53"}, false)
		checkReply(t, ns.Query(t, "dns1.consul.", dns.TypeA), dns.RcodeSuccess,
			[]string{"dns1.consul. 5 IN A 127.0.0.53"}, nil, false)
		checkReply(t, ns.Query(t, "dns1.consul.", dns.TypeAAAA), dns.RcodeSuccess, nil, nil, true)
	})
}
