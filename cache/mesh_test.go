package cache

import (
	"context"
	"slices"
	"testing"

	"github.com/srvbridge/srvbridge/health"
)

// TestFakeMeshEntriesHaveTheirOwnSlots: web.service, web.connect and web.ingress are
// held and answered separately, a mesh entry of an unlisted service is NXDOMAIN
// without a hold, and a service leaving the catalog releases its mesh entries.
func TestFakeMeshEntriesHaveTheirOwnSlots(t *testing.T) {
	f := newFake("web")
	connect := health.HeldName(health.EntryConnect, "web")
	ingress := health.HeldName(health.EntryIngress, "web")
	f.states[connect] = []health.Instance{{ID: "web-sidecar-proxy", Node: "n1", Address: "127.0.5.100", Port: 21000}}
	f.states[ingress] = []health.Instance{{ID: "ig", Node: "n1", Address: "127.0.5.200", Port: 8443}}
	s := startFake(t, f, Config{})
	ctx := context.Background()
	want := map[health.Entry]string{health.EntryService: "127.0.5.1", health.EntryConnect: "127.0.5.100", health.EntryIngress: "127.0.5.200"}
	for _, e := range []health.Entry{health.EntryConnect, health.EntryService, health.EntryIngress} {
		if _, res := s.LookupEntry(e, nil, []byte("web")); res != Miss {
			t.Fatalf("entry %d before any query: %v, want miss", e, res)
		}
		got, res := s.AwaitEntry(ctx, e, "", "web")
		if res != Hit || !slices.Equal(got, []string{want[e]}) {
			t.Fatalf("entry %d: %v %v, want %s", e, res, got, want[e])
		}
	}
	for e, addr := range want {
		if got, res := s.LookupEntry(e, nil, []byte("web")); res != Hit || !slices.Equal(got, []string{addr}) {
			t.Errorf("entry %d after all three: %v %v, want %s", e, res, got, addr)
		}
	}
	if _, res := s.AwaitEntry(ctx, health.EntryConnect, "", "nope"); res != NoService {
		t.Errorf("nope.connect: %v, want no-service", res)
	}
	f.mu.Lock()
	holds := slices.Clone(f.holds)
	f.mu.Unlock()
	slices.Sort(holds)
	if !slices.Equal(holds, []string{connect, ingress, "web"}) {
		t.Errorf("held %q, want the three entries of web and nothing else", holds)
	}
	name := []byte("web")
	if n := testing.AllocsPerRun(1000, func() { s.LookupEntry(health.EntryConnect, nil, name) }); n != 0 {
		t.Errorf("LookupEntry allocates %v times", n)
	}

	// web leaves the catalog: its mesh entries go with it.
	s.applyCatalog("dc1", health.Catalog{Datacenter: "dc1", Services: map[string][]string{"other": nil}})
	f.mu.Lock()
	left := len(f.held)
	f.mu.Unlock()
	if left != 0 {
		t.Errorf("still held after web left the catalog: %v", f.held)
	}
	if _, res := s.LookupEntry(health.EntryConnect, nil, []byte("web")); res != NoService {
		t.Errorf("web.connect after web left: %v, want no-service", res)
	}
}
