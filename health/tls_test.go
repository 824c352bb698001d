package health

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/srvbridge/srvbridge/internal/consultest"
)

// protoRecorder notes the HTTP version of every response.
type protoRecorder struct {
	rt     http.RoundTripper
	mu     sync.Mutex
	protos map[int]int // ProtoMajor → responses
}

func (p *protoRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := p.rt.RoundTrip(req)
	if err == nil {
		p.mu.Lock()
		p.protos[resp.ProtoMajor]++
		p.mu.Unlock()
	}
	return resp, err
}

func (p *protoRecorder) count(major int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.protos[major]
}

// TestHTTPSNegotiatesHTTP2: over TLS, the transport srvbridge configures speaks
// HTTP/2 to Consul, so the feed's blocking queries and refetches are streams on one
// connection. Without ForceAttemptHTTP2, net/http would stay on HTTP/1.1 here: the
// api package gives the transport a TLS config of its own.
func TestHTTPSNegotiatesHTTP2(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Consul agent")
	}
	agent := consultest.Start(t, consultest.WithHTTPS())
	addr, ca := agent.HTTPSAddr, agent.CAFile
	tr := &http.Transport{}
	ConfigureTransport(tr, 8)
	tlsCfg, err := api.SetupTLSConfig(&api.TLSConfig{CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	tr.TLSClientConfig = tlsCfg
	rec := &protoRecorder{rt: tr, protos: map[int]int{}}
	c, err := api.NewClient(&api.Config{Address: addr, Scheme: "https", HttpClient: &http.Client{Transport: rec}})
	if err != nil {
		t.Fatal(err)
	}
	consultest.Eventually(t, 60*time.Second, func() error {
		leader, err := c.Status().Leader()
		if err == nil && leader == "" {
			err = fmt.Errorf("no leader yet")
		}
		return err
	})
	w := NewWatcher(Config{Client: c, AllowStale: true, WaitTime: 5 * time.Second, MaxConns: 8})
	r := &sinkRecorder{}
	watch(t, func(ctx context.Context) error { return w.WatchDatacenter(ctx, "", r) })
	w.Hold("", "consul")
	r.wait(t, "consul", func(st ServiceState) error { return expectf(len(st.Instances) == 1, "%d instances", len(st.Instances)) })
	if h1, h2 := rec.count(1), rec.count(2); h1 != 0 || h2 == 0 {
		t.Errorf("%d HTTP/1 and %d HTTP/2 answers, want HTTP/2 only", h1, h2)
	}
}

// TestHTTPSPipelinedProbes: over HTTPS, against a real agent that offers HTTP/2,
// the sweeps' probes go on a TLS connection of their own with the API client's TLS
// settings: a port change that no check sees reaches the state, and a service
// nothing changed is spared its full read, which only an answered probe can do.
func TestHTTPSPipelinedProbes(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Consul agent")
	}
	a := consultest.Start(t, consultest.WithHTTPS())
	reg := api.AgentServiceRegistration{ID: "web-1", Name: "web", Port: 8080,
		Check: &api.AgentServiceCheck{CheckID: "web-1-ttl", TTL: "1h", Status: api.HealthPassing}}
	a.RegisterService(t, reg)
	a.RegisterService(t, api.AgentServiceRegistration{ID: "idle-1", Name: "idle", Port: 1})
	tlsCfg, err := api.SetupTLSConfig(&api.TLSConfig{CAFile: a.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: tlsCfg}
	ConfigureTransport(tr, DefaultMaxConns-ProbeConns)
	c, err := api.NewClient(&api.Config{Address: a.HTTPSAddr, Scheme: "https", Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	var dials atomic.Int32
	w := NewWatcher(Config{Client: c, AllowStale: true, WaitTime: 5 * time.Second,
		Probes: &ProbeConn{Addr: a.HTTPSAddr, TLS: tlsCfg, Dial: countingDial(&dials)}})
	r := &sinkRecorder{}
	watch(t, func(ctx context.Context) error { return w.WatchDatacenter(ctx, "", r) })
	w.Hold("", "web")
	w.Hold("", "idle")
	r.wait(t, "web", instance("web-1", func(in Instance) error { return expectf(in.Port == 8080, "port %d", in.Port) }))
	reg.Port = 9090
	a.RegisterService(t, reg)
	r.wait(t, "web", instance("web-1", func(in Instance) error { return expectf(in.Port == 9090, "port %d", in.Port) }))
	if w.Stats().Requests(KindServiceIndex) == 0 || w.Stats().SweepReadsSaved() == 0 {
		t.Errorf("%d index probes, %d full reads saved: no probe was answered",
			w.Stats().Requests(KindServiceIndex), w.Stats().SweepReadsSaved())
	}
	// Every probe goes through the pipeline once it is set up: the saved read
	// above was its answer, over HTTP/1.1, since HTTP/1.1 requests on a connection
	// that negotiated HTTP/2 get no answer.
	if dials.Load() == 0 {
		t.Error("the probes did not go through the pipeline")
	}
}
