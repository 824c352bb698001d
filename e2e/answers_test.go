package e2e

import (
	"testing"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/internal/bridgetest"
	"github.com/srvbridge/srvbridge/internal/consultest"
)

// TestAnswers checks every name form against a catalog with three healthy instances,
// one, and none.
func TestAnswers(t *testing.T) {
	a := consultest.Start(t)
	instance(t, a, "web", "web-1", "127.0.0.11", 8081, "prod", "v1.beta")
	instance(t, a, "web", "web-2", "127.0.0.12", 8082, "prod")
	instance(t, a, "web", "web-3", "127.0.0.13", 8083, "canary")
	instance(t, a, "solo", "solo-1", "127.0.0.21", 9000)
	instance(t, a, "down", "down-1", "127.0.0.31", 9100)
	a.SetTTL(t, "service:down-1", "fail")
	// No address of its own: Consul names the node and the node's address is used.
	a.RegisterService(t, api.AgentServiceRegistration{Name: "nodeaddr", ID: "nodeaddr-1", Port: 7000})
	b := bridgetest.Start(t, a.HTTPAddr, "--service-ttl", "7s", "--negative-ttl", "3s")
	waitFor(t, b, "web.service.consul", dns.TypeSRV, func(r *dns.Msg) bool { return len(r.Answer) == 3 })
	waitFor(t, b, "down.service.consul", dns.TypeSRV, isRcode(dns.RcodeNameError))

	web := []string{
		"web.service.consul. 7 IN SRV 1 1 8081 7f00000b.addr.dc1.consul.",
		"web.service.consul. 7 IN SRV 1 1 8082 7f00000c.addr.dc1.consul.",
		"web.service.consul. 7 IN SRV 1 1 8083 7f00000d.addr.dc1.consul.",
	}
	glue := []string{
		"7f00000b.addr.dc1.consul. 7 IN A 127.0.0.11",
		"7f00000c.addr.dc1.consul. 7 IN A 127.0.0.12",
		"7f00000d.addr.dc1.consul. 7 IN A 127.0.0.13",
	}
	with := func(owner string, lines []string) []string {
		out := make([]string, len(lines))
		for i, l := range lines {
			out[i] = owner + l[len("web.service.consul."):]
		}
		return out
	}
	tests := []struct {
		name       string
		qtype      uint16
		rcode      int
		answer     []string
		additional []string
		soa        bool
	}{
		{"web.service.consul.", dns.TypeSRV, dns.RcodeSuccess, web, glue, false},
		{"WEB.Service.Consul.", dns.TypeSRV, dns.RcodeSuccess, with("WEB.Service.Consul.", web), glue, false},
		{"web.service.dc1.consul.", dns.TypeSRV, dns.RcodeSuccess, with("web.service.dc1.consul.", web), glue, false},
		{"web.service.dc1.dc.consul.", dns.TypeSRV, dns.RcodeSuccess, with("web.service.dc1.dc.consul.", web), glue, false},
		{"_web._tcp.service.consul.", dns.TypeSRV, dns.RcodeSuccess, with("_web._tcp.service.consul.", web), glue, false},
		{"_web._tcp.consul.", dns.TypeSRV, dns.RcodeSuccess, with("_web._tcp.consul.", web), glue, false},
		{"_web._prod.service.consul.", dns.TypeSRV, dns.RcodeSuccess, with("_web._prod.service.consul.", web[:2]), glue[:2], false},
		{"prod.web.service.consul.", dns.TypeSRV, dns.RcodeSuccess, with("prod.web.service.consul.", web[:2]), glue[:2], false},
		{"v1.beta.web.service.consul.", dns.TypeSRV, dns.RcodeSuccess, with("v1.beta.web.service.consul.", web[:1]), glue[:1], false},
		{"nosuchtag.web.service.consul.", dns.TypeSRV, dns.RcodeNameError, nil, nil, true},
		{"web.service.consul.", dns.TypeA, dns.RcodeSuccess, []string{
			"web.service.consul. 7 IN A 127.0.0.11",
			"web.service.consul. 7 IN A 127.0.0.12",
			"web.service.consul. 7 IN A 127.0.0.13",
		}, nil, false},
		{"canary.web.service.consul.", dns.TypeA, dns.RcodeSuccess, []string{"canary.web.service.consul. 7 IN A 127.0.0.13"}, nil, false},
		{"web.service.consul.", dns.TypeAAAA, dns.RcodeSuccess, nil, nil, true},
		{"web.service.consul.", dns.TypeTXT, dns.RcodeSuccess, nil, nil, true},
		{"solo.service.consul.", dns.TypeSRV, dns.RcodeSuccess,
			[]string{"solo.service.consul. 7 IN SRV 1 1 9000 7f000015.addr.dc1.consul."},
			[]string{"7f000015.addr.dc1.consul. 7 IN A 127.0.0.21"}, false},
		{"solo.service.consul.", dns.TypeA, dns.RcodeSuccess, []string{"solo.service.consul. 7 IN A 127.0.0.21"}, nil, false},
		{"nodeaddr.service.consul.", dns.TypeSRV, dns.RcodeSuccess,
			[]string{"nodeaddr.service.consul. 7 IN SRV 1 1 7000 consultest.node.dc1.consul."},
			[]string{"consultest.node.dc1.consul. 7 IN A 127.0.0.1"}, false},
		{"down.service.consul.", dns.TypeSRV, dns.RcodeNameError, nil, nil, true},
		{"down.service.consul.", dns.TypeA, dns.RcodeNameError, nil, nil, true},
		{"nope.service.consul.", dns.TypeSRV, dns.RcodeNameError, nil, nil, true},
		{"web.service.nodc.consul.", dns.TypeSRV, dns.RcodeNameError, nil, nil, true},
		{"web.consul.", dns.TypeA, dns.RcodeNameError, nil, nil, true},
		{"7f00000b.addr.dc1.consul.", dns.TypeA, dns.RcodeSuccess, []string{"7f00000b.addr.dc1.consul. 7 IN A 127.0.0.11"}, nil, false},
		{"7f00000b.addr.consul.", dns.TypeSRV, dns.RcodeSuccess, nil, nil, true},
		{"7f00000b.addr.consul.", dns.TypeAAAA, dns.RcodeSuccess, nil, nil, true},
		{"20010db8000000000000000000000001.addr.dc1.consul.", dns.TypeAAAA, dns.RcodeSuccess,
			[]string{"20010db8000000000000000000000001.addr.dc1.consul. 7 IN AAAA 2001:db8::1"}, nil, false},
		{"zz00000b.addr.consul.", dns.TypeA, dns.RcodeNameError, nil, nil, true},
		{"consul.", dns.TypeSOA, dns.RcodeSuccess, nil, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name+"/"+dns.TypeToString[tc.qtype], func(t *testing.T) {
			r := b.Query(t, tc.name, tc.qtype)
			if tc.qtype == dns.TypeSOA {
				if r.Rcode != tc.rcode || len(r.Answer) != 1 || r.Answer[0].Header().Rrtype != dns.TypeSOA {
					t.Fatalf("apex SOA:\n%s", bridgetest.Summary(r))
				}
				return
			}
			checkReply(t, r, tc.rcode, tc.answer, tc.additional, tc.soa)
			if tc.soa && r.Ns[0].Header().Ttl != 3 {
				t.Errorf("negative TTL %d, want 3", r.Ns[0].Header().Ttl)
			}
		})
	}
}

// TestUnknownDatacenterMatchesConsul asks Consul's own DNS the same question.
func TestUnknownDatacenterMatchesConsul(t *testing.T) {
	a := consultest.Start(t)
	instance(t, a, "web", "web-1", "127.0.0.11", 8081)
	b := bridgetest.Start(t, a.HTTPAddr)
	waitFor(t, b, "web.service.consul", dns.TypeSRV, hasTargets("7f00000b.addr.dc1.consul.:8081"))
	for _, name := range []string{"web.service.elsewhere.consul.", "nope.service.consul.", "web.service.dc1.consul."} {
		theirs, err := bridgetest.Exchange(a.DNSAddr, "udp", name, dns.TypeSRV)
		if err != nil {
			t.Fatal(err)
		}
		ours := b.Query(t, name, dns.TypeSRV)
		if ours.Rcode != theirs.Rcode || len(ours.Answer) != len(theirs.Answer) {
			t.Errorf("%s: srvbridge %s with %d answers, Consul %s with %d", name,
				dns.RcodeToString[ours.Rcode], len(ours.Answer), dns.RcodeToString[theirs.Rcode], len(theirs.Answer))
		}
	}
}
