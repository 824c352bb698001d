package health

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/srvbridge/srvbridge/internal/consultest"
)

// BenchmarkFeedChange measures what one change costs the feed with 2 000 held
// services: a check status change (one refetch) and a port change the checks do not
// see (a sweep of every held service). Reported per change: the time until the new
// state is delivered, and the Consul requests it took: full reads (refetches) and
// index probes (sweepprobe.go). Requests still under way when the change is
// delivered count towards the next change.
func BenchmarkFeedChange(b *testing.B) {
	const n = 2000
	a := consultest.Start(b)
	reg, err := api.NewClient(&api.Config{Address: a.HTTPAddr, Scheme: "http", Transport: &http.Transport{DisableKeepAlives: true}})
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		name := fmt.Sprintf("svc-%04d", i)
		if err := reg.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: name, ID: name, Port: 1000 + i,
			Check: &api.AgentServiceCheck{CheckID: name + "-ttl", TTL: "1h", Status: api.HealthPassing}}); err != nil {
			b.Fatal(err)
		}
	}
	tr := &http.Transport{}
	ConfigureTransport(tr, DefaultMaxConns)
	c, err := api.NewClient(&api.Config{Address: a.HTTPAddr, Scheme: "http", Transport: tr})
	if err != nil {
		b.Fatal(err)
	}
	w := NewWatcher(Config{Client: c, AllowStale: true})
	r := &sinkRecorder{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.WatchDatacenter(ctx, "", r)
	for i := range n {
		w.Hold("", fmt.Sprintf("svc-%04d", i))
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r.mu.Lock()
		got := len(r.svcs)
		r.mu.Unlock()
		if got == n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d services fetched", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitFor := func(name string, cond func(Instance) bool) {
		for time.Now().Before(deadline.Add(time.Minute)) {
			r.mu.Lock()
			st := r.svcs[name]
			r.mu.Unlock()
			if len(st.Instances) == 1 && cond(st.Instances[0]) {
				return
			}
			time.Sleep(100 * time.Microsecond)
		}
		b.Fatalf("%s never changed", name)
	}
	b.Run("check", func(b *testing.B) {
		before := w.Stats().Requests(KindService)
		status := []string{"fail", "pass"}
		for i := 0; b.Loop(); i++ {
			a.SetTTL(b, "svc-0007-ttl", status[i%2])
			want := []Status{Critical, Passing}[i%2]
			waitFor("svc-0007", func(in Instance) bool { return in.Status == want })
		}
		b.ReportMetric(float64(w.Stats().Requests(KindService)-before)/float64(b.N), "refetches/op")
	})
	b.Run("port", func(b *testing.B) {
		before, probes := w.Stats().Requests(KindService), w.Stats().Requests(KindServiceIndex)
		for i := 0; b.Loop(); i++ {
			port := 20000 + i%2
			if err := reg.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "svc-0009", ID: "svc-0009", Port: port,
				Check: &api.AgentServiceCheck{CheckID: "svc-0009-ttl", TTL: "1h", Status: api.HealthPassing}}); err != nil {
				b.Fatal(err)
			}
			waitFor("svc-0009", func(in Instance) bool { return int(in.Port) == port })
		}
		b.ReportMetric(float64(w.Stats().Requests(KindService)-before)/float64(b.N), "refetches/op")
		b.ReportMetric(float64(w.Stats().Requests(KindServiceIndex)-probes)/float64(b.N), "probes/op")
	})
}
