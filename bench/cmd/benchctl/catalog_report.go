package main

// catalog-report turns bench/catalog.sh's work directory into the Markdown results:
// the setup, then per target of issue 11 the measured figure and whether it meets the
// target. The figures come from the JSON files the other catalog subcommands wrote; a
// file that is missing (a target not run, a step that failed) gives "not measured".

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The targets of issue 11, as the bench checks them.
const (
	tReadyS       = 30
	tP99US        = 1000
	tConns        = 32
	tConnsTLS     = 8
	tRestPerS     = 5
	tCheckP99MS   = 250
	tChangeP99MS  = 2000
	tRSSMiB       = 256
	tSyncS        = 30
	tReqPerChange = 2 // the bench's reading of "requests grow with the changes, not the catalog"
	tFreezeLost   = 0.001
	tFreezeFirstS = 2
)

// catRun is one run of target 1 (or 5): one srvbridge, one set of flags.
type catRun struct {
	Label string
	TLS   bool
	Ready *readyResult
	Load  *catLoadResult // while the catalog changes: propagation samples, cold wait
	// LoadSteady is the first part of the same load, at rest; nil in runs made
	// before the load was split, whose Load covers both.
	LoadSteady *catLoadResult
	// Floor is the same load as LoadSteady against Knot serving the same names from a
	// static zone, run right before it: what this machine and load generator cost
	// without srvbridge. nil when not run; FloorNote then says why.
	Floor     *catLoadResult
	FloorNote string
	Conns     *connsResult
	Steady    *observation
	SteadyA   *agentReqResult
	Idle      *observation
	IdleA     *agentReqResult
	Hot       *catPropResult
	Cold      *catPropResult
	Touch     *catPropResult
	// H2Answers is srvbridge_consul_http2_responses_total at the end of the run (-1:
	// not read), H2Requests srvbridge_consul_requests_total summed over kinds.
	H2Answers, H2Requests int
}

// optJSON reads path into a new T, or nil when the file is missing or unreadable.
func optJSON[T any](path string) *T {
	var v T
	if readJSON(path, &v) != nil {
		return nil
	}
	return &v
}

// optObservation reads the first observation of a JSON-lines file.
func optObservation(path string) *observation {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		var o observation
		if json.Unmarshal(sc.Bytes(), &o) == nil {
			return &o
		}
	}
	return nil
}

func loadCatRun(dir string) *catRun {
	label := strings.TrimPrefix(filepath.Base(dir), "run-")
	r := &catRun{Label: label, TLS: strings.HasPrefix(label, "https"), H2Answers: -1}
	r.Ready = optJSON[readyResult](filepath.Join(dir, "ready.json"))
	r.Load = optJSON[catLoadResult](filepath.Join(dir, "load.json"))
	r.LoadSteady = optJSON[catLoadResult](filepath.Join(dir, "load-steady.json"))
	r.Floor = optJSON[catLoadResult](filepath.Join(dir, "load-floor.json"))
	r.Conns = optJSON[connsResult](filepath.Join(dir, "conns.json"))
	r.Steady = optObservation(filepath.Join(dir, "steady.jsonl"))
	r.SteadyA = optJSON[agentReqResult](filepath.Join(dir, "steady-agent.json"))
	r.Idle = optObservation(filepath.Join(dir, "idle.jsonl"))
	r.IdleA = optJSON[agentReqResult](filepath.Join(dir, "idle-agent.json"))
	r.Hot = optJSON[catPropResult](filepath.Join(dir, "prop-hot.json"))
	r.Cold = optJSON[catPropResult](filepath.Join(dir, "prop-cold.json"))
	r.Touch = optJSON[catPropResult](filepath.Join(dir, "touch.json"))
	if b, err := os.ReadFile(filepath.Join(dir, "h2.txt")); err == nil {
		fmt.Sscan(string(b), &r.H2Answers, &r.H2Requests)
	}
	return r
}

type loadPart struct {
	what string // "" when the load was not split
	l    *catLoadResult
}

// loadParts is the load in the order it ran: at rest, then while the catalog
// changes (propagation samples and the cold wait). Latency is reported for each:
// every registration change makes the feed refetch every held service, and that
// work shares the cores with the answers.
func (r *catRun) loadParts() []loadPart {
	if r.LoadSteady == nil {
		if r.Load == nil {
			return nil
		}
		return []loadPart{{"", r.Load}}
	}
	parts := []loadPart{{", at rest under load", r.LoadSteady}}
	if r.Load != nil {
		parts = append(parts, loadPart{", while the catalog changes", r.Load})
	}
	return parts
}

