//go:build unix

package health

import (
	"context"
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/srvbridge/srvbridge/internal/consultest"
)

// BenchmarkFetchService: one read of a five-instance service from a real agent,
// as the refetch pool makes it (request, answer, decode, policy). cpu-ns/op is
// this process's CPU, user and system, per read: what a cold burst costs
// srvbridge, without the agent's share, which ns/op includes. The agent is a dev
// agent, which indents its answers; production agents send them compact.
func BenchmarkFetchService(b *testing.B) {
	if testing.Short() {
		b.Skip("needs a Consul agent")
	}
	a := consultest.Start(b)
	for i := range 5 {
		a.RegisterService(b, api.AgentServiceRegistration{Name: "web", ID: fmt.Sprintf("web-%d", i),
			Address: fmt.Sprintf("127.0.0.%d", 10+i), Port: 8000 + i, Tags: []string{"a"}, Meta: map[string]string{"x": "y"},
			Weights: &api.AgentWeights{Passing: 5, Warning: 1}, Check: &api.AgentServiceCheck{TTL: "1h", Status: api.HealthPassing}})
	}
	tr := &http.Transport{}
	ConfigureTransport(tr, DefaultMaxConns)
	c, err := api.NewClient(&api.Config{Address: a.HTTPAddr, Scheme: "http", Transport: tr, Token: a.ManagementToken})
	if err != nil {
		b.Fatal(err)
	}
	w := NewWatcher(Config{Client: c, AllowStale: true})
	var denied string
	b.ReportAllocs()
	start := processCPU(b)
	for b.Loop() {
		st, err := w.fetchService(context.Background(), "", "web", &denied)
		if err != nil || len(st.Instances) != 5 {
			b.Fatalf("%d instances, %v", len(st.Instances), err)
		}
	}
	b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op")
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
