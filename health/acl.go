package health

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/consul/api"
)

// ErrPermission means Consul answered but refused srvbridge's ACL token: a 403, or an
// answer that ACL filtering emptied. It is never an outage: Consul is up, and retrying
// faster or waiting at the outage gate cannot help; the operator has to fix the token.
// Errors that wrap it are *PermissionError values naming the endpoint and the
// permission the token lacks.
var ErrPermission = errors.New("consul refused the ACL token")

// PermissionError says which request Consul refused and what the token needs.
// It carries neither the token nor its AccessorID.
type PermissionError struct {
	// Kind is the kind of request refused.
	Kind Kind
	// Endpoint is the Consul HTTP path asked, with the service or query name when it
	// has one: "/v1/health/service/web".
	Endpoint string
	// Permission is what the token lacks: "agent:read", "service:read", "node:read",
	// "query:read"; Consul's own wording when its answer names it.
	Permission string
	// Cause is how Consul refused: a 403 "Permission denied" or "ACL not found", or
	// an answer emptied by ACL filtering (the cause* constants).
	Cause string
	// Anonymous: no token was sent, so Consul used its anonymous token.
	Anonymous bool
}

func (e *PermissionError) Error() string {
	var b strings.Builder
	if e.Cause == causeFiltered {
		fmt.Fprintf(&b, "consul hid every result of %s from the token (ACL filtering)", e.Endpoint)
	} else {
		fmt.Fprintf(&b, "consul %s to %s", e.Cause, e.Endpoint)
	}
	switch {
	case e.Cause == causeNotFound:
		fmt.Fprintf(&b, ": Consul does not know the token (wrong, expired or deleted); srvbridge needs one with %s", e.Permission)
	case e.Anonymous:
		fmt.Fprintf(&b, ": no token was sent, and Consul's anonymous token lacks %s; set CONSUL_HTTP_TOKEN", e.Permission)
	default:
		fmt.Fprintf(&b, ": the token lacks %s", e.Permission)
	}
	return b.String()
}

// CatalogWide reports whether the refusal keeps srvbridge from knowing which names
// exist - the local datacenter, the service catalog or the node list - rather than
// hiding one service or query.
func (e *PermissionError) CatalogWide() bool {
	return e.Kind == KindDatacenters || e.Kind == KindCatalog || e.Kind == KindNodes
}

// Is makes errors.Is(err, ErrPermission) true.
func (e *PermissionError) Is(target error) bool { return target == ErrPermission }

// The causes Consul gives. An answer emptied by ACL filtering is a 200, but it would
// otherwise read as "no such service" and turn into NXDOMAIN for registered names.
const (
	causeDenied   = "answered 403 Permission denied"
	causeNotFound = "answered 403 ACL not found"
	causeFiltered = "hid every result (ACL filtering)"
)

// lacksPermission finds the permission in Consul's 403 body:
// "Permission denied: token with AccessorID '…' lacks permission 'agent:read' on "n1"".
var lacksPermission = regexp.MustCompile(`lacks permission '([a-z_-]+:[a-z]+)'`)

// errFiltered is what a fetch returns for an answer ACL filtering emptied; the loop
// turns it into a *PermissionError for its kind. errFilteredAnonymous is the same for
// the anonymous token, to which Consul never admits filtering.
var (
	errFiltered          = errors.New(causeFiltered)
	errFilteredAnonymous = fmt.Errorf("%w: anonymous token", errFiltered)
)

// endpointOf is the Consul path a request of kind k asks.
func endpointOf(k Kind) string {
	switch k {
	case KindCatalog:
		return "/v1/catalog/services"
	case KindService, KindServiceIndex:
		return "/v1/health/service"
	case KindNodes:
		return "/v1/catalog/nodes"
	case KindQuery:
		return "/v1/query"
	case KindProbe:
		return "/v1/catalog/service/consul"
	case KindChecks:
		return "/v1/health/state/any"
	case KindConfig:
		return "/v1/config/ingress-gateway"
	default:
		return "/v1/agent/self"
	}
}

// loopEndpoint names what one watch asks, from its description ("service dc1/web"):
// "/v1/health/service/web". Other watches ask one fixed path.
func loopEndpoint(k Kind, what string) string {
	if k == KindService {
		if _, name, ok := strings.Cut(what, "/"); ok {
			return endpointOf(k) + "/" + name
		}
	}
	return endpointOf(k)
}

