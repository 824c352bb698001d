package deploy_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/srvbridge/srvbridge/internal/testtier"
)

var (
	dashboardPath = filepath.Join(repoRoot, "deploy", "grafana", "srvbridge.json")
	alertsPath    = filepath.Join(repoRoot, "deploy", "prometheus", "alerts.yaml")
)

// knownMetrics is every metric family srvbridge can export: what a running binary
// serves on /metrics (Go and process collectors included), plus the srvbridge_* names
// declared in internal/admin, the collector, which covers families that exist only
// once DNS, the cache or the forwarder run (the test binary never reaches Consul).
func knownMetrics(t *testing.T) map[string]bool {
	t.Helper()
	known := map[string]bool{}
	for name := range runningSrvbridge(t).Metrics {
		known[name] = true
	}
	files, err := filepath.Glob(filepath.Join(repoRoot, "internal", "admin", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	decl := regexp.MustCompile(`"(srvbridge_[a-z0-9_]+)"`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range decl.FindAllSubmatch(src, -1) {
			known[string(m[1])] = true
		}
	}
	if !known["srvbridge_dns_queries_total"] || !known["process_cpu_seconds_total"] {
		t.Fatalf("known metrics look incomplete: %v", sortedKeys(known))
	}
	return known
}

var (
	promStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promLabelSet = regexp.MustCompile(`\{[^{}]*\}`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promKeywords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
		"group_right": true, "bool": true, "and": true, "or": true, "unless": true, "offset": true, "inf": true, "nan": true}
)

// metricNames returns the metric names a PromQL expression selects. Strings, label
// matchers, grouping clauses, durations, keywords and function names (identifiers
// followed by "(") are not metric names.
func metricNames(expr string) []string {
	e := promStrings.ReplaceAllString(expr, `""`)
	e = promLabelSet.ReplaceAllString(e, "{}")
	e = promGrouping.ReplaceAllString(e, "")
	e = regexp.MustCompile(`\$\{?\w+\}?`).ReplaceAllString(e, "") // Grafana variables
	e = regexp.MustCompile(`\[[^\]]*\]`).ReplaceAllString(e, "")  // ranges
	var out []string
	for _, loc := range promIdent.FindAllStringIndex(e, -1) {
		name := e[loc[0]:loc[1]]
		if loc[0] > 0 && (e[loc[0]-1] >= '0' && e[loc[0]-1] <= '9' || e[loc[0]-1] == '.') {
			continue // the unit of a number or duration, as in 5m or 1e3
		}
		if promKeywords[strings.ToLower(name)] || strings.HasPrefix(strings.TrimLeft(e[loc[1]:], " \t\n"), "(") {
			continue
		}
		out = append(out, name)
	}
	return out
}

func TestMetricNames(t *testing.T) {
	for _, tt := range []struct {
		expr string
		want string
	}{
		{`sum by (rcode) (rate(srvbridge_dns_queries_total{job=~"$job", rcode="SERVFAIL"}[$__rate_interval]))`, "srvbridge_dns_queries_total"},
		{`histogram_quantile(0.99, sum by (le, upstream) (rate(x_bucket{a="b"}[5m])))`, "x_bucket"},
		{`srvbridge_build_info unless on (job, instance) srvbridge_services_served`, "srvbridge_build_info srvbridge_services_served"},
		{`up{job=~".*srvbridge.*"} == 0`, "up"},
		{`a > 1e3 and b offset 5m`, "a b"},
	} {
		if got := strings.Join(metricNames(tt.expr), " "); got != tt.want {
			t.Errorf("metricNames(%q) = %q, want %q", tt.expr, got, tt.want)
		}
	}
}

// checkMetricNames fails for every name in expr that srvbridge does not export.
// Histogram series (_bucket, _sum, _count) count as their family. "up" is
// Prometheus' own.
func checkMetricNames(t *testing.T, where, expr string, known map[string]bool) []string {
	t.Helper()
	names := metricNames(expr)
	if len(names) == 0 {
		t.Errorf("%s: no metric in %q", where, expr)
	}
	for _, n := range names {
		base := regexp.MustCompile(`_(bucket|sum|count)$`).ReplaceAllString(n, "")
		if known[n] || known[base] || n == "up" {
			continue
		}
		t.Errorf("%s: %s is not a metric srvbridge exports (expr %q)", where, n, expr)
	}
	return names
}

// promtoolCheck runs `promtool check rules` on a rules file: the real PromQL parser.
// make test installs promtool (Debian package prometheus, scripts/install-test-deps.sh).
func promtoolCheck(t *testing.T, path string) {
	t.Helper()
	if out, err := exec.Command(testtier.Tool(t, "promtool"), "check", "rules", path).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules %s: %v\n%s", path, err, out)
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Record      string            `json:"record"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

func TestAlertRules(t *testing.T) {
	raw, err := os.ReadFile(alertsPath)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.UnmarshalStrict(raw, &rf); err != nil {
		t.Fatalf("%s: %v", alertsPath, err)
	}
	known := knownMetrics(t)
	uses := map[string]string{} // metric -> alert
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			where := "alert " + r.Alert
			if r.Alert == "" || r.Expr == "" || r.For == "" {
				t.Errorf("%s: want alert, expr and for (a blip must not page)", where)
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", where, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: want summary and description annotations", where)
			}
			for _, n := range checkMetricNames(t, where, r.Expr, known) {
				uses[n] = r.Alert
			}
			if strings.Contains(r.Expr, `rcode="SERVFAIL"`) {
				uses["servfail"] = r.Alert
			}
		}
	}
	// What the issue asks to be alerted on.
	for _, want := range []struct{ key, what string }{
		{"srvbridge_consul_last_contact_seconds", "Consul unreachable"},
		{"servfail", "SERVFAIL ratio"},
		{"srvbridge_ready", "not ready"},
		{"up", "replica down"},
		{"srvbridge_forward_failures_total", "forwarding failing"},
	} {
		if uses[want.key] == "" {
			t.Errorf("no alert for %s (on %s)", want.what, want.key)
		}
	}
	promtoolCheck(t, alertsPath)
}

// dashboard is the part of Grafana's dashboard model the test reads.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Schema     int     `json:"schemaVersion"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		Expr       string `json:"expr"`
		RefID      string `json:"refId"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
}

func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	if d.UID == "" || d.Title == "" || d.Schema < 30 {
		t.Errorf("dashboard: uid %q title %q schemaVersion %d", d.UID, d.Title, d.Schema)
	}
	vars := map[string]bool{}
	known := knownMetrics(t)
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if q, ok := v.Query.(map[string]any); ok {
			// label_values(<selector>, <label>): the label is not a metric.
			m := regexp.MustCompile(`^label_values\((.*),\s*\w+\)$`).FindStringSubmatch(fmt.Sprint(q["query"]))
			if m == nil {
				t.Errorf("variable $%s: query %q is not label_values(selector, label)", v.Name, q["query"])
				continue
			}
			checkMetricNames(t, "variable $"+v.Name, m[1], known)
		}
	}
	if !vars["datasource"] {
		t.Errorf("dashboard: no $datasource variable: it would be tied to one Grafana's data source uid")
	}

	ids := map[int]bool{}
	used := map[string]bool{}
	var exprs []string
	for _, p := range d.Panels {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if ids[p.ID] {
			t.Errorf("%s: duplicate id", where)
		}
		ids[p.ID] = true
		if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v outside the 24-column grid", where, g)
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no queries", where)
		}
		for _, tg := range p.Targets {
			for _, ds := range []*struct {
				UID string `json:"uid"`
			}{p.Datasource, tg.Datasource} {
				if ds == nil || ds.UID != "${datasource}" {
					t.Errorf("%s: data source must be ${datasource}", where)
				}
			}
			if tg.RefID == "" {
				t.Errorf("%s: query without refId", where)
			}
			for _, n := range checkMetricNames(t, where, tg.Expr, known) {
				used[n] = true
			}
			exprs = append(exprs, tg.Expr)
		}
		for _, q := range d.Panels {
			if q.ID != p.ID && q.Type != "row" && overlap(p.GridPos, q.GridPos) {
				t.Errorf("%s overlaps panel %d %q", where, q.ID, q.Title)
			}
		}
	}
	// What the issue asks the dashboard to show.
	for _, want := range []string{
		"srvbridge_dns_queries_total",           // queries/s by rcode
		"srvbridge_services_served",             // services served
		"srvbridge_instances_served",            // instances served
		"srvbridge_consul_last_contact_seconds", // Consul staleness
		"srvbridge_consul_errors_total",         // watch errors
		"srvbridge_forward_failures_total",      // forwarder health
		"srvbridge_forward_upstream_latency_seconds_bucket",
	} {
		if !used[want] {
			t.Errorf("dashboard: no panel uses %s", want)
		}
	}

	// The real PromQL parser, through promtool: every panel query as a recording rule,
	// with Grafana's variables replaced by what Grafana would send.
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	r := strings.NewReplacer("$__rate_interval", "1m", "$job", ".+", "$instance", ".+")
	for i, e := range exprs {
		q, _ := json.Marshal(r.Replace(e))
		fmt.Fprintf(&b, "      - record: dashboard:query_%d\n        expr: %s\n", i, q)
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	promtoolCheck(t, path)
}

func overlap(a, b struct{ H, W, X, Y int }) bool {
	return a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H
}
