package health

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
)

// Services imported from a cluster peer (<svc>.service.<peer>.peer.<domain>).
//
// Consul 1.16 keeps imported services in the importing cluster's catalog, but of the
// catalog-wide endpoints the datacenter feed follows none takes ?peer=: the service
// list, the node list and the check states all answer with the local catalog and
// their indexes never move for an imported change (measured, docs/consul-watch.md).
// Only /v1/health/service/<svc>?peer=<peer> answers with the imported instances and
// blocks on their changes. So an imported service is followed by a blocking query of
// its own, for as long as the cache holds it.
//
// Those blocking queries come out of the connection budget (Config.MaxConns): at most
// peerShare of it block at once. A held imported service that finds every blocking
// slot taken waits up to peerPoll for one, and when none frees reads its state with
// a non-blocking request through the refetch limiter instead: past the budget an
// imported service is at most about peerPoll stale, and the agent never sees more
// connections from srvbridge than the budget.
//
// The cache sees a peer as a datacenter named "<peer>.peer" (PeerDatacenter): a peer
// name is lower-case letters, digits and '-', a datacenter name holds no dot, so the
// two never meet. Its view has no service list (slots are made on first query) and
// no nodes.

const (
	peerSuffix = ".peer"
	// peerPoll is how long a held imported service waits for a blocking slot before
	// it reads its state without blocking.
	peerPoll = 5 * time.Second
)

// peerShare is the part of the connection budget imported services may block on:
// a quarter, and at least one.
func peerShare(maxConns int) int { return max(1, maxConns/4) }

// PeerDatacenter is the datacenter name the cache uses for a cluster peer.
func PeerDatacenter(peer string) string { return peer + peerSuffix }

// PeerOf says whether dc names a cluster peer (PeerDatacenter), and which.
func PeerOf(dc string) (string, bool) {
	peer, ok := strings.CutSuffix(dc, peerSuffix)
	return peer, ok && peer != ""
}

// peerSet is the Watcher's state for every peer. Guarded by Watcher.feedsMu.
type peerSet struct {
	feeds   map[string]*peerFeed // "<peer>.peer" → its feed
	running int                  // peer feeds whose WatchDatacenter runs
	slots   chan struct{}        // one token per blocking query in flight
}

// peerReserveLocked is what imported services' blocking queries take off the refetch
// pool's budget while any peer is followed. w.feedsMu must be held.
func (w *Watcher) peerReserveLocked() int {
	if w.peers.running == 0 {
		return 0
	}
	return peerShare(w.cfg.MaxConns)
}

// peerFeedFor returns the feed of a peer, creating it on first use.
func (w *Watcher) peerFeedFor(dc string) *peerFeed {
	w.feedsMu.Lock()
	defer w.feedsMu.Unlock()
	if w.peers.feeds == nil {
		w.peers.feeds = map[string]*peerFeed{}
		w.peers.slots = make(chan struct{}, peerShare(w.cfg.MaxConns))
	}
	f := w.peers.feeds[dc]
	if f == nil {
		peer, _ := PeerOf(dc)
		f = &peerFeed{w: w, dc: dc, peer: peer, slots: w.peers.slots, held: map[string]context.CancelFunc{}}
		w.peers.feeds[dc] = f
	}
	return f
}

func (w *Watcher) peerRunning(delta int) {
	w.feedsMu.Lock()
	defer w.feedsMu.Unlock()
	w.peers.running += delta
	w.lim.setMax(w.poolMaxLocked())
}

// PeerDatacenters lists the cluster peers Consul knows (/v1/peerings), as the
// datacenter names the cache uses for them. It needs peering:read; a Consul without
// peering (or a token without the right) lists none and says why in the error.
//
// Unlike the other reads it counts no failure: the minimal token has no peering:read,
// and a refusal here says nothing about Consul's health (Stats.failure would start
// an outage clock that --max-stale reads).
func (w *Watcher) PeerDatacenters(ctx context.Context) ([]string, error) {
	rctx, cancel := context.WithTimeout(ctx, oneShotTimeout)
	defer cancel()
	var peerings []struct{ Name string }
	if _, err := w.cfg.Client.Raw().Query("/v1/peerings", &peerings, (&api.QueryOptions{}).WithContext(rctx)); err != nil {
		return nil, fmt.Errorf("peerings: %w", redact(err))
	}
	out := make([]string, 0, len(peerings))
	for _, p := range peerings {
		if p.Name != "" {
			out = append(out, PeerDatacenter(strings.ToLower(p.Name)))
		}
	}
	return out, nil
}

