package forward

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/internal/bridgetest"
	"github.com/srvbridge/srvbridge/internal/upstreamtest"
	"github.com/srvbridge/srvbridge/resolver"
	"github.com/srvbridge/srvbridge/resolver/wire"
)

// The tests below forward to real DNS servers (miekg/dns servers from upstreamtest)
// over real UDP and TCP sockets on 127.0.0.0/8, and to real dead ones: a closed port
// and a blackhole.

var _ resolver.Forwarder = (*Forwarder)(nil)

// clock is a settable time source for TTL tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newForwarder(t *testing.T, cfg Config) *Forwarder {
	t.Helper()
	if cfg.CacheEntries == 0 {
		cfg.CacheEntries, cfg.CacheBytes = 1000, 1<<20
	}
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// call is one query through Forward, the way the resolver makes it.
type call struct {
	name    string
	qtype   uint16
	tcp     bool
	limit   int // 0: 512
	edns    uint16
	timeout time.Duration // 0: the resolver's 4 s
}

func (c call) do(t *testing.T, f *Forwarder) (*dns.Msg, time.Duration, error) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(c.name, c.qtype)
	if c.edns != 0 {
		m.SetEdns0(c.edns, false)
	}
	timeout := c.timeout
	if timeout == 0 {
		timeout = 4 * time.Second
	}
	limit := c.limit
	if limit == 0 {
		limit = 512
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	out, err := f.Forward(ctx, pack(t, m), c.tcp, limit)
	took := time.Since(start)
	if err != nil {
		return nil, took, err
	}
	if !c.tcp && len(out) > limit {
		t.Errorf("%s: %d-byte UDP reply over the %d-byte limit", c.name, len(out), limit)
	}
	var r dns.Msg
	if err := r.Unpack(out); err != nil {
		t.Fatalf("%s: unpack reply: %v", c.name, err)
	}
	if r.Id != m.Id || len(r.Question) != 1 || r.Question[0] != m.Question[0] {
		t.Errorf("%s: reply ID %d question %v; want the query's %d %v", c.name, r.Id, r.Question, m.Id, m.Question)
	}
	if !r.RecursionAvailable {
		t.Errorf("%s: RA not set", c.name)
	}
	return &r, took, nil
}

func (c call) must(t *testing.T, f *Forwarder) *dns.Msg {
	t.Helper()
	r, _, err := c.do(t, f)
	if err != nil {
		t.Fatalf("%s %s: %v", c.name, dns.TypeToString[c.qtype], err)
	}
	return r
}

