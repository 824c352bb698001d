package resolver

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/cache"
	"github.com/srvbridge/srvbridge/internal/consultest"
	"github.com/srvbridge/srvbridge/resolver/wire"
)

// TestPeerHotPathAllocatesNothing: a cached answer for a service imported from a
// cluster peer, its node-address SRV target and an unknown peer cost no allocation,
// as a local service's does (TestHotPathAllocatesNothing).
func TestPeerHotPathAllocatesNothing(t *testing.T) {
	exp := consultest.Start(t, consultest.WithDatacenter("dc1"), consultest.WithNodeName("exp"))
	imp := consultest.Start(t, consultest.WithDatacenter("dc2"), consultest.WithNodeName("imp"))
	consultest.Peer(t, exp, "east", imp, "west")
	exp.RegisterService(t, api.AgentServiceRegistration{Name: "web", ID: "web-1", Address: "127.0.0.11", Port: 8080, Tags: []string{"v1"}})
	exp.RegisterExternal(t, "ext1", "127.0.0.13", &api.AgentService{ID: "web-2", Service: "web", Port: 8081})
	exp.Export(t, "east", "web")

	s, store, ctx := serverOn(t, imp)
	consultest.Eventually(t, 20*time.Second, func() error {
		if a, res := store.Await(ctx, "west.peer", "web"); res != cache.Hit || len(a.svc.Instances) != 2 {
			return context.DeadlineExceeded
		}
		return nil
	})

	st := s.stats.shard()
	out := make([]byte, 0, wire.MaxMsgLen)
	var q query
	for _, hq := range []struct {
		name    string
		qtype   uint16
		rcode   int
		answers int
	}{
		{"web.service.west.peer.consul.", dns.TypeSRV, dns.RcodeSuccess, 2},
		{"v1.web.service.west.peer.consul.", dns.TypeA, dns.RcodeSuccess, 1},
		{"_web._tcp.service.west.peer.consul.", dns.TypeSRV, dns.RcodeSuccess, 2},
		{"ext1.node.west.peer.consul.", dns.TypeA, dns.RcodeSuccess, 1},
		{"web.service.nope.peer.consul.", dns.TypeA, dns.RcodeNameError, 0},
	} {
		pkt := packQuery(t, hq.name, hq.qtype, false)
		reply, oc := s.respond(&q, q.Parse(pkt), out, false, st)
		var m dns.Msg
		if err := m.Unpack(reply); oc != replied || err != nil || m.Rcode != hq.rcode || len(m.Answer) != hq.answers {
			t.Fatalf("%s %s: outcome %d (%v):\n%v", hq.name, dns.TypeToString[hq.qtype], oc, err, &m)
		}
		noAllocs(t, s, &q, pkt, out, st, hq.name, hq.qtype)
	}
}
