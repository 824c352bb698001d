package resolver

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/cache"
	"github.com/srvbridge/srvbridge/health"
	"github.com/srvbridge/srvbridge/resolver/transport"
)

// The parking tests run the real store and the real transport; behind the store is
// coldSource, a catalog whose services are known from the start and fetched only when
// the test delivers them, as a feed under a cold burst would, late.

type coldSource struct {
	mu      sync.Mutex
	n       int
	sink    health.Sink
	sinkSet chan struct{}
	held    map[string]bool
}

func newColdSource(n int) *coldSource {
	return &coldSource{n: n, sinkSet: make(chan struct{}), held: map[string]bool{}}
}

func coldName(i int) string { return fmt.Sprintf("svc-%04d", i) }

// coldAddr is service i's one instance.
func coldAddr(i int) net.IP { return net.IPv4(127, 1, byte(i>>8), byte(i)) }

func (f *coldSource) LocalDatacenter(context.Context) (string, error) { return "dc1", nil }
func (f *coldSource) Datacenters(context.Context) ([]string, error)   { return []string{"dc1"}, nil }

func (f *coldSource) WatchDatacenter(ctx context.Context, dc string, sink health.Sink) error {
	cat := health.Catalog{Datacenter: dc, Services: map[string][]string{}, Index: 1}
	for i := range f.n {
		cat.Services[coldName(i)] = nil
	}
	f.mu.Lock()
	f.sink = sink
	f.mu.Unlock()
	sink.Nodes(health.Nodes{Datacenter: dc, Nodes: []health.Node{{Name: "n1", Address: "127.0.5.254"}}, Index: 1})
	sink.Catalog(cat)
	close(f.sinkSet)
	<-ctx.Done()
	return ctx.Err()
}

func (f *coldSource) Hold(_, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.held[name] = true
}

func (f *coldSource) Release(_, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.held, name)
}

func (f *coldSource) ExecuteQuery(_ context.Context, _, name string) (health.QueryResult, error) {
	return health.QueryResult{}, fmt.Errorf("execute %s: %w", name, health.ErrNoQuery)
}

func (f *coldSource) holds() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.held)
}

// deliver completes service i's first fetch.
func (f *coldSource) deliver(i int) {
	f.mu.Lock()
	sink := f.sink
	f.mu.Unlock()
	sink.Service(health.ServiceState{Service: coldName(i), Datacenter: "dc1", Index: 2,
		Instances: []health.Instance{{ID: coldName(i), Node: "n1", NodeAddress: "127.0.5.254",
			Address: coldAddr(i).String(), OwnAddress: true, Port: 80}}})
}

