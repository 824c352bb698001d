package main

import (
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestParseStatAndCPULine(t *testing.T) {
	// The command name may hold spaces and parentheses; fields count from the last ")".
	stat := "4242 (srv (bridge) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 12 0 100 0 0"
	if got, err := parseStatTicks(stat); err != nil || got != 325 {
		t.Errorf("parseStatTicks = %d, %v; want 325", got, err)
	}
	if _, err := parseStatTicks("4242 (x) S 1"); err == nil {
		t.Error("short stat line accepted")
	}
	busy, total, err := parseCPULine("cpu  100 5 50 800 40 3 2 0 0 0")
	if err != nil || busy != 160 || total != 1000 {
		t.Errorf("parseCPULine = %d, %d, %v; want 160, 1000", busy, total, err)
	}
	if _, _, err := parseCPULine("cpu0 1 2 3"); err == nil {
		t.Error("bad cpu line accepted")
	}
}

func TestParseSample(t *testing.T) {
	for line, want := range map[string]struct {
		name string
		v    float64
		ok   bool
	}{
		`srvbridge_consul_requests_total{kind="service"} 1234`: {"srvbridge_consul_requests_total", 1234, true},
		`srvbridge_degraded 1`:                                 {"srvbridge_degraded", 1, true},
		`go_gc_duration_seconds{quantile="0.5"} 1.5e-05`:       {"go_gc_duration_seconds", 1.5e-05, true},
		`x{le="a b}"} 3`:                                       {"x", 3, true},
		`# TYPE srvbridge_degraded gauge`:                      {"", 0, false},
		``:                                                     {"", 0, false},
		`broken{`:                                              {"", 0, false},
	} {
		name, v, ok := parseSample(line)
		if name != want.name || v != want.v || ok != want.ok {
			t.Errorf("parseSample(%q) = %q, %v, %v; want %+v", line, name, v, ok, want)
		}
	}
}

func TestObservationShares(t *testing.T) {
	o := observation{Label: "rest", Secs: 10, ClkTck: 100, Ticks: map[string]int64{"srvbridge": 50, "consul": 200},
		RSSKB: map[string]int64{"srvbridge": 2048, "consul": 4096}, Requests: 1700, CPUBusy: 500, CPUTotal: 2000}
	if got := o.cpuShare("consul"); got != 0.2 {
		t.Errorf("cpuShare(consul) = %v, want 0.2", got)
	}
	if got := o.otherShare(); got != 0.125 {
		t.Errorf("otherShare = %v, want 0.125", got)
	}
	s := o.summary()
	for _, want := range []string{"srvbridge RSS 2.0 MiB, CPU 5% of a core", "consul RSS 4.0 MiB", "170.0 Consul requests/s", "other processes 12% of the machine"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary %q lacks %q", s, want)
		}
	}
}

