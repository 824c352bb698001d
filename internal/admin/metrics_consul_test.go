package admin

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

type fakePressure struct {
	fakeConsul
	p PressureCounts
}

func (f fakePressure) Pressure() PressureCounts { return f.p }

// TestConsulPressureMetrics: a Consul source that reports its connection budget
// gets the seven metrics a bench needs to see it (and a 429 counter to alert on).
func TestConsulPressureMetrics(t *testing.T) {
	now := t0
	c := testCollector(&now)
	c.SetSources(Sources{Consul: fakePressure{
		fakeConsul: fakeConsul{counts: map[string][2]uint64{"checks": {4, 0}}, last: t0},
		p:          PressureCounts{InFlight: 5, Conns: 4, Limit: 13, Throttled: 2, Sweeps: 7, SweepReadsSaved: 9, HTTP2: 11},
	}})
	want := `
# HELP srvbridge_consul_connections_open TCP connections open to Consul; bounded by --consul-max-conns.
# TYPE srvbridge_consul_connections_open gauge
srvbridge_consul_connections_open 4
# HELP srvbridge_consul_http2_responses_total Consul HTTP answers received over HTTP/2 (negotiated over TLS); over HTTP/1.1 every request in flight holds a connection of its own.
# TYPE srvbridge_consul_http2_responses_total counter
srvbridge_consul_http2_responses_total 11
# HELP srvbridge_consul_request_limit Refetch requests allowed in flight now: halved on each 429 from Consul, grown back with successes.
# TYPE srvbridge_consul_request_limit gauge
srvbridge_consul_request_limit 13
# HELP srvbridge_consul_requests_in_flight Consul HTTP requests waiting for an answer, blocking queries included.
# TYPE srvbridge_consul_requests_in_flight gauge
srvbridge_consul_requests_in_flight 5
# HELP srvbridge_consul_sweep_reads_saved_total Swept services not read in full: their index probe (requests of kind service_index) found them at the index of their last read.
# TYPE srvbridge_consul_sweep_reads_saved_total counter
srvbridge_consul_sweep_reads_saved_total 9
# HELP srvbridge_consul_sweeps_total Catalog changes that refetched every held service, because the service list cannot say which changed.
# TYPE srvbridge_consul_sweeps_total counter
srvbridge_consul_sweeps_total 7
# HELP srvbridge_consul_throttled_total Consul HTTP requests answered 429 (too many connections or requests from this address).
# TYPE srvbridge_consul_throttled_total counter
srvbridge_consul_throttled_total 2
`
	names := []string{"srvbridge_consul_connections_open", "srvbridge_consul_http2_responses_total", "srvbridge_consul_request_limit",
		"srvbridge_consul_requests_in_flight", "srvbridge_consul_sweep_reads_saved_total", "srvbridge_consul_sweeps_total",
		"srvbridge_consul_throttled_total"}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	// A source without a budget (the fakeConsul of metrics_test.go) exports none.
	c.SetSources(Sources{Consul: fakeConsul{last: t0}})
	if n := testutil.CollectAndCount(c, names...); n != 0 {
		t.Errorf("%d budget metrics from a source without one", n)
	}
}
