package resolver

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/srvbridge/srvbridge/cache"
	"github.com/srvbridge/srvbridge/health"
	"github.com/srvbridge/srvbridge/resolver/wire"
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

// variant is one reply in up to maxRotations record orders. When a name's first
// query makes it, only the order that query gets is packed; each other is packed by
// the first pick that lands on it (fill), so the first query of a name waits for one
// pack, not one per order; the others are spread over the queries that follow. A
// rebuild after a change packs every order (remake).
type variant struct {
	key    variantKey
	failed bool
	n      uint32                               // how many orders there are
	rots   [maxRotations]atomic.Pointer[[]byte] // packed orders, nil until built
	next   atomic.Uint32

	// What fill needs to pack the orders not built yet, read under a.mu.
	a     *Answers
	name  string
	p     parsed
	insts []health.Instance
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

// pick rotates through the orders. Once an order is built it costs no lock and no
// allocation; the first pick of each other order packs it.
func (v *variant) pick() []byte {
	i := uint32(0)
	if v.n > 1 {
		i = v.next.Add(1) % v.n
	}
	if b := v.rots[i].Load(); b != nil {
		return *b
	}
	return v.fill(i)
}

// truncated reports whether a template has TC set: its answers did not all fit.
func truncated(tpl []byte) bool {
	return binary.BigEndian.Uint16(tpl[2:])&wire.FlagTC != 0
}

// first is the order the first pick lands on, packed when the variant is made.
func (v *variant) first() uint32 { return 1 % v.n }

// fill packs order i on its first use, under a.mu like every other build, so two
// queries landing on it at once pack it once.
func (v *variant) fill(i uint32) []byte {
	v.a.mu.Lock()
	defer v.a.mu.Unlock()
	return v.packed(i)
}

// packed is order i, packed now if it is not yet. a.mu must be held.
func (v *variant) packed(i uint32) []byte {
	if b := v.rots[i].Load(); b != nil {
		return *b
	}
	b, _, err := v.pack(i)
	if err != nil {
		// Every order holds the same records, so this cannot fail where the first
		// order packed; should it, the first order stands in for it.
		v.a.c.cfg.Logger.Error("building answer", "name", v.name, "err", err)
		b = *v.rots[v.first()].Load()
	}
	v.rots[i].Store(&b)
	return b
}
