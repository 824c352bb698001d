package main

// run.go wires the packages together: with sources.go (the adapters that map their
// stats onto the small interfaces internal/admin reads), it is the only file in this
// command that names health, cache, resolver and forward APIs.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/srvbridge/srvbridge/cache"
	"github.com/srvbridge/srvbridge/health"
	"github.com/srvbridge/srvbridge/internal/admin"
	"github.com/srvbridge/srvbridge/resolver"
	"github.com/srvbridge/srvbridge/resolver/forward"
)

func run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	var conns connCounter
	apiCfg := consulAPIConfig(cfg, api.DefaultConfig(), &conns)
	logger.Info("starting srvbridge", "version", version, "commit", commit,
		"config", cfg, consulLogAttrs(apiCfg))
	client, err := api.NewClient(apiCfg)
	if err != nil {
		return fmt.Errorf("consul client for %s: %w", cfg.ConsulAddr, err)
	}
	h2 := countHTTP2(apiCfg) // NewClient set apiCfg.HttpClient, the client it uses
	// Before the first request: it may take a connection off the transport's share.
	probes := probeConn(cfg, apiCfg)
	// Before anything starts: an upstream that loops back to us is a configuration
	// error, and the process exits with it.
	fwd, err := newForwarder(cfg, logger)
	if err != nil {
		return err
	}

	// Admin first, so that liveness and "why not ready" are visible while Consul is
	// still unreachable.
	coll := admin.NewCollector(currentBuildInfo(), time.Now)
	var ready admin.Readiness
	ready.NotReady("connecting to Consul")
	adminSrv, err := admin.Start(cfg.HTTPAddr, admin.NewHandler(ready.Ready, admin.NewRegistry(coll),
		admin.NewStatusPage(coll, ready.Ready, cfg.ConsulAddr)), logger)
	if err != nil {
		return err
	}
	logger.Info("admin http listening", "addr", adminSrv.Addr())

	watcher := health.NewWatcher(health.Config{
		Client:     client,
		Policy:     cfg.Policy,
		AllowStale: true, // WaitTime and MinInterval: health's defaults
		MaxConns:   cfg.ConsulMaxConns,
		Probes:     probes,
		Logger:     logger.With("component", "health"),
	})
	consul := healthStats{s: watcher.Stats(), w: watcher, conns: &conns, h2: h2}
	coll.SetSources(admin.Sources{Consul: consul, ACL: watcherACL{watcher}, Ready: ready.Ready})

	// DNS starts whether or not Consul answers: names outside the Consul domain are
	// forwarded regardless, and Consul names get SERVFAIL until the catalog is read
	// (or, with a state file, the saved answers). One quick try tells which.
	var dc string
	var warm *cache.State
	tryCtx, cancelTry := context.WithTimeout(ctx, 2*time.Second)
	dc, err = localDatacenter(tryCtx, cfg.Datacenter, watcher)
	cancelTry()
	if errors.Is(err, errUnknownDatacenter) {
		stopAdmin(cfg, logger, adminSrv)
		return err
	}
	consulUp := err == nil
	if err != nil {
		ready.NotReady(admin.ConsulProblem(err))
		logger.Warn("no answer from Consul yet; will keep trying", "err", err)
		if cfg.StateFile != "" {
			if st, serr := cache.ReadState(cfg.StateFile); serr != nil {
				logger.Warn("state file not used", "err", serr)
			} else {
				warm = &st
			}
		}
	}
	ready.NotReady("reading the Consul catalog")

	rcfg := resolver.Config{
		Addr:        cfg.DNSAddr,
		Domain:      cfg.Domain,
		TTL:         cfg.ServiceTTL,
		TTLs:        cfg.ServiceTTLs,
		AltDomain:   cfg.AltDomain,
		NSName:      cfg.NSName,
		NSAddrs:     cfg.NSAddrs,
		MaxUDPSize:  cfg.MaxUDPSize,
		UDPSockets:  cfg.UDPSockets,
		UDPReader:   cfg.UDPReader,
		NegativeTTL: cfg.NegativeTTL,
		Logger:      logger.With("component", "resolver"),

		AwaitMaxBytes: cfg.AwaitMaxBytes,

		AllowRecursion: cfg.AllowRecursion,
		SearchSuffixes: cfg.SearchSuffixes,
	}
	if fwd != nil { // a nil *Forwarder in the interface would not be a nil Forwarder
		rcfg.Forwarder = fwd
	}
	compiler, err := resolver.NewCompiler(rcfg)
	if err != nil {
		stopAdmin(cfg, logger, adminSrv)
		return fmt.Errorf("resolver: %w", err)
	}
	store, err := cache.New(watcher, compiler.Compile, cache.Config{
		LocalDC:      dc,
		Prefetch:     cfg.Prefetch,
		MaxServices:  cfg.MaxServices,
		IdleTimeout:  cfg.IdleTimeout,
		AwaitTimeout: cfg.AwaitTimeout,
		Policy:       cfg.Policy,
		MaxStale:     cfg.MaxStale,
		Outage:       watcher.Stats().Outage,
		StateFile:    cfg.StateFile,
		Logger:       logger.With("component", "cache"),
	})
	if err != nil {
		stopAdmin(cfg, logger, adminSrv)
		return fmt.Errorf("cache: %w", err)
	}
	if warm != nil {
		if err := store.Restore(*warm); err != nil {
			logger.Warn("state file not used", "state_file", cfg.StateFile, "err", err)
		} else {
			logger.Warn("serving the saved state until Consul answers", "state_file", cfg.StateFile,
				"saved_at", warm.SavedAt, "datacenter", warm.LocalDC)
		}
	}

	// The store gets its own context: queries still in flight when the signal arrives
	// need it while the resolver drains, so it stops after the resolver.
	storeCtx, stopStore := context.WithCancel(context.Background())
	defer stopStore()
	storeDone := make(chan struct{})
	var storeErr error
	go func() {
		defer close(storeDone)
		storeErr = store.Run(storeCtx)
	}()
	stopStoreStep := stopStep{"cache", func(ctx context.Context) error {
		stopStore()
		select {
		case <-storeDone:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}

	// A replica sharing the address (SO_REUSEPORT, rolling restart) gets queries
	// from the moment it binds, so when Consul answers, bind once the answers are
	// ready - bounded, so a slow catalog cannot keep DNS (and forwarding) down.
	if consulUp {
		waitReady(ctx, admin.Settled(store.Ready, watcher.Denied), startReadyWait)
	}
	srv := resolver.New(compiler, store)
	if err := srv.Start(); err != nil {
		shutdown(cfg.ShutdownTimeout, logger, stopStoreStep, stopStep{"admin http", adminSrv.Shutdown})
		return fmt.Errorf("dns on %s: %w", cfg.DNSAddr, err)
	}
	logger.Info("srvbridge started", "dns_addr", cfg.DNSAddr, "domain", cfg.Domain, "datacenter", store.LocalDatacenter())
	coll.SetSources(admin.Sources{Queries: srv.Stats(), Consul: consul, Cache: cacheStatsOf{store.Stats()},
		Forward: forwardStatsOf{srv.Stats(), fwd}, Answers: answerStatsOf{srv.Stats(), watcher.Stats(), store},
		Services: storeListing{store}, ACL: watcherACL{watcher}, Ready: ready.Ready})
	ready.SetCheck(admin.ReadyUnlessRefused(store.Ready, watcher.Denied))
	ready.SetDegraded(admin.DegradedOrRefused(func() (bool, string) { return degraded(store, watcher.Stats()) }, watcher.Denied))

	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down", "cause", context.Cause(ctx))
	case <-storeDone:
		if storeErr != nil && !errors.Is(storeErr, context.Canceled) {
			runErr = fmt.Errorf("cache stopped: %w", storeErr)
		} else {
			runErr = errors.New("cache stopped unexpectedly")
		}
	}
	ready.NotReady("shutting down")
	shutdown(cfg.ShutdownTimeout, logger,
		stopStep{"dns", srv.Shutdown},
		stopStoreStep,
		stopStep{"admin http", adminSrv.Shutdown},
	)
	return runErr
}

