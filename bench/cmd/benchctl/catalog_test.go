package main

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestLatHistQuantileWithinOneBucketOfExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h latHist
	var xs []float64
	for range 20000 {
		// Log-uniform from 10 µs to 2 s: every bucket width is exercised.
		us := 10 * math.Pow(2e5, rng.Float64())
		h.add(time.Duration(us * float64(time.Microsecond)))
		xs = append(xs, us)
	}
	exact := summarize(xs)
	for _, c := range []struct {
		p     float64
		exact float64
	}{{0.5, exact.P50}, {0.99, exact.P99}} {
		got := h.quantileUS(c.p)
		// The quantile is its bucket's upper edge: at or above the exact sample, by less
		// than one bucket's width.
		width := latEdge(latBucket(c.exact)) - c.exact
		if got < c.exact || got-c.exact > width+1e-9 {
			t.Errorf("p%.0f: histogram %.1f µs, exact %.1f µs (bucket width %.1f)", c.p*100, got, c.exact, width)
		}
	}
	if h.N != 20000 || math.Abs(h.MaxUS-exact.Max) > 1 {
		t.Errorf("n %d max %.1f, want 20000 and %.1f", h.N, h.MaxUS, exact.Max)
	}
	var empty latHist
	if !math.IsNaN(empty.quantileUS(0.99)) {
		t.Error("an empty histogram has no quantile")
	}
}

func TestLatBucketEdgesAreMonotonic(t *testing.T) {
	for _, us := range []float64{0, 0.5, 999.9, 1000, 1050, 99_999, 100_000, 9_999_999, 10_000_000, 1e9} {
		i := latBucket(us)
		if i < 0 || i >= latBuckets || latEdge(i) <= us || (i > 0 && latEdge(i-1) > us) {
			t.Errorf("%.1f µs: bucket %d, edges %.1f..%.1f", us, i, latEdge(max(0, i-1)), latEdge(i))
		}
	}
}

func TestLatHistMergeAndP99Of1ms(t *testing.T) {
	var a, b latHist
	for range 990 {
		a.add(200 * time.Microsecond)
	}
	for range 10 {
		b.add(5 * time.Millisecond)
	}
	a.merge(&b)
	if got := a.quantileUS(0.99); got != 201 {
		t.Errorf("p99 %.0f µs, want 201 (the 990th of 1000 is 200 µs)", got)
	}
	if got := a.quantileUS(0.999); got != 5000 {
		t.Errorf("p99.9 %.0f µs, want 5000 (capped at the maximum)", got)
	}
}

const procNetTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:2382 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 100 1 0000000000000000 100 0 0 10 0
   1: 0100007F:D431 0100007F:2382 01 00000000:00000000 00:00000000 00000000     0        0 201 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:D432 0100007F:2382 01 00000000:00000000 00:00000000 00000000     0        0 202 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:D433 0100007F:2382 06 00000000:00000000 00:00000000 00000000     0        0 0 3 0000000000000000
   4: 0100007F:D434 0100007F:2382 01 00000000:00000000 00:00000000 00000000     0        0 300 1 0000000000000000 20 4 30 10 -1
   5: 0100007F:2382 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 401 1 0000000000000000 20 4 30 10 -1
   6: 0100007F:2382 0100007F:D432 01 00000000:00000000 00:00000000 00000000     0        0 402 1 0000000000000000 20 4 30 10 -1
   7: 0100007F:2382 0100007F:D434 01 00000000:00000000 00:00000000 00000000     0        0 403 1 0000000000000000 20 4 30 10 -1
   9: 0100007F:D431 0100007F:2382 01 00000000:00000000 00:00000000 00000000     0        0 201 1 0000000000000000 20 4 30 10 -1
   8: 0100007F:1F90 0100007F:D435 01 00000000:00000000 00:00000000 00000000     0        0 500 1 0000000000000000 20 4 30 10 -1
