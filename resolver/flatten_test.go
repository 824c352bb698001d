package resolver

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/cache"
	"github.com/srvbridge/srvbridge/health"
	"github.com/srvbridge/srvbridge/resolver/wire"
)

// fakeUpstream is a Forwarder (the package's own interface) answering A and AAAA
// for its names from a table it lets tests change, or failing.
type fakeUpstream struct {
	mu    sync.Mutex
	a     map[string]string // name → IPv4 or IPv6 address
	ttl   uint32
	hang  bool          // answer nothing until the lookup gives up: a silent upstream
	gate  chan struct{} // when set, no answer before it is closed
	asked []string
}

func (u *fakeUpstream) Forward(ctx context.Context, query []byte, _ bool, _ int) ([]byte, error) {
	q := new(dns.Msg)
	if err := q.Unpack(query); err != nil {
		return nil, err
	}
	if u.gate != nil {
		<-u.gate
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.asked = append(u.asked, q.Question[0].Name)
	if u.hang {
		u.mu.Unlock()
		<-ctx.Done()
		u.mu.Lock()
		return nil, errors.New("no upstream answered in time")
	}
	m := new(dns.Msg)
	m.SetReply(q)
	name := q.Question[0].Name
	if ip := net.ParseIP(u.a[name]); ip != nil {
		hdr := dns.RR_Header{Name: name, Rrtype: q.Question[0].Qtype, Class: dns.ClassINET, Ttl: u.ttl}
		switch {
		case q.Question[0].Qtype == dns.TypeA && ip.To4() != nil:
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: ip})
		case q.Question[0].Qtype == dns.TypeAAAA && ip.To4() == nil:
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: ip})
		}
	}
	return m.Pack()
}

func (u *fakeUpstream) set(f func(u *fakeUpstream)) {
	u.mu.Lock()
	defer u.mu.Unlock()
	f(u)
}

// answerLines builds a's reply for name and qtype and renders its answer section
// as "owner TTL TYPE data" lines.
func answerLines(t *testing.T, a *Answers, name string, qtype uint16) []string {
	t.Helper()
	k := variantKey{qtype: qtype, limit: wire.MaxMsgLen}
	v := a.get([]byte(name), k)
	if v == nil {
		v = a.build([]byte(name), k)
	}
	m := new(dns.Msg)
	if err := m.Unpack(v.pick()); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, rr := range m.Answer {
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	return out
}

func waitLines(t *testing.T, a *Answers, name string, qtype uint16, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := answerLines(t, a, name, qtype)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s:\n got %q\nwant %q", name, dns.TypeToString[qtype], got, want)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// flatCompiler is a compiler forwarding to up (none when nil), and a service name
// with one instance whose address is host.
func flatCompiler(t *testing.T, up Forwarder, name, host string) (*Compiler, *cache.Service) {
	t.Helper()
	comp, err := NewCompiler(Config{TTL: 5, NegativeTTL: 5, Forwarder: up})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(comp.flat.stop)
	return comp, &cache.Service{Name: name, Datacenter: "dc1", Instances: []health.Instance{
		{ID: name + "-1", Node: "n1", Address: host, OwnAddress: true, Port: 80, Weight: 1},
	}}
}

// TestFlattenSplicesAndExpires: the compiled A answer of a service whose instance
// has a host name as its address gets the host's A record, at half the upstream's
// TTL, once resolved in the background; AAAA likewise; ANY keeps the CNAME
// alone; when the upstream goes silent the records stay until its TTL has run out,
// not until the hanging lookup gives up (4 s), then the CNAME is answered alone.
func TestFlattenSplicesAndExpires(t *testing.T) {
	up := &fakeUpstream{a: map[string]string{"db.example.test.": "192.0.2.7"}, ttl: 2, gate: make(chan struct{})}
	comp, svc := flatCompiler(t, up, "db", "db.example.test")
	a := comp.Compile(nil, svc)
	const name, cname = "db.service.consul.", "db.service.consul. 5 IN CNAME db.example.test."
	// While the first lookup runs, the CNAME alone, and not to be cached.
	if got := answerLines(t, a, name, wire.TypeA); !slices.Equal(got, []string{"db.service.consul. 0 IN CNAME db.example.test."}) {
		t.Errorf("A before the first lookup ended: %q", got)
	}
	close(up.gate)
	waitLines(t, a, name, wire.TypeA, cname, "db.example.test. 1 IN A 192.0.2.7")
	if got := answerLines(t, a, name, wire.TypeAAAA); !slices.Equal(got, []string{cname}) {
		t.Errorf("AAAA with no AAAA upstream: %q", got)
	}
	if got := answerLines(t, a, name, wire.TypeANY); !slices.Equal(got, []string{cname}) {
		t.Errorf("ANY: %q", got)
	}
	// A recompile (a Consul change) keeps the splice without waiting.
	a = comp.Compile(a, svc)
	if got := answerLines(t, a, name, wire.TypeA); len(got) != 2 {
		t.Errorf("after a recompile: %q", got)
	}
	up.set(func(u *fakeUpstream) { u.a["db.example.test."] = "2001:db8::7" })
	waitLines(t, a, name, wire.TypeAAAA, cname, "db.example.test. 1 IN AAAA 2001:db8::7")
	waitLines(t, a, name, wire.TypeA, cname)
	up.set(func(u *fakeUpstream) { u.hang = true })
	start := time.Now()
	waitLines(t, a, name, wire.TypeAAAA, cname)
	if took := time.Since(start); took >= lookupTimeout {
		t.Errorf("records outlived the upstream's TTL of 2s: dropped after %v, when the lookup gave up", took)
	}
}

// TestFlattenLocalTarget: a target in our own zone is never forwarded; with no
// server to answer it yet, the CNAME is answered alone.
func TestFlattenLocalTarget(t *testing.T) {
	up := &fakeUpstream{ttl: 60}
	comp, svc := flatCompiler(t, up, "alias", "web.service.consul")
	a := comp.Compile(nil, svc)
	// Its lookup fails (no server to answer it): the CNAME alone, cacheable again.
	waitLines(t, a, "alias.service.consul.", wire.TypeA, "alias.service.consul. 5 IN CNAME web.service.consul.")
	up.mu.Lock()
	defer up.mu.Unlock()
	if len(up.asked) != 0 {
		t.Errorf("forwarded %q", up.asked)
	}
}

// TestFlattenNothingWithoutForwarder: without a forwarder an outside target is
// never looked up, and nothing runs in the background.
func TestFlattenNothingWithoutForwarder(t *testing.T) {
	comp, svc := flatCompiler(t, nil, "db", "db.example.test")
	comp.Compile(nil, svc)
	comp.flat.mu.Lock()
	defer comp.flat.mu.Unlock()
	if comp.flat.running || len(comp.flat.targets) != 0 {
		t.Errorf("flattener started with nothing to forward to: %d targets", len(comp.flat.targets))
	}
}
