package forward

import (
	"sync/atomic"
	"time"

	"github.com/srvbridge/srvbridge/resolver/dnsmsg"
)

// Counters are plain atomics, read when metrics are scraped: forwarding never touches
// a label map.

// LatencyBuckets are the upper bounds, in seconds, of the upstream latency histogram:
// from a loopback resolver's cache hit to the slowest answer worth waiting for.
var LatencyBuckets = [...]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2, 4}

const nRcodes = 7 // the classic rcodes 0-5, then "other"

// Stats counts what the forwarder does beyond any one upstream.
type Stats struct {
	cacheHits      atomic.Uint64
	cacheMisses    atomic.Uint64
	cacheEvictions atomic.Uint64
	staleServed    atomic.Uint64
	loops          atomic.Uint64
}

// CacheHits counts queries answered from the cache while fresh.
func (s *Stats) CacheHits() uint64 { return s.cacheHits.Load() }

// CacheMisses counts queries the cache could not answer fresh (with the cache on).
func (s *Stats) CacheMisses() uint64 { return s.cacheMisses.Load() }

// CacheEvictions counts entries dropped to keep the cache within its bounds.
func (s *Stats) CacheEvictions() uint64 { return s.cacheEvictions.Load() }

// StaleServed counts expired answers served because every upstream failed.
func (s *Stats) StaleServed() uint64 { return s.staleServed.Load() }

// Loops counts queries answered SERVFAIL because they were our own forwarded
// queries coming back.
func (s *Stats) Loops() uint64 { return s.loops.Load() }

// upstreamStats counts one upstream's exchanges.
type upstreamStats struct {
	rcodes   [nRcodes]atomic.Uint64
	timeouts atomic.Uint64
	errors   atomic.Uint64
	latency  [len(LatencyBuckets) + 1]atomic.Uint64 // per bucket, then +Inf
	sumNanos atomic.Uint64
}

func (s *upstreamStats) observe(rcode int, took time.Duration) {
	s.rcodes[min(rcode, nRcodes-1)].Add(1)
	i := 0
	for i < len(LatencyBuckets) && took.Seconds() > LatencyBuckets[i] {
		i++
	}
	s.latency[i].Add(1)
	s.sumNanos.Add(uint64(max(took, 0)))
}

// UpstreamStats is a snapshot of one upstream's counters.
type UpstreamStats struct {
	Addr string
	// Responses counts replies by rcode name (NOERROR, NXDOMAIN, ..., OTHER); rcodes
	// never seen are absent.
	Responses map[string]uint64
	// Timeouts counts queries it did not answer within the per-upstream timeout;
	// Errors those that failed outright (connection refused, reset, bad reply).
	Timeouts, Errors uint64
	// Latency of its replies: count, sum in seconds, and cumulative counts per upper
	// bound of LatencyBuckets, as Prometheus histograms want them.
	LatencyCount   uint64
	LatencySum     float64
	LatencyBuckets map[float64]uint64
}

func (u *upstream) snapshot() UpstreamStats {
	s := &u.stats
	out := UpstreamStats{
		Addr:           u.name,
		Responses:      make(map[string]uint64, nRcodes),
		Timeouts:       s.timeouts.Load(),
		Errors:         s.errors.Load(),
		LatencySum:     time.Duration(s.sumNanos.Load()).Seconds(),
		LatencyBuckets: make(map[float64]uint64, len(LatencyBuckets)),
	}
	for rc := range s.rcodes {
		n := s.rcodes[rc].Load()
		if n == 0 {
			continue
		}
		name := "OTHER"
		if rc < nRcodes-1 {
			name = dnsmsg.RcodeString(rc)
		}
		out.Responses[name] = n
	}
	for i, le := range LatencyBuckets {
		out.LatencyCount += s.latency[i].Load()
		out.LatencyBuckets[le] = out.LatencyCount
	}
	out.LatencyCount += s.latency[len(LatencyBuckets)].Load()
	return out
}
