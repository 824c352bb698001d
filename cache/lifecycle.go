package cache

import (
	"context"
	"strings"
	"time"

	"github.com/srvbridge/srvbridge/health"
)

// The write side: which services are held, and what the Source delivers for them.
// Every change here builds a new snapshot (store.go) or swaps one slot's entry; the
// read side never waits for any of it.

// Await is the slow path after a Miss: it holds what needs holding and waits, up to
// the configured bound, for the first answer. It never returns Miss unless it timed out.
func (s *Store[C]) Await(ctx context.Context, dc, name string) (C, Result) {
	return s.AwaitEntry(ctx, health.EntryService, dc, name)
}

// AwaitTimeout is how long Await, AwaitEntry and AwaitQuery wait at most: a caller
// that parks queries behind one Await can tell when each of them is past it.
func (s *Store[C]) AwaitTimeout() time.Duration { return s.cfg.AwaitTimeout }

// AwaitEntry is Await for one entry of a service (LookupEntry). It waits as long as
// AwaitUntil allows: the await timeout, longer through a cold burst (await.go).
func (s *Store[C]) AwaitEntry(ctx context.Context, e health.Entry, dc, name string) (C, Result) {
	start := time.Now()
	dc, name = strings.ToLower(dc), strings.ToLower(name)
	for {
		c, r := s.LookupEntry(e, []byte(dc), []byte(name))
		if r != Miss {
			return c, r
		}
		until, more := s.AwaitUntil(start, time.Now())
		if !more {
			return c, Miss
		}
		wait := s.prepare(e, dc, name)
		if wait == nil {
			// Nothing left to start or wait for: the datacenter's feed gave up,
			// or the datacenter list could not be read.
			return s.LookupEntry(e, []byte(dc), []byte(name))
		}
		t := time.NewTimer(time.Until(until))
		select {
		case <-wait:
		case <-t.C: // look again, and ask AwaitUntil again
		case <-ctx.Done():
			t.Stop()
			return c, Miss
		}
		t.Stop()
	}
}

// prepare holds what a Miss needs and returns what to wait for, or nil when waiting
// cannot help.
func (s *Store[C]) prepare(e health.Entry, dc, name string) <-chan struct{} {
	if dc == s.local() {
		dc = ""
	}
	if dc != "" && !s.snap.Load().known[dc] {
		// Wait for a read of the list; nil when one has just said dc is not there.
		return s.refreshDatacenters()
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
		s.followLocked(dc)
		return ch
	}
	sl := v.services[name]
	if v.peer != nil && e == health.EntryService {
		sl = s.peerSlotLocked(v, name)
	}
	if sl == nil {
		return closedChan
	}
	if e != health.EntryService {
		sl = s.meshSlotLocked(v, e, name)
	}
	if !sl.held {
		s.holdLocked(sl, true, nil)
	}
	sl.wmu.Lock()
	defer sl.wmu.Unlock()
	if sl.first == nil {
		return nil // it delivered since: a new lookup decides
	}
	return sl.first
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// followLocked starts following dc, once. s.mu must be held.
func (s *Store[C]) followLocked(dc string) {
	if s.following[dc] {
		return
	}
	s.following[dc] = true
	go func() {
		err := s.src.WatchDatacenter(s.ctx, dc, dcSink[C]{s, dc})
		if err == nil || s.ctx.Err() != nil {
			return
		}
		s.log.Warn("datacenter feed ended", "dc", dc, "err", err)
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.following, dc) // a later query may try again
		if ch, ok := s.pendingDC[dc]; ok {
			close(ch)
			delete(s.pendingDC, dc)
		}
	}()
}

// dcSink receives one datacenter's feed.
type dcSink[C any] struct {
	s  *Store[C]
	dc string
}

func (d dcSink[C]) Catalog(c health.Catalog) {
	d.s.applyCatalog(d.dc, c)
	if d.dc == d.s.local() {
		d.s.readFromConsul.Store(true)
	}
}