// coldServer serves n cold services on a loopback port.
func coldServer(t *testing.T, n int, await time.Duration, maxBytes int64) (*Server, *coldSource) {
	t.Helper()
	src := newColdSource(n)
	comp, err := NewCompiler(Config{Addr: "127.0.0.1:0", TTL: 5, NegativeTTL: 5, UDPSockets: 2, AwaitMaxBytes: maxBytes})
	if err != nil {
		t.Fatal(err)
	}
	store, err := cache.New(src, comp.Compile, cache.Config{LocalDC: "dc1", AwaitTimeout: await, MaxServices: n + 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go store.Run(ctx)
	select {
	case <-src.sinkSet:
	case <-time.After(10 * time.Second):
		t.Fatal("the store never followed its datacenter")
	}
	waitFor(t, "the store ready", func() bool { ok, _ := store.Ready(); return ok })
	s := New(comp, store)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The drain gives the waiters most of a second, then answers SERVFAIL.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s, src
}

// waitFor polls cond until it holds, failing the test after 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// asker is one UDP client socket. Query i (its ID) asks for service i, with the
// socket's type, case and EDNS; a reader checks every reply against its query.
type asker struct {
	t     *testing.T
	c     *net.UDPConn
	qtype uint16
	upper bool
	edns  bool

	mu      sync.Mutex
	replies map[uint16]int // ID → rcode
	sentAt  map[uint16]time.Time
	gotAt   map[uint16]time.Time
	bad     []string
}

func newAsker(t *testing.T, addr string, qtype uint16, upper, edns bool) *asker {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(mustAddrPort(t, addr)))
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadBuffer(4 << 20)
	a := &asker{t: t, c: c, qtype: qtype, upper: upper, edns: edns,
		replies: map[uint16]int{}, sentAt: map[uint16]time.Time{}, gotAt: map[uint16]time.Time{}}
	t.Cleanup(func() { c.Close() })
	go a.read()
	return a
}

func mustAddrPort(t *testing.T, addr string) netip.AddrPort {
	t.Helper()
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return ua.AddrPort()
}

func (a *asker) name(i int) string {
	n := coldName(i) + ".service.consul."
	if a.upper {
		n = strings.ToUpper(n[:1]) + n[1:4] + strings.ToUpper(n[4:])
	}
	return n
}

func (a *asker) send(i int) {
	m := new(dns.Msg)
	m.SetQuestion(a.name(i), a.qtype)
	m.Id = uint16(i)
	if a.edns {
		m.SetEdns0(1232, false)
	}
	pkt, err := m.Pack()
	if err != nil {
		a.t.Fatal(err)
	}
	a.mu.Lock()
	a.sentAt[m.Id] = time.Now()
	a.mu.Unlock()
	if _, err := a.c.Write(pkt); err != nil {
		a.t.Errorf("send: %v", err)
	}
}

func (a *asker) read() {
	buf := make([]byte, 65535)
	for {
		n, err := a.c.Read(buf)
		if err != nil {
			return
		}
		r := new(dns.Msg)
		if err := r.Unpack(buf[:n]); err != nil {
			a.note("unpack: %v", err)
			continue
		}
		a.check(r)
		a.mu.Lock()
		if _, dup := a.replies[r.Id]; dup {
			a.bad = append(a.bad, fmt.Sprintf("ID %d answered twice", r.Id))
		}
		a.replies[r.Id] = r.Rcode
		a.gotAt[r.Id] = time.Now()
		a.mu.Unlock()
	}
}

func (a *asker) note(format string, args ...any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.bad = append(a.bad, fmt.Sprintf(format, args...))
}

// check verifies that r answers the query with r's ID: same name as spelled, same
// type, EDNS when asked, and for NOERROR the service's instance.
func (a *asker) check(r *dns.Msg) {
	i := int(r.Id)
	if len(r.Question) != 1 || r.Question[0].Name != a.name(i) || r.Question[0].Qtype != a.qtype {
		a.note("ID %d: question %v, want %s %s", i, r.Question, a.name(i), dns.TypeToString[a.qtype])
		return
	}
	if (r.IsEdns0() != nil) != a.edns {
		a.note("ID %d: EDNS %v, asked %v", i, r.IsEdns0() != nil, a.edns)
	}
	if r.Rcode != dns.RcodeSuccess {
		return
	}
	if len(r.Answer) != 1 {
		a.note("ID %d: %d answers", i, len(r.Answer))
		return
	}
	switch rr := r.Answer[0].(type) {
	case *dns.A:
		if !rr.A.Equal(coldAddr(i)) {
			a.note("ID %d: A %v, want %v", i, rr.A, coldAddr(i))
		}
	case *dns.SRV:
		if rr.Port != 80 {
			a.note("ID %d: SRV port %d", i, rr.Port)
		}
	default:
		a.note("ID %d: answer %v", i, rr)
	}
}

func (a *asker) rcodes() (got int, by map[int]int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	by = map[int]int{}
	for _, rc := range a.replies {
		by[rc]++
	}
	return len(a.replies), by
}

func (a *asker) reply(id uint16) (rcode int, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rcode, ok = a.replies[id]
	return rcode, ok
}

// waited is how long query id took from its sending to its reply.
func (a *asker) waited(id uint16) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.gotAt[id].Sub(a.sentAt[id])
}

func (a *asker) problems() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.bad...)
}

