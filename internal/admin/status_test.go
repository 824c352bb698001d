package admin

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// listing is a fixed cache listing: the page's rendering is under test here;
// cmd/srvbridge tests the conversion from the cache's listing, and the e2e test
// renders a real store in a real browser.
type listing struct {
	st   Listing
	last ServiceQuery
}

func (l *listing) Services(q ServiceQuery) Listing {
	l.last = q
	return l.st
}

type fakeAnswers struct{ stale float64 }

func (fakeAnswers) EachFallback(func(string, uint64)) {}
func (fakeAnswers) Truncated() uint64                 { return 0 }
func (fakeAnswers) SlowPath() uint64                  { return 0 }
func (fakeAnswers) Overloaded() uint64                { return 0 }
func (fakeAnswers) Dropped() uint64                   { return 0 }
func (fakeAnswers) SearchSuffixNXDomain() uint64      { return 0 }
func (f fakeAnswers) StaleSeconds() float64           { return f.stale }
func (f fakeAnswers) Degraded() bool                  { return f.stale > 0 }

func page(t *testing.T, p *StatusPage, query string) (int, http.Header, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest("GET", "/"+query, nil))
	return rec.Code, rec.Header(), rec.Body.String()
}

func TestStatusPage(t *testing.T) {
	now := t0
	c := testCollector(&now)
	now = now.Add(90 * time.Second)
	hostile := `<script>alert(1)</script>`
	l := &listing{st: Listing{Datacenter: "dc1", Matched: 1, Catalog: 3, Services: []ServiceStatus{{
		Name: "web", Datacenter: "dc1", LastUsed: now.Add(-3 * time.Second),
		Served: 1, Listed: 2,
		Instances: []InstanceStatus{
			{ID: "web-1", Node: "n1", Address: "10.0.0.1", Port: 8080, Weight: 1, Health: "passing", Served: true, Tags: []string{"v1", "blue"}},
			{ID: "web-2", Node: "n2", Address: "10.0.0.2", Port: 8081, Weight: 1, Health: "critical", Tags: []string{hostile}},
		},
		Updated: now.Add(-12 * time.Second),
	}}}}
	c.SetSources(Sources{
		Queries:  fakeQueries{{"SRV", "NOERROR"}: 40, {"A", "NXDOMAIN"}: 2},
		Consul:   fakeConsul{counts: map[string][2]uint64{"service": {10, 1}}, last: now.Add(-2 * time.Second)},
		Answers:  fakeAnswers{},
		Services: l,
	})
	ready := func() (bool, string) { return true, "" }
	p := NewStatusPage(c, ready, "https://user:s3cret@consul.example:8501")

	code, h, body := page(t, p, "?q=WE")
	if code != 200 || h.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %d %q", code, h.Get("Content-Type"))
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if l.last.Contains != "WE" || l.last.Limit != statusMaxServices || l.last.Instances != statusMaxInsts {
		t.Errorf("filter passed to the cache: %+v", l.last)
	}
	for _, want := range []string{
		`<meta http-equiv="refresh" content="5">`,
		`data-service="web"`,
		`1 of 2 served · updated 12s ago · last used 3s ago`,
		`<td><code>10.0.0.2</code></td><td class="num">8081</td>`,
		`<span class="h h-critical">critical</span></td><td><span class="bad">no</span>`,
		`<span class="h h-passing">passing</span></td><td>yes`,
		`v1, blue`,
		`&lt;script&gt;alert(1)&lt;/script&gt;`,
		`<b class="ok">connected</b>`,
		`last answer 2s ago · datacenter dc1 · 10 requests, 1 failed`,
		`<b>42</b>`, `NOERROR 40 · NXDOMAIN 2`, `SRV 40 · A 2`,
		`1 shown of 1 fetched and matching; the catalog lists 3.</span>`,
		`value="WE"`,
		`up 1m30s`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, bad := range []string{hostile, "s3cret"} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains %q", bad)
		}
	}

	// An outage, readiness with a reason, no refresh.
	c.SetSources(Sources{
		Consul:   fakeConsul{counts: map[string][2]uint64{"service": {10, 5}}, last: now.Add(-70 * time.Second)},
		Answers:  fakeAnswers{stale: 65},
		Services: l,
	})
	p = NewStatusPage(c, func() (bool, string) { return true, "degraded: Consul unreachable" }, "127.0.0.1:8500")
	_, _, body = page(t, p, "?refresh=0")
	for _, want := range []string{`<b class="bad">unreachable</b>`, `for 1m5s; answers are the last known ones`,
		`<b class="warn">ready</b><span class="muted">degraded: Consul unreachable</span>`,
		`<input type="hidden" name="refresh" value="0">`, `The others are fetched on their first query.`} {
		if !strings.Contains(body, want) {
			t.Errorf("outage page lacks %q", want)
		}
	}
	if strings.Contains(body, `http-equiv="refresh"`) {
		t.Error("refresh=0 still refreshes")
	}

	for _, q := range []string{"?refresh=-1", "?refresh=x", "?refresh=3601"} {
		if code, _, body := page(t, p, q); code != 400 || !strings.Contains(body, "refresh") {
			t.Errorf("%s: %d %q", q, code, body)
		}
	}

	// Before the cache exists: the page still renders and says so.
	c.SetSources(Sources{})
	p = NewStatusPage(c, func() (bool, string) { return false, "connecting to Consul" }, "127.0.0.1:8500")
	_, _, body = page(t, p, "")
	for _, want := range []string{`<b class="bad">not ready</b><span class="muted">connecting to Consul</span>`,
		`not contacted yet`, `Not serving yet`} {
		if !strings.Contains(body, want) {
			t.Errorf("starting page lacks %q", want)
		}
	}
}

// The page shows at most statusMaxInsts instances of a service, whatever the lister
// sends, and says how many more Consul lists; a fallback is named.
func TestStatusPageBoundsInstances(t *testing.T) {
	now := t0
	c := testCollector(&now)
	svc := ServiceStatus{Name: "big", Datacenter: "dc1", Served: 0, Listed: 150, Fallback: "all instances (no healthy one)",
		Updated: now, LastUsed: now}
	for i := range 120 {
		svc.Instances = append(svc.Instances, InstanceStatus{ID: fmt.Sprintf("big-%d", i), Health: "critical"})
	}
	c.SetSources(Sources{Services: &listing{st: Listing{Datacenter: "dc1", Matched: 1, Catalog: 1, Services: []ServiceStatus{svc}}}})
	_, _, body := page(t, NewStatusPage(c, func() (bool, string) { return true, "" }, ""), "")
	if n := strings.Count(body, `<tr class="inst"`); n != statusMaxInsts {
		t.Errorf("%d instance rows, want %d", n, statusMaxInsts)
	}
	for _, want := range []string{`0 of 150 served`, `… and 50 more instances`, `fallback: all instances (no healthy one)`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
