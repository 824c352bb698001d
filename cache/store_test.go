package cache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/srvbridge/srvbridge/health"
	"github.com/srvbridge/srvbridge/internal/consultest"
)

// names compiles to the instance addresses, so tests can see what is served.
func names(_ []string, svc *Service) []string {
	var out []string
	for _, in := range svc.Instances {
		out = append(out, in.Address)
	}
	return out
}

func startStore(t *testing.T, a *consultest.Agent, cfg Config) (*Store[[]string], *health.Watcher) {
	t.Helper()
	w := health.NewWatcher(health.Config{Client: a.Client, AllowStale: true})
	cfg.LocalDC = a.Datacenter
	s := runStore(t, w, cfg)
	consultest.Eventually(t, 10*time.Second, func() error {
		if ok, why := s.Ready(); !ok {
			return fmt.Errorf("not ready: %s", why)
		}
		return nil
	})
	return s, w
}

// runStore starts a store over src until the test ends.
func runStore(t *testing.T, src Source, cfg Config) *Store[[]string] {
	t.Helper()
	s, err := New(src, names, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func register(t *testing.T, a *consultest.Agent, svc string, n int) {
	for i := 0; i < n; i++ {
		a.RegisterService(t, api.AgentServiceRegistration{Name: svc, ID: fmt.Sprintf("%s-%d", svc, i),
			Address: fmt.Sprintf("127.0.3.%d", i+1), Port: 80,
			Check: &api.AgentServiceCheck{CheckID: fmt.Sprintf("service:%s-%d", svc, i), TTL: "10m", Status: api.HealthPassing}})
	}
}

func await(t *testing.T, s *Store[[]string], name string) ([]string, Result) {
	t.Helper()
	return s.Await(context.Background(), "", name)
}

// TestJunkNamesCostConsulNothing: names the catalog does not list are answered from
// the catalog, with no Consul request each.
func TestJunkNamesCostConsulNothing(t *testing.T) {
	a := consultest.Start(t)
	register(t, a, "web", 1)
	s, w := startStore(t, a, Config{})
	consultest.Eventually(t, 5*time.Second, func() error {
		if _, r := await(t, s, "web"); r != Hit {
			return fmt.Errorf("web: %v", r)
		}
		return nil
	})
	before := w.Stats().Requests(health.KindService) + w.Stats().Requests(health.KindDatacenters)
	for i := 0; i < 50000; i++ {
		name := fmt.Sprintf("junk-%d-%x", i, rand.Uint64())
		if _, r := s.Lookup(nil, []byte(name)); r != NoService {
			t.Fatalf("%s: %v, want NoService", name, r)
		}
		if _, r := s.Lookup([]byte("nodc"+name[:6]), []byte("web")); r != NoDatacenter && r != Miss {
			t.Fatalf("unknown dc: %v", r)
		}
	}
	if after := w.Stats().Requests(health.KindService) + w.Stats().Requests(health.KindDatacenters); after != before {
		t.Fatalf("junk names caused %d Consul requests", after-before)
	}
	if s.Stats().Watches() != 1 {
		t.Fatalf("%d watches, want 1", s.Stats().Watches())
	}
}

// TestOnDemandBound: never more watches than MaxServices; the least recently asked
// service goes first.
func TestOnDemandBound(t *testing.T) {
	a := consultest.Start(t)
	for _, svc := range []string{"s1", "s2", "s3", "s4", "s5"} {
		register(t, a, svc, 1)
	}
	s, _ := startStore(t, a, Config{MaxServices: 2})
	for _, svc := range []string{"s1", "s2", "s3", "s4", "s5"} {
		if got, r := await(t, s, svc); r != Hit || len(got) != 1 {
			t.Fatalf("%s: %v %v", svc, got, r)
		}
		if n := s.Stats().Watches(); n > 2 {
			t.Fatalf("%d watches after %s, bound is 2", n, svc)
		}
	}
	if s.Stats().Evictions() != 3 {
		t.Errorf("%d evictions, want 3", s.Stats().Evictions())
	}
	// s5 is watched; s1 was evicted and is watched again on the next query.
	if _, r := s.Lookup(nil, []byte("s5")); r != Hit {
		t.Errorf("s5: %v, want Hit", r)
	}
	if _, r := s.Lookup(nil, []byte("s1")); r != Miss {
		t.Errorf("s1: %v, want Miss after eviction", r)
	}
}

// TestIdleWatchStops: a service nobody asks for stops being watched.
func TestIdleWatchStops(t *testing.T) {
	a := consultest.Start(t)
	register(t, a, "web", 1)
	s, _ := startStore(t, a, Config{IdleTimeout: time.Second})
	if _, r := await(t, s, "web"); r != Hit {
		t.Fatal(r)
	}
	consultest.Eventually(t, 10*time.Second, func() error {
		if n := s.Stats().Watches(); n != 0 {
			return fmt.Errorf("%d watches", n)
		}
		return nil
	})
	if s.Stats().IdleStops() != 1 || s.Stats().Services() != 0 {
		t.Errorf("idle stops %d, services %d", s.Stats().IdleStops(), s.Stats().Services())
	}
}

// TestPrefetch watches every service before any query.
func TestPrefetch(t *testing.T) {
	a := consultest.Start(t)
	register(t, a, "p1", 2)
	register(t, a, "p2", 1)
	s, _ := startStore(t, a, Config{Prefetch: true})
	// Lookup never starts a watch: a Hit here means prefetch fetched it. The dev
	// agent's own "consul" service is watched too.
	consultest.Eventually(t, 10*time.Second, func() error {
		p1, r1 := s.Lookup(nil, []byte("p1"))
		p2, r2 := s.Lookup(nil, []byte("p2"))
		if r1 != Hit || len(p1) != 2 || r2 != Hit || len(p2) != 1 {
			return fmt.Errorf("p1 %v %v, p2 %v %v", p1, r1, p2, r2)
		}
		return nil
	})
	if n := s.Stats().Watches(); n != 3 {
		t.Errorf("%d watches, want 3 (p1, p2, consul)", n)
	}

	// Services registered later are fetched too, and readiness does not flicker
	// while they are: a serving replica must not leave its load balancer because
	// the catalog grew.
	stop := make(chan struct{})
	flicker := make(chan string, 1)
	go func() {
		for {
			select {
			case <-stop:
				close(flicker)
				return
			default:
			}
			if ok, why := s.Ready(); !ok {
				flicker <- why
				close(flicker)
				return
			}
		}
	}()
	for i := 0; i < 20; i++ {
		a.RegisterExternal(t, fmt.Sprintf("late-%d", i), "127.0.4.1", &api.AgentService{ID: "late", Service: fmt.Sprintf("late-%d", i), Port: 80})
	}
	consultest.Eventually(t, 10*time.Second, func() error {
		if _, r := s.Lookup(nil, []byte("late-19")); r != Hit {
			return fmt.Errorf("late-19: %v", r)
		}
		return nil
	})
	close(stop)
	if why, ok := <-flicker; ok {
		t.Errorf("not ready while new services were fetched: %s", why)
	}
}

// TestNoHealthyPolicy: what is served when checks fail, per policy.
func TestNoHealthyPolicy(t *testing.T) {
	a := consultest.Start(t)
	register(t, a, "web", 4)
	stores := map[string]*Store[[]string]{}
	for name, p := range map[string]health.Policy{
		"nxdomain": {}, "nodata": {NoHealthy: health.NoHealthyNoData}, "all": {NoHealthy: health.NoHealthyAll}, "panic50": {PanicPercent: 50},
	} {
		stores[name], _ = startStore(t, a, Config{Policy: p})
	}
	served := func(name string) (int, Result) {
		got, r := await(t, stores[name], "web")
		return len(got), r
	}
	expect := func(name string, n int, r Result) {
		t.Helper()
		consultest.Eventually(t, 5*time.Second, func() error {
			if gn, gr := served(name); gn != n || gr != r {
				return fmt.Errorf("%s: %d instances, %v; want %d, %v", name, gn, gr, n, r)
			}
			return nil
		})
	}
	// One of four failing: above the 50% threshold, everyone serves the healthy three.
	a.SetTTL(t, "service:web-0", "fail")
	for _, name := range []string{"nxdomain", "nodata", "all", "panic50"} {
		expect(name, 3, Hit)
	}
	// Three of four failing: panic serves all four; the others still have one.
	a.SetTTL(t, "service:web-1", "fail")
	a.SetTTL(t, "service:web-2", "fail")
	expect("panic50", 4, Hit)
	expect("nxdomain", 1, Hit)
	// None healthy.
	a.SetTTL(t, "service:web-3", "fail")
	expect("nxdomain", 0, NoService)
	expect("nodata", 0, Hit)
	expect("all", 4, Hit)
}