// verdict is one table row: what the target asks, the figure, pass or fail.
type verdict struct{ Target, Want, Got, Result string }

func pass(ok bool) string {
	if ok {
		return "**pass**"
	}
	return "**FAIL**"
}

const notMeasured = "not measured"

func row3(target, want string, measured bool, got string, ok bool) verdict {
	if !measured {
		return verdict{target, want, notMeasured, "—"}
	}
	return verdict{target, want, got, pass(ok)}
}

// connVerdict is the connections row; limit 32 over HTTP, 8 over HTTPS.
func (r *catRun) verdicts() []verdict {
	var v []verdict
	rd := r.Ready
	got := ""
	if rd != nil {
		got = fmt.Sprintf("%.1f s", rd.Secs)
		if !rd.Ready {
			got = fmt.Sprintf("not ready after %.0f s (/readyz: %s)", rd.Secs, oneLine(rd.Last, 100))
		}
	}
	v = append(v, row3("ready", fmt.Sprintf("/readyz 200 within %d s", tReadyS), rd != nil, got, rd != nil && rd.Ready && rd.Secs <= tReadyS))
	if parts := r.loadParts(); len(parts) > 0 {
		var t catCounts
		for _, p := range parts {
			t.merge(p.l.Total)
		}
		// The late replies count too: a SERVFAIL after the timeout is still a SERVFAIL.
		v = append(v, row3("errors after ready", "0 SERVFAIL, 0 NXDOMAIN", true,
			fmt.Sprintf("%d SERVFAIL, %d NXDOMAIN of %d queries, late replies included (%s); also %d lost (the late replies among them) and %d other rcodes in time: shown, not judged",
				t.ServFail+t.LateServFail, t.NXDomain+t.LateNXDomain, t.Sent, fmtLateWithin(t, parts[0].l), t.lost(), t.Other),
			t.ServFail+t.LateServFail == 0 && t.NXDomain+t.LateNXDomain == 0))
		for i, p := range parts {
			l := p.l
			v = append(v, row3("p99 latency"+p.what, fmt.Sprintf("≤ %s once every name was asked", fmtUS(tP99US)), true, fmtLat(l), l.LatP99US >= 0 && l.LatP99US <= tP99US))
			if i == 0 {
				v = append(v, r.floorVerdict(l))
			}
		}
	} else {
		v = append(v, row3("errors after ready", "0 SERVFAIL, 0 NXDOMAIN", false, "", false), row3("p99 latency", "≤ 1 ms", false, "", false))
	}
	limit := tConns
	if r.TLS {
		limit = tConnsTLS
	}
	if c := r.Conns; c != nil && c.Procs["srvbridge"] != nil {
		s := c.Procs["srvbridge"]
		v = append(v, row3("TCP connections to Consul", fmt.Sprintf("≤ %d at any moment", limit), s.Samples > 0,
			fmt.Sprintf("max %d (mean %.1f; %d samples every %.0f ms); the agent's side of the port at most %d established, all clients together", s.Max, s.Mean, s.Samples, c.EveryMS, c.ServerMax), s.Max <= limit))
	} else {
		v = append(v, row3("TCP connections to Consul", fmt.Sprintf("≤ %d", limit), false, "", false))
	}
	for _, w := range []struct {
		name string
		o    *observation
		a    *agentReqResult
	}{{"Consul requests/s at rest, under load", r.Steady, r.SteadyA}, {"Consul requests/s at rest, idle", r.Idle, r.IdleA}} {
		if w.o == nil || w.o.Secs <= 0 {
			v = append(v, row3(w.name, fmt.Sprintf("≤ %d", tRestPerS), false, "", false))
			continue
		}
		perS := w.o.Requests / w.o.Secs
		got := fmt.Sprintf("%.1f/s by srvbridge's counter (%.0f started in %.0f s, %.0f failed)", perS, w.o.Requests, w.o.Secs, w.o.Errors)
		if w.a != nil && w.a.Error == "" {
			got += fmt.Sprintf("; %.1f/s by the agent's count (%s)", w.a.PerSec, topPaths(w.a.ByPath, 2))
		} else if w.a != nil {
			got += "; the agent's count could not be read: " + oneLine(w.a.Error, 80)
		}
		v = append(v, row3(w.name, fmt.Sprintf("≤ %d", tRestPerS), true, got, perS <= tRestPerS && (w.a == nil || w.a.Error != "" || w.a.PerSec <= tRestPerS)))
	}
	if r.TLS {
		switch {
		case r.H2Answers > 0:
			v = append(v, verdict{"HTTP/2", "negotiated", fmt.Sprintf("yes: %d answers over HTTP/2, of %d requests made (srvbridge's /metrics)", r.H2Answers, r.H2Requests), pass(true)})
		case r.H2Answers == 0:
			v = append(v, verdict{"HTTP/2", "negotiated", fmt.Sprintf("no: 0 answers over HTTP/2, of %d requests made (srvbridge's /metrics): HTTP/1.1", r.H2Requests), pass(false)})
		default:
			v = append(v, verdict{"HTTP/2", "negotiated", notMeasured, "—"})
		}
	}
	return v
}

