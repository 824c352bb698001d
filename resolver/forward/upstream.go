package forward

import (
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"time"
)

// Strategy chooses the order in which upstreams are tried.
type Strategy uint8

const (
	// Sequential tries upstreams in the configured order: the first is primary.
	Sequential Strategy = iota
	// Random spreads queries over the upstreams in a random order per query.
	Random
)

// ParseStrategy reads "sequential" or "random".
func ParseStrategy(s string) (Strategy, bool) {
	switch s {
	case "sequential":
		return Sequential, true
	case "random":
		return Random, true
	}
	return 0, false
}

func (s Strategy) String() string {
	if s == Random {
		return "random"
	}
	return "sequential"
}

// Backoff of an upstream that stopped answering: it is tried after the others for
// 1 s after its first failure, doubling per consecutive failure up to maxDown. It is
// never skipped, only moved to the back, so a lone upstream is always asked.
const (
	firstDown = time.Second
	maxDown   = 30 * time.Second
)

// upstream is one server queries may go to, shared by every zone that names it so
// that its health and counters are one.
type upstream struct {
	addr  netip.AddrPort
	name  string
	stats upstreamStats

	fails     atomic.Int32
	downUntil atomic.Int64 // unix nanoseconds; 0 when healthy
}

func (u *upstream) down(now time.Time) bool { return u.downUntil.Load() > now.UnixNano() }

// failed records a timeout or a transport error.
func (u *upstream) failed(now time.Time, log *slog.Logger, err error) {
	n := u.fails.Add(1)
	backoff := maxDown
	if n <= 6 {
		backoff = min(firstDown<<(n-1), maxDown)
	}
	u.downUntil.Store(now.Add(backoff).UnixNano())
	if n == 1 {
		log.Warn("upstream not answering; trying the others first", "upstream", u.name, "err", err)
	}
}

// answered records a reply, whatever its rcode: the server is alive.
func (u *upstream) answered(log *slog.Logger) {
	if u.fails.Swap(0) != 0 {
		u.downUntil.Store(0)
		log.Info("upstream answering again", "upstream", u.name)
	}
}

// order returns the upstreams to try for one query: those in good health first, in
// the configured order or shuffled, then those backing off, in the configured order.
func order(ups []*upstream, s Strategy, now time.Time) []*upstream {
	out := make([]*upstream, 0, len(ups))
	for _, u := range ups {
		if !u.down(now) {
			out = append(out, u)
		}
	}
	if s == Random {
		rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	}
	for _, u := range ups {
		if u.down(now) {
			out = append(out, u)
		}
	}
	return out
}
