package cache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/srvbridge/srvbridge/health"
)

// The fast tier: the store's state machine against a fake Source, no Consul. The
// fake answers like the change feed does: WatchDatacenter gives the catalog, Hold
// makes a state arrive (at once, or when the test says), Release is recorded.

type fakeSource struct {
	mu       sync.Mutex
	catalog  map[string][]string          // service → tags
	states   map[string][]health.Instance // service → instances
	manual   bool                         // Hold does not deliver; the test calls deliver
	sink     health.Sink
	sinkSet  chan struct{}
	held     map[string]bool
	holds    []string
	releases []string
	queries  map[string]health.QueryResult
	queryErr error // when set, every execution fails with it
	executed int
	// dcsHang, when set, makes every datacenter read wait for it to be closed, as
	// a Consul that sits on the request would.
	dcsHang  chan struct{}
	dcsReads int
}

func newFake(services ...string) *fakeSource {
	f := &fakeSource{catalog: map[string][]string{}, states: map[string][]health.Instance{},
		held: map[string]bool{}, sinkSet: make(chan struct{}), queries: map[string]health.QueryResult{}}
	for i, s := range services {
		f.catalog[s] = nil
		f.states[s] = []health.Instance{{ID: s + "-1", Node: "n1", Address: fmt.Sprintf("127.0.5.%d", i+1), Port: 80}}
	}
	return f
}

func (f *fakeSource) LocalDatacenter(context.Context) (string, error) { return "dc1", nil }
func (f *fakeSource) Datacenters(ctx context.Context) ([]string, error) {
	f.mu.Lock()
	f.dcsReads++
	hang := f.dcsHang
	f.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return []string{"dc1"}, nil
}

func (f *fakeSource) WatchDatacenter(ctx context.Context, dc string, sink health.Sink) error {
	f.mu.Lock()
	f.sink = sink
	cat := health.Catalog{Datacenter: dc, Services: map[string][]string{}}
	for k, v := range f.catalog {
		cat.Services[k] = v
	}
	f.mu.Unlock()
	sink.Nodes(health.Nodes{Datacenter: dc, Nodes: []health.Node{{Name: "n1", Address: "127.0.5.254"}}})
	sink.Catalog(cat)
	close(f.sinkSet)
	<-ctx.Done()
	return ctx.Err()
}

func (f *fakeSource) Hold(dc, name string) {
	f.mu.Lock()
	f.held[name] = true
	f.holds = append(f.holds, name)
	manual := f.manual
	f.mu.Unlock()
	if !manual {
		f.deliver(name)
	}
}

func (f *fakeSource) Release(dc, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.held, name)
	f.releases = append(f.releases, name)
}

// deliver sends name's current state, as a fetch that completes now would.
func (f *fakeSource) deliver(name string) {
	f.mu.Lock()
	st := health.ServiceState{Service: name, Datacenter: "dc1", Instances: slices.Clone(f.states[name]), Index: 1}
	sink := f.sink
	f.mu.Unlock()
	sink.Service(st)
}

func (f *fakeSource) ExecuteQuery(_ context.Context, dc, name string) (health.QueryResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.executed++
	if f.queryErr != nil {
		return health.QueryResult{}, f.queryErr
	}
	r, ok := f.queries[name]
	if !ok {
		return health.QueryResult{}, fmt.Errorf("execute %s: %w", name, health.ErrNoQuery)
	}
	return r, nil
}

func (f *fakeSource) counts() (holds, releases int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.holds), len(f.releases)
}

func startFake(t *testing.T, f *fakeSource, cfg Config) *Store[[]string] {
	t.Helper()
	cfg.LocalDC = "dc1"
	s := runStore(t, f, cfg)
	select {
	case <-f.sinkSet:
	case <-time.After(5 * time.Second):
		t.Fatal("the store never followed its datacenter")
	}
	if ok, why := s.Ready(); !ok {
		t.Fatalf("not ready after the catalog: %s", why)
	}
	return s
}

func TestFakeOnDemandBoundAndEviction(t *testing.T) {
	f := newFake("s1", "s2", "s3", "s4", "s5")
	s := startFake(t, f, Config{MaxServices: 2})
	for _, svc := range []string{"s1", "s2", "s3", "s4", "s5"} {
		if got, r := s.Await(context.Background(), "", svc); r != Hit || len(got) != 1 {
			t.Fatalf("%s: %v %v", svc, r, got)
		}
		if n := s.Stats().Watches(); n > 2 {
			t.Fatalf("%d held after %s, bound 2", n, svc)
		}
	}
	if n := s.Stats().Evictions(); n != 3 {
		t.Errorf("%d evictions, want 3", n)
	}
	holds, releases := f.counts()
	if holds != 5 || releases != 3 {
		t.Errorf("%d holds and %d releases, want 5 and 3", holds, releases)
	}
	if _, r := s.Lookup(nil, []byte("s1")); r != Miss {
		t.Errorf("evicted s1: %v, want Miss", r)
	}
	if _, r := s.Lookup(nil, []byte("nope")); r != NoService {
		t.Errorf("unknown name: %v, want NoService", r)
	}
}

