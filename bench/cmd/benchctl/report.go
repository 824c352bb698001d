package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// servers in table order; run.sh labels its runs with these names.
var servers = []string{"srvbridge", "consul", "knot"}

var serverTitles = map[string]string{
	"srvbridge": "srvbridge",
	"consul":    "Consul DNS",
	"knot":      "Knot DNS",
}

// perfRun is one dnsperf invocation as run.sh recorded it.
type perfRun struct {
	Server, Phase string
	Round         int
	CPUTicks      int64 // the server process's utime+stime over the run
	WallUS        int64
	SetBusy       int64   // busy ticks of the server's CPUs (all processes, interrupts) over the run
	SetTotal      int64   // all ticks of the server's CPUs over the run
	LoadCPUSec    float64 // dnsperf's own user+system seconds
	LoadBusy      int64   // busy ticks of dnsperf's CPUs over the run
	LoadTotal     int64   // all ticks of dnsperf's CPUs over the run
	Used          bool    // false: disturbed by other work and repeated; not counted
	perf          dnsperfOut
}

// loadOther is other's counterpart on dnsperf's CPUs.
func (r perfRun) loadOther(clkTck float64) float64 {
	if r.LoadTotal <= 0 {
		return math.NaN()
	}
	return math.Max(0, float64(r.LoadBusy)-r.LoadCPUSec*clkTck) / float64(r.LoadTotal)
}

// loadBusy is the share of dnsperf's CPUs that dnsperf used.
func (r perfRun) loadBusy(loadCPUs float64) float64 {
	if r.WallUS <= 0 {
		return math.NaN()
	}
	return r.LoadCPUSec / (float64(r.WallUS) / 1e6) / loadCPUs
}

// other is the share of the server's CPUs that was busy with anything but the server
// during the run: other processes on a shared machine, and kernel work (loopback
// softirq) not charged to the server process.
func (r perfRun) other() float64 {
	if r.SetTotal <= 0 {
		return math.NaN()
	}
	return math.Max(0, float64(r.SetBusy-r.CPUTicks)) / float64(r.SetTotal)
}

// dnsperfOut is what dnsperf 2.10 prints at the end of a run, plus the per-query
// latencies of a -v run.
type dnsperfOut struct {
	Sent, Completed, Lost int64
	Rcodes                map[string]int64
	ReqSize, RespSize     float64
	RunTime, QPS          float64
	AvgLatency            float64   // seconds
	Latencies             []float64 // seconds, from -v lines
	TimedOut              int64     // -v lines with status T
}