// fmtLat is a load's p99 with the other quantiles and the sample count.
func fmtLat(l *catLoadResult) string {
	if l.LatP99US < 0 {
		return "no answers"
	}
	return fmt.Sprintf("%s (p50 %s, p99.9 %s, max %s; %d answers)", fmtUS(l.LatP99US), fmtUS(l.LatP50US), fmtUS(l.LatP999US), fmtUS(l.Lat.MaxUS), l.Lat.N)
}

// fmtLateWithin is fmtLate with the window in which a late reply is still seen.
func fmtLateWithin(t catCounts, l *catLoadResult) string {
	if l.TimeoutMS <= 0 {
		return fmtLate(t)
	}
	return fmt.Sprintf("%s; a reply is late after the %s timeout and read until %s after the last query", fmtLate(t), fmtMSv(l.TimeoutMS), fmtMSv(lateDrain*l.TimeoutMS))
}

// floorVerdict is the row next to the first p99 row: the same load against Knot, and
// srvbridge's latency (of load l) as a multiple of Knot's. Knot must answer every name
// NOERROR; any other rcode means it served other names and the floor is invalid.
func (r *catRun) floorVerdict(l *catLoadResult) verdict {
	const what, want = "the same load against Knot", "(shown: the floor of this machine and load generator)"
	f := r.Floor
	if f == nil {
		note := r.FloorNote
		if note == "" {
			note = "not run"
		}
		return verdict{what, want, notMeasured + ": " + note, "—"}
	}
	if f.LatP99US < 0 {
		return verdict{what, want, "no answers from Knot: " + fmtCounts(countsMap(f.Total)), "**invalid**"}
	}
	got := fmt.Sprintf("p50 %s, p99 %s (p99.9 %s, max %s; %d answers)", fmtUS(f.LatP50US), fmtUS(f.LatP99US), fmtUS(f.LatP999US), fmtUS(f.Lat.MaxUS), f.Lat.N)
	if l.LatP99US > 0 && f.LatP50US > 0 {
		got += fmt.Sprintf("; srvbridge's p99 is %.1f× Knot's, its p50 %.1f×", l.LatP99US/f.LatP99US, l.LatP50US/f.LatP50US)
	}
	t := f.Total
	got += fmt.Sprintf("; Knot's replies: %s, %d lost (%s)", fmtCounts(countsMap(t)), t.lost(), fmtLate(t))
	if t.NXDomain+t.ServFail+t.Other+t.LateNXDomain+t.LateServFail+t.LateOther > 0 || t.NoError == 0 {
		return verdict{what, want, got + ": Knot did not answer every name NOERROR, so it did not serve the same names: **not a valid floor**", "**invalid**"}
	}
	return verdict{what, want, got, ""}
}

// countsMap is c's replies in time by rcode name, for fmtCounts.
func countsMap(c catCounts) map[string]int {
	m := map[string]int{}
	for _, x := range []struct {
		k string
		n int64
	}{{"NOERROR", c.NoError}, {"NXDOMAIN", c.NXDomain}, {"SERVFAIL", c.ServFail}, {"other rcodes", c.Other}} {
		if x.n > 0 {
			m[x.k] = int(x.n)
		}
	}
	return m
}

