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
		if done := s.refreshDatacenters(); done != nil {
			select {
			case <-done:
			case <-s.ctx.Done():
				return
			}
		}
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refreshDatacenters starts a read of the datacenter list (and the cluster peers)
// and returns a channel closed when it is over; a read already running is shared.
// It returns nil when a read started less than dcMinInterval ago has ended: a flood
// of names with made-up datacenters costs Consul at most one read per interval. The
// read runs on its own goroutine so that a query waiting for it gives up at its own
// await timeout, however long Consul takes: /v1/peerings has been seen to answer a
// token without peering:read only after 5 s.
func (s *Store[C]) refreshDatacenters() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dcRead != nil {
		return s.dcRead
	}
	if time.Since(s.lastDCs) < dcMinInterval {
		return nil
	}
	s.lastDCs = time.Now()
	done := make(chan struct{})
	s.dcRead = done
	go func() {
		s.readDatacenters()
		s.mu.Lock()
		s.dcRead = nil
		s.mu.Unlock()
		close(done)
	}()
	return done
}

func (s *Store[C]) readDatacenters() {
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
