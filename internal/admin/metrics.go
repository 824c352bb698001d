package admin

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// The collector reads counters that the packages keep themselves (plain atomics) when
// Prometheus scrapes, so the query path never touches a label map. These interfaces
// are all it needs; cmd/srvbridge adapts the real packages to them.

// QueryStats reports DNS queries answered, by query type and response code.
type QueryStats interface {
	EachQuery(fn func(qtype, rcode string, n uint64))
}

// ConsulStats reports Consul HTTP requests and failures by kind of endpoint
// ("catalog", "service", "nodes", ...) and when Consul last answered successfully.
type ConsulStats interface {
	EachKind(fn func(kind string, requests, errors uint64))
	// LastContact is the time of the last successful response; zero if none yet.
	LastContact() time.Time
}

// CacheStats reports what is being served.
type CacheStats interface {
	Served() (services, instances, watches int64)
}

// Sources groups the sources. Any may be nil: it becomes available only once its
// package is started, and its metrics are simply absent until then.
type Sources struct {
	Queries QueryStats
	Consul  ConsulStats
	Cache   CacheStats
	Forward ForwardStats // metrics_forward.go
	Answers AnswerStats  // metrics_answers.go
	ACL     ACLStats     // metrics_acl.go
	// Services backs the status page (status_list.go); no metric reads it.
	Services ServiceLister
	// Ready is what /readyz reports.
	Ready func() (bool, string)
}

// BuildInfo is what srvbridge_build_info and the status page say about the binary.
type BuildInfo struct {
	Version, Commit, GoVersion string
}

var (
	descQueries = prometheus.NewDesc("srvbridge_dns_queries_total",
		"DNS queries answered, by query type and response code.", []string{"qtype", "rcode"}, nil)
	descConsulRequests = prometheus.NewDesc("srvbridge_consul_requests_total",
		"Consul HTTP requests started, by kind of endpoint.", []string{"kind"}, nil)
	descConsulErrors = prometheus.NewDesc("srvbridge_consul_errors_total",
		"Consul HTTP requests that failed, by kind of endpoint.", []string{"kind"}, nil)
	descLastContact = prometheus.NewDesc("srvbridge_consul_last_contact_seconds",
		"Seconds since Consul last answered a request successfully; counted from process start until the first success.", nil, nil)
	descServices = prometheus.NewDesc("srvbridge_services_served",
		"Services with answers currently held in the cache.", nil, nil)
	descInstances = prometheus.NewDesc("srvbridge_instances_served",
		"Instances in the answers currently served, across all services.", nil, nil)
	descWatches = prometheus.NewDesc("srvbridge_watches_active",
		"Services held: kept fresh by the change feed (memory, not connections).", nil, nil)
	descReady = prometheus.NewDesc("srvbridge_ready",
		"1 while /readyz answers 200 (stale answers included), else 0.", nil, nil)
	descBuildInfo = prometheus.NewDesc("srvbridge_build_info",
		"Always 1; labels carry the srvbridge version, commit and Go version.", []string{"version", "commit", "goversion"}, nil)
)

// Collector is a prometheus.Collector over Sources; the status page reads the same.
type Collector struct {
	src   atomic.Pointer[Sources]
	build BuildInfo
	start time.Time
	now   func() time.Time
}

// NewCollector starts with no sources; now is the clock, and its first reading the
// process start the last-contact gauge counts from until Consul first answers.
func NewCollector(build BuildInfo, now func() time.Time) *Collector {
	c := &Collector{build: build, start: now(), now: now}
	c.src.Store(&Sources{})
	return c
}

// SetSources swaps in the stats sources; safe while Prometheus is scraping.
func (c *Collector) SetSources(s Sources) { c.src.Store(&s) }

func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueries, descConsulRequests, descConsulErrors,
		descLastContact, descServices, descInstances, descWatches, descBuildInfo, descReady} {
		ch <- d
	}
	for _, d := range forwardDescs {
		ch <- d
	}
	for _, d := range answerDescs {
		ch <- d
	}
	for _, d := range pressureDescs {
		ch <- d
	}
	ch <- descConsulDenied
}

func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descBuildInfo, prometheus.GaugeValue, 1,
		c.build.Version, c.build.Commit, c.build.GoVersion)

	src := c.src.Load()
	if src.Ready != nil {
		v := 0.0
		if ok, _ := src.Ready(); ok {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descReady, prometheus.GaugeValue, v)
	}
	if q := src.Queries; q != nil {
		q.EachQuery(func(qtype, rcode string, n uint64) {
			ch <- prometheus.MustNewConstMetric(descQueries, prometheus.CounterValue, float64(n), qtype, rcode)
		})
	}
	if cs := src.Consul; cs != nil {
		cs.EachKind(func(kind string, requests, errors uint64) {
			ch <- prometheus.MustNewConstMetric(descConsulRequests, prometheus.CounterValue, float64(requests), kind)
			ch <- prometheus.MustNewConstMetric(descConsulErrors, prometheus.CounterValue, float64(errors), kind)
		})
		last := cs.LastContact()
		if last.IsZero() {
			// Never contacted: grow from start-up rather than report 0 ("just now")
			// or +Inf, so "> 30" alerts fire when Consul is unreachable from the start.
			last = c.start
		}
		ch <- prometheus.MustNewConstMetric(descLastContact, prometheus.GaugeValue,
			max(c.now().Sub(last).Seconds(), 0))
		if p, ok := cs.(ConsulPressure); ok {
			collectPressure(ch, p)
		}
	}
	if cc := src.Cache; cc != nil {
		services, instances, watches := cc.Served()
		ch <- prometheus.MustNewConstMetric(descServices, prometheus.GaugeValue, float64(services))
		ch <- prometheus.MustNewConstMetric(descInstances, prometheus.GaugeValue, float64(instances))
		ch <- prometheus.MustNewConstMetric(descWatches, prometheus.GaugeValue, float64(watches))
	}
	if fs := src.Forward; fs != nil {
		collectForward(ch, fs)
	}
	if as := src.Answers; as != nil {
		collectAnswers(ch, as)
	}
	if a := src.ACL; a != nil {
		collectACL(ch, a)
	}
}

// NewRegistry returns a dedicated registry (not the global default, which libraries
// may pollute) with srvbridge's collector plus the Go runtime and process collectors.
func NewRegistry(c *Collector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		c,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}
