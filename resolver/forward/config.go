package forward

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/srvbridge/srvbridge/resolver/wire"
)

// Defaults that the command line documents.
const (
	// DefaultTimeout is how long one upstream has before the next is asked too. Kong
	// waits 2 s per try: after 1 s the second upstream still has a second to answer
	// within that try. The first stays in the race, so a slow answer is not lost.
	DefaultTimeout = time.Second
	// DefaultStale is how long past its TTL an answer may be served when every
	// upstream fails. RFC 8767 suggests one to three days; an hour rides out an
	// upstream outage without serving addresses that may long have moved.
	DefaultStale = time.Hour
	// staleAfter is how long a query with a stale answer at hand waits for upstreams
	// before taking it: RFC 8767's client response timer, under Kong's 2 s.
	staleAfter = 1800 * time.Millisecond
)

// Config describes where queries go and how answers are kept.
type Config struct {
	// Upstreams receive every name no stub zone claims. It may be empty when only
	// stub zones are forwarded; other names are then REFUSED.
	Upstreams []netip.AddrPort
	Strategy  Strategy
	// Timeout is how long an upstream has to answer before the next one is asked as
	// well; DefaultTimeout when zero.
	Timeout time.Duration
	// Stubs send the names in a zone to their own servers; the longest zone wins.
	Stubs []Stub

	// CacheEntries and CacheBytes bound the answer cache; zero entries means no cache.
	CacheEntries int
	CacheBytes   int64
	// Stale is how long past expiry a cached answer may still be served when every
	// upstream fails (RFC 8767); zero disables serve-stale.
	Stale time.Duration

	// Listen is srvbridge's own DNS address ("host:port"). An upstream there would
	// be a loop, and is refused.
	Listen string

	Logger *slog.Logger
}

// Stub is a zone forwarded to servers of its own, such as a second Consul domain.
type Stub struct {
	Zone      string // "example.internal." (the trailing dot is optional)
	Upstreams []netip.AddrPort
}

// Forwarder answers names outside srvbridge's zones by asking upstream resolvers. It
// implements resolver.Forwarder.
type Forwarder struct {
	cfg       Config
	log       *slog.Logger
	defaults  []*upstream
	stubs     []stubZone // longest zone first
	upstreams []*upstream
	cache     *cache
	stats     Stats
	inflight  inflight
	now       func() time.Time
	lastLoop  time.Time // for rate-limiting the loop warning; guarded by inflight.mu
}

type stubZone struct {
	zone []byte // wire form, lower case
	ups  []*upstream
}

// New checks cfg and returns a forwarder. It refuses any upstream that points back
// at Listen.
func New(cfg Config) (*Forwarder, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Upstreams) == 0 && len(cfg.Stubs) == 0 {
		return nil, fmt.Errorf("no upstreams and no stub zones: nothing to forward to")
	}
	f := &Forwarder{cfg: cfg, log: cfg.Logger, now: time.Now}
	byAddr := map[netip.AddrPort]*upstream{}
	get := func(ap netip.AddrPort, what string) (*upstream, error) {
		if err := f.check(ap, what); err != nil {
			return nil, err
		}
		if u := byAddr[ap]; u != nil {
			return u, nil
		}
		u := &upstream{addr: ap, name: ap.String()}
		byAddr[ap] = u
		f.upstreams = append(f.upstreams, u)
		return u, nil
	}
	for _, ap := range cfg.Upstreams {
		u, err := get(ap, "upstream")
		if err != nil {
			return nil, err
		}
		if !slices.Contains(f.defaults, u) {
			f.defaults = append(f.defaults, u)
		}
	}
	for _, s := range cfg.Stubs {
		zone, err := wireName(s.Zone)
		if err != nil {
			return nil, fmt.Errorf("stub zone %q: %w", s.Zone, err)
		}
		if len(s.Upstreams) == 0 {
			return nil, fmt.Errorf("stub zone %q: no servers", s.Zone)
		}
		sz := stubZone{zone: zone}
		for _, ap := range s.Upstreams {
			u, err := get(ap, "stub zone "+s.Zone+" server")
			if err != nil {
				return nil, err
			}
			if !slices.Contains(sz.ups, u) {
				sz.ups = append(sz.ups, u)
			}
		}
		for _, other := range f.stubs {
			if bytes.Equal(other.zone, zone) {
				return nil, fmt.Errorf("stub zone %q given twice", s.Zone)
			}
		}
		f.stubs = append(f.stubs, sz)
	}
	slices.SortStableFunc(f.stubs, func(a, b stubZone) int { return len(b.zone) - len(a.zone) })
	if cfg.CacheEntries > 0 {
		if cfg.CacheBytes <= 0 {
			return nil, fmt.Errorf("cache of %d entries needs a byte bound above zero", cfg.CacheEntries)
		}
		f.cache = newCache(cfg.CacheEntries, cfg.CacheBytes, max(cfg.Stale, 0), &f.stats)
	}
	return f, nil
}

// check refuses addresses no query can usefully go to, and our own.
func (f *Forwarder) check(ap netip.AddrPort, what string) error {
	switch ip := ap.Addr(); {
	case !ap.IsValid() || ap.Port() == 0:
		return fmt.Errorf("%s %s: not an address with a port", what, ap)
	case ip.IsUnspecified() || ip.IsMulticast():
		return fmt.Errorf("%s %s: not a unicast address", what, ap)
	}
	if f.cfg.Listen == "" {
		return nil
	}
	self, err := PointsAtSelf(f.cfg.Listen, ap)
	if err != nil {
		return fmt.Errorf("%s %s: checking it against our own address %s: %w", what, ap, f.cfg.Listen, err)
	}
	if self {
		return fmt.Errorf("%s %s is srvbridge's own DNS address (%s): queries would loop back to us", what, ap, f.cfg.Listen)
	}
	return nil
}

// wireName checks a zone name as every configured name is checked (wire.Domain)
// and returns it in lower-case wire form.
func wireName(zone string) ([]byte, error) {
	d, err := wire.Domain(zone)
	if errors.Is(err, wire.ErrRoot) {
		return nil, fmt.Errorf("the root is not a stub zone; use the upstreams for it")
	}
	if err != nil {
		return nil, err
	}
	return wire.AppendName(nil, d), nil
}

// route picks the upstreams for a name (lower-case wire form): those of the longest
// stub zone containing it, else the default ones (possibly none).
func (f *Forwarder) route(name []byte) []*upstream {
	for _, s := range f.stubs {
		if inZone(name, s.zone) {
			return s.ups
		}
	}
	return f.defaults
}

// inZone reports whether name equals zone or lies below it, on label boundaries.
func inZone(name, zone []byte) bool {
	for off := 0; off < len(name) && len(name)-off >= len(zone); off += 1 + int(name[off]) {
		if bytes.Equal(name[off:], zone) {
			return true
		}
		if name[off] == 0 {
			break
		}
	}
	return false
}

// Stats returns the forwarder's counters.
func (f *Forwarder) Stats() *Stats { return &f.stats }

// Upstreams returns a snapshot of every upstream's counters.
func (f *Forwarder) Upstreams() []UpstreamStats {
	out := make([]UpstreamStats, len(f.upstreams))
	for i, u := range f.upstreams {
		out[i] = u.snapshot()
	}
	return out
}

// CacheSize reports the entries cached and the bytes they account for.
func (f *Forwarder) CacheSize() (entries int, bytes int64) {
	if f.cache == nil {
		return 0, 0
	}
	return f.cache.size()
}
