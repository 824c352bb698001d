package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// scaleReport is everything bench/scale.sh recorded, read back for the results file.
type scaleReport struct {
	meta    map[string]string
	obs     []observation
	churn   *churnResult
	outages []outageRun
	setup   string
}

// outageRun is one fault injected while load ran: the load's buckets, the change made
// after recovery, and the times the fault began and ended (meta <name>_down_ms and
// <name>_up_ms, unix ms).
type outageRun struct {
	Name         string
	Desc         string
	DownMS, UpMS int64
	Load         loadResult
	Change       *changeResult
	NoChange     bool // a change was asked for but none was recorded: Consul did not take it in time
}

// outageFlag is name:load.json[:change.json].
type outageFlag []string

func (o *outageFlag) String() string     { return strings.Join(*o, ",") }
func (o *outageFlag) Set(v string) error { *o = append(*o, v); return nil }

func cmdScaleReport(args []string) error {
	fs := flag.NewFlagSet("scale-report", flag.ContinueOnError)
	metaPath := fs.String("meta", "", "meta.env written by scale.sh")
	obsPath := fs.String("obs", "", "observe.jsonl written by benchctl observe")
	churnPath := fs.String("churn", "", "churn.json written by benchctl churn (optional)")
	var outages outageFlag
	fs.Var(&outages, "outage", "name:load.json[:change.json] of one outage (repeatable)")
	setupPath := fs.String("setup", "", "set-up log (optional)")
	mdPath := fs.String("md", "", "write the Markdown results here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *metaPath == "" || *obsPath == "" || *mdPath == "" {
		return errors.New("-meta, -obs and -md are required")
	}
	rep, err := loadScaleReport(*metaPath, *obsPath, *churnPath, *setupPath, outages)
	if err != nil {
		return err
	}
	md := rep.markdown()
	fmt.Print(md)
	return os.WriteFile(*mdPath, []byte(md), 0o644)
}

