package cache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/srvbridge/srvbridge/health"
)

// Prepared queries cannot be watched: their results are executed on first use and
// kept for the query's TTL, then refreshed in the background while the old result is
// still served, so only the very first query for a name ever waits for Consul.

type queries[C any] struct {
	m   atomic.Pointer[map[string]map[string]*queryEntry[C]] // dc → name → entry
	mu  sync.Mutex                                           // writers
	lru *lru.Cache[queryKey, struct{}]
	run sync.Map // queryKey → chan struct{}: executions in flight
}

type queryKey struct{ dc, name string }

type queryEntry[C any] struct {
	svc        *Service
	compiled   C
	result     Result       // Hit, or the negative result to give
	expires    atomic.Int64 // coarse unix seconds
	refreshing atomic.Bool
}

func (q *queries[C]) init(max int) error {
	q.m.Store(&map[string]map[string]*queryEntry[C]{})
	var err error
	q.lru, err = lru.NewWithEvict(max, func(k queryKey, _ struct{}) { q.remove(k) })
	return err
}

// LookupQuery is Lookup for <name>.query names. It never waits: an expired result is
// still served while a refresh runs.
func (s *Store[C]) LookupQuery(dc, name []byte) (C, Result) {
	var zero C
	e := (*s.q.m.Load())[string(dc)][string(name)]
	if e == nil {
		return zero, Miss
	}
	if coarseNow.Load() >= e.expires.Load() && e.refreshing.CompareAndSwap(false, true) {
		go s.executeQuery(string(dc), string(name))
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

func (s *Store[C]) executeQuery(dc, name string) {
	r, err := s.src.ExecuteQuery(s.ctx, dc, name)
	now := time.Now()
	ttl := s.cfg.QueryTTL
	if r.TTL > 0 {
		ttl = r.TTL
	}
	e := &queryEntry[C]{result: Hit}
	e.expires.Store(now.Add(ttl).Unix())
	switch {
	case errors.Is(err, health.ErrNoQuery):
		e.result = NoService
	case errors.Is(err, health.ErrNoDatacenter):
		e.result = NoDatacenter
	case err != nil:
		s.log.Warn("executing prepared query", "dc", dc, "query", name, "err", err)
		if old := (*s.q.m.Load())[dc][name]; old != nil {
			// Keep serving what the query last returned; try again shortly.
			old.expires.Store(now.Add(time.Second).Unix())
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
	}
	s.q.store(dc, name, e)
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
