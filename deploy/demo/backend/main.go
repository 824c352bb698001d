// Command backend is a tiny HTTP service for the srvbridge demo: it answers GET / and
// GET /api with its name (/api as JSON, like deploy/sample-service, so that requests
// through the demo's gateway show which instance answered) and GET /health with 200,
// or 503 once told to fail, so that a demo can flip an instance's Consul health check
// without stopping a process: the instance keeps serving, and only the health check,
// hence DNS, hence the gateway, takes it out of rotation.
//
//	backend --addr 127.0.0.1:18081 --name web-1
//	curl 127.0.0.1:18081/api              # {"instance":"web-1"}
//	curl -X POST 127.0.0.1:18081/fail     # /health answers 503 from now on
//	curl -X POST 127.0.0.1:18081/recover  # and 200 again
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	name := flag.String("name", "", "instance name to report (default: the listen address)")
	failing := flag.Bool("failing", false, "start with /health answering 503")
	flag.Parse()
	if *name == "" {
		*name = *addr
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("name", *name)

	b := &backend{name: *name, log: log}
	b.failing.Store(*failing)
	srv := &http.Server{Addr: *addr, Handler: b.handler(), ReadHeaderTimeout: 5 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shutdownCtx)
	}()
	log.Info("listening", "addr", *addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(os.Stderr, "backend: %v\n", err)
		os.Exit(1)
	}
}

type backend struct {
	name    string
	failing atomic.Bool
	log     *slog.Logger
}

func (b *backend) handler() http.Handler {
	api, _ := json.Marshal(struct {
		Instance string `json:"instance"`
	}{b.name})
	api = append(api, '\n')
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", b.name)
	})
	mux.HandleFunc("GET /api", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(api)
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		if b.failing.Load() {
			http.Error(w, "failing", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("POST /fail", func(w http.ResponseWriter, r *http.Request) {
		b.failing.Store(true)
		b.log.Info("health set to failing")
		fmt.Fprintf(w, "%s: /health now answers 503\n", b.name)
	})
	mux.HandleFunc("POST /recover", func(w http.ResponseWriter, r *http.Request) {
		b.failing.Store(false)
		b.log.Info("health set to passing")
		fmt.Fprintf(w, "%s: /health now answers 200\n", b.name)
	})
	return mux
}
