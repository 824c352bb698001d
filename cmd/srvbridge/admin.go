package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// readiness is what /readyz reports. Start-up moves through stages (waiting for
// Consul, then the cache's own view) and shutdown turns it off again, so it is a
// settable gate rather than a fixed function.
type readiness struct {
	mu       sync.Mutex
	check    func() (bool, string)
	reason   string
	degraded func() (bool, string)
}

// SetDegraded adds a check whose failure /readyz reports without turning unready:
// stale answers are still the best answers there are.
func (r *readiness) SetDegraded(check func() (bool, string)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.degraded = check
}

// Degraded reports whether answers are stale, and why.
func (r *readiness) Degraded() (bool, string) {
	r.mu.Lock()
	check := r.degraded
	r.mu.Unlock()
	if check == nil {
		return false, ""
	}
	return check()
}

// NotReady makes /readyz answer 503 with reason until SetCheck is called.
func (r *readiness) NotReady(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.check, r.reason = nil, reason
}

// SetCheck delegates readiness to check, typically the cache's Ready method.
func (r *readiness) SetCheck(check func() (bool, string)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.check, r.reason = check, ""
}

// Ready reports readiness and, when not ready or degraded, why.
func (r *readiness) Ready() (bool, string) {
	r.mu.Lock()
	check, reason := r.check, r.reason
	r.mu.Unlock()
	if check == nil {
		if reason == "" {
			reason = "starting"
		}
		return false, reason
	}
	ok, reason := check()
	if ok {
		if d, why := r.Degraded(); d {
			return true, "degraded: " + why
		}
	}
	return ok, reason
}

// newAdminHandler serves the admin endpoints. ready is consulted on every /readyz
// request; reg backs /metrics; status is the page at /.
func newAdminHandler(ready func() (bool, string), reg *prometheus.Registry, status http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", status)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		ok, reason := ready()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: %s\n", reason)
			return
		}
		if reason != "" {
			// Still ready: stale answers beat none. Operators see the why here and
			// in srvbridge_degraded.
			fmt.Fprintf(w, "ready (%s)\n", reason)
			return
		}
		io.WriteString(w, "ready\n")
	})
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(reg,
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))
	return mux
}

// adminServer is the admin HTTP listener.
type adminServer struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// startAdmin binds addr before returning, so that a taken port fails start-up with a
// clear error instead of a log line from a goroutine.
func startAdmin(addr string, h http.Handler, logger *slog.Logger) (*adminServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin http: %w", err)
	}
	a := &adminServer{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 5 * time.Second,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
		ln:   ln,
		done: make(chan struct{}),
	}
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("admin http stopped", "err", err)
		}
	}()
	return a, nil
}

// Addr is the bound address, useful when the configured port was 0.
func (a *adminServer) Addr() string { return a.ln.Addr().String() }

// Shutdown stops the listener and waits for in-flight requests until ctx ends.
func (a *adminServer) Shutdown(ctx context.Context) error {
	err := a.srv.Shutdown(ctx)
	<-a.done
	return err
}
