package cache

import "sync/atomic"

// Stats are counters read at scrape time; writers update them off the query path.
type Stats struct {
	services  atomic.Int64 // held services with something to serve
	instances atomic.Int64 // instances in those answers
	watches   atomic.Int64 // services held: kept fresh by the Source
	evictions atomic.Uint64
	idle      atomic.Uint64
}

// Services is the number of services with instances being served.
func (s *Stats) Services() int64 { return s.services.Load() }

// Instances is the number of instances being served, summed over services.
func (s *Stats) Instances() int64 { return s.instances.Load() }

// Watches is the number of services held, whose answers the Source keeps fresh.
// Since the change feed they cost no connection each, only memory.
func (s *Stats) Watches() int64 { return s.watches.Load() }

// Evictions counts services released to stay within the on-demand bound.
func (s *Stats) Evictions() uint64 { return s.evictions.Load() }

// IdleStops counts services released because nobody asked for them.
func (s *Stats) IdleStops() uint64 { return s.idle.Load() }

// account moves the counters from what old served to what new serves.
func account[C any](s *Stats, old, new *entry[C]) {
	o, n := old.served(), new.served()
	s.instances.Add(int64(n - o))
	switch {
	case o == 0 && n > 0:
		s.services.Add(1)
	case o > 0 && n == 0:
		s.services.Add(-1)
	}
}