// direct asks the upstream itself, for the reply srvbridge must pass through.
func direct(t *testing.T, addr netip.AddrPort, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	r, err := bridgetest.Exchange(addr.String(), network, name, qtype)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPassThrough(t *testing.T) {
	up := upstreamtest.Start(t, "127.0.0.3", upstreamtest.Options{})
	f := newForwarder(t, Config{Upstreams: []netip.AddrPort{up.Addr}})
	for _, tc := range []struct {
		name  string
		qtype uint16
		rcode int
	}{
		{"db.example.test.", dns.TypeA, dns.RcodeSuccess},
		{"db.example.test.", dns.TypeAAAA, dns.RcodeSuccess},
		{"_pg._tcp.example.test.", dns.TypeSRV, dns.RcodeSuccess},
		{"example.test.", dns.TypeMX, dns.RcodeSuccess},
		{"txt.example.test.", dns.TypeTXT, dns.RcodeSuccess},
		{"www.example.test.", dns.TypeA, dns.RcodeSuccess},                      // CNAME chain
		{"nope.example.test.", dns.TypeA, dns.RcodeNameError},                   // NXDOMAIN
		{"db.example.test.", dns.TypeSRV, dns.RcodeSuccess},                     // NODATA
		{"db.example.test.svc.cluster.local.", dns.TypeSRV, dns.RcodeNameError}, // search-suffixed junk
	} {
		want := direct(t, up.Addr, "udp", tc.name, tc.qtype)
		for _, tcp := range []bool{false, true} {
			got := call{name: tc.name, qtype: tc.qtype, tcp: tcp}.must(t, f)
			if got.Rcode != tc.rcode || bridgetest.Summary(got) != bridgetest.Summary(want) {
				t.Errorf("%s %s (tcp %v):\n got %s\nwant %s", tc.name, dns.TypeToString[tc.qtype], tcp,
					bridgetest.Summary(got), bridgetest.Summary(want))
			}
		}
	}
	if up.Count("tcp") != 0 {
		t.Errorf("%d queries upstream over TCP: the second of each pair should come from the cache", up.Count("tcp"))
	}
}

// The client's spelling comes back even from an upstream that lower-cases, and an
// upstream reply is taken only if its ID and question match ours.
func TestCaseAndSpoofing(t *testing.T) {
	up := upstreamtest.Start(t, "127.0.0.3", upstreamtest.Options{LowerCase: true, Spoof: true})
	f := newForwarder(t, Config{Upstreams: []netip.AddrPort{up.Addr}})
	r := call{name: "DB.Example.TEST.", qtype: dns.TypeA}.must(t, f)
	if got := bridgetest.Lines(r.Answer); len(got) != 1 || got[0] != "DB.Example.TEST. 300 IN A 192.0.2.10" {
		t.Errorf("answer %v", got)
	}
}

func TestTruncation(t *testing.T) {
	up := upstreamtest.Start(t, "127.0.0.3", upstreamtest.Options{})
	f := newForwarder(t, Config{Upstreams: []netip.AddrPort{up.Addr}})

	// The upstream sets TC although the answer would fit: srvbridge asks again over
	// TCP and the client gets everything over UDP.
	r := call{name: "tc.example.test.", qtype: dns.TypeA}.must(t, f)
	if r.Truncated || len(r.Answer) != 3 || up.Count("tcp") != 1 {
		t.Errorf("tc: TC %v, %d answers, %d TCP queries upstream; want the full answer after one TCP retry",
			r.Truncated, len(r.Answer), up.Count("tcp"))
	}

	// 3 KB of TXT: too large for the client's UDP limit, so TC and no records; the
	// full answer over TCP (from the cache: the TCP retry upstream fetched it).
	full := direct(t, up.Addr, "tcp", "big.example.test.", dns.TypeTXT)
	for _, c := range []call{
		{name: "big.example.test.", qtype: dns.TypeTXT},
		{name: "big.example.test.", qtype: dns.TypeTXT, edns: 1232, limit: 1232},
	} {
		r = c.must(t, f)
		if !r.Truncated || len(r.Answer) != 0 {
			t.Errorf("big over UDP, limit %d: TC %v, %d answers", c.limit, r.Truncated, len(r.Answer))
		}
	}
	r = call{name: "big.example.test.", qtype: dns.TypeTXT, tcp: true}.must(t, f)
	if r.Truncated || bridgetest.Summary(r) != bridgetest.Summary(full) {
		t.Errorf("big over TCP:\n%s", bridgetest.Summary(r))
	}
}

func TestFailover(t *testing.T) {
	up := upstreamtest.Start(t, "127.0.0.3", upstreamtest.Options{})
	const timeout = 300 * time.Millisecond
	tests := []struct {
		name     string
		first    netip.AddrPort
		min, max time.Duration
	}{
		// The kernel refuses at once: no need to wait for the timeout.
		{"closed port", upstreamtest.ClosedPort(t, "127.0.0.4"), 0, timeout - 50*time.Millisecond},
		// Silence: the second is asked when the first's timeout runs out.
		{"blackhole", upstreamtest.Blackhole(t, "127.0.0.5"), timeout, timeout + 700*time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newForwarder(t, Config{Upstreams: []netip.AddrPort{tt.first, up.Addr}, Timeout: timeout})
			r, took, err := call{name: "db.example.test.", qtype: dns.TypeA}.do(t, f)
			if err != nil || len(r.Answer) != 1 {
				t.Fatalf("reply %v, err %v", r, err)
			}
			if took < tt.min || took > tt.max {
				t.Errorf("answered in %v, want %v to %v", took, tt.min, tt.max)
			}
			// Now the dead one is backing off: the next query goes to the live one first.
			_, took, err = call{name: "lb.example.test.", qtype: dns.TypeA}.do(t, f)
			if err != nil || took >= timeout {
				t.Errorf("second query: %v after %v; the dead upstream should be asked last", err, took)
			}
			dead := f.Upstreams()[0]
			if dead.Timeouts+dead.Errors != 1 {
				t.Errorf("dead upstream: %d timeouts, %d errors; want one of either", dead.Timeouts, dead.Errors)
			}
		})
	}
}

