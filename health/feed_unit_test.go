package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// The fast tier of the feed: its diff rules, its queue, the limiter and the gate,
// with no Consul agent.

func TestChangedChecks(t *testing.T) {
	old := map[checkKey]checkSeen{
		{"n1", "web-1-ttl"}:  {status: "critical", service: "web", modify: 10},
		{"n1", "api-1-ttl"}:  {status: "warning", service: "api", modify: 11},
		{"n2", "serfHealth"}: {status: "critical", modify: 12},
		{"n1", "db-1-ttl"}:   {status: "warning", service: "db", modify: 13},
	}
	cur := map[checkKey]checkSeen{
		{"n1", "web-1-ttl"}:            {status: "critical", service: "web", modify: 10}, // unchanged
		{"n1", "api-1-ttl"}:            {status: "critical", service: "api", modify: 20}, // warning → critical
		{"n3", "_node_maintenance"}:    {status: "critical", modify: 21},                 // node: entered
		{"n1", "db-1-ttl"}:             {status: "warning", service: "db", modify: 22},   // new output
		{"n4", "_service_maintenance"}: {status: "critical", service: "cache", modify: 23},
	}
	// n2's serfHealth left the set (passing again).
	svcs, nodes := changedChecks(old, cur)
	slices.Sort(svcs)
	slices.Sort(nodes)
	if want := []string{"api", "cache", "db"}; !slices.Equal(svcs, want) {
		t.Errorf("services %v, want %v", svcs, want)
	}
	if want := []string{"n2", "n3"}; !slices.Equal(nodes, want) {
		t.Errorf("nodes %v, want %v", nodes, want)
	}
	if s, n := changedChecks(cur, cur); len(s)+len(n) != 0 {
		t.Errorf("no change marked %v %v", s, n)
	}
}

func TestChangedNodes(t *testing.T) {
	old := map[string]string{"n1": "10.0.0.1", "n2": "10.0.0.2", "n3": "10.0.0.3"}
	cur := map[string]string{"n1": "10.0.0.1", "n2": "10.0.0.9", "n4": "10.0.0.4"}
	got := changedNodes(old, cur)
	slices.Sort(got)
	if want := []string{"n2", "n3", "n4"}; !slices.Equal(got, want) {
		t.Errorf("%v, want %v", got, want)
	}
}

func fastWatcher(t *testing.T) *Watcher {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: "127.0.0.1:1"}) // never dialled here
	if err != nil {
		t.Fatal(err)
	}
	return NewWatcher(Config{Client: c, MaxConns: 8})
}

// fastFeed is the local datacenter's feed of a fastWatcher, driven by hand.
func fastFeed(t *testing.T) (*Watcher, *feed, *nopSink) {
	w := fastWatcher(t)
	f := w.feedFor("")
	sink := &nopSink{}
	f.sink = sink
	return w, f, sink
}

// nopSink keeps the service states; the tests here drive the feed by hand.
type nopSink struct{ got []ServiceState }

func (*nopSink) Catalog(Catalog)           {}
func (*nopSink) Nodes(Nodes)               {}
func (s *nopSink) Service(st ServiceState) { s.got = append(s.got, st) }

// nextOne takes the next service as a worker would, waiting for one, and frees
// its sweep slot at once: the tests that use it drive one fetch at a time.
func nextOne(f *feed) (string, *heldService) {
	name, h, swept, _ := f.next(context.Background())
	if swept {
		f.sweepDone()
	}
	return name, h
}

// take returns the names next would hand out now, in order, without fetching.
func take(t *testing.T, f *feed) []string {
	t.Helper()
	var out []string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		name, h, swept, ok := f.next(ctx)
		cancel()
		if !ok {
			return out
		}
		out = append(out, name)
		f.mu.Lock()
		h.fetching = false
		f.mu.Unlock()
		if swept {
			f.sweepDone()
		}
	}
}

