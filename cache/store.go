package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/srvbridge/srvbridge/health"
)

// Config bounds and shapes the store.
type Config struct {
	// LocalDC is the datacenter of names that carry none; empty asks Consul when
	// Run starts (and a restored state file may name it first).
	LocalDC string
	// Prefetch holds every service of the local datacenter from the start, instead
	// of on first query. Prefetched services are not evicted.
	Prefetch bool
	// MaxServices bounds the services held on demand, and so memory; the least
	// recently queried one is released to make room.
	MaxServices int
	// IdleTimeout releases a service nobody asked for in that long.
	IdleTimeout time.Duration
	// AwaitTimeout bounds how long a first query waits for the first fetch while
	// Consul delivers no other first fetch either (await.go).
	AwaitTimeout time.Duration
	// DCRefresh is how often the datacenter list is re-read.
	DCRefresh time.Duration
	// Policy chooses what to serve when too few instances are healthy; its
	// OnlyPassing half was applied by the Source already.
	Policy health.Policy
	// MaxQueries bounds the prepared-query results kept; QueryTTL is how long one
	// is kept when the query sets no DNS TTL of its own.
	MaxQueries int
	QueryTTL   time.Duration
	// StateFile, when set, receives the last good view (see State) at most every
	// StateEvery after a change.
	StateFile  string
	StateEvery time.Duration
	// MaxStale, when set, stops answering from the cache once Consul has been
	// unreachable that long (Outage reports how long); 0 serves the last known
	// answers for as long as the outage lasts.
	MaxStale time.Duration
	Outage   func() time.Duration
	Logger   *slog.Logger
}