// burst has clients askers, of both query types, both cases, with and without EDNS,
// each ask for services 0 to names-1 at once.
func burst(t *testing.T, addr string, names, clients int) []*asker {
	var askers []*asker
	for c := range clients {
		qtype := uint16(dns.TypeA)
		if c%2 == 1 {
			qtype = dns.TypeSRV
		}
		askers = append(askers, newAsker(t, addr, qtype, c == 1, c >= 2))
	}
	var wg sync.WaitGroup
	for _, a := range askers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range names {
				a.send(i)
			}
		}()
	}
	wg.Wait()
	return askers
}

func received(askers []*asker) (got int, by map[int]int) {
	by = map[int]int{}
	for _, a := range askers {
		n, rc := a.rcodes()
		got += n
		for k, v := range rc {
			by[k] += v
		}
	}
	return got, by
}

// TestColdBurstParked: 4 clients ask each of 2,000 names nobody asked before, all
// at once, 8,000 queries waiting together for first fetches (the old bound was 256
// waiting queries). Once the source delivers, within the await timeout, every query
// is answered NOERROR with its own ID, case, type and EDNS; none gets SERVFAIL.
func TestColdBurstParked(t *testing.T) {
	const names, clients = 2000, 4
	s, src := coldServer(t, names, time.Minute, 0)
	askers := burst(t, s.Addr(), names, clients)
	st := s.Stats()
	waitFor(t, "every query at the slow path", func() bool { return st.SlowPath()+st.Overloaded() >= names*clients })
	if got, by := received(askers); got != 0 {
		t.Fatalf("%d replies before any fetch completed: %v", got, by)
	}
	if q, _ := s.parking.count(); q != names*clients {
		t.Fatalf("%d queries parked, want %d", q, names*clients)
	}
	// Each name's waiter holds it on its own goroutine, after its first query parked.
	waitFor(t, "one hold per name", func() bool { return src.holds() >= names })
	if n := src.holds(); n != names {
		t.Fatalf("%d services held, want %d: one per name", n, names)
	}

	// Deliver in steps, each answered before the next, so no client socket's
	// receive buffer has to hold a whole burst.
	const step = 200
	for from := 0; from < names; from += step {
		for i := from; i < from+step; i++ {
			src.deliver(i)
		}
		want := (from + step) * clients
		waitFor(t, fmt.Sprintf("%d replies", want), func() bool { got, _ := received(askers); return got >= want })
	}
	got, by := received(askers)
	if got != names*clients || by[dns.RcodeSuccess] != names*clients || by[dns.RcodeServerFailure] != 0 {
		t.Errorf("%d replies of %d queries, by rcode %v; want all NOERROR", got, names*clients, by)
	}
	if n := st.Overloaded(); n != 0 {
		t.Errorf("%d queries refused as overload", n)
	}
	for _, a := range askers {
		for _, p := range a.problems() {
			t.Error(p)
		}
	}
	waitFor(t, "the waiting lists empty", func() bool { q, b := s.parking.count(); return q == 0 && b == 0 })
}

// TestParkingBound: past the memory bound a query that must wait gets SERVFAIL at
// once, counted as overload; those parked within it are answered when the fetch
// completes.
func TestParkingBound(t *testing.T) {
	const fit = 10
	probe := new(dns.Msg)
	probe.SetQuestion(coldName(0)+".service.consul.", dns.TypeA)
	pkt, _ := probe.Pack()
	limit := int64(waiterCost + fit*(len(pkt)+parkedCost))
	s, src := coldServer(t, 2, time.Minute, limit)
	a := newAsker(t, s.Addr(), dns.TypeA, false, false)
	for range fit + 5 {
		a.send(0) // the same ID: replies are counted by rcode below
	}
	st := s.Stats()
	waitFor(t, "5 refused", func() bool { return st.Overloaded() == 5 })
	waitFor(t, fmt.Sprintf("%d parked", fit), func() bool { q, _ := s.parking.count(); return q == fit })
	if _, b := s.parking.count(); b != limit {
		t.Errorf("%d bytes charged, want the whole bound %d", b, limit)
	}
	// A second name has no room for its waiter.
	b := newAsker(t, s.Addr(), dns.TypeA, false, false)
	b.send(1)
	waitFor(t, "the second name refused", func() bool { _, ok := b.reply(1); return ok })
	if rc, _ := b.reply(1); rc != dns.RcodeServerFailure {
		t.Errorf("second name: rcode %d, want SERVFAIL", rc)
	}
	if rc, _ := a.reply(0); rc != dns.RcodeServerFailure {
		t.Errorf("past the bound: rcode %d, want SERVFAIL", rc)
	}
	// The parked ones are answered: the asker records replies by ID, so count the
	// NOERRORs from the server's side.
	src.deliver(0)
	waitFor(t, "the parked answered", func() bool { q, b := s.parking.count(); return q == 0 && b == 0 })
	if n := st.Overloaded(); n != 6 {
		t.Errorf("%d counted as overload, want 6", n)
	}
	if n := answered(st, dns.RcodeSuccess); n != fit {
		t.Errorf("%d NOERROR, want %d", n, fit)
	}
}

