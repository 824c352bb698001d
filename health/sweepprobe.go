package health

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/consul/api"
)

// Index probes. A sweep (feed.go) refetches every held service because the
// service list cannot say which one changed; at 2 000 held services one
// registration used to cost 2 000 full reads, about 15 MB of JSON to send and
// decode, and that burst of CPU is what DNS latency felt. Before reading a swept
// service in full, the feed now asks Consul for its index alone: the same read
// filtered on a tag nobody carries answers "[]" with the service's own
// X-Consul-Index, the one a full read gives, and that index moves on every change
// of the service's instances, their nodes and their checks (measured on Consul
// 1.16.3: docs/consul-watch.md). When it has not moved since the last full read,
// what the sink has is still what Consul has, and the sweep is done for that
// service.
//
// Equal indexes prove nothing across an outage: a restarted agent replays its
// writes to the very same indexes with other content (loop.go, "restarted"). So
// a full read is trusted only while the gate's resync channel of when it started
// stays open: an unreachable Consul (gate.fail) or an index that went backwards
// (gate.resyncAll) closes it, and the next sweep of every held service reads in
// full, which trusts again.
//
// Only plain services are probed. The connect and ingress endpoints (mesh.go)
// compute their index from other tables (proxies, gateway config entries), which
// nobody measured, so they are always read in full; cluster peers' services are
// followed by their own blocking queries (peer.go), not swept.

// probeTag is the tag an index probe asks for. Consul filters instances by tag
// only after it has looked the service up, so the answer carries the service's
// own index however many instances match; a tag no instance carries makes the
// answer "[]", nothing to send or decode. An instance that did carry it would only
// make the probe bigger, never wrong.
const probeTag = "srvbridge.index-probe.matches-nothing"

// probeIndex returns the X-Consul-Index of a full read of service svc in dc,
// without its instances, through the gate and the refetch pool's limiter like a
// full read. ok is false when the answer cannot stand for the full read's index:
// ACL filtering removed entries from it (the full read will say why), or it has
// no index. err is only what the full read would fail on as well: Consul is
// unreachable or throttles us. Any other failure is ok false, and the full read
// that follows reports it.
func (f *feed) probeIndex(ctx context.Context, svc string) (index uint64, ok bool, err error) {
	err = f.pooled(ctx, func() (err error) {
		index, ok, err = f.w.probeService(ctx, f.dc, svc)
		return err
	})
	return index, ok, probeFailure(err)
}

// probeFailure keeps of a probe's error only what the full read would fail on as
// well (Consul unreachable, or throttling us); any other failure the full read
// that follows reports itself.
func probeFailure(err error) error {
	if err != nil && !unreachable(err) && !throttled(err) {
		return nil
	}
	return err
}

func (w *Watcher) probeService(ctx context.Context, dc, svc string) (uint64, bool, error) {
	rctx, cancel := context.WithTimeout(ctx, oneShotTimeout)
	defer cancel()
	defer w.stats.begin(KindServiceIndex)()
	q := (&api.QueryOptions{Datacenter: dc, AllowStale: w.cfg.AllowStale}).WithContext(rctx)
	_, meta, err := w.cfg.Client.Health().Service(svc, probeTag, false, q)
	if err != nil {
		if ctx.Err() != nil {
			return 0, false, ctx.Err()
		}
		return 0, false, w.probeFailed(dc, svc, err)
	}
	w.answered()
	if meta == nil || meta.ResultsFilteredByACLs || meta.LastIndex == 0 {
		return 0, false, nil
	}
	return meta.LastIndex, true, nil
}

// probeFailed counts and wraps the failure of service svc's index probe in dc.
func (w *Watcher) probeFailed(dc, svc string, err error) error {
	err = asPermission(KindServiceIndex, endpointOf(KindServiceIndex)+"/"+svc, err)
	w.stats.failed(KindServiceIndex, err)
	if throttled(err) {
		w.stats.throttled.Add(1)
	}
	return fmt.Errorf("probe service %s/%s: %w", dc, svc, classify(dc, err))
}

// answered notes that Consul answered a probe.
func (w *Watcher) answered() {
	w.stats.contact()
	if w.gate != nil {
		w.gate.ok()
	}
}

