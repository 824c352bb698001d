package resolver

import (
	"sync"
	"sync/atomic"

	"github.com/srvbridge/srvbridge/cache"
)

// Answers are one service's compiled replies, keyed by the exact (lower-case) query
// name, because the question's length fixes every compression pointer in a template.
// Readers never lock: the memo is an immutable map behind an atomic pointer, replaced
// whole when a new name is first asked for.
type Answers struct {
	c   *Compiler
	svc *cache.Service
	// tags holds every tag the served instances carry, lower case: a name with
	// any other tag is NXDOMAIN without building (and memoising) a reply for it,
	// so made-up tags cannot push real names out of the memo or cost a build each.
	tags map[string]struct{}
	// vip is the service's virtual IP when a connect entry's instance carries one
	// (vipOK), for <svc>.virtual names.
	vip   [4]byte
	vipOK bool
	mu    sync.Mutex // serialises memo writers
	memo  atomic.Pointer[memo]
}

type memo map[string][]*variant

// maxNamesPerService bounds the memo: past it, further spellings are built per query.
const maxNamesPerService = 32

type variantKey struct {
	qtype uint16
	limit uint16 // largest reply the client takes
	edns  bool
}

type variant struct {
	key       variantKey
	rots      [][]byte // the same reply in different record orders
	next      atomic.Uint32
	truncated bool
	failed    bool
}

// get returns the memoized variant; it allocates nothing.
func (a *Answers) get(name []byte, k variantKey) *variant {
	for _, v := range (*a.memo.Load())[string(name)] {
		if v.key == k {
			return v
		}
	}
	return nil
}

// build makes a variant on first use and memoizes it while there is room.
func (a *Answers) build(name []byte, k variantKey) *variant {
	a.mu.Lock()
	defer a.mu.Unlock()
	if v := a.get(name, k); v != nil {
		return v
	}
	key := string(name)
	v := a.make(key, k)
	old := *a.memo.Load()
	if _, known := old[key]; !known && len(old) >= maxNamesPerService {
		return v
	}
	m := make(memo, len(old)+1)
	for n, vs := range old {
		m[n] = vs
	}
	m[key] = append(append([]*variant(nil), old[key]...), v)
	a.memo.Store(&m)
	return v
}

// pick rotates through the pre-built orders.
func (v *variant) pick() []byte {
	if len(v.rots) == 1 {
		return v.rots[0]
	}
	return v.rots[v.next.Add(1)%uint32(len(v.rots))]
}
