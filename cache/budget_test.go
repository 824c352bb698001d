package cache

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/srvbridge/srvbridge/health"
	"github.com/srvbridge/srvbridge/internal/consultest"
)

// The failure table of the many-services issue, against an agent with Consul's
// default limits (200 HTTP connections per client address): before the change feed,
// one blocking query per service meant one connection per service, and 300 services
// with --prefetch never became ready (429s, and the outage gate relapsing).

const (
	manyServices = 300
	testBudget   = 16
)

// budgetClient is an api client set up as srvbridge sets up its own.
func budgetClient(t *testing.T, a *consultest.Agent, budget int) *api.Client {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	health.ConfigureTransport(tr, budget)
	c, err := api.NewClient(&api.Config{Address: a.HTTPAddr, Scheme: "http", Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// registerMany registers n services with a passing TTL check each, through a client
// that keeps no connection open, so that the connection counts below are ours.
func registerMany(t *testing.T, a *consultest.Agent, n int) []string {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: a.HTTPAddr, Scheme: "http",
		Transport: &http.Transport{DisableKeepAlives: true}})
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("svc-%03d", i)
		err := c.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: names[i], ID: names[i] + "-1",
			Address: "127.0.4.1", Port: 80 + i,
			Check: &api.AgentServiceCheck{CheckID: names[i] + "-ttl", TTL: "10m", Status: api.HealthPassing}})
		if err != nil {
			t.Fatalf("register %s: %v", names[i], err)
		}
	}
	return names
}

// manyServicesAgent starts an agent with default limits and registers manyServices.
func manyServicesAgent(t *testing.T) (*consultest.Agent, []string) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a Consul agent")
	}
	a := consultest.Start(t)
	return a, registerMany(t, a, manyServices)
}

// connsTo counts the established TCP connections to port on this host, from
// /proc/net/tcp{,6}; ok is false where there is no such file (not Linux).
func connsTo(port int) (n int, ok bool) {
	want := fmt.Sprintf(":%04X", port)
	for _, p := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		ok = true
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			// sl local_address rem_address st ...; 01 is ESTABLISHED.
			if len(fs) > 3 && strings.HasSuffix(fs[2], want) && fs[3] == "01" {
				n++
			}
		}
		f.Close()
	}
	return n, ok
}

// connWatch samples the connection count until stopped and keeps the peak. base is
// the count before: the agent's readiness probe in consultest keeps one open.
type connWatch struct {
	base int64
	peak atomic.Int64
	stop chan struct{}
	done sync.WaitGroup
}