// resolvConf is where the default upstreams come from.
const resolvConf = "/etc/resolv.conf"

// newForwarder builds the forwarder for names outside the domain; nil when there is
// nothing to forward to, and such names are then REFUSED.
func newForwarder(cfg Config, logger *slog.Logger) (*forward.Forwarder, error) {
	ups := cfg.Upstreams
	if ups == nil && !cfg.NoUpstreams {
		found, err := forward.ResolvConf(resolvConf)
		if err != nil {
			logger.Warn("cannot read the default upstreams; use --upstream", "err", err)
		}
		for _, ap := range found {
			// A host whose resolver is srvbridge itself: forwarding there would loop.
			if self, err := forward.PointsAtSelf(cfg.DNSAddr, ap); err != nil || self {
				logger.Warn("ignoring a nameserver of "+resolvConf+" that is srvbridge itself", "nameserver", ap)
				continue
			}
			ups = append(ups, ap)
		}
	}
	if len(ups) == 0 && len(cfg.Stubs) == 0 {
		logger.Warn("forwarding is off: no upstreams and no stub zones; names outside the domain are answered REFUSED")
		return nil, nil
	}
	strategy, _ := forward.ParseStrategy(cfg.UpstreamStrategy) // validated in parseConfig
	stubs := make([]forward.Stub, len(cfg.Stubs))
	for i, s := range cfg.Stubs {
		stubs[i] = forward.Stub{Zone: s.Zone, Upstreams: s.Servers}
	}
	fwd, err := forward.New(forward.Config{
		Upstreams:    ups,
		Strategy:     strategy,
		Timeout:      cfg.UpstreamTimeout,
		Stubs:        stubs,
		CacheEntries: cfg.ForwardCacheSize,
		CacheBytes:   cfg.ForwardCacheBytes,
		Stale:        cfg.ForwardStale,
		Listen:       cfg.DNSAddr,
		Logger:       logger.With("component", "forward"),
	})
	if err != nil {
		return nil, fmt.Errorf("forwarding (--upstream, --stub): %w", err)
	}
	logger.Info("forwarding names outside the domain", "upstreams", ups, "stub_zones", len(stubs))
	return fwd, nil
}

// stopAdmin is the shutdown for the early exits, before DNS is up.
func stopAdmin(cfg Config, logger *slog.Logger, srv *admin.Server) {
	shutdown(cfg.ShutdownTimeout, logger, stopStep{"admin http", srv.Shutdown})
}

// startReadyWait bounds how long DNS waits at start for the first answers.
const startReadyWait = 5 * time.Second

func waitReady(ctx context.Context, ready func() (bool, string), bound time.Duration) {
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if ok, _ := ready(); ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