garbage line
`

func TestConnCountOwnedEstablishedOnly(t *testing.T) {
	e := parseTCPTable(procNetTCP)
	if len(e) != 10 {
		t.Fatalf("%d entries, want 10", len(e))
	}
	if e[1].LocalPort != 0xD431 || e[1].RemotePort != 9090 || e[1].State != "01" || e[1].Inode != 201 {
		t.Errorf("entry 1: %+v", e[1])
	}
	// 0x2382 is 9090. Ours: inodes 201 (listed twice, counted once) and 202; 300 is another process's; the
	// TIME_WAIT socket (inode 0) and the listener do not count.
	owned, server, unknown := connCount(e, 9090, map[uint64]bool{201: true, 202: true}, nil)
	if owned != 2 || server != 3 || !unknown {
		t.Errorf("owned %d server %d unknown %v, want 2, 3, true", owned, server, unknown)
	}
	if _, _, unknown = connCount(e, 9090, map[uint64]bool{201: true, 202: true}, map[uint64]bool{300: true}); unknown {
		t.Error("a connection known to be another process's is not unknown")
	}
	owned, _, unknown = connCount(e, 9090, map[uint64]bool{201: true, 202: true, 300: true}, nil)
	if owned != 3 || unknown {
		t.Errorf("owned %d unknown %v, want 3, false", owned, unknown)
	}
}

func TestSocketInode(t *testing.T) {
	for link, want := range map[string]uint64{"socket:[12345]": 12345, "pipe:[7]": 0, "/dev/null": 0, "socket:[x]": 0, "socket:[9": 0} {
		got, ok := socketInode(link)
		if got != want || ok != (want != 0) {
			t.Errorf("%q: %d %v, want %d", link, got, ok, want)
		}
	}
}

func TestAPIHTTPCountsAndDelta(t *testing.T) {
	before, err := apiHTTPCounts(strings.NewReader(`# TYPE consul_api_http summary
consul_api_http_count 0
consul_api_http{method="GET",path="v1_health_service_",quantile="0.5"} 1.2
consul_api_http_count{method="GET",path="v1_health_service_"} 100
consul_api_http_count{method="GET",path="v1_agent_metrics"} 7
consul_api_http_count{method="PUT",path="v1_txn"} 5
consul_api_http_count{method="GET",path="v1_gone"} 3
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != 4 || before["GET v1_health_service_"] != 100 {
		t.Fatalf("before: %v", before)
	}
	after := map[string]float64{"GET v1_health_service_": 130, "GET v1_agent_metrics": 9, "PUT v1_txn": 2, "GET v1_catalog_services": 4}
	d := countDelta(before, after, "agent_metrics")
	want := map[string]float64{"GET v1_health_service_": 30, "PUT v1_txn": 2, "GET v1_catalog_services": 4}
	if len(d) != len(want) {
		t.Fatalf("delta %v, want %v", d, want)
	}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("%s: %v, want %v", k, d[k], v)
		}
	}
	if got := topPaths(d, 2); got != "GET v1_health_service_ 30, GET v1_catalog_services 4" {
		t.Errorf("topPaths: %q", got)
	}
}

func TestAnswerKeyIgnoresTTLOrderAndID(t *testing.T) {
	mk := func(id uint16, ttl uint32, ips ...string) *dns.Msg {
		m := new(dns.Msg)
		m.Id = id
		m.SetQuestion("web.service.consul.", dns.TypeA)
		for _, ip := range ips {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: "web.service.consul.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: net.ParseIP(ip)})
		}
		return m
	}
	a, b := mk(1, 5, "127.0.0.1", "127.0.0.2"), mk(2, 3, "127.0.0.2", "127.0.0.1")
	if answerKey(a) != answerKey(b) {
		t.Errorf("same records differ:\n%s\n%s", answerKey(a), answerKey(b))
	}
	if c := mk(1, 5, "127.0.0.1"); answerKey(a) == answerKey(c) {
		t.Error("a missing record must differ")
	}
	d := mk(1, 5)
	d.Rcode = dns.RcodeServerFailure
	if firstLine(answerKey(d)) != "SERVFAIL" {
		t.Errorf("rcode line %q", firstLine(answerKey(d)))
	}
}

