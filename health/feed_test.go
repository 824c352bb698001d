package health

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/srvbridge/srvbridge/internal/consultest"
)

// sinkRecorder keeps the last state of each service a feed delivered.
type sinkRecorder struct {
	mu    sync.Mutex
	svcs  map[string]ServiceState
	cats  int
	nodes int
}

func (r *sinkRecorder) Catalog(Catalog) { r.mu.Lock(); r.cats++; r.mu.Unlock() }
func (r *sinkRecorder) Nodes(Nodes)     { r.mu.Lock(); r.nodes++; r.mu.Unlock() }
func (r *sinkRecorder) Service(st ServiceState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.svcs == nil {
		r.svcs = map[string]ServiceState{}
	}
	r.svcs[st.Service] = st
}

// wait polls until the last state of svc satisfies cond.
func (r *sinkRecorder) wait(t *testing.T, svc string, cond func(ServiceState) error) {
	t.Helper()
	consultest.Eventually(t, settle, func() error {
		r.mu.Lock()
		st, ok := r.svcs[svc]
		r.mu.Unlock()
		if !ok {
			return fmt.Errorf("%s not delivered yet", svc)
		}
		return cond(st)
	})
}

func startFeed(t *testing.T, a *consultest.Agent, hold ...string) (*Watcher, *sinkRecorder) {
	t.Helper()
	return startFeedWith(t, a, testWatcher(a, false), hold...)
}

func startFeedWith(t *testing.T, a *consultest.Agent, w *Watcher, hold ...string) (*Watcher, *sinkRecorder) {
	t.Helper()
	r := &sinkRecorder{}
	watch(t, func(ctx context.Context) error { return w.WatchDatacenter(ctx, "", r) })
	for _, h := range hold {
		w.Hold("", h)
	}
	return w, r
}

// instance is the condition "id is served with want applied".
func instance(id string, want func(Instance) error) func(ServiceState) error {
	return func(st ServiceState) error {
		in, err := only(st, id)
		if err != nil {
			return err
		}
		return want(in)
	}
}

// TestFeedSeesWhatChecksDoNot: re-registrations that leave the checks alone (Consul
// moves only the services index for a new port or address), instances with no check
// at all, and a node's new address (only the nodes index moves) still reach a held
// service.
func TestFeedSeesWhatChecksDoNot(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Consul agent")
	}
	t.Run("one probe at a time", func(t *testing.T) { feedSeesWhatChecksDoNot(t, false) })
	t.Run("pipelined probes", func(t *testing.T) { feedSeesWhatChecksDoNot(t, true) })
}

