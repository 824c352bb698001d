package forward

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/srvbridge/srvbridge/resolver/wire"
)

// TTL bounds for cached upstream answers. A day for data and three hours for negative
// answers are the caps RFC 2308 (section 5) and common resolvers use; an upstream
// asking for more is not trusted beyond them.
const (
	maxPositiveTTL = 24 * time.Hour
	maxNegativeTTL = 3 * time.Hour
	// staleTTL is the TTL of a stale answer, as RFC 8767 (section 4) recommends.
	staleTTL = 30
	// entryOverhead approximates what an entry costs beyond its bytes: list element,
	// map slot, entry struct. It keeps the byte bound honest for tiny replies.
	entryOverhead = 160
)

// cacheKey identifies a cached reply: the lower-cased name, type and class, and the
// query bits that change the reply's content. An EDNS client gets an OPT record and a
// plain one must not; DO asks for signatures; CD asks not to validate.
func cacheKey(q *question) string {
	var flags byte
	if q.edns {
		flags |= 1
	}
	if q.do {
		flags |= 2
	}
	if q.flags&wire.FlagCD != 0 {
		flags |= 4
	}
	k := make([]byte, 0, len(q.name)+5)
	k = append(k, q.name...)
	k = binary.BigEndian.AppendUint16(k, q.qtype)
	k = binary.BigEndian.AppendUint16(k, q.qclass)
	return string(append(k, flags))
}

// entry is one cached reply, kept as the upstream sent it (OPT options stripped).
type entry struct {
	msg    []byte
	ri     replyInfo
	stored time.Time
	fresh  time.Duration // how long after stored it may be served as is
	size   int64
}

// cacheTTL says how long a reply may be cached: data for the smallest TTL among
// answer and authority, negative answers (NXDOMAIN, NODATA) for the SOA's TTL and
// MINIMUM (RFC 2308 section 5), no longer than the caps. Truncated replies, errors
// (SERVFAIL, REFUSED, ...) and negative answers without SOA are not cached.
func (ri *replyInfo) cacheTTL() (time.Duration, bool) {
	var ttl uint32
	var limit time.Duration
	switch {
	case ri.tc:
		return 0, false
	case ri.rcode == wire.RcodeSuccess && ri.answers > 0:
		ttl, limit = ri.minTTL, maxPositiveTTL
	case ri.rcode == wire.RcodeNXDomain || ri.rcode == wire.RcodeSuccess:
		if !ri.soa {
			return 0, false
		}
		ttl, limit = ri.minTTL, maxNegativeTTL
	default:
		return 0, false
	}
	if ri.soa {
		ttl = min(ttl, ri.soaTTL, ri.soaMin)
	}
	if ttl == 0 {
		return 0, false
	}
	return min(time.Duration(ttl)*time.Second, limit), true
}

// serve copies the entry with its TTLs counted down by the whole seconds it has been
// held, or set to staleTTL when it is served stale.
func (e *entry) serve(now time.Time, stale bool) []byte {
	out := append([]byte(nil), e.msg...)
	elapsed := uint32(max(now.Sub(e.stored), 0) / time.Second)
	for _, off := range e.ri.ttls {
		ttl := binary.BigEndian.Uint32(out[off:])
		switch {
		case stale:
			ttl = staleTTL
		case ttl > elapsed:
			ttl -= elapsed
		default:
			ttl = 0
		}
		binary.BigEndian.PutUint32(out[off:], ttl)
	}
	return out
}

// cache is an LRU of upstream replies bounded both by entries and by bytes. Expired
// entries stay until they are older than the stale window, so they can be served
// when every upstream fails (RFC 8767); the bounds evict them like any other.
type cache struct {
	mu       sync.Mutex
	lru      *simplelru.LRU[string, *entry]
	bytes    int64
	maxBytes int64
	stale    time.Duration
	stats    *Stats
}

func newCache(entries int, maxBytes int64, stale time.Duration, stats *Stats) *cache {
	c := &cache{maxBytes: maxBytes, stale: stale, stats: stats}
	// NewLRU fails only for a size below 1, which New rules out.
	c.lru, _ = simplelru.NewLRU(entries, func(_ string, e *entry) { c.bytes -= e.size })
	return c
}

// get returns the entry for key and whether it is still fresh. An entry past its
// stale window is dropped and not returned.
func (c *cache) get(key string, now time.Time) (*entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.lru.Get(key)
	if !ok {
		return nil, false
	}
	age := now.Sub(e.stored)
	if age < e.fresh {
		return e, true
	}
	if age < e.fresh+c.stale {
		return e, false
	}
	c.lru.Remove(key)
	return nil, false
}

// add stores msg under key, evicting the least recently used entries until both
// bounds hold. A reply larger than the whole byte bound is not cached.
func (c *cache) add(key string, msg []byte, ri replyInfo, now time.Time, fresh time.Duration) {
	e := &entry{msg: msg, ri: ri, stored: now, fresh: fresh,
		size: int64(len(msg)+len(key)+2*len(ri.ttls)) + entryOverhead}
	if e.size > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Remove(key) // a refresh replaces the entry; the callback gives its bytes back
	c.bytes += e.size
	if c.lru.Add(key, e) {
		c.stats.cacheEvictions.Add(1)
	}
	for c.bytes > c.maxBytes {
		if _, _, ok := c.lru.RemoveOldest(); !ok {
			break
		}
		c.stats.cacheEvictions.Add(1)
	}
}

// size reports the entries held and the bytes they account for.
func (c *cache) size() (entries int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.bytes
}
