package health

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/consul/api"
)

// fakeHealth answers /v1/health/service/<name> as Consul does, from a port and an
// index set by the test: a full read gives one instance on that port, an index
// probe (?tag=probeTag) "[]", both at the same X-Consul-Index.
type fakeHealth struct {
	mu       sync.Mutex
	port     int
	index    uint64
	filtered bool   // the probe's answer says ACLs filtered it
	onProbe  func() // called as a probe arrives
	full     map[string]int
	probes   map[string]int
}

func (c *fakeHealth) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	name := r.URL.Path // keyed by path: the same service's mesh entries differ
	if !strings.HasPrefix(name, "/v1/health/") {
		http.NotFound(rw, r)
		return
	}
	rw.Header().Set("X-Consul-Index", fmt.Sprint(c.index))
	rw.Header().Set("X-Consul-KnownLeader", "true")
	rw.Header().Set("X-Consul-LastContact", "0") // without it the client parses no later header
	if tag := r.URL.Query().Get("tag"); tag != "" {
		if tag != probeTag {
			http.Error(rw, "unexpected tag "+tag, http.StatusBadRequest)
			return
		}
		c.probes[name]++
		if c.onProbe != nil {
			c.onProbe()
		}
		if c.filtered {
			rw.Header().Set("X-Consul-Results-Filtered-By-ACLs", "true")
		}
		fmt.Fprint(rw, "[]")
		return
	}
	c.full[name]++
	fmt.Fprintf(rw, `[{"Node":{"Node":"n1","Address":"10.0.0.1"},"Service":{"ID":"%s-1","Service":%q,"Port":%d},"Checks":[]}]`, name, name, c.port)
}

func (c *fakeHealth) set(port int, index uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.port, c.index = port, index
}

// reads returns the full reads and probes of held name so far.
func (c *fakeHealth) reads(name string) (full, probes int) {
	e, svc := SplitHeld(name)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.full[entryPath[e]+svc], c.probes[entryPath[e]+svc]
}

// probeFeed is a feed whose Consul is a fakeHealth; the test drives its queue.
func probeFeed(t *testing.T) (*Watcher, *feed, *nopSink, *fakeHealth) {
	t.Helper()
	c := &fakeHealth{port: 80, index: 7, full: map[string]int{}, probes: map[string]int{}}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	client, err := api.NewClient(&api.Config{Address: strings.TrimPrefix(srv.URL, "http://")})
	if err != nil {
		t.Fatal(err)
	}
	w := NewWatcher(Config{Client: client, MaxConns: 8})
	f := w.feedFor("")
	sink := &nopSink{}
	f.sink = sink
	return w, f, sink, c
}

// refreshNext fetches the next queued service as a worker would.
func refreshNext(t *testing.T, f *feed, want string) {
	t.Helper()
	name, h := nextOne(f)
	if name != want {
		t.Fatalf("next: %q, want %q", name, want)
	}
	f.refresh(context.Background(), name, h)
}

// sweepOnce sweeps and refreshes name, and says what it cost and delivered.
func sweepOnce(t *testing.T, f *feed, sink *nopSink, c *fakeHealth, name string) (full, probes, delivered int) {
	t.Helper()
	full0, probes0 := c.reads(name)
	delivered0 := len(sink.got)
	f.sweep()
	refreshNext(t, f, name)
	full1, probes1 := c.reads(name)
	return full1 - full0, probes1 - probes0, len(sink.got) - delivered0
}

// TestSweepProbesIndex: a sweep asks for a service's index before reading it, and
// reads and delivers it only when the index moved since its last full read.
func TestSweepProbesIndex(t *testing.T) {
	w, f, sink, c := probeFeed(t)
	f.hold("a")
	refreshNext(t, f, "a") // a hold reads in full, with no probe
	if full, probes := c.reads("a"); full != 1 || probes != 0 || len(sink.got) != 1 {
		t.Fatalf("first fetch: %d full reads, %d probes, %d delivered; want 1, 0, 1", full, probes, len(sink.got))
	}
	for _, tc := range []struct {
		what                    string
		port                    int
		index                   uint64
		full, probes, delivered int
	}{
		{"nothing changed", 80, 7, 0, 1, 0},
		{"the port changed", 81, 9, 1, 1, 1},
		{"nothing changed since", 81, 9, 0, 1, 0},
		{"the index moved, the content did not", 81, 12, 1, 1, 0},
		{"nothing changed since the last read", 81, 12, 0, 1, 0},
	} {
		c.set(tc.port, tc.index)
		full, probes, delivered := sweepOnce(t, f, sink, c, "a")
		if full != tc.full || probes != tc.probes || delivered != tc.delivered {
			t.Errorf("%s: %d full reads, %d probes, %d delivered; want %d, %d, %d",
				tc.what, full, probes, delivered, tc.full, tc.probes, tc.delivered)
		}
	}
	if got := sink.got[len(sink.got)-1]; got.Instances[0].Port != 81 {
		t.Errorf("last delivered port %d, want 81", got.Instances[0].Port)
	}
	if n := w.Stats().Requests(KindServiceIndex); n != 5 {
		t.Errorf("%d probes counted, want 5", n)
	}
	if n := w.Stats().SweepReadsSaved(); n != 3 {
		t.Errorf("%d reads saved counted, want 3", n)
	}
	if n := w.Stats().Requests(KindService); n != 3 {
		t.Errorf("%d full reads counted, want 3", n)
	}

	// A change the feed attributes to the service reads it in full, probe or not.
	f.mark("a")
	refreshNext(t, f, "a")
	if full, probes := c.reads("a"); full != 4 || probes != 5 {
		t.Errorf("a check change: %d full reads and %d probes in all, want 4 and 5", full, probes)
	}

	// An answer ACLs filtered proves nothing: read in full.
	c.mu.Lock()
	c.filtered = true
	c.mu.Unlock()
	if full, probes, _ := sweepOnce(t, f, sink, c, "a"); full != 1 || probes != 1 {
		t.Errorf("a probe filtered by ACLs: %d full reads, %d probes; want 1, 1", full, probes)
	}
}

