package health

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
)

const (
	// DefaultWaitTime is shorter than Consul's own 5 minute default. An idle blocking
	// request is the only moment a silently dead connection (hung agent, dropped NAT or
	// conntrack state, a proxy's idle timeout) goes unnoticed, and the request deadline
	// below is derived from the wait. One extra request per watch per minute is cheap
	// against the agent's cache and streaming backend.
	DefaultWaitTime = 60 * time.Second
	// DefaultMinInterval caps one loop at 20 requests/s under heavy churn, while
	// adding at most 50ms to the propagation of a change.
	DefaultMinInterval = 50 * time.Millisecond

	// maxWaitTime is Consul's own limit; it silently clamps longer waits.
	maxWaitTime = 10 * time.Minute
	// oneShotTimeout bounds the non-blocking helpers (LocalDatacenter, Datacenters).
	oneShotTimeout = 10 * time.Second
)

// Config configures a Watcher.
type Config struct {
	// Client sends the ACL token, if any, in the X-Consul-Token header (api.Config.Token):
	// never as a ?token= parameter, which would end up in error strings.
	Client *api.Client
	// Policy is the answer policy; the watcher applies its OnlyPassing half when it
	// classifies instances, the cache the rest (Policy.Choose).
	Policy Policy
	// WaitTime bounds each blocking request; 0 means DefaultWaitTime. Consul caps it
	// at 10 minutes.
	WaitTime time.Duration
	// MinInterval is the least time between the starts of two successive requests of
	// one loop; 0 means DefaultMinInterval, negative disables the limit.
	MinInterval time.Duration
	// AllowStale lets any server answer, not only the leader: reads keep working during
	// leader elections and load spreads over all servers. Production wiring should set
	// it (the zero value is the conservative choice only because it is the zero value).
	AllowStale bool
	// MaxConns is the connection budget (per Watcher, all datacenters together):
	// the blocking queries of each watched datacenter, the refetch requests in
	// flight and the probe connection (Probes); 0 means DefaultMaxConns. The
	// transport should carry the same bound (http.Transport.MaxConnsPerHost), less
	// ProbeConns when Probes is set.
	MaxConns int
	// Probes, when set, sends the sweeps' index probes pipelined on a connection of
	// their own (pipeline.go), which takes ProbeConns of MaxConns. nil: probes go
	// through Client.
	Probes *ProbeConn
	// Logger receives warnings about Consul outages; nil discards.
	Logger *slog.Logger
}

// DefaultMaxConns is the connection budget: far under the 200 connections a Consul
// agent accepts from one client address by default, so that a few replicas and the
// local tools fit beside each other.
const DefaultMaxConns = 16

// Watcher runs blocking-query loops against one Consul agent. It is safe for
// concurrent use: run one Watch* call per goroutine.
type Watcher struct {
	cfg   Config
	log   *slog.Logger
	stats Stats
	gate  *gate
	lim   *limiter
	pipe  *pipeline // nil: no pipelined probes

	feedsMu sync.Mutex
	feeds   map[string]*feed // datacenter as asked ("" = the agent's own) → its feed
	running int              // feeds whose WatchDatacenter runs
	peers   peerSet          // cluster peers (peer.go)
}