func TestCatLoadSummarize(t *testing.T) {
	r := catLoadResult{WarmS: 1.5, Seconds: []catCounts{
		{Sent: 10, NoError: 8, ServFail: 2},
		{Sent: 10, NoError: 10},
		{Sent: 10, NoError: 9, NXDomain: 1},
		{Sent: 10, NoError: 9}, // one lost
		{Sent: 10, NoError: 10},
	}}
	r.summarize(latHist{})
	if r.Total.Sent != 50 || r.Total.ServFail != 2 || r.Total.NXDomain != 1 || r.Total.lost() != 1 {
		t.Errorf("total %+v lost %d", r.Total, r.Total.lost())
	}
	// After the warm-up: seconds 2, 3 and 4 (the first whole second after 1.5 s).
	if r.AfterWarm.Sent != 30 || r.AfterWarm.NXDomain != 1 {
		t.Errorf("after warm %+v", r.AfterWarm)
	}
	if r.FirstFailS != 0 || r.LastFailS != 3 {
		t.Errorf("failures from %v to %v, want 0 to 3", r.FirstFailS, r.LastFailS)
	}
	if r.LatP99US != -1 {
		t.Errorf("no samples: p99 %v, want -1 (JSON has no NaN)", r.LatP99US)
	}
}

func TestFreezeWindow(t *testing.T) {
	l := loadResult{Buckets: []loadBucket{
		{StartMS: 1000, replyCounts: replyCounts{Sent: 100, NoError: 100}, Requests: 5},
		{StartMS: 2000, replyCounts: replyCounts{Sent: 100, NoError: 40}, Requests: 6},   // in the window
		{StartMS: 3000, replyCounts: replyCounts{Sent: 100, NoError: 100}, Requests: -1}, // admin not read
		{StartMS: 4000, replyCounts: replyCounts{Sent: 100, NoError: 99}, Requests: 26},
		{StartMS: 5000, replyCounts: replyCounts{Sent: 100, NoError: 0}, Requests: 30}, // after it
	}}
	f := freezeWindow(l, 2000, 3)
	if f.Sent != 300 || f.Lost != 61 || f.Requests != 20 {
		t.Errorf("%+v, want 300 sent, 61 lost, 20 requests", f)
	}
}

func TestRunVerdicts(t *testing.T) {
	r := &catRun{
		Ready: &readyResult{Ready: true, Secs: 12},
		Load:  &catLoadResult{Total: catCounts{Sent: 100, NoError: 99, NXDomain: 1}, LatP99US: 800, Lat: latHist{N: 99}},
		Conns: &connsResult{EveryMS: 100, Procs: map[string]*connSeries{"srvbridge": {Samples: 10, Max: 40}}},
		Idle:  &observation{Secs: 10, Requests: 20},
	}
	got := map[string]string{}
	for _, v := range r.verdicts() {
		got[v.Target] = v.Result
	}
	want := map[string]string{
		"ready": pass(true), "errors after ready": pass(false), "p99 latency": pass(true),
		"TCP connections to Consul": pass(false), "Consul requests/s at rest, idle": pass(true),
		"Consul requests/s at rest, under load": "—",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %q, want %q", k, got[k], w)
		}
	}
	r.TLS = true
	r.Conns.Procs["srvbridge"].Max = 9
	for _, v := range r.verdicts() {
		if v.Target == "TCP connections to Consul" && (v.Result != pass(false) || !strings.Contains(v.Want, "8")) {
			t.Errorf("over HTTPS the limit is 8: %+v", v)
		}
	}
}

