package health

import (
	"context"
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
	if err != nil && !unreachable(err) && !throttled(err) {
		return 0, false, nil
	}
	return index, ok, err
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
		err = asPermission(KindServiceIndex, endpointOf(KindServiceIndex)+"/"+svc, err)
		w.stats.failed(KindServiceIndex, err)
		if throttled(err) {
			w.stats.throttled.Add(1)
		}
		return 0, false, fmt.Errorf("probe service %s/%s: %w", dc, svc, classify(dc, err))
	}
	w.stats.contact()
	if w.gate != nil {
		w.gate.ok()
	}
	if meta == nil || meta.ResultsFilteredByACLs || meta.LastIndex == 0 {
		return 0, false, nil
	}
	return meta.LastIndex, true, nil
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
