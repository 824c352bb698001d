package main

// The report's output side: the terminal table, the Markdown results file and its
// tables. Sentences live in templates/ (report.md.tmpl for the results file,
// prose.tmpl for the lines the terminal and the file share); this file lays out
// tables and formats numbers.

import (
	"embed"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/template"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// templates holds the report's prose. missingkey=zero: a key run.sh did not write
// reads as empty, as it does from the meta map in Go.
var templates = template.Must(template.New("report").Option("missingkey=zero").ParseFS(templateFS, "templates/*.tmpl"))

// prose renders one named template. They are compiled into the binary and every one
// is exercised by the golden test, so a failure is a bug, not an input error.
func prose(name string, data any) string {
	var b strings.Builder
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		panic(fmt.Sprintf("benchctl report: template %s: %v", name, err))
	}
	return b.String()
}

func fmtRcodes(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// Most frequent first; equal counts by name, so the order never depends on the map.
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return int(m[b] - m[a])
		}
		return strings.Compare(a, b)
	})
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

func pct(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.0f%%", v*100)
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

// ratioLines are the goals' ratios and the other work on the servers' CPU, as the
// terminal shows them (the Markdown joins their runs of spaces).
func (rep *report) ratioLines() []string {
	sbKnot, sbKnotFixed, consulSb := rep.ratios()
	var other []string
	for _, w := range rep.ordered() {
		other = append(other, serverTitles[w.Server]+" "+pct(w.Other))
	}
	out := []string{
		prose("ratio-srvbridge-knot", sbKnot),
		prose("ratio-srvbridge-knot-fixed", struct {
			Rate  string
			Ratio float64
		}{rep.meta["fixed_qps"], sbKnotFixed}),
		prose("ratio-consul-srvbridge", consulSb),
	}
	if r, ok := rep.readers(); ok {
		out = append(out, prose("ratio-readers", r))
	}
	return append(out, prose("other-work", strings.Join(other, ", ")))
}

// warningData is what a warning sentence may say about one server.
type warningData struct {
	Title       string
	BusyPct     float64
	LoadBusy    string
	Outstanding string
	FixedQPS    float64
	Target      float64
	Lost        int64
}

// warnings are facts about this run that a reader of the table must not miss.
func (rep *report) warnings() []string {
	var out []string
	target, _ := strconv.ParseFloat(rep.meta["fixed_qps"], 64)
	var counted []string
	for _, r := range rep.runs {
		if r.Used && rep.disturbed(r) {
			counted = append(counted, fmt.Sprintf("round %d %s %s", r.Round, serverTitles[r.Server], r.Phase))
		}
	}
	if len(counted) > 0 {
		out = append(out, prose("warn-disturbed-counted", struct {
			Pct  string
			Runs string
		}{rep.meta["disturbed_pct"], strings.Join(counted, ", ")}))
	}
	for _, w := range rep.ordered() {
		d := warningData{Title: serverTitles[w.Server], BusyPct: w.Busy * 100, LoadBusy: pct(w.LoadBusy),
			Outstanding: rep.meta["outstanding"], FixedQPS: w.FixedQPS, Target: target, Lost: w.Lost}
		if w.Busy < 0.9 && w.QPS > 0 {
			if w.LoadBusy >= 0.9 {
				out = append(out, prose("warn-dnsperf-limit", d))
			} else {
				out = append(out, prose("warn-not-saturated", d))
			}
		}
		if target > 0 && w.FixedQPS < 0.95*target {
			out = append(out, prose("warn-fixed-rate", d))
		}
		if w.Lost > 0 {
			out = append(out, prose("warn-lost", d))
		}
	}
	return out
}

// text is what `benchctl report` prints: the results table aligned for a terminal,
// then the ratios, the idle line, the warnings and the propagation figures.
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
		for _, t := range rep.prop.Targets {
			b.WriteString(prose("propagation-line", rep.propSummary(t)) + "\n")
		}
	}
	return b.String()
}

// propLine is one server's propagation figures.
type propLine struct {
	Label           string
	Title           string
	P50, P99, Max   float64
	Flips, Timeouts int
	TimeoutMS       float64
}

