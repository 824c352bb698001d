package cache

import (
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
}

// Empty reports whether there is nothing to answer with.
func (s *Service) Empty() bool { return len(s.Instances) == 0 }

// serveable applies the health filter. A later policy (no-healthy fallback, panic
// threshold) belongs here too, so the resolver only ever sees the final set.
func serveable(all []health.Instance) []health.Instance {
	out := make([]health.Instance, 0, len(all))
	for _, in := range all {
		if in.Healthy() {
			out = append(out, in)
		}
	}
	return out
}
