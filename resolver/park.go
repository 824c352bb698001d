package resolver

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/srvbridge/srvbridge/health"
	"github.com/srvbridge/srvbridge/resolver/transport"
	"github.com/srvbridge/srvbridge/resolver/wire"
)

// A UDP query for a name the cache does not hold yet waits for its first fetch from
// Consul. In a cold burst (a restart on demand, a gateway's first requests) thousands
// of queries wait at once for the same few thousand names, which can take the feed
// more than a second on a small host (docs/configuration.md). So they are parked per
// name: the query (its bytes, its client, the socket's send) goes on the name's
// waiting list, and one waiter per name awaits the fetch and then answers every query
// on the list. What bounds them is the memory they hold (Config.AwaitMaxBytes), not a
// count of goroutines.

// DefaultAwaitMaxBytes holds a cold burst of 2,000 names asked by 16 clients each
// (2,000 waiters of 8 KiB and 32,000 queries of about 220 bytes: 23 MiB), and for a
// few names some 150,000 queries, or 50,000 of 512 bytes.
const DefaultAwaitMaxBytes = 32 << 20

const (
	// parkedCost is what a parked query holds besides its packet: its record on the
	// list, and the send function the transport made for it with its control message.
	parkedCost = 160
	// waiterCost is what a name with parked queries holds: its waiter's goroutine
	// (a 4 KiB stack once through the cache), the await's contexts and timers, the
	// list, and the store's hold. TestParkedMemory measures about 7 KiB.
	waiterCost = 8 << 10
	// drainGrace is what a drain keeps of its time for the waiters to answer their
	// queries SERVFAIL, and the transport to close, when Consul did not answer.
	drainGrace = 100 * time.Millisecond
)

// parking holds the queries waiting for a first fetch, by the name they wait for.
type parking struct {
	mu     sync.Mutex
	lists  map[string]*waitList // waitKey → the name's list, while it has a waiter
	used   int64                // bytes charged for parked queries and their waiters
	limit  int64
	closed bool // shutting down: nothing parks any more, so waiters can be waited on

	waiters sync.WaitGroup // one per list

	ctx    context.Context // cancelled when the drain runs out of time
	cancel context.CancelFunc
}

// waitList is one name's parked queries, oldest first, and what its waiter awaits.
type waitList struct {
	query  bool // a prepared query (AwaitQuery); else a cache entry (AwaitEntry)
	entry  health.Entry
	dc     string
	name   string
	parked []parked // guarded by parking.mu
}

type parked struct {
	pkt     []byte
	from    netip.AddrPort
	send    func([]byte)
	arrived time.Time
	st      *shard
}

func (w *parked) cost() int64 { return int64(len(w.pkt)) + parkedCost }

func (pk *parking) init(limit int64) {
	pk.lists = map[string]*waitList{}
	pk.limit = limit
	pk.ctx, pk.cancel = context.WithCancel(context.Background())
}

// count reports the queries parked now, and the bytes charged for them.
func (pk *parking) count() (queries int, bytes int64) {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	for _, l := range pk.lists {
		queries += len(l.parked)
	}
	return queries, pk.used
}

// waitKey names what a query waits for: the arguments of the await that answers it.
func waitKey(buf []byte, p *parsed) []byte {
	k := byte(p.kind.entry())
	if p.kind == kindQuery {
		k = 0xFF
	}
	buf = append(append(append(buf, k), p.dc...), 0)
	return append(buf, p.svc...)
}

// park records a UDP query that must wait for a first fetch on its name's list, and
// starts the name's waiter if it has none; send answers it later. Past the memory
// bound, or once shutting down, it returns SERVFAIL at once.
func (s *Server) park(q *query, from netip.AddrPort, send func([]byte), st *shard) []byte {
	p := parseName(q.Name, q.QType, s.comp.zones)
	var kb [2 + 2*wire.MaxNameLen]byte
	key := waitKey(kb[:0], &p)
	w := parked{from: from, send: send, arrived: time.Now(), st: st}
	cost := int64(len(q.Pkt)) + parkedCost
	pk := &s.parking
	pk.mu.Lock()
	l := pk.lists[string(key)]
	if l == nil {
		cost += waiterCost
	}
	if pk.closed || pk.used+cost > pk.limit {
		pk.mu.Unlock()
		st.overload.Add(1)
		reply, _ := s.count(st, q.QType, s.errorReply(make([]byte, 0, wire.MinUDPSize), q, wire.RcodeServFail))
		return reply
	}
	pk.used += cost
	w.pkt = append([]byte(nil), q.Pkt...)
	var start string // the key of a list made now, whose waiter starts
	if l == nil {
		start = string(key)
		l = &waitList{query: p.kind == kindQuery, entry: p.kind.entry(), dc: string(p.dc), name: string(p.svc)}
		pk.lists[start] = l
		pk.waiters.Add(1) // under mu, so never after the drain's Wait began
	}
	l.parked = append(l.parked, w)
	pk.mu.Unlock()
	st.slow.Add(1)
	if start != "" {
		go s.waiter(start, l)
	}
	return nil
}