func TestFeedQueue(t *testing.T) {
	w, f, sink := fastFeed(t)
	f.hold("a")
	f.hold("b")
	f.hold("b") // held already: nothing
	if got := take(t, f); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("first fetches %v, want [a b]", got)
	}
	// A new hold goes before the changes queued already: a query waits for it.
	f.sweep()
	f.hold("c")
	if got := take(t, f); !slices.Equal(got, []string{"c", "a", "b"}) && !slices.Equal(got, []string{"c", "b", "a"}) {
		t.Fatalf("fetches %v, want c first", got)
	}
	f.release("c")

	// A fetch delivers, and records the nodes the service lives on.
	f.mark("a")
	name, h := nextOne(f)
	f.done(context.Background(), name, h, ServiceState{Service: "a", Instances: []Instance{{ID: "a1", Node: "n1"}, {ID: "a2", Node: "n2"}}}, nil)
	f.mark("b")
	name, h = nextOne(f)
	f.done(context.Background(), name, h, ServiceState{Service: "b", Instances: []Instance{{ID: "b1", Node: "n2"}}}, nil)
	if len(sink.got) != 2 {
		t.Fatalf("%d states delivered, want 2", len(sink.got))
	}
	f.markNodes([]string{"n1"})
	if got := take(t, f); !slices.Equal(got, []string{"a"}) {
		t.Errorf("a change on n1 fetches %v, want [a]", got)
	}
	f.markNodes([]string{"n2"})
	got := take(t, f)
	slices.Sort(got)
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("a change on n2 fetches %v, want [a b]", got)
	}

	// A change the feed attributes goes before a sweep queued earlier.
	f.sweep()
	f.mark("b")
	if got := take(t, f); !slices.Equal(got, []string{"b", "a"}) {
		t.Errorf("after a sweep and a check change of b: %v, want [b a]", got)
	}

	// A change while a fetch runs: one more fetch after it, not two at once.
	f.mark("a")
	name, h = nextOne(f)
	f.mark("a")
	f.mark("a")
	if got := take(t, f); len(got) != 0 {
		t.Fatalf("fetched %v while a's fetch runs", got)
	}
	f.done(context.Background(), name, h, ServiceState{Service: "a"}, nil)
	if got := take(t, f); !slices.Equal(got, []string{"a"}) {
		t.Errorf("after the fetch: %v, want [a] once", got)
	}

	// A sweep queues every held service once; a released one is skipped, and a
	// fetch that completes after its release is dropped.
	f.sweep()
	f.sweep()
	name, h = nextOne(f)
	f.release(name)
	f.done(context.Background(), name, h, ServiceState{Service: name}, nil)
	if got := take(t, f); len(got) != 1 || got[0] == name {
		t.Errorf("after releasing %s: %v", name, got)
	}
	if n := len(sink.got); n != 3 {
		t.Errorf("%d states delivered, want 3: none after a release", n)
	}
	if w.Stats().Sweeps() != 4 {
		t.Errorf("%d sweeps counted", w.Stats().Sweeps())
	}
	f.markNodes([]string{"n1", "n2"})
	for _, n := range take(t, f) {
		if n == name {
			t.Errorf("released %s still on its nodes", name)
		}
	}
}

func TestLimiterAIMD(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLimiter(16)
	l.now = func() time.Time { return now }
	ctx := context.Background()
	for range 16 {
		if err := l.acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := l.acquire(short); err == nil {
		t.Fatal("a 17th request went through a limit of 16")
	}
	now = now.Add(time.Hour)
	l.release(true)
	l.release(true) // the same burst of 429s: one cut
	if lim, _ := l.current(); lim != 8 {
		t.Fatalf("limit %d after 429s, want 8", lim)
	}
	now = now.Add(decreaseEvery)
	l.release(true)
	if lim, _ := l.current(); lim != 4 {
		t.Fatalf("limit %d after a later 429, want 4", lim)
	}
	for range 13 {
		l.release(false)
	}
	if lim, inFlight := l.current(); lim < 6 || lim > 7 || inFlight != 0 {
		t.Fatalf("limit %d, %d in flight after 13 successes, want 6..7 and 0", lim, inFlight)
	}
	for range 1000 {
		l.acquire(ctx)
		l.release(false)
	}
	if lim, _ := l.current(); lim != 16 {
		t.Errorf("limit %d after many successes, want back to 16", lim)
	}
	for range 100 {
		now = now.Add(decreaseEvery)
		l.acquire(ctx)
		l.release(true)
	}
	if lim, _ := l.current(); lim != 1 {
		t.Errorf("limit %d after many 429s, want the floor 1", lim)
	}
}

// TestLimiterConcurrent: never more in flight than the limit, and every waiter gets
// through (no lost wake-up).
func TestLimiterConcurrent(t *testing.T) {
	l := newLimiter(4)
	var cur, peak atomic.Int64
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if err := l.acquire(context.Background()); err != nil {
					t.Error(err)
					return
				}
				n := cur.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				cur.Add(-1)
				l.release(i%16 == 0 && i > 0)
			}
		}()
	}
	waitGroup(t, &wg, "waiters stuck")
	if peak.Load() > 4 {
		t.Errorf("%d in flight at once, limit 4", peak.Load())
	}
}