// propVerdicts are target 2's rows from a run's propagation samples.
func (r *catRun) propVerdicts() []verdict {
	var v []verdict
	add := func(what string, k *catPropKind, limitMS float64) {
		if k == nil {
			return
		}
		s := summarize(k.SamplesMS)
		got := fmt.Sprintf("p99 %s, p50 %s, max %s (%d samples, %d not seen, %d failed writes)", fmtMSv(s.P99), fmtMSv(s.P50), fmtMSv(s.Max), len(k.SamplesMS), k.NotSeen, k.Failed)
		v = append(v, row3(what, fmt.Sprintf("p99 ≤ %s", fmtMSv(limitMS)), len(k.SamplesMS)+k.NotSeen > 0, got, k.NotSeen == 0 && k.Failed == 0 && s.P99 <= limitMS))
	}
	if r.Hot != nil && r.Hot.OverBudget {
		v = append(v, verdict{"samples", "as asked", "fewer: the time budget ran out (slow propagation)", ""})
	}
	if r.Hot != nil {
		for _, k := range r.Hot.Kinds {
			limit := float64(tChangeP99MS)
			what := k.Kind
			if k.Kind == "check" {
				limit, what = tCheckP99MS, "check status, services under load"
			}
			add(what, k, limit)
		}
	}
	if r.Cold != nil {
		for _, k := range r.Cold.Kinds {
			add("check status, services not asked for the cold wait", k, tCheckP99MS)
		}
	}
	return v
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return strings.ReplaceAll(s, "|", "/")
}

func fmtUS(us float64) string {
	if us < 1000 {
		return fmt.Sprintf("%.0f µs", us)
	}
	return fmt.Sprintf("%.2f ms", us/1000)
}

func fmtMSv(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	if v >= 10000 {
		return fmt.Sprintf("%.1f s", v/1000)
	}
	return fmt.Sprintf("%.0f ms", v)
}

// freezeFigures are target 7's figures: queries sent in the window after the agent
// resumed, those lost, Consul requests counted by srvbridge in it, and the change.
type freezeFigures struct {
	Sent, Lost  int64
	Requests    float64
	WindowS     int
	FirstChange *changeResult
}

// freezeWindow sums the load buckets that start in [upMS, upMS+secs*1000).
func freezeWindow(l loadResult, upMS int64, secs int) freezeFigures {
	f := freezeFigures{WindowS: secs}
	lo, hi := -1.0, -1.0
	for _, b := range l.Buckets {
		if b.StartMS < upMS || b.StartMS >= upMS+int64(secs)*1000 {
			continue
		}
		f.Sent += b.Sent
		f.Lost += b.lost()
		if b.Requests >= 0 {
			if lo < 0 {
				lo = b.Requests
			}
			hi = b.Requests
		}
	}
	if lo >= 0 {
		f.Requests = hi - lo
	}
	return f
}

func cmdCatalogReport(args []string) error {
	fs := flag.NewFlagSet("catalog-report", flag.ContinueOnError)
	work := fs.String("work", "", "catalog.sh's work directory")
	md := fs.String("md", "", "write the Markdown here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *work == "" || *md == "" {
		return errors.New("-work and -md are required")
	}
	meta, err := readMeta(filepath.Join(*work, "meta.env"))
	if err != nil {
		return err
	}
	out := catalogMarkdown(*work, meta)
	fmt.Print(out)
	return os.WriteFile(*md, []byte(out), 0o644)
}

