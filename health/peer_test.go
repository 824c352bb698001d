package health

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/srvbridge/srvbridge/internal/consultest"
)

// blockingCounter counts the blocking requests (those with an index) for imported
// services in flight, and the most there ever were at once.
type blockingCounter struct {
	next          http.RoundTripper
	mu            sync.Mutex
	now, most, nb int
}

func (c *blockingCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	q := req.URL.Query()
	blocking := q.Get("peer") != "" && q.Get("index") != ""
	if blocking {
		c.mu.Lock()
		c.now++
		c.nb++
		c.most = max(c.most, c.now)
		c.mu.Unlock()
		defer func() {
			c.mu.Lock()
			c.now--
			c.mu.Unlock()
		}()
	}
	return c.next.RoundTrip(req)
}

// TestPeerServicesWithinBudget: more imported services are held than the blocking
// share of the connection budget allows; each still follows its changes on the
// exporting side, and never more than the share block at once.
func TestPeerServicesWithinBudget(t *testing.T) {
	exp := consultest.Start(t, consultest.WithDatacenter("dc1"), consultest.WithNodeName("exp"))
	imp := consultest.Start(t, consultest.WithDatacenter("dc2"), consultest.WithNodeName("imp"))
	consultest.Peer(t, exp, "east", imp, "west")
	const n = 4
	var svcs []string
	for i := range n {
		svc := fmt.Sprintf("svc-%d", i)
		svcs = append(svcs, svc)
		exp.RegisterService(t, api.AgentServiceRegistration{ID: svc + "-1", Name: svc, Address: "127.0.0.11", Port: 8080 + i,
			Check: &api.AgentServiceCheck{CheckID: "service:" + svc + "-1", TTL: "10m", Status: api.HealthPassing}})
	}
	exp.Export(t, "east", svcs...)

	counter := &blockingCounter{next: http.DefaultTransport.(*http.Transport).Clone()}
	client, err := api.NewClient(&api.Config{Address: imp.HTTPAddr, HttpClient: &http.Client{Transport: counter}})
	if err != nil {
		t.Fatal(err)
	}
	const maxConns = 4 // a blocking share of one
	w := NewWatcher(Config{Client: client, AllowStale: true, WaitTime: 5 * time.Second, MaxConns: maxConns})
	dcs, err := w.PeerDatacenters(context.Background())
	if err != nil || !slices.Equal(dcs, []string{"west.peer"}) {
		t.Fatalf("PeerDatacenters = %v, %v; want [west.peer]", dcs, err)
	}
	r := &sinkRecorder{}
	watch(t, func(ctx context.Context) error { return w.WatchDatacenter(ctx, "west.peer", r) })
	for _, svc := range svcs {
		w.Hold("west.peer", svc)
	}
	for _, svc := range svcs {
		r.wait(t, svc, instance(svc+"-1", func(in Instance) error {
			return expectf(in.Status == Passing && in.Address == "127.0.0.11", "want passing at 127.0.0.11, got %+v", in)
		}))
	}
	// Past the first reads, which never block, every watch wants to block.
	for _, svc := range svcs {
		exp.SetTTL(t, "service:"+svc+"-1", "fail")
	}
	for _, svc := range svcs {
		r.wait(t, svc, instance(svc+"-1", func(in Instance) error {
			return expectf(in.Status == Critical, "want critical, got %+v", in)
		}))
	}
	counter.mu.Lock()
	most, nb := counter.most, counter.nb
	counter.mu.Unlock()
	if share := peerShare(maxConns); most > share || nb == 0 {
		t.Errorf("%d blocking requests for imported services, at most %d at once; want some, and at most %d", nb, most, share)
	}
	t.Logf("%d services followed with %d blocking requests, at most %d at once", n, nb, most)
	if r.cats != 1 || r.nodes != 0 {
		t.Errorf("a peer's feed gave %d service lists and %d node lists, want 1 and 0", r.cats, r.nodes)
	}
}
