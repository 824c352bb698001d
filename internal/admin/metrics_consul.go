package admin

import "github.com/prometheus/client_golang/prometheus"

// ConsulPressure is what the change feed's connection budget looks like at scrape
// time. A ConsulStats source may implement it.
type ConsulPressure interface {
	Pressure() PressureCounts
}

// PressureCounts is one reading of the budget.
type PressureCounts struct {
	// InFlight is the requests waiting for Consul's answer, blocking queries
	// included; Conns the TCP connections open to it; Limit the refetches the
	// pool may have in flight now (it halves on a 429).
	InFlight, Conns, Limit int64
	// Throttled counts 429 answers; Sweeps the catalog changes that refetched
	// every held service; SweepReadsSaved the swept services an index probe
	// spared a full read.
	Throttled, Sweeps, SweepReadsSaved uint64
	// HTTP2 counts Consul's answers that came over HTTP/2.
	HTTP2 uint64
}

var (
	descConsulInFlight = prometheus.NewDesc("srvbridge_consul_requests_in_flight",
		"Consul HTTP requests waiting for an answer, blocking queries included.", nil, nil)
	descConsulConns = prometheus.NewDesc("srvbridge_consul_connections_open",
		"TCP connections open to Consul; bounded by --consul-max-conns.", nil, nil)
	descConsulLimit = prometheus.NewDesc("srvbridge_consul_request_limit",
		"Refetch requests allowed in flight now: halved on each 429 from Consul, grown back with successes.", nil, nil)
	descConsulThrottled = prometheus.NewDesc("srvbridge_consul_throttled_total",
		"Consul HTTP requests answered 429 (too many connections or requests from this address).", nil, nil)
	descConsulSweeps = prometheus.NewDesc("srvbridge_consul_sweeps_total",
		"Catalog changes that refetched every held service, because the service list cannot say which changed.", nil, nil)
	descConsulSweepSaved = prometheus.NewDesc("srvbridge_consul_sweep_reads_saved_total",
		"Swept services not read in full: their index probe (requests of kind service_index) found them at the index of their last read.", nil, nil)
	descConsulHTTP2 = prometheus.NewDesc("srvbridge_consul_http2_responses_total",
		"Consul HTTP answers received over HTTP/2 (negotiated over TLS); over HTTP/1.1 every request in flight holds a connection of its own.", nil, nil)
)

var pressureDescs = []*prometheus.Desc{descConsulInFlight, descConsulConns, descConsulLimit, descConsulThrottled, descConsulSweeps, descConsulSweepSaved, descConsulHTTP2}

func collectPressure(ch chan<- prometheus.Metric, p ConsulPressure) {
	c := p.Pressure()
	ch <- prometheus.MustNewConstMetric(descConsulInFlight, prometheus.GaugeValue, float64(c.InFlight))
	ch <- prometheus.MustNewConstMetric(descConsulConns, prometheus.GaugeValue, float64(c.Conns))
	ch <- prometheus.MustNewConstMetric(descConsulLimit, prometheus.GaugeValue, float64(c.Limit))
	ch <- prometheus.MustNewConstMetric(descConsulThrottled, prometheus.CounterValue, float64(c.Throttled))
	ch <- prometheus.MustNewConstMetric(descConsulSweeps, prometheus.CounterValue, float64(c.Sweeps))
	ch <- prometheus.MustNewConstMetric(descConsulSweepSaved, prometheus.CounterValue, float64(c.SweepReadsSaved))
	ch <- prometheus.MustNewConstMetric(descConsulHTTP2, prometheus.CounterValue, float64(c.HTTP2))
}
