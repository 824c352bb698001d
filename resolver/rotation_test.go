package resolver

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/cache"
	"github.com/srvbridge/srvbridge/health"
	"github.com/srvbridge/srvbridge/resolver/dnsmsg"
	"github.com/srvbridge/srvbridge/resolver/wire"
)

// eagerRotations is how every rotation of a variant was packed before rotations were
// built on demand, kept as the reference the templates must still match byte for
// byte: every order packed in one go, truncated when any of them was.
func eagerRotations(a *Answers, name string, k variantKey) (rots [][]byte, truncated, failed bool) {
	p := parseName([]byte(name), k.qtype, a.c.zones)
	insts := a.c.distinctEndpoints(filterTag(a.svc.Instances, p.tag), a.svc.Datacenter, string(p.zone.name))
	n := 1
	if len(insts) > 1 && (k.qtype == wire.TypeSRV || k.qtype == wire.TypeA || k.qtype == wire.TypeAAAA || k.qtype == wire.TypeANY) {
		n = min(len(insts), maxRotations)
	}
	rot := make([]health.Instance, len(insts))
	for r := 0; r < n; r++ {
		start := r * len(insts) / n
		copy(rot, insts[start:])
		copy(rot[len(insts)-start:], insts[:start])
		reply := a.c.serviceReply(name, &p, a.svc, rot, k)
		if k.qtype == wire.TypeA || k.qtype == wire.TypeAAAA {
			a.splice(reply, k.qtype)
		}
		if len(reply.Answer) == 0 {
			return append(rots, a.c.soaReply(name, k, reply.Rcode, false, p.apexOff)), truncated, false
		}
		packed, err := dnsmsg.Pack(reply)
		if err != nil {
			return nil, false, true
		}
		rots = append(rots, packed.Wire)
		truncated = truncated || packed.Truncated
	}
	return rots, truncated, false
}

// rotationShapes are services of every shape a template takes: glue or none, node or
// address targets, both families, host names, one instance or many.
func rotationShapes() map[string]*cache.Service {
	inst := func(i int, addr string, own bool, tags ...string) health.Instance {
		return health.Instance{ID: fmt.Sprint("i", i), Node: fmt.Sprint("node-", i%7), Address: addr, OwnAddress: own,
			Port: uint16(8000 + i), Weight: uint16(1 + i%3), Tags: tags}
	}
	shapes := map[string]*cache.Service{}
	add := func(name string, insts ...health.Instance) {
		shapes[name] = &cache.Service{Name: "web", Datacenter: "dc1", Instances: insts, All: insts}
	}
	add("one", inst(0, "10.0.0.1", false, "v1"))
	var nodes, own, mixed, v6, many []health.Instance
	for i := range 5 {
		nodes = append(nodes, inst(i, fmt.Sprint("10.0.0.", i+1), false, "v1"))
		own = append(own, inst(i, fmt.Sprint("10.1.0.", i+1), true, "v1"))
		v6 = append(v6, inst(i, fmt.Sprint("fd00::", i+1), true))
	}
	for i := range 3 {
		mixed = append(mixed, inst(i, fmt.Sprint("10.2.0.", i+1), i%2 == 0, "v1"), inst(10+i, fmt.Sprint("fd00::", i+1), true),
			inst(20+i, fmt.Sprint("db", i, ".example.com"), true))
	}
	for i := range 40 {
		many = append(many, inst(i, netip.AddrFrom4([4]byte{10, 3, byte(i / 200), byte(1 + i%200)}).String(), i%3 == 0, "v1"))
	}
	add("nodes", nodes...)
	add("own", own...)
	add("v6", v6...)
	add("mixed", mixed...)
	add("many", many...)
	add("two", nodes[:2]...)
	add("dup", nodes[0], nodes[0], nodes[1]) // one endpoint registered twice
	// Two ports on one address, and an address written IPv4-mapped: one A record
	// each, in the order of its first instance.
	add("shared", inst(0, "10.0.0.1", true), inst(1, "10.0.0.1", true), inst(2, "::ffff:10.0.0.2", true),
		inst(3, "10.0.0.3", true), inst(4, "10.0.0.2", true))
	return shapes
}

