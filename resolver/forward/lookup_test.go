package forward

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/internal/upstreamtest"
)

// TestLookupNeverStale: Lookup answers from the cache while fresh, like Forward,
// but once the entry expired and every upstream fails it returns an error where
// Forward serves the stale answer.
func TestLookupNeverStale(t *testing.T) {
	up := upstreamtest.Start(t, "127.0.0.3", upstreamtest.Options{})
	f := newForwarder(t, Config{Upstreams: []netip.AddrPort{up.Addr}, Stale: time.Hour, Timeout: 200 * time.Millisecond})
	clk := &clock{t: time.Now()}
	f.now = clk.now
	m := new(dns.Msg)
	m.SetQuestion("short.example.test.", dns.TypeA)
	m.RecursionDesired = true
	q := pack(t, m)
	lookup := func() ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return f.Lookup(ctx, q)
	}
	if _, err := lookup(); err != nil {
		t.Fatalf("first lookup: %v", err)
	}
	up.Stop()
	if _, err := lookup(); err != nil || f.Stats().CacheHits() != 1 {
		t.Fatalf("while fresh: %v, %d cache hits", err, f.Stats().CacheHits())
	}
	clk.add(2 * time.Second) // past the record's TTL of 1 s
	if out, err := lookup(); err == nil {
		t.Errorf("expired, every upstream down: want an error, got a reply of %d bytes", len(out))
	}
	if r := (call{name: "short.example.test.", qtype: dns.TypeA, timeout: staleAfter + time.Second}).must(t, f); r.Answer[0].Header().Ttl != staleTTL {
		t.Errorf("Forward, the same moment: want the stale answer, got %v", r)
	}
}