func (c *Config) withDefaults() {
	if c.MaxServices <= 0 {
		c.MaxServices = 4096
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.AwaitTimeout <= 0 {
		c.AwaitTimeout = 2 * time.Second
	}
	if c.DCRefresh <= 0 {
		c.DCRefresh = time.Minute
	}
	if c.MaxQueries <= 0 {
		c.MaxQueries = 1024
	}
	if c.QueryTTL <= 0 {
		c.QueryTTL = 5 * time.Second
	}
	if c.StateEvery <= 0 {
		c.StateEvery = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Store serves compiled answers of type C, produced by compile whenever a service's
// state changes. compile gets the previous value so it can rebuild what was in use.
type Store[C any] struct {
	cfg     Config
	src     Source
	compile func(prev C, svc *Service) C
	log     *slog.Logger

	snap atomic.Pointer[snapshot[C]]

	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex // serialises snapshot writers and hold bookkeeping
	onDemand  *lru.Cache[*slot[C], struct{}]
	pendingDC map[string]chan struct{}
	following map[string]bool // datacenters whose WatchDatacenter runs
	lastDCs   time.Time       // when the last datacenter read started
	dcRead    chan struct{}   // closed when the running datacenter read ends; nil if none runs

	stats     Stats
	q         queries[C]
	peersSaid atomic.Bool // the failure to list the cluster peers was logged (peer.go)

	changes        atomic.Uint64 // bumped by every applied update, for the state file
	lastFirst      atomic.Int64  // unix nanoseconds of the last first state a held slot got (await.go)
	readFromConsul atomic.Bool   // the local catalog came from Consul, not a state file
	restored       atomic.Bool
	prefetched     atomic.Bool // every service was fetched once: Ready stops checking
}

type snapshot[C any] struct {
	// localDC is the datacenter of names that carry none; "" until Consul (or a
	// state file) said which it is.
	localDC string
	local   *dcView[C]
	dcs     map[string]*dcView[C] // lower-case name → view; the local one included
	known   map[string]bool       // datacenters Consul reported
	// knownRead is false until the datacenter list was read once; until then an
	// unlisted datacenter may still exist.
	knownRead bool
}

// dcView is one datacenter's catalog. Each list is read by its own blocking query;
// the view is replaced whole when either changes.
type dcView[C any] struct {
	name         string
	services     map[string]*slot[C] // lower-case service name → slot
	servicesRead bool
	// mesh holds the connect (0) and ingress (1) entries of listed services, made
	// on their first query (mesh.go); a new one replaces the view.
	mesh      [2]map[string]*slot[C]
	nodes     map[string]*health.Node // lower-case node name → node
	nodeAddrs map[netip.Addr]*health.Node
	nodesRead bool
	// peer is set for a cluster peer's imported services (peer.go), which Consul
	// does not list: a name not held yet is a Miss, not NoService.
	peer *peerView
}

// New returns a store; call Run to start following Consul.
func New[C any](src Source, compile func(prev C, svc *Service) C, cfg Config) (*Store[C], error) {
	cfg.withDefaults()
	if cfg.MaxStale > 0 && cfg.Outage == nil {
		return nil, errors.New("cache: MaxStale needs Outage")
	}
	if err := cfg.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	s := &Store[C]{
		cfg:       cfg,
		src:       src,
		compile:   compile,
		log:       cfg.Logger,
		pendingDC: map[string]chan struct{}{},
		following: map[string]bool{},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	var err error
	s.onDemand, err = lru.NewWithEvict(cfg.MaxServices, func(sl *slot[C], _ struct{}) {
		// Called from within Add and Remove, with s.mu held. A slot that is still
		// held was pushed out by a newer one; Remove has released it already.
		if sl.held {
			s.stats.evictions.Add(1)
			s.releaseLocked(sl)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	if err := s.q.init(cfg.MaxQueries); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	s.snap.Store(&snapshot[C]{dcs: map[string]*dcView[C]{}, known: map[string]bool{}})
	if cfg.LocalDC != "" {
		s.setLocal(cfg.LocalDC)
	}
	startClock()
	return s, nil
}

// Run follows the local datacenter until ctx is cancelled.
func (s *Store[C]) Run(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		s.cancel()
	}()
	if !s.resolveLocal() {
		return nil
	}
	go s.refreshDatacentersLoop()
	go s.sweepLoop()
	if s.cfg.StateFile != "" {
		go s.persistLoop(s.cfg.StateFile, s.cfg.StateEvery)
	}
	s.mu.Lock()
	s.followLocked(s.local())
	s.mu.Unlock()
	<-s.ctx.Done()
	return nil
}

// Ready reports whether the local catalog has been read at least once.
func (s *Store[C]) Ready() (bool, string) {
	snap := s.snap.Load()
	if snap.localDC == "" {
		return false, "cannot reach Consul: the local datacenter is not known yet"
	}
	v := snap.local
	if v == nil || !v.servicesRead {
		return false, "waiting for the first catalog read from Consul"
	}
	if s.cfg.Prefetch && !s.restored.Load() && !s.prefetched.Load() {
		// Prefetch promises every service answered without a wait: ready once each
		// has its first fetch, so a replica joining a rolling restart (or a load
		// balancer) sends it nothing it would have to wait for. Only at start: later,
		// services registered in a burst (or a catalog coming back after a Consul
		// restart) must not take a serving replica out of its load balancer.
		for _, sl := range v.services {
			if sl.entry.Load() == nil {
				return false, "prefetching services from Consul"
			}
		}
		s.prefetched.Store(true)
	}
	return true, ""
}

// LocalDatacenter is the datacenter of names that carry none.
func (s *Store[C]) LocalDatacenter() string { return s.local() }

func (s *Store[C]) local() string { return s.snap.Load().localDC }

// Lookup is the per-query read: lock-free and allocation-free. dc and name must be
// lower case; an empty dc means the local one.
func (s *Store[C]) Lookup(dc, name []byte) (C, Result) {
	return s.LookupEntry(health.EntryService, dc, name)
}

// LookupEntry is Lookup of one entry of a service: the service itself, or its
// connect or ingress entry. A mesh entry of a listed service not held yet is a Miss.
func (s *Store[C]) LookupEntry(kind health.Entry, dc, name []byte) (C, Result) {
	return s.lookup(kind, dc, name, false)
}

// LookupAny is LookupEntry that returns a fetched entry even when it has no instance
// to serve: a virtual IP belongs to the service whatever the health of its instances.
func (s *Store[C]) LookupAny(kind health.Entry, dc, name []byte) (C, Result) {
	return s.lookup(kind, dc, name, true)
}

func (s *Store[C]) lookup(kind health.Entry, dc, name []byte, evenEmpty bool) (C, Result) {
	var zero C
	v, res := s.snap.Load().view(dc, false)
	if v == nil {
		return zero, res
	}
	if s.cfg.MaxStale > 0 && s.cfg.Outage() > s.cfg.MaxStale {
		return zero, NotReady // stale past what the operator accepts: SERVFAIL, as Consul
	}
	sl := v.services[string(name)]
	if sl == nil {
		if v.peer != nil {
			return zero, Miss
		}
		return zero, NoService
	}
	if kind != health.EntryService {
		if sl = v.mesh[kind-1][string(name)]; sl == nil {
			return zero, Miss
		}
	}
	sl.touch()
	e := sl.entry.Load()
	if e == nil {
		return zero, Miss
	}
	if !evenEmpty && e.svc.Empty() && e.svc.Fallback != health.FallbackNoData {
		return zero, NoService
	}
	return e.compiled, Hit
}

// view finds the datacenter a lookup is about (dc empty or the local one: the local
// view), and says why there is none: an unknown datacenter, one not read yet (Miss:
// Await reads it), or the local catalog not read yet. nodes picks which of the
// view's two lists must have been read.
func (snap *snapshot[C]) view(dc []byte, nodes bool) (*dcView[C], Result) {
	v := snap.local
	remote := len(dc) != 0 && string(dc) != snap.localDC
	if remote {
		v = snap.dcs[string(dc)]
		if v == nil && snap.knownRead && !snap.known[string(dc)] {
			return nil, NoDatacenter
		}
	}
	if v == nil || (nodes && !v.nodesRead) || (!nodes && !v.servicesRead) {
		if remote {
			return nil, Miss
		}
		return nil, NotReady
	}
	return v, Hit
}

// install publishes a new view of one datacenter. s.mu must be held.
func (s *Store[C]) install(old *snapshot[C], view *dcView[C]) {
	next := &snapshot[C]{localDC: old.localDC, local: old.local, dcs: make(map[string]*dcView[C], len(old.dcs)+1), known: old.known, knownRead: old.knownRead}
	for k, v := range old.dcs {
		next.dcs[k] = v
	}
	next.dcs[view.name] = view
	if view.name == old.localDC {
		next.local = view
	}
	s.snap.Store(next)
}

// Stats returns the store's counters.
func (s *Store[C]) Stats() *Stats { return &s.stats }

// resolveLocal asks Consul for the local datacenter unless it is known already,
// retrying with backoff until it answers or the store stops. Until then names in
// the local datacenter are not ready (SERVFAIL) and forwarding works as usual.
func (s *Store[C]) resolveLocal() bool {
	wait := 250 * time.Millisecond
	for s.local() == "" {
		dc, err := s.src.LocalDatacenter(s.ctx)
		if err == nil {
			s.setLocal(dc)
			break
		}
		s.log.Warn("cannot reach Consul to learn the local datacenter", "err", err, "retry_in", wait)
		select {
		case <-s.ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
	return true
}

// setLocal names the local datacenter, once.
func (s *Store[C]) setLocal(dc string) {
	dc = strings.ToLower(dc)
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.snap.Load()
	if old.localDC != "" {
		return
	}
	known := make(map[string]bool, len(old.known)+1)
	for k, v := range old.known {
		known[k] = v
	}
	known[dc] = true
	s.snap.Store(&snapshot[C]{localDC: dc, local: old.dcs[dc], dcs: old.dcs, known: known, knownRead: old.knownRead})
}
