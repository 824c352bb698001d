package health

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
)

// The change feed of one datacenter. Instead of a blocking query per service (one
// HTTP/1.1 connection each, and Consul's agents accept 200 per client), four
// blocking queries follow the whole datacenter and say which services changed; a
// small pool refetches only those, with non-blocking reads. See docs/consul-watch.md
// for the measurements behind each rule.
//
//   - checks: /v1/health/state/any?filter=Status != "passing". Its index moves on
//     every check write; its answer holds only the checks that are not passing, so
//     it stays small however big the catalog is, and a check entering it, leaving
//     it, or changing in it is every status change there is: service checks,
//     node checks (serfHealth, which affect every service on the node) and
//     maintenance mode (a critical check Consul adds).
//   - services: /v1/catalog/services. Its index moves on every registration,
//     deregistration and re-registration, including those the checks never see
//     (a new port or address with the same check, an instance with no check).
//     Its answer cannot say which service changed (the name → tags map often
//     stays the same), so each move queues every held service: a sweep, which
//     asks each for its index before reading it again (sweepprobe.go).
//   - nodes: /v1/catalog/nodes, for <node>.node names and for node addresses,
//     which instances without an address of their own answer with.
//   - gateways: /v1/config/ingress-gateway, which services each ingress gateway
//     exposes: a change there alone moves none of the other three (mesh.go).
//
// Only held services are refetched: those the cache serves (on demand or
// prefetched). A held service is fetched when first held and again on each
// change that may concern it, at most one fetch per service at a time.

// Sink receives what a datacenter's feed learns. Its methods are called from the
// feed's goroutines, concurrently, and must not block for long.
type Sink interface {
	Catalog(Catalog)
	Nodes(Nodes)
	// Service is the new state of a held service. A state may still arrive shortly
	// after Release: the receiver drops what it no longer holds.
	Service(ServiceState)
}

// nonPassing is the filter of the checks feed. Consul's filter language compares
// strings only with == and != (no ordering, and no index field is selectable).
const nonPassing = `Status != "passing"`

type feed struct {
	w  *Watcher
	dc string

	mu   sync.Mutex
	sink Sink
	held map[string]*heldService // service name as the catalog spells it
	// Services to fetch: first holds (a query waits for them), then changes the
	// feed attributed to them (a check, a node), then sweeps, so that a check
	// change is not stuck behind a sweep of the whole catalog. A name may sit in
	// more than one; next takes it once and skips the rest.
	holds, changes, sweeps fifo
	sweeping               int // swept services taken and not finished (sweepSlots)
	nodeSvcs               map[string]map[string]struct{}
	nodeAddr               map[string]string
	meshBy                 map[string]map[string]struct{} // service → held mesh entries with instances of it (mesh.go)
	exposed                map[string]bool                // gateway/service pairs of the ingress-gateway config entries (mesh.go); nil before the first answer
	checks                 map[checkKey]checkSeen         // the non-passing checks of the last answer
	wake                   chan struct{}
}

type heldService struct {
	queued   bool
	urgent   bool // queued in holds or changes, not only in sweeps
	fetching bool
	again    bool // a change came while fetching: fetch once more
	// againUrgent: one of those changes concerned it (not only a sweep), so the
	// fetch once more is a full read, ahead of the sweeps.
	againUrgent bool
	failures    int    // consecutive failed fetches, for their backoff
	denied      string // the cause of its current ACL refusal, "" if none (acl.go)
	sum         uint64 // stateSum of the last state delivered
	summed      bool   // sum is set
	sweep       bool   // this fetch was queued by a sweep only: it may be an index probe
	// index is the X-Consul-Index of the last full read, whose content the sink
	// has (delivered, or the same as delivered). trusted is the gate's resync
	// channel as of when that read started: closed once Consul went away or reset
	// since, and then index proves nothing (sweepprobe.go). nil: no such read.
	// started is that channel for the read in progress.
	index            uint64
	trusted, started <-chan struct{}
	nodes            []string // nodes of the instances in the last state
	sources          []string // services of a mesh entry's instances in the last state
}

