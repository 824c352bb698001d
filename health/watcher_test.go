package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/srvbridge/srvbridge/internal/consultest"
)

// Every test here runs against a real Consul v1.16.3 dev agent (internal/consultest).

const settle = 15 * time.Second // deadline for a change to reach a watch

// recorder collects what a watch delivers.
type recorder[T any] struct {
	mu  sync.Mutex
	got []T
}

func (r *recorder[T]) add(v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, v)
}

func (r *recorder[T]) all() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func (r *recorder[T]) last() (T, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var zero T
	if len(r.got) == 0 {
		return zero, false
	}
	return r.got[len(r.got)-1], true
}

// waitLast polls until the latest delivered value satisfies cond.
func waitLast[T any](t *testing.T, r *recorder[T], cond func(T) error) T {
	t.Helper()
	var v T
	consultest.Eventually(t, settle, func() error {
		var ok bool
		if v, ok = r.last(); !ok {
			return errors.New("nothing delivered yet")
		}
		return cond(v)
	})
	return v
}

// running is a watch call running in the background until the test ends.
type running struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when the call has returned
	err    error         // its result, valid once done is closed
}

func watch(t *testing.T, fn func(ctx context.Context) error) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan struct{})}
	go func() {
		r.err = fn(ctx)
		close(r.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(5 * time.Second):
			t.Error("watch did not return after cancel")
		}
	})
	return r
}

// watchServices holds names in dc through one feed and records each one's states.
func watchServices(t *testing.T, w *Watcher, dc string, names ...string) []*recorder[ServiceState] {
	sink := feedSink{}
	recs := make([]*recorder[ServiceState], len(names))
	for i, n := range names {
		recs[i] = &recorder[ServiceState]{}
		sink[n] = recs[i]
	}
	watch(t, func(ctx context.Context) error { return w.WatchDatacenter(ctx, dc, sink) })
	for _, n := range names {
		w.Hold(dc, n)
	}
	return recs
}

func watchService(t *testing.T, w *Watcher, dc, name string) *recorder[ServiceState] {
	return watchServices(t, w, dc, name)[0]
}

// feedSink records the states of some services; the map is not written after start.
type feedSink map[string]*recorder[ServiceState]

func (feedSink) Catalog(Catalog) {}
func (feedSink) Nodes(Nodes)     {}
func (s feedSink) Service(st ServiceState) {
	if r := s[st.Service]; r != nil {
		r.add(st)
	}
}

func only(u ServiceState, id string) (Instance, error) {
	for _, in := range u.Instances {
		if in.ID == id {
			return in, nil
		}
	}
	return Instance{}, fmt.Errorf("instance %q not in %+v", id, u.Instances)
}

func testWatcher(a *consultest.Agent, onlyPassing bool) *Watcher {
	return NewWatcher(Config{Client: a.Client, Policy: Policy{OnlyPassing: onlyPassing}, AllowStale: true, WaitTime: 5 * time.Second})
}