func catalogMarkdown(work string, meta map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# srvbridge with a large catalog against Consul's default limits (`bench/catalog.sh`)\n\n")
	fmt.Fprintf(&b, "The benchmark scenarios of issue 11, run on %s. Not a timed test: counts and ratios from one run on a shared machine.\n\n", meta["date"])
	if meta["quick"] == "1" {
		fmt.Fprintf(&b, "**QUICK=1**: a smaller catalog (%s × %s) and shorter phases than the targets name (cold wait %s s instead of 600 s); the verdicts show the instrument, not the targets' sizes.\n\n", meta["services"], meta["instances"], meta["cold_secs"])
	} else if meta["cold_secs"] != "600" {
		fmt.Fprintf(&b, "The cold wait of target 2 was **%s s**, not the 10 minutes the target names (`BENCH_COLD_SECS`).\n\n", meta["cold_secs"])
	}
	kv := [][]string{
		{"command", "`" + meta["command"] + "`"},
		{"machine", fmt.Sprintf("%s, %s CPUs, %s RAM, Linux %s", meta["cpu"], meta["nproc"], meta["mem"], meta["kernel"])},
		{"source", meta["source"]},
		{"versions", fmt.Sprintf("%s, %s, srvbridge %s", meta["go"], meta["consul"], meta["srvbridge"])},
		{"Consul", meta["consul_desc"]},
		{"Consul limits", meta["consul_limits"]},
		{"catalog", fmt.Sprintf("%s services × %s instances, one fake node per service, written with `/v1/txn`; %s of the instances with a catalog check (passing) that the propagation samples toggle; plus `bench-flip` (3 instances on the agent)", meta["services"], meta["instances"], meta["checks_share"])},
		{"load", meta["load_desc"]},
		{"elapsed", meta["elapsed_s"] + " s"},
	}
	mdTable(&b, []string{"", ""}, kv, 9)
	b.WriteString("\n")

	var runs []*catRun
	for _, l := range strings.Fields(meta["runs"]) {
		r := loadCatRun(filepath.Join(work, "run-"+l))
		r.FloorNote = meta["floor_note"]
		runs = append(runs, r)
	}
	// Targets 1 and 5.
	for _, r := range runs {
		target := "Target 1"
		if r.TLS {
			target = "Target 5 (over HTTPS)"
		}
		fmt.Fprintf(&b, "## %s: %s\n\nsrvbridge `%s`\n\n", target, r.Label, meta["run_"+r.Label+"_flags"])
		writeVerdicts(&b, r.verdicts())
		for _, p := range r.loadParts() {
			l := p.l
			fmt.Fprintf(&b, "\nLoad%s: %d client sockets, each asking every one of %d names once per %.0f s (SRV and A in alternate rounds), plus a %.0f q/s sweep over all names; %.0f s, %d queries (%.0f/s); latency counted after the first %.0f s. ",
				p.what, l.Clients, l.Names, l.IntervalS, l.SweepQPS, l.Secs, l.Total.Sent, float64(l.Total.Sent)/max(l.Secs, 1e-9), l.WarmS)
			if l.FirstFailS >= 0 {
				fmt.Fprintf(&b, "Failures (SERVFAIL, NXDOMAIN or lost) from second %.0f to second %.0f of this part.", l.FirstFailS, l.LastFailS)
			} else {
				b.WriteString("No failure in any second.")
			}
			b.WriteString("\n")
		}
		if f := r.Floor; f != nil {
			fmt.Fprintf(&b, "\nFloor: the same load against %s, right before the load at rest: %.0f s, %d queries (%.0f/s); replies %s, %d lost (%s).\n",
				meta["knot_desc"], f.Secs, f.Total.Sent, float64(f.Total.Sent)/max(f.Secs, 1e-9), fmtCounts(countsMap(f.Total)), f.Total.lost(), fmtLate(f.Total))
		}
		if r.Touch != nil {
			fmt.Fprintf(&b, "\nCold set: the last %d services, asked once right after ready (%s) and then by nobody until the cold wait was over.\n", r.Touch.Count, fmtCounts(r.Touch.Touched))
		}
		if pv := r.propVerdicts(); len(pv) > 0 {
			fmt.Fprintf(&b, "\n### Target 2 (propagation) in this run\n\nEach sample: one change written with `/v1/txn`, timed from Consul's response until srvbridge's answer shows it (polled every 2 ms); one change at a time, while the load runs.\n\n")
			writeVerdicts(&b, pv)
		}
		b.WriteString("\n")
	}
	writeReplicas(&b, work, meta)
	writeHeavy(&b, work, meta)
	writeFreeze(&b, work, meta)
	if s, err := os.ReadFile(filepath.Join(work, "setup.txt")); err == nil {
		fmt.Fprintf(&b, "## Log\n\n```\n%s```\n", s)
	}
	return b.String()
}

func writeVerdicts(b *strings.Builder, v []verdict) {
	cells := make([][]string, len(v))
	for i, x := range v {
		cells[i] = []string{x.Target, x.Want, x.Got, x.Result}
	}
	mdTable(b, []string{"", "target", "measured", ""}, cells, 9)
}

