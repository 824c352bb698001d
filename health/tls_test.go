package health

import (
	"context"
	"fmt"
	"net/http"
	"sync"
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
