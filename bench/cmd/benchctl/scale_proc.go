package main

// Readings of the machine and of processes for bench/scale.sh: what the machine is,
// whether it is quiet, and what srvbridge and Consul cost over a window (CPU time, RSS,
// Consul requests), all from /proc and srvbridge's /metrics.

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// cmdMachine prints the machine description as key=value lines for meta.env.
func cmdMachine(args []string) error {
	fs := flag.NewFlagSet("machine", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cpu := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := "unknown"
	if kb, err := procField("/proc/meminfo", "MemTotal:"); err == nil {
		mem = fmt.Sprintf("%.1f GiB", kb/1048576)
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	fmt.Printf("nproc=%d\ncpu=%s\nmem=%s\nkernel=%s\n", runtime.NumCPU(), cpu, mem, strings.TrimSpace(string(kernel)))
	return nil
}

// procField reads the number after key in a "Key: value kB" file such as
// /proc/meminfo or /proc/<pid>/status.
func procField(path, key string) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			return strconv.ParseFloat(f[0], 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s", path, key)
}

// procTicks is utime + stime of a process in clock ticks (/proc/<pid>/stat fields 14
// and 15; the command name in field 2 may contain spaces, so count from its ")").
func procTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatTicks(string(b))
}

func parseStatTicks(stat string) (int64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("stat: no ')'")
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, errors.New("stat: too few fields")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	return u + s, errors.Join(err1, err2)
}

// cpuBusy returns the busy and total ticks of all CPUs from the first line of /proc/stat.
func cpuBusy() (busy, total int64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return parseCPULine(line)
}

func parseCPULine(line string) (busy, total int64, err error) {
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: %q", line)
	}
	// user nice system idle iowait irq softirq steal
	for i, s := range f[1:9] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, 0, err
		}
		total += v
		if i != 3 && i != 4 {
			busy += v
		}
	}
	return busy, total, nil
}

// openFiles counts a process's file descriptors (-1 if they cannot be read).
func openFiles(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// cmdQuiet waits, at most -wait, until all CPUs together are less busy than -pct over
// half a second, and prints what it saw: the bench shares the machine with other work.
func cmdQuiet(args []string) error {
	fs := flag.NewFlagSet("quiet", flag.ContinueOnError)
	wait := fs.Duration("wait", 10*time.Second, "longest wait")
	pct := fs.Float64("pct", 15, "busy share (%) of all CPUs counted as quiet")
	if err := fs.Parse(args); err != nil {
		return err
	}
	deadline := time.Now().Add(*wait)
	start := time.Now()
	for {
		b0, t0, err := cpuBusy()
		if err != nil {
			return err
		}
		time.Sleep(500 * time.Millisecond)
		b1, t1, err := cpuBusy()
		if err != nil {
			return err
		}
		busy := 100 * float64(b1-b0) / float64(max(1, t1-t0))
		if busy < *pct || time.Now().After(deadline) {
			verdict := "quiet"
			if busy >= *pct {
				verdict = "still busy, going on"
			}
			fmt.Printf("CPUs %.0f%% busy after %.1fs of waiting (%s); load average %s\n", busy, time.Since(start).Seconds(), verdict, loadAvg())
			return nil
		}
	}
}

// scrapeMetrics reads srvbridge's /metrics into the sum of each family's samples.
func scrapeMetrics(hc *http.Client, admin string) (map[string]float64, error) {
	out := map[string]float64{}
	err := get(hc, "http://"+admin+"/metrics", func(r io.Reader) error {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			if name, v, ok := parseSample(sc.Text()); ok {
				out[name] += v
			}
		}
		return sc.Err()
	})
	return out, err
}

