package cache

import (
	"fmt"
	"time"

	"github.com/srvbridge/srvbridge/health"
)

// Service is what the resolver compiles answers from: one service in one datacenter,
// with the instances that are to be served already chosen.
type Service struct {
	Name       string
	Datacenter string
	// Instances are the instances to answer with, in Consul's order.
	Instances []health.Instance
	// All is every registered instance, healthy or not, for status pages.
	All     []health.Instance
	Index   uint64
	Updated time.Time
	// Fallback says which no-healthy policy chose Instances, if any did.
	Fallback Fallback
	// TTL, when set, is the TTL the answers must carry (a prepared query's own).
	TTL time.Duration
}

// Empty reports whether there is nothing to answer with.
func (s *Service) Empty() bool { return len(s.Instances) == 0 }

// Fallback is what was served instead of the healthy instances.
type Fallback uint8

const (
	NoFallback Fallback = iota
	// FallbackNoData: nothing healthy, answered NOERROR with no records.
	FallbackNoData
	// FallbackAll: nothing healthy, every registered instance served.
	FallbackAll
	// FallbackPanic: fewer healthy than the panic threshold, every instance served.
	FallbackPanic
	nFallbacks
)

func (f Fallback) String() string {
	return [...]string{"none", "nodata", "all", "panic"}[f]
}

// Policy decides what is served when too few instances are healthy.
type Policy struct {
	// NoHealthy is "nxdomain" (Consul's answer), "nodata", or "all".
	NoHealthy string
	// PanicPercent, when above 0, serves every instance while fewer than this share
	// of the registered ones are healthy (Envoy's panic threshold).
	PanicPercent int
}

// Validate reports a policy that cannot be applied.
func (p Policy) Validate() error {
	switch p.NoHealthy {
	case "", "nxdomain", "nodata", "all":
	default:
		return fmt.Errorf("no-healthy policy %q: want nxdomain, nodata or all", p.NoHealthy)
	}
	if p.PanicPercent < 0 || p.PanicPercent > 100 {
		return fmt.Errorf("panic threshold %d%%: want 0 to 100", p.PanicPercent)
	}
	return nil
}

// choose applies the health filter and the fallback policy.
func (p Policy) choose(all []health.Instance) ([]health.Instance, Fallback) {
	healthy := make([]health.Instance, 0, len(all))
	for _, in := range all {
		if in.Healthy() {
			healthy = append(healthy, in)
		}
	}
	switch {
	case len(all) == 0:
		return healthy, NoFallback
	case len(healthy) == 0 && p.NoHealthy == "all":
		return all, FallbackAll
	case len(healthy) == 0 && p.NoHealthy == "nodata":
		return healthy, FallbackNoData
	case len(healthy) == 0:
		return healthy, NoFallback
	case p.PanicPercent > 0 && len(healthy)*100 < p.PanicPercent*len(all):
		return all, FallbackPanic
	}
	return healthy, NoFallback
}