// TestSplitLoadVerdicts: a split load gives a p99 row per part, judged apart, and
// errors counted over both parts.
func TestSplitLoadVerdicts(t *testing.T) {
	r := &catRun{
		LoadSteady: &catLoadResult{Total: catCounts{Sent: 50, NoError: 50}, LatP99US: 400, Lat: latHist{N: 50}},
		Load:       &catLoadResult{Total: catCounts{Sent: 100, NoError: 99, ServFail: 1}, LatP99US: 5000, Lat: latHist{N: 99}},
	}
	got := map[string]verdict{}
	for _, v := range r.verdicts() {
		got[v.Target] = v
	}
	if v := got["p99 latency, at rest under load"]; v.Result != pass(true) {
		t.Errorf("at rest: %+v, want a pass", v)
	}
	if v := got["p99 latency, while the catalog changes"]; v.Result != pass(false) {
		t.Errorf("while changing: %+v, want a fail", v)
	}
	if v := got["errors after ready"]; v.Result != pass(false) || !strings.Contains(v.Got, "1 SERVFAIL") || !strings.Contains(v.Got, "of 150 queries") {
		t.Errorf("errors: %+v, want 1 SERVFAIL of 150 over both parts", v)
	}
	if _, ok := got["p99 latency"]; ok {
		t.Error("an unsplit p99 row next to the split ones")
	}
}

func TestChangesForUndoesWhatItDoes(t *testing.T) {
	for _, k := range catPropKinds {
		do, undo := changesFor(k, 3, 7, 2, 5)
		if do == nil || len(do.ops) != 1 {
			t.Fatalf("%s: no change", k)
		}
		if (undo == nil) != (k == "deregister") {
			t.Errorf("%s: undo %v", k, undo)
		}
	}
	// A port change is judged on SRV, an address change on both addresses.
	do, _ := changesFor("port", 3, 7, 2, 5)
	srv := new(dns.Msg)
	srv.Answer = []dns.RR{&dns.SRV{Hdr: dns.RR_Header{Rrtype: dns.TypeSRV}, Port: 40003}}
	if do.qtype != dns.TypeSRV || !do.ok(srv) {
		t.Error("port change not seen in an SRV answer with the new port")
	}
	do, _ = changesFor("address", 3, 7, 2, 5)
	a := new(dns.Msg)
	a.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Rrtype: dns.TypeA}, A: extraIP(1, 3)}, &dns.A{Hdr: dns.RR_Header{Rrtype: dns.TypeA}, A: net.ParseIP(ipFor(7*5 + 2))}}
	if do.ok(a) {
		t.Error("address change seen while the old address is still answered")
	}
	a.Answer = a.Answer[:1]
	if !do.ok(a) {
		t.Error("address change not seen")
	}
}

func TestFmtCounts(t *testing.T) {
	if got := fmtCounts(map[string]int{"NOERROR": 110, "": 34, "SERVFAIL": 110}); got != "NOERROR 110, SERVFAIL 110, no reply 34" {
		t.Errorf("%q", got)
	}
	if got := fmtCounts(nil); got != "none" {
		t.Errorf("%q", got)
	}
}

// TestCatStreamCountsLateRepliesByRcode: a reply after the timeout is lost for the load
// but keeps its rcode, so that a late SERVFAIL is still seen; a second reply to the
// same query is not counted.
func TestCatStreamCountsLateRepliesByRcode(t *testing.T) {
	s := &catStream{counts: make([]catCounts, 2)}
	start := time.Now()
	const timeout = time.Second
	for id, sec := range []int{0, 0, 1, 1, 1} {
		s.pending[id].sent, s.pending[id].sec, s.pending[id].live = start.Add(time.Duration(sec)*time.Second), sec, true
	}
	replies := []struct {
		id    uint16
		rcode int
		after time.Duration
	}{
		{0, 0, 100 * time.Microsecond}, // in time
		{1, 2, 1500 * time.Millisecond},
		{2, 2, 1200 * time.Millisecond},
		{3, 0, 1100 * time.Millisecond},
		{4, 5, 1900 * time.Millisecond}, // REFUSED
		{0, 2, 2 * time.Second},         // a duplicate: ignored
	}
	for _, r := range replies {
		p := s.pending[r.id]
		s.reply(header{ID: r.id, Rcode: r.rcode}, p.sent.Add(r.after), start, 0, timeout)
	}
	var tot catCounts
	for _, c := range s.counts {
		tot.merge(c)
	}
	want := catCounts{NoError: 1, Late: 4, LateServFail: 2, LateNoError: 1, LateOther: 1}
	if tot != want {
		t.Errorf("counts %+v, want %+v", tot, want)
	}
	if s.counts[0].LateServFail != 1 || s.counts[1].LateServFail != 1 {
		t.Errorf("late SERVFAIL by second %d, %d, want 1, 1 (the second the query was sent in)", s.counts[0].LateServFail, s.counts[1].LateServFail)
	}
	if s.lat.N != 1 || s.latAll.N != 1 {
		t.Errorf("latency samples %d, %d: only the reply in time has a latency", s.lat.N, s.latAll.N)
	}
	if got := fmtLate(tot); got != "4 late replies: 1 NOERROR, 2 SERVFAIL, 1 other rcodes" {
		t.Errorf("fmtLate: %q", got)
	}
}

