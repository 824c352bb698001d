package admin

import "github.com/prometheus/client_golang/prometheus"

// Forwarding metrics: what the resolver handed to the forwarder or refused, and what
// the forwarder did with it, read from their counters at scrape time.

// ForwardStats reports forwarding.
type ForwardStats interface {
	// Recursion counts queries for names outside the domain: handed to the
	// forwarder, answered SERVFAIL because forwarding failed, and REFUSED because the
	// client is not allowed recursion (or forwarding is off).
	Recursion() (forwarded, failed, refused uint64)
	// Forwarder reports the forwarder's own counters; ok is false when it is off.
	Forwarder() (c ForwarderCounts, ok bool)
	EachUpstream(fn func(UpstreamCounts))
}

// ForwarderCounts is the forwarder's own counters and the size of its cache.
type ForwarderCounts struct {
	CacheHits, CacheMisses, CacheEvictions, StaleServed, Loops uint64
	CacheEntries                                               int
	CacheBytes                                                 int64
}

// UpstreamCounts is one upstream's counters; its fields are those of
// forward.UpstreamStats, so cmd/srvbridge converts one into the other.
type UpstreamCounts struct {
	Addr             string
	Responses        map[string]uint64
	Timeouts, Errors uint64
	LatencyCount     uint64
	LatencySum       float64
	LatencyBuckets   map[float64]uint64
}

var (
	descForwarded = prometheus.NewDesc("srvbridge_forward_queries_total",
		"Queries for names outside the domain handed to the forwarder.", nil, nil)
	descForwardFailed = prometheus.NewDesc("srvbridge_forward_failures_total",
		"Forwarded queries answered SERVFAIL because no upstream answered, a loop was detected, or too many were in flight.", nil, nil)
	descRecursionRefused = prometheus.NewDesc("srvbridge_recursion_refused_total",
		"Queries for names outside the domain answered REFUSED: the client is outside --allow-recursion, or forwarding is off.", nil, nil)
	descUpstreamResponses = prometheus.NewDesc("srvbridge_forward_upstream_responses_total",
		"Replies from upstreams, by upstream and response code.", []string{"upstream", "rcode"}, nil)
	descUpstreamTimeouts = prometheus.NewDesc("srvbridge_forward_upstream_timeouts_total",
		"Queries an upstream did not answer within --upstream-timeout.", []string{"upstream"}, nil)
	descUpstreamErrors = prometheus.NewDesc("srvbridge_forward_upstream_errors_total",
		"Queries to an upstream that failed outright (refused, reset, malformed reply).", []string{"upstream"}, nil)
	descUpstreamLatency = prometheus.NewDesc("srvbridge_forward_upstream_latency_seconds",
		"Time from sending a query to an upstream to its reply.", []string{"upstream"}, nil)
	descForwardCacheHits = prometheus.NewDesc("srvbridge_forward_cache_hits_total",
		"Forwarded queries answered from the cache.", nil, nil)
	descForwardCacheMisses = prometheus.NewDesc("srvbridge_forward_cache_misses_total",
		"Forwarded queries the cache could not answer.", nil, nil)
	descForwardCacheEvictions = prometheus.NewDesc("srvbridge_forward_cache_evictions_total",
		"Cached answers dropped to stay within --forward-cache-size and --forward-cache-bytes.", nil, nil)
	descForwardCacheEntries = prometheus.NewDesc("srvbridge_forward_cache_entries",
		"Forwarded answers cached, stale ones included.", nil, nil)
	descForwardCacheBytes = prometheus.NewDesc("srvbridge_forward_cache_bytes",
		"Memory the cached forwarded answers account for.", nil, nil)
	descForwardStale = prometheus.NewDesc("srvbridge_forward_stale_answers_total",
		"Expired answers served because no upstream answered (RFC 8767).", nil, nil)
	descForwardLoops = prometheus.NewDesc("srvbridge_forward_loops_total",
		"Queries answered SERVFAIL because they were srvbridge's own forwarded queries coming back.", nil, nil)
)

var forwardDescs = []*prometheus.Desc{descForwarded, descForwardFailed, descRecursionRefused,
	descUpstreamResponses, descUpstreamTimeouts, descUpstreamErrors, descUpstreamLatency,
	descForwardCacheHits, descForwardCacheMisses, descForwardCacheEvictions,
	descForwardCacheEntries, descForwardCacheBytes, descForwardStale, descForwardLoops}

func collectForward(ch chan<- prometheus.Metric, fs ForwardStats) {
	counter := func(d *prometheus.Desc, n uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(n), labels...)
	}
	forwarded, failed, refused := fs.Recursion()
	counter(descForwarded, forwarded)
	counter(descForwardFailed, failed)
	counter(descRecursionRefused, refused)
	c, ok := fs.Forwarder()
	if !ok {
		return
	}
	counter(descForwardCacheHits, c.CacheHits)
	counter(descForwardCacheMisses, c.CacheMisses)
	counter(descForwardCacheEvictions, c.CacheEvictions)
	counter(descForwardStale, c.StaleServed)
	counter(descForwardLoops, c.Loops)
	ch <- prometheus.MustNewConstMetric(descForwardCacheEntries, prometheus.GaugeValue, float64(c.CacheEntries))
	ch <- prometheus.MustNewConstMetric(descForwardCacheBytes, prometheus.GaugeValue, float64(c.CacheBytes))
	fs.EachUpstream(func(u UpstreamCounts) {
		for rcode, n := range u.Responses {
			counter(descUpstreamResponses, n, u.Addr, rcode)
		}
		counter(descUpstreamTimeouts, u.Timeouts, u.Addr)
		counter(descUpstreamErrors, u.Errors, u.Addr)
		ch <- prometheus.MustNewConstHistogram(descUpstreamLatency, u.LatencyCount, u.LatencySum, u.LatencyBuckets, u.Addr)
	})
}