type checkKey struct{ node, id string }

type checkSeen struct {
	status  string
	service string // ServiceName; "" for a node check
	modify  uint64
}

func newFeed(w *Watcher, dc string) *feed {
	return &feed{w: w, dc: dc, held: map[string]*heldService{}, nodeSvcs: map[string]map[string]struct{}{},
		meshBy: map[string]map[string]struct{}{},
		wake:   make(chan struct{}, 1)}
}

// feedFor returns dc's feed, creating it on first use (a Hold may come first).
func (w *Watcher) feedFor(dc string) *feed {
	w.feedsMu.Lock()
	defer w.feedsMu.Unlock()
	f := w.feeds[dc]
	if f == nil {
		f = newFeed(w, dc)
		w.feeds[dc] = f
	}
	return f
}

// Hold asks for service name in dc: it is fetched now, delivered to dc's Sink, and
// fetched again whenever the feed sees a change that may concern it, until Release.
// Holding a held service does nothing. dc "" is the agent's own datacenter.
func (w *Watcher) Hold(dc, name string) {
	if _, ok := PeerOf(dc); ok {
		w.peerFeedFor(dc).hold(name)
		return
	}
	w.feedFor(dc).hold(name)
}

// Release stops keeping name fresh.
func (w *Watcher) Release(dc, name string) {
	if _, ok := PeerOf(dc); ok {
		w.peerFeedFor(dc).release(name)
		return
	}
	w.feedFor(dc).release(name)
}

// WatchDatacenter follows dc's catalog and keeps its held services fresh, delivering
// to sink, until ctx is done; then it returns ctx.Err(). Like the Watch* calls, it
// returns ErrNoDatacenter (wrapped) when the first answer says dc does not exist.
// One call per datacenter at a time. A cluster peer (PeerDatacenter) is followed
// service by service instead (peer.go).
func (w *Watcher) WatchDatacenter(ctx context.Context, dc string, sink Sink) error {
	if _, ok := PeerOf(dc); ok {
		return w.peerFeedFor(dc).watch(ctx, sink)
	}
	f := w.feedFor(dc)
	f.mu.Lock()
	f.sink = sink
	f.mu.Unlock()
	w.feedRunning(dc, 1)
	defer w.feedRunning(dc, -1)
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, loopsPerFeed)
	for _, loop := range []func(context.Context) error{f.watchServices, f.watchNodes, f.watchChecks, f.watchIngress} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- loop(ctx)
		}()
	}
	for range w.cfg.MaxConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.work(ctx)
		}()
	}
	err := <-errs // the first loop to end: ctx is done, or dc does not exist
	cancel()
	wg.Wait()
	f.dropDenials()
	if errors.Is(err, ErrNoDatacenter) || parent.Err() == nil {
		return err
	}
	return parent.Err()
}

// loopsPerFeed is the blocking queries of one feed. Over HTTP/1.1 each holds a
// connection for as long as it waits, so they come off the refetch pool's share of
// the budget; over HTTP/2 this is only conservative.
const loopsPerFeed = 4

// poolMaxLocked is what the refetch pool may have in flight: the budget less the
// feeds' blocking queries, the peers' share and the probe connection.
// w.feedsMu must be held (or w not shared yet).
func (w *Watcher) poolMaxLocked() int {
	n := w.cfg.MaxConns - loopsPerFeed*w.running - w.peerReserveLocked()
	if w.pipe != nil {
		n -= ProbeConns
	}
	return n
}

// feedRunning counts the feeds running and gives the refetch pool what their
// blocking queries leave of the budget. When they leave nothing, refetches would
// wait behind blocking queries for up to a wait time: say so once.
func (w *Watcher) feedRunning(dc string, delta int) {
	w.feedsMu.Lock()
	defer w.feedsMu.Unlock()
	w.running += delta
	if w.running == 0 && w.pipe != nil {
		w.pipe.closeIdle() // its users, the feeds' workers, have ended
	}
	left := w.poolMaxLocked()
	w.lim.setMax(left)
	if delta > 0 && left < 1 {
		w.log.Warn("the Consul connection budget is too small for the datacenters followed: over HTTP/1.1 refetches wait behind blocking queries; raise --consul-max-conns or use HTTPS",
			"datacenter", dc, "datacenters", w.running, "budget", w.cfg.MaxConns)
	}
}