// TestCatStreamReadsPastTheTimeout: a reply to the last query that comes after the
// timeout (and so after the reader's old deadline) is still read and counted as late.
func TestCatStreamReadsPastTheTimeout(t *testing.T) {
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	const timeout = 400 * time.Millisecond
	// The server answers every query SERVFAIL one and a half timeouts after it came.
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := srv.ReadFromUDP(buf)
			if err != nil {
				return
			}
			q := append([]byte(nil), buf[:n]...)
			time.AfterFunc(timeout*3/2, func() {
				q[2], q[3] = 0x81, 0x82 // QR, RD, RA, SERVFAIL
				_, _ = srv.WriteToUDP(q, from)
			})
		}
	}()
	cl, err := dial(srv.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	s := &catStream{cl: cl, qps: 10, counts: make([]catCounts, 2), name: func(int) (string, uint16) { return "svc-00000.service.consul", typeA }}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if err := s.run(ctx, time.Now(), 0, timeout); err != nil {
		t.Fatal(err)
	}
	var tot catCounts
	for _, c := range s.counts {
		tot.merge(c)
	}
	if tot.Sent < 1 || tot.LateServFail != tot.Sent || tot.ServFail != 0 {
		t.Errorf("counts %+v: want every query's late SERVFAIL seen", tot)
	}
}

// TestErrorsCountLateReplies: the "0 SERVFAIL" verdict counts the SERVFAILs that came
// after the timeout, and an old result file's unclassified late replies are named.
func TestErrorsCountLateReplies(t *testing.T) {
	r := &catRun{LoadSteady: &catLoadResult{TimeoutMS: 1000, Total: catCounts{Sent: 50, NoError: 49, Late: 1, LateServFail: 1}, LatP99US: 400, Lat: latHist{N: 49}}}
	for _, v := range r.verdicts() {
		if v.Target == "errors after ready" && (v.Result != pass(false) || !strings.Contains(v.Got, "1 SERVFAIL, 0 NXDOMAIN of 50") ||
			!strings.Contains(v.Got, "1 late replies: 1 SERVFAIL; a reply is late after the 1000 ms timeout and read until 2000 ms after the last query")) {
			t.Errorf("a late SERVFAIL: %+v", v)
		}
	}
	var old catCounts
	if err := json.Unmarshal([]byte(`{"sent": 5, "noerror": 3, "late": 2}`), &old); err != nil {
		t.Fatal(err)
	}
	if got := fmtLate(old); !strings.HasPrefix(got, "2 late replies: 2 rcode not recorded") {
		t.Errorf("an old file's late replies: %q", got)
	}
}

