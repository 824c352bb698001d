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
	// Prefetch watches every service of the local datacenter from the start, instead
	// of on first query. Prefetched watches are not evicted.
	Prefetch bool
	// MaxServices bounds the services watched on demand; the least recently queried
	// one is dropped to make room.
	MaxServices int
	// IdleTimeout stops the watch of a service nobody asked for in that long.
	IdleTimeout time.Duration
	// AwaitTimeout bounds how long a first query waits for the first fetch.
	AwaitTimeout time.Duration
	// DCRefresh is how often the datacenter list is re-read.
	DCRefresh time.Duration
	// Policy chooses what to serve when too few instances are healthy.
	Policy Policy
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

	mu        sync.Mutex // serialises snapshot writers and watch bookkeeping
	onDemand  *lru.Cache[*slot[C], struct{}]
	pendingDC map[string]chan struct{}
	lastDCs   time.Time

	stats Stats
	q     queries[C]

	changes        atomic.Uint64 // bumped by every applied update, for the state file
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

// dcView is one datacenter's catalog. Each list is read by its own watch; the view is
// replaced whole when either changes.
type dcView[C any] struct {
	name         string
	services     map[string]*slot[C] // lower-case service name → slot
	servicesRead bool
	nodes        map[string]*health.Node // lower-case node name → node
	nodeAddrs    map[netip.Addr]*health.Node
	nodesRead    bool
}

// New returns a store; call Run to start watching.
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
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	var err error
	s.onDemand, err = lru.NewWithEvict(cfg.MaxServices, func(sl *slot[C], _ struct{}) {
		// Called from within Add and Remove, with s.mu held. A slot that is still
		// watching was pushed out by a newer one; Remove has stopped it already.
		if sl.watching() {
			s.stats.evictions.Add(1)
			s.stopWatchLocked(sl)
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

// Run watches the local catalog until ctx is cancelled, then stops every watch.
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
	s.watchCatalog(s.local())
	<-s.ctx.Done()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.snap.Load().dcs {
		for _, sl := range v.services {
			s.stopWatchLocked(sl)
		}
	}
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
		return zero, NoService
	}
	sl.touch()
	e := sl.entry.Load()
	if e == nil {
		return zero, Miss
	}
	if e.svc.Empty() && e.svc.Fallback != FallbackNoData {
		return zero, NoService
	}
	return e.compiled, Hit
}

// Await is the slow path after a Miss: it starts what needs watching and waits, up to
// the configured bound, for the first answer. It never returns Miss unless it timed out.
func (s *Store[C]) Await(ctx context.Context, dc, name string) (C, Result) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.AwaitTimeout)
	defer cancel()
	dc, name = strings.ToLower(dc), strings.ToLower(name)
	for {
		c, r := s.Lookup([]byte(dc), []byte(name))
		if r != Miss {
			return c, r
		}
		wait := s.prepare(dc, name)
		if wait == nil {
			// Nothing left to start or wait for: a watch gave up, or the
			// datacenter list could not be read.
			return s.Lookup([]byte(dc), []byte(name))
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return c, Miss
		}
	}
}