func TestTCPStates(t *testing.T) {
	const procNetTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:9469 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:C350 0100007F:9469 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:C351 0100007F:9469 06 00000000:00000000 03:00000A6B 00000000     0        0 0 3 0000000000000000
   3: 0100007F:C352 0100007F:9469 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 20 4 30 10 -1
   4: 0100007F:9469 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 4 1 0000000000000000 20 4 30 10 -1
   5: 0100007F:C353 0100007F:9469 0B 00000000:00000000 00:00000000 00000000     0        0 5 1 0000000000000000 20 4 30 10 -1
`
	got := tcpStates(procNetTCP, 0x9469)
	if got["ESTABLISHED"] != 2 || got["TIME_WAIT"] != 1 || got["other"] != 1 || len(got) != 3 {
		t.Errorf("tcpStates = %v", got)
	}
}

func TestPicker(t *testing.T) {
	p := newPicker(100, 5, 1)
	seen := map[int]int{} // instance -> tick of its last change
	for tick := range 50 {
		picks := p.pick(tick, 10)
		if len(picks) != 10 {
			t.Fatalf("tick %d: %d picks, want 10", tick, len(picks))
		}
		for _, k := range picks {
			if last, ok := seen[k]; ok && tick-last < 5 {
				t.Fatalf("instance %d changed at ticks %d and %d, gap 5", k, last, tick)
			}
			seen[k] = tick
		}
	}
	// At tick 50 the instances changed at ticks 46..49 (40 of them) are not eligible,
	// so a request for 70 cannot be met in full.
	if got := len(p.pick(50, 70)); got > 60 {
		t.Errorf("picked %d with 40 of 100 ineligible", got)
	}
	// Each pick toggles: down is whether an instance was picked an odd number of times.
	q := newPicker(3, 1, 1)
	for tick := range 4 {
		q.pick(tick, 3)
	}
	if q.down[0] || q.down[1] || q.down[2] {
		t.Errorf("down after 4 toggles each = %v", q.down)
	}
}

func TestAnswerHas(t *testing.T) {
	ip := net.ParseIP("127.16.0.5")
	r := new(dns.Msg)
	r.SetQuestion("svc-00000.service.consul.", dns.TypeA)
	hdr := dns.RR_Header{Name: "svc-00000.service.consul.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}
	r.Answer = []dns.RR{&dns.A{Hdr: hdr, A: net.ParseIP("127.16.0.4")}, &dns.A{Hdr: hdr, A: ip}}
	if has, decided := answerHas(r, ip); !has || !decided {
		t.Errorf("answerHas with the address = %v, %v", has, decided)
	}
	r.Answer = r.Answer[:1]
	if has, decided := answerHas(r, ip); has || !decided {
		t.Errorf("answerHas without the address = %v, %v", has, decided)
	}
	r.Rcode = dns.RcodeNameError
	if has, decided := answerHas(r, ip); has || !decided {
		t.Errorf("answerHas NXDOMAIN = %v, %v", has, decided)
	}
	r.Rcode = dns.RcodeServerFailure
	if _, decided := answerHas(r, ip); decided {
		t.Error("SERVFAIL decided the question")
	}
}

func TestCountReply(t *testing.T) {
	var b loadBucket
	b.Sent = 5
	countReply(&b, header{Rcode: 0}, 2*time.Millisecond, time.Second)
	countReply(&b, header{Rcode: 0, TC: true}, 4*time.Millisecond, time.Second)
	countReply(&b, header{Rcode: 2}, time.Millisecond, time.Second)
	countReply(&b, header{Rcode: 3}, time.Millisecond, time.Second)
	countReply(&b, header{Rcode: 0}, 2*time.Second, time.Second) // late: lost
	if b.NoError != 2 || b.TC != 1 || b.ServFail != 1 || b.NXDomain != 1 || b.Late != 1 {
		t.Errorf("bucket = %+v", b)
	}
	if b.answered() != 4 || b.lost() != 1 || b.LatSumMS != 8 || b.LatMaxMS != 4 {
		t.Errorf("answered %d, lost %d, latency sum %v max %v", b.answered(), b.lost(), b.LatSumMS, b.LatMaxMS)
	}
}

func TestQuantileAndCells(t *testing.T) {
	var x []float64
	for i := 100; i >= 1; i-- {
		x = append(x, float64(i))
	}
	got := latencyCells(x)
	want := []string{"100", "50.0 ms", "90.0 ms", "99.0 ms", "100.0 ms"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("latencyCells = %v, want %v", got, want)
	}
	if got := latencyCells([]float64{1500}); got[1] != "1.50 s" {
		t.Errorf("latencyCells([1500]) = %v", got)
	}
	if got := latencyCells(nil); got[0] != "0" || got[4] != "n/a" {
		t.Errorf("latencyCells(nil) = %v", got)
	}
	if !math.IsNaN(quantile(nil, 0.5)) {
		t.Error("quantile of nothing is a number")
	}
}

func TestReadyShape(t *testing.T) {
	for in, want := range map[string]string{
		"200 ready (degraded: Consul unreachable for 42s; serving the last known answers)": "200 ready (degraded: Consul unreachable for <t>; serving the last known answers)",
		"200 ready (degraded: Consul unreachable for 1m2s; x)":                             "200 ready (degraded: Consul unreachable for <t>; x)",
		"200 ready": "200 ready",
		"":          "",
	} {
		if got := readyShape(in); got != want {
			t.Errorf("readyShape(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestScaleReport writes the files scale.sh would leave and checks the phases of an
// outage and the figures the Markdown shows.
func TestScaleReport(t *testing.T) {
	files := writeFiles(t, map[string]string{
		"meta.env": "services=10\ninstances=2\ntotal_instances=20\ncommit=abc1234\ndate=2026-11-25 10:00:00 UTC\n" +
			"sync_s=1.5\nfirst_answer_s=1.2\nregister_s=0.3\nsigstop_desc=frozen\nsigstop_down_ms=2000\nsigstop_up_ms=4000\n",
		"observe.jsonl": `{"label":"after-sync","secs":0,"clk_tck":100,"ticks":{},"rss_kb":{"srvbridge":10240,"consul":20480}}
{"label":"rest","secs":10,"clk_tck":100,"ticks":{"srvbridge":10,"consul":20},"rss_kb":{"srvbridge":10240,"consul":20480},"consul_requests":25,"cpu_busy":100,"cpu_total":2000}
`,
		"churn.json": `{"services":10,"instances":2,"ops_per_txn":128,"rate":2,"secs":5,"tick_ms":100,"poll_ms":5,"deadline_ms":1000,"elapsed_s":5,"changes":10,"txn_ms":[1,2],"sample_ms":[3,4,5],"sample_from_send_ms":[4,5,6],"not_seen":1}`,
		// Six seconds: 0-1 before, 2-3 during, 4-5 after (by the middle of each second).
		"load.json": `{"qps":10,"timeout_ms":1000,"names":20,"buckets":[
{"start_ms":0,"sent":10,"noerror":10,"ready":"200 ready","degraded":0,"consul_requests":5},
{"start_ms":1000,"sent":10,"noerror":10,"ready":"200 ready","degraded":0,"consul_requests":6},
{"start_ms":2000,"sent":10,"noerror":8,"servfail":1,"ready":"200 ready (degraded: Consul unreachable for 1s; x)","degraded":1,"stale_s":1,"consul_requests":7,"cpu":{"srvbridge":0.5},"fds":{"srvbridge":40}},
{"start_ms":3000,"sent":10,"noerror":9,"ready":"200 ready (degraded: Consul unreachable for 2s; x)","degraded":1,"stale_s":2,"consul_requests":9,"cpu":{"srvbridge":1.5},"fds":{"srvbridge":42}},
{"start_ms":4000,"sent":10,"noerror":10,"ready":"200 ready","degraded":0,"consul_requests":12},
{"start_ms":5000,"sent":10,"noerror":10,"admin_err":"timeout","degraded":-1,"consul_requests":-1}]}`,
		"change.json": `{"label":"c","txn_ok_ms":50,"attempts":1,"prop_ms":7.5,"total_ms":57.5,"instance":3}`,
	})
	rep, err := loadScaleReport(files["meta.env"], files["observe.jsonl"], files["churn.json"], "",
		[]string{"sigstop:" + files["load.json"] + ":" + files["change.json"]})
	if err != nil {
		t.Fatal(err)
	}
	names, rows := rep.outages[0].phases()
	if strings.Join(names, ",") != "before,during,after" {
		t.Fatalf("phases %v", names)
	}
	d := rows["during"]
	if d.Secs != 2 || d.Total.Sent != 20 || d.Total.ServFail != 1 || d.Total.lost() != 2 || d.MaxStaleS != 2 || d.Requests != [2]float64{7, 9} {
		t.Errorf("during = %+v", d)
	}
	if len(d.Ready) != 1 || !strings.Contains(d.Ready[0], "<t>") {
		t.Errorf("during /readyz = %q, want one shape", d.Ready)
	}
	if a := rows["after"]; a.AdminErrs != 1 || a.Total.Sent != 20 {
		t.Errorf("after = %+v", a)
	}
	md := rep.markdown()
	for _, want := range []string{
		"# srvbridge at scale: 10 services × 2 instances, 2026-11-25, commit abc1234",
		"| srvbridge started → whole catalog served",
		"| RSS after sync | srvbridge 10 MiB (VmRSS), Consul 20 MiB |",
		"2.5 Consul requests/s from srvbridge",
		"| the txn's response | 3 | 4.0 ms | 5.0 ms | 5.0 ms | 5.0 ms | 1 |",
		"| during | 2 | 20 | 17 | 0 | 1 | 0 | 2 |",
		"the answer changed 7.5 ms after the transaction's response",
		"(1 readings failed)",
		"| 0–5 s | before | 50 | 47 | 0 | 1 | 2 | 0.0 ms | 1.00 | n/a | 42 | 0 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(md)
	}
	rep, err = loadScaleReport(files["meta.env"], files["observe.jsonl"], "", "",
		[]string{"sigstop:" + files["load.json"] + ":" + files["change.json"] + ".missing"})
	if err != nil {
		t.Fatal(err)
	}
	if md := rep.markdown(); !strings.Contains(md, "could **not** be made") || strings.Contains(md, "### Propagation") {
		t.Errorf("a missing change or churn file is not reported as such:\n%s", md)
	}
}

// writeFiles writes name → content into a temporary directory and returns name → path.
func writeFiles(t *testing.T, files map[string]string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	paths := map[string]string{}
	for name, text := range files {
		paths[name] = filepath.Join(dir, name)
		if err := os.WriteFile(paths[name], []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return paths
}