func TestWatchServiceHealth(t *testing.T) {
	a := consultest.Start(t)
	w := testWatcher(a, false)
	wOnly := testWatcher(a, true)
	r := watchService(t, w, "", "web")
	rOnly := watchService(t, wOnly, "", "web")

	// Not registered yet: the first answer is delivered, empty.
	waitLast(t, r, func(u ServiceState) error {
		if len(u.Instances) != 0 || u.Service != "web" {
			return fmt.Errorf("want empty update for web, got %+v", u)
		}
		return nil
	})

	a.RegisterService(t, api.AgentServiceRegistration{
		ID: "web-1", Name: "web", Port: 8080, Address: "127.0.0.9", Tags: []string{"v1", "primary"},
		Weights: &api.AgentWeights{Passing: 10, Warning: 3},
		Check:   &api.AgentServiceCheck{CheckID: "web-1-ttl", TTL: "1h", Status: api.HealthPassing},
	})
	expect := func(name string, r *recorder[ServiceState], status Status, raw string, weight uint16) {
		t.Helper()
		u := waitLast(t, r, func(u ServiceState) error {
			in, err := only(u, "web-1")
			if err != nil {
				return err
			}
			if in.Status != status || in.RawStatus != raw || in.Weight != weight {
				return fmt.Errorf("%s: status=%v raw=%q weight=%d, want %v %q %d", name, in.Status, in.RawStatus, in.Weight, status, raw, weight)
			}
			return nil
		})
		if u.Index == 0 {
			t.Errorf("%s: ServiceState.Index = 0", name)
		}
	}

	expect("registered", r, Passing, api.HealthPassing, 10)
	in, _ := only(waitLast(t, r, func(ServiceState) error { return nil }), "web-1")
	if in.Address != "127.0.0.9" || !in.OwnAddress || in.Port != 8080 || in.Node != a.NodeName ||
		in.NodeAddress != "127.0.0.1" || !slices.Equal(in.Tags, []string{"v1", "primary"}) {
		t.Errorf("registered instance = %+v", in)
	}

	a.SetTTL(t, "web-1-ttl", "warn")
	expect("warn", r, Warning, api.HealthWarning, 3)
	expect("warn, only passing", rOnly, Critical, api.HealthWarning, 3)

	a.SetTTL(t, "web-1-ttl", "fail")
	expect("fail", r, Critical, api.HealthCritical, 10)

	a.SetTTL(t, "web-1-ttl", "pass")
	expect("pass again", r, Passing, api.HealthPassing, 10)
	expect("pass, only passing", rOnly, Passing, api.HealthPassing, 10)

	a.Maintenance(t, "web-1", true)
	expect("service maintenance", r, Critical, api.HealthMaint, 10)
	a.Maintenance(t, "web-1", false)
	expect("service maintenance off", r, Passing, api.HealthPassing, 10)

	a.Maintenance(t, "", true)
	expect("node maintenance", r, Critical, api.HealthMaint, 10)
	a.Maintenance(t, "", false)
	expect("node maintenance off", r, Passing, api.HealthPassing, 10)

	a.Deregister(t, "web-1")
	waitLast(t, r, func(u ServiceState) error {
		if u.Instances == nil || len(u.Instances) != 0 {
			return fmt.Errorf("after deregister: instances = %#v, want empty non-nil", u.Instances)
		}
		return nil
	})

	// Index only changes are delivered: no two consecutive updates share an index.
	all := r.all()
	for i := 1; i < len(all); i++ {
		if all[i].Index == all[i-1].Index {
			t.Errorf("updates %d and %d both have index %d", i-1, i, all[i].Index)
		}
	}
}

// TestWatchServiceNodes: several instances on other nodes, registered in the catalog,
// with node-address fallback and node-level checks.
func TestWatchServiceNodes(t *testing.T) {
	a := consultest.Start(t)
	w := testWatcher(a, false)
	r := watchService(t, w, "", "api")

	a.RegisterExternal(t, "ext-1", "127.0.0.21", &api.AgentService{ID: "api-1", Service: "api", Port: 9001})
	a.RegisterExternal(t, "ext-2", "127.0.0.22", &api.AgentService{ID: "api-2", Service: "api", Port: 9002, Address: "127.0.0.99"},
		&api.HealthCheck{CheckID: "serfHealth", Name: "Serf Health Status", Status: api.HealthPassing})

	u := waitLast(t, r, func(u ServiceState) error {
		if len(u.Instances) != 2 {
			return fmt.Errorf("%d instances, want 2", len(u.Instances))
		}
		return nil
	})
	in1, _ := only(u, "api-1")
	if in1.Address != "127.0.0.21" || in1.OwnAddress || in1.Node != "ext-1" || in1.Status != Passing || in1.Weight != 1 {
		t.Errorf("api-1 (no service address) = %+v, want node address 127.0.0.21, weight 1", in1)
	}
	in2, _ := only(u, "api-2")
	if in2.Address != "127.0.0.99" || !in2.OwnAddress || in2.NodeAddress != "127.0.0.22" {
		t.Errorf("api-2 = %+v", in2)
	}
	if u.Instances[0].Node > u.Instances[1].Node {
		t.Errorf("instances not sorted by node: %s, %s", u.Instances[0].Node, u.Instances[1].Node)
	}

	// A failing node check takes every service on that node out.
	a.RegisterExternal(t, "ext-2", "127.0.0.22", nil,
		&api.HealthCheck{CheckID: "serfHealth", Name: "Serf Health Status", Status: api.HealthCritical})
	waitLast(t, r, func(u ServiceState) error {
		in, err := only(u, "api-2")
		if err != nil {
			return err
		}
		if in.Status != Critical {
			return fmt.Errorf("api-2 with critical serfHealth: %v", in.Status)
		}
		if other, _ := only(u, "api-1"); other.Status != Passing {
			return fmt.Errorf("api-1 on a healthy node: %v", other.Status)
		}
		return nil
	})
}