func (d dcSink[C]) Nodes(n health.Nodes) { d.s.applyNodes(d.dc, n) }

func (d dcSink[C]) Service(st health.ServiceState) {
	v := d.s.snap.Load().dcs[d.dc]
	if v == nil {
		return
	}
	e, name := health.SplitHeld(st.Service)
	m := v.services
	if e != health.EntryService {
		m = v.mesh[e-1]
	}
	if sl := m[strings.ToLower(name)]; sl != nil {
		d.s.applyService(sl, st)
		d.s.serviceChanged(sl)
		if v.peer != nil {
			d.s.peerNodes(d.dc)
		}
	}
}

// applyCatalog installs a new service list. Slots of services still listed carry over,
// so their answers are untouched; slots of vanished services are released.
func (s *Store[C]) applyCatalog(dc string, c health.Catalog) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if isPeer(dc) {
		s.peerCatalogLocked(dc)
		return
	}
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
			s.releaseLocked(sl)
		}
	}
	view := &dcView[C]{name: dc, services: svcs, servicesRead: true}
	if v := old.dcs[dc]; v != nil {
		view.nodes, view.nodeAddrs, view.nodesRead = v.nodes, v.nodeAddrs, v.nodesRead
		view.mesh = s.keepMeshLocked(v, svcs)
	}
	s.install(old, view)
	s.changes.Add(1)
	if ch, ok := s.pendingDC[dc]; ok {
		close(ch)
		delete(s.pendingDC, dc)
	}
	if s.cfg.Prefetch && dc == s.local() {
		for _, sl := range svcs {
			if !sl.held {
				s.holdLocked(sl, false, nil)
			}
		}
	}
}

// holdLocked asks the source to keep sl fresh. saved, when set, is served until the
// first fetch replaces it (a restored state file). s.mu must be held.
func (s *Store[C]) holdLocked(sl *slot[C], onDemand bool, saved *health.ServiceState) {
	sl.held = true
	sl.lastUsed.Store(coarseNow.Load())
	sl.wmu.Lock()
	sl.live, sl.first = true, make(chan struct{})
	sl.wmu.Unlock()
	if saved != nil {
		s.applyService(sl, *saved)
	}
	s.stats.watches.Add(1)
	if onDemand {
		s.onDemand.Add(sl, struct{}{})
	}
	s.src.Hold(sl.dc, health.HeldName(sl.kind, sl.name)) // after the saved state, which it must replace
}

// releaseLocked forgets sl's answers and stops keeping it fresh. s.mu must be held.
func (s *Store[C]) releaseLocked(sl *slot[C]) {
	if !sl.held {
		return
	}
	sl.held = false
	s.src.Release(sl.dc, health.HeldName(sl.kind, sl.name))
	s.stats.watches.Add(-1)
	s.onDemand.Remove(sl)
	sl.wmu.Lock()
	sl.live = false
	if sl.first != nil {
		close(sl.first) // a waiting Await looks again, and holds again
		sl.first = nil
	}
	old := sl.entry.Swap(nil)
	sl.wmu.Unlock()
	account(&s.stats, old, nil)
	if isPeer(sl.dc) {
		s.dropPeerSlotLocked(sl)
	}
}

// applyService compiles and publishes a new state of sl, unless sl was released.
func (s *Store[C]) applyService(sl *slot[C], u health.ServiceState) {
	insts, fb := s.cfg.Policy.Choose(u.Instances)
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
	if !sl.live {
		return // released since the fetch started
	}
	var prev C
	old := sl.entry.Load()
	if old != nil {
		prev = old.compiled
	}
	e := &entry[C]{svc: svc, compiled: s.compile(prev, svc)}
	sl.entry.Store(e)
	if sl.first != nil {
		close(sl.first)
		sl.first = nil
		s.lastFirst.Store(time.Now().UnixNano())
	}
	s.changes.Add(1)
	account(&s.stats, old, e)
}