// answered counts the replies with rcode across query types.
func answered(st *Stats, rcode int) uint64 {
	var n uint64
	for _, sh := range st.shards {
		for ty := range sh.queries {
			n += sh.queries[ty][rcode].Load()
		}
	}
	return n
}

// TestParkedAwaitTimeout: a query whose name is not fetched within the await
// timeout gets SERVFAIL, no sooner; a query for the same name that arrived later
// keeps waiting for its own timeout, and is answered when the fetch completes then.
func TestParkedAwaitTimeout(t *testing.T) {
	const timeout = 3 * time.Second
	s, src := coldServer(t, 1, timeout, 0)
	a := newAsker(t, s.Addr(), dns.TypeA, false, false)
	a.send(0)
	st := s.Stats()
	waitFor(t, "the first parked", func() bool { return st.SlowPath() == 1 })
	// The scenario, not a synchronisation: the second query comes a third of the
	// timeout after the first.
	time.Sleep(timeout / 3)
	b := newAsker(t, s.Addr(), dns.TypeA, true, false)
	b.send(0)
	waitFor(t, "the first query's SERVFAIL", func() bool { _, ok := a.reply(0); return ok })
	if rc, _ := a.reply(0); rc != dns.RcodeServerFailure {
		t.Fatalf("first query: rcode %d, want SERVFAIL", rc)
	}
	waited := a.waited(0)
	if waited < timeout {
		t.Errorf("SERVFAIL after %v, before the await timeout %v", waited, timeout)
	}
	if rc, ok := b.reply(0); ok {
		t.Fatalf("the later query was answered (rcode %d) with the first one", rc)
	}
	src.deliver(0)
	waitFor(t, "the later query's answer", func() bool { _, ok := b.reply(0); return ok })
	if rc, _ := b.reply(0); rc != dns.RcodeSuccess {
		t.Errorf("later query: rcode %d, want NOERROR", rc)
	}
	for _, p := range append(a.problems(), b.problems()...) {
		t.Error(p)
	}
	waitFor(t, "the waiting lists empty", func() bool { q, b := s.parking.count(); return q == 0 && b == 0 })
}

