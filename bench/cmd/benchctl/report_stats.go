package main

// The report's numbers: per-run shares of CPU, percentiles, and the per-server rows
// of the results table, aggregated over the measured runs.

import (
	"math"
	"slices"
	"strconv"
)

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

// disturbed says whether other work took more than the run's disturbed_pct of the
// server's or dnsperf's CPUs during r: run.sh repeats such a run while it has
// repeats left, and counts the last attempt either way.
func (rep *report) disturbed(r perfRun) bool {
	limit, err := strconv.ParseFloat(rep.meta["disturbed_pct"], 64)
	if err != nil || limit <= 0 {
		return false
	}
	return math.Max(r.other(), r.loadOther(rep.clkTck))*100 > limit
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

// ratios: srvbridge/Knot (unthrottled and at the fixed rate) and Consul/srvbridge,
// CPU per query; NaN where a server is missing.
func (rep *report) ratios() (sbKnot, sbKnotFixed, consulSb float64) {
	sb, co, kn := rep.rows["srvbridge"], rep.rows["consul"], rep.rows["knot"]
	sbKnot, sbKnotFixed, consulSb = math.NaN(), math.NaN(), math.NaN()
	if sb != nil && kn != nil {
		sbKnot = ratio(sb.CPUus, kn.CPUus)
		sbKnotFixed = ratio(sb.FixedCPUus, kn.FixedCPUus)
	}
	if sb != nil && co != nil {
		consulSb = ratio(co.CPUus, sb.CPUus)
	}
	return sbKnot, sbKnotFixed, consulSb
}

// readers compares srvbridge's default UDP reader with the poller row of the same
// run, when there is one.
type readers struct {
	CPU, CPUFixed  float64 // default / poller, CPU per query
	P99, P99Poller string  // at the fixed rate
	Rate           string
}

func (rep *report) readers() (readers, bool) {
	sb, pl := rep.rows["srvbridge"], rep.rows["srvbridge-poller"]
	if sb == nil || pl == nil {
		return readers{}, false
	}
	return readers{CPU: ratio(sb.CPUus, pl.CPUus), CPUFixed: ratio(sb.FixedCPUus, pl.FixedCPUus),
		P99: fmtMS(sb.Lat.P99), P99Poller: fmtMS(pl.Lat.P99), Rate: rep.meta["fixed_qps"]}, true
}
