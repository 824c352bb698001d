package admin

import "github.com/prometheus/client_golang/prometheus"

// AnswerStats is what the answer-side metrics read at scrape time.
type AnswerStats interface {
	EachFallback(func(policy string, n uint64))
	Truncated() uint64
	SlowPath() uint64
	Overloaded() uint64
	Dropped() uint64
	SearchSuffixNXDomain() uint64
	StaleSeconds() float64
	Degraded() bool
}

var (
	descFallback = prometheus.NewDesc("srvbridge_fallback_answers_total",
		"Answers given under a no-healthy policy or the panic threshold, by policy.", []string{"policy"}, nil)
	descTruncated = prometheus.NewDesc("srvbridge_dns_truncated_total",
		"Replies sent with TC set because the answers did not fit the client's size.", nil, nil)
	descSlowPath = prometheus.NewDesc("srvbridge_dns_first_fetch_waits_total",
		"Queries that waited for a service's first fetch from Consul.", nil, nil)
	descOverloaded = prometheus.NewDesc("srvbridge_dns_overload_servfail_total",
		"Queries answered SERVFAIL at once because too many were already waiting.", nil, nil)
	descDropped = prometheus.NewDesc("srvbridge_dns_dropped_total",
		"Packets that got no reply: responses and packets shorter than a DNS header.", nil, nil)
	descSearchNX = prometheus.NewDesc("srvbridge_search_suffix_nxdomain_total",
		"Names of ours with a client search suffix appended (--search-suffix), answered NXDOMAIN instead of forwarded.", nil, nil)
	descStale = prometheus.NewDesc("srvbridge_consul_stale_seconds",
		"How long Consul has been unreachable while answers are served from the last known data; 0 while it answers.", nil, nil)
	descDegraded = prometheus.NewDesc("srvbridge_degraded",
		"1 while answers come from stale data (a Consul outage, or a state file read at start), else 0.", nil, nil)

	answerDescs = []*prometheus.Desc{descFallback, descTruncated, descSlowPath, descOverloaded,
		descDropped, descSearchNX, descStale, descDegraded}
)

func collectAnswers(ch chan<- prometheus.Metric, a AnswerStats) {
	a.EachFallback(func(policy string, n uint64) {
		ch <- prometheus.MustNewConstMetric(descFallback, prometheus.CounterValue, float64(n), policy)
	})
	ch <- prometheus.MustNewConstMetric(descTruncated, prometheus.CounterValue, float64(a.Truncated()))
	ch <- prometheus.MustNewConstMetric(descSlowPath, prometheus.CounterValue, float64(a.SlowPath()))
	ch <- prometheus.MustNewConstMetric(descOverloaded, prometheus.CounterValue, float64(a.Overloaded()))
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(a.Dropped()))
	ch <- prometheus.MustNewConstMetric(descSearchNX, prometheus.CounterValue, float64(a.SearchSuffixNXDomain()))
	ch <- prometheus.MustNewConstMetric(descStale, prometheus.GaugeValue, a.StaleSeconds())
	deg := 0.0
	if a.Degraded() {
		deg = 1
	}
	ch <- prometheus.MustNewConstMetric(descDegraded, prometheus.GaugeValue, deg)
}
