package admin

import "github.com/prometheus/client_golang/prometheus"

// ACLStats reports Consul's refusals of the token; health.Watcher backs it.
type ACLStats interface {
	// EachDenied gives the requests refused so far, by kind of endpoint.
	EachDenied(fn func(kind string, n uint64))
	// Denied is a refusal that is still current, or nil.
	Denied() error
}

var descConsulDenied = prometheus.NewDesc("srvbridge_consul_denied_total",
	"Consul HTTP requests refused for the ACL token (403, or an answer ACL filtering emptied), by kind of endpoint. Also counted in srvbridge_consul_errors_total.",
	[]string{"kind"}, nil)

func collectACL(ch chan<- prometheus.Metric, s ACLStats) {
	s.EachDenied(func(kind string, n uint64) {
		ch <- prometheus.MustNewConstMetric(descConsulDenied, prometheus.CounterValue, float64(n), kind)
	})
}