func watchConns(t *testing.T, a *consultest.Agent) *connWatch {
	t.Helper()
	port, err := strconv.Atoi(a.HTTPAddr[strings.LastIndexByte(a.HTTPAddr, ':')+1:])
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := connsTo(port); !ok {
		t.Skip("no /proc/net/tcp to count connections with")
	}
	base, _ := connsTo(port)
	w := &connWatch{stop: make(chan struct{}), base: int64(base)}
	w.done.Add(1)
	go func() {
		defer w.done.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			if n, _ := connsTo(port); int64(n) > w.peak.Load() {
				w.peak.Store(int64(n))
			}
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// Peak is the most connections seen beyond the count before.
func (w *connWatch) Peak() int64 {
	close(w.stop)
	w.done.Wait()
	return w.peak.Load() - w.base
}

func startBudgetStore(t *testing.T, a *consultest.Agent, cfg Config) (*Store[[]string], *health.Watcher) {
	t.Helper()
	return startStoreWithBudget(t, a, cfg, testBudget)
}

func startStoreWithBudget(t *testing.T, a *consultest.Agent, cfg Config, budget int) (*Store[[]string], *health.Watcher) {
	t.Helper()
	w := health.NewWatcher(health.Config{Client: budgetClient(t, a, budget), AllowStale: true, MaxConns: budget})
	cfg.LocalDC = a.Datacenter
	s := runStore(t, w, cfg)
	return s, w
}

func waitReady(t *testing.T, s *Store[[]string]) {
	t.Helper()
	consultest.Eventually(t, 30*time.Second, func() error {
		if ok, why := s.Ready(); !ok {
			return fmt.Errorf("not ready: %s", why)
		}
		return nil
	})
}

// TestPrefetchManyServicesWithinBudget: 300 services with prefetch become ready, every
// one answered, on at most the budget of connections. Before the change feed: never
// ready.
func TestPrefetchManyServicesWithinBudget(t *testing.T) {
	a, svcs := manyServicesAgent(t)
	conns := watchConns(t, a)
	s, w := startBudgetStore(t, a, Config{Prefetch: true})
	waitReady(t, s)
	for _, name := range svcs {
		if got, r := s.Lookup(nil, []byte(name)); r != Hit || len(got) != 1 {
			t.Fatalf("%s after ready: %v %v, want one address", name, r, got)
		}
	}
	peak := conns.Peak()
	if peak > testBudget {
		t.Errorf("%d connections to Consul at the peak, budget %d", peak, testBudget)
	}
	t.Logf("peak %d connections to Consul (budget %d)", peak, testBudget)
	if n := w.Stats().Throttled(); n != 0 {
		t.Errorf("%d answers 429 within the budget", n)
	}
}

// TestOnDemandManyServicesWithinBudget: every one of 300 names asked in turn gets its
// answer, on at most the budget of connections. Before the change feed each held a
// connection, and past 200 Consul answered 429.
func TestOnDemandManyServicesWithinBudget(t *testing.T) {
	a, svcs := manyServicesAgent(t)
	conns := watchConns(t, a)
	s, w := startBudgetStore(t, a, Config{AwaitTimeout: 5 * time.Second})
	consultest.Eventually(t, 10*time.Second, func() error {
		if ok, why := s.Ready(); !ok {
			return fmt.Errorf("not ready: %s", why)
		}
		return nil
	})
	for _, name := range svcs {
		if got, r := s.Await(context.Background(), "", name); r != Hit || len(got) != 1 {
			t.Fatalf("%s: %v %v, want one address", name, r, got)
		}
	}
	if n := s.Stats().Watches(); n != manyServices {
		t.Errorf("%d services held, want %d", n, manyServices)
	}
	// Asked again, every name is answered from the cache: no request per query, and
	// no held service pushed out by another (the old 128-entry bound thrashed here).
	fetches := w.Stats().Requests(health.KindService)
	for _, name := range svcs {
		if _, r := s.Lookup(nil, []byte(name)); r != Hit {
			t.Fatalf("%s asked again: %v", name, r)
		}
	}
	if n := w.Stats().Requests(health.KindService) - fetches; n != 0 {
		t.Errorf("%d fetches for names asked a second time", n)
	}
	peak := conns.Peak()
	if peak > testBudget {
		t.Errorf("%d connections to Consul at the peak, budget %d", peak, testBudget)
	}
	t.Logf("peak %d connections to Consul (budget %d)", peak, testBudget)
}

// TestTwoReplicasOneAgent: two srvbridge processes beside one agent, each prefetching
// 300 services, both become ready with the same answers, on at most two budgets of
// connections. Before the change feed the second never became ready.
func TestTwoReplicasOneAgent(t *testing.T) {
	a, svcs := manyServicesAgent(t)
	conns := watchConns(t, a)
	s1, _ := startBudgetStore(t, a, Config{Prefetch: true})
	s2, _ := startBudgetStore(t, a, Config{Prefetch: true})
	waitReady(t, s1)
	waitReady(t, s2)
	for _, name := range svcs {
		a1, r1 := s1.Lookup(nil, []byte(name))
		a2, r2 := s2.Lookup(nil, []byte(name))
		if r1 != Hit || r2 != Hit || fmt.Sprint(a1) != fmt.Sprint(a2) {
			t.Fatalf("%s: %v %v and %v %v", name, r1, a1, r2, a2)
		}
	}
	peak := conns.Peak()
	if peak > 2*testBudget {
		t.Errorf("%d connections to Consul at the peak, two budgets of %d", peak, testBudget)
	}
	t.Logf("peak %d connections to Consul (two budgets of %d)", peak, testBudget)
}

// TestThrottledIsNotAnOutage: with a budget above the agent's own limit (200
// connections per client address), Consul answers some fetches 429. That is
// back-pressure: fewer requests at a time, retried, and ready in the end - never the
// outage gate, whose probes would stop every loop. Before, each 429 closed the gate.
func TestThrottledIsNotAnOutage(t *testing.T) {
	a, svcs := manyServicesAgent(t)
	s, w := startStoreWithBudget(t, a, Config{Prefetch: true}, 2*manyServices)
	waitReady(t, s)
	for _, name := range svcs {
		if _, r := s.Lookup(nil, []byte(name)); r != Hit {
			t.Fatalf("%s: %v", name, r)
		}
	}
	if w.Stats().Throttled() == 0 {
		t.Skip("the agent answered no 429: its connection limit was not reached")
	}
	if n := w.Stats().Requests(health.KindProbe); n != 0 {
		t.Errorf("%d outage probes after %d answers 429: the gate closed", n, w.Stats().Throttled())
	}
	if limit, most := w.RequestLimit(); limit >= most {
		t.Errorf("refetch limit %d of %d after 429s: not lowered", limit, most)
	}
	t.Logf("%d answers 429; refetch limit now %d", w.Stats().Throttled(), func() int { l, _ := w.RequestLimit(); return l }())
}
