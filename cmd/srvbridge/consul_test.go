package main

import (
	"bytes"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/srvbridge/srvbridge/health"
)

func TestConsulAPIConfigOverridesOnlyAddress(t *testing.T) {
	base := &api.Config{Address: "localhost:8500", Scheme: "https", Token: "tok"}
	base.TLSConfig.CAFile = "/etc/ca.pem"
	got := consulAPIConfig(Config{ConsulAddr: "10.1.2.3:8501"}, base, nil)
	if got.Address != "10.1.2.3:8501" || got.Scheme != "https" || got.Token != "tok" || got.TLSConfig.CAFile != "/etc/ca.pem" {
		t.Errorf("got %+v", got)
	}

	// The connection budget binds in the transport, and TLS attempts HTTP/2.
	def := consulAPIConfig(Config{ConsulAddr: "127.0.0.1:8500", ConsulMaxConns: 7}, api.DefaultConfig(), nil)
	if tr := def.Transport; tr == nil || tr.MaxConnsPerHost != 7 || tr.MaxIdleConnsPerHost != 7 || tr.MaxIdleConns != 0 ||
		tr.IdleConnTimeout == 0 || !tr.ForceAttemptHTTP2 {
		t.Errorf("transport pool: %+v", tr)
	}
	if tr := consulAPIConfig(Config{}, api.DefaultConfig(), nil).Transport; tr.MaxConnsPerHost != health.DefaultMaxConns {
		t.Errorf("default budget %d, want %d", tr.MaxConnsPerHost, health.DefaultMaxConns)
	}
}

// Consul compresses the answers of a client that accepts gzip, at about the CPU
// cost of the read itself: srvbridge does not ask for it unless --consul-gzip.
func TestConsulGzipOnlyWhenAsked(t *testing.T) {
	encodings := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encodings <- r.Header.Get("Accept-Encoding")
		w.Header().Set("X-Consul-Index", "1")
		w.Write([]byte(`"127.0.0.1:8300"`))
	}))
	defer srv.Close()
	for _, tc := range []struct {
		gzip bool
		want string
	}{{false, ""}, {true, "gzip"}} {
		cfg := consulAPIConfig(Config{ConsulAddr: srv.Listener.Addr().String(), ConsulGzip: tc.gzip}, api.DefaultConfig(), nil)
		client, err := api.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Status().Leader(); err != nil {
			t.Fatal(err)
		}
		if got := <-encodings; got != tc.want {
			t.Errorf("--consul-gzip=%v: Accept-Encoding %q, want %q", tc.gzip, got, tc.want)
		}
	}
}

// Over TLS the client srvbridge builds negotiates HTTP/2, and the answers that came
// over it are counted for /metrics; over plain HTTP none are.
func TestConsulHTTP2Counted(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Consul-Index", "1")
		w.Write([]byte(`"127.0.0.1:8300"`))
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	plain := httptest.NewServer(srv.Config.Handler)
	defer plain.Close()
	for _, tc := range []struct {
		addr string
		want uint64
	}{{"https://" + srv.Listener.Addr().String(), 2}, {plain.Listener.Addr().String(), 0}} {
		base := api.DefaultConfig()
		base.TLSConfig.CAFile = ca
		cfg := consulAPIConfig(Config{ConsulAddr: tc.addr}, base, nil)
		client, err := api.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		h2 := countHTTP2(cfg)
		for range 2 {
			if _, err := client.Status().Leader(); err != nil {
				t.Fatalf("%s: %v", tc.addr, err)
			}
		}
		if got := h2.Count(); got != tc.want {
			t.Errorf("%s: %d answers over HTTP/2, want %d", tc.addr, got, tc.want)
		}
	}
}

// The token must not reach the logs, whatever the format.
func TestConsulLogAttrsHideSecrets(t *testing.T) {
	const token, password = "s3cr3t-token-0a1b", "hunter2-pw"
	c := &api.Config{Address: "127.0.0.1:8500", Scheme: "http", Token: token,
		HttpAuth: &api.HttpBasicAuth{Username: "u", Password: password}}
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		log := newLogger(&buf, slog.LevelDebug, format)
		log.Debug("start", "config", defaultConfig(), consulLogAttrs(c))
		out := buf.String()
		if strings.Contains(out, token) || strings.Contains(out, password) {
			t.Errorf("%s log leaks a secret: %s", format, out)
		}
		if !strings.Contains(out, "set") || !strings.Contains(out, "127.0.0.1:8500") {
			t.Errorf("%s log lacks the connection summary: %s", format, out)
		}
	}
}

// TestProbeConnHTTPAndHTTPS: the sweeps pipeline their probes on a connection of
// their own, taken off the transport's budget, only over HTTP or HTTPS straight to
// the agent; every other setup keeps the API client's path and the whole budget.
func TestProbeConnHTTPAndHTTPS(t *testing.T) {
	setup := func(addr string, conns int, proxy string) (*api.Config, *health.ProbeConn) {
		t.Helper()
		cfg := Config{ConsulAddr: addr, ConsulMaxConns: conns}
		a := consulAPIConfig(cfg, api.DefaultConfig(), nil)
		a.Token = "tok"
		if proxy != "" {
			u, err := url.Parse(proxy)
			if err != nil {
				t.Fatal(err)
			}
			a.Transport.Proxy = http.ProxyURL(u)
		}
		if _, err := api.NewClient(a); err != nil {
			t.Fatal(err)
		}
		return a, probeConn(cfg, a)
	}
	a, p := setup("127.0.0.1:8500", 16, "")
	if p == nil || p.Addr != "127.0.0.1:8500" || p.Token != "tok" || p.Dial == nil {
		t.Fatalf("plain HTTP: %+v", p)
	}
	if got := a.Transport.MaxConnsPerHost; got != 16-health.ProbeConns {
		t.Errorf("transport budget %d, want %d", got, 16-health.ProbeConns)
	}
	if _, p := setup("http://127.0.0.1:8500", 16, ""); p == nil || p.Addr != "127.0.0.1:8500" || p.TLS != nil {
		t.Errorf("http:// address: %+v", p)
	}
	// Over HTTPS with a copy of the API client's own TLS settings.
	t.Setenv("CONSUL_TLS_SERVER_NAME", "consul.example")
	a, p = setup("https://127.0.0.1:8501", 16, "")
	if p == nil || p.Addr != "127.0.0.1:8501" || p.TLS == nil || p.TLS == a.Transport.TLSClientConfig ||
		p.TLS.ServerName != "consul.example" {
		t.Errorf("https:// address: %+v", p)
	}
	if got := a.Transport.MaxConnsPerHost; got != 16-health.ProbeConns {
		t.Errorf("https: transport budget %d, want %d", got, 16-health.ProbeConns)
	}
	for _, tc := range []struct {
		name, addr, proxy string
		conns             int
	}{
		{"unix socket", "unix:///tmp/srvbridge-test-consul.sock", "", 16},
		{"path prefix", "http://127.0.0.1:8500/consul", "", 16},
		{"proxy", "10.1.2.3:8500", "http://proxy.example:3128", 16},
		{"small budget", "127.0.0.1:8500", "", minProbeBudget - 1},
	} {
		a, p := setup(tc.addr, tc.conns, tc.proxy)
		if p != nil {
			t.Errorf("%s: pipelined (%+v)", tc.name, p)
		}
		if got := a.Transport.MaxConnsPerHost; got != tc.conns {
			t.Errorf("%s: transport budget %d, want %d", tc.name, got, tc.conns)
		}
	}
}
