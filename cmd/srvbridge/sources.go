package main

// sources.go adapts the packages' own counters and listings to the small interfaces
// internal/admin reads at scrape time; run.go hands them over as the packages start.

import (
	"runtime"
	"time"

	"github.com/srvbridge/srvbridge/cache"
	"github.com/srvbridge/srvbridge/health"
	"github.com/srvbridge/srvbridge/internal/admin"
	"github.com/srvbridge/srvbridge/resolver"
	"github.com/srvbridge/srvbridge/resolver/forward"
)

func currentBuildInfo() admin.BuildInfo {
	return admin.BuildInfo{Version: version, Commit: commit, GoVersion: runtime.Version()}
}

// healthStats adapts *health.Stats to admin.ConsulStats and admin.ConsulPressure.
type healthStats struct {
	s     *health.Stats
	w     *health.Watcher
	conns *connCounter
	h2    *h2Counter
}

func (h healthStats) Pressure() admin.PressureCounts {
	limit, _ := h.w.RequestLimit()
	return admin.PressureCounts{InFlight: h.s.InFlight(), Conns: h.conns.Open(), Limit: int64(limit),
		Throttled: h.s.Throttled(), Sweeps: h.s.Sweeps(), SweepReadsSaved: h.s.SweepReadsSaved(), HTTP2: h.h2.Count()}
}

func (h healthStats) EachKind(fn func(kind string, requests, errors uint64)) {
	for _, k := range health.Kinds() {
		fn(k.String(), h.s.Requests(k), h.s.Errors(k))
	}
}

func (h healthStats) LastContact() time.Time { return h.s.LastContact() }

// A refused token is health's *PermissionError, which admin knows as a Refusal.
var _ admin.Refusal = (*health.PermissionError)(nil)

// watcherACL adapts *health.Watcher to admin.ACLStats.
type watcherACL struct{ w *health.Watcher }

func (a watcherACL) EachDenied(fn func(kind string, n uint64)) {
	for _, k := range health.Kinds() {
		fn(k.String(), a.w.Stats().Denials(k))
	}
}

func (a watcherACL) Denied() error { return a.w.Denied() }

// cacheStatsOf adapts *cache.Stats to admin.CacheStats.
type cacheStatsOf struct{ s *cache.Stats }

func (c cacheStatsOf) Served() (services, instances, watches int64) {
	return c.s.Services(), c.s.Instances(), c.s.Watches()
}

// answerStatsOf adapts the resolver's, watcher's and store's counters to
// admin.AnswerStats.
type answerStatsOf struct {
	*resolver.Stats
	consul *health.Stats
	store  *cache.Store[*resolver.Answers]
}

func (a answerStatsOf) StaleSeconds() float64 { return a.consul.Outage().Seconds() }

func (a answerStatsOf) Degraded() bool {
	d, _ := degraded(a.store, a.consul)
	return d
}

// degraded says whether answers are served from stale data, and why: /readyz stays
// 200 then (the answers are still the best there are), but reports it.
func degraded(store *cache.Store[*resolver.Answers], consul *health.Stats) (bool, string) {
	if d, why := store.Degraded(); d {
		return true, why
	}
	if out := consul.Outage(); out > 0 {
		return true, "Consul unreachable for " + out.Round(1e9).String() + "; serving the last known answers"
	}
	return false, ""
}

// forwardStatsOf adapts the resolver's and the forwarder's counters to
// admin.ForwardStats; fwd is nil when forwarding is off.
type forwardStatsOf struct {
	res *resolver.Stats
	fwd *forward.Forwarder
}

func (f forwardStatsOf) Recursion() (forwarded, failed, refused uint64) {
	return f.res.Forwarded(), f.res.ForwardFailed(), f.res.RefusedRecursion()
}

func (f forwardStatsOf) Forwarder() (admin.ForwarderCounts, bool) {
	if f.fwd == nil {
		return admin.ForwarderCounts{}, false
	}
	st := f.fwd.Stats()
	entries, bytes := f.fwd.CacheSize()
	return admin.ForwarderCounts{
		CacheHits: st.CacheHits(), CacheMisses: st.CacheMisses(), CacheEvictions: st.CacheEvictions(),
		StaleServed: st.StaleServed(), Loops: st.Loops(), CacheEntries: entries, CacheBytes: bytes,
	}, true
}

func (f forwardStatsOf) EachUpstream(fn func(admin.UpstreamCounts)) {
	if f.fwd == nil {
		return
	}
	for _, u := range f.fwd.Upstreams() {
		fn(admin.UpstreamCounts(u))
	}
}

// storeListing adapts the cache's listing (*cache.Store) to admin.ServiceLister.
type storeListing struct {
	s interface {
		Status(cache.StatusFilter) cache.StoreStatus
	}
}

func (l storeListing) Services(q admin.ServiceQuery) admin.Listing {
	st := l.s.Status(cache.StatusFilter{Contains: q.Contains, Limit: q.Limit})
	out := admin.Listing{Datacenter: st.LocalDC, Matched: st.Matched, Catalog: st.Catalog,
		Services: make([]admin.ServiceStatus, 0, len(st.Services))}
	for _, ss := range st.Services {
		out.Services = append(out.Services, serviceStatusOf(ss, q.Instances))
	}
	return out
}

// serviceStatusOf lists at most most instances of ss (0: all), each marked whether
// it is in the answers.
func serviceStatusOf(ss cache.ServiceStatus, most int) admin.ServiceStatus {
	svc := ss.Service
	out := admin.ServiceStatus{
		Name: ss.Name, Datacenter: ss.Datacenter,
		Served: len(svc.Instances), Listed: len(svc.All),
		Updated: svc.Updated, LastUsed: ss.LastUsed,
	}
	if svc.Fallback != health.NoFallback {
		out.Fallback = svc.Fallback.String()
	}
	all := svc.All
	if most > 0 && len(all) > most {
		all = all[:most]
	}
	served := make(map[[2]string]bool, len(svc.Instances))
	for _, in := range svc.Instances {
		served[[2]string{in.Node, in.ID}] = true
	}
	out.Instances = make([]admin.InstanceStatus, len(all))
	for i, in := range all {
		out.Instances[i] = admin.InstanceStatus{ID: in.ID, Node: in.Node, Address: in.Address, Port: in.Port,
			Weight: in.Weight, Health: in.RawStatus, Served: served[[2]string{in.Node, in.ID}], Tags: in.Tags}
	}
	return out
}