// The first answer of each loop is compared with nothing, so it marks everything
// it could concern: a service held (and fetched) before the feed's first answers
// may have changed between its fetch and them.

func (f *feed) watchServices(ctx context.Context) error {
	return f.w.WatchCatalog(ctx, f.dc, func(c Catalog) {
		f.sinkNow().Catalog(c)
		f.sweep()
	})
}

func (f *feed) watchNodes(ctx context.Context) error {
	return f.w.WatchNodes(ctx, f.dc, func(n Nodes) {
		f.sinkNow().Nodes(n)
		f.nodesChanged(n)
	})
}

func (f *feed) watchChecks(ctx context.Context) error {
	return run(ctx, f.w, KindChecks, "checks "+f.dc, func(ctx context.Context, index uint64) ([]*api.HealthCheck, uint64, error) {
		q, cancel := f.w.queryOptions(ctx, f.dc, index)
		defer cancel()
		q.Filter = nonPassing
		checks, meta, err := f.w.cfg.Client.Health().State(api.HealthAny, q)
		if err != nil {
			return nil, 0, classify(f.dc, err)
		}
		return checks, meta.LastIndex, f.w.leader(meta)
	}, f.checksChanged)
}

// dropDenials forgets the held services' refusals once nobody fetches them: a
// refusal is current only while some request keeps getting it.
func (f *feed) dropDenials() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, h := range f.held {
		f.w.stats.acl.drop(&h.denied)
	}
}

func (f *feed) sinkNow() Sink {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sink
}

func (f *feed) hold(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.held[name] != nil {
		return
	}
	f.held[name] = &heldService{queued: true, urgent: true}
	f.holds.push(name)
	f.signal()
}

func (f *feed) release(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := f.held[name]
	if h == nil {
		return
	}
	delete(f.held, name)
	f.setNodes(name, h, nil)
	f.setSources(name, h, nil)
	if !h.fetching { // else the fetching worker drops it (done)
		f.w.stats.acl.drop(&h.denied)
	}
}

// markLocked queues name for a fetch if it is held: in changes when the change is
// known to concern it, else (a sweep) in sweeps.
func (f *feed) markLocked(name string, urgent bool) {
	h := f.held[name]
	switch {
	case h == nil:
	case h.fetching:
		h.again = true
		h.againUrgent = h.againUrgent || urgent
	case urgent && !h.urgent:
		h.queued, h.urgent = true, true
		f.changes.push(name)
	case !h.queued:
		h.queued = true
		f.sweeps.push(name)
	}
}

func (f *feed) mark(names ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range names {
		f.markLocked(n, true)
	}
	f.signal()
}

// markNodes queues every held service with an instance on one of nodes.
func (f *feed) markNodes(nodes []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range nodes {
		for svc := range f.nodeSvcs[n] {
			f.markLocked(svc, true)
		}
	}
	f.signal()
}

// sweep queues every held service: the catalog changed and cannot say where.
func (f *feed) sweep() {
	f.w.stats.sweeps.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	for name := range f.held {
		f.markLocked(name, false)
	}
	f.signal()
}

func (f *feed) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// nodesChanged queues the services on nodes whose address changed or that left.
func (f *feed) nodesChanged(n Nodes) {
	addr := make(map[string]string, len(n.Nodes))
	for _, nd := range n.Nodes {
		addr[nd.Name] = nd.Address
	}
	f.mu.Lock()
	old := f.nodeAddr
	f.nodeAddr = addr
	f.mu.Unlock()
	f.markNodes(changedNodes(old, addr))
}