// TestGateUnderConcurrency: many loops fail at once; one probe at a time asks
// whether Consul is back; when it is, every waiter goes through.
func TestGateUnderConcurrency(t *testing.T) {
	var probing, peak, probes atomic.Int64
	g := newGate(func(ctx context.Context) error {
		n := probing.Add(1)
		defer probing.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		if probes.Add(1) < 4 {
			return errors.New("still down")
		}
		return nil
	}, slog.New(slog.DiscardHandler))
	g.jitter = func(time.Duration) time.Duration { return 0 }
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.fail(errors.New("connection refused"))
			if err := g.wait(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	waitGroup(t, &wg, "waiters never released")
	if peak.Load() != 1 {
		t.Errorf("%d probes at once, want 1", peak.Load())
	}
	if n := probes.Load(); n < 4 || n > 5 {
		t.Errorf("%d probes, want 4 (three failures, then back)", n)
	}
}

// waitGroup waits for wg, failing with why if that takes more than 30s.
func waitGroup(t *testing.T, wg *sync.WaitGroup, why string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal(why)
	}
}

// TestPoolShareShrinksWithFeeds: each followed datacenter's blocking queries come off
// the refetch pool's share of the connection budget, never below one.
func TestPoolShareShrinksWithFeeds(t *testing.T) {
	w := fastWatcher(t) // budget 8
	for i, want := range []int{8 - loopsPerFeed, max(8-2*loopsPerFeed, 1), 1} {
		w.feedRunning(fmt.Sprint("dc", i), 1)
		if _, most := w.RequestLimit(); most != want {
			t.Errorf("%d feeds: pool of %d, want %d", i+1, most, want)
		}
	}
	w.feedRunning("dc2", -1)
	w.feedRunning("dc1", -1)
	if _, most := w.RequestLimit(); most != 8-loopsPerFeed {
		t.Errorf("back to one feed: pool of %d, want %d", most, 8-loopsPerFeed)
	}
}

// TestSameStateNotDeliveredAgain: a sweep refetches services that did not change;
// their state is not delivered again. What counts is the content, not Consul's
// index: a restarted agent answers the old index with other instances, and that
// answer must reach the cache.
func TestSameStateNotDeliveredAgain(t *testing.T) {
	_, f, sink := fastFeed(t)
	f.hold("a")
	three := []Instance{{ID: "1", Port: 1}, {ID: "2", Port: 2}, {ID: "3", Port: 3}}
	one := []Instance{{ID: "2", Port: 2}}
	for _, st := range []ServiceState{
		{Index: 7, Instances: three},
		{Index: 7, Instances: three}, // a sweep, nothing changed
		{Index: 9, Instances: three}, // the index moved for another service's write
		{Index: 9, Instances: one},   // restarted agent, same index, other data
		{Index: 3, Instances: one},
	} {
		name, h := nextOne(f)
		st.Service = "a"
		f.done(context.Background(), name, h, st, nil)
		f.sweep()
	}
	var got []string
	for _, st := range sink.got {
		got = append(got, fmt.Sprintf("%d/%d", st.Index, len(st.Instances)))
	}
	if want := []string{"7/3", "9/1"}; !slices.Equal(got, want) {
		t.Errorf("delivered (index/instances) %v, want %v", got, want)
	}
}

// TestStateSumCoversEveryField: a field added to Instance must be added to the
// sum, or a change in it alone would never reach the cache.
func TestStateSumCoversEveryField(t *testing.T) {
	base := Instance{ID: "i", Node: "n", NodeAddress: "10.0.0.1", Address: "10.0.0.2",
		Port: 80, Weight: 1, Tags: []string{"a"}, RawStatus: "passing", Virtual: "240.0.0.1"}
	sum := func(in Instance) uint64 { return stateSum(&ServiceState{Instances: []Instance{in}}) }
	ref := sum(base)
	typ := reflect.TypeOf(base)
	for i := range typ.NumField() {
		changed := base
		v := reflect.ValueOf(&changed).Elem().Field(i)
		switch v.Kind() {
		case reflect.String:
			v.SetString(v.String() + "x")
		case reflect.Bool:
			v.SetBool(!v.Bool())
		case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			v.SetUint(v.Uint() + 1)
		case reflect.Slice:
			v.Set(reflect.ValueOf([]string{"a", "b"}))
		default:
			t.Fatalf("Instance.%s: kind %s not covered by this test", typ.Field(i).Name, v.Kind())
		}
		if sum(changed) == ref {
			t.Errorf("Instance.%s changed, sum did not: stateSum must include it", typ.Field(i).Name)
		}
	}
	// Lengths are part of the sum: moving a byte between two fields changes it.
	a, b := base, base
	a.ID, a.Node = "ab", "c"
	b.ID, b.Node = "a", "bc"
	if sum(a) == sum(b) {
		t.Error(`("ab","c") and ("a","bc") sum the same`)
	}
	if stateSum(&ServiceState{sources: []string{"x"}}) == stateSum(&ServiceState{}) {
		t.Error("mesh sources are not in the sum")
	}
	if stateSum(&ServiceState{Index: 1, Instances: []Instance{base}}) != ref {
		t.Error("the index is in the sum: a sweep would deliver every service it refetches")
	}
}