// TestFloorVerdict: the Knot row follows the p99 at rest with both quantiles and the
// ratio; a Knot that answers NXDOMAIN is no floor; no floor says why.
func TestFloorVerdict(t *testing.T) {
	steady := &catLoadResult{Total: catCounts{Sent: 50, NoError: 50}, LatP50US: 150, LatP99US: 2000, Lat: latHist{N: 50}}
	knot := &catLoadResult{Total: catCounts{Sent: 60, NoError: 60}, LatP50US: 50, LatP99US: 400, LatP999US: 900, Lat: latHist{N: 60, MaxUS: 1200}}
	r := &catRun{LoadSteady: steady, Load: steady, Floor: knot}
	v := r.verdicts()
	i := slices.IndexFunc(v, func(x verdict) bool { return x.Target == "p99 latency, at rest under load" })
	if i < 0 || i+1 >= len(v) || v[i+1].Target != "the same load against Knot" {
		t.Fatalf("no floor row right after the p99 at rest: %+v", v)
	}
	f := v[i+1]
	for _, s := range []string{"p50 50 µs, p99 400 µs", "srvbridge's p99 is 5.0× Knot's, its p50 3.0×", "Knot's replies: NOERROR 60, 0 lost"} {
		if !strings.Contains(f.Got, s) {
			t.Errorf("floor row %q lacks %q", f.Got, s)
		}
	}
	if f.Result != "" {
		t.Errorf("a valid floor is not judged: %q", f.Result)
	}
	knot.Total.NoError, knot.Total.NXDomain = 50, 10
	if f := r.floorVerdict(steady); f.Result != "**invalid**" || !strings.Contains(f.Got, "NXDOMAIN 10") || !strings.Contains(f.Got, "not a valid floor") {
		t.Errorf("Knot answering NXDOMAIN: %+v", f)
	}
	r.Floor, r.FloorNote = nil, "BENCH_FLOOR=0"
	if f := r.floorVerdict(steady); f.Got != "not measured: BENCH_FLOOR=0" {
		t.Errorf("no floor: %+v", f)
	}
}

// TestCatalogMarkdownFloor: the report reads the floor's load from the run directory
// and writes it next to the p99 at rest.
func TestCatalogMarkdownFloor(t *testing.T) {
	work := t.TempDir()
	dir := filepath.Join(work, "run-http-ondemand")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	steady := catLoadResult{Secs: 17, TimeoutMS: 1000, Total: catCounts{Sent: 100, NoError: 100}, LatP50US: 160, LatP99US: 2400, Lat: latHist{N: 100}}
	knot := catLoadResult{Secs: 17, TimeoutMS: 1000, Total: catCounts{Sent: 100, NoError: 100}, LatP50US: 80, LatP99US: 1200, Lat: latHist{N: 100}}
	if err := writeJSON(filepath.Join(dir, "load-steady.json"), steady); err != nil {
		t.Fatal(err)
	}
	if err := writeJSON(filepath.Join(dir, "load-floor.json"), knot); err != nil {
		t.Fatal(err)
	}
	md := catalogMarkdown(work, map[string]string{"runs": "http-ondemand", "knot_desc": "Knot DNS 3.2"})
	for _, s := range []string{"| the same load against Knot |", "p50 80 µs, p99 1.20 ms", "srvbridge's p99 is 2.0× Knot's",
		"Floor: the same load against Knot DNS 3.2, right before the load at rest"} {
		if !strings.Contains(md, s) {
			t.Errorf("report lacks %q:\n%s", s, md)
		}
	}
}

// TestWriteKnotConf: the config serves the zone file next to it with one UDP worker on
// the given address, and knotc accepts it when Knot is installed.
func TestWriteKnotConf(t *testing.T) {
	dir := t.TempDir()
	zone, conf := filepath.Join(dir, "consul.zone"), filepath.Join(dir, "knot.conf")
	if err := writeKnotConf(conf, zone, "127.0.0.1@5399"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"listen: 127.0.0.1@5399\n", "udp-workers: 1\n", "storage: \"" + dir + "\"\n", "rundir: \"" + filepath.Join(dir, "knot") + "\"\n",
		"domain: consul.\n", "file: \"consul.zone\"\n"} {
		if !strings.Contains(string(b), s) {
			t.Errorf("config lacks %q:\n%s", s, b)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "knot")); err != nil || !fi.IsDir() {
		t.Errorf("knotd's run directory: %v", err)
	}
	knotc, err := exec.LookPath("knotc")
	if err != nil || testing.Short() {
		t.Skip("knotc not installed, or -short: the config is not checked by Knot")
	}
	if out, err := exec.Command(knotc, "-c", conf, "conf-check").CombinedOutput(); err != nil {
		t.Errorf("knotc conf-check: %v\n%s", err, out)
	}
}