func writeReplicas(b *strings.Builder, work string, meta map[string]string) {
	dir := filepath.Join(work, "replicas")
	if _, err := os.Stat(dir); err != nil {
		return
	}
	ra := optJSON[readyResult](filepath.Join(dir, "ready-a.json"))
	rb := optJSON[readyResult](filepath.Join(dir, "ready-b.json"))
	cmp := optJSON[compareResult](filepath.Join(dir, "compare.json"))
	fmt.Fprintf(b, "## Target 3: two replicas on one host, one agent\n\nBoth srvbridge `%s`, started together.\n\n", meta["replica_flags"])
	var v []verdict
	for i, r := range []*readyResult{ra, rb} {
		got := ""
		if r != nil {
			got = fmt.Sprintf("ready after %.1f s", r.Secs)
			if !r.Ready {
				got = fmt.Sprintf("not ready after %.0f s (/readyz: %s)", r.Secs, oneLine(r.Last, 100))
			}
		}
		v = append(v, row3(fmt.Sprintf("replica %c", 'A'+i), "ready", r != nil, got, r != nil && r.Ready))
	}
	if cmp != nil {
		allOK := cmp.RcodesA["NOERROR"] == cmp.Questions && cmp.RcodesB["NOERROR"] == cmp.Questions
		v = append(v, row3("answers", "identical for every name (A and SRV), all NOERROR", true,
			fmt.Sprintf("%d of %d identical, %d differ, %d without a reply, %d not asked (time budget); replies of A: %s; of B: %s", cmp.Identical, cmp.Questions, cmp.Differ, cmp.Errors, cmp.Skipped, fmtCounts(cmp.RcodesA), fmtCounts(cmp.RcodesB)),
			cmp.Identical == cmp.Questions && allOK))
	} else {
		v = append(v, row3("answers", "identical", false, "", false))
	}
	if c := optJSON[connsResult](filepath.Join(dir, "conns.json")); c != nil {
		var parts []string
		for _, l := range slices.Sorted(func(yield func(string) bool) {
			for k := range c.Procs {
				if !yield(k) {
					return
				}
			}
		}) {
			parts = append(parts, fmt.Sprintf("%s max %d", l, c.Procs[l].Max))
		}
		v = append(v, verdict{"TCP connections to Consul", "(shown)", strings.Join(parts, ", ") + fmt.Sprintf("; all clients of the agent max %d", c.ServerMax), ""})
	}
	writeVerdicts(b, v)
	if cmp != nil && len(cmp.Examples) > 0 {
		b.WriteString("\nFirst differences:\n\n")
		for _, e := range cmp.Examples {
			fmt.Fprintf(b, "- `%s`\n", e)
		}
	}
	b.WriteString("\n")
}

func writeHeavy(b *strings.Builder, work string, meta map[string]string) {
	dir := filepath.Join(work, "heavy")
	if _, err := os.Stat(dir); err != nil {
		fmt.Fprintf(b, "## Target 4: 10,000 × 10\n\nNot run (`BENCH_HEAVY=1` runs it).\n\n")
		return
	}
	fmt.Fprintf(b, "## Target 4: %s × %s\n\nA new agent (default limits), srvbridge `%s`.\n\n", meta["heavy_services"], meta["heavy_instances"], meta["heavy_flags"])
	obs := map[string]*observation{}
	if f, err := os.Open(filepath.Join(dir, "observe.jsonl")); err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			var o observation
			if json.Unmarshal(sc.Bytes(), &o) == nil {
				obs[o.Label] = &o
			}
		}
		f.Close()
	}
	var v []verdict
	as := obs["after-sync"]
	if as != nil && as.RSSKB["srvbridge"] > 0 {
		rss := float64(as.RSSKB["srvbridge"]) / 1024
		v = append(v, row3("RSS after sync", fmt.Sprintf("≤ %d MiB", tRSSMiB), true, fmt.Sprintf("%.0f MiB", rss), rss <= tRSSMiB))
	} else {
		v = append(v, row3("RSS after sync", fmt.Sprintf("≤ %d MiB", tRSSMiB), false, "", false))
	}
	rd := optJSON[readyResult](filepath.Join(dir, "sync.json"))
	if rd != nil {
		got := fmt.Sprintf("%.1f s to /readyz 200 and every service and instance served", rd.Secs)
		if !rd.Ready {
			got = fmt.Sprintf("not synced after %.0f s: %s", rd.Secs, oneLine(rd.Last, 100))
		}
		v = append(v, row3("sync", fmt.Sprintf("≤ %d s", tSyncS), true, got, rd.Ready && rd.Secs <= tSyncS))
	}
	rest, churn := obs["rest"], obs["churn"]
	ch := optJSON[churnResult](filepath.Join(dir, "churn.json"))
	if rest != nil && churn != nil && ch != nil && rest.Secs > 0 && churn.Secs > 0 && ch.ElapsedS > 0 {
		restS, churnS := rest.Requests/rest.Secs, churn.Requests/churn.Secs
		changesS := float64(ch.Changes) / ch.ElapsedS
		per := (churnS - restS) / max(changesS, 1e-9)
		v = append(v, row3("Consul requests under 1 %/s churn", fmt.Sprintf("grow with the changes: ≤ %d requests per change above rest", tReqPerChange), true,
			fmt.Sprintf("%.1f/s at rest, %.1f/s under %.0f changes/s: %.2f requests per change", restS, churnS, changesS, per), per <= tReqPerChange))
	} else {
		v = append(v, row3("Consul requests under churn", "grow with the changes", false, "", false))
	}
	writeVerdicts(b, v)
	b.WriteString("\n")
}