// NewWatcher applies defaults to cfg. It panics if cfg.Client is nil.
func NewWatcher(cfg Config) *Watcher {
	if cfg.Client == nil {
		panic("health: Config.Client is nil")
	}
	if cfg.WaitTime <= 0 {
		cfg.WaitTime = DefaultWaitTime
	}
	cfg.WaitTime = min(cfg.WaitTime, maxWaitTime)
	switch {
	case cfg.MinInterval == 0:
		cfg.MinInterval = DefaultMinInterval
	case cfg.MinInterval < 0:
		cfg.MinInterval = 0
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	w := &Watcher{cfg: cfg, log: log, feeds: map[string]*feed{}}
	if cfg.Probes != nil {
		p, err := newPipeline(*cfg.Probes)
		if err != nil {
			log.Warn("index probes go one at a time", "err", err)
		}
		w.pipe = p
	}
	w.lim = newLimiter(w.poolMaxLocked() - loopsPerFeed) // as if one feed ran: one will
	w.gate = newGate(w.probe, log)
	return w
}

// probe asks whether Consul is back, with a consistent read of the servers' own
// catalog entry (/v1/catalog/service/consul?consistent). A restarted server answers
// stale reads, and knows a leader, while it is still replaying its log - the scale
// bench saw known names answered NXDOMAIN from such partial states for tens of
// seconds - but it serves consistent reads only once the leader has applied
// everything committed. A refusal that is not about reachability (an ACL denial)
// still means Consul is back.
func (w *Watcher) probe(ctx context.Context) error {
	defer w.stats.begin(KindProbe)()
	q := (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx)
	_, _, err := w.cfg.Client.Catalog().Service("consul", "", q)
	if err != nil && unreachable(err) {
		w.stats.failure(KindProbe)
		return redact(err)
	}
	return nil
}

// leader returns errNoLeader when a stale read came from a server that knows no
// leader: its data may be a partial state (a restarting server still replaying its
// log). The loop keeps what it had rather than take such an answer, unless it has
// nothing yet. Catalog and node lists only: Consul's agent answers blocking
// /v1/health/service queries from its streaming backend without the header, so
// there it would read as "no leader" every time.
func (w *Watcher) leader(meta *api.QueryMeta) error {
	if w.cfg.AllowStale && meta != nil && !meta.KnownLeader {
		return errNoLeader
	}
	return nil
}

// Stats returns the watcher's counters; they are live, not a copy.
func (w *Watcher) Stats() *Stats { return &w.stats }

// RequestLimit is how many refetches may be in flight now (it halves on each 429
// and grows back with successes) and the most it may reach.
func (w *Watcher) RequestLimit() (limit, most int) {
	l, _ := w.lim.current()
	return l, w.lim.most()
}

// queryOptions builds one request. Its context carries a deadline so that a hung agent
// (paused process, black-holed connection) cannot stall a loop forever: the api
// client's default HTTP client has no timeout, as blocking queries require.
func (w *Watcher) queryOptions(ctx context.Context, dc string, index uint64) (*api.QueryOptions, context.CancelFunc) {
	// Past the wait and Consul's wait/16 jitter, a request gets a grace period of a
	// quarter of the wait (1s to 10s) before it is abandoned as hung.
	grace := min(max(w.cfg.WaitTime/4, time.Second), 10*time.Second)
	timeout := grace
	wait := w.cfg.WaitTime
	if index > 0 {
		wait = spreadWait(wait)
		timeout += wait + wait/16
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	q := &api.QueryOptions{
		Datacenter: dc,
		AllowStale: w.cfg.AllowStale,
		WaitIndex:  index,
		WaitTime:   wait,
	}
	return q.WithContext(rctx), cancel
}

// spreadWait varies one request's wait within ±25 %. Watches that (re)started
// together - all of them at start-up, or after an outage - would otherwise keep
// returning together every WaitTime (Consul's own jitter is only wait/16): at 10 000
// services, bursts of a thousand full answers a second. A few rounds of this spread
// them out.
func spreadWait(wait time.Duration) time.Duration {
	return min(wait*3/4+rand.N(wait/2+1), maxWaitTime)
}

// run wires a typed fetch into the loop.
func run[T any](ctx context.Context, w *Watcher, kind Kind, what string, fetch fetchFunc[T], out func(T)) error {
	l := loop[T]{kind: kind, what: what, fetch: fetch, out: out, stats: &w.stats, log: w.log, minInterval: w.cfg.MinInterval, gate: w.gate}
	return l.run(ctx)
}

// WatchCatalog watches the list of service names and tags in dc
// (/v1/catalog/services), and calls out with the full list first and then on every
// change of Consul's index. dc "" means the agent's own datacenter; Catalog.Datacenter
// echoes dc as given.
//
// It blocks until ctx is done and then returns ctx.Err(). The only other return is an
// error wrapping ErrNoDatacenter, before out was ever called.
func (w *Watcher) WatchCatalog(ctx context.Context, dc string, out func(Catalog)) error {
	return run(ctx, w, KindCatalog, "catalog "+dc, func(ctx context.Context, index uint64) (Catalog, uint64, error) {
		q, cancel := w.queryOptions(ctx, dc, index)
		defer cancel()
		svcs, meta, err := w.cfg.Client.Catalog().Services(q)
		if err != nil {
			return Catalog{}, 0, classify(dc, err)
		}
		if err := emptied(KindCatalog, len(svcs), meta, w.leader(meta) != nil); err != nil {
			return Catalog{}, 0, err
		}
		if svcs == nil {
			svcs = map[string][]string{}
		}
		return Catalog{Datacenter: dc, Services: svcs, Index: meta.LastIndex}, meta.LastIndex, w.leader(meta)
	}, out)
}

// WatchNodes watches the node list of dc (/v1/catalog/nodes), with the same contract
// as WatchCatalog.
func (w *Watcher) WatchNodes(ctx context.Context, dc string, out func(Nodes)) error {
	return run(ctx, w, KindNodes, "nodes "+dc, func(ctx context.Context, index uint64) (Nodes, uint64, error) {
		q, cancel := w.queryOptions(ctx, dc, index)
		defer cancel()
		nodes, meta, err := w.cfg.Client.Catalog().Nodes(q)
		if err != nil {
			return Nodes{}, 0, classify(dc, err)
		}
		if err := emptied(KindNodes, len(nodes), meta, w.leader(meta) != nil); err != nil {
			return Nodes{}, 0, err
		}
		ns := make([]Node, 0, len(nodes))
		for _, n := range nodes {
			if n != nil {
				ns = append(ns, Node{Name: n.Node, Address: n.Address, Meta: n.Meta})
			}
		}
		return Nodes{Datacenter: dc, Nodes: ns, Index: meta.LastIndex}, meta.LastIndex, w.leader(meta)
	}, out)
}

// Datacenters lists the datacenters Consul knows (/v1/catalog/datacenters). Use it to
// tell an unknown datacenter from an unreachable one without starting a watch.
func (w *Watcher) Datacenters(ctx context.Context) ([]string, error) {
	var dcs []string
	if err := w.oneShot(ctx, "/v1/catalog/datacenters", &dcs); err != nil {
		return nil, fmt.Errorf("datacenters: %w", err)
	}
	return dcs, nil
}

func (w *Watcher) oneShot(ctx context.Context, path string, out any) error {
	rctx, cancel := context.WithTimeout(ctx, oneShotTimeout)
	defer cancel()
	defer w.stats.begin(KindDatacenters)()
	if _, err := w.cfg.Client.Raw().Query(path, out, (&api.QueryOptions{}).WithContext(rctx)); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		w.stats.failure(KindDatacenters)
		return redact(err)
	}
	w.stats.contact()
	return nil
}