// parseDnsperf reads dnsperf's output.
func parseDnsperf(r io.Reader) (dnsperfOut, error) {
	out := dnsperfOut{Rcodes: map[string]int64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	seen := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "> ") {
			// "> NOERROR name TYPE 0.000123", or "> T name TYPE" for a timeout.
			f := strings.Fields(line)
			if len(f) >= 2 && f[1] == "T" {
				out.TimedOut++
				continue
			}
			if len(f) == 5 {
				if v, err := strconv.ParseFloat(f[4], 64); err == nil {
					out.Latencies = append(out.Latencies, v)
				}
			}
			continue
		}
		key, val, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		first := strings.Fields(val + " ")
		var err error
		switch key {
		case "Queries sent":
			out.Sent, err = strconv.ParseInt(first[0], 10, 64)
		case "Queries completed":
			out.Completed, err = strconv.ParseInt(first[0], 10, 64)
			seen++
		case "Queries lost":
			out.Lost, err = strconv.ParseInt(first[0], 10, 64)
		case "Response codes":
			// "NOERROR 237608 (89.95%), NXDOMAIN 26533 (10.05%)"
			for _, part := range strings.Split(val, ",") {
				f := strings.Fields(part)
				if len(f) >= 2 {
					n, perr := strconv.ParseInt(f[1], 10, 64)
					if perr != nil {
						err = perr
						break
					}
					out.Rcodes[f[0]] += n
				}
			}
		case "Average packet size":
			// "request 43, response 171"
			_, err = fmt.Sscanf(val, "request %g, response %g", &out.ReqSize, &out.RespSize)
		case "Run time (s)":
			out.RunTime, err = strconv.ParseFloat(first[0], 64)
		case "Queries per second":
			out.QPS, err = strconv.ParseFloat(first[0], 64)
		case "Average Latency (s)":
			out.AvgLatency, err = strconv.ParseFloat(first[0], 64)
		}
		if err != nil {
			return out, fmt.Errorf("%q: %w", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return out, err
	}
	if seen == 0 || out.RunTime == 0 {
		return out, errors.New("no dnsperf statistics found")
	}
	return out, nil
}

type summary struct{ N, Mean, P50, P99, Max float64 }

// summarize gives nearest-rank percentiles: the smallest sample with at least p of the
// samples at or below it.
func summarize(x []float64) summary {
	if len(x) == 0 {
		return summary{Mean: math.NaN(), P50: math.NaN(), P99: math.NaN(), Max: math.NaN()}
	}
	s := slices.Clone(x)
	slices.Sort(s)
	rank := func(p float64) float64 { return s[max(0, int(math.Ceil(p*float64(len(s))))-1)] }
	sum := 0.0
	for _, v := range s {
		sum += v
	}
	return summary{N: float64(len(s)), Mean: sum / float64(len(s)), P50: rank(0.50), P99: rank(0.99), Max: s[len(s)-1]}
}

// row is one server's line of the results table.
type row struct {
	Server                string
	QPS                   float64 // unthrottled runs: completed / run time
	QPSRounds             []float64
	CPUusRounds           []float64
	Other                 float64 // unthrottled runs: share of the server's CPUs busy with other work
	otherTicks, setTicks  int64
	LoadBusy              float64 // unthrottled runs: dnsperf's CPU time / wall time, share of its CPUs
	loadSec, wallSec      float64
	CPUus                 float64 // unthrottled runs: server CPU µs per completed query
	Busy                  float64 // unthrottled runs: server CPU time / wall time, share of its CPUs
	MeanLatMax            float64 // unthrottled runs, seconds
	Lat                   summary // fixed-rate runs, seconds
	FixedQPS              float64 // fixed-rate runs: achieved
	FixedCPUus            float64
	Lost                  int64 // all measured runs
	Rcodes                map[string]int64
	RespSize              float64
	Completed, FixedCompl int64
	TimedOutFixed         int64
	CPUTicks, FixedTicks  int64
	RunTime, FixedRunTime float64
}

type report struct {
	meta     map[string]string
	metaKeys []string
	runs     []perfRun
	rows     map[string]*row
	prop     *propResult
	probe    string
	setup    string
	gobench  string
	idle     string // idle.tsv: server, CPU ticks, seconds; srvbridge_consul_requests, count, seconds
	clkTck   float64
	srvCPUs  float64
	loadCPUs float64
}

func cmdReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	runsPath := fs.String("runs", "", "runs.tsv written by run.sh")
	metaPath := fs.String("meta", "", "meta.env written by run.sh")
	propPath := fs.String("prop", "", "prop.json written by benchctl prop (optional)")
	probePath := fs.String("probe", "", "probe output (optional)")
	setupPath := fs.String("setup", "", "setup output (optional)")
	gobenchPath := fs.String("gobench", "", "go test -bench output (optional)")
	idlePath := fs.String("idle", "", "idle.tsv written by run.sh (optional)")
	mdPath := fs.String("md", "", "write the Markdown results here")
	svgPath := fs.String("svg", "", "write the SVG chart here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *runsPath == "" || *metaPath == "" || *mdPath == "" || *svgPath == "" {
		return errors.New("-runs, -meta, -md and -svg are required")
	}
	rep, err := loadReport(*runsPath, *metaPath, *propPath, *probePath, *setupPath, *gobenchPath)
	if err != nil {
		return err
	}
	if rep.idle, err = readOptional(*idlePath); err != nil {
		return err
	}
	fmt.Print(rep.text())
	svg := rep.svg()
	if err := os.WriteFile(*svgPath, []byte(svg), 0o644); err != nil {
		return err
	}
	return os.WriteFile(*mdPath, []byte(rep.markdown(filepath.Base(*svgPath))), 0o644)
}

