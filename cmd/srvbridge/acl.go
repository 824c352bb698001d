package main

// acl.go: what srvbridge does when Consul refuses its ACL token (docs/consul-acl.md).
// A refusal is not an outage: /readyz, the status page and /metrics say which
// permission is missing instead of "cannot reach Consul".

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/srvbridge/srvbridge/health"
)

// aclStats reports Consul's refusals of the token; health.Watcher backs it.
type aclStats interface {
	// EachDenied gives the requests refused so far, by kind of endpoint.
	EachDenied(fn func(kind string, n uint64))
	// Denied is a refusal that is still current, or nil.
	Denied() error
}

var descConsulDenied = prometheus.NewDesc("srvbridge_consul_denied_total",
	"Consul HTTP requests refused for the ACL token (403, or an answer ACL filtering emptied), by kind of endpoint. Also counted in srvbridge_consul_errors_total.",
	[]string{"kind"}, nil)

func collectACL(ch chan<- prometheus.Metric, s aclStats) {
	s.EachDenied(func(kind string, n uint64) {
		ch <- prometheus.MustNewConstMetric(descConsulDenied, prometheus.CounterValue, float64(n), kind)
	})
}

// watcherACL adapts *health.Watcher to aclStats.
type watcherACL struct{ w *health.Watcher }

func (a watcherACL) EachDenied(fn func(kind string, n uint64)) {
	for _, k := range health.Kinds() {
		fn(k.String(), a.w.Stats().Denials(k))
	}
}

func (a watcherACL) Denied() error { return a.w.Denied() }

// refusedReason is what /readyz and the status page say about a refusal.
func refusedReason(err error) string { return "permission denied: " + err.Error() }

// consulProblem says why the start-up try at Consul failed.
func consulProblem(err error) string {
	if errors.Is(err, health.ErrPermission) {
		return refusedReason(err)
	}
	return "cannot reach Consul: " + err.Error()
}

// readyUnlessRefused is ready, except while Consul refuses the token the catalog,
// the node list or the local datacenter: then srvbridge cannot know which names
// exist, and says so with the missing permission. The cache alone would say "cannot
// reach Consul", or call itself ready on a catalog read minutes ago. DNS keeps
// answering the names it knew (never NXDOMAIN for them); only a load balancer
// acting on /readyz takes the replica out.
func readyUnlessRefused(ready func() (bool, string), denied func() error) func() (bool, string) {
	return func() (bool, string) {
		ok, reason := ready()
		var pe *health.PermissionError
		if err := denied(); errors.As(err, &pe) && (!ok || pe.CatalogWide()) {
			return false, refusedReason(err)
		}
		return ok, reason
	}
}

// settled is ready as the start-up wait for the first answers sees it: the wait also
// ends when Consul refuses the token catalog-wide, since no answer is coming.
func settled(ready func() (bool, string), denied func() error) func() (bool, string) {
	return func() (bool, string) {
		var pe *health.PermissionError
		if errors.As(denied(), &pe) && pe.CatalogWide() {
			return true, ""
		}
		return ready()
	}
}

// degradedOrRefused adds a current refusal to degraded: when it hides single
// services or queries, srvbridge stays ready for everything else.
func degradedOrRefused(degraded func() (bool, string), denied func() error) func() (bool, string) {
	return func() (bool, string) {
		if err := denied(); err != nil {
			return true, refusedReason(err) + "; serving the last known answers"
		}
		return degraded()
	}
}

// errUnknownDatacenter: --datacenter names a datacenter Consul does not know.
var errUnknownDatacenter = errors.New("unknown datacenter")

// localDatacenter is the start-up try at Consul. With --datacenter (name) it only
// checks that Consul answers and knows that datacenter (/v1/catalog/datacenters,
// which needs no ACL); without, it asks Consul which datacenter is local.
func localDatacenter(ctx context.Context, name string, w *health.Watcher) (string, error) {
	if name == "" {
		return w.LocalDatacenter(ctx)
	}
	dcs, err := w.Datacenters(ctx)
	if err != nil {
		return name, err
	}
	if !slices.Contains(dcs, name) {
		return name, fmt.Errorf("--datacenter %q: %w: Consul knows %s", name, errUnknownDatacenter, strings.Join(dcs, ", "))
	}
	return name, nil
}

// validDatacenter is what Consul accepts as a datacenter name (lower case after its
// own folding), which must also fit in one DNS label.
var validDatacenter = regexp.MustCompile(`^[a-z0-9_-]{1,63}$`)

// parseDatacenter reads --datacenter: empty (learn it from Consul) or a name.
func parseDatacenter(r *rawFlag) (string, error) {
	dc := strings.ToLower(strings.TrimSpace(r.value))
	if dc != "" && !validDatacenter.MatchString(dc) {
		return "", r.errorf("a datacenter name has 1 to 63 letters, digits, - or _")
	}
	return dc, nil
}