var rotationNames = []string{"web.service.consul.", "_web._tcp.service.consul.", "v1.web.service.consul.",
	"nope.web.service.consul.", "web.service.dc1.consul."}

var rotationKeys = func() []variantKey {
	var ks []variantKey
	for _, qt := range []uint16{wire.TypeSRV, wire.TypeA, wire.TypeAAAA, wire.TypeANY, wire.TypeTXT} {
		ks = append(ks, variantKey{qtype: qt, limit: wire.MinUDPSize}, // plain UDP
			variantKey{qtype: qt, limit: 1232, edns: true}, // EDNS
			variantKey{qtype: qt, limit: wire.MaxMsgLen})   // TCP
	}
	return ks
}()

// testCompiler is a compiler with the settings the compile tests assume.
func testCompiler(t testing.TB) *Compiler {
	t.Helper()
	comp, err := NewCompiler(Config{TTL: 5, NegativeTTL: 5})
	if err != nil {
		t.Fatal(err)
	}
	return comp
}

// fresh is the web.service.consul. variant k of a shape as its first query leaves
// it, and every order of it as packing them all in one go gives them.
func fresh(t *testing.T, shape string, k variantKey) (*variant, [][]byte) {
	a := testCompiler(t).Compile(nil, rotationShapes()[shape])
	want, _, _ := eagerRotations(a, "web.service.consul.", k)
	return a.build([]byte("web.service.consul."), k), want
}

// everyRotation packs every order of v, as the picks that first land on them do.
func everyRotation(v *variant) [][]byte {
	var out [][]byte
	for i := range v.n {
		out = append(out, v.fill(i))
	}
	return out
}

// TestRotationsMatchEagerPacking: whatever order the rotations are built in, each is
// byte for byte what packing them all in one go gives, TC set in the same ones.
func TestRotationsMatchEagerPacking(t *testing.T) {
	comp := testCompiler(t)
	sawTC, sawRotations := false, false
	for shape, svc := range rotationShapes() {
		a := comp.Compile(nil, svc)
		for _, name := range rotationNames {
			for _, k := range rotationKeys {
				what := fmt.Sprintf("%s %s %+v", shape, name, k)
				want, wantTC, wantFailed := eagerRotations(a, name, k)
				v := a.build([]byte(name), k)
				if v.failed != wantFailed {
					t.Fatalf("%s: failed %v, want %v", what, v.failed, wantFailed)
				}
				got := everyRotation(v)
				if len(got) != len(want) {
					t.Fatalf("%s: %d rotations, want %d", what, len(got), len(want))
				}
				tc := false
				for i := range got {
					if !bytes.Equal(got[i], want[i]) {
						t.Fatalf("%s: rotation %d differs:\n got %x\nwant %x", what, i, got[i], want[i])
					}
					tc = tc || truncated(got[i])
				}
				if tc != wantTC {
					t.Errorf("%s: TC in some rotation %v, want %v", what, tc, wantTC)
				}
				sawTC = sawTC || tc
				sawRotations = sawRotations || len(got) == maxRotations
			}
		}
	}
	if !sawTC || !sawRotations {
		t.Errorf("the shapes miss a case: truncated %v, %d rotations %v", sawTC, maxRotations, sawRotations)
	}
}

// TestPickSpreadsOrders: successive queries get the orders in turn, the same ones in
// the same sequence as when every order was packed up front.
func TestPickSpreadsOrders(t *testing.T) {
	v, want := fresh(t, "nodes", variantKey{qtype: wire.TypeSRV, limit: wire.MinUDPSize})
	if len(want) != maxRotations {
		t.Fatalf("%d orders, want %d", len(want), maxRotations)
	}
	for q := 1; q <= 3*maxRotations; q++ {
		if got := v.pick(); !bytes.Equal(got, want[q%maxRotations]) {
			t.Fatalf("query %d got another order than %d", q, q%maxRotations)
		}
	}
}