// peerFeed follows the held services imported from one peer.
type peerFeed struct {
	w     *Watcher
	dc    string // "<peer>.peer"
	peer  string
	slots chan struct{}

	mu   sync.Mutex
	ctx  context.Context // of the running WatchDatacenter; nil when none runs
	sink Sink
	held map[string]context.CancelFunc // service → its watch's cancel (nil until one runs)
}

// watch runs until ctx is done: it gives the cache an empty service list (a peer's
// services are held on first query, not listed) and runs the watch of every service
// held now or later.
func (f *peerFeed) watch(ctx context.Context, sink Sink) error {
	f.w.peerRunning(1)
	defer f.w.peerRunning(-1)
	sink.Catalog(Catalog{Datacenter: f.dc, Services: map[string][]string{}})
	f.mu.Lock()
	f.ctx, f.sink = ctx, sink
	for svc := range f.held {
		f.startLocked(svc)
	}
	f.mu.Unlock()
	<-ctx.Done()
	f.mu.Lock()
	f.ctx, f.sink = nil, nil
	for svc := range f.held {
		f.held[svc] = nil // cancelled with ctx
	}
	f.mu.Unlock()
	return ctx.Err()
}

func (f *peerFeed) hold(svc string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.held[svc]; ok {
		return
	}
	f.held[svc] = nil
	if f.ctx != nil {
		f.startLocked(svc)
	}
}

func (f *peerFeed) release(svc string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cancel := f.held[svc]; cancel != nil {
		cancel()
	}
	delete(f.held, svc)
}

// startLocked starts svc's watch. f.mu must be held.
func (f *peerFeed) startLocked(svc string) {
	ctx, cancel := context.WithCancel(f.ctx)
	f.held[svc] = cancel
	sink := f.sink
	go func() {
		_ = run(ctx, f.w, KindService, "service "+f.dc+"/"+svc, func(ctx context.Context, index uint64) (ServiceState, uint64, error) {
			return f.fetch(ctx, svc, index)
		}, func(st ServiceState) {
			// Not after a release: a fetch that was under way then would otherwise
			// reach the slot of a hold that came after it, older than that hold's
			// own first state. Under f.mu, which release takes to cancel ctx; the
			// sink never takes the cache's lock, which the cache holds around Hold
			// and Release (and so around f.mu).
			f.mu.Lock()
			defer f.mu.Unlock()
			if ctx.Err() == nil {
				sink.Service(st)
			}
		})
	}()
}

// fetch reads svc's imported instances: a blocking query when a blocking slot is
// free (or frees within peerPoll), else a non-blocking read within the refetch
// limiter. index 0 (the first read) never blocks and never takes a slot.
func (f *peerFeed) fetch(ctx context.Context, svc string, index uint64) (st ServiceState, got uint64, err error) {
	blocking := false
	if index > 0 {
		t := time.NewTimer(peerPoll)
		select {
		case f.slots <- struct{}{}:
			blocking = true
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ServiceState{}, 0, ctx.Err()
		}
		t.Stop()
	}
	if blocking {
		defer func() { <-f.slots }()
	} else {
		index = 0
		if err := f.w.lim.acquire(ctx); err != nil {
			return ServiceState{}, 0, err
		}
		defer func() { f.w.lim.release(throttled(err)) }()
	}
	q, cancel := f.w.queryOptions(ctx, "", index)
	defer cancel()
	q.Peer = f.peer
	var slim []serviceEntry
	endpoint := entryPath[EntryService] + svc
	meta, err := f.w.cfg.Client.Raw().Query(endpoint, &slim, q)
	if err == nil {
		err = emptied(KindService, len(slim), meta, false)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ServiceState{}, 0, ctx.Err()
		}
		return ServiceState{}, 0, fmt.Errorf("fetch service %s/%s: %w", f.dc, svc, redact(err))
	}
	return ServiceState{Service: svc, Datacenter: f.dc, Instances: instances(slim, f.w.cfg.Policy.OnlyPassing),
		Index: meta.LastIndex}, meta.LastIndex, nil
}