// changedNodes lists the nodes whose address differs between old and cur, or that
// are in only one of them.
func changedNodes(old, cur map[string]string) []string {
	var out []string
	for name, a := range cur {
		if o, ok := old[name]; !ok || o != a {
			out = append(out, name)
		}
	}
	for name := range old {
		if _, ok := cur[name]; !ok {
			out = append(out, name)
		}
	}
	return out
}

// checksChanged diffs the non-passing checks against the last answer.
func (f *feed) checksChanged(checks []*api.HealthCheck) {
	cur := make(map[checkKey]checkSeen, len(checks))
	for _, c := range checks {
		if c == nil {
			continue
		}
		cur[checkKey{c.Node, c.CheckID}] = checkSeen{status: c.Status, service: c.ServiceName, modify: c.ModifyIndex}
	}
	f.mu.Lock()
	old := f.checks
	f.checks = cur
	f.mu.Unlock()
	svcs, nodes := changedChecks(old, cur)
	f.mu.Lock()
	f.markServicesLocked(svcs)
	f.signal()
	f.mu.Unlock()
	f.markNodes(nodes)
}

// changedChecks says which services and which nodes (for node checks) a change of
// the non-passing set concerns: a check that entered or left it, or that changed in
// it (warning ↔ critical, or a new ModifyIndex: new output or definition).
func changedChecks(old, cur map[checkKey]checkSeen) (svcs, nodes []string) {
	add := func(k checkKey, c checkSeen) {
		if c.service == "" {
			nodes = append(nodes, k.node)
		} else {
			svcs = append(svcs, c.service)
		}
	}
	for k, c := range cur {
		if o, ok := old[k]; !ok || o != c {
			add(k, c)
			if ok && o.service != c.service {
				add(k, o)
			}
		}
	}
	for k, o := range old {
		if _, ok := cur[k]; !ok {
			add(k, o)
		}
	}
	return svcs, nodes
}

// setNodes records which nodes name has instances on. f.mu must be held.
func (f *feed) setNodes(name string, h *heldService, nodes []string) {
	reindex(f.nodeSvcs, name, h.nodes, nodes)
	h.nodes = nodes
}

// reindex moves name, in an index of key → names, from the keys in old to those in
// cur.
func reindex(index map[string]map[string]struct{}, name string, old, cur []string) {
	for _, k := range old {
		if m := index[k]; m != nil {
			delete(m, name)
			if len(m) == 0 {
				delete(index, k)
			}
		}
	}
	for _, k := range cur {
		m := index[k]
		if m == nil {
			m = map[string]struct{}{}
			index[k] = m
		}
		m[name] = struct{}{}
	}
}

// sweepSlots bounds the swept services in flight at once; holds and changes the
// feed attributed use the whole pool. A sweep is the one burst of Consul work a
// single registration sets off (an index probe per held service, and the services
// that changed read in full). With the pool's dozen requests at once, Consul and
// the decoding took both cores of a small host for its duration, and DNS replies
// waited for a core behind them: that was the p99 latency while the catalog
// changed (docs/consul-watch.md, "Pacing sweeps"). Two at a time leave a core to the
// DNS readers; a sweep of 2 000 services then still ends within about a second.
const sweepSlots = 2

// next takes the next service to fetch, waiting for one. swept says it was taken
// from the sweeps queue: the caller hands it back to sweepDone when finished.
func (f *feed) next(ctx context.Context) (name string, h *heldService, swept, ok bool) {
	for {
		f.mu.Lock()
		for f.takeable() {
			q := &f.holds
			switch {
			case q.len() > 0:
			case f.changes.len() > 0:
				q = &f.changes
			default:
				q = &f.sweeps
			}
			name := q.pop()
			h := f.held[name]
			if h == nil || !h.queued {
				continue // released, or taken already from another queue
			}
			h.sweep = !h.urgent // popped from sweeps, and queued nowhere else
			h.queued, h.urgent, h.fetching = false, false, true
			if q == &f.sweeps {
				f.sweeping++
			}
			if f.takeable() {
				f.signal() // pass the wake-up on to another worker
			}
			f.mu.Unlock()
			return name, h, q == &f.sweeps, true
		}
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			return "", nil, false, false
		case <-f.wake:
		}
	}
}