func readMeta(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func loadScaleReport(metaPath, obsPath, churnPath, setupPath string, outages []string) (*scaleReport, error) {
	rep := &scaleReport{}
	var err error
	if rep.meta, err = readMeta(metaPath); err != nil {
		return nil, err
	}
	f, err := os.Open(obsPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var o observation
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			return nil, fmt.Errorf("%s: %w", obsPath, err)
		}
		rep.obs = append(rep.obs, o)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if churnPath != "" {
		rep.churn = &churnResult{}
		if err := readJSON(churnPath, rep.churn); errors.Is(err, os.ErrNotExist) {
			rep.churn = nil
		} else if err != nil {
			return nil, err
		}
	}
	for _, spec := range outages {
		parts := strings.Split(spec, ":")
		if len(parts) < 2 || len(parts) > 3 {
			return nil, fmt.Errorf("-outage %q: want name:load.json[:change.json]", spec)
		}
		o := outageRun{Name: parts[0], Desc: rep.meta[parts[0]+"_desc"]}
		o.DownMS, _ = strconv.ParseInt(rep.meta[parts[0]+"_down_ms"], 10, 64)
		o.UpMS, _ = strconv.ParseInt(rep.meta[parts[0]+"_up_ms"], 10, 64)
		if err := readJSON(parts[1], &o.Load); err != nil {
			return nil, err
		}
		if len(parts) == 3 {
			o.Change = &changeResult{}
			if err := readJSON(parts[2], o.Change); errors.Is(err, os.ErrNotExist) {
				o.Change, o.NoChange = nil, true
			} else if err != nil {
				return nil, err
			}
		}
		rep.outages = append(rep.outages, o)
	}
	if rep.setup, err = readOptional(setupPath); err != nil {
		return nil, err
	}
	return rep, nil
}

// quantile is the nearest-rank p-quantile of sorted s (NaN when empty), as summarize
// computes its p50 and p99.
func quantile(s []float64, p float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	return s[max(0, int(math.Ceil(p*float64(len(s))))-1)]
}

// latencyCells formats count, p50, p90, p99 and max of samples in ms.
func latencyCells(x []float64) []string {
	s := slices.Clone(x)
	slices.Sort(s)
	f := func(v float64) string {
		if math.IsNaN(v) {
			return "n/a"
		}
		if v >= 1000 {
			return fmt.Sprintf("%.2f s", v/1000)
		}
		return fmt.Sprintf("%.1f ms", v)
	}
	return []string{strconv.Itoa(len(s)), f(quantile(s, 0.5)), f(quantile(s, 0.9)), f(quantile(s, 0.99)), f(quantile(s, 1))}
}

func (rep *scaleReport) observation(label string) (observation, bool) {
	for _, o := range rep.obs {
		if o.Label == label {
			return o, true
		}
	}
	return observation{}, false
}

// phase is the part of an outage run a bucket falls in, by the middle of its second.
func (o outageRun) phase(b loadBucket) string {
	mid := b.StartMS + 500
	switch {
	case o.DownMS > 0 && mid < o.DownMS:
		return "before"
	case o.UpMS > 0 && mid < o.UpMS:
		return "during"
	default:
		return "after"
	}
}

// phaseRow adds up one phase of an outage run.
type phaseRow struct {
	Secs      int
	Total     loadBucket
	Ready     []string // distinct /readyz answers (durations left out), in order of appearance
	Degraded  []float64
	MaxStaleS float64
	Requests  [2]float64 // srvbridge_consul_requests_total at the first and last reading
	AdminErrs int
}

var durationRE = regexp.MustCompile(`(\d+(\.\d+)?(ns|µs|ms|h|m|s))+`)

// readyShape is a /readyz answer with its durations ("unreachable for 42s") replaced by
// "<t>", so that one state reads as one answer however long it lasted.
func readyShape(s string) string { return durationRE.ReplaceAllString(s, "<t>") }

func (o outageRun) phases() (names []string, rows map[string]*phaseRow) {
	rows = map[string]*phaseRow{}
	for _, b := range o.Load.Buckets {
		name := o.phase(b)
		r := rows[name]
		if r == nil {
			r = &phaseRow{Requests: [2]float64{-1, -1}}
			rows[name] = r
			names = append(names, name)
		}
		r.Secs++
		addBucket(&r.Total, b)
		if shape := readyShape(b.Ready); shape != "" && !slices.Contains(r.Ready, shape) {
			r.Ready = append(r.Ready, shape)
		}
		if b.AdminErr != "" {
			r.AdminErrs++
		}
		if b.Degraded >= 0 && !slices.Contains(r.Degraded, b.Degraded) {
			r.Degraded = append(r.Degraded, b.Degraded)
		}
		r.MaxStaleS = max(r.MaxStaleS, b.StaleS)
		if b.Requests >= 0 {
			if r.Requests[0] < 0 {
				r.Requests[0] = b.Requests
			}
			r.Requests[1] = b.Requests
		}
	}
	return names, rows
}

func mib(kb int64) string { return fmt.Sprintf("%.0f MiB", float64(kb)/1024) }

func (rep *scaleReport) markdown() string {
	m := rep.meta
	var b strings.Builder
	fmt.Fprintf(&b, "# srvbridge at scale: %s services × %s instances, %s, commit %s\n\n", m["services"], m["instances"], strings.Fields(m["date"] + " ?")[0], m["commit"])
	b.WriteString("Written by `bench/scale.sh` (`make bench-scale`); every number below comes from this run. Method and limits: [bench/README.md](../README.md#scale-churn-and-outage-benchscalesh).\n\n")
	for _, kv := range [][2]string{
		{"Date", m["date"]},
		{"Commit", commitText(m)},
		{"srvbridge built from", m["source"]},
		{"Machine", fmt.Sprintf("%s CPUs, %s, %s, Linux kernel %s; nothing pinned (srvbridge, Consul and the bench's clients share all CPUs)", m["nproc"], m["cpu"], m["mem"], m["kernel"])},
		{"Versions", fmt.Sprintf("%s; %s; Go %s", m["consul"], m["srvbridge"], m["go"])},
		{"Command", "`" + m["command"] + "`"},
		{"Consul", m["consul_desc"]},
		{"srvbridge", "`" + m["srvbridge_flags"] + "`"},
		{"Elapsed", m["elapsed_s"] + " s for the whole run"},
	} {
		fmt.Fprintf(&b, "- **%s:** %s\n", kv[0], kv[1])
	}

	b.WriteString("\n## Scale\n\n")
	var cells [][]string
	add := func(what, value string) { cells = append(cells, []string{what, value}) }
	add("catalog", fmt.Sprintf("%s services × %s instances = %s instances, one fake node per service, no checks until the churn", m["services"], m["instances"], m["total_instances"]))
	add("registration (`/v1/txn`)", m["register_s"]+" s")
	add("srvbridge started → first answer (`"+serviceName(0)+".service.consul A`)", m["first_answer_s"]+" s")
	add("srvbridge started → whole catalog served (`/readyz` 200 and `/metrics` show every service and instance)", m["sync_s"]+" s")
	for _, l := range []string{"after-sync", "after-churn", "after-outage"} {
		if o, ok := rep.observation(l); ok {
			add("RSS "+strings.ReplaceAll(l, "-", " "), fmt.Sprintf("srvbridge %s (VmRSS), Consul %s", mib(o.RSSKB["srvbridge"]), mib(o.RSSKB["consul"])))
		}
	}
	if o, ok := rep.observation("rest"); ok {
		add(fmt.Sprintf("at rest, %.0f s without changes or queries", o.Secs), fmt.Sprintf("%.1f Consul requests/s from srvbridge (%.0f failed); srvbridge CPU %.1f%% of a core, Consul %.1f%%; other processes %.0f%% of the machine, load average %s → %s",
			o.Requests/o.Secs, o.Errors, o.cpuShare("srvbridge")*100, o.cpuShare("consul")*100, o.otherShare()*100, o.LoadStart, o.LoadEnd))
	}
	if c := rep.churn; c != nil {
		total := c.Services * c.Instances
		add("churn", fmt.Sprintf("%d check changes in %.1f s = %.0f/s (asked %.0f/s, %.2f%% of the instances per second), %d transactions of ≤ %d operations, %d ticks of %.0f ms late",
			c.Changes, c.ElapsedS, float64(c.Changes)/c.ElapsedS, c.Rate, 100*float64(c.Changes)/c.ElapsedS/float64(max(1, total)), len(c.TxnMS), c.OpsPerTxn, c.LateTicks, c.TickMS))
		if o, ok := rep.observation("churn"); ok {
			add(fmt.Sprintf("during the churn (%.0f s)", o.Secs), fmt.Sprintf("%.1f Consul requests/s from srvbridge (%.0f failed); srvbridge CPU %.0f%% of a core, Consul %.0f%%, the churn client %.0f%%; other processes %.0f%% of the machine, load average %s → %s",
				o.Requests/o.Secs, o.Errors, o.cpuShare("srvbridge")*100, o.cpuShare("consul")*100, o.cpuShare("churn")*100, o.otherShare()*100, o.LoadStart, o.LoadEnd))
		}
		add("restoring every changed instance to passing", fmt.Sprintf("%d changes in %.1f s", c.Restored, c.RestoreS))
	}
	mdTable(&b, []string{"what", "measured"}, cells, 2)

	if c := rep.churn; c != nil {
		b.WriteString("\n### Propagation under churn\n\n")
		fmt.Fprintf(&b, "Each tick (%.0f ms) picks instances at random, none changed in the last %.0f ms, toggles their check (passing ↔ critical) and commits the changes in transactions of at most %d operations, %s in flight; the next tick waits for all of them. ",
			c.TickMS, c.DeadlineMS, c.OpsPerTxn, m["churn_concurrency"])
		fmt.Fprintf(&b, "For a sample of the changes (about %s per second), a UDP client asks srvbridge `<svc>.service.consul A` every %.0f ms from the moment the transaction's HTTP response arrived until the instance's address is in (passing) or out of (critical) the answer; a change not seen within %.0f ms counts as *not seen*.\n\n",
			m["churn_sample"], c.PollMS, c.DeadlineMS)
		mdTable(&b, []string{"from", "samples", "p50", "p90", "p99", "max", "not seen"}, [][]string{
			append(append([]string{"the txn's response"}, latencyCells(c.SampleMS)...), strconv.Itoa(c.NotSeen)),
			append(append([]string{"the txn's request"}, latencyCells(c.SampleSend)...), ""),
			append(append([]string{"(the txn itself)"}, latencyCells(c.TxnMS)...), ""),
		}, 1)
	}

	for _, o := range rep.outages {
		rep.outageSection(&b, o)
	}

	b.WriteString("\n## Every reading\n\n")
	b.WriteString("`benchctl observe`: CPU time of each process over the window (utime+stime from `/proc/<pid>/stat`), VmRSS at its end (`/proc/<pid>/status`), srvbridge's `srvbridge_consul_requests_total` and `srvbridge_consul_errors_total` before and after, all CPUs' busy ticks from `/proc/stat` (*other processes* is that minus the processes read), and the load average.\n\n")
	cells = nil
	for _, o := range rep.obs {
		cells = append(cells, []string{o.Label, fmt.Sprintf("%.0f s", o.Secs), o.summary()})
	}
	mdTable(&b, []string{"reading", "window", "what it saw"}, cells, 3)
	if rep.setup != "" {
		b.WriteString("\n## Set-up and log\n\n```\n" + strings.TrimRight(rep.setup, "\n") + "\n```\n")
	}
	return b.String()
}

func (rep *scaleReport) outageSection(b *strings.Builder, o outageRun) {
	l := o.Load
	fmt.Fprintf(b, "\n## Outage: %s\n\n", o.Name)
	if o.Desc != "" {
		b.WriteString(o.Desc + "\n\n")
	}
	fmt.Fprintf(b, "`benchctl load` sends %.0f queries/s from one UDP socket (A and SRV of %d known names, at random) and counts every reply by the second its query was sent in; a query without a reply within %.0f ms is *lost*. Once a second it reads `/readyz` and `/metrics`.\n\n",
		l.QPS, l.Names/2, l.TimeoutMS)
	names, rows := o.phases()
	var cells [][]string
	for _, name := range names {
		r := rows[name]
		t := r.Total
		mean := t.LatSumMS / float64(max(1, t.answered()))
		reqs := "n/a"
		if r.Requests[0] >= 0 && r.Secs > 1 {
			reqs = fmt.Sprintf("%.0f", r.Requests[1]-r.Requests[0])
		}
		deg := make([]string, len(r.Degraded))
		for i, d := range r.Degraded {
			deg[i] = fmt.Sprintf("%.0f", d)
		}
		ready := strings.Join(r.Ready, "; ")
		if r.AdminErrs > 0 {
			ready += fmt.Sprintf(" (%d readings failed)", r.AdminErrs)
		}
		cells = append(cells, []string{name, strconv.Itoa(r.Secs), strconv.FormatInt(t.Sent, 10), strconv.FormatInt(t.NoError, 10), strconv.FormatInt(t.NXDomain, 10),
			strconv.FormatInt(t.ServFail, 10), strconv.FormatInt(t.Other, 10), strconv.FormatInt(t.lost(), 10), fmt.Sprintf("%.2f ms", mean), fmt.Sprintf("%.1f ms", t.LatMaxMS),
			strings.Join(deg, ", "), fmt.Sprintf("%.0f s", r.MaxStaleS), reqs, "`" + ready + "`"})
	}
	mdTable(b, []string{"phase", "seconds", "sent", "NOERROR", "NXDOMAIN", "SERVFAIL", "other", "lost", "mean latency", "max latency",
		"`srvbridge_degraded`", "max `consul_stale_seconds`", "Consul requests", "`/readyz` said"}, cells, 1)
	if c := o.Change; c != nil {
		seen := fmt.Sprintf("the answer changed %.1f ms after the transaction's response, %.2f s after Consul was back", c.PropMS, c.TotalMS/1000)
		if c.NotSeen {
			seen = "the answer did **not** change within the deadline"
		}
		fmt.Fprintf(b, "\nA change right after recovery (instance %d set critical with `/v1/txn`, retried every 100 ms until Consul took it): committed %.2f s after Consul was back (%d attempts); %s.\n",
			c.Instance, c.TxnOKMS/1000, c.Attempts, seen)
	}
	if o.NoChange {
		b.WriteString("\nA change right after recovery (one instance set critical with `/v1/txn`, retried every 100 ms) could **not** be made: Consul did not take it within `benchctl change`'s time bound (see the log below).\n")
	}
	b.WriteString("\nEvery 5 seconds (CPU: the processes' mean over the window, in cores; open files, `srvbridge_degraded` and `/readyz`: the last reading of the window):\n\n")
	cells = nil
	for i := 0; i < len(l.Buckets); i += 5 {
		w := l.Buckets[i:min(i+5, len(l.Buckets))]
		cells = append(cells, append([]string{fmt.Sprintf("%d–%d s", i, i+len(w)), o.phase(w[0])}, windowCells(w)...))
	}
	mdTable(b, []string{"seconds", "phase", "sent", "NOERROR", "NXDOMAIN", "SERVFAIL", "lost", "max latency", "srvbridge CPU", "Consul CPU", "srvbridge open files", "degraded", "`/readyz`"}, cells, 2)
}

// windowCells sums a few seconds of load buckets into one row of the outage timeline.
func windowCells(w []loadBucket) []string {
	var t loadBucket
	last := w[0]
	cpu := map[string]float64{}
	cpuN := map[string]int{}
	for _, bk := range w {
		addBucket(&t, bk)
		if bk.Ready != "" || bk.AdminErr != "" {
			last = bk
		}
		for l, v := range bk.CPU {
			cpu[l] += v
			cpuN[l]++
		}
	}
	said := last.Ready
	if last.AdminErr != "" {
		said = "no answer: " + last.AdminErr
	}
	deg := "n/a"
	if last.Degraded >= 0 {
		deg = fmt.Sprintf("%.0f", last.Degraded)
	}
	cores := func(l string) string {
		if cpuN[l] == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f", cpu[l]/float64(cpuN[l]))
	}
	fds := "n/a"
	for _, bk := range w {
		if n, ok := bk.FDs["srvbridge"]; ok {
			fds = strconv.Itoa(n)
		}
	}
	return []string{strconv.FormatInt(t.Sent, 10), strconv.FormatInt(t.NoError, 10), strconv.FormatInt(t.NXDomain, 10), strconv.FormatInt(t.ServFail, 10), strconv.FormatInt(t.lost(), 10),
		fmt.Sprintf("%.1f ms", t.LatMaxMS), cores("srvbridge"), cores("consul"), fds, deg, "`" + said + "`"}
}