func TestFakeIdleRelease(t *testing.T) {
	f := newFake("web")
	s := startFake(t, f, Config{IdleTimeout: time.Minute})
	if _, r := s.Await(context.Background(), "", "web"); r != Hit {
		t.Fatalf("web: %v", r)
	}
	now := coarseNow.Load()
	s.sweep(now + 59)
	if _, r := s.Lookup(nil, []byte("web")); r != Hit {
		t.Fatalf("released before the idle timeout: %v", r)
	}
	s.sweep(now + 61)
	if _, r := s.Lookup(nil, []byte("web")); r != Miss {
		t.Fatalf("after the idle timeout: %v, want Miss", r)
	}
	if s.Stats().IdleStops() != 1 || s.Stats().Watches() != 0 {
		t.Errorf("idle stops %d, held %d", s.Stats().IdleStops(), s.Stats().Watches())
	}
}

// TestFakeLateStateAfterRelease: a fetch that completes after its service was
// released must not bring the answer back, and a new hold takes new states again.
func TestFakeLateStateAfterRelease(t *testing.T) {
	f := newFake("a", "b")
	f.manual = true
	s := startFake(t, f, Config{MaxServices: 1, AwaitTimeout: 50 * time.Millisecond})
	if _, r := s.Await(context.Background(), "", "a"); r != Miss {
		t.Fatalf("a before any state: %v, want Miss (timed out)", r)
	}
	f.deliver("a")
	if _, r := s.Lookup(nil, []byte("a")); r != Hit {
		t.Fatalf("a after its state: %v", r)
	}
	s.Await(context.Background(), "", "b") // evicts a
	f.deliver("a")                         // late: fetched before the release
	if _, r := s.Lookup(nil, []byte("a")); r != Miss {
		t.Fatalf("a after a late state: %v, want Miss", r)
	}
	if n := s.Stats().Services(); n != 0 {
		t.Errorf("%d services counted as served, want 0", n)
	}
}

// TestFakeAwaitWakesOnState: a query waiting for a first state gets it as soon as it
// arrives, not at its timeout.
func TestFakeAwaitWakesOnState(t *testing.T) {
	f := newFake("web")
	f.manual = true
	s := startFake(t, f, Config{AwaitTimeout: time.Minute})
	res := make(chan Result, 1)
	go func() {
		_, r := s.Await(context.Background(), "", "web")
		res <- r
	}()
	deadline := time.Now().Add(5 * time.Second)
	for holds, _ := f.counts(); holds == 0; holds, _ = f.counts() {
		if time.Now().After(deadline) {
			t.Fatal("Await never held web")
		}
		time.Sleep(time.Millisecond)
	}
	f.deliver("web")
	select {
	case r := <-res:
		if r != Hit {
			t.Fatalf("Await: %v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Await did not return on the first state")
	}
}

func TestFakePrefetchHoldsAll(t *testing.T) {
	f := newFake("a", "b", "c")
	s := startFake(t, f, Config{Prefetch: true, MaxServices: 1})
	for _, svc := range []string{"a", "b", "c"} {
		if _, r := s.Lookup(nil, []byte(svc)); r != Hit {
			t.Errorf("%s: %v, want Hit without a query", svc, r)
		}
	}
	s.sweep(coarseNow.Load() + 3600)
	if n := s.Stats().Watches(); n != 3 {
		t.Errorf("%d held after a long idle, want 3: prefetched services stay", n)
	}
}

func TestFakePreparedQuery(t *testing.T) {
	f := newFake("web")
	f.queries["q"] = health.QueryResult{ServiceState: health.ServiceState{Service: "web", Datacenter: "dc1",
		Instances: []health.Instance{{ID: "w", Address: "127.0.6.1", Port: 80}}}, TTL: time.Hour}
	s := startFake(t, f, Config{})
	if _, r := s.LookupQuery([]byte("dc1"), []byte("q")); r != Miss {
		t.Fatalf("before execution: %v", r)
	}
	if got, r := s.AwaitQuery(context.Background(), "dc1", "q"); r != Hit || len(got) != 1 || got[0] != "127.0.6.1" {
		t.Fatalf("q: %v %v", r, got)
	}
	if _, r := s.AwaitQuery(context.Background(), "dc1", "nope"); r != NoService {
		t.Fatalf("unknown query: %v, want NoService", r)
	}
	for range 100 {
		s.LookupQuery([]byte("dc1"), []byte("q")) // within the TTL: no execution
	}
	if f.executed != 2 {
		t.Errorf("%d executions, want 2", f.executed)
	}
}

// TestFakeLookupAllocates nothing: the hot path.
func TestFakeLookupAllocatesNothing(t *testing.T) {
	f := newFake("web")
	s := startFake(t, f, Config{})
	s.Await(context.Background(), "", "web")
	name := []byte("web")
	if n := testing.AllocsPerRun(1000, func() { s.Lookup(nil, name) }); n != 0 {
		t.Errorf("Lookup allocates %v times", n)
	}
}

// queryAt answers q once the store serves a result for it, as the resolver does: the
// lookup, then the slow path on a Miss.
func queryAt(s *Store[[]string]) ([]string, Result) {
	if got, r := s.LookupQuery([]byte("dc1"), []byte("q")); r != Miss {
		return got, r
	}
	return s.AwaitQuery(context.Background(), "dc1", "q")
}

func (f *fakeSource) executions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.executed
}

