package resolver

import (
	"sync"
	"sync/atomic"

	"github.com/srvbridge/srvbridge/health"
	"github.com/srvbridge/srvbridge/resolver/dnsmsg"
	"github.com/srvbridge/srvbridge/resolver/wire"
)

// Query types and rcodes get a fixed slot each, so counting is an atomic add at an
// index computed without a map, and labels are only built at scrape time.
var countedTypes = [...]uint16{wire.TypeA, wire.TypeAAAA, wire.TypeSRV, wire.TypeSOA, wire.TypeNS, wire.TypePTR, wire.TypeTXT, wire.TypeANY, wire.TypeCNAME}

const (
	otherType  = len(countedTypes)
	nTypes     = otherType + 1
	otherRcode = 6 // 0-5 are the classic rcodes
	nRcodes    = otherRcode + 1
)

func typeIndex(t uint16) int {
	for i, c := range countedTypes {
		if c == t {
			return i
		}
	}
	return otherType
}

// shard is one reader's counters. Each socket reader owns one, so counting never
// bounces a cache line between cores; scrapes add the shards up.
type shard struct {
	queries   [nTypes][nRcodes]atomic.Uint64
	dropped   atomic.Uint64
	truncated atomic.Uint64
	compiles  atomic.Uint64
	slow      atomic.Uint64
	overload  atomic.Uint64
	fallback  [4]atomic.Uint64 // by health.Fallback

	refusedRecursion atomic.Uint64
	searchNX         atomic.Uint64
	forwarded        atomic.Uint64
	forwardFailed    atomic.Uint64
	_                [64]byte
}

func (sh *shard) add(qtype uint16, rcode int) {
	if rcode > otherRcode {
		rcode = otherRcode
	}
	sh.queries[typeIndex(qtype)][rcode].Add(1)
}

// Stats aggregates the shards of every reader.
type Stats struct {
	mu     sync.Mutex
	shards []*shard
}

func (s *Stats) shard() *shard {
	sh := new(shard)
	s.mu.Lock()
	s.shards = append(s.shards, sh)
	s.mu.Unlock()
	return sh
}

func (s *Stats) sum(f func(*shard) *atomic.Uint64) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n uint64
	for _, sh := range s.shards {
		n += f(sh).Load()
	}
	return n
}

// EachQuery calls f with every non-zero count of answered queries.
func (s *Stats) EachQuery(f func(qtype, rcode string, n uint64)) {
	s.mu.Lock()
	var tot [nTypes][nRcodes]uint64
	for _, sh := range s.shards {
		for t := range tot {
			for r := range tot[t] {
				tot[t][r] += sh.queries[t][r].Load()
			}
		}
	}
	s.mu.Unlock()
	for t := range tot {
		for r, n := range tot[t] {
			if n == 0 {
				continue
			}
			tn := "OTHER"
			if t < otherType {
				tn = dnsmsg.TypeString(countedTypes[t])
			}
			rn := "OTHER"
			if r < otherRcode {
				rn = dnsmsg.RcodeString(r)
			}
			f(tn, rn, n)
		}
	}
}

// Dropped counts packets that got no reply (responses, runts).
func (s *Stats) Dropped() uint64 { return s.sum(func(sh *shard) *atomic.Uint64 { return &sh.dropped }) }

// Truncated counts replies sent with TC set.
func (s *Stats) Truncated() uint64 {
	return s.sum(func(sh *shard) *atomic.Uint64 { return &sh.truncated })
}

// Compiles counts replies built on the query path because no template existed yet.
func (s *Stats) Compiles() uint64 {
	return s.sum(func(sh *shard) *atomic.Uint64 { return &sh.compiles })
}

// SlowPath counts queries that waited for a first fetch from Consul.
func (s *Stats) SlowPath() uint64 { return s.sum(func(sh *shard) *atomic.Uint64 { return &sh.slow }) }

// Overloaded counts queries answered SERVFAIL because too many were waiting on Consul.
func (s *Stats) Overloaded() uint64 {
	return s.sum(func(sh *shard) *atomic.Uint64 { return &sh.overload })
}

// EachFallback calls f with how many answers each no-healthy policy produced.
func (s *Stats) EachFallback(f func(policy string, n uint64)) {
	for fb := health.FallbackNoData; fb <= health.FallbackPanic; fb++ {
		f(fb.String(), s.sum(func(sh *shard) *atomic.Uint64 { return &sh.fallback[fb] }))
	}
}

// RefusedRecursion counts queries for outside names refused because the client is
// not allowed recursion, or no forwarder is configured.
func (s *Stats) RefusedRecursion() uint64 {
	return s.sum(func(sh *shard) *atomic.Uint64 { return &sh.refusedRecursion })
}

// Forwarded counts queries sent to the forwarder; ForwardFailed those answered
// SERVFAIL because it failed or too many were in flight.
func (s *Stats) Forwarded() uint64 {
	return s.sum(func(sh *shard) *atomic.Uint64 { return &sh.forwarded })
}

// ForwardFailed counts forwarded queries answered SERVFAIL.
func (s *Stats) ForwardFailed() uint64 {
	return s.sum(func(sh *shard) *atomic.Uint64 { return &sh.forwardFailed })
}

// SearchSuffixNXDomain counts names of ours with a search suffix appended, answered
// NXDOMAIN without forwarding (Config.SearchSuffixes).
func (s *Stats) SearchSuffixNXDomain() uint64 {
	return s.sum(func(sh *shard) *atomic.Uint64 { return &sh.searchNX })
}
