package admin

import (
	"errors"
	"sync"
)

// Readiness is what /readyz reports. Start-up moves through stages (waiting for
// Consul, then the cache's own view) and shutdown turns it off again, so it is a
// settable gate rather than a fixed function. The zero value says "starting".
type Readiness struct {
	mu       sync.Mutex
	check    func() (bool, string)
	reason   string
	degraded func() (bool, string)
}

// SetDegraded adds a check whose failure /readyz reports without turning unready:
// stale answers are still the best answers there are.
func (r *Readiness) SetDegraded(check func() (bool, string)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.degraded = check
}

// Degraded reports whether answers are stale, and why.
func (r *Readiness) Degraded() (bool, string) {
	r.mu.Lock()
	check := r.degraded
	r.mu.Unlock()
	if check == nil {
		return false, ""
	}
	return check()
}

// NotReady makes /readyz answer 503 with reason until SetCheck is called.
func (r *Readiness) NotReady(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.check, r.reason = nil, reason
}

// SetCheck delegates readiness to check, typically the cache's Ready method.
func (r *Readiness) SetCheck(check func() (bool, string)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.check, r.reason = check, ""
}

// Ready reports readiness and, when not ready or degraded, why.
func (r *Readiness) Ready() (bool, string) {
	r.mu.Lock()
	check, reason := r.check, r.reason
	r.mu.Unlock()
	if check == nil {
		if reason == "" {
			reason = "starting"
		}
		return false, reason
	}
	ok, reason := check()
	if ok {
		if d, why := r.Degraded(); d {
			return true, "degraded: " + why
		}
	}
	return ok, reason
}

// What srvbridge reports when Consul refuses its ACL token (docs/consul-acl.md). A
// refusal is not an outage: /readyz, the status page and /metrics say which
// permission is missing instead of "cannot reach Consul".

// Refusal is an error saying Consul refused the ACL token; health.PermissionError is
// one. Errors that wrap a Refusal count as refusals too.
type Refusal interface {
	error
	// CatalogWide reports whether the refusal keeps srvbridge from knowing which
	// names exist (the local datacenter, the catalog, the node list), rather than
	// hiding one service or query.
	CatalogWide() bool
}

// refusedReason is what /readyz and the status page say about a refusal.
func refusedReason(err error) string { return "permission denied: " + err.Error() }

// ConsulProblem says why the start-up try at Consul failed.
func ConsulProblem(err error) string {
	var r Refusal
	if errors.As(err, &r) {
		return refusedReason(err)
	}
	return "cannot reach Consul: " + err.Error()
}

// ReadyUnlessRefused is ready, except while Consul refuses the token the catalog,
// the node list or the local datacenter: then srvbridge cannot know which names
// exist, and says so with the missing permission. The cache alone would say "cannot
// reach Consul", or call itself ready on a catalog read minutes ago. DNS keeps
// answering the names it knew (never NXDOMAIN for them); only a load balancer
// acting on /readyz takes the replica out. denied is the refusal still current, or nil.
func ReadyUnlessRefused(ready func() (bool, string), denied func() error) func() (bool, string) {
	return func() (bool, string) {
		ok, reason := ready()
		var r Refusal
		if err := denied(); errors.As(err, &r) && (!ok || r.CatalogWide()) {
			return false, refusedReason(err)
		}
		return ok, reason
	}
}

// Settled is ready as the start-up wait for the first answers sees it: the wait also
// ends when Consul refuses the token catalog-wide, since no answer is coming.
func Settled(ready func() (bool, string), denied func() error) func() (bool, string) {
	return func() (bool, string) {
		var r Refusal
		if errors.As(denied(), &r) && r.CatalogWide() {
			return true, ""
		}
		return ready()
	}
}

// DegradedOrRefused adds a current refusal to degraded: when it hides single
// services or queries, srvbridge stays ready for everything else.
func DegradedOrRefused(degraded func() (bool, string), denied func() error) func() (bool, string) {
	return func() (bool, string) {
		if err := denied(); err != nil {
			return true, refusedReason(err) + "; serving the last known answers"
		}
		return degraded()
	}
}
