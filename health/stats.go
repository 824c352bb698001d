package health

import (
	"sync/atomic"
	"time"
)

// Kind is the kind of Consul endpoint a request went to, for metrics.
type Kind uint8

const (
	KindCatalog      Kind = iota // /v1/catalog/services
	KindService                  // /v1/health/service/<name>, non-blocking (feed.go)
	KindNodes                    // /v1/catalog/nodes
	KindDatacenters              // /v1/agent/self and /v1/catalog/datacenters (one-shot)
	KindQuery                    // /v1/query/<name>/execute (one-shot)
	KindProbe                    // a consistent read while Consul is unreachable (gate.go)
	KindChecks                   // /v1/health/state/any, the change feed's checks (feed.go)
	KindConfig                   // /v1/config/ingress-gateway, the change feed's gateways (mesh.go)
	KindServiceIndex             // /v1/health/service/<name>?tag=<none>: a sweep's index probe (sweepprobe.go)
	numKinds
)

// Kinds lists every Kind, so metrics code can export all of them without knowing them.
func Kinds() []Kind {
	return []Kind{KindCatalog, KindService, KindNodes, KindDatacenters, KindQuery, KindProbe, KindChecks, KindConfig, KindServiceIndex}
}

func (k Kind) String() string {
	switch k {
	case KindCatalog:
		return "catalog"
	case KindService:
		return "service"
	case KindNodes:
		return "nodes"
	case KindDatacenters:
		return "datacenters"
	case KindQuery:
		return "query"
	case KindProbe:
		return "probe"
	case KindChecks:
		return "checks"
	case KindConfig:
		return "config"
	case KindServiceIndex:
		return "service_index"
	default:
		return "unknown"
	}
}

// Stats counts what the watcher asked of Consul. Every field is atomic so the metrics
// handler reads it at scrape time without a lock and without slowing watch loops.
type Stats struct {
	requests    [numKinds]atomic.Uint64
	errors      [numKinds]atomic.Uint64
	indexResets atomic.Uint64
	throttled   atomic.Uint64 // answers 429 (too many requests)
	sweeps      atomic.Uint64 // catalog changes that swept every held service
	sweepSaved  atomic.Uint64 // sweep refetches an index probe made unnecessary
	inFlight    atomic.Int64
	lastContact atomic.Int64 // unix nanoseconds of the last successful answer; 0 = never
	// failingSince is when requests started failing with no success since, in unix
	// nanoseconds; 0 while Consul answers.
	failingSince atomic.Int64
	// acl tracks the requests Consul refused the token for (acl.go).
	acl denials
}

// Requests is the number of requests started against endpoints of kind k.
func (s *Stats) Requests(k Kind) uint64 {
	if k >= numKinds {
		return 0
	}
	return s.requests[k].Load()
}

// Errors is the number of those requests that failed, not counting requests cut short
// because their watch was cancelled.
func (s *Stats) Errors(k Kind) uint64 {
	if k >= numKinds {
		return 0
	}
	return s.errors[k].Load()
}

// IndexResets counts blocking loops restarted because Consul's index went backwards
// (a server restored from a snapshot, a dev agent restarted, a different server answering
// a stale read).
func (s *Stats) IndexResets() uint64 { return s.indexResets.Load() }

// Throttled counts requests Consul answered 429: too many connections from this
// address, or a rate limit. They slow the refetch pool down; they are no outage.
func (s *Stats) Throttled() uint64 { return s.throttled.Load() }

// Sweeps counts catalog changes that swept every held service (an index probe
// each, or a full read), because the service list alone cannot say which service
// changed.
func (s *Stats) Sweeps() uint64 { return s.sweeps.Load() }

// SweepReadsSaved counts the services a sweep did not read in full because their
// index probe (Requests(KindServiceIndex)) found them at the index of their last
// read (sweepprobe.go).
func (s *Stats) SweepReadsSaved() uint64 { return s.sweepSaved.Load() }

// InFlight is the number of requests to Consul now waiting for an answer, blocking
// queries included.
func (s *Stats) InFlight() int64 { return s.inFlight.Load() }

// LastContactUnixNano is when Consul last answered successfully, or 0 if never.
func (s *Stats) LastContactUnixNano() int64 { return s.lastContact.Load() }

// LastContact is LastContactUnixNano as a time; the zero Time if never.
func (s *Stats) LastContact() time.Time {
	n := s.lastContact.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Outage is how long requests to Consul have been failing with no success in
// between; 0 while Consul answers. It is what the answers' staleness is measured
// by: blocking queries succeed at least once per wait time while Consul is up.
func (s *Stats) Outage() time.Duration {
	since := s.failingSince.Load()
	if since == 0 {
		return 0
	}
	return time.Duration(time.Now().UnixNano() - since)
}

func (s *Stats) request(k Kind) { s.requests[k].Add(1) }

// begin counts a one-shot request of kind k and returns what ends it.
func (s *Stats) begin(k Kind) (end func()) {
	s.request(k)
	s.inFlight.Add(1)
	return func() { s.inFlight.Add(-1) }
}
func (s *Stats) indexReset() { s.indexResets.Add(1) }

func (s *Stats) failure(k Kind) {
	s.errors[k].Add(1)
	s.failingSince.CompareAndSwap(0, time.Now().UnixNano())
}

func (s *Stats) contact() {
	s.lastContact.Store(time.Now().UnixNano())
	s.failingSince.Store(0)
}