// A slow upstream stays in the race after its timeout: its answer is taken even
// though the next one was asked (here a blackhole that never answers).
func TestSlowUpstreamStillCounts(t *testing.T) {
	slow := upstreamtest.Start(t, "127.0.0.3", upstreamtest.Options{Delay: 400 * time.Millisecond})
	hole := upstreamtest.Blackhole(t, "127.0.0.5")
	f := newForwarder(t, Config{Upstreams: []netip.AddrPort{slow.Addr, hole}, Timeout: 100 * time.Millisecond})
	r, took, err := call{name: "db.example.test.", qtype: dns.TypeA}.do(t, f)
	if err != nil || len(r.Answer) != 1 || took < 400*time.Millisecond {
		t.Fatalf("reply %v after %v, err %v", r, took, err)
	}
	if st := f.Upstreams()[0]; st.Timeouts == 0 || st.Responses["NOERROR"] != 1 || st.LatencyCount != 1 {
		t.Errorf("slow upstream stats %+v", st)
	}
}

func TestAllDead(t *testing.T) {
	f := newForwarder(t, Config{
		Upstreams: []netip.AddrPort{upstreamtest.ClosedPort(t, "127.0.0.4"), upstreamtest.Blackhole(t, "127.0.0.5")},
		Timeout:   200 * time.Millisecond,
	})
	_, took, err := call{name: "db.example.test.", qtype: dns.TypeA, timeout: 2 * time.Second}.do(t, f)
	if err == nil {
		t.Fatal("an answer with every upstream dead")
	}
	if took > 2500*time.Millisecond {
		t.Errorf("gave up after %v, past the deadline", took)
	}
	if !strings.Contains(err.Error(), "db.example.test.") {
		t.Errorf("error %q does not name the query", err)
	}
}

// SERVFAIL and REFUSED from one upstream send the query to the next; from all of
// them, the last is passed on, and not cached.
func TestServFailPassedOnUncached(t *testing.T) {
	var n atomic.Int64
	bad := upstreamtest.StartHandler(t, "127.0.0.6", dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		n.Add(1)
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeServerFailure)
		w.WriteMsg(m)
	}))
	f := newForwarder(t, Config{Upstreams: []netip.AddrPort{bad.Addr}})
	for range 2 {
		if r := (call{name: "db.example.test.", qtype: dns.TypeA}).must(t, f); r.Rcode != dns.RcodeServerFailure {
			t.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
		}
	}
	if got := n.Load(); got != 2*2 { // two rounds over the one upstream, per query
		t.Errorf("%d queries upstream, want 4: a SERVFAIL must not be cached", got)
	}

	good := upstreamtest.Start(t, "127.0.0.3", upstreamtest.Options{})
	f = newForwarder(t, Config{Upstreams: []netip.AddrPort{bad.Addr, good.Addr}})
	if r := (call{name: "db.example.test.", qtype: dns.TypeA}).must(t, f); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("with a good second upstream: %v", r)
	}
}