// TestFakeQueryFollowsItsService: a change the feed delivers for the service a
// prepared query names executes the query again at once, whatever its TTL.
func TestFakeQueryFollowsItsService(t *testing.T) {
	f := newFake("web")
	f.queries["q"] = health.QueryResult{ServiceState: health.ServiceState{Service: "web", Datacenter: "dc1",
		Instances: []health.Instance{{ID: "w", Address: "127.0.6.1", Port: 80}}}, TTL: time.Hour}
	s := startFake(t, f, Config{})
	if got, r := queryAt(s); r != Hit || len(got) != 1 {
		t.Fatalf("q: %v %v", r, got)
	}
	if n := s.Stats().Watches(); n != 1 {
		t.Fatalf("%d services held after the query, want 1 (web, which it names)", n)
	}
	base := f.executions() // the first execution, and any its hold's first state caused
	f.mu.Lock()
	f.queries["q"] = health.QueryResult{ServiceState: health.ServiceState{Service: "web", Datacenter: "dc1",
		Instances: []health.Instance{{ID: "w", Address: "127.0.6.1", Port: 80}, {ID: "v", Address: "127.0.6.2", Port: 80}}}, TTL: time.Hour}
	f.mu.Unlock()
	f.deliver("web") // the feed saw web change
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, r := s.LookupQuery([]byte("dc1"), []byte("q"))
		if r == Hit && len(got) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("q still %v %v after web changed; %d executions (had %d)", r, got, f.executions(), base)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFakeQueryNeverOlderThanTTL: past its TTL a result is not served as it is: the
// query is executed again first, and the old result comes back only when that fails.
func TestFakeQueryNeverOlderThanTTL(t *testing.T) {
	f := newFake() // the query names no followed service: only time refreshes it
	f.queries["q"] = health.QueryResult{ServiceState: health.ServiceState{Service: "gone", Datacenter: "dc1",
		Instances: []health.Instance{{ID: "w", Address: "127.0.6.1", Port: 80}}}, TTL: time.Hour}
	s := startFake(t, f, Config{})
	if _, r := queryAt(s); r != Hit {
		t.Fatalf("q: %v", r)
	}
	expire := func() {
		e := (*s.q.m.Load())["dc1"]["q"]
		e.expires.Store(coarseNow.Load() - 1) // as if idle past its TTL
	}
	expire()
	if _, r := s.LookupQuery([]byte("dc1"), []byte("q")); r != Miss {
		t.Fatalf("expired result: %v, want Miss (the slow path executes it again)", r)
	}
	f.mu.Lock()
	f.queries["q"] = health.QueryResult{ServiceState: health.ServiceState{Service: "gone", Datacenter: "dc1",
		Instances: []health.Instance{{ID: "v", Address: "127.0.6.2", Port: 80}}}, TTL: time.Hour}
	f.mu.Unlock()
	if got, r := queryAt(s); r != Hit || len(got) != 1 || got[0] != "127.0.6.2" {
		t.Fatalf("after expiry: %v %v, want the new result", r, got)
	}
	// Consul fails: the expired result is served (stale if error), not SERVFAIL.
	expire()
	f.mu.Lock()
	f.queryErr = errors.New("connection refused")
	f.mu.Unlock()
	if got, r := queryAt(s); r != Hit || len(got) != 1 || got[0] != "127.0.6.2" {
		t.Fatalf("Consul down: %v %v, want the last result", r, got)
	}
}
