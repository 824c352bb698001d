package health

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/srvbridge/srvbridge/internal/consultest"
)

func errNoDCForTest() error {
	return api.StatusError{Code: 500, Body: "No path to datacenter"}
}

func TestClassifyNoDatacenter(t *testing.T) {
	err := classify("dc9", errNoDCForTest())
	if !errors.Is(err, ErrNoDatacenter) || !strings.Contains(err.Error(), "dc9") {
		t.Errorf("classify = %v, want ErrNoDatacenter naming dc9", err)
	}
	other := api.StatusError{Code: 500, Body: "rpc error: leadership lost"}
	if err := classify("dc1", other); errors.Is(err, ErrNoDatacenter) {
		t.Errorf("classify(%v) = %v, must not be ErrNoDatacenter", other, err)
	}
}

func TestRedact(t *testing.T) {
	const secret = "b1946ac9-2a6d-4a2b-9a3c-SECRET"
	cause := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	ue := &url.Error{Op: "Get", URL: "http://127.0.0.1:1/v1/health/service/web?dc=dc1&token=" + secret + "&index=5", Err: cause}
	for _, err := range []error{ue, errors.New("x: " + ue.Error())} {
		got := redact(err)
		if strings.Contains(got.Error(), secret) {
			t.Errorf("redact(%q) = %q: token still there", err, got)
		}
		if !strings.Contains(got.Error(), "dc=dc1") {
			t.Errorf("redact(%q) = %q: removed more than the token", err, got)
		}
	}
	var opErr *net.OpError
	if !errors.As(redact(ue), &opErr) {
		t.Error("redacted *url.Error lost its network cause")
	}
}

// TestTokenNotInErrorsOrLogs: with a token configured the way production does it
// (api.Config.Token, sent as a header), neither errors nor logs may contain it.
// Needs: the Consul v1.16.3 binary.
func TestTokenNotInErrorsOrLogs(t *testing.T) {
	const secret = "6a1f7e4c-0d9b-4c55-8d0e-TOKENVALUE"
	a := consultest.Start(t)
	addr := a.HTTPAddr
	client, err := api.NewClient(&api.Config{Address: addr, Token: secret})
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	w := NewWatcher(Config{Client: client, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})

	// Sanity: the token is accepted by an agent without ACLs.
	if _, err := w.LocalDatacenter(context.Background()); err != nil {
		t.Fatal(err)
	}

	a.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = w.LocalDatacenter(ctx)
	if err == nil {
		t.Fatal("LocalDatacenter on a dead agent: no error")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error contains the token: %v", err)
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q does not say which agent failed", err)
	}

	wctx, wcancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.WatchCatalog(wctx, "", func(Catalog) {}) }()
	consultest.Eventually(t, 10*time.Second, func() error {
		// The watch's own failure, then the outage gate's probes (with the token too).
		if w.Stats().Errors(KindCatalog) < 1 || w.Stats().Errors(KindProbe) < 2 {
			return errors.New("waiting for failed requests")
		}
		return nil
	})
	wcancel()
	<-done
	if strings.Contains(logs.String(), secret) {
		t.Errorf("logs contain the token:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "consul request failed") {
		t.Errorf("outage not logged:\n%s", logs.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