// TestSweepProbeDistrustedAfterOutage: once Consul was unreachable, or its index
// went backwards, an equal index proves nothing (a restarted agent replays to the
// same indexes with other content): the next sweep reads every service in full,
// and only a read after the outage makes probes count again.
func TestSweepProbeDistrustedAfterOutage(t *testing.T) {
	for _, tc := range []struct {
		what   string
		outage func(*gate)
	}{
		{"unreachable", func(g *gate) { g.fail(errors.New("connection refused")); g.ok() }},
		{"index reset", func(g *gate) { g.resyncAll() }},
	} {
		t.Run(tc.what, func(t *testing.T) {
			_, f, sink, c := probeFeed(t)
			f.hold("a")
			refreshNext(t, f, "a")
			if full, probes, delivered := sweepOnce(t, f, sink, c, "a"); full != 0 || probes != 1 || delivered != 0 {
				t.Fatalf("before: %d full reads, %d probes, %d delivered; want 0, 1, 0", full, probes, delivered)
			}
			tc.outage(f.w.gate)
			c.set(90, 7) // another agent, the same index
			if full, _, delivered := sweepOnce(t, f, sink, c, "a"); full != 1 || delivered != 1 {
				t.Fatalf("after: %d full reads, %d delivered; want 1 and 1", full, delivered)
			}
			if got := sink.got[len(sink.got)-1].Instances[0].Port; got != 90 {
				t.Errorf("delivered port %d, want 90", got)
			}
			if full, probes, _ := sweepOnce(t, f, sink, c, "a"); full != 0 || probes != 1 {
				t.Errorf("the sweep after: %d full reads, %d probes; want 0, 1", full, probes)
			}
		})
	}
}

// TestMeshEntriesNotProbed: connect and ingress entries are read in full on every
// sweep; their index was never measured against their content.
func TestMeshEntriesNotProbed(t *testing.T) {
	_, f, sink, c := probeFeed(t)
	name := HeldName(EntryConnect, "a")
	f.hold(name)
	refreshNext(t, f, name)
	for range 2 {
		if full, probes, _ := sweepOnce(t, f, sink, c, name); full != 1 || probes != 0 {
			t.Errorf("a sweep of a connect entry: %d full reads, %d probes; want 1, 0", full, probes)
		}
	}
}

// TestSweepDuringFetchProbes: a sweep that comes while a service is fetched fetches
// it once more as a sweep (an index probe), a change attributed to it as a full
// read.
func TestSweepDuringFetchProbes(t *testing.T) {
	_, f, _, c := probeFeed(t)
	f.hold("a")
	refreshNext(t, f, "a")
	for _, tc := range []struct {
		what         string
		during       func()
		full, probes int
	}{
		{"a sweep", f.sweep, 0, 2},
		{"a check change", func() { f.mark("a") }, 1, 1},
	} {
		full0, probes0 := c.reads("a")
		f.sweep()
		name, h := nextOne(f)
		tc.during()
		f.refresh(context.Background(), name, h)
		refreshNext(t, f, "a")
		full, probes := c.reads("a")
		if full-full0 != tc.full || probes-probes0 != tc.probes {
			t.Errorf("%s during a sweep's probe: %d full reads, %d probes; want %d, %d",
				tc.what, full-full0, probes-probes0, tc.full, tc.probes)
		}
	}
}

// TestSweepProbeDuringOutage: an outage seen while a probe is out distrusts its
// answer too.
func TestSweepProbeDuringOutage(t *testing.T) {
	_, f, sink, c := probeFeed(t)
	f.hold("a")
	refreshNext(t, f, "a")
	c.mu.Lock()
	c.onProbe = func() {
		f.w.gate.fail(errors.New("connection reset"))
		f.w.gate.ok()
		c.port = 90 // another agent, the same index
		c.onProbe = nil
	}
	c.mu.Unlock()
	if full, probes, delivered := sweepOnce(t, f, sink, c, "a"); full != 1 || probes != 1 || delivered != 1 {
		t.Errorf("%d full reads, %d probes, %d delivered; want 1, 1, 1", full, probes, delivered)
	}
}
