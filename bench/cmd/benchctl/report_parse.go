package main

// The report's input side: what run.sh recorded (runs.tsv, meta.env, dnsperf's
// output of each run, and the optional files) read into a report. The numbers are
// derived in report_stats.go and rendered in report_render.go.

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// servers in table order; run.sh labels its runs with these names.
// srvbridge-poller is the same binary with --udp-reader poller, where the default
// reader is the thread one (Linux): the two readers measured in the same rounds.
var servers = []string{"srvbridge", "srvbridge-poller", "consul", "knot"}

var serverTitles = map[string]string{
	"srvbridge":        "srvbridge",
	"srvbridge-poller": "srvbridge (poller UDP reader)",
	"consul":           "Consul DNS",
	"knot":             "Knot DNS",
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
