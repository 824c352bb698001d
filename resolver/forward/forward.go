package forward

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/srvbridge/srvbridge/resolver/wire"
)

// Forward answers query (a client's raw packet) from the cache or from upstream. It
// implements resolver.Forwarder: the reply carries the query's ID and spelling; over
// UDP it is never larger than limit.
func (f *Forwarder) Forward(ctx context.Context, query []byte, tcp bool, limit int) ([]byte, error) {
	return f.forward(ctx, query, tcp, limit, true)
}

// Lookup is Forward without serve-stale: the reply is fresh from the cache or from
// an upstream, else an error. It is for srvbridge's own lookups (the addresses of a
// CNAME target it splices into an answer, resolver/flatten.go), which keep their
// last good answer themselves, for no longer than its TTL; an answer served stale
// here would come back with a new TTL and outlive the data.
func (f *Forwarder) Lookup(ctx context.Context, query []byte) ([]byte, error) {
	return f.forward(ctx, query, false, wire.MaxMsgLen, false)
}

func (f *Forwarder) forward(ctx context.Context, query []byte, tcp bool, limit int, serveStale bool) ([]byte, error) {
	q, err := parseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	clientQ := query[:q.end]
	if tcp {
		limit = wire.MaxMsgLen
	}
	limit = max(limit, 512)
	if f.inflight.has(keyOf(q.id, &q)) {
		f.stats.loops.Add(1)
		f.warnLoop(&q)
		return nil, errLoop
	}
	if q.qtype == wire.TypeAXFR || q.qtype == wire.TypeIXFR {
		return errorReply(clientQ, wire.RcodeRefused), nil // zone transfers are not forwarded
	}
	ups := f.route(q.name)
	if len(ups) == 0 {
		return errorReply(clientQ, wire.RcodeRefused), nil // only stub zones are forwarded
	}

	now := f.now()
	key := ""
	var stale *entry
	if f.cache != nil {
		key = cacheKey(&q)
		e, fresh := f.cache.get(key, now)
		if fresh {
			f.stats.cacheHits.Add(1)
			return present(e.serve(now, false), clientQ, limit, &e.ri), nil
		}
		f.stats.cacheMisses.Add(1)
		if serveStale {
			stale = e // nil, or expired but within the stale window
		}
	}

	// The upstream gets the client's packet with an ID of our own: the client's may
	// be predictable, and upstream replies are matched on ours.
	pkt := append([]byte(nil), query...)
	binary.BigEndian.PutUint16(pkt, randomID())
	if stale != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, staleAfter)
		defer cancel()
	}
	lk := keyOf(binary.BigEndian.Uint16(pkt), &q)
	f.inflight.add(lk)
	reply, failed, err := f.ask(ctx, ups, pkt, &q, tcp)
	f.inflight.remove(lk)

	if reply != nil {
		out, aerr := f.accept(reply, clientQ, key, now, limit)
		if aerr == nil {
			return out, nil
		}
		err = fmt.Errorf("reply from upstream: %w", aerr)
	}
	if stale != nil {
		f.stats.staleServed.Add(1)
		return present(stale.serve(f.now(), true), clientQ, limit, &stale.ri), nil
	}
	if failed != nil {
		// Every upstream answered SERVFAIL or REFUSED: pass the last one on.
		return present(failed, clientQ, limit, nil), nil
	}
	return nil, fmt.Errorf("forward %s: %w", presentation(q.name), err)
}

// accept turns an upstream reply that matched the query into the client's reply,
// caching it (under key) when it may be cached. It reads bytes an upstream chose, so
// FuzzAccept exercises it.
func (f *Forwarder) accept(reply, clientQ []byte, key string, now time.Time, limit int) ([]byte, error) {
	ri, err := walk(reply)
	switch {
	case err == nil:
		reply = stripOptions(reply, &ri)
		if ttl, ok := ri.cacheTTL(); ok && f.cache != nil {
			f.cache.add(key, append([]byte(nil), reply...), ri, now, ttl)
		}
		return present(reply, clientQ, limit, &ri), nil
	case ri.tc:
		// Some servers cut a truncated reply anywhere; the client retries over TCP.
		return present(reply, clientQ, limit, nil), nil
	}
	return nil, err
}