// permissionOf is what Consul checks for a request of kind k. Service entries are
// filtered by the service's and its node's rules both, and so are query results.
func permissionOf(k Kind) string {
	switch k {
	case KindCatalog, KindConfig:
		return "service:read"
	case KindNodes:
		return "node:read"
	case KindQuery:
		return "query:read (and service:read, node:read for its results)"
	case KindDatacenters:
		return "agent:read"
	default:
		return "service:read and node:read"
	}
}

// asPermission turns a refusal of the token into a *PermissionError for a request of
// kind k to endpoint; any other error, and nil, is returned as it is.
func asPermission(k Kind, endpoint string, err error) error {
	if err == nil {
		return nil
	}
	var pe *PermissionError
	if errors.As(err, &pe) {
		return err
	}
	perm := permissionOf(k)
	if errors.Is(err, errFiltered) {
		return &PermissionError{Kind: k, Endpoint: endpoint, Permission: perm, Cause: causeFiltered,
			Anonymous: errors.Is(err, errFilteredAnonymous)}
	}
	var se api.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusForbidden {
		return err
	}
	pe = &PermissionError{Kind: k, Endpoint: endpoint, Permission: perm, Cause: causeDenied}
	if strings.Contains(se.Body, "ACL not found") {
		pe.Cause = causeNotFound
	}
	if m := lacksPermission.FindStringSubmatch(se.Body); m != nil {
		pe.Permission = m[1]
	}
	pe.Anonymous = strings.Contains(se.Body, "anonymous token")
	return pe
}

// emptied reports an answer that has nothing in it only because of ACLs. Consul sets
// X-Consul-Results-Filtered-By-ACLs for a valid token (never for the anonymous one,
// and never on the streaming backend of blocking health queries), so the catalog and
// the node list are also judged by what every datacenter has: the servers' nodes and
// their "consul" service. Under a default-deny policy (X-Consul-Default-ACL-Policy),
// empty lists of either mean the token may read none of them, and without the header,
// that the token is the anonymous one. Without ACLs, or a leaderless answer, it is
// left to the loop's own rules: a restarting server may answer from an empty state.
func emptied(k Kind, n int, meta *api.QueryMeta, leaderless bool) error {
	switch {
	case n > 0 || meta == nil || leaderless:
		return nil
	case meta.ResultsFilteredByACLs:
		return errFiltered
	case (k == KindCatalog || k == KindNodes) && meta.DefaultACLPolicy == "deny":
		return errFilteredAnonymous
	}
	return nil
}

// denials tracks Consul's refusals of the token: counts per kind for /metrics, and
// which refusals are current, for /readyz and the status page. A refusal is current
// while the loop (or one-shot kind) that got it has had no other outcome since.
type denials struct {
	counts [numKinds]atomic.Uint64
	// current is how many sources are refused right now; it lets the loops' success
	// path skip the lock.
	current atomic.Int64
	// noAgentSelf: /v1/agent/self was refused once, so LocalDatacenter goes straight
	// to the catalog.
	noAgentSelf atomic.Bool

	mu sync.Mutex
	// active holds, per cause, the latest refusal and how many sources have it.
	active map[string]*activeDenial
	// oneShot is the cause a one-shot kind was last refused with, "" if none.
	oneShot [numKinds]string
}

type activeDenial struct {
	kind Kind
	err  *PermissionError
	n    int
}

// causeKey groups refusals into what an operator fixes once: the same permission
// missing for 2 000 services is one cause, logged once.
func causeKey(k Kind, pe *PermissionError) string {
	return k.String() + "|" + pe.Cause + "|" + pe.Permission
}

// observe records the outcome of one request of kind k by a source whose last
// refusal is *cur ("" if none), and returns err with a refusal turned into a
// *PermissionError. Any other outcome, nil included, clears the source's refusal.
// A cause is logged at WARN when it becomes current, not on every retry.
func (d *denials) observe(log *slog.Logger, k Kind, endpoint string, err error, cur *string) error {
	err = asPermission(k, endpoint, err)
	if errors.Is(err, ErrPermission) {
		d.counts[k].Add(1)
	}
	d.track(log, k, err, cur)
	return err
}