func TestWatchCatalogAndNodes(t *testing.T) {
	a := consultest.Start(t, consultest.WithDatacenter("east"))
	w := testWatcher(a, false)
	cat := &recorder[Catalog]{}
	nodes := &recorder[Nodes]{}
	watch(t, func(ctx context.Context) error { return w.WatchCatalog(ctx, "east", cat.add) })
	watch(t, func(ctx context.Context) error { return w.WatchNodes(ctx, "", nodes.add) })

	a.RegisterExternal(t, "ext-1", "127.0.0.31", &api.AgentService{ID: "db-1", Service: "db", Tags: []string{"primary"}, Port: 5432},
		&api.HealthCheck{CheckID: "db", ServiceID: "db-1", Status: api.HealthPassing})
	waitLast(t, cat, func(c Catalog) error {
		if !slices.Equal(c.Services["db"], []string{"primary"}) || c.Datacenter != "east" {
			return fmt.Errorf("catalog = %+v", c)
		}
		return nil
	})
	waitLast(t, nodes, func(ns Nodes) error {
		for _, n := range ns.Nodes {
			if n.Name == "ext-1" && n.Address == "127.0.0.31" {
				return nil
			}
		}
		return fmt.Errorf("ext-1 not in %+v", ns.Nodes)
	})

	a.DeregisterExternal(t, "ext-1", "")
	waitLast(t, cat, func(c Catalog) error {
		if _, ok := c.Services["db"]; ok {
			return fmt.Errorf("db still listed: %v", c.Services)
		}
		return nil
	})
	waitLast(t, nodes, func(ns Nodes) error {
		if len(ns.Nodes) != 1 || ns.Nodes[0].Name != a.NodeName {
			return fmt.Errorf("nodes = %+v, want only %s", ns.Nodes, a.NodeName)
		}
		return nil
	})

	if dc, err := w.LocalDatacenter(context.Background()); err != nil || dc != "east" {
		t.Errorf("LocalDatacenter = %q, %v; want east", dc, err)
	}
	if dcs, err := w.Datacenters(context.Background()); err != nil || !slices.Equal(dcs, []string{"east"}) {
		t.Errorf("Datacenters = %v, %v; want [east]", dcs, err)
	}
}