func writeFreeze(b *strings.Builder, work string, meta map[string]string) {
	dir := filepath.Join(work, "freeze")
	l := optJSON[loadResult](filepath.Join(dir, "load.json"))
	if l == nil {
		if _, err := os.Stat(dir); err == nil {
			fmt.Fprintf(b, "## Target 7: recovery from a Consul freeze\n\n%s\n\n", notMeasured)
		}
		return
	}
	var upMS int64
	fmt.Sscan(meta["freeze_up_ms"], &upMS)
	window := 30
	fmt.Sscan(meta["freeze_post"], &window)
	f := freezeWindow(*l, upMS, window)
	f.FirstChange = optJSON[changeResult](filepath.Join(dir, "change.json"))
	fmt.Fprintf(b, "## Target 7: recovery from a %s s freeze at %s × %s\n\nThe agent stopped with SIGSTOP for %s s, then SIGCONT, under %.0f queries/s (`benchctl load`); srvbridge `%s`.\n\n",
		meta["freeze_secs"], meta["freeze_services"], meta["freeze_instances"], meta["freeze_secs"], l.QPS, meta["freeze_flags"])
	var v []verdict
	if rd := optJSON[readyResult](filepath.Join(dir, "ready.json")); rd != nil {
		got := fmt.Sprintf("ready %.1f s after start", rd.Secs)
		if !rd.Ready {
			got = fmt.Sprintf("not ready after %.0f s; the freeze ran anyway", rd.Secs)
		}
		v = append(v, verdict{"before the freeze", "(shown)", got, ""})
	}
	share := float64(f.Lost) / float64(max(1, f.Sent))
	v = append(v, row3(fmt.Sprintf("lost in the %d s after", window), fmt.Sprintf("≤ %.1f %%", tFreezeLost*100), f.Sent > 0,
		fmt.Sprintf("%d of %d (%.2f %%)", f.Lost, f.Sent, share*100), share <= tFreezeLost))
	v = append(v, verdict{fmt.Sprintf("Consul requests in the %d s after", window), "(shown)", fmt.Sprintf("%.0f (srvbridge's counter)", f.Requests), ""})
	if c := f.FirstChange; c != nil {
		got := fmt.Sprintf("%.1f s from SIGCONT to the answer (Consul took the write after %.1f s, %d attempts; answer %.0f ms later)", c.TotalMS/1000, c.TxnOKMS/1000, c.Attempts, c.PropMS)
		if c.NotSeen {
			got = fmt.Sprintf("not seen (Consul took the write after %.1f s)", c.TxnOKMS/1000)
		}
		v = append(v, row3("first change after recovery in DNS", fmt.Sprintf("≤ %d s", tFreezeFirstS), true, got, !c.NotSeen && c.TotalMS <= tFreezeFirstS*1000))
	}
	writeVerdicts(b, v)
	b.WriteString("\n")
}

// fmtCounts is "NOERROR 110, SERVFAIL 3", largest first; an empty key is "no reply".
func fmtCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		name := k
		if name == "" {
			name = "no reply"
		}
		parts[i] = fmt.Sprintf("%s %d", name, m[k])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
