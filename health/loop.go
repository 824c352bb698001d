package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

const (
	backoffBase = 50 * time.Millisecond
	backoffMax  = 10 * time.Second
)

// fetchFunc performs one request. index 0 asks for an immediate answer; any other
// value blocks until Consul's index for the data passes it or the wait time ends. It
// returns the data and Consul's X-Consul-Index as received. With errNoLeader it
// returns the data too: the loop takes it only if it has nothing better.
type fetchFunc[T any] func(ctx context.Context, index uint64) (T, uint64, error)

// loop is one blocking-query loop, following the rules of Consul's blocking-query
// documentation: reset when the index goes backwards, never block on index 0,
// rate-limit, back off on errors.
type loop[T any] struct {
	kind        Kind
	what        string // "service dc1/web": for logs and errors, never a token
	fetch       fetchFunc[T]
	out         func(T)
	stats       *Stats
	log         *slog.Logger
	minInterval time.Duration
	// gate, when set, is shared by every loop of a watcher (gate.go); nil lets each
	// loop retry on its own.
	gate *gate
}

// run returns ctx.Err() once ctx is done, or ErrNoDatacenter (wrapped) if the very
// first answer says the datacenter does not exist. Every other error is retried.
func (l *loop[T]) run(ctx context.Context) error {
	var (
		// index is the X-Consul-Index of the last delivered answer. 0 means "start
		// over": the next request does not block and its answer is always delivered.
		index uint64
		// resync makes the next request non-blocking while still comparing its
		// answer with index. It is set after an error: the agent answering next may
		// have restarted, and a restarted agent's index is behind ours, so blocking
		// on ours would hide the reset (and every change) for a whole WaitTime.
		resync bool
		// restarted: a request failed because Consul was unreachable, or another
		// loop saw it go or reset, so the agent that answers next may be a new one.
		// A new agent can reach our index again with other data (a fresh agent
		// replays its boot to the same indexes, then the first registration takes
		// the index the old one had reached), so its answer at an equal index
		// proves nothing and is delivered; the receivers diff it.
		restarted bool
		delivered bool
		failures  int
		bucket    = tokenBucket{burst: paceBurst}
		// epoch is the gate's resync channel as of the last request.
		epoch <-chan struct{}
		// denied is the cause of this loop's current ACL refusal, "" if none.
		denied string
	)
	defer l.stats.acl.drop(&denied)
	if l.gate != nil {
		epoch = l.gate.resyncs()
	}
	for {
		if err := sleep(ctx, bucket.take(time.Now(), l.minInterval)); err != nil {
			return err
		}
		if l.gate != nil {
			// While Consul is unreachable nobody asks but the prober.
			if err := l.gate.wait(ctx); err != nil {
				return err
			}
		}
		if l.gate != nil {
			// A resync asked for since the last request started (it may have
			// found this loop between two requests) applies to this one.
			select {
			case <-epoch:
				resync = true
			default:
			}
			epoch = l.gate.resyncs()
		}
		l.stats.request(l.kind)
		ask := index
		if resync {
			ask = 0
		}
		l.stats.inFlight.Add(1)
		v, got, err := l.fetchOrResync(ctx, ask, epoch)
		l.stats.inFlight.Add(-1)
		if errors.Is(err, errNoLeader) && !delivered {
			err = nil // a leaderless answer beats none
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, errResync) {
				resync, restarted = true, true // not a failure: another loop saw Consul go or reset
				continue
			}
			// A refused token is logged once per cause (acl.go), not per watch.
			err = l.stats.acl.observe(l.log, l.kind, loopEndpoint(l.kind, l.what), err, &denied)
			l.stats.failed(l.kind, err)
			if throttled(err) {
				l.stats.throttled.Add(1)
			}
			resync = true
			if errors.Is(err, ErrNoDatacenter) && !delivered {
				return fmt.Errorf("watch %s: %w", l.what, err)
			}
			failures++
			// One warning per outage; the retries in between would only repeat it.
			// When the gate takes the failure, the gate warns once for every watch:
			// 10 000 watches must not write 10 000 lines.
			restarted = restarted || unreachable(err)
			gated := l.gate != nil && unreachable(err)
			level := slog.LevelDebug
			if failures == 1 && !gated && !errors.Is(err, ErrPermission) {
				level = slog.LevelWarn
			}
			l.log.Log(ctx, level, "consul request failed; retrying", "watch", l.what, "err", err.Error(), "failures", failures)
			if gated {
				l.gate.fail(err)
				if err := l.gate.wait(ctx); err != nil {
					return err
				}
			}
			// Also after the gate: a Consul that answers some requests and fails
			// others opens the gate again and again, and only this bounds the retries.
			if err := sleep(ctx, backoff(failures)); err != nil {
				return err
			}
			continue
		}
		if failures > 0 {
			level := slog.LevelInfo
			if l.gate != nil {
				level = slog.LevelDebug // the gate said so once
			}
			l.log.Log(ctx, level, "consul reachable again", "watch", l.what, "failures", failures)
			failures = 0
		}
		resync = false
		fresh := restarted
		restarted = false
		if denied != "" {
			l.stats.acl.observe(l.log, l.kind, "", nil, &denied)
		}
		l.stats.contact()
		if l.gate != nil {
			l.gate.ok()
		}

		// Consul answers at least 1, but older versions sometimes answered 0, and
		// blocking on 0 returns at once: a busy loop. 1 blocks until the first write.
		if got == 0 {
			got = 1
		}
		switch {
		case index == 0:
			// First answer, or the first after a reset: always delivered.
		case got < index:
			// Backwards (restore from snapshot, restarted agent, another server
			// answering a stale read): the old index could block for a long time on
			// changes that already happened. Start over with a non-blocking request.
			l.stats.indexReset()
			l.log.Info("consul index went backwards; resetting", "watch", l.what, "from", index, "to", got)
			index = 0
			if l.gate != nil {
				l.gate.resyncAll() // the other loops block on old indexes too
			}
			continue
		case got == index && !fresh:
			// The wait ended with nothing new.
			continue
		}
		index = got
		delivered = true
		l.out(v)
	}
}

