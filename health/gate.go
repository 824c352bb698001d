package health

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
)

// The outage gate. With thousands of watches (one per service), each retrying on its
// own during an outage means thousands of connection attempts against an agent that
// cannot answer them - at 10 000 services that storm starved the DNS readers of CPU
// and, once the agent was back, hit it with every watch at once. Instead, a loop that
// fails because Consul is unreachable closes the gate and waits at it; one prober asks
// Consul whether it is back; when it is (or any request succeeds), the gate opens and
// the waiting loops go through spread over a window that grows with their number.

const (
	probeTimeout  = 5 * time.Second
	probeBase     = 100 * time.Millisecond
	probeMax      = 2 * time.Second
	resyncPerLoop = 2 * time.Millisecond // → 500 resyncs/s on average
	resyncMax     = 20 * time.Second
	// A gate that closes again within relapseWindow of opening doubles the next
	// release window, up to 2^maxRelapses times.
	relapseWindow = 30 * time.Second
	maxRelapses   = 3
)

type gate struct {
	probe func(ctx context.Context) error
	log   *slog.Logger
	// jitter returns a random duration in [0, d); tests may fix it.
	jitter func(d time.Duration) time.Duration

	mu         sync.Mutex
	resync     chan struct{} // closed, and replaced, when every loop must re-read
	down       bool
	opened     chan struct{} // closed when the gate opens; replaced when it closes
	waiters    int
	spread     time.Duration // for the waiters released by the last opening
	probing    bool
	proberDone chan struct{} // closed when the current prober stops
	probes     int           // probes sent since the gate closed, for their backoff
	// openedAt and relapses slow the release down when Consul fails again soon
	// after each opening.
	openedAt time.Time
	closedAt time.Time
	relapses uint
}

func newGate(probe func(ctx context.Context) error, log *slog.Logger) *gate {
	return &gate{probe: probe, log: log, resync: make(chan struct{}), jitter: func(d time.Duration) time.Duration {
		if d <= 0 {
			return 0
		}
		return rand.N(d)
	}}
}

// resyncs returns the channel that is closed the next time every loop must drop its
// blocking request and re-read without blocking.
func (g *gate) resyncs() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.resync
}

// resyncAll tells every loop to re-read: one of them saw Consul go away or come back
// with its index reset. A loop blocked on a restarted agent with the old agent's
// (higher) index would otherwise see nothing until its wait ends - up to a minute
// of changes hidden - because the new agent keeps blocking until its index passes
// the old one. With a handful of loops, re-reading them all costs a few requests.
func (g *gate) resyncAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.resyncLocked()
}

func (g *gate) resyncLocked() {
	close(g.resync)
	g.resync = make(chan struct{})
}

// fail closes the gate after a request failed with err because Consul is unreachable.
func (g *gate) fail(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.down {
		return
	}
	g.down, g.opened, g.probes, g.closedAt = true, make(chan struct{}), 0, time.Now()
	g.resyncLocked()
	// Closed again soon after opening: Consul answered the probe but not the
	// loops (after a freeze it is still busy with the connections it had, and its
	// per-client connection limit is full of them). Release slower next time.
	if !g.openedAt.IsZero() && time.Since(g.openedAt) < relapseWindow {
		g.relapses = min(g.relapses+1, maxRelapses)
	} else {
		g.relapses = 0
	}
	g.log.Warn("consul unreachable; watches wait while one request at a time asks whether it is back",
		"err", err.Error(), "relapses", g.relapses)
}

// ok opens the gate: something answered.
func (g *gate) ok() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.down {
		return
	}
	g.down, g.openedAt = false, time.Now()
	g.spread = min(time.Duration(g.waiters)*resyncPerLoop, resyncMax) << g.relapses
	g.log.Info("consul reachable again", "down_for", g.openedAt.Sub(g.closedAt).Round(time.Millisecond),
		"watches_waiting", g.waiters, "released_over", g.spread)
	g.waiters = 0
	close(g.opened)
}

// wait returns at once while the gate is open. Otherwise it waits for the opening
// (probing while nobody else does) and then for a random share of the release
// window. It returns early only with ctx's error.
func (g *gate) wait(ctx context.Context) error {
	g.mu.Lock()
	if !g.down {
		g.mu.Unlock()
		return nil
	}
	g.waiters++
	opened := g.opened
	g.mu.Unlock()
	for {
		probe, proberDone := g.prober()
		if probe {
			g.probeUntilOpen(ctx, opened, proberDone)
		}
		select {
		case <-opened:
			g.mu.Lock()
			spread := g.spread
			g.mu.Unlock()
			return sleep(ctx, g.jitter(spread))
		case <-ctx.Done():
			g.mu.Lock()
			if g.opened == opened && g.down {
				g.waiters--
			}
			g.mu.Unlock()
			return ctx.Err()
		case <-proberDone:
			// The prober stopped without the gate opening: its watch was stopped.
			// One of the waiters takes over.
		}
	}
}

// prober makes the caller the prober if the gate is closed and nobody probes. It
// returns the channel that is closed when the current prober stops.
func (g *gate) prober() (mine bool, done chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.down && !g.probing {
		g.probing, g.proberDone, mine = true, make(chan struct{}), true
	}
	return mine, g.proberDone
}

// probeUntilOpen probes with backoff until Consul answers (and opens the gate), the
// gate opens by itself, or ctx ends.
func (g *gate) probeUntilOpen(ctx context.Context, opened, done chan struct{}) {
	defer func() {
		g.mu.Lock()
		g.probing = false
		g.mu.Unlock()
		close(done)
	}()
	for {
		g.mu.Lock()
		g.probes++
		n := g.probes
		g.mu.Unlock()
		d := min(probeMax, probeBase<<min(n-1, 8))
		select {
		case <-opened:
			return
		case <-ctx.Done():
			return
		case <-time.After(d/2 + g.jitter(d/2)):
		}
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		err := g.probe(pctx)
		cancel()
		if err == nil {
			g.ok()
			return
		}
	}
}

// errNoLeader: the agent answered, but from a server that knows no leader, so the
// data may be a partial state (a restarting server replaying its log).
var errNoLeader = errors.New("consul answered without a known leader")

// unreachable reports whether err means Consul as a whole cannot answer now, as
// opposed to an error about one request (an ACL denial, an unknown datacenter).
// A refused token never closes the gate: Consul answered.
func unreachable(err error) bool {
	if errors.Is(err, ErrNoDatacenter) || errors.Is(err, ErrPermission) {
		return false
	}
	if errors.Is(err, errNoLeader) {
		return true
	}
	var se api.StatusError
	if errors.As(err, &se) {
		// 429 is back-pressure (limiter in limit.go), never an outage: Consul is
		// there, and closing the gate on it would stop every loop at once.
		return se.Code >= 500
	}
	return true // transport errors: refused, reset, timed out
}

// throttled reports whether Consul answered 429: too many connections from this
// client address (limits.http_max_conns_per_client), or a request rate limit.
func throttled(err error) bool {
	var se api.StatusError
	return errors.As(err, &se) && se.Code == http.StatusTooManyRequests
}
