package resolver

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/cache"
	"github.com/srvbridge/srvbridge/health"
	"github.com/srvbridge/srvbridge/internal/consultest"
	"github.com/srvbridge/srvbridge/resolver/wire"
)

// hotServer wires a real Consul agent, the real watcher and store, and a Server whose
// respond method the tests call directly, without sockets.
func hotServer(t testing.TB) *Server {
	a := consultest.Start(t)
	for i, addr := range []string{"127.0.0.11", "127.0.0.12", "127.0.0.13"} {
		a.RegisterService(t, api.AgentServiceRegistration{Name: "web", ID: "web-" + addr, Address: addr, Port: 8080 + i})
	}
	// An instance whose address is a host name in our zone: its A answer is the
	// CNAME and web's addresses, spliced in the background (flatten.go).
	a.RegisterService(t, api.AgentServiceRegistration{Name: "alias", ID: "alias-1", Address: "web.service.consul", Port: 8080})
	a.RegisterService(t, api.AgentServiceRegistration{Kind: api.ServiceKindConnectProxy, Name: "web-sidecar-proxy",
		Address: "127.0.0.21", Port: 21000, Proxy: &api.AgentServiceConnectProxyConfig{DestinationServiceName: "web"}})
	s, store, ctx := serverOn(t, a)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, res := store.Await(ctx, "", "web")
		_, cres := store.AwaitEntry(ctx, health.EntryConnect, "", "web")
		_, ares := store.Await(ctx, "", "alias")
		if res == cache.Hit && cres == cache.Hit && ares == cache.Hit {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("web never served: %v", res)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s
}

// serverOn wires the real watcher and store to agent a, and a Server on them.
func serverOn(t testing.TB, a *consultest.Agent) (*Server, *cache.Store[*Answers], context.Context) {
	w := health.NewWatcher(health.Config{Client: a.Client, AllowStale: true})
	comp, err := NewCompiler(Config{TTL: 5, NegativeTTL: 5})
	if err != nil {
		t.Fatal(err)
	}
	store, err := cache.New(w, comp.Compile, cache.Config{LocalDC: a.Datacenter})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go store.Run(ctx)
	return New(comp, store), store, ctx
}

func packQuery(t testing.TB, name string, qtype uint16, edns bool) []byte {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if edns {
		m.SetEdns0(1232, false)
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var hotQueries = []struct {
	name  string
	qtype uint16
	edns  bool
	rcode int
}{
	{"web.service.consul.", dns.TypeSRV, false, dns.RcodeSuccess},
	{"Web.Service.Consul.", dns.TypeSRV, true, dns.RcodeSuccess},
	{"web.service.consul.", dns.TypeA, false, dns.RcodeSuccess},
	{"_web._tcp.service.consul.", dns.TypeSRV, false, dns.RcodeSuccess},
	{"web.service.consul.", dns.TypeAAAA, false, dns.RcodeSuccess}, // NODATA
	{"nope.service.consul.", dns.TypeSRV, false, dns.RcodeNameError},
	{"madeup.web.service.consul.", dns.TypeSRV, false, dns.RcodeNameError}, // unknown tag
	{"7f00000b.addr.dc1.consul.", dns.TypeA, false, dns.RcodeSuccess},
	{"web.service.default.ns.default.ap.dc1.dc.consul.", dns.TypeSRV, false, dns.RcodeSuccess},
	{"web.service.default.ap.consul.", dns.TypeA, true, dns.RcodeSuccess},
	{"web.service.other.ns.consul.", dns.TypeSRV, false, dns.RcodeNameError},
	{"web.connect.consul.", dns.TypeSRV, false, dns.RcodeSuccess},
	{"web.connect.dc1.consul.", dns.TypeA, true, dns.RcodeSuccess},
	{"web.virtual.consul.", dns.TypeA, false, dns.RcodeSuccess},
	{"web.virtual.consul.", dns.TypeAAAA, true, dns.RcodeSuccess}, // NODATA
	{"example.com.", dns.TypeA, false, dns.RcodeRefused},
	{flatName, dns.TypeA, false, dns.RcodeSuccess}, // CNAME + web's three A records
}

const flatName = "alias.service.consul."

// TestHotPathAllocatesNothing: a cached answer costs no allocation, for every common
// shape of query. Allocation counts are exact, so this is asserted, not benchmarked.
func TestHotPathAllocatesNothing(t *testing.T) {
	s := hotServer(t)
	st := s.stats.shard()
	out := make([]byte, 0, wire.MaxMsgLen)
	var q query
	for _, hq := range hotQueries {
		pkt := packQuery(t, hq.name, hq.qtype, hq.edns)
		answer := func() {
			reply, oc := s.respond(&q, q.Parse(pkt), out, false, st)
			if oc != replied {
				t.Fatalf("%s: outcome %d", hq.name, oc)
			}
			var m dns.Msg
			if err := m.Unpack(reply); err != nil || m.Rcode != hq.rcode || m.Id != q.ID ||
				(hq.name == "web.virtual.consul." && hq.qtype == dns.TypeA && len(m.Answer) != 1) {
				t.Fatalf("%s: bad reply (%v):\n%v", hq.name, err, &m)
			}
		}
		answer() // first use may build the template
		for deadline := time.Now().Add(10 * time.Second); hq.name == flatName; {
			reply, _ := s.respond(&q, q.Parse(pkt), out, false, st)
			var m dns.Msg
			if m.Unpack(reply) == nil && len(m.Answer) == 4 {
				break // flattened
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never flattened:\n%v", hq.name, &m)
			}
			time.Sleep(10 * time.Millisecond) // polling interval
		}
		noAllocs(t, s, &q, pkt, out, st, hq.name, hq.qtype)
	}
}

// noAllocs fails the test if answering pkt allocates.
func noAllocs(t *testing.T, s *Server, q *query, pkt, out []byte, st *shard, name string, qtype uint16) {
	t.Helper()
	// Each record order is packed by the first query it goes to: a cached answer
	// is one every order of which has been sent.
	for range maxRotations {
		s.respond(q, q.Parse(pkt), out, false, st)
	}
	allocs := testing.AllocsPerRun(200, func() {
		reply, oc := s.respond(q, q.Parse(pkt), out, false, st)
		if oc != replied || len(reply) < wire.HeaderLen {
			t.Fatal("no reply")
		}
	})
	if allocs != 0 {
		t.Errorf("%s %s: %v allocations per query", name, dns.TypeToString[qtype], allocs)
	}
}

func BenchmarkRespond(b *testing.B) {
	s := hotServer(b)
	st := s.stats.shard()
	out := make([]byte, 0, wire.MaxMsgLen)
	var q query
	for _, hq := range hotQueries {
		pkt := packQuery(b, hq.name, hq.qtype, hq.edns)
		s.respond(&q, q.Parse(pkt), out, false, st)
		b.Run(hq.name+"/"+dns.TypeToString[hq.qtype], func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				s.respond(&q, q.Parse(pkt), out, false, st)
			}
		})
	}
}