// takeable says whether next has something to take now: a hold, a change, or a
// sweep with a slot free.
func (f *feed) takeable() bool {
	return f.holds.len() > 0 || f.changes.len() > 0 || f.sweeps.len() > 0 && f.sweeping < sweepSlots
}

// sweepDone frees the sweep slot of a swept service whose fetch has ended.
func (f *feed) sweepDone() {
	f.mu.Lock()
	f.sweeping--
	if f.takeable() {
		f.signal()
	}
	f.mu.Unlock()
}

// fifo is a queue of names that lets its backing array go once drained.
type fifo struct{ names []string }

func (q *fifo) len() int         { return len(q.names) }
func (q *fifo) push(name string) { q.names = append(q.names, name) }

func (q *fifo) pop() string {
	name := q.names[0]
	q.names[0] = ""
	q.names = q.names[1:]
	if len(q.names) == 0 {
		q.names = nil
	}
	return name
}

// work is one worker of the refetch pool.
func (f *feed) work(ctx context.Context) {
	var batch []taken
	for {
		name, h, swept, ok := f.next(ctx)
		if !ok {
			return
		}
		if swept && f.w.pipe != nil {
			batch = f.takeSwept(append(batch[:0], taken{name, h}))
			f.refreshSwept(ctx, batch)
			clear(batch)
		} else {
			f.refresh(ctx, name, h)
		}
		if swept {
			f.sweepDone()
		}
	}
}

// refresh fetches one service taken by next: an index probe when a sweep queued
// it and the probe can tell (sweepprobe.go), else a full read.
func (f *feed) refresh(ctx context.Context, name string, h *heldService) {
	saved, err := f.sweepByProbe(ctx, name, h)
	if saved {
		return
	}
	f.read(ctx, name, h, err)
}

// read ends a fetch with a full read, or with probeErr, the failure of the index
// probe before it, which the full read would have met too.
func (f *feed) read(ctx context.Context, name string, h *heldService, probeErr error) {
	var st ServiceState
	err := probeErr
	if err == nil {
		st, err = f.fetch(ctx, name, h)
	}
	f.done(ctx, name, h, st, err)
}

// fetch reads one service, within the connection budget and through the gate.
// While h.fetching, h.denied is this worker's alone.
func (f *feed) fetch(ctx context.Context, name string, h *heldService) (ServiceState, error) {
	var st ServiceState
	err := f.pooled(ctx, func() (err error) {
		h.started = f.w.gate.resyncs() // before the request: an outage during it distrusts it
		st, err = f.w.fetchService(ctx, f.dc, name, &h.denied)
		return err
	})
	return st, err
}

// pooled makes one request of the refetch pool: after the gate, within the
// connection budget.
func (f *feed) pooled(ctx context.Context, request func() error) error {
	if err := f.w.gate.wait(ctx); err != nil {
		return err
	}
	if err := f.w.lim.acquire(ctx); err != nil {
		return err
	}
	err := request()
	f.w.lim.release(throttled(err))
	return err
}

func (f *feed) done(ctx context.Context, name string, h *heldService, st ServiceState, err error) {
	f.mu.Lock()
	current := f.held[name] == h
	if !current {
		f.w.stats.acl.drop(&h.denied) // released while fetching: release left it to us
	}
	if err != nil {
		h.fetching = false
		if ctx.Err() != nil || !current {
			f.mu.Unlock()
			return
		}
		h.failures++
		n := h.failures
		f.mu.Unlock()
		if unreachable(err) {
			f.w.gate.fail(err) // the next fetch waits at the gate
		}
		time.AfterFunc(backoff(n), func() { f.mark(name) })
		return
	}
	if !current {
		h.fetching = false
		f.mu.Unlock()
		return // released meanwhile
	}
	h.failures = 0
	// A sweep reads in full the held services whose index probe cannot vouch for
	// them; those it finds as they were cost the cache nothing. "As they were" is
	// their content (sum.go), not Consul's index: a restarted agent can answer the
	// old index with other instances.
	sum := stateSum(&st)
	unchanged := h.summed && sum == h.sum
	h.sum, h.summed = sum, true
	h.index, h.trusted = st.Index, h.started
	f.setNodes(name, h, instanceNodes(st.Instances))
	f.setSources(name, h, st.sources)
	sink := f.sink
	f.mu.Unlock()
	if sink != nil && !unchanged {
		sink.Service(st)
	}
	f.finish(name, h)
}

