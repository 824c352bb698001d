package cache

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/srvbridge/srvbridge/health"
)

// Prepared queries cannot be watched with blocking queries, so a result is kept fresh
// two ways. Push: the service a result names is held like a queried service, and each
// change the feed delivers for it executes the query again, so a query in use is as
// fresh as a service answer (one more request per change). Time: a result is served
// for at most the query's TTL (the default QueryTTL when it sets none), and refreshed
// in the background once half of that has passed while it is being asked for. An
// expired result is not served: the query waits for a new execution, as a first one
// does, and gets the old result only if that execution fails (stale if error). So a
// first answer after a long idle period is never older than the query's TTL.

type queries[C any] struct {
	m   atomic.Pointer[map[string]map[string]*queryEntry[C]] // dc → name → entry
	mu  sync.Mutex                                           // writers
	lru *lru.Cache[queryKey, struct{}]
	run sync.Map // queryKey → chan struct{}: executions in flight
}

type queryKey struct{ dc, name string }

type queryEntry[C any] struct {
	svc      *Service
	compiled C
	result   Result // Hit, or the negative result to give
	fetched  int64  // coarse unix seconds of the execution
	// slot is the held service the result names, nil if none is followed; its
	// changes execute the query again (serviceChanged).
	slot       *slot[C]
	expires    atomic.Int64 // coarse unix seconds; moved on when a refresh fails
	refreshing atomic.Bool
}

func (q *queries[C]) init(max int) error {
	q.m.Store(&map[string]map[string]*queryEntry[C]{})
	var err error
	q.lru, err = lru.NewWithEvict(max, func(k queryKey, _ struct{}) { q.remove(k) })
	return err
}

// LookupQuery is Lookup for <name>.query names. It never waits: a result past its TTL
// is a Miss (AwaitQuery executes the query again), and one past half of it is served
// while a refresh runs.
func (s *Store[C]) LookupQuery(dc, name []byte) (C, Result) {
	var zero C
	e := (*s.q.m.Load())[string(dc)][string(name)]
	if e == nil {
		return zero, Miss
	}
	now, exp := coarseNow.Load(), e.expires.Load()
	if now >= exp {
		return zero, Miss
	}
	if now >= e.fetched+(exp-e.fetched)/2 && e.refreshing.CompareAndSwap(false, true) {
		go s.executeQuery(string(dc), string(name))
	}
	if e.slot != nil {
		e.slot.touch() // the service stays held while the query is asked for
	}
	if e.result != Hit {
		return zero, e.result
	}
	return e.compiled, Hit
}

// AwaitQuery executes a query not seen before (or evicted) and returns its result.
func (s *Store[C]) AwaitQuery(ctx context.Context, dc, name string) (C, Result) {
	k := queryKey{dc, name}
	ch := make(chan struct{})
	if running, loaded := s.q.run.LoadOrStore(k, ch); loaded {
		ch = running.(chan struct{})
	} else {
		go func() {
			s.executeQuery(dc, name)
			s.q.run.Delete(k)
			close(ch)
		}()
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.AwaitTimeout)
	defer cancel()
	select {
	case <-ch:
	case <-ctx.Done():
	}
	return s.LookupQuery([]byte(dc), []byte(name))
}

// serviceChanged executes again every prepared query whose result named sl, which the
// feed just delivered a new state of.
func (s *Store[C]) serviceChanged(sl *slot[C]) {
	for dc, byName := range *s.q.m.Load() {
		for name, e := range byName {
			if e.slot == sl && e.refreshing.CompareAndSwap(false, true) {
				go s.executeQuery(dc, name)
			}
		}
	}
}

func (s *Store[C]) executeQuery(dc, name string) {
	r, err := s.src.ExecuteQuery(s.ctx, dc, name)
	now := time.Now()
	ttl := s.cfg.QueryTTL
	if r.TTL > 0 {
		ttl = r.TTL
	}
	e := &queryEntry[C]{result: Hit, fetched: now.Unix()}
	e.expires.Store(now.Add(ttl).Unix())
	switch {
	case errors.Is(err, health.ErrNoQuery):
		e.result = NoService
	case errors.Is(err, health.ErrNoDatacenter):
		e.result = NoDatacenter
	case err != nil:
		s.log.Warn("executing prepared query", "dc", dc, "query", name, "err", err)
		if old := (*s.q.m.Load())[dc][name]; old != nil {
			// Keep serving what the query last returned (stale if error, as for
			// services during an outage); try again shortly.
			old.expires.Store(max(old.expires.Load(), now.Add(time.Second).Unix()))
			old.refreshing.Store(false)
		}
		return
	default:
		insts, fb := s.cfg.Policy.Choose(r.Instances)
		e.svc = &Service{Name: r.Service, Datacenter: r.Datacenter, Instances: insts, All: r.Instances,
			Updated: now, Fallback: fb, TTL: r.TTL}
		if e.svc.Datacenter == "" {
			e.svc.Datacenter = s.local()
		}
		var prev C
		if old := (*s.q.m.Load())[dc][name]; old != nil && old.result == Hit {
			prev = old.compiled
		}
		e.compiled = s.compile(prev, e.svc)
		if e.svc.Empty() && fb != health.FallbackNoData {
			e.result = NoService
		}
		e.slot = s.holdForQuery(e.svc.Datacenter, r.Service)
	}
	s.q.store(dc, name, e)
}

// holdForQuery holds the service a query result names, so that the feed reports its
// changes, and returns its slot; nil when its datacenter is not followed (a failover
// to a datacenter nobody asked about) or the catalog does not list it: the query is
// then refreshed by time only.
func (s *Store[C]) holdForQuery(dc, service string) *slot[C] {
	if service == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.snap.Load().dcs[strings.ToLower(dc)]
	if v == nil || !v.servicesRead {
		return nil
	}
	sl := v.services[strings.ToLower(service)]
	if sl != nil && !sl.held {
		s.holdLocked(sl, true, nil)
	}
	return sl
}

func (q *queries[C]) store(dc, name string, e *queryEntry[C]) {
	q.mu.Lock()
	old := *q.m.Load()
	next := make(map[string]map[string]*queryEntry[C], len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	byName := make(map[string]*queryEntry[C], len(old[dc])+1)
	for k, v := range old[dc] {
		byName[k] = v
	}
	byName[name] = e
	next[dc] = byName
	q.m.Store(&next)
	q.mu.Unlock()
	q.lru.Add(queryKey{dc, name}, struct{}{}) // may evict, which takes q.mu itself
}

func (q *queries[C]) remove(k queryKey) {
	q.mu.Lock()
	defer q.mu.Unlock()
	old := *q.m.Load()
	if _, ok := old[k.dc][k.name]; !ok {
		return
	}
	next := make(map[string]map[string]*queryEntry[C], len(old))
	for dc, v := range old {
		next[dc] = v
	}
	byName := make(map[string]*queryEntry[C], len(old[k.dc]))
	for n, e := range old[k.dc] {
		if n != k.name {
			byName[n] = e
		}
	}
	next[k.dc] = byName
	q.m.Store(&next)
}
