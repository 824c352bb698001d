package cache

import (
	"strings"
	"time"
)

// sweepLoop keeps the on-demand LRU in query order and releases idle services. Queries
// only stamp an atomic; the LRU, which takes a lock, is updated here once a second.
func (s *Store[C]) sweepLoop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.sweep(coarseNow.Load())
		}
	}
}

func (s *Store[C]) sweep(now int64) {
	idle := int64(s.cfg.IdleTimeout / time.Second)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.snap.Load().dcs {
		for sl := range v.slots() {
			if !sl.held {
				continue
			}
			used := sl.lastUsed.Load()
			if used != sl.seenUsed {
				sl.seenUsed = used
				s.onDemand.Get(sl)
			}
			prefetched := s.cfg.Prefetch && sl.dc == s.local()
			if !prefetched && now-used >= idle {
				s.stats.idle.Add(1)
				s.releaseLocked(sl)
			}
		}
	}
}

// refreshDatacentersLoop re-reads the datacenter list, so that a name with an unknown
// datacenter is answered without asking Consul.
func (s *Store[C]) refreshDatacentersLoop() {
	t := time.NewTicker(s.cfg.DCRefresh)
	defer t.Stop()
	for {
		s.refreshDatacenters()
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refreshDatacenters is rate limited: a flood of names with made-up datacenters costs
// Consul at most one request per interval.
func (s *Store[C]) refreshDatacenters() {
	s.mu.Lock()
	if time.Since(s.lastDCs) < dcMinInterval {
		s.mu.Unlock()
		return
	}
	s.lastDCs = time.Now()
	s.mu.Unlock()
	dcs, err := s.src.Datacenters(s.ctx)
	if err != nil {
		s.log.Warn("reading datacenters", "err", err)
		return
	}
	dcs = s.peerDatacenters(dcs)
	known := make(map[string]bool, len(dcs)+1)
	for _, dc := range dcs {
		known[strings.ToLower(dc)] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.snap.Load()
	if old.localDC != "" {
		known[old.localDC] = true
	}
	s.snap.Store(&snapshot[C]{localDC: old.localDC, local: old.local, dcs: old.dcs, known: known, knownRead: true})
}

var dcMinInterval = 5 * time.Second
