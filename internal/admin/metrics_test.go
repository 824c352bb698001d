package admin

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type fakeQueries map[[2]string]uint64

func (f fakeQueries) EachQuery(fn func(qtype, rcode string, n uint64)) {
	for k, n := range f {
		fn(k[0], k[1], n)
	}
}

type fakeConsul struct {
	counts map[string][2]uint64
	last   time.Time
}

func (f fakeConsul) EachKind(fn func(kind string, requests, errors uint64)) {
	for k, c := range f.counts {
		fn(k, c[0], c[1])
	}
}

func (f fakeConsul) LastContact() time.Time { return f.last }

type fakeCache [3]int64

func (f fakeCache) Served() (int64, int64, int64) { return f[0], f[1], f[2] }

// fixedClock starts at t0 and returns whatever *now holds.
func fixedClock(now *time.Time) func() time.Time { return func() time.Time { return *now } }

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func testCollector(now *time.Time) *Collector {
	return NewCollector(BuildInfo{Version: "v1.2.3", Commit: "abc123", GoVersion: "go1.26.0"}, fixedClock(now))
}

func TestCollectorExposition(t *testing.T) {
	now := t0
	c := testCollector(&now)
	c.SetSources(Sources{
		Queries: fakeQueries{{"SRV", "NOERROR"}: 7, {"A", "NXDOMAIN"}: 2},
		Consul: fakeConsul{
			counts: map[string][2]uint64{"catalog": {3, 1}, "service": {10, 0}},
			last:   t0.Add(2 * time.Second),
		},
		Cache: fakeCache{2, 5, 3},
		Ready: func() (bool, string) { return true, "degraded: stale" },
	})
	now = t0.Add(12 * time.Second)

	want := `
# HELP srvbridge_build_info Always 1; labels carry the srvbridge version, commit and Go version.
# TYPE srvbridge_build_info gauge
srvbridge_build_info{commit="abc123",goversion="go1.26.0",version="v1.2.3"} 1
# HELP srvbridge_consul_errors_total Consul HTTP requests that failed, by kind of endpoint.
# TYPE srvbridge_consul_errors_total counter
srvbridge_consul_errors_total{kind="catalog"} 1
srvbridge_consul_errors_total{kind="service"} 0
# HELP srvbridge_consul_last_contact_seconds Seconds since Consul last answered a request successfully; counted from process start until the first success.
# TYPE srvbridge_consul_last_contact_seconds gauge
srvbridge_consul_last_contact_seconds 10
# HELP srvbridge_consul_requests_total Consul HTTP requests started, by kind of endpoint.
# TYPE srvbridge_consul_requests_total counter
srvbridge_consul_requests_total{kind="catalog"} 3
srvbridge_consul_requests_total{kind="service"} 10
# HELP srvbridge_dns_queries_total DNS queries answered, by query type and response code.
# TYPE srvbridge_dns_queries_total counter
srvbridge_dns_queries_total{qtype="A",rcode="NXDOMAIN"} 2
srvbridge_dns_queries_total{qtype="SRV",rcode="NOERROR"} 7
# HELP srvbridge_instances_served Instances in the answers currently served, across all services.
# TYPE srvbridge_instances_served gauge
srvbridge_instances_served 5
# HELP srvbridge_ready 1 while /readyz answers 200 (stale answers included), else 0.
# TYPE srvbridge_ready gauge
srvbridge_ready 1
# HELP srvbridge_services_served Services with answers currently held in the cache.
# TYPE srvbridge_services_served gauge
srvbridge_services_served 2
# HELP srvbridge_watches_active Services held: kept fresh by the change feed (memory, not connections).
# TYPE srvbridge_watches_active gauge
srvbridge_watches_active 3
`
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// Before the first successful contact the gauge counts from process start, and
// sources that are not up yet simply export nothing.
func TestCollectorBeforeStart(t *testing.T) {
	now := t0
	c := testCollector(&now)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 1 {
		t.Fatalf("with no sources: %d series (want build_info only), err %v", n, err)
	}

	c.SetSources(Sources{Consul: fakeConsul{}, Ready: func() (bool, string) { return false, "connecting" }})
	now = t0.Add(90 * time.Second)
	want := `
# HELP srvbridge_consul_last_contact_seconds Seconds since Consul last answered a request successfully; counted from process start until the first success.
# TYPE srvbridge_consul_last_contact_seconds gauge
srvbridge_consul_last_contact_seconds 90
# HELP srvbridge_ready 1 while /readyz answers 200 (stale answers included), else 0.
# TYPE srvbridge_ready gauge
srvbridge_ready 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "srvbridge_consul_last_contact_seconds", "srvbridge_ready"); err != nil {
		t.Error(err)
	}
}

func TestMetricsLint(t *testing.T) {
	now := t0
	c := testCollector(&now)
	c.SetSources(Sources{
		Queries: fakeQueries{{"AAAA", "NOERROR"}: 1},
		Consul:  fakeConsul{counts: map[string][2]uint64{"nodes": {1, 1}}, last: t0},
		Cache:   fakeCache{1, 1, 1},
		Ready:   func() (bool, string) { return true, "" },
	})
	problems, err := testutil.GatherAndLint(NewRegistry(c))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
