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
	// Fallback says which no-healthy policy chose Instances, if any did.
	Fallback health.Fallback
	// TTL, when set, is the TTL the answers must carry (a prepared query's own).
	TTL time.Duration
}

// Empty reports whether there is nothing to answer with.
func (s *Service) Empty() bool { return len(s.Instances) == 0 }