// TestConcurrentFirstPicks: queries landing at once on orders nobody has packed yet
// each get a whole, right reply (run with -race: the fill is published safely).
func TestConcurrentFirstPicks(t *testing.T) {
	v, want := fresh(t, "many", variantKey{qtype: wire.TypeA, limit: wire.MaxMsgLen})
	const readers, picks = 8, 50
	bad := make(chan string, readers)
	for range readers {
		go func() {
			for range picks {
				got := v.pick()
				ok := false
				for _, w := range want {
					ok = ok || bytes.Equal(got, w)
				}
				if !ok {
					bad <- fmt.Sprintf("%x", got)
					return
				}
			}
			bad <- ""
		}()
	}
	for range readers {
		if b := <-bad; b != "" {
			t.Fatalf("a reply that is no order of the answer: %s", b)
		}
	}
	for i := range v.n {
		if v.rots[i].Load() == nil {
			t.Errorf("order %d never packed after %d picks", i, readers*picks)
		}
	}
}

var updateTemplates = flag.Bool("update", false, "rewrite testdata/templates.golden from the templates built now")

// TestTemplatesGolden: every order of every shape's templates is the bytes it was
// when the golden file was written (by the compiler that packed every order up
// front), so that changes to how templates are laid out or packed show here. The
// SOA serial is the compiler's start time: it is fixed for the comparison.
func TestTemplatesGolden(t *testing.T) {
	shapes := rotationShapes()
	var b strings.Builder
	for _, shape := range slices.Sorted(maps.Keys(shapes)) {
		comp := testCompiler(t)
		comp.soa.Serial = 1
		a := comp.Compile(nil, shapes[shape])
		for _, name := range rotationNames {
			for _, k := range rotationKeys {
				v := a.build([]byte(name), k)
				for i, tpl := range everyRotation(v) {
					sum := sha256.Sum256(tpl)
					fmt.Fprintf(&b, "%s %s %s %d %v %d %x\n", shape, name, dns.TypeToString[k.qtype], k.limit, k.edns, i, sum[:8])
				}
			}
		}
	}
	const golden = "testdata/templates.golden"
	if *updateTemplates {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("templates differ from %s, first at line %d:\n got %s\nwant %s", golden, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("templates differ from %s: %d lines, want %d", golden, len(gl), len(wl))
	}
}

// TestRebuildPacksEveryOrder: after a change, every order of every variant served
// before is packed at once, off the query path, so that no query then packs one.
func TestRebuildPacksEveryOrder(t *testing.T) {
	comp := testCompiler(t)
	svc := rotationShapes()["nodes"]
	k := variantKey{qtype: wire.TypeSRV, limit: wire.MinUDPSize}
	prev := comp.Compile(nil, svc)
	if v := prev.build([]byte("web.service.consul."), k); v.rots[0].Load() != nil {
		t.Fatal("a first query packed every order")
	}
	changed := *svc
	changed.Instances = svc.Instances[1:]
	a := comp.Compile(prev, &changed)
	v := a.get([]byte("web.service.consul."), k)
	if v == nil || v.n != maxRotations {
		t.Fatalf("the variant served before was not rebuilt: %+v", v)
	}
	for i := range v.n {
		if v.rots[i].Load() == nil {
			t.Errorf("order %d left for a query to pack", i)
		}
	}
}

// TestAddressOrdersPermuted: an A or AAAA answer of plain addresses gets its other
// orders from permute, not from packing again, and they match the packed ones. The
// equivalence tests above would pass just as well if permute always declined.
func TestAddressOrdersPermuted(t *testing.T) {
	comp := testCompiler(t)
	for _, c := range []struct {
		shape string
		qtype uint16
	}{{"nodes", wire.TypeA}, {"own", wire.TypeA}, {"v6", wire.TypeAAAA}, {"shared", wire.TypeA}} {
		a := comp.Compile(nil, rotationShapes()[c.shape])
		k := variantKey{qtype: c.qtype, limit: wire.MinUDPSize}
		want, _, _ := eagerRotations(a, "web.service.consul.", k)
		v := a.build([]byte("web.service.consul."), k)
		base := *v.rots[v.first()].Load()
		for r := range v.n {
			if r == v.first() {
				continue
			}
			got, ok := v.permute(base, r)
			if !ok {
				t.Errorf("%s: order %d was not permuted", c.shape, r)
			} else if !bytes.Equal(got, want[r]) {
				t.Errorf("%s: permuted order %d differs:\n got %x\nwant %x", c.shape, r, got, want[r])
			}
		}
	}
}