// TestParkedWaitsThroughColdBurst: a parked query whose fetch comes after its await
// timeout, while the fetches of other names keep arriving (a cold burst Consul works
// through), gets its answer, not SERVFAIL at the timeout; once the burst is over, the
// timeout holds again. TestParkedAwaitTimeout is the same wait with no burst.
func TestParkedWaitsThroughColdBurst(t *testing.T) {
	const timeout = 300 * time.Millisecond
	const others = 40
	s, src := coldServer(t, others+2, timeout, 0)
	a := newAsker(t, s.Addr(), dns.TypeA, false, false)
	for i := range others + 2 {
		a.send(i)
	}
	st := s.Stats()
	waitFor(t, "every query parked", func() bool { return st.SlowPath() == others+2 })
	// The burst, as the scenario: the other names' fetches come one every 25 ms, for
	// three await timeouts; then name 0's.
	for i := 2; i < others+2; i++ {
		src.deliver(i)
		time.Sleep(25 * time.Millisecond)
	}
	src.deliver(0)
	waitFor(t, "name 0 answered", func() bool { _, ok := a.reply(0); return ok })
	if rc, _ := a.reply(0); rc != dns.RcodeSuccess {
		t.Errorf("name 0, fetched %v after its query while other fetches arrived: rcode %d, want NOERROR",
			time.Duration(others)*25*time.Millisecond, rc)
	}
	// Name 1 is never fetched: once the burst is over its query gets SERVFAIL, well
	// before the longest wait a burst allows.
	waitFor(t, "name 1 answered", func() bool { _, ok := a.reply(1); return ok })
	if rc, _ := a.reply(1); rc != dns.RcodeServerFailure {
		t.Errorf("name 1, never fetched: rcode %d, want SERVFAIL", rc)
	}
	waited := a.waited(1)
	if waited >= 5*time.Second {
		t.Errorf("name 1 got SERVFAIL after %v: it waited out the burst's whole allowance", waited)
	}
	for _, p := range a.problems() {
		t.Error(p)
	}
	waitFor(t, "the waiting lists empty", func() bool { q, b := s.parking.count(); return q == 0 && b == 0 })
}

// TestParkedShutdown: on shutdown a parked query whose fetch completes during the
// drain is answered, one whose fetch does not gets SERVFAIL before the sockets close,
// a query that would have to wait gets SERVFAIL at once, and no waiter outlives
// Shutdown.
func TestParkedShutdown(t *testing.T) {
	s, src := coldServer(t, 3, time.Minute, 0)
	a := newAsker(t, s.Addr(), dns.TypeA, false, false)
	a.send(0)
	a.send(1)
	waitFor(t, "two parked", func() bool { q, _ := s.parking.count(); return q == 2 })
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	waitFor(t, "the drain", func() bool { s.parking.mu.Lock(); defer s.parking.mu.Unlock(); return s.parking.closed })
	a.send(2)
	waitFor(t, "the query during the drain refused", func() bool { _, ok := a.reply(2); return ok })
	src.deliver(0)
	waitFor(t, "the delivered name answered", func() bool { _, ok := a.reply(0); return ok })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Sent before the sockets closed: only its reading may still be under way.
	waitFor(t, "the undelivered name answered", func() bool { _, ok := a.reply(1); return ok })
	for id, want := range map[uint16]int{0: dns.RcodeSuccess, 1: dns.RcodeServerFailure, 2: dns.RcodeServerFailure} {
		if rc, ok := a.reply(id); !ok || rc != want {
			t.Errorf("ID %d: rcode %d (replied %v), want %d", id, rc, ok, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if !transport.Wait(ctx, &s.parking.waiters) {
		t.Error("a waiter outlived Shutdown")
	}
	if q, b := s.parking.count(); q != 0 || b != 0 {
		t.Errorf("%d queries, %d bytes still parked", q, b)
	}
}

// TestParkedMemory: what a name waiting with one parked query holds (its waiter's
// goroutine and list, the query and its send function, the store's hold) stays
// within what the bound charges for it.
func TestParkedMemory(t *testing.T) {
	const names = 2000
	s, _ := coldServer(t, names, time.Minute, 0)
	a := newAsker(t, s.Addr(), dns.TypeA, false, false)
	inUse := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		t.Logf("heap %d stack %d", m.HeapInuse, m.StackInuse)
		return m.HeapInuse + m.StackInuse
	}
	before := inUse()
	for i := range names {
		a.send(i)
	}
	waitFor(t, "every name parked", func() bool { q, _ := s.parking.count(); return q == names })
	after := inUse()
	_, charged := s.parking.count()
	per := (int64(after) - int64(before)) / names
	t.Logf("%d bytes held per waiting name, %d charged", per, charged/names)
	if per > charged/names {
		t.Errorf("a waiting name holds %d bytes, more than the %d the bound charges", per, charged/names)
	}
}