// attempt is one query to one upstream.
type attempt struct {
	up    *upstream
	reply []byte
	err   error
	took  time.Duration
	seq   int
}

// ask gets a usable reply (any rcode but SERVFAIL and REFUSED) for pkt. Upstreams are
// asked one after another: the next as soon as the previous fails, or when it has
// not answered within the timeout. A slow upstream stays in the race, so its late
// answer still counts. After the last upstream the list starts over (a lost datagram
// is retried), at most two rounds, until ctx ends. The goroutines, one per attempt,
// are bounded by that and all end before ask returns.
//
// It returns the usable reply; else the last SERVFAIL or REFUSED reply, if any; else
// the last error.
func (f *Forwarder) ask(ctx context.Context, ups []*upstream, pkt []byte, q *question, tcp bool) (reply, failed []byte, err error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	list := order(ups, f.cfg.Strategy, f.now())
	maxTries := 2 * len(list)
	results := make(chan attempt, maxTries)
	answered := make([]bool, maxTries)
	tries := 0
	launch := func() {
		a := attempt{up: list[tries%len(list)], seq: tries}
		tries++
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			a.reply, a.err = exchange(ctx, a.up.addr, pkt, q.end, tcp, q.udpSize)
			a.took = time.Since(start)
			results <- a
		}()
	}
	launch()
	pending := 1
	timer := time.NewTimer(f.cfg.Timeout)
	defer timer.Stop()
	err = context.DeadlineExceeded
	for pending > 0 {
		select {
		case a := <-results:
			pending--
			answered[a.seq] = true
			if a.err != nil {
				if ctx.Err() != nil {
					return nil, failed, fmt.Errorf("no upstream answered in time: %w", err)
				}
				a.up.stats.errors.Add(1)
				a.up.failed(f.now(), f.log, a.err)
				err = fmt.Errorf("upstream %s: %w", a.up.name, a.err)
			} else {
				rcode := int(binary.BigEndian.Uint16(a.reply[2:]) & 0xF)
				a.up.stats.observe(rcode, a.took)
				a.up.answered(f.log)
				if rcode != wire.RcodeServFail && rcode != wire.RcodeRefused {
					return a.reply, nil, nil
				}
				failed = a.reply
				err = fmt.Errorf("upstream %s answered rcode %d", a.up.name, rcode)
			}
			if pending == 0 && tries < maxTries {
				launch()
				pending++
				timer.Reset(f.cfg.Timeout)
			}
		case <-timer.C:
			// The latest upstream asked has had its time: count it, and ask the next
			// one alongside.
			if last := tries - 1; !answered[last] {
				u := list[last%len(list)]
				u.stats.timeouts.Add(1)
				u.failed(f.now(), f.log, context.DeadlineExceeded)
				err = fmt.Errorf("upstream %s: no answer within %v", u.name, f.cfg.Timeout)
			}
			if tries < maxTries {
				launch()
				pending++
				timer.Reset(f.cfg.Timeout)
			}
		case <-ctx.Done():
			return nil, failed, fmt.Errorf("no upstream answered in time: %w", err)
		}
	}
	return nil, failed, err
}

// warnLoop logs a forwarding loop at most once a minute: a loop repeats per query.
func (f *Forwarder) warnLoop(q *question) {
	now := f.now()
	f.inflight.mu.Lock()
	due := now.Sub(f.lastLoop) >= time.Minute
	if due {
		f.lastLoop = now
	}
	f.inflight.mu.Unlock()
	if due {
		f.log.Warn("forwarding loop: a query we sent upstream came back to us; answering SERVFAIL (check the upstreams)",
			"name", presentation(q.name))
	}
}

// presentation renders a wire-form name for logs and errors.
func presentation(name []byte) string {
	var b []byte
	for off := 0; off < len(name) && name[off] != 0; off += 1 + int(name[off]) {
		b = append(append(b, name[off+1:off+1+int(name[off])]...), '.')
	}
	if len(b) == 0 {
		return "."
	}
	return string(b)
}
