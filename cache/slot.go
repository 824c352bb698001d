package cache

import (
	"sync"
	"sync/atomic"
)

// slot is one catalog service in one datacenter. Slots live as long as the catalog
// lists the service, so that holding or releasing it never rebuilds the snapshot
// map readers use.
type slot[C any] struct {
	name string // as the catalog spells it
	dc   string

	entry    atomic.Pointer[entry[C]] // nil until the first fetch delivers, and after release
	lastUsed atomic.Int64             // coarse unix seconds of the last lookup
	seenUsed int64                    // lastUsed at the previous sweep; guarded by Store.mu
	held     bool                     // the feed keeps it fresh; guarded by Store.mu

	// wmu orders entry writes against release, so that a state fetched before a
	// release and delivered after it is dropped.
	wmu   sync.Mutex
	live  bool          // guarded by wmu: held, as the writers see it
	first chan struct{} // guarded by wmu: closed at the first state since the hold
}

type entry[C any] struct {
	svc      *Service
	compiled C
}

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