// TestMeshEntriesFollowTheirSources: a connect or ingress entry is refetched when a
// check of its own service (a native app), of a service its last answer held (a
// sidecar proxy, a gateway), or of a node it runs on changes, and on every sweep.
func TestMeshEntriesFollowTheirSources(t *testing.T) {
	_, f, _ := fastFeed(t)
	connect, ingress := HeldName(EntryConnect, "web"), HeldName(EntryIngress, "web")
	if e, s := SplitHeld(connect); e != EntryConnect || s != "web" {
		t.Fatalf("SplitHeld(%q) = %d %q", connect, e, s)
	}
	f.hold(connect)
	f.hold(ingress)
	take(t, f)
	deliver := func(name string, entries ...serviceEntry) {
		t.Helper()
		f.mark(name)
		n, h := nextOne(f)
		if n != name {
			t.Fatalf("fetched %q, want %q", n, name)
		}
		f.done(context.Background(), n, h, ServiceState{Service: n, Instances: []Instance{{ID: "x", Node: "n9"}},
			Index: uint64(len(entries)), sources: sourcesOf(n, entries)}, nil)
	}
	proxy := serviceEntry{}
	proxy.Service.Service = "web-sidecar-proxy"
	gw := serviceEntry{}
	gw.Service.Service = "edge"
	deliver(connect, proxy, proxy)
	deliver(ingress, gw)

	var failing []*api.HealthCheck
	for _, tc := range []struct {
		changed string
		want    []string
	}{
		{"web", []string{connect}}, // a native app is its own Connect instance
		{"web-sidecar-proxy", []string{connect}},
		{"edge", []string{ingress}},
		{"other", nil},
	} {
		// One more non-passing check each time: only that one changed.
		failing = append(failing, &api.HealthCheck{Node: "n1", CheckID: "c-" + tc.changed, ServiceName: tc.changed, Status: "critical"})
		f.checksChanged(failing)
		got := take(t, f)
		if !slices.Equal(got, tc.want) {
			t.Errorf("a check of %s changed: fetched %q, want %q", tc.changed, got, tc.want)
		}
	}
	f.markNodes([]string{"n9"})
	if got := take(t, f); len(got) != 2 {
		t.Errorf("a change on the node of both: fetched %q, want both", got)
	}
	f.sweep()
	if got := take(t, f); len(got) != 2 {
		t.Errorf("a sweep fetched %q, want both", got)
	}
	f.release(connect)
	f.checksChanged(nil)
	if got := take(t, f); slices.Contains(got, connect) {
		t.Errorf("released %q still fetched: %q", connect, got)
	}
	if f.meshBy["web-sidecar-proxy"] != nil {
		t.Errorf("released entry still listed under its proxy: %v", f.meshBy)
	}
}

// TestSweepsLeaveTheRestOfThePool: at most sweepSlots swept services are out at
// once; a hold is taken meanwhile, and a finished sweep frees its slot.
func TestSweepsLeaveTheRestOfThePool(t *testing.T) {
	_, f, _ := fastFeed(t)
	for _, n := range []string{"a", "b", "c", "d"} {
		f.hold(n)
	}
	take(t, f)
	f.sweep()
	nextWithin := func(d time.Duration) (string, bool, bool) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		name, _, swept, ok := f.next(ctx)
		return name, swept, ok
	}
	for i := range sweepSlots {
		if _, swept, ok := nextWithin(time.Second); !ok || !swept {
			t.Fatalf("sweep %d: taken %v, swept %v; want a swept service", i, ok, swept)
		}
	}
	if name, _, ok := nextWithin(20 * time.Millisecond); ok {
		t.Fatalf("took %q with %d sweeps out already", name, sweepSlots)
	}
	f.hold("e")
	if name, swept, ok := nextWithin(time.Second); !ok || swept || name != "e" {
		t.Fatalf("took %q (ok %v, swept %v) while the sweep slots were full; want the hold e", name, ok, swept)
	}
	f.sweepDone()
	if _, swept, ok := nextWithin(time.Second); !ok || !swept {
		t.Fatalf("after a sweep ended: taken %v, swept %v; want the next swept service", ok, swept)
	}
}