// parseSample splits one Prometheus text line into its family name and value;
// comments and lines it cannot read give ok false.
func parseSample(line string) (name string, v float64, ok bool) {
	if line == "" || line[0] == '#' {
		return "", 0, false
	}
	end := strings.IndexAny(line, "{ ")
	if end <= 0 {
		return "", 0, false
	}
	rest := line[end:]
	if rest[0] == '{' {
		close := strings.LastIndexByte(rest, '}')
		if close < 0 {
			return "", 0, false
		}
		rest = rest[close+1:]
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return "", 0, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	return line[:end], v, err == nil
}

// observation is one window (or, with Secs 0, one moment) of what the processes cost.
type observation struct {
	Label     string           `json:"label"`
	Secs      float64          `json:"secs"`
	ClkTck    float64          `json:"clk_tck"`
	Ticks     map[string]int64 `json:"ticks"`  // per process label, utime+stime over the window
	RSSKB     map[string]int64 `json:"rss_kb"` // per process label, VmRSS at the end
	FDs       map[string]int   `json:"fds"`    // per process label, open files at the end
	Requests  float64          `json:"consul_requests"`
	Errors    float64          `json:"consul_errors"`
	CPUBusy   int64            `json:"cpu_busy"` // all CPUs, busy ticks over the window
	CPUTotal  int64            `json:"cpu_total"`
	TCP       map[string]int   `json:"tcp_to_consul,omitempty"` // client sockets to Consul's HTTP port by state, at the end
	LoadStart string           `json:"load_start"`
	LoadEnd   string           `json:"load_end"`
}

type pidFlag map[string]int

func (p pidFlag) String() string { return fmt.Sprint(map[string]int(p)) }
func (p pidFlag) Set(v string) error {
	label, s, ok := strings.Cut(v, "=")
	pid, err := strconv.Atoi(s)
	if !ok || err != nil || pid <= 0 {
		return errors.New("want label=pid")
	}
	p[label] = pid
	return nil
}

// pathFlag is label=path, repeatable.
type pathFlag map[string]string

func (p pathFlag) String() string { return fmt.Sprint(map[string]string(p)) }
func (p pathFlag) Set(v string) error {
	label, path, ok := strings.Cut(v, "=")
	if !ok || label == "" || path == "" {
		return errors.New("want label=path")
	}
	p[label] = path
	return nil
}

// cmdObserve reads, before and after -secs, the CPU time of each -pid, all CPUs'
// busy ticks and srvbridge's Consul request counters, and appends one JSON line.
func cmdObserve(args []string) error {
	fs := flag.NewFlagSet("observe", flag.ContinueOnError)
	admin := fs.String("admin", "", "srvbridge admin address host:port")
	pids := pidFlag{}
	fs.Var(pids, "pid", "label=pid of a process to read (repeatable)")
	secs := fs.Duration("secs", 0, "window; 0 reads RSS only, at once")
	label := fs.String("label", "", "name of the window")
	clk := fs.Float64("clk-tck", 100, "clock ticks per second (getconf CLK_TCK)")
	out := fs.String("out", "", "append the JSON line here")
	consulPort := fs.Int("consul-port", 0, "count TCP sockets to this port by state (/proc/net/tcp)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *label == "" || *secs < 0 || *secs > 30*time.Minute {
		return errors.New("-out and -label are required; 0 <= -secs <= 30m")
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	o := observation{Label: *label, Secs: secs.Seconds(), ClkTck: *clk, Ticks: map[string]int64{}, RSSKB: map[string]int64{}, FDs: map[string]int{}, LoadStart: loadAvg()}
	t0 := map[string]int64{}
	for l, pid := range pids {
		t, err := procTicks(pid)
		if err != nil {
			return fmt.Errorf("%s: %w", l, err)
		}
		t0[l] = t
	}
	m0, err := scrapeMetrics(hc, *admin)
	if err != nil {
		return err
	}
	b0, a0, err := cpuBusy()
	if err != nil {
		return err
	}
	// Read the processes every 200 ms meanwhile, so that one that exits during the
	// window (the churn client) still counts with its last reading.
	start := time.Now()
	last := maps.Clone(t0)
	for end := start.Add(*secs); time.Now().Before(end); {
		time.Sleep(min(200*time.Millisecond, time.Until(end)))
		for l, pid := range pids {
			if t, err := procTicks(pid); err == nil {
				last[l] = t
			}
		}
	}
	b1, a1, err := cpuBusy()
	if err != nil {
		return err
	}
	m1, err := scrapeMetrics(hc, *admin)
	if err != nil {
		return err
	}
	o.Secs = time.Since(start).Seconds()
	o.CPUBusy, o.CPUTotal = b1-b0, a1-a0
	o.Requests = m1["srvbridge_consul_requests_total"] - m0["srvbridge_consul_requests_total"]
	o.Errors = m1["srvbridge_consul_errors_total"] - m0["srvbridge_consul_errors_total"]
	for l, pid := range pids {
		if t, err := procTicks(pid); err == nil {
			last[l] = t
		}
		o.Ticks[l] = last[l] - t0[l]
		rss, err := procField(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
		if err != nil {
			continue // exited during the window
		}
		o.RSSKB[l] = int64(rss)
		o.FDs[l] = openFiles(pid)
	}
	o.LoadEnd = loadAvg()
	if *consulPort > 0 {
		if b, err := os.ReadFile("/proc/net/tcp"); err == nil {
			o.TCP = tcpStates(string(b), *consulPort)
		}
	}
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(*out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	fmt.Printf("%s: %s\n", *label, o.summary())
	return f.Close()
}

// summary is the one-line form of an observation, for the log and the report.
func (o observation) summary() string {
	var parts []string
	for _, l := range []string{"srvbridge", "consul"} {
		if rss, ok := o.RSSKB[l]; ok {
			p := fmt.Sprintf("%s RSS %.1f MiB", l, float64(rss)/1024)
			if n, ok := o.FDs[l]; ok {
				p += fmt.Sprintf(", %d open files", n)
			}
			if o.Secs >= 1 {
				p += fmt.Sprintf(", CPU %.0f%% of a core", o.cpuShare(l)*100)
			}
			parts = append(parts, p)
		}
	}
	if o.Secs >= 1 {
		parts = append(parts, fmt.Sprintf("%.1f Consul requests/s (%.0f in %.0f s, %.0f failed)", o.Requests/o.Secs, o.Requests, o.Secs, o.Errors))
		parts = append(parts, fmt.Sprintf("all CPUs %.0f%% busy, of which other processes %.0f%% of the machine", o.busyShare()*100, o.otherShare()*100))
	}
	if len(o.TCP) > 0 {
		var states []string
		for _, st := range []string{"ESTABLISHED", "SYN_SENT", "TIME_WAIT", "FIN_WAIT2", "CLOSE_WAIT", "other"} {
			if o.TCP[st] > 0 {
				states = append(states, fmt.Sprintf("%d %s", o.TCP[st], st))
			}
		}
		parts = append(parts, "TCP to Consul's HTTP port: "+strings.Join(states, ", "))
	}
	parts = append(parts, "load average "+o.LoadEnd)
	return strings.Join(parts, "; ")
}

// cpuShare is a process's CPU time over the window, in cores.
func (o observation) cpuShare(label string) float64 {
	if o.Secs <= 0 || o.ClkTck <= 0 {
		return 0
	}
	return float64(o.Ticks[label]) / o.ClkTck / o.Secs
}

func (o observation) busyShare() float64 {
	return float64(o.CPUBusy) / float64(max(1, o.CPUTotal))
}

// otherShare is the share of all CPUs busy with anything but the observed processes.
func (o observation) otherShare() float64 {
	own := int64(0)
	for _, t := range o.Ticks {
		own += t
	}
	return max(0, float64(o.CPUBusy-own)) / float64(max(1, o.CPUTotal))
}

var tcpStateNames = map[string]string{"01": "ESTABLISHED", "02": "SYN_SENT", "05": "FIN_WAIT2", "06": "TIME_WAIT", "08": "CLOSE_WAIT"}

// tcpStates counts the sockets in /proc/net/tcp whose remote port is port (the client
// side of connections to it), by state.
func tcpStates(procNetTCP string, port int) map[string]int {
	out := map[string]int{}
	want := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(procNetTCP, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasSuffix(f[2], want) {
			continue
		}
		st := tcpStateNames[f[3]]
		if st == "" {
			st = "other"
		}
		out[st]++
	}
	return out
}
