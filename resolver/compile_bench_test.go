package resolver

import (
	"fmt"
	"testing"

	"github.com/srvbridge/srvbridge/cache"
	"github.com/srvbridge/srvbridge/health"
	"github.com/srvbridge/srvbridge/resolver/wire"
)

// benchService is a service as the on-demand burst sees it: five instances on five
// nodes, each with a tag.
func benchService() *cache.Service {
	svc := &cache.Service{Name: "web", Datacenter: "dc1"}
	for i := range 5 {
		svc.Instances = append(svc.Instances, health.Instance{ID: fmt.Sprint("web-", i), Node: fmt.Sprint("node-", i),
			Address: fmt.Sprint("10.0.0.", i+1), Port: uint16(8080 + i), Weight: 1, Tags: []string{"v1"}})
	}
	svc.All = svc.Instances
	return svc
}

// firstQueries are the names a client asks of a service it has just learnt of.
var firstQueries = []struct {
	name  string
	qtype uint16
}{
	{"web.service.consul.", wire.TypeSRV},
	{"web.service.consul.", wire.TypeA},
	{"_web._tcp.service.consul.", wire.TypeSRV},
}

// BenchmarkFirstCompile is what a service's first queries cost the compiler: its
// answers compiled, and each name's template built and picked once, as the first
// query for it does.
func BenchmarkFirstCompile(b *testing.B) {
	benchCompile(b, 1)
}

// BenchmarkEveryRotation is what it costs until every order of every name has been
// sent once: the whole work of the first few queries for each name.
func BenchmarkEveryRotation(b *testing.B) {
	benchCompile(b, maxRotations)
}

func benchCompile(b *testing.B, picks int) {
	comp := testCompiler(b)
	svc := benchService()
	k := variantKey{limit: wire.MinUDPSize}
	b.ReportAllocs()
	for b.Loop() {
		a := comp.Compile(nil, svc)
		for _, fq := range firstQueries {
			k.qtype = fq.qtype
			v := a.build([]byte(fq.name), k)
			for range picks {
				if len(v.pick()) < wire.HeaderLen {
					b.Fatal("no reply")
				}
			}
		}
	}
}

// BenchmarkPick is the steady state: a template whose orders have all been sent,
// picked and copied into a reply, as every later query does.
func BenchmarkPick(b *testing.B) {
	a := testCompiler(b).Compile(nil, benchService())
	v := a.build([]byte("web.service.consul."), variantKey{qtype: wire.TypeSRV, limit: wire.MinUDPSize})
	for range maxRotations {
		v.pick()
	}
	out := make([]byte, 0, wire.MaxMsgLen)
	var q query
	q.Parse(packQuery(b, "web.service.consul.", wire.TypeSRV, false))
	b.ReportAllocs()
	for b.Loop() {
		out = fromTemplate(out, v.pick(), &q)
	}
}

// BenchmarkAddressOrders is what the four orders of a five-instance A answer cost
// once the first is packed: the other three are permuted from it (permute.go).
func BenchmarkAddressOrders(b *testing.B) {
	a := testCompiler(b).Compile(nil, benchService())
	k := variantKey{qtype: wire.TypeA, limit: wire.MinUDPSize}
	b.ReportAllocs()
	for b.Loop() {
		v := a.make("web.service.consul.", k)
		for i := range v.n {
			if len(v.packed(i)) < wire.HeaderLen {
				b.Fatal("no reply")
			}
		}
	}
}
