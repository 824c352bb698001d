package resolver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/srvbridge/srvbridge/resolver/dnsmsg"
	"github.com/srvbridge/srvbridge/resolver/wire"
)

// CNAME flattening. An instance registered with a host name as its address is
// answered, for A and AAAA, with a CNAME to that host (as Consul does) followed by
// the host's own records of the type asked, as a recursive resolver would give them:
// a client that asks only A for a plain name (Kong's new DNS client) gets addresses.
// See docs/forwarding.md, "CNAME targets".
//
// The query path stays as it is: the target's records are resolved in the
// background and spliced into the compiled templates, which are rebuilt when they
// change. A target is resolved when a service answer first names it (at compile
// time, before anyone asks A), and again when half of the TTL the upstream gave has
// run out, for as long as a compiled answer that names it is alive, which is as long
// as the cache holds its service. The spliced records carry half that TTL, so a
// client caching one never keeps it past the upstream's own expiry. A target that
// cannot be resolved yet, or whose last good records have expired while lookups
// fail, is answered with the CNAME alone. A target in one of our own zones is
// answered from our own cache, never forwarded, and only when its answer is
// addresses (not a CNAME again: no chain is built from our own answers, so two
// services naming each other cannot loop).

// Bounds of the background lookups.
const (
	flatMinRefresh = time.Second      // however short the TTL
	flatNegRefresh = 30 * time.Second // a target with no address of either family
	flatMaxBackoff = 30 * time.Second // lookups failing
	flatMaxRefresh = time.Hour        // however long the TTL
	flatWorkers    = 8                // lookups in flight at once
)

// flatFamilies are the types spliced, by index.
var flatFamilies = [2]uint16{wire.TypeA, wire.TypeAAAA}

func familyIndex(qtype uint16) int {
	if qtype == wire.TypeAAAA {
		return 1
	}
	return 0
}

// flatFamily is one family of a target's records: the chain to splice after the
// CNAME (the target's own CNAMEs, then its addresses), TTLs as served.
type flatFamily struct {
	recs    []dnsmsg.Record
	expires time.Time // the upstream's TTL has run out: splice no longer
}

type flatRecords struct{ fam [2]flatFamily }

// flatTarget is one host name that some compiled answer points at.
type flatTarget struct {
	name string
	recs atomic.Pointer[flatRecords] // nil until first resolved

	// Guarded by flattener.mu.
	subs     map[weak.Pointer[Answers]]struct{} // the answers that splice it
	due      time.Time
	busy     bool
	failures int
}

// targetLookup is what the forwarder offers beside Forward: a lookup that never
// serves stale answers (forward.Forwarder.Lookup).
type targetLookup interface {
	Lookup(ctx context.Context, query []byte) ([]byte, error)
}

// flattener resolves the CNAME targets of compiled answers in the background.
type flattener struct {
	zones []zone
	fwd   Forwarder // nil: only targets in our own zones are flattened
	log   *slog.Logger
	srv   atomic.Pointer[Server] // answers targets in our zones; nil until New

	mu      sync.Mutex
	targets map[string]*flatTarget // lower-case FQDN → target
	running bool
	wake    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	sem     chan struct{}
}

func newFlattener(zones []zone, fwd Forwarder, log *slog.Logger) *flattener {
	f := &flattener{zones: zones, fwd: fwd, log: log, targets: map[string]*flatTarget{},
		wake: make(chan struct{}, 1), sem: make(chan struct{}, flatWorkers)}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	return f
}

// local reports whether name is in one of our zones.
func (f *flattener) local(name string) bool {
	return parseName([]byte(name), wire.TypeA, f.zones).kind != kindOutside
}

