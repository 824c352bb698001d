package main

import (
	"bytes"
	"log/slog"
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