func TestCacheCountsDown(t *testing.T) {
	up := upstreamtest.Start(t, "127.0.0.3", upstreamtest.Options{})
	f := newForwarder(t, Config{Upstreams: []netip.AddrPort{up.Addr}})
	clk := &clock{t: time.Now()}
	f.now = clk.now
	c := call{name: "db.example.test.", qtype: dns.TypeA}
	c.must(t, f)
	clk.add(1500 * time.Millisecond)
	r := c.must(t, f)
	if ttl := r.Answer[0].Header().Ttl; ttl != 299 {
		t.Errorf("TTL %d after 1.5 s, want 299", ttl)
	}
	clk.add(299 * time.Second)
	c.must(t, f)
	if up.Count("udp") != 2 || f.Stats().CacheHits() != 1 || f.Stats().CacheMisses() != 2 {
		t.Errorf("%d queries upstream, %d hits, %d misses; want 2, 1, 2", up.Count("udp"), f.Stats().CacheHits(), f.Stats().CacheMisses())
	}
}

func TestServeStale(t *testing.T) {
	up := upstreamtest.Start(t, "127.0.0.3", upstreamtest.Options{})
	hole := upstreamtest.Blackhole(t, "127.0.0.5")
	f := newForwarder(t, Config{Upstreams: []netip.AddrPort{up.Addr, hole}, Stale: time.Hour, Timeout: 200 * time.Millisecond})
	clk := &clock{t: time.Now()}
	f.now = clk.now
	c := call{name: "short.example.test.", qtype: dns.TypeA, timeout: staleAfter + time.Second}
	if r := c.must(t, f); r.Answer[0].Header().Ttl != 1 {
		t.Fatalf("first answer %v", r)
	}
	up.Stop()
	clk.add(2 * time.Second)
	r, took, err := c.do(t, f)
	if err != nil || len(r.Answer) != 1 || r.Answer[0].Header().Ttl != staleTTL {
		t.Fatalf("after expiry with every upstream dead: %v, %v", r, err)
	}
	if took > staleAfter+500*time.Millisecond || f.Stats().StaleServed() != 1 {
		t.Errorf("stale answer after %v (want within %v), %d counted", took, staleAfter, f.Stats().StaleServed())
	}
	clk.add(time.Hour)
	c.timeout = 300 * time.Millisecond
	if _, _, err := c.do(t, f); err == nil {
		t.Error("an answer past the stale window")
	}
}

// Stub zones go to their own servers; the longest zone wins; other names go to the
// default upstreams, or are REFUSED when there are none.
func TestStubZones(t *testing.T) {
	def := upstreamtest.Start(t, "127.0.0.3", upstreamtest.Options{})
	zone := upstreamtest.Start(t, "127.0.0.6", upstreamtest.Options{})
	sub := upstreamtest.Start(t, "127.0.0.7", upstreamtest.Options{})
	f := newForwarder(t, Config{
		Upstreams: []netip.AddrPort{def.Addr},
		Stubs: []Stub{
			{Zone: "Example.Test", Upstreams: []netip.AddrPort{zone.Addr}},
			{Zone: "web.example.test.", Upstreams: []netip.AddrPort{sub.Addr}},
		},
	})
	for _, c := range []struct {
		name string
		want *upstreamtest.Server
	}{
		{"db.example.test.", zone},
		{"x.web.example.test.", sub},
		{"web.example.test.", sub},
		{"db.example.test.cluster.local.", def},
	} {
		before := [3]int64{def.Count("udp"), zone.Count("udp"), sub.Count("udp")}
		call{name: c.name, qtype: dns.TypeA}.must(t, f)
		after := [3]int64{def.Count("udp"), zone.Count("udp"), sub.Count("udp")}
		for i, s := range []*upstreamtest.Server{def, zone, sub} {
			if d := after[i] - before[i]; d != map[bool]int64{true: 1, false: 0}[s == c.want] {
				t.Errorf("%s: %s got %d queries", c.name, s.Addr, d)
			}
		}
	}

	f = newForwarder(t, Config{Stubs: []Stub{{Zone: "example.test", Upstreams: []netip.AddrPort{zone.Addr}}}})
	if r := (call{name: "other.test.", qtype: dns.TypeA}).must(t, f); r.Rcode != dns.RcodeRefused {
		t.Errorf("outside every stub zone, no default: %s", dns.RcodeToString[r.Rcode])
	}
}