// prepare starts the watch a Miss needs and returns what to wait for, or nil when
// waiting cannot help.
func (s *Store[C]) prepare(dc, name string) <-chan struct{} {
	if dc == s.local() {
		dc = ""
	}
	if dc != "" && !s.snap.Load().known[dc] {
		s.refreshDatacenters()
		if !s.snap.Load().known[dc] {
			return nil
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := s.snap.Load()
	v := snap.local
	if dc != "" {
		v = snap.dcs[dc]
	}
	if v == nil || !v.servicesRead {
		if dc == "" {
			return nil
		}
		if ch, ok := s.pendingDC[dc]; ok {
			return ch
		}
		ch := make(chan struct{})
		s.pendingDC[dc] = ch
		s.watchCatalog(dc)
		return ch
	}
	sl := v.services[name]
	if sl == nil {
		return closedChan
	}
	if sl.watching() {
		select {
		case <-sl.first:
			return nil // it delivered, or gave up: either way a new lookup decides
		default:
			return sl.first
		}
	}
	s.startWatchLocked(sl, true)
	return sl.first
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (s *Store[C]) watchCatalog(dc string) {
	go func() {
		err := s.src.WatchNodes(s.ctx, dc, func(n health.Nodes) { s.applyNodes(dc, n) })
		if err != nil && s.ctx.Err() == nil {
			s.log.Warn("node watch ended", "dc", dc, "err", err)
		}
	}()
	go func() {
		err := s.src.WatchCatalog(s.ctx, dc, func(c health.Catalog) {
			s.applyCatalog(dc, c)
			if dc == s.local() {
				s.readFromConsul.Store(true)
			}
		})
		if err != nil && s.ctx.Err() == nil {
			s.log.Warn("catalog watch ended", "dc", dc, "err", err)
			s.mu.Lock()
			if ch, ok := s.pendingDC[dc]; ok {
				close(ch)
				delete(s.pendingDC, dc)
			}
			s.mu.Unlock()
		}
	}()
}

// applyCatalog installs a new service list. Slots of services still listed carry over,
// so their watches and answers are untouched; slots of vanished services stop.
func (s *Store[C]) applyCatalog(dc string, c health.Catalog) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.snap.Load()
	var oldSvcs map[string]*slot[C]
	if v := old.dcs[dc]; v != nil {
		oldSvcs = v.services
	}
	svcs := make(map[string]*slot[C], len(c.Services))
	for name := range c.Services {
		key := strings.ToLower(name)
		if _, dup := svcs[key]; dup {
			continue
		}
		if sl := oldSvcs[key]; sl != nil {
			svcs[key] = sl
			continue
		}
		svcs[key] = &slot[C]{name: name, dc: dc}
	}
	for key, sl := range oldSvcs {
		if svcs[key] != sl {
			s.stopWatchLocked(sl)
		}
	}
	view := &dcView[C]{name: dc, services: svcs, servicesRead: true}
	if v := old.dcs[dc]; v != nil {
		view.nodes, view.nodeAddrs, view.nodesRead = v.nodes, v.nodeAddrs, v.nodesRead
	}
	s.install(old, view)
	s.changes.Add(1)
	if ch, ok := s.pendingDC[dc]; ok {
		close(ch)
		delete(s.pendingDC, dc)
	}
	if s.cfg.Prefetch && dc == s.local() {
		for _, sl := range svcs {
			if !sl.watching() {
				s.startWatchLocked(sl, false)
			}
		}
	}
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

func (s *Store[C]) startWatchLocked(sl *slot[C], onDemand bool) {
	ctx, cancel := context.WithCancel(s.ctx)
	first := make(chan struct{})
	sl.cancel, sl.first = cancel, first
	sl.lastUsed.Store(coarseNow.Load())
	sl.wmu.Lock()
	sl.gen++
	gen := sl.gen
	sl.wmu.Unlock()
	s.stats.watches.Add(1)
	if onDemand {
		s.onDemand.Add(sl, struct{}{})
	}
	go func() {
		var once sync.Once
		done := func() { once.Do(func() { close(first) }) }
		defer done()
		err := s.src.WatchService(ctx, sl.dc, sl.name, func(u health.Update) {
			s.applyService(sl, gen, u)
			done()
		})
		if err != nil && ctx.Err() == nil {
			s.log.Warn("service watch ended", "dc", sl.dc, "service", sl.name, "err", err)
		}
	}()
}

func (s *Store[C]) stopWatchLocked(sl *slot[C]) {
	if !sl.watching() {
		return
	}
	sl.cancel()
	sl.cancel = nil
	s.stats.watches.Add(-1)
	s.onDemand.Remove(sl)
	sl.wmu.Lock()
	sl.gen++
	old := sl.entry.Swap(nil)
	sl.wmu.Unlock()
	account(&s.stats, old, nil)
}

func (s *Store[C]) applyService(sl *slot[C], gen uint64, u health.Update) {
	insts, fb := s.cfg.Policy.choose(u.Instances)
	svc := &Service{
		Name:       sl.name,
		Datacenter: sl.dc,
		Instances:  insts,
		All:        u.Instances,
		Index:      u.Index,
		Updated:    time.Now(),
		Fallback:   fb,
	}
	sl.wmu.Lock()
	defer sl.wmu.Unlock()
	if sl.gen != gen {
		return // the watch that sent this was stopped meanwhile
	}
	var prev C
	old := sl.entry.Load()
	if old != nil {
		prev = old.compiled
	}
	e := &entry[C]{svc: svc, compiled: s.compile(prev, svc)}
	sl.entry.Store(e)
	s.changes.Add(1)
	account(&s.stats, old, e)
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