// track is observe without counting a request: err is already classified.
func (d *denials) track(log *slog.Logger, k Kind, err error, cur *string) {
	var pe *PermissionError
	if !errors.As(err, &pe) {
		if *cur != "" && d.drop(cur) {
			log.Info("consul accepts the ACL token again", "kind", k.String())
		}
		return
	}
	key := causeKey(k, pe)
	d.mu.Lock()
	if *cur != key {
		d.dropLocked(cur)
		if d.active == nil {
			d.active = map[string]*activeDenial{}
		}
		a := d.active[key]
		if a == nil {
			a = &activeDenial{kind: k}
			d.active[key] = a
			log.Warn("consul refused the ACL token", "err", pe.Error(), "kind", k.String())
		}
		a.n++
		d.current.Add(1)
		*cur = key
	}
	d.active[key].err = pe
	d.mu.Unlock()
}

// drop forgets the refusal of the source whose last cause is *cur, as when its watch
// stops. It reports whether no refusal is left.
func (d *denials) drop(cur *string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dropLocked(cur)
	return len(d.active) == 0
}

func (d *denials) dropLocked(cur *string) {
	a := d.active[*cur]
	*cur = ""
	if a == nil {
		return
	}
	d.current.Add(-1)
	if a.n--; a.n <= 0 {
		delete(d.active, causeKeyOf(a))
	}
}

func causeKeyOf(a *activeDenial) string { return causeKey(a.kind, a.err) }

// observeOneShot is observe for the one-shot kinds, which have no loop to hold cur.
func (d *denials) observeOneShot(log *slog.Logger, k Kind, endpoint string, err error) error {
	d.oneShotDo(func(cur *string) { err = d.observe(log, k, endpoint, err, cur) }, k)
	return err
}

// trackOneShot is track for the one-shot kinds: the outcome of several requests,
// each counted already.
func (d *denials) trackOneShot(log *slog.Logger, k Kind, err error) {
	d.oneShotDo(func(cur *string) { d.track(log, k, err, cur) }, k)
}

func (d *denials) oneShotDo(fn func(cur *string), k Kind) {
	d.mu.Lock()
	cur := d.oneShot[k]
	d.mu.Unlock()
	fn(&cur)
	d.mu.Lock()
	d.oneShot[k] = cur
	d.mu.Unlock()
}

// err is a current refusal, nil when there is none. Kinds that keep srvbridge from
// becoming ready (the datacenter, the catalog) come first.
func (d *denials) err() error {
	if d.current.Load() == 0 {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var best *activeDenial
	for _, a := range d.active {
		if best == nil || readinessRank(a.kind) < readinessRank(best.kind) ||
			(a.kind == best.kind && a.err.Endpoint < best.err.Endpoint) {
			best = a
		}
	}
	if best == nil {
		return nil
	}
	return best.err
}

func readinessRank(k Kind) int {
	switch k {
	case KindDatacenters:
		return 0
	case KindCatalog:
		return 1
	case KindNodes:
		return 2
	case KindService:
		return 3
	default:
		return 4
	}
}

// refusal counts a request Consul refused the token for: an error, but no outage,
// since Consul answered. It ends the outage clock without counting as a successful
// contact, as the data stays as old as it was.
func (s *Stats) refusal(k Kind) {
	s.errors[k].Add(1)
	s.failingSince.Store(0)
}

// failed counts a failed request of kind k, a refusal or an outage.
func (s *Stats) failed(k Kind, err error) {
	if errors.Is(err, ErrPermission) {
		s.refusal(k)
		return
	}
	s.failure(k)
}

// Denied returns a refusal of the token that is still current - the last request of
// some watch or one-shot got it and nothing else since - or nil. It wraps
// ErrPermission. Readiness combines it with the cache's view, so that "not ready"
// names the missing permission instead of looking like an outage.
func (w *Watcher) Denied() error { return w.stats.acl.err() }

// Denials is the number of requests of kind k that Consul refused the token for.
func (s *Stats) Denials(k Kind) uint64 {
	if k >= numKinds {
		return 0
	}
	return s.acl.counts[k].Load()
}