// A query that comes back to us is answered SERVFAIL at once instead of going round.
// The upstream here is a real server that hands whatever it receives to the same
// forwarder, as srvbridge would if an upstream address led back to it.
func TestLoopDetected(t *testing.T) {
	var fp atomic.Pointer[Forwarder]
	var hops atomic.Int64
	loop := upstreamtest.StartHandler(t, "127.0.0.8", dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		pkt, _ := r.Pack()
		var out []byte
		err := errors.New("hop limit") // so that the test ends even when detection fails
		if hops.Add(1) <= 10 {
			out, err = fp.Load().Forward(context.Background(), pkt, false, 512)
		}
		if err != nil {
			m := new(dns.Msg)
			m.SetRcode(r, dns.RcodeServerFailure)
			out, _ = m.Pack()
		}
		w.Write(out)
	}))
	f := newForwarder(t, Config{Upstreams: []netip.AddrPort{loop.Addr}, Timeout: time.Second})
	fp.Store(f)
	r, took, err := call{name: "db.example.test.", qtype: dns.TypeA}.do(t, f)
	if err != nil || r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("reply %v, err %v; want SERVFAIL", r, err)
	}
	if took > 500*time.Millisecond || f.Stats().Loops() == 0 {
		t.Errorf("SERVFAIL after %v with %d loops counted: the loop was not cut short", took, f.Stats().Loops())
	}
}

func TestZoneTransfersRefused(t *testing.T) {
	up := upstreamtest.Start(t, "127.0.0.3", upstreamtest.Options{})
	f := newForwarder(t, Config{Upstreams: []netip.AddrPort{up.Addr}})
	if r := (call{name: "example.test.", qtype: dns.TypeAXFR, tcp: true}).must(t, f); r.Rcode != dns.RcodeRefused {
		t.Errorf("AXFR: %s", dns.RcodeToString[r.Rcode])
	}
	if up.Count("tcp") != 0 {
		t.Error("AXFR went upstream")
	}
}

// An upstream that ignores the size a query allows: the oversized datagram is not
// taken (it may have been cut short), and the answer is fetched over TCP instead.
func TestOversizedUDPReplyRetriedOverTCP(t *testing.T) {
	var tcpQueries atomic.Int64
	big := upstreamtest.StartHandler(t, "127.0.0.6", dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		if w.LocalAddr().Network() == "tcp" {
			tcpQueries.Add(1)
		}
		m := new(dns.Msg)
		m.SetReply(r)
		for i := range 40 {
			rr, _ := dns.NewRR(fmt.Sprintf(`%s 300 IN TXT "%02d %s"`, r.Question[0].Name, i, strings.Repeat("x", 60)))
			m.Answer = append(m.Answer, rr)
		}
		w.WriteMsg(m) // no truncation, whatever the transport
	}))
	f := newForwarder(t, Config{Upstreams: []netip.AddrPort{big.Addr}})
	r := call{name: "big.example.test.", qtype: dns.TypeTXT, limit: wire.MaxMsgLen}.must(t, f)
	if len(r.Answer) != 40 || r.Truncated || tcpQueries.Load() != 1 {
		t.Errorf("%d answers, TC %v, %d TCP queries; want all 40 after one TCP query", len(r.Answer), r.Truncated, tcpQueries.Load())
	}
}