// finish ends a fetch that succeeded. Only now: a fetch started after this one
// must not deliver before it.
func (f *feed) finish(name string, h *heldService) {
	f.mu.Lock()
	h.fetching = false
	if h.again && f.held[name] == h {
		urgent := h.againUrgent
		h.again, h.againUrgent = false, false
		f.markLocked(name, urgent)
		f.signal()
	}
	f.mu.Unlock()
}

func instanceNodes(ins []Instance) []string {
	var out []string
	for i := range ins {
		if i == 0 || ins[i].Node != ins[i-1].Node { // sorted by node
			out = append(out, ins[i].Node)
		}
	}
	return out
}

// fetchService reads every instance of one held name, healthy or not
// (/v1/health/service/<name> without ?passing, or the connect or ingress
// endpoint for a mesh entry: mesh.go), with a non-blocking request.
// denied holds the cause of the service's current ACL refusal (acl.go). An answer
// that ACL filtering emptied is a refusal, never "no instance left": a registered
// name must not turn NXDOMAIN because the token lost node:read.
func (w *Watcher) fetchService(ctx context.Context, dc, name string, denied *string) (ServiceState, error) {
	if name == "" {
		return ServiceState{}, errors.New("fetch service: empty service name")
	}
	rctx, cancel := context.WithTimeout(ctx, oneShotTimeout)
	defer cancel()
	defer w.stats.begin(KindService)()
	q := (&api.QueryOptions{Datacenter: dc, AllowStale: w.cfg.AllowStale}).WithContext(rctx)
	var slim []serviceEntry
	e, svc := SplitHeld(name)
	endpoint := entryPath[e] + svc
	meta, err := w.cfg.Client.Raw().Query(endpoint, &slim, q)
	if err == nil {
		err = emptied(KindService, len(slim), meta, false)
	}
	if err != nil && ctx.Err() != nil {
		return ServiceState{}, ctx.Err()
	}
	err = w.stats.acl.observe(w.log, KindService, endpoint, err, denied)
	if err != nil {
		w.stats.failed(KindService, err)
		if throttled(err) {
			w.stats.throttled.Add(1)
		}
		return ServiceState{}, fmt.Errorf("fetch service %s/%s: %w", dc, name, classify(dc, err))
	}
	w.stats.contact()
	if w.gate != nil {
		w.gate.ok()
	}
	return ServiceState{Service: name, Datacenter: dc, Instances: instances(slim, w.cfg.Policy.OnlyPassing),
		Index: meta.LastIndex, sources: sourcesOf(name, slim)}, nil
}

// serviceEntry is the part of a /v1/health/service answer that srvbridge serves
// from. Decoding only these fields skips what api.ServiceEntry would allocate for
// every instance of every refetch - node and service meta, tagged addresses, proxy
// and connect settings, each check's output and definition: for five instances,
// 126 allocations instead of 455 and about a third of the time
// (BenchmarkDecodeService).
type serviceEntry struct {
	Node struct {
		Node, Address string
	}
	Service struct {
		ID, Service string
		Address     string
		Port        int
		Tags        []string
		Weights     api.AgentWeights
		// Only the virtual IP of a Connect instance (mesh.go): a struct, not a
		// map, so the other tagged addresses cost no allocation.
		TaggedAddresses struct {
			Virtual struct{ Address string } `json:"consul-virtual"`
		}
	}
	Checks []checkState
}