// errResync: the request was dropped because every loop must re-read (gate.resyncAll).
var errResync = errors.New("resync")

// fetchOrResync is one fetch, cut short when resync is closed: the gate asks every
// loop to re-read.
func (l *loop[T]) fetchOrResync(ctx context.Context, index uint64, resync <-chan struct{}) (T, uint64, error) {
	if resync == nil {
		return l.fetch(ctx, index)
	}
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-resync:
			cancel(errResync)
		case <-stop:
		}
	}()
	v, got, err := l.fetch(rctx, index)
	if err != nil && ctx.Err() == nil && context.Cause(rctx) == errResync {
		return v, got, errResync
	}
	return v, got, err
}

// paceBurst is how many requests may follow each other without waiting. A change
// in Consul often moves the index twice in quick succession (a check's status, then
// the agent's sync); a burst lets both through at once, so the limit only bites
// under sustained churn, where it holds a loop to one request per minInterval.
const paceBurst = 4

// tokenBucket is the rate limit of one loop; it is used from that loop only.
type tokenBucket struct {
	burst  float64
	tokens float64
	last   time.Time
}

// take spends one token and returns how long to wait for it.
func (b *tokenBucket) take(now time.Time, every time.Duration) time.Duration {
	if every <= 0 {
		return 0
	}
	if b.last.IsZero() {
		b.tokens, b.last = b.burst, now
	}
	b.tokens = min(b.burst, b.tokens+float64(now.Sub(b.last))/float64(every))
	b.last = now
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens * float64(every))
}

// backoff is exponential with full jitter: uniform in [0, min(max, base·2^(n-1))).
// Jitter spreads the retries of many loops (one per watched service) that all failed
// at the same moment; the rate limit bounds the low end.
func backoff(failures int) time.Duration {
	ceil := backoffMax
	if failures < 30 {
		ceil = min(backoffMax, backoffBase<<(failures-1))
	}
	return rand.N(ceil)
}

// sleep waits for d or until ctx is done, whichever comes first.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
