package admin

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type fakeForward struct {
	on        bool
	upstreams []UpstreamCounts
}

func (f fakeForward) Recursion() (uint64, uint64, uint64) { return 12, 2, 3 }

func (f fakeForward) Forwarder() (ForwarderCounts, bool) {
	return ForwarderCounts{CacheHits: 5, CacheMisses: 7, CacheEvictions: 1, StaleServed: 4, Loops: 1,
		CacheEntries: 6, CacheBytes: 2048}, f.on
}

func (f fakeForward) EachUpstream(fn func(UpstreamCounts)) {
	for _, u := range f.upstreams {
		fn(u)
	}
}

var oneUpstream = []UpstreamCounts{{
	Addr:         "10.0.0.2:53",
	Responses:    map[string]uint64{"NOERROR": 6, "NXDOMAIN": 1},
	Timeouts:     2,
	Errors:       1,
	LatencyCount: 7, LatencySum: 0.035,
	LatencyBuckets: map[float64]uint64{0.001: 0, 0.005: 6, 4: 7},
}}

func TestForwardMetrics(t *testing.T) {
	now := t0
	c := testCollector(&now)
	c.SetSources(Sources{Forward: fakeForward{on: true, upstreams: oneUpstream}})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	want := `
# HELP srvbridge_forward_cache_hits_total Forwarded queries answered from the cache.
# TYPE srvbridge_forward_cache_hits_total counter
srvbridge_forward_cache_hits_total 5
# HELP srvbridge_forward_stale_answers_total Expired answers served because no upstream answered (RFC 8767).
# TYPE srvbridge_forward_stale_answers_total counter
srvbridge_forward_stale_answers_total 4
# HELP srvbridge_forward_upstream_latency_seconds Time from sending a query to an upstream to its reply.
# TYPE srvbridge_forward_upstream_latency_seconds histogram
srvbridge_forward_upstream_latency_seconds_bucket{upstream="10.0.0.2:53",le="0.001"} 0
srvbridge_forward_upstream_latency_seconds_bucket{upstream="10.0.0.2:53",le="0.005"} 6
srvbridge_forward_upstream_latency_seconds_bucket{upstream="10.0.0.2:53",le="4"} 7
srvbridge_forward_upstream_latency_seconds_bucket{upstream="10.0.0.2:53",le="+Inf"} 7
srvbridge_forward_upstream_latency_seconds_sum{upstream="10.0.0.2:53"} 0.035
srvbridge_forward_upstream_latency_seconds_count{upstream="10.0.0.2:53"} 7
# HELP srvbridge_forward_upstream_responses_total Replies from upstreams, by upstream and response code.
# TYPE srvbridge_forward_upstream_responses_total counter
srvbridge_forward_upstream_responses_total{rcode="NOERROR",upstream="10.0.0.2:53"} 6
srvbridge_forward_upstream_responses_total{rcode="NXDOMAIN",upstream="10.0.0.2:53"} 1
# HELP srvbridge_forward_upstream_timeouts_total Queries an upstream did not answer within --upstream-timeout.
# TYPE srvbridge_forward_upstream_timeouts_total counter
srvbridge_forward_upstream_timeouts_total{upstream="10.0.0.2:53"} 2
# HELP srvbridge_recursion_refused_total Queries for names outside the domain answered REFUSED: the client is outside --allow-recursion, or forwarding is off.
# TYPE srvbridge_recursion_refused_total counter
srvbridge_recursion_refused_total 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"srvbridge_forward_cache_hits_total", "srvbridge_forward_stale_answers_total",
		"srvbridge_forward_upstream_latency_seconds", "srvbridge_forward_upstream_responses_total",
		"srvbridge_forward_upstream_timeouts_total", "srvbridge_recursion_refused_total"); err != nil {
		t.Error(err)
	}
	// build_info; 10 forwarder-wide series; the upstream's 2 rcodes, timeouts, errors
	// and latency.
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 1+10+5 {
		t.Errorf("%d series, err %v; want 16", n, err)
	}
	problems, err := testutil.GatherAndLint(NewRegistry(c))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// With forwarding off only the resolver's side is exported: refusals still count.
func TestForwardMetricsOff(t *testing.T) {
	now := t0
	c := testCollector(&now)
	c.SetSources(Sources{Forward: fakeForward{}})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if n, err := testutil.GatherAndCount(reg, "srvbridge_forward_cache_hits_total", "srvbridge_recursion_refused_total"); err != nil || n != 1 {
		t.Errorf("%d series, err %v; want the refusals only", n, err)
	}
}