// probable says whether the swept service name may be probed instead of read: a
// plain service whose last full read is still trusted. Called by the worker
// fetching it.
func probable(name string, h *heldService) bool {
	if e, _ := SplitHeld(name); e != EntryService || h.trusted == nil {
		return false
	}
	select {
	case <-h.trusted:
		return false // Consul went away or reset since that read
	default:
		return true
	}
}

// sweepByProbe takes a swept service: it probes it when it may, and returns true
// when the probe found it unchanged, which ends its fetch. Otherwise the caller
// reads it in full; err is a probe's failure, to be handled as the full read's.
func (f *feed) sweepByProbe(ctx context.Context, name string, h *heldService) (bool, error) {
	if !h.sweep || !probable(name, h) {
		return false, nil
	}
	index, ok, err := f.probeIndex(ctx, name)
	return f.probed(name, h, index, ok, err)
}

// probed takes the answer of swept service name's probe: it ends the fetch and
// returns true when the service is unchanged, else the caller reads it in full.
func (f *feed) probed(name string, h *heldService, index uint64, ok bool, err error) (bool, error) {
	// Trusted still: an outage seen while the probe was out may have put another
	// agent behind its answer.
	if err != nil || !ok || index != h.index || !probable(name, h) {
		return false, err
	}
	f.w.stats.sweepSaved.Add(1)
	f.mu.Lock()
	if f.held[name] != h {
		f.w.stats.acl.drop(&h.denied) // released while probing: release left it to us
	}
	f.mu.Unlock()
	f.finish(name, h)
	return true, nil
}

// taken is a service a worker took off the queues, with its fetch started.
type taken struct {
	name string
	h    *heldService
}

// takeSwept adds to batch, which holds a service next took from the sweeps queue,
// more of the sweeps queue, up to probeBatch in all: their probes go out together
// (pipeline.go). They share the first one's sweep slot.
func (f *feed) takeSwept(batch []taken) []taken {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(batch) < probeBatch && f.sweeps.len() > 0 {
		name := f.sweeps.pop()
		h := f.held[name]
		if h == nil || !h.queued {
			continue // released, or taken already from another queue
		}
		h.sweep = !h.urgent
		h.queued, h.urgent, h.fetching = false, false, true
		batch = append(batch, taken{name, h})
	}
	return batch
}

// refreshSwept fetches a batch of swept services: the probes of those that may be
// probed in one pipelined write, then a full read of each the probes could not
// vouch for, in order.
func (f *feed) refreshSwept(ctx context.Context, batch []taken) {
	var names []string
	for _, t := range batch {
		if t.h.sweep && probable(t.name, t.h) {
			names = append(names, t.name)
		}
	}
	answers := make([]probeAnswer, len(names))
	if len(names) > 0 {
		f.probeMany(ctx, names, answers)
	}
	k := 0 // the next answer: names holds batch's probed services in order
	for _, t := range batch {
		var err error
		if k < len(names) && names[k] == t.name {
			a := answers[k]
			k++
			var saved bool
			if saved, err = f.probed(t.name, t.h, a.index, a.ok, a.err); saved {
				continue
			}
		}
		f.read(ctx, t.name, t.h, err)
	}
}

// probeMany probes names through the pipeline, after the gate, and turns each
// answer into what probeIndex would have returned for it.
func (f *feed) probeMany(ctx context.Context, names []string, out []probeAnswer) {
	if err := f.w.gate.wait(ctx); err != nil {
		for i := range out {
			out[i] = probeAnswer{err: err}
		}
		return
	}
	st := &f.w.stats
	st.requests[KindServiceIndex].Add(uint64(len(names)))
	st.inFlight.Add(int64(len(names)))
	f.w.pipe.probe(ctx, f.dc, f.w.cfg.AllowStale, names, out)
	st.inFlight.Add(-int64(len(names)))
	contact := false
	for i, a := range out {
		switch {
		case a.err == nil:
			contact = true
		case ctx.Err() != nil:
			out[i].err = ctx.Err()
		case errors.Is(a.err, errProbeConn):
			out[i] = probeAnswer{} // not Consul's word on the service: read it in full
		default:
			out[i] = probeAnswer{err: probeFailure(f.w.probeFailed(f.dc, names[i], a.err))}
		}
	}
	if contact {
		f.w.answered()
	}
}
