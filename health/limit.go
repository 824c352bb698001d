package health

import (
	"context"
	"sync"
	"time"
)

// limiter bounds the refetch requests in flight, AIMD style: every success raises
// the limit by 1/limit (about one more request per round of answers), every 429
// halves it, at most once per decreaseEvery so that a burst of 429s from requests
// that were all sent before the first came back counts once. A 429 is Consul saying
// "fewer at a time" (its per-client connection limit, or a rate limit), not an
// outage: the outage gate never sees it.
type limiter struct {
	now func() time.Time

	mu       sync.Mutex
	max      int
	limit    float64
	inFlight int
	lastCut  time.Time
	// free is signalled (non-blocking) whenever a slot may have become free.
	free chan struct{}
}

const decreaseEvery = time.Second

func newLimiter(n int) *limiter {
	n = max(n, 1)
	return &limiter{max: n, limit: float64(n), now: time.Now, free: make(chan struct{}, 1)}
}

// acquire waits until fewer than limit requests are in flight, or ctx ends.
func (l *limiter) acquire(ctx context.Context) error {
	for {
		l.mu.Lock()
		if l.inFlight < int(l.limit) {
			l.inFlight++
			more := l.inFlight < int(l.limit)
			l.mu.Unlock()
			if more {
				l.signal() // pass the wake-up on: another waiter may fit too
			}
			return nil
		}
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-l.free:
		}
	}
}

// release ends one request; throttled says Consul answered 429.
func (l *limiter) release(throttled bool) {
	l.mu.Lock()
	l.inFlight--
	switch now := l.now(); {
	case throttled && now.Sub(l.lastCut) >= decreaseEvery:
		l.limit, l.lastCut = max(1, l.limit/2), now
	case !throttled:
		l.limit = min(float64(l.max), l.limit+1/l.limit)
	}
	l.mu.Unlock()
	l.signal()
}

func (l *limiter) signal() {
	select {
	case l.free <- struct{}{}:
	default:
	}
}

// setMax changes the most requests the limit may grow to (at least 1).
func (l *limiter) setMax(n int) {
	l.mu.Lock()
	l.max = max(n, 1)
	l.limit = min(l.limit, float64(l.max))
	l.mu.Unlock()
	l.signal()
}

// current returns the limit and the requests in flight.
func (l *limiter) current() (limit, inFlight int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.limit), l.inFlight
}

// most returns the most requests the limit may grow to.
func (l *limiter) most() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.max
}