// waiter awaits the first fetch of one name and answers the queries parked on it,
// each with its own ID, case, type and EDNS size. A query gets SERVFAIL once its own
// wait is over (the store's AwaitUntil: the await timeout since its arrival, longer
// through a cold burst); so does every query when the await ends early without an
// answer (waiting cannot help), or when the drain runs out of time. It returns once
// the list is empty, and unlisted.
func (s *Server) waiter(key string, l *waitList) {
	pk := &s.parking
	defer pk.waiters.Done()
	var out []byte // made once there is something to answer: waiting holds little
	var q query
	for {
		pk.mu.Lock()
		oldest := l.parked[0].arrived
		pk.mu.Unlock()
		deadline := s.waitUntil(l, oldest, time.Now())
		ctx, cancel := context.WithDeadline(pk.ctx, deadline)
		s.awaitFetch(ctx, l)
		cancel()
		now := time.Now()
		timedOut := !now.Before(deadline) && pk.ctx.Err() == nil

		pk.mu.Lock()
		batch := l.parked
		l.parked = nil
		pk.mu.Unlock()
		if out == nil {
			out = make([]byte, 0, s.cfg.MaxUDPSize)
		}
		var freed int64
		var kept []parked
		for i := range batch {
			w := &batch[i]
			v := q.Parse(w.pkt)
			q.recursion = s.mayRecurse(w.from.Addr())
			reply, oc := s.respond(&q, v, out[:0], false, w.st)
			if oc != replied && oc != drop {
				if timedOut && s.waitUntil(l, w.arrived, now).After(now) {
					kept = append(kept, *w) // its own wait is not over: another round
					continue
				}
				reply, _ = s.count(w.st, q.QType, s.errorReply(out[:0], &q, wire.RcodeServFail))
			}
			if reply != nil {
				w.send(reply)
			}
			freed += w.cost()
		}

		pk.mu.Lock()
		pk.used -= freed
		if len(kept) != 0 {
			l.parked = append(kept, l.parked...) // oldest first: the next deadline leads
		}
		if len(l.parked) == 0 {
			delete(pk.lists, key)
			pk.used -= waiterCost
			pk.mu.Unlock()
			return
		}
		pk.mu.Unlock()
	}
}

// waitUntil is how long a query of l that arrived at arrived may wait, as seen at
// now; not after now when its wait is over. A prepared query is executed once, not
// fetched in a burst: it waits the await timeout only.
func (s *Server) waitUntil(l *waitList, arrived, now time.Time) time.Time {
	if l.query {
		return arrived.Add(s.store.AwaitTimeout())
	}
	if until, more := s.store.AwaitUntil(arrived, now); more {
		return until
	}
	return now
}

// awaitFetch waits, until ctx is done and at most as long as the store lets a first
// query wait (AwaitUntil; the await timeout for a prepared query), for what l's
// queries need: a service entry's first fetch, or a prepared query's
// execution.
func (s *Server) awaitFetch(ctx context.Context, l *waitList) {
	if l.query {
		s.store.AwaitQuery(ctx, l.dc, l.name)
	} else {
		s.store.AwaitEntry(ctx, l.entry, l.dc, l.name)
	}
}

// drain waits, within ctx, for the replies still owed over UDP: the parked queries'
// and the forwarded ones'. Parked queries wait on (the store runs until the resolver
// has stopped) until shortly before ctx runs out; then they are answered SERVFAIL,
// while the sockets are still open.
func (s *Server) drain(ctx context.Context) {
	pk := &s.parking
	pk.mu.Lock()
	pk.closed = true
	pk.mu.Unlock()
	early := ctx
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		early, cancel = context.WithDeadline(ctx, d.Add(-drainGrace))
		defer cancel()
	}
	if !transport.Wait(early, &pk.waiters) {
		pk.cancel()
		transport.Wait(ctx, &pk.waiters)
	}
	transport.Wait(ctx, &s.inflight)
}
