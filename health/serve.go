package health

import (
	"fmt"
	"strings"
)

// Policy is the whole answer policy in one value: which check states keep an instance
// out of normal answers (OnlyPassing, applied when Consul's answer is read), and what
// is served when too few instances are healthy (NoHealthy, PanicPercent, applied by
// Choose when the cache compiles a service). One value, so that the watcher and the
// cache cannot be configured with halves of two different policies.
type Policy struct {
	// OnlyPassing makes warning count as Critical too, like Consul's
	// dns_config.only_passing.
	OnlyPassing bool
	// NoHealthy is what a service with instances but none healthy answers.
	NoHealthy NoHealthy
	// PanicPercent, when above 0, serves every instance while fewer than this share
	// of the registered ones are healthy (Envoy's panic threshold).
	PanicPercent int
}

// NoHealthy is the answer for a service whose instances are all critical.
type NoHealthy uint8

const (
	// NoHealthyNXDomain answers NXDOMAIN, as Consul's own DNS does.
	NoHealthyNXDomain NoHealthy = iota
	// NoHealthyNoData answers NOERROR with no records: Kong keeps its last answer.
	NoHealthyNoData
	// NoHealthyAll serves every registered instance, critical ones included.
	NoHealthyAll
)

var noHealthyNames = [...]string{"nxdomain", "nodata", "all"}

func (n NoHealthy) String() string {
	if int(n) < len(noHealthyNames) {
		return noHealthyNames[n]
	}
	return fmt.Sprintf("NoHealthy(%d)", n)
}

// ParseNoHealthy reads a --no-healthy value; case and surrounding space are ignored.
func ParseNoHealthy(s string) (NoHealthy, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	for i, name := range noHealthyNames {
		if s == name {
			return NoHealthy(i), nil
		}
	}
	return 0, fmt.Errorf("no-healthy policy %q: want nxdomain, nodata or all", s)
}

// Validate reports a policy that cannot be applied.
func (p Policy) Validate() error {
	if int(p.NoHealthy) >= len(noHealthyNames) {
		return fmt.Errorf("no-healthy policy %v: want nxdomain, nodata or all", p.NoHealthy)
	}
	if p.PanicPercent < 0 || p.PanicPercent > 100 {
		return fmt.Errorf("panic threshold %d%%: want 0 to 100", p.PanicPercent)
	}
	return nil
}

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
)

func (f Fallback) String() string {
	return [...]string{"none", "nodata", "all", "panic"}[f]
}

// Choose picks the instances to answer with from every registered one, and says which
// fallback, if any, chose them.
func (p Policy) Choose(all []Instance) ([]Instance, Fallback) {
	healthy := make([]Instance, 0, len(all))
	for _, in := range all {
		if in.Healthy() {
			healthy = append(healthy, in)
		}
	}
	switch {
	case len(all) == 0:
		return healthy, NoFallback
	case len(healthy) == 0 && p.NoHealthy == NoHealthyAll:
		return all, FallbackAll
	case len(healthy) == 0 && p.NoHealthy == NoHealthyNoData:
		return healthy, FallbackNoData
	case len(healthy) == 0:
		return healthy, NoFallback
	case p.PanicPercent > 0 && len(healthy)*100 < p.PanicPercent*len(all):
		return all, FallbackPanic
	}
	return healthy, NoFallback
}