// subscribe records that a splices host's records, and has host resolved if it is
// new. It returns nil for a host that is never flattened: outside our zones with no
// forwarder.
func (f *flattener) subscribe(host string, a *Answers) *flatTarget {
	if f.fwd == nil && !f.local(host) {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ctx.Err() != nil {
		return nil
	}
	t := f.targets[host]
	if t == nil {
		t = &flatTarget{name: host, subs: map[weak.Pointer[Answers]]struct{}{}}
		f.targets[host] = t
		if !f.running {
			f.running = true
			f.wg.Add(1)
			go f.loop()
		}
		f.signal()
	}
	t.subs[weak.Make(a)] = struct{}{}
	return t
}

// splice is what a's answer for qtype adds after its CNAME to host: the host's
// records of that type, if they are known and have not expired. pending says the
// host's first lookup has not ended yet: the answers are rebuilt when it does.
func (f *flattener) splice(host string, a *Answers, qtype uint16) (recs []dnsmsg.Record, pending bool) {
	t := f.subscribe(host, a)
	if t == nil {
		return nil, false
	}
	r := t.recs.Load()
	if r == nil {
		return nil, true
	}
	fam := &r.fam[familyIndex(qtype)]
	if !time.Now().Before(fam.expires) {
		return nil, false
	}
	return fam.recs, false
}

func (f *flattener) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// stop ends the background lookups and waits for them.
func (f *flattener) stop() {
	f.mu.Lock()
	f.cancel()
	f.mu.Unlock()
	f.wg.Wait()
}

// loop starts the lookups that are due, takes records out of the answers once the
// upstream's TTL has run out (also while a lookup is still waiting on a silent
// upstream), and forgets targets no live answer names any more (their answers were
// replaced or released, and collected).
func (f *flattener) loop() {
	defer f.wg.Done()
	for {
		now := time.Now()
		next := now.Add(flatNegRefresh)
		var expired []*Answers
		f.mu.Lock()
		for name, t := range f.targets {
			for w := range t.subs {
				if w.Value() == nil {
					delete(t.subs, w)
				}
			}
			if len(t.subs) == 0 && !t.busy {
				delete(f.targets, name)
				continue
			}
			if r := t.recs.Load(); r != nil {
				kept, dropped := r.fresh(now)
				if dropped {
					t.recs.Store(&kept)
					expired = append(expired, t.live()...)
				}
				if e := kept.expiry(); !e.IsZero() && e.Before(next) {
					next = e
				}
			}
			if t.busy {
				continue
			}
			if t.due.After(now) {
				if t.due.Before(next) {
					next = t.due
				}
				continue
			}
			t.busy = true
			f.wg.Add(1)
			go f.refresh(t)
		}
		f.mu.Unlock()
		for _, a := range expired {
			a.rebuild()
		}
		timer := time.NewTimer(next.Sub(now))
		select {
		case <-f.ctx.Done():
			timer.Stop()
			return
		case <-f.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// refresh looks t up again and, when its records changed, rebuilds the answers that
// splice them.
func (f *flattener) refresh(t *flatTarget) {
	defer f.wg.Done()
	select {
	case f.sem <- struct{}{}:
	case <-f.ctx.Done():
		return
	}
	now := time.Now()
	old := t.recs.Load()
	var next flatRecords
	failed := false
	var lowest uint32 // smallest TTL among the records found
	found := false
	for i, qtype := range flatFamilies {
		recs, err := f.lookup(t.name, qtype)
		if err != nil {
			failed = true
			if old != nil && now.Before(old.fam[i].expires) {
				next.fam[i] = old.fam[i] // the last good records, until they expire
			}
			if f.ctx.Err() == nil {
				f.log.Debug("cannot resolve a CNAME target; answering the CNAME alone once its records expire",
					"target", t.name, "type", dnsmsg.TypeString(qtype), "err", err)
			}
			continue
		}
		if len(recs) == 0 {
			continue
		}
		ttl := recs[0].TTL
		for _, r := range recs {
			ttl = min(ttl, r.TTL)
		}
		if !found || ttl < lowest {
			lowest, found = ttl, true
		}
		for j := range recs {
			recs[j].TTL = ttl / 2
		}
		next.fam[i] = flatFamily{recs: recs, expires: now.Add(time.Duration(ttl) * time.Second)}
	}
	<-f.sem

	f.mu.Lock()
	switch {
	case failed:
		t.failures++
		wait := min(flatMinRefresh<<min(t.failures-1, 5), flatMaxBackoff)
		for _, fam := range next.fam {
			if !fam.expires.IsZero() && fam.expires.Sub(now) < wait {
				wait = fam.expires.Sub(now)
			}
		}
		t.due = now.Add(max(wait, 0))
	case !found:
		t.failures = 0
		t.due = now.Add(flatNegRefresh)
	default:
		t.failures = 0
		t.due = now.Add(min(max(time.Duration(lowest)*time.Second/2, flatMinRefresh), flatMaxRefresh))
	}
	// The loop may have taken out records that expired while the lookups ran.
	next, _ = next.fresh(time.Now())
	cur := t.recs.Load()
	changed := !sameRecords(cur, &next)
	t.recs.Store(&next)
	var subs []*Answers
	if changed {
		subs = t.live()
	}
	t.busy = false
	f.mu.Unlock()
	for _, a := range subs {
		a.rebuild()
	}
	f.signal()
}

// live lists the answers that splice t and are still alive. f.mu must be held.
func (t *flatTarget) live() []*Answers {
	var out []*Answers
	for w := range t.subs {
		if a := w.Value(); a != nil {
			out = append(out, a)
		}
	}
	return out
}

// fresh is r without the families whose upstream TTL has run out by now, and
// whether any was dropped.
func (r *flatRecords) fresh(now time.Time) (flatRecords, bool) {
	out := *r
	dropped := false
	for i := range out.fam {
		if out.fam[i].recs != nil && !now.Before(out.fam[i].expires) {
			out.fam[i] = flatFamily{}
			dropped = true
		}
	}
	return out, dropped
}

// expiry is when the first of r's families runs out; zero when r holds none.
func (r *flatRecords) expiry() time.Time {
	var e time.Time
	for _, fam := range r.fam {
		if fam.recs != nil && (e.IsZero() || fam.expires.Before(e)) {
			e = fam.expires
		}
	}
	return e
}

func sameRecords(a, b *flatRecords) bool {
	if a == nil || b == nil {
		return a == b
	}
	for i := range a.fam {
		if !slices.EqualFunc(a.fam[i].recs, b.fam[i].recs, func(x, y dnsmsg.Record) bool {
			return x.Type == y.Type && x.Name == y.Name && x.TTL == y.TTL && x.IP == y.IP && x.Target == y.Target
		}) {
			return false
		}
	}
	return true
}

// lookupTimeout bounds one background lookup, as forwardTimeout bounds a client's.
const lookupTimeout = forwardTimeout

var errNoServer = errors.New("the DNS server is not started yet")

// lookup resolves name's records of type qtype: from our own answers for a name in
// our zones, else through the forwarder. No records (NXDOMAIN, NODATA) is not an
// error; a failure to get an answer is.
func (f *flattener) lookup(name string, qtype uint16) ([]dnsmsg.Record, error) {
	ctx, cancel := context.WithTimeout(f.ctx, lookupTimeout)
	defer cancel()
	pkt := lookupQuery(name, qtype)
	var reply []byte
	var err error
	local := f.local(name)
	switch {
	case local:
		reply, err = f.lookupLocal(ctx, pkt)
	default:
		if l, ok := f.fwd.(targetLookup); ok {
			reply, err = l.Lookup(ctx, pkt)
		} else {
			reply, err = f.fwd.Forward(ctx, pkt, false, wire.MaxMsgLen)
		}
	}
	if err != nil {
		return nil, err
	}
	recs, rcode, err := dnsmsg.Chain(reply, name, qtype)
	switch {
	case errors.Is(err, dnsmsg.ErrChain):
		return nil, nil
	case err != nil:
		return nil, err
	case rcode != wire.RcodeSuccess && rcode != wire.RcodeNXDomain:
		return nil, fmt.Errorf("lookup %s: rcode %s", name, dnsmsg.RcodeString(rcode))
	}
	if local && slices.ContainsFunc(recs, func(r dnsmsg.Record) bool { return r.Type == wire.TypeCNAME }) {
		return nil, nil // our own name is a CNAME again: no chain from our own answers
	}
	return recs, nil
}

// lookupLocal asks our own server, as a client would but without a socket; a name
// not held yet waits for its first fetch.
func (f *flattener) lookupLocal(ctx context.Context, pkt []byte) ([]byte, error) {
	s := f.srv.Load()
	if s == nil {
		return nil, errNoServer
	}
	var q query
	var st shard // counted nowhere: these are not clients' queries
	out := make([]byte, 0, wire.MaxMsgLen)
	reply, oc := s.respond(&q, q.Parse(pkt), out, true, &st)
	if oc == await {
		p := parseName(q.Name, q.QType, s.comp.zones)
		if p.kind == kindQuery {
			s.store.AwaitQuery(ctx, string(p.dc), string(p.svc))
		} else {
			s.store.AwaitEntry(ctx, p.kind.entry(), string(p.dc), string(p.svc))
		}
		reply, oc = s.respond(&q, q.Parse(pkt), out, true, &st)
	}
	if oc != replied {
		return nil, fmt.Errorf("lookup %s: no answer yet", q.Name)
	}
	return reply, nil
}

// lookupUDPSize is the EDNS size our lookups ask for: the DNS flag day's 1232,
// which fits any path without fragments; a larger answer comes over TCP.
const lookupUDPSize = 1232

// lookupQuery is a query for name and qtype with recursion desired and EDNS, under
// a random ID (the forwarder's loop detection keys on IDs).
func lookupQuery(name string, qtype uint16) []byte {
	out := wire.AppendHeader(make([]byte, 0, 64+len(name)), uint16(rand.N(1<<16)), wire.FlagRD, 1, 0, 0, 1)
	out = wire.AppendName(out, name)
	out = binary.BigEndian.AppendUint16(out, qtype)
	out = binary.BigEndian.AppendUint16(out, wire.ClassIN)
	return wire.AppendOPT(out, lookupUDPSize, 0)
}