func feedSeesWhatChecksDoNot(t *testing.T, pipelined bool) {
	a := consultest.Start(t)
	reg := api.AgentServiceRegistration{ID: "web-1", Name: "web", Port: 8080, Address: "127.0.0.9",
		Check: &api.AgentServiceCheck{CheckID: "web-1-ttl", TTL: "1h", Status: api.HealthPassing}}
	a.RegisterService(t, reg)
	// A service nothing changes: the sweeps should find it by its index alone.
	a.RegisterService(t, api.AgentServiceRegistration{ID: "idle-1", Name: "idle", Port: 1})
	cfg := Config{Client: a.Client, AllowStale: true, WaitTime: 5 * time.Second}
	var dials atomic.Int32
	if pipelined {
		cfg.Probes = &ProbeConn{Addr: a.HTTPAddr, Dial: countingDial(&dials)}
	}
	w, r := startFeedWith(t, a, NewWatcher(cfg), "web", "idle")
	r.wait(t, "web", instance("web-1", func(in Instance) error {
		if in.Port != 8080 {
			return fmt.Errorf("port %d", in.Port)
		}
		return nil
	}))

	steps := []struct {
		name string
		edit func(*api.AgentServiceRegistration)
		want func(Instance) error
	}{
		{"port", func(r *api.AgentServiceRegistration) { r.Port = 9090 }, func(in Instance) error {
			return expectf(in.Port == 9090, "port %d, want 9090", in.Port)
		}},
		{"address", func(r *api.AgentServiceRegistration) { r.Address = "127.0.0.10" }, func(in Instance) error {
			return expectf(in.Address == "127.0.0.10", "address %s", in.Address)
		}},
		{"weights", func(r *api.AgentServiceRegistration) { r.Weights = &api.AgentWeights{Passing: 7, Warning: 1} }, func(in Instance) error {
			return expectf(in.Weight == 7, "weight %d", in.Weight)
		}},
		{"tags", func(r *api.AgentServiceRegistration) { r.Tags = []string{"canary"} }, func(in Instance) error {
			return expectf(slices.Equal(in.Tags, []string{"canary"}), "tags %v", in.Tags)
		}},
	}
	for _, s := range steps {
		s.edit(&reg)
		a.RegisterService(t, reg)
		r.wait(t, "web", instance("web-1", s.want))
	}

	// An instance with no check: its registration, a new port, its deregistration.
	a.RegisterService(t, api.AgentServiceRegistration{ID: "web-2", Name: "web", Port: 7000})
	r.wait(t, "web", instance("web-2", func(in Instance) error { return expectf(in.Port == 7000, "port %d", in.Port) }))
	a.RegisterService(t, api.AgentServiceRegistration{ID: "web-2", Name: "web", Port: 7001})
	r.wait(t, "web", instance("web-2", func(in Instance) error { return expectf(in.Port == 7001, "port %d", in.Port) }))
	a.Deregister(t, "web-2")
	r.wait(t, "web", func(st ServiceState) error { return expectf(len(st.Instances) == 1, "%d instances", len(st.Instances)) })

	// A node's new address, which its instances without an address of their own
	// answer with: only the nodes index moves.
	a.RegisterExternal(t, "ext-1", "127.0.0.41", &api.AgentService{ID: "web-x", Service: "web", Port: 2000})
	r.wait(t, "web", instance("web-x", func(in Instance) error { return expectf(in.Address == "127.0.0.41", "address %s", in.Address) }))
	if _, err := a.Client.Catalog().Register(&api.CatalogRegistration{Node: "ext-1", Address: "127.0.0.42"}, nil); err != nil {
		t.Fatal(err)
	}
	r.wait(t, "web", instance("web-x", func(in Instance) error { return expectf(in.Address == "127.0.0.42", "address %s", in.Address) }))
	if w.Stats().Requests(KindService) == 0 {
		t.Error("no refetch counted")
	}
	// Every change above but the node address reached web through a sweep whose
	// index probe saw web's index move, on a real agent; and idle was spared a
	// full read at least once.
	if w.Stats().Requests(KindServiceIndex) == 0 || w.Stats().SweepReadsSaved() == 0 {
		t.Errorf("%d index probes, %d full reads saved: the sweeps did not probe",
			w.Stats().Requests(KindServiceIndex), w.Stats().SweepReadsSaved())
	}
	if pipelined && dials.Load() == 0 {
		t.Error("the probes did not go through the pipeline")
	}
}

// TestFeedNodeChecksAndMaintenance: a node check, node maintenance and service
// maintenance (a critical check Consul adds) reach every held service they concern,
// including an instance that has no check of its own.
func TestFeedNodeChecksAndMaintenance(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Consul agent")
	}
	a := consultest.Start(t)
	a.RegisterService(t, api.AgentServiceRegistration{ID: "web-1", Name: "web", Port: 80,
		Check: &api.AgentServiceCheck{CheckID: "web-1-ttl", TTL: "1h", Status: api.HealthPassing}})
	a.RegisterService(t, api.AgentServiceRegistration{ID: "db-1", Name: "db", Port: 5432}) // no check
	if err := a.Client.Agent().CheckRegister(&api.AgentCheckRegistration{ID: "node-ttl", Name: "node ttl",
		AgentServiceCheck: api.AgentServiceCheck{TTL: "1h", Status: api.HealthPassing}}); err != nil {
		t.Fatal(err)
	}
	_, r := startFeed(t, a, "web", "db")
	status := func(id string, want Status) func(ServiceState) error {
		return instance(id, func(in Instance) error { return expectf(in.Status == want, "%s is %v, want %v", id, in.Status, want) })
	}
	both := func(want Status) {
		t.Helper()
		r.wait(t, "web", status("web-1", want))
		r.wait(t, "db", status("db-1", want))
	}
	both(Passing)

	a.SetTTL(t, "node-ttl", "fail")
	both(Critical)
	a.SetTTL(t, "node-ttl", "pass")
	both(Passing)

	a.Maintenance(t, "", true)
	both(Critical)
	a.Maintenance(t, "", false)
	both(Passing)

	a.Maintenance(t, "db-1", true)
	r.wait(t, "db", status("db-1", Critical))
	a.Maintenance(t, "db-1", false)
	r.wait(t, "db", status("db-1", Passing))

	// A check status change, the common case.
	a.SetTTL(t, "web-1-ttl", "warn")
	r.wait(t, "web", status("web-1", Warning))
}

