package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewHandler serves the admin endpoints. ready is consulted on every /readyz
// request; reg backs /metrics; status is the page at /.
func NewHandler(ready func() (bool, string), reg *prometheus.Registry, status http.Handler) http.Handler {
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

// Server is the admin HTTP listener.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// Start binds addr before returning, so that a taken port fails start-up with a
// clear error instead of a log line from a goroutine.
func Start(addr string, h http.Handler, logger *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin http: %w", err)
	}
	a := &Server{
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
func (a *Server) Addr() string { return a.ln.Addr().String() }

// Shutdown stops the listener and waits for in-flight requests until ctx ends.
func (a *Server) Shutdown(ctx context.Context) error {
	err := a.srv.Shutdown(ctx)
	<-a.done
	return err
}