func readOptional(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	return string(b), err
}

func loadReport(runsPath, metaPath, propPath, probePath, setupPath, gobenchPath string) (*report, error) {
	rep := &report{meta: map[string]string{}, rows: map[string]*row{}}
	metaText, err := os.ReadFile(metaPath)
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(metaText), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			rep.meta[k] = v
			rep.metaKeys = append(rep.metaKeys, k)
		}
	}
	rep.clkTck, err = strconv.ParseFloat(rep.meta["clk_tck"], 64)
	if err != nil || rep.clkTck <= 0 {
		return nil, fmt.Errorf("meta: clk_tck %q", rep.meta["clk_tck"])
	}
	rep.srvCPUs, rep.loadCPUs = 1, 1
	if rep.meta["pin"] == "1" {
		rep.srvCPUs = float64(cpuCount(rep.meta["server_cpus"]))
		rep.loadCPUs = float64(cpuCount(rep.meta["load_cpus"]))
	} else if n, err := strconv.Atoi(rep.meta["nproc"]); err == nil {
		rep.srvCPUs, rep.loadCPUs = float64(n), float64(n)
	}

	runsText, err := os.ReadFile(runsPath)
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(runsText)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 12 {
			return nil, fmt.Errorf("runs: bad line %q", line)
		}
		r := perfRun{Server: f[0], Phase: f[1]}
		var e1, e2, e3, e4, e5, e6, e7, e8 error
		r.Round, e1 = strconv.Atoi(f[2])
		r.CPUTicks, e2 = strconv.ParseInt(f[4], 10, 64)
		r.WallUS, e3 = strconv.ParseInt(f[5], 10, 64)
		r.SetBusy, e4 = strconv.ParseInt(f[6], 10, 64)
		r.SetTotal, e5 = strconv.ParseInt(f[7], 10, 64)
		r.LoadCPUSec, e6 = parseSum(f[8])
		r.LoadBusy, e7 = strconv.ParseInt(f[9], 10, 64)
		r.LoadTotal, e8 = strconv.ParseInt(f[10], 10, 64)
		if err := errors.Join(e1, e2, e3, e4, e5, e6, e7, e8); err != nil {
			return nil, fmt.Errorf("runs: %q: %w", line, err)
		}
		r.Used = f[11] == "used"
		if r.Phase == "warmup" {
			continue
		}
		pf, err := os.Open(f[3])
		if err != nil {
			return nil, err
		}
		r.perf, err = parseDnsperf(pf)
		pf.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f[3], err)
		}
		rep.runs = append(rep.runs, r)
	}
	rep.aggregate()

	if propPath != "" {
		b, err := os.ReadFile(propPath)
		if err == nil {
			rep.prop = &propResult{}
			if err := json.Unmarshal(b, rep.prop); err != nil {
				return nil, fmt.Errorf("%s: %w", propPath, err)
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	if rep.probe, err = readOptional(probePath); err != nil {
		return nil, err
	}
	if rep.setup, err = readOptional(setupPath); err != nil {
		return nil, err
	}
	if rep.gobench, err = readOptional(gobenchPath); err != nil {
		return nil, err
	}
	return rep, nil
}

// parseSum reads "1.234+0.567" (user+system seconds as run.sh writes them).
func parseSum(v string) (float64, error) {
	total := 0.0
	for _, part := range strings.Split(v, "+") {
		x, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
		if err != nil {
			return 0, err
		}
		total += x
	}
	return total, nil
}

// cpuCount counts the CPUs in a taskset list such as "0", "0,2" or "0-1".
func cpuCount(list string) int {
	n := 0
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err1 != nil || err2 != nil || b < a {
			return 1
		}
		n += b - a + 1
	}
	return max(1, n)
}

func (rep *report) aggregate() {
	var lat = map[string][]float64{}
	var latWeighted = map[string]float64{}
	for _, r := range rep.runs {
		if !r.Used {
			continue
		}
		w := rep.rows[r.Server]
		if w == nil {
			w = &row{Server: r.Server, Rcodes: map[string]int64{}}
			rep.rows[r.Server] = w
		}
		p := r.perf
		w.Lost += p.Lost
		for k, v := range p.Rcodes {
			w.Rcodes[k] += v
		}
		switch r.Phase {
		case "max":
			w.Completed += p.Completed
			w.RunTime += p.RunTime
			w.CPUTicks += r.CPUTicks
			w.QPSRounds = append(w.QPSRounds, p.QPS)
			w.CPUusRounds = append(w.CPUusRounds, float64(r.CPUTicks)/rep.clkTck*1e6/math.Max(1, float64(p.Completed)))
			w.otherTicks += max(0, r.SetBusy-r.CPUTicks)
			w.loadSec += r.LoadCPUSec
			w.wallSec += float64(r.WallUS) / 1e6
			w.setTicks += r.SetTotal
			latWeighted[r.Server] += p.AvgLatency * float64(p.Completed)
			w.RespSize = p.RespSize
		case "fixed":
			w.FixedCompl += p.Completed
			w.FixedRunTime += p.RunTime
			w.FixedTicks += r.CPUTicks
			w.TimedOutFixed += p.TimedOut
			lat[r.Server] = append(lat[r.Server], p.Latencies...)
		}
	}
	for name, w := range rep.rows {
		cpuSec := float64(w.CPUTicks) / rep.clkTck
		if w.Completed > 0 {
			w.QPS = float64(w.Completed) / w.RunTime
			w.CPUus = cpuSec * 1e6 / float64(w.Completed)
			w.MeanLatMax = latWeighted[name] / float64(w.Completed)
		}
		if w.RunTime > 0 {
			w.Busy = cpuSec / w.RunTime / rep.srvCPUs
		}
		w.LoadBusy = math.NaN()
		if w.wallSec > 0 {
			w.LoadBusy = w.loadSec / w.wallSec / rep.loadCPUs
		}
		w.Other = math.NaN()
		if w.setTicks > 0 {
			w.Other = float64(w.otherTicks) / float64(w.setTicks)
		}
		if w.FixedCompl > 0 {
			w.FixedQPS = float64(w.FixedCompl) / w.FixedRunTime
			w.FixedCPUus = float64(w.FixedTicks) / rep.clkTck * 1e6 / float64(w.FixedCompl)
		}
		w.Lat = summarize(lat[name])
	}
}

func (rep *report) ordered() []*row {
	var out []*row
	for _, s := range servers {
		if w := rep.rows[s]; w != nil {
			out = append(out, w)
		}
	}
	return out
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// ratios: srvbridge/Knot and Consul/srvbridge, CPU per query.
func (rep *report) ratios() (sbKnot, consulSb float64) {
	sb, co, kn := rep.rows["srvbridge"], rep.rows["consul"], rep.rows["knot"]
	sbKnot, consulSb = math.NaN(), math.NaN()
	if sb != nil && kn != nil {
		sbKnot = ratio(sb.CPUus, kn.CPUus)
	}
	if sb != nil && co != nil {
		consulSb = ratio(co.CPUus, sb.CPUus)
	}
	return sbKnot, consulSb
}

func fmtRcodes(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return int(m[b] - m[a]) })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func fmtMS(sec float64) string {
	if math.IsNaN(sec) {
		return "n/a"
	}
	return fmt.Sprintf("%.3f ms", sec*1e3)
}

// spread shows a value with the range of its per-round values, when there are several.
func spread(v float64, rounds []float64, format string) string {
	out := fmt.Sprintf(format, v)
	if len(rounds) > 1 {
		out += fmt.Sprintf(" ("+format+"–"+format+")", slices.Min(rounds), slices.Max(rounds))
	}
	return out
}

// table returns the header and the cells of the results table; ranges adds the
// per-round range to queries/s and CPU µs/query.
func (rep *report) table(ranges bool) ([]string, [][]string) {
	fixed := rep.meta["fixed_qps"]
	head := []string{"server", "queries/s", "CPU µs/query", "server CPU busy", "dnsperf CPU busy",
		"mean latency @" + fixed + " q/s", "p99 latency @" + fixed + " q/s",
		"lost", "rcodes", "response bytes", "CPU µs/query @" + fixed + " q/s"}
	var cells [][]string
	for _, w := range rep.ordered() {
		qps, cpu := fmt.Sprintf("%.0f", w.QPS), fmt.Sprintf("%.1f", w.CPUus)
		if ranges {
			qps, cpu = spread(w.QPS, w.QPSRounds, "%.0f"), spread(w.CPUus, w.CPUusRounds, "%.1f")
		}
		cells = append(cells, []string{
			serverTitles[w.Server],
			qps,
			cpu,
			fmt.Sprintf("%.0f%%", w.Busy*100),
			pct(w.LoadBusy),
			fmtMS(w.Lat.Mean),
			fmtMS(w.Lat.P99),
			strconv.FormatInt(w.Lost, 10),
			fmtRcodes(w.Rcodes),
			fmt.Sprintf("%.0f", w.RespSize),
			fmt.Sprintf("%.1f", w.FixedCPUus),
		})
	}
	return head, cells
}

func (rep *report) ratioLines() []string {
	sbKnot, consulSb := rep.ratios()
	var other []string
	for _, w := range rep.ordered() {
		other = append(other, serverTitles[w.Server]+" "+pct(w.Other))
	}
	return []string{
		fmt.Sprintf("srvbridge / Knot, CPU per query:   %.2f (goal: <= 1.0)", sbKnot),
		fmt.Sprintf("Consul / srvbridge, CPU per query: %.1f (goal: >= 10)", consulSb),
		"Other work on the server CPU during the unthrottled runs: " + strings.Join(other, ", "),
	}
}

// warnings are facts about this run that a reader of the table must not miss.
func (rep *report) warnings() []string {
	var out []string
	target, _ := strconv.ParseFloat(rep.meta["fixed_qps"], 64)
	for _, w := range rep.ordered() {
		if w.Busy < 0.9 && w.QPS > 0 {
			if w.LoadBusy >= 0.9 {
				out = append(out, fmt.Sprintf("%s used %.0f%% of its CPU in the unthrottled runs and dnsperf %s of its own: this queries/s is dnsperf's limit, not the server's.",
					serverTitles[w.Server], w.Busy*100, pct(w.LoadBusy)))
			} else {
				out = append(out, fmt.Sprintf("%s used %.0f%% of its CPU in the unthrottled runs and dnsperf %s of its own: neither was saturated, so this queries/s was limited elsewhere (other work on the CPUs, or the round trip with %s queries outstanding).",
					serverTitles[w.Server], w.Busy*100, pct(w.LoadBusy), rep.meta["outstanding"]))
			}
		}
		if target > 0 && w.FixedQPS < 0.95*target {
			out = append(out, fmt.Sprintf("%s completed only %.0f of the %.0f queries/s asked in the latency runs: its latency figures are those of an overloaded server.",
				serverTitles[w.Server], w.FixedQPS, target))
		}
		if w.Lost > 0 {
			out = append(out, fmt.Sprintf("%s lost %d queries (no answer within dnsperf's 2 s timeout).", serverTitles[w.Server], w.Lost))
		}
	}
	return out
}

func (rep *report) text() string {
	head, cells := rep.table(false)
	var b strings.Builder
	widths := make([]int, len(head))
	for i, h := range head {
		widths[i] = len([]rune(h))
	}
	for _, c := range cells {
		for i, v := range c {
			widths[i] = max(widths[i], len([]rune(v)))
		}
	}
	line := func(c []string) {
		for i, v := range c {
			pad := widths[i] - len([]rune(v))
			if i == 0 || i == 7 {
				fmt.Fprintf(&b, "%s%s  ", v, strings.Repeat(" ", pad))
			} else {
				fmt.Fprintf(&b, "%s%s  ", strings.Repeat(" ", pad), v)
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	line(head)
	for _, c := range cells {
		line(c)
	}
	b.WriteString("\n")
	for _, l := range rep.ratioLines() {
		b.WriteString(l + "\n")
	}
	if l := rep.idleLine(); l != "" {
		b.WriteString(l + "\n")
	}
	for _, l := range rep.warnings() {
		b.WriteString("note: " + l + "\n")
	}
	if rep.prop != nil {
		b.WriteString("\n")
		for _, l := range rep.propLines() {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func (rep *report) propLines() []string {
	var out []string
	for _, t := range rep.prop.Targets {
		s := summarize(t.SamplesMS)
		out = append(out, fmt.Sprintf("propagation %-9s p50 %.1f ms, p99 %.1f ms, max %.1f ms over %d flips (%d not seen within %.0f ms)",
			t.Label, s.P50, s.P99, s.Max, len(t.SamplesMS)+t.Timeouts, t.Timeouts, rep.prop.TimeoutMS))
	}
	return out
}

func mdTable(b *strings.Builder, head []string, cells [][]string, rightFrom int) {
	b.WriteString("| " + strings.Join(head, " | ") + " |\n|")
	for i := range head {
		if i >= rightFrom {
			b.WriteString("---:|")
		} else {
			b.WriteString("---|")
		}
	}
	b.WriteString("\n")
	for _, c := range cells {
		b.WriteString("| " + strings.Join(c, " | ") + " |\n")
	}
}

// MarkdownTable is the results table alone, as the README shows it.
func (rep *report) markdownTable(b *strings.Builder) {
	head, cells := rep.table(true)
	mdTable(b, head, cells, 1)
	b.WriteString("\n")
	for _, l := range rep.ratioLines() {
		b.WriteString("- " + strings.Join(strings.Fields(l), " ") + "\n")
	}
}

func (rep *report) markdown(svgName string) string {
	m := rep.meta
	var b strings.Builder
	fmt.Fprintf(&b, "# srvbridge benchmark, %s, commit %s\n\n", strings.Fields(m["date"] + " ?")[0], m["commit"])
	fmt.Fprintf(&b, "Written by `bench/run.sh` (`make bench`); every number below comes from this run. ")
	b.WriteString("Method and limits: [bench/README.md](../README.md).\n\n")
	for _, kv := range [][2]string{
		{"Date", m["date"]},
		{"Commit", commitText(m)},
		{"srvbridge built from", m["source"]},
		{"Machine", fmt.Sprintf("%s CPUs, %s, %s, Linux kernel %s", m["nproc"], m["cpu"], m["mem"], strings.TrimPrefix(m["kernel"], "Linux "))},
		{"Versions", fmt.Sprintf("dnsperf %s; Knot DNS %s; %s; %s", m["dnsperf"], m["knot"], m["consul"], m["srvbridge"])},
		{"Command", "`" + m["command"] + "`"},
		{"Catalog", fmt.Sprintf("%s services × %s instances, %s queries in the file (SRV and A over `<svc>.service.consul`, SRV over `_<svc>._tcp.service.consul`, 10%% NXDOMAIN names), replayed in the same order to every server", m["services"], m["instances"], m["queries"])},
		{"Load", fmt.Sprintf("dnsperf `-c %s -T 1 -q %s -t 2`; per round and server: %s s unthrottled, then %s s at `-Q %s` with `-v`; %s rounds, server order rotated each round; 2 s warm-up per server first", m["clients"], m["outstanding"], m["max_secs"], m["fixed_secs"], m["fixed_qps"], m["rounds"])},
		{"CPUs", pinText(m)},
		{"Consul", "dev agent (server, in-memory Raft), `dns_config` " + m["consul_dns_config"]},
		{"Knot", "`udp-workers: 1`, static zone `consul.` generated from the same catalog (TTL 5, as srvbridge's default)"},
		{"srvbridge", "`--prefetch --max-services N+64 --log-level warn`, other flags default (service TTL 5 s)"},
		{"Elapsed", m["elapsed_s"] + " s for the whole run"},
	} {
		fmt.Fprintf(&b, "- **%s:** %s\n", kv[0], kv[1])
	}

	b.WriteString("\n## Results\n\n")
	rep.markdownTable(&b)
	b.WriteString("\n")
	b.WriteString("*queries/s*, *CPU µs/query* and *server CPU busy* come from the unthrottled runs: ")
	b.WriteString("server CPU is utime+stime from `/proc/<pid>/stat` read before and after each run, divided by the queries dnsperf saw answered; ")
	b.WriteString("*busy* is that CPU time over the run's wall time, as a share of the server's CPUs. ")
	b.WriteString("Latencies come from the fixed-rate runs (dnsperf `-v` reports every answer's latency; nearest-rank p99 over all of them). ")
	b.WriteString("*lost* and *rcodes* add up all measured runs; *response bytes* is dnsperf's average.\n")
	if l := rep.idleLine(); l != "" {
		b.WriteString("\n" + l + "\n")
	}
	if ws := rep.warnings(); len(ws) > 0 {
		b.WriteString("\n")
		for _, w := range ws {
			b.WriteString("> " + w + "\n>\n")
		}
	}
	fmt.Fprintf(&b, "\n![CPU per query and queries per second](%s)\n", svgName)

	if rep.prop != nil {
		p := rep.prop
		b.WriteString("\n## Propagation: health check flip to changed DNS answer\n\n")
		fmt.Fprintf(&b, "%d flips of one instance's TTL check (`PUT /v1/agent/check/update/%s`, critical ↔ passing) of `%s` (3 instances), at least %.0f ms apart. ",
			p.Flips, flipCheckID, p.Name, p.GapMS)
		fmt.Fprintf(&b, "For each flip the clock starts just before the PUT is sent; one UDP client per server asks the A record every %.0f ms until the answer has the new number of records. ", p.PollMS)
		b.WriteString("So each sample includes Consul's own work (agent check state, sync to the catalog) and then the server's path from the catalog to its answer. ")
		b.WriteString("Flips are spaced because srvbridge's watch rate-limits one service to about 20 Consul requests/s with a small burst; flipping faster would measure that limit, not the pipeline.\n\n")
		var cells [][]string
		for _, t := range p.Targets {
			s := summarize(t.SamplesMS)
			cells = append(cells, []string{serverTitles[t.Label], strconv.Itoa(len(t.SamplesMS) + t.Timeouts),
				fmt.Sprintf("%.1f ms", s.P50), fmt.Sprintf("%.1f ms", s.P99), fmt.Sprintf("%.1f ms", s.Max), strconv.Itoa(t.Timeouts)})
		}
		ps := summarize(p.PutMS)
		cells = append(cells, []string{"(the check-update PUT itself)", strconv.Itoa(len(p.PutMS)),
			fmt.Sprintf("%.1f ms", ps.P50), fmt.Sprintf("%.1f ms", ps.P99), fmt.Sprintf("%.1f ms", ps.Max), ""})
		mdTable(&b, []string{"server", "flips", "p50", "p99", "max", fmt.Sprintf("not seen in %.0f ms", p.TimeoutMS)}, cells, 1)
	}

	b.WriteString("\n## Every run\n\n")
	var cells [][]string
	rs := slices.Clone(rep.runs)
	slices.SortStableFunc(rs, func(a, b perfRun) int {
		if a.Round != b.Round {
			return a.Round - b.Round
		}
		return 0
	})
	for _, r := range rs {
		p := r.perf
		cpu := float64(r.CPUTicks) / rep.clkTck
		phase := r.Phase
		if !r.Used {
			phase += " (disturbed, repeated; not counted)"
		}
		cells = append(cells, []string{strconv.Itoa(r.Round), serverTitles[r.Server], phase,
			fmt.Sprintf("%.0f", p.QPS), strconv.FormatInt(p.Completed, 10), strconv.FormatInt(p.Lost, 10),
			fmt.Sprintf("%.2f", cpu), fmt.Sprintf("%.1f", cpu*1e6/math.Max(1, float64(p.Completed))),
			pct(cpu / (float64(r.WallUS) / 1e6) / rep.srvCPUs), pct(r.loadBusy(rep.loadCPUs)),
			pct(r.other()), pct(r.loadOther(rep.clkTck)), fmt.Sprintf("%.3f ms", p.AvgLatency*1e3)})
	}
	mdTable(&b, []string{"round", "server", "run", "queries/s", "completed", "lost", "server CPU s", "CPU µs/query",
		"server CPU busy", "dnsperf CPU busy", "other work on server CPU", "other work on dnsperf CPU", "dnsperf mean latency"}, cells, 3)
	b.WriteString("\n*other work on server CPU*: busy ticks of the server's CPU in `/proc/stat` minus the server's own, over all ticks: other processes on this (possibly shared) machine plus kernel work not charged to the server, such as loopback softirq; likewise for dnsperf's CPU, whose own CPU time comes from the shell's `time`. ")
	b.WriteString("A run in which other work took more than " + m["disturbed_pct"] + "% of the server's or dnsperf's CPU was repeated (within a bounded number of repeats); only the last attempt counts, and every attempt is listed. ")
	b.WriteString("*max* runs are unthrottled (their mean latency is mostly queueing behind dnsperf's outstanding queries); *fixed* runs are rate-limited.\n")

	if rep.probe != "" {
		b.WriteString("\n## What each server answers (one query each, before the runs)\n\n```\n" + strings.TrimRight(rep.probe, "\n") + "\n```\n")
	}
	if rep.setup != "" {
		b.WriteString("\n## Set-up\n\n```\n" + strings.TrimRight(rep.setup, "\n") + "\n```\n")
	}
	if rep.gobench != "" {
		fmt.Fprintf(&b, "\n## Go micro-benchmark\n\n`%s` (parse + lookup + reply in-process, no sockets), run before the servers started:\n\n```\n%s\n```\n",
			m["gobench_cmd"], strings.TrimRight(rep.gobench, "\n"))
	}
	return b.String()
}

func pinText(m map[string]string) string {
	if m["pin"] != "1" {
		return "not pinned: servers and dnsperf share all CPUs"
	}
	return fmt.Sprintf("each server pinned with `taskset -c %s` (so Go's GOMAXPROCS and srvbridge's UDP sockets follow that CPU count), dnsperf with `taskset -c %s`; only one server is under load at a time, the others idle on the same CPU; before each run the bench waited (at most %s) for both CPUs to be less busy than %s",
		m["server_cpus"], m["load_cpus"], strings.Split(m["quiet"]+",", ",")[0], strings.TrimSpace(strings.Split(m["quiet"]+",", ",")[1]))
}

func pct(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.0f%%", v*100)
}

// idleLine describes the idle window before the runs: each server's CPU use with no
// queries, and srvbridge's Consul request rate meanwhile.
func (rep *report) idleLine() string {
	if rep.idle == "" {
		return ""
	}
	var parts []string
	secs := ""
	for _, line := range strings.Split(strings.TrimSpace(rep.idle), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			continue
		}
		n, err1 := strconv.ParseFloat(f[1], 64)
		sec, err2 := strconv.ParseFloat(f[2], 64)
		if err1 != nil || err2 != nil || sec <= 0 {
			continue
		}
		secs = f[2]
		if f[0] == "srvbridge_consul_requests" {
			parts = append(parts, fmt.Sprintf("srvbridge made %.1f Consul requests/s", n/sec))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.1f%% of its CPU", serverTitles[f[0]], n/rep.clkTck/sec/rep.srvCPUs*100))
	}
	if len(parts) == 0 {
		return ""
	}
	return "Idle, before the runs (" + secs + " s without queries): " + strings.Join(parts, ", ") + "."
}

func commitText(m map[string]string) string {
	if m["describe"] == "" || m["describe"] == m["commit"] {
		return m["commit"]
	}
	return m["commit"] + " (`git describe`: " + m["describe"] + ")"
}