func TestUnknownDatacenter(t *testing.T) {
	a := consultest.Start(t)
	w := testWatcher(a, false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	calls := []struct {
		name string
		run  func() error
		want string
	}{
		{"datacenter", func() error {
			return w.WatchDatacenter(ctx, "nowhere", feedSink{})
		}, "watch "},
		{"catalog", func() error {
			return w.WatchCatalog(ctx, "nowhere", func(Catalog) { t.Error("out called for unknown dc") })
		}, "watch catalog nowhere"},
		{"nodes", func() error {
			return w.WatchNodes(ctx, "nowhere", func(Nodes) { t.Error("out called for unknown dc") })
		}, "watch nodes nowhere"},
	}
	for _, c := range calls {
		err := c.run()
		if !errors.Is(err, ErrNoDatacenter) {
			t.Errorf("%s: err = %v, want ErrNoDatacenter", c.name, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: err = %q, want prefix %q", c.name, err, c.want)
		}
	}
	if ctx.Err() != nil {
		t.Error("unknown datacenter was not reported before the deadline")
	}
}

// TestWatchRecoversFromIndexReset restarts the dev agent under a running watch. The
// new agent's Raft index starts low again, below the index the watch holds: without the
// reset rule the watch would keep asking for an index the agent will not reach for a
// long time, and never see the re-registered service. The wait time is longer than the
// deadline, so recovery must not wait for a blocking request to time out either.
func TestWatchRecoversFromIndexReset(t *testing.T) {
	a := consultest.Start(t)
	w := NewWatcher(Config{Client: a.Client, AllowStale: true, WaitTime: 2 * settle})
	r := watchService(t, w, "", "web")

	// Push the service's index well above where a fresh agent starts.
	a.RegisterService(t, api.AgentServiceRegistration{ID: "web-1", Name: "web", Port: 1000})
	for i := 0; ; i++ {
		// A new port each time: a write that changes nothing served is not delivered.
		a.RegisterExternal(t, "ext-1", "127.0.0.41", &api.AgentService{ID: "web-x", Service: "web", Port: 2000 + i%2})
		if u, ok := r.last(); ok && u.Index >= 300 && len(u.Instances) == 2 {
			break
		}
		if i > 2000 {
			t.Fatal("could not raise the index")
		}
	}
	before, _ := r.last()

	a.Restart()
	a.RegisterService(t, api.AgentServiceRegistration{ID: "web-1", Name: "web", Port: 1001})

	after := waitLast(t, r, func(u ServiceState) error {
		if len(u.Instances) != 1 || u.Instances[0].Port != 1001 {
			return fmt.Errorf("instances = %+v, want only web-1 on port 1001", u.Instances)
		}
		return nil
	})
	if after.Index >= before.Index {
		t.Fatalf("index did not go backwards (%d -> %d): the test proves nothing", before.Index, after.Index)
	}
	if w.Stats().IndexResets() == 0 {
		t.Error("IndexResets = 0 after the index went backwards")
	}
}

func TestWatchCancelIsPrompt(t *testing.T) {
	a := consultest.Start(t)
	w := NewWatcher(Config{Client: a.Client, WaitTime: time.Minute})

	// Cancelled while blocked in a long blocking query.
	r := &recorder[Catalog]{}
	run := watch(t, func(ctx context.Context) error { return w.WatchCatalog(ctx, "", r.add) })
	waitLast(t, r, func(Catalog) error { return nil })
	assertPromptCancel(t, "blocking query", run)

	// Cancelled while waiting at the outage gate (and probing) with the agent dead.
	a.Kill()
	run = watch(t, func(ctx context.Context) error { return w.WatchNodes(ctx, "", func(Nodes) {}) })
	consultest.Eventually(t, settle, func() error {
		if w.Stats().Errors(KindNodes) < 1 || w.Stats().Errors(KindProbe) < 2 {
			return errors.New("waiting for failures")
		}
		return nil
	})
	assertPromptCancel(t, "outage gate", run)
}

func assertPromptCancel(t *testing.T, what string, run *running) {
	t.Helper()
	start := time.Now()
	run.cancel()
	select {
	case <-run.done:
		if !errors.Is(run.err, context.Canceled) {
			t.Errorf("%s: returned %v, want context.Canceled", what, run.err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s: returned %v after cancel, want < 1s", what, d)
		}
	case <-time.After(time.Second):
		t.Errorf("%s: still running 1s after cancel", what)
	}
}

// TestOutageGate kills the agent under a feed holding many services. Connection
// refused comes back in microseconds, so without the gate every loop would retry on
// its own (with backoff, about 7 times in 3 s each); with it they all wait while one
// prober asks. When the agent is back, every held service is fresh again.
func TestOutageGate(t *testing.T) {
	a := consultest.Start(t)
	var logs syncBuffer
	w := NewWatcher(Config{Client: a.Client, WaitTime: 2 * time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	const watches = 20
	var svcs []string
	for i := range watches {
		svcs = append(svcs, fmt.Sprintf("web-%d", i))
	}
	recs := watchServices(t, w, "", svcs...)
	for _, r := range recs {
		waitLast(t, r, func(ServiceState) error { return nil })
	}
	contact := w.Stats().LastContactUnixNano()
	if contact == 0 {
		t.Fatal("LastContact not set after a successful answer")
	}

	a.Kill()
	consultest.Eventually(t, settle, func() error {
		if loopErrors(w) == 0 {
			return errors.New("no request has failed yet")
		}
		return nil
	})
	const window = 3 * time.Second
	svc, probes := loopRequests(w), w.Stats().Requests(KindProbe)
	// Bounded observation window: this is what is being measured, not synchronisation.
	time.Sleep(window)
	svc, probes = loopRequests(w)-svc, w.Stats().Requests(KindProbe)-probes
	// Each loop fails at most once more (its request was in flight when the agent
	// died); the probes back off from 100 ms to 2 s: about 5 in 3 s.
	if svc > 3 {
		t.Errorf("%d feed requests in %v against a dead agent: the loops are not waiting", svc, window)
	}
	if probes < 2 || probes > 15 {
		t.Errorf("%d probes in %v, want 2..15", probes, window)
	}
	if got := w.Stats().LastContactUnixNano(); got != contact && time.Since(time.Unix(0, got)) < window {
		t.Errorf("LastContact moved during the outage")
	}
	// One warning for the outage, not one per watch.
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings for one outage of %d watches, want 1:\n%s", n, watches, logs.String())
	}

	a.Restart()
	for i, r := range recs {
		id := fmt.Sprintf("web-%d-1", i)
		a.RegisterService(t, api.AgentServiceRegistration{ID: id, Name: fmt.Sprintf("web-%d", i), Port: 80})
		waitLast(t, r, func(u ServiceState) error {
			_, err := only(u, id)
			return err
		})
	}
}

// TestWatchSurvivesHungAgent freezes the agent (SIGSTOP): connections stay open but
// nothing answers, which no connection error reveals. Only the per-request deadline
// gets the loop out of the stuck request, and after Resume it must catch up.
func TestWatchSurvivesHungAgent(t *testing.T) {
	a := consultest.Start(t)
	w := NewWatcher(Config{Client: a.Client, WaitTime: time.Second})
	r := watchService(t, w, "", "web")
	waitLast(t, r, func(ServiceState) error { return nil })

	a.Pause()
	consultest.Eventually(t, settle, func() error {
		if loopErrors(w) == 0 {
			return errors.New("no request has timed out yet")
		}
		return nil
	})
	a.Resume()

	a.RegisterService(t, api.AgentServiceRegistration{ID: "web-1", Name: "web", Port: 80})
	waitLast(t, r, func(u ServiceState) error {
		if _, err := only(u, "web-1"); err != nil {
			return err
		}
		return nil
	})
}

// loopRequests counts the requests of the feed's loops and its refetches.
// loopKinds are the requests of a datacenter's feed: its blocking loops and its
// refetches. Whichever loop hits a hung agent first closes the gate, and the others
// then wait at it without failing themselves, so a count must include every loop.
var loopKinds = []Kind{KindCatalog, KindNodes, KindChecks, KindConfig, KindService}

func loopRequests(w *Watcher) (n uint64) {
	for _, k := range loopKinds {
		n += w.Stats().Requests(k)
	}
	return n
}

// loopErrors counts the failed requests of the feed, loops and refetches: the first to
// fail closes the gate, and the loops drop their requests without an error of their own.
func loopErrors(w *Watcher) (n uint64) {
	for _, k := range loopKinds {
		n += w.Stats().Errors(k)
	}
	return n
}
