package cache

import (
	"context"
	"sync"
	"sync/atomic"
)

// slot is one catalog service in one datacenter. Slots live as long as the catalog
// lists the service, so that starting or stopping its watch never rebuilds the
// snapshot map readers use.
type slot[C any] struct {
	name string // as the catalog spells it
	dc   string

	entry    atomic.Pointer[entry[C]] // nil until the watch delivers, and after it stops
	lastUsed atomic.Int64             // coarse unix seconds of the last lookup
	seenUsed int64                    // lastUsed at the previous sweep; guarded by Store.mu

	// Guarded by Store.mu.
	cancel context.CancelFunc
	first  chan struct{} // closed when the current watch has delivered (or given up)

	wmu sync.Mutex // orders entry writes against stop, so a late update of a stopped watch is dropped
	gen uint64     // guarded by wmu; bumped when a watch starts or stops
}

type entry[C any] struct {
	svc      *Service
	compiled C
}

func (sl *slot[C]) watching() bool { return sl.cancel != nil }

// touch records use without a store when nothing changed, so hot cache lines stay shared.
func (sl *slot[C]) touch() {
	if now := coarseNow.Load(); sl.lastUsed.Load() != now {
		sl.lastUsed.Store(now)
	}
}

func (e *entry[C]) served() int {
	if e == nil {
		return 0
	}
	return len(e.svc.Instances)
}
