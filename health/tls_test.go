package health

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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

// freePort returns a TCP port free on loopback now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startTLSAgent runs a dev agent that serves its HTTP API over HTTPS only, with a
// CA and server certificate made by consul tls, and returns the address and CA file.
func startTLSAgent(t *testing.T) (addr, caFile string) {
	t.Helper()
	bin := consultest.Binary(t)
	dir := t.TempDir()
	for _, args := range [][]string{{"tls", "ca", "create"}, {"tls", "cert", "create", "-server", "-dc", "dc1"}} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("consul %v: %v\n%s", args, err, out)
		}
	}
	https := freePort(t)
	cfg := map[string]any{
		"datacenter": "dc1", "node_name": "tls", "bind_addr": "127.0.0.1", "client_addr": "127.0.0.1",
		"advertise_addr": "127.0.0.1", "disable_update_check": true,
		"ports": map[string]int{"http": -1, "https": https, "dns": -1, "grpc": -1, "grpc_tls": -1,
			"server": freePort(t), "serf_lan": freePort(t), "serf_wan": freePort(t)},
		"tls": map[string]any{"defaults": map[string]any{
			"ca_file":   filepath.Join(dir, "consul-agent-ca.pem"),
			"cert_file": filepath.Join(dir, "dc1-server-consul-0.pem"),
			"key_file":  filepath.Join(dir, "dc1-server-consul-0-key.pem"),
		}},
	}
	b, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(dir, "agent.json")
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "consul.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "agent", "-dev", "-config-file", cfgFile)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("consul log:\n%s", b)
		}
	})
	return fmt.Sprintf("127.0.0.1:%d", https), filepath.Join(dir, "consul-agent-ca.pem")
}

// TestHTTPSNegotiatesHTTP2: over TLS, the transport srvbridge configures speaks
// HTTP/2 to Consul, so the feed's blocking queries and refetches are streams on one
// connection. Without ForceAttemptHTTP2, net/http would stay on HTTP/1.1 here: the
// api package gives the transport a TLS config of its own.
func TestHTTPSNegotiatesHTTP2(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Consul agent")
	}
	addr, ca := startTLSAgent(t)
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
