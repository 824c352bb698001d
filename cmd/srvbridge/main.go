// Command srvbridge is an authoritative DNS server for Consul services, built for API
// gateways such as Kong. See README.md and docs/architecture.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// version and commit are set by the Makefile:
// go build -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = "unknown"
)

const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2 // as the flag package and most CLIs do for bad usage
)

func main() {
	os.Exit(realMain(os.Args[1:], os.Getenv, os.Environ(), os.Stdout, os.Stderr))
}

// realMain is main without process globals, so that tests can drive it.
func realMain(args []string, getenv func(string) string, environ []string, stdout, stderr io.Writer) int {
	if code, ok := runSubcommand(args, getenv, stdout, stderr); ok {
		return code
	}
	cfg, err := parseConfig(args, getenv)
	switch {
	case errors.Is(err, flag.ErrHelp):
		writeUsage(stdout)
		return exitOK
	case errors.Is(err, errVersion):
		fmt.Fprintln(stdout, versionLine())
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "srvbridge: %v\n", err)
		return exitUsage
	}

	logger := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	for _, name := range unknownEnv(environ) {
		logger.Warn("ignoring environment variable that sets no flag", "name", name)
	}
	if cfg.ServiceTTL == 0 {
		logger.Warn("--service-ttl is 0: Kong's default DNS client then re-queries on every request and its balancer resolves per request; use a few seconds")
	}

	// The first SIGINT/SIGTERM starts a graceful shutdown; once it has, the handler is
	// removed so that a second signal kills the process the default way.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()

	if err := run(ctx, cfg, logger); err != nil {
		logger.Error("srvbridge failed", "err", err)
		return exitFailure
	}
	logger.Info("srvbridge stopped")
	return exitOK
}

// stopStep is one component to stop on the way out.
type stopStep struct {
	name string
	stop func(context.Context) error
}

// shutdown stops steps in order under one overall deadline: stop taking queries first,
// let in-flight ones finish, then release what they depended on. A step that overruns
// is logged and the rest still run, so the process always exits.
func shutdown(timeout time.Duration, logger *slog.Logger, steps ...stopStep) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, s := range steps {
		start := time.Now()
		if err := s.stop(ctx); err != nil {
			logger.Warn("shutdown step did not finish cleanly", "step", s.name, "err", err, "took", time.Since(start))
			continue
		}
		logger.Debug("stopped", "step", s.name, "took", time.Since(start))
	}
}
