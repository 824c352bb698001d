package main

// Consul's own count of the HTTP requests it served, independent of srvbridge's
// counter: the agent's `consul_api_http_count{method,path}` from
// /v1/agent/metrics?format=prometheus (the agent needs telemetry
// prometheus_retention_time set; catalog.sh sets it, which changes no limit). Read before
// and after a window; the difference per path, without the bench's own metrics reads.

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
)

// apiHTTPCounts reads consul_api_http_count samples by "METHOD path" from the
// Prometheus text; the unlabelled aggregate line is skipped.
func apiHTTPCounts(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "consul_api_http_count{")
		if !ok {
			continue
		}
		labels, _, ok := strings.Cut(rest, "}")
		if !ok {
			continue
		}
		_, v, ok := parseSample(line)
		if !ok {
			continue
		}
		method, path := labelValue(labels, "method"), labelValue(labels, "path")
		if path == "" {
			continue
		}
		out[method+" "+path] += v
	}
	return out, sc.Err()
}

// labelValue returns the value of name in `a="x",b="y"` (no escapes: Consul's paths
// and methods have none).
func labelValue(labels, name string) string {
	for _, kv := range strings.Split(labels, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && k == name {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// countDelta is after - before per key, excluding keys containing skip. A series
// missing after had no new requests (it expired); one smaller after was reset.
func countDelta(before, after map[string]float64, skip string) map[string]float64 {
	d := map[string]float64{}
	for k, a := range after {
		if skip != "" && strings.Contains(k, skip) {
			continue
		}
		b := before[k]
		if a < b {
			b = 0
		}
		if a-b > 0 {
			d[k] = a - b
		}
	}
	return d
}

func agentCounts(hc *http.Client, consul string) (map[string]float64, error) {
	var m map[string]float64
	err := get(hc, "http://"+consul+"/v1/agent/metrics?format=prometheus", func(r io.Reader) error {
		var err error
		m, err = apiHTTPCounts(r)
		return err
	})
	return m, err
}

// agentReqResult is what consul-requests writes.
type agentReqResult struct {
	Label    string             `json:"label"`
	Secs     float64            `json:"secs"`
	Requests float64            `json:"requests"`
	PerSec   float64            `json:"per_sec"`
	ByPath   map[string]float64 `json:"by_path"`
	Error    string             `json:"error,omitempty"`
}

func cmdConsulRequests(args []string) error {
	fs := flag.NewFlagSet("consul-requests", flag.ContinueOnError)
	consul := fs.String("consul", "", "Consul HTTP address host:port")
	secs := fs.Duration("secs", 30*time.Second, "window")
	label := fs.String("label", "", "name of the window")
	out := fs.String("out", "", "write the result as JSON here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *consul == "" || *out == "" || *secs <= 0 || *secs > 30*time.Minute {
		return errors.New("-consul and -out are required; 0 < secs <= 30m")
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: benchSource, Timeout: 5 * time.Second}).DialContext}}
	res := agentReqResult{Label: *label}
	before, err := agentCounts(hc, *consul)
	start := time.Now()
	if err == nil {
		time.Sleep(*secs)
		var after map[string]float64
		if after, err = agentCounts(hc, *consul); err == nil {
			res.ByPath = countDelta(before, after, "agent_metrics")
		}
	}
	res.Secs = time.Since(start).Seconds()
	if err != nil {
		// Recorded, not fatal: the agent-side figure is a cross-check.
		res.Error = err.Error()
		fmt.Printf("consul-requests %s: %v\n", *label, err)
		return writeJSON(*out, res)
	}
	for _, v := range res.ByPath {
		res.Requests += v
	}
	res.PerSec = res.Requests / res.Secs
	fmt.Printf("consul-requests %s: %.0f in %.0f s (%.1f/s) by the agent's count: %s\n", *label, res.Requests, res.Secs, res.PerSec, topPaths(res.ByPath, 4))
	return writeJSON(*out, res)
}

// topPaths names the n busiest paths, busiest first.
func topPaths(m map[string]float64, n int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			if m[a] > m[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, k := range keys[:min(n, len(keys))] {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
