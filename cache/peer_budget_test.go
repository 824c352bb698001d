package cache

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/srvbridge/srvbridge/health"

	"github.com/srvbridge/srvbridge/internal/consultest"
)

// TestPeerServicesWithinConnectionBudget: 40 services imported from a cluster peer,
// each held (and so followed by a query of its own, health/peer.go), on at most the
// connection budget over HTTP/1.1; a service past the blocking share still follows
// a health change on the exporting side.
func TestPeerServicesWithinConnectionBudget(t *testing.T) {
	const n = 40
	exp := consultest.Start(t, consultest.WithDatacenter("dc1"), consultest.WithNodeName("exp"))
	imp := consultest.Start(t, consultest.WithDatacenter("dc2"), consultest.WithNodeName("imp"))
	consultest.Peer(t, exp, "east", imp, "west")
	svcs := registerMany(t, exp, n)
	exp.Export(t, "east", svcs...)
	consultest.Eventually(t, 30*time.Second, func() error {
		got, _, err := imp.Client.Health().Service(svcs[n-1], "", false, &api.QueryOptions{Peer: "west"})
		if err == nil && len(got) != 1 {
			err = fmt.Errorf("%s not imported yet", svcs[n-1])
		}
		return err
	})

	conns := watchConns(t, imp)
	s, w := startBudgetStore(t, imp, Config{AwaitTimeout: 5 * time.Second})
	waitReady(t, s)
	for _, name := range svcs {
		if got, r := s.Await(context.Background(), "west.peer", name); r != Hit || len(got) != 1 {
			t.Fatalf("%s from west: %v %v, want one address", name, r, got)
		}
	}
	start := time.Now()
	exp.SetTTL(t, svcs[n-1]+"-ttl", "fail")
	consultest.Eventually(t, 20*time.Second, func() error {
		if got, r := s.Lookup([]byte("west.peer"), []byte(svcs[n-1])); r != NoService {
			return fmt.Errorf("%s still %v %v", svcs[n-1], r, got)
		}
		return nil
	})
	took := time.Since(start)
	// PEER_RATE_WINDOW=20s also logs the requests the held services cost at rest
	// (docs/consul-watch.md quotes it); a measurement, not part of the test.
	if rate := os.Getenv("PEER_RATE_WINDOW"); rate != "" {
		d, _ := time.ParseDuration(rate)
		before := w.Stats().Requests(health.KindService)
		time.Sleep(d)
		t.Logf("at rest: %d service requests in %v", w.Stats().Requests(health.KindService)-before, d)
	}
	peak := conns.Peak()
	if peak > testBudget {
		t.Errorf("%d connections to Consul at the peak, budget %d", peak, testBudget)
	}
	t.Logf("%d imported services held: peak %d connections (budget %d); a health change reached the cache in %v",
		n, peak, testBudget, took.Round(time.Millisecond))
}