func expectf(ok bool, format string, args ...any) error {
	if ok {
		return nil
	}
	return fmt.Errorf(format, args...)
}

// TestFeedFollowsRestartAtSameIndex: an agent restarted without its data can have
// reached, by the time srvbridge gets through to it again, the very index the old
// one had, with other instances behind it. After an outage an equal index is not
// "nothing new": the feed re-reads the catalog and delivers what changed.
func TestFeedFollowsRestartAtSameIndex(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Consul agent")
	}
	a := consultest.Start(t)
	web := func(n int) *api.AgentService {
		return &api.AgentService{ID: fmt.Sprintf("web-%d", n), Service: "web", Port: 8000 + n}
	}
	for n := 1; n <= 3; n++ {
		a.RegisterExternal(t, "ext", "127.0.0.41", web(n))
	}
	// Lift the services index above where a fresh agent with one instance starts.
	for range 10 {
		a.RegisterExternal(t, "pad", "127.0.0.42", &api.AgentService{ID: "pad", Service: "pad"})
		a.DeregisterExternal(t, "pad", "")
	}

	p := consultest.StartProxy(t, a.HTTPAddr)
	client, err := api.NewClient(&api.Config{Address: p.Addr})
	if err != nil {
		t.Fatal(err)
	}
	// The wait outlasts the deadline: no blocking request may end by itself and
	// hide a missed change.
	w := NewWatcher(Config{Client: client, AllowStale: true, WaitTime: 4 * settle})
	r := &sinkRecorder{}
	watch(t, func(ctx context.Context) error { return w.WatchDatacenter(ctx, "", r) })
	w.Hold("", "web")
	r.wait(t, "web", func(st ServiceState) error {
		if len(st.Instances) != 3 {
			return fmt.Errorf("%d instances, want 3", len(st.Instances))
		}
		return nil
	})
	old := servicesIndex(t, a)

	p.Cut()
	// Other Raft writes of a booting agent (autopilot, the CA) can take the index
	// one registration was about to land on: then restart and try again.
	lined := false
	for try := 0; try < 5 && !lined; try++ {
		a.Restart()
		a.RegisterExternal(t, "ext", "127.0.0.41", web(2))
		idx := servicesIndex(t, a)
		for n := 0; idx < old; n++ {
			a.RegisterExternal(t, "pad", "127.0.0.42", &api.AgentService{ID: fmt.Sprint("pad-", n), Service: "pad"})
			idx = servicesIndex(t, a)
		}
		lined = idx == old
		if !lined {
			t.Logf("the restarted agent's services index went past the old one, %d, to %d: again", old, idx)
		}
	}
	if !lined {
		t.Fatalf("could not line the restarted agent's services index up with the old one, %d, in 5 restarts", old)
	}
	p.Restore(t)

	r.wait(t, "web", func(st ServiceState) error {
		if len(st.Instances) != 1 || st.Instances[0].ID != "web-2" {
			return fmt.Errorf("instances %+v at index %d, want only web-2 (the old agent's index was %d)", st.Instances, st.Index, old)
		}
		return nil
	})
}

func servicesIndex(t *testing.T, a *consultest.Agent) uint64 {
	t.Helper()
	_, meta, err := a.Client.Catalog().Services(nil)
	if err != nil {
		t.Fatalf("catalog services: %v", err)
	}
	return meta.LastIndex
}