func (rep *report) propSummary(t propTarget) propLine {
	s := summarize(t.SamplesMS)
	return propLine{Label: t.Label, Title: serverTitles[t.Label], P50: s.P50, P99: s.P99, Max: s.Max,
		Flips: len(t.SamplesMS) + t.Timeouts, Timeouts: t.Timeouts, TimeoutMS: rep.prop.TimeoutMS}
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

// resultsMarkdown is the results table with the ratio lines as a list, as the
// results file (and, through benchctl tables, bench/README.md) shows them.
func (rep *report) resultsMarkdown() string {
	var b strings.Builder
	head, cells := rep.table(true)
	mdTable(&b, head, cells, 1)
	b.WriteString("\n")
	for _, l := range rep.ratioLines() {
		b.WriteString("- " + strings.Join(strings.Fields(l), " ") + "\n")
	}
	return b.String()
}

func (rep *report) propMarkdown() string {
	p := rep.prop
	var cells [][]string
	for _, t := range p.Targets {
		l := rep.propSummary(t)
		cells = append(cells, []string{l.Title, strconv.Itoa(l.Flips),
			fmt.Sprintf("%.1f ms", l.P50), fmt.Sprintf("%.1f ms", l.P99), fmt.Sprintf("%.1f ms", l.Max), strconv.Itoa(l.Timeouts)})
	}
	ps := summarize(p.PutMS)
	cells = append(cells, []string{"(the check-update PUT itself)", strconv.Itoa(len(p.PutMS)),
		fmt.Sprintf("%.1f ms", ps.P50), fmt.Sprintf("%.1f ms", ps.P99), fmt.Sprintf("%.1f ms", ps.Max), ""})
	var b strings.Builder
	mdTable(&b, []string{"server", "flips", "p50", "p99", "max", fmt.Sprintf("not seen in %.0f ms", p.TimeoutMS)}, cells, 1)
	return b.String()
}

func (rep *report) runsMarkdown() string {
	var cells [][]string
	rs := slices.Clone(rep.runs)
	slices.SortStableFunc(rs, func(a, b perfRun) int { return a.Round - b.Round })
	for _, r := range rs {
		p := r.perf
		cpu := float64(r.CPUTicks) / rep.clkTck
		phase := r.Phase
		switch {
		case !r.Used:
			phase += " (disturbed, repeated; not counted)"
		case rep.disturbed(r):
			phase += " (disturbed, no repeat left; counted)"
		}
		cells = append(cells, []string{strconv.Itoa(r.Round), serverTitles[r.Server], phase,
			fmt.Sprintf("%.0f", p.QPS), strconv.FormatInt(p.Completed, 10), strconv.FormatInt(p.Lost, 10),
			fmt.Sprintf("%.2f", cpu), fmt.Sprintf("%.1f", cpu*1e6/math.Max(1, float64(p.Completed))),
			pct(cpu / (float64(r.WallUS) / 1e6) / rep.srvCPUs), pct(r.loadBusy(rep.loadCPUs)),
			pct(r.other()), pct(r.loadOther(rep.clkTck)), fmt.Sprintf("%.3f ms", p.AvgLatency*1e3)})
	}
	var b strings.Builder
	mdTable(&b, []string{"round", "server", "run", "queries/s", "completed", "lost", "server CPU s", "CPU µs/query",
		"server CPU busy", "dnsperf CPU busy", "other work on server CPU", "other work on dnsperf CPU", "dnsperf mean latency"}, cells, 3)
	return b.String()
}

// commitText is the commit, with `git describe` when that says more.
func commitText(m map[string]string) string {
	return prose("commit", struct{ M map[string]string }{m})
}

// markdownData is what templates/report.md.tmpl fills in.
type markdownData struct {
	M                   map[string]string
	Day, Kernel         string
	QuietWait, QuietPct string
	Results             string
	Idle                string
	Warnings            []string
	SVG                 string
	Prop                *propResult
	FlipCheckID         string
	PropTable           string
	Runs                string
	Probe, Setup        string
	Gobench             string
}

// markdown is the results file run.sh writes next to the SVG chart svgName.
func (rep *report) markdown(svgName string) string {
	m := rep.meta
	quiet := strings.Split(m["quiet"]+",", ",")
	d := markdownData{
		M:           m,
		Day:         strings.Fields(m["date"] + " ?")[0],
		Kernel:      strings.TrimPrefix(m["kernel"], "Linux "),
		QuietWait:   quiet[0],
		QuietPct:    strings.TrimSpace(quiet[1]),
		Results:     rep.resultsMarkdown(),
		Idle:        rep.idleLine(),
		Warnings:    rep.warnings(),
		SVG:         svgName,
		Prop:        rep.prop,
		FlipCheckID: flipCheckID,
		Runs:        rep.runsMarkdown(),
		Probe:       strings.TrimRight(rep.probe, "\n"),
		Setup:       strings.TrimRight(rep.setup, "\n"),
		Gobench:     strings.TrimRight(rep.gobench, "\n"),
	}
	if rep.prop != nil {
		d.PropTable = strings.TrimSuffix(rep.propMarkdown(), "\n") // the template ends the line
	}
	return prose("report.md.tmpl", d)
}

// idleLine describes the idle window before the runs: each server's CPU use with no
// queries, and srvbridge's Consul request rate meanwhile.
func (rep *report) idleLine() string {
	if rep.idle == "" {
		return ""
	}
	var secs string
	var parts []string
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
			parts = append(parts, prose("idle-consul-requests", n/sec))
			continue
		}
		parts = append(parts, prose("idle-cpu", struct {
			Title string
			Pct   float64
		}{serverTitles[f[0]], n / rep.clkTck / sec / rep.srvCPUs * 100}))
	}
	if len(parts) == 0 {
		return ""
	}
	return prose("idle-line", struct{ Secs, Parts string }{secs, strings.Join(parts, ", ")})
}
