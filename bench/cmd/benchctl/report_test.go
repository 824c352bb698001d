package main

import (
	"encoding/xml"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Output of dnsperf 2.10.0 (-v lines shortened to a few).
const dnsperfSample = `DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 127.0.0.1 -p 36193 -d q.txt -c 4 -T 1 -q 100 -t 2 -l 3 -Q 2000 -v
[Status] Sending queries (to 127.0.0.1:36193)
[Status] Started at: Wed Nov 25 19:34:43 2026
[Status] Stopping after 3.000000 seconds
> NOERROR svc-00141.service.consul SRV 0.000765
> NXDOMAIN nx-00014.service.consul A 0.000178
> T svc-00002.service.consul A
> NOERROR _svc-00184._tcp.service.consul SRV 0.000192
[Status] Testing complete (time limit)

Statistics:

  Queries sent:         5997
  Queries completed:    5996 (99.98%)
  Queries lost:         1 (0.02%)

  Response codes:       NOERROR 5394 (89.94%), NXDOMAIN 602 (10.06%)
  Average packet size:  request 43, response 171
  Run time (s):         3.004201
  Queries per second:   1996.204648

  Average Latency (s):  0.000338 (min 0.000078, max 0.007543)
  Latency StdDev (s):   0.000533

`

func TestParseDnsperf(t *testing.T) {
	out, err := parseDnsperf(strings.NewReader(dnsperfSample))
	if err != nil {
		t.Fatal(err)
	}
	if out.Sent != 5997 || out.Completed != 5996 || out.Lost != 1 {
		t.Errorf("sent/completed/lost = %d/%d/%d", out.Sent, out.Completed, out.Lost)
	}
	if out.Rcodes["NOERROR"] != 5394 || out.Rcodes["NXDOMAIN"] != 602 || len(out.Rcodes) != 2 {
		t.Errorf("rcodes = %v", out.Rcodes)
	}
	if out.ReqSize != 43 || out.RespSize != 171 || out.RunTime != 3.004201 || out.QPS != 1996.204648 || out.AvgLatency != 0.000338 {
		t.Errorf("sizes/time/qps/latency = %v %v %v %v %v", out.ReqSize, out.RespSize, out.RunTime, out.QPS, out.AvgLatency)
	}
	if len(out.Latencies) != 3 || out.Latencies[0] != 0.000765 || out.TimedOut != 1 {
		t.Errorf("latencies = %v, timed out %d", out.Latencies, out.TimedOut)
	}
	if _, err := parseDnsperf(strings.NewReader("dnsperf: error: no such file\n")); err == nil {
		t.Error("output without statistics parsed without error")
	}
}

func TestSummarize(t *testing.T) {
	var x []float64
	for i := 100; i >= 1; i-- {
		x = append(x, float64(i))
	}
	s := summarize(x)
	if s.P50 != 50 || s.P99 != 99 || s.Max != 100 || s.Mean != 50.5 || s.N != 100 {
		t.Errorf("summarize(1..100) = %+v", s)
	}
	if s := summarize([]float64{7}); s.P50 != 7 || s.P99 != 7 {
		t.Errorf("summarize([7]) = %+v", s)
	}
	if s := summarize(nil); !math.IsNaN(s.P99) {
		t.Errorf("summarize(nil) = %+v", s)
	}
}

func TestCPUCount(t *testing.T) {
	for list, want := range map[string]int{"0": 1, "1": 1, "0,2": 2, "0-3": 4, "0-1,4": 3, "x": 1} {
		if got := cpuCount(list); got != want {
			t.Errorf("cpuCount(%q) = %d, want %d", list, got, want)
		}
	}
}

func TestPackQueryAndHeader(t *testing.T) {
	q, err := packQuery(0x1234, "svc-00001.service.consul.", typeSRV)
	if err != nil {
		t.Fatal(err)
	}
	want := "\x12\x34\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00" +
		"\x09svc-00001\x07service\x06consul\x00\x00\x21\x00\x01"
	if string(q) != want {
		t.Errorf("packQuery = %q\nwant        %q", q, want)
	}
	h, err := parseHeader([]byte("\x12\x34\x84\x03\x00\x01\x00\x00\x00\x01\x00\x00"))
	if err != nil {
		t.Fatal(err)
	}
	if h.ID != 0x1234 || h.Rcode != 3 || h.TC || h.An != 0 || h.Ns != 1 || h.Ar != 0 {
		t.Errorf("parseHeader = %+v", h)
	}
	if _, err := packQuery(1, "a..b", typeA); err == nil {
		t.Error("empty label accepted")
	}
}

func TestIPFor(t *testing.T) {
	if got := ipFor(0); got != "127.16.0.1" {
		t.Errorf("ipFor(0) = %s", got)
	}
	if got := ipFor(1<<16 + 255); got != "127.17.1.0" {
		t.Errorf("ipFor(65791) = %s", got)
	}
}

// TestReport builds a report from two recorded runs per server and checks the numbers
// that are derived (CPU per query, ratios) and that the SVG is well-formed XML.
func TestReport(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	perf := func(completed, qps string) string {
		return strings.NewReplacer("5996 (99.98%)", completed+" (100.00%)", "1996.204648", qps).Replace(dnsperfSample)
	}
	// 100 ticks/s: srvbridge 1.0 s CPU for 100000 queries = 10 µs; Knot 0.5 s = 5 µs;
	// Consul 2.0 s for 10000 = 200 µs.
	runs := strings.Join([]string{
		"srvbridge\tmax\t1\t" + write("w", perf("1", "1")) + "\t5\t2000000\t100\t200\t1.0+0.5\t150\t200\tdisturbed",
		"srvbridge\tmax\t1\t" + write("sb", perf("100000", "33000")) + "\t100\t3000000\t150\t300\t2.0+0.7\t290\t300\tused",
		"srvbridge\tfixed\t1\t" + write("sbf", perf("6000", "2000")) + "\t10\t3000000\t20\t300\t0.2+0.1\t30\t300\tused",
		"consul\tmax\t1\t" + write("co", perf("10000", "3300")) + "\t200\t3000000\t290\t300\t0.5+0.3\t80\t300\tused",
		"knot\tmax\t1\t" + write("kn", perf("100000", "33000")) + "\t50\t3000000\t60\t300\t2.9+0.0\t290\t300\tused",
		"knot\tfixed\t1\t" + write("knf", perf("6000", "2000")) + "\t5\t3000000\t20\t300\t0.2+0.1\t30\t300\tused",
		// The poller row: 12.5 µs unthrottled, 33.3 µs at the fixed rate.
		"srvbridge-poller\tmax\t1\t" + write("pl", perf("100000", "33000")) + "\t125\t3000000\t150\t300\t2.0+0.7\t290\t300\tused",
		"srvbridge-poller\tfixed\t1\t" + write("plf", perf("6000", "2000")) + "\t20\t3000000\t20\t300\t0.2+0.1\t30\t300\tused",
	}, "\n") + "\n"
	meta := "date=2026-01-02 03:04:05 UTC\ncommit=abc1234\nclk_tck=100\npin=1\nserver_cpus=0\nload_cpus=1\nquiet=10 s, 15 %\nfixed_qps=2000\nservices=200\ninstances=3\n"
	rep, err := loadReport(write("runs.tsv", runs), write("meta.env", meta), "", "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.rows["srvbridge"].CPUus; math.Abs(got-10) > 1e-9 {
		t.Errorf("srvbridge CPU µs/query = %v, want 10", got)
	}
	sbKnot, sbKnotFixed, consulSb := rep.ratios()
	if math.Abs(sbKnot-2) > 1e-9 || math.Abs(sbKnotFixed-2) > 1e-9 || math.Abs(consulSb-20) > 1e-9 {
		t.Errorf("ratios = %v, %v, %v; want 2, 2, 20", sbKnot, sbKnotFixed, consulSb)
	}
	if r, ok := rep.readers(); !ok || math.Abs(r.CPU-0.8) > 1e-9 || math.Abs(r.CPUFixed-0.5) > 1e-9 {
		t.Errorf("readers = %+v, %v; want CPU 0.8 and 0.5 of the poller's", r, ok)
	}
	if got := rep.rows["srvbridge"].Other; math.Abs(got-50.0/300) > 1e-9 {
		t.Errorf("other work = %v, want %v", got, 50.0/300)
	}
	if got := rep.rows["srvbridge"].LoadBusy; math.Abs(got-0.9) > 1e-9 {
		t.Errorf("dnsperf busy = %v, want 0.9", got)
	}
	if got := rep.runs[1].loadOther(100); math.Abs(got-20.0/300) > 1e-9 {
		t.Errorf("other work on dnsperf's CPU = %v, want %v", got, 20.0/300)
	}
	if got := rep.rows["srvbridge"].Lat.N; got != 3 {
		t.Errorf("latency samples = %v, want 3 (fixed run only)", got)
	}
	md := rep.markdown("x.svg")
	for _, want := range []string{"| srvbridge | 33287 | 10.0 |", "srvbridge / Knot, CPU per query: 2.00",
		"srvbridge / Knot, CPU per query at 2000 q/s: 2.00", "| srvbridge (poller UDP reader) | 33287 | 12.5 |",
		"srvbridge / its poller UDP reader, CPU per query: 0.80 unthrottled, 0.50 at 2000 q/s", "![CPU per query and queries per second](x.svg)"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	dec := xml.NewDecoder(strings.NewReader(rep.svg()))
	for {
		if _, err := dec.Token(); err != nil {
			if err.Error() != "EOF" {
				t.Errorf("svg is not well-formed: %v", err)
			}
			break
		}
	}
}
