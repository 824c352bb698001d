package main

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/srvbridge/srvbridge/health"
)

func TestParseDatacenter(t *testing.T) {
	env := func(k string) string {
		if k == "SRVBRIDGE_DATACENTER" {
			return "East_1"
		}
		return ""
	}
	for _, tt := range []struct {
		args []string
		env  func(string) string
		want string
	}{
		{nil, func(string) string { return "" }, ""},
		{[]string{"--datacenter", "DC1"}, func(string) string { return "" }, "dc1"},
		{nil, env, "east_1"},
		{[]string{"--datacenter", "dc-2"}, env, "dc-2"},
	} {
		c, err := parseConfig(tt.args, tt.env)
		if err != nil || c.Datacenter != tt.want {
			t.Errorf("%v: Datacenter %q, %v; want %q", tt.args, c.Datacenter, err, tt.want)
		}
	}
	for _, bad := range []string{"dc.1", "dc 1", strings.Repeat("d", 64), "dc1/x"} {
		_, err := parseConfig([]string{"--datacenter", bad}, func(string) string { return "" })
		if err == nil || !strings.HasPrefix(err.Error(), "--datacenter ") {
			t.Errorf("--datacenter %q: %v, want an error naming the flag", bad, err)
		}
	}
}

// refusal is what health reports for a request of kind k Consul refused.
func refusal(k health.Kind) error {
	return &health.PermissionError{Kind: k, Endpoint: "/v1/x", Permission: "service:read", Cause: "answered 403 Permission denied"}
}

func TestReadinessWithRefusals(t *testing.T) {
	notReady := func() (bool, string) { return false, "cannot reach Consul: the local datacenter is not known yet" }
	ready := func() (bool, string) { return true, "" }
	stale := func() (bool, string) { return true, "Consul unreachable for 5s" }
	none := func() error { return nil }
	catalog := func() error { return refusal(health.KindCatalog) }
	service := func() error { return refusal(health.KindService) }
	for _, tt := range []struct {
		name         string
		ready        func() (bool, string)
		denied       func() error
		ok           bool
		reason       string
		settled, deg bool
	}{
		{"no refusal", notReady, none, false, "cannot reach Consul", false, false},
		{"refused, not ready", notReady, service, false, "permission denied: consul answered 403", false, true},
		{"catalog refused after a read", ready, catalog, false, "permission denied:", true, true},
		{"one service refused", ready, service, true, "", false, true},
	} {
		ok, reason := readyUnlessRefused(tt.ready, tt.denied)()
		if ok != tt.ok || !strings.Contains(reason, tt.reason) {
			t.Errorf("%s: ready %v %q, want %v with %q", tt.name, ok, reason, tt.ok, tt.reason)
		}
		if s, _ := settled(tt.ready, tt.denied)(); s != (tt.settled || ok) {
			t.Errorf("%s: settled %v, want %v", tt.name, s, tt.settled || ok)
		}
		if d, why := degradedOrRefused(stale, tt.denied)(); tt.deg && (!d || !strings.Contains(why, "permission denied")) {
			t.Errorf("%s: degraded %v %q, want the refusal", tt.name, d, why)
		}
	}
	if d, why := degradedOrRefused(stale, none)(); !d || why != "Consul unreachable for 5s" {
		t.Errorf("without a refusal: degraded %v %q, want the outage", d, why)
	}
	if !strings.HasPrefix(consulProblem(refusal(health.KindDatacenters)), "permission denied: ") ||
		!strings.HasPrefix(consulProblem(errors.New("dial tcp: refused")), "cannot reach Consul: ") {
		t.Error("consulProblem does not tell a refusal from an outage")
	}
}

type fakeACL struct {
	counts map[string]uint64
	err    error
}

func (f fakeACL) EachDenied(fn func(string, uint64)) {
	for k, n := range f.counts {
		fn(k, n)
	}
}

func (f fakeACL) Denied() error { return f.err }

func TestRefusalsOnMetricsAndStatusPage(t *testing.T) {
	now := t0
	c := testCollector(&now)
	c.SetSources(statsSources{
		Consul: fakeConsul{counts: map[string][2]uint64{"catalog": {4, 3}}, last: t0},
		ACL:    fakeACL{counts: map[string]uint64{"catalog": 3, "service": 0}, err: refusal(health.KindCatalog)},
	})
	want := `
# HELP srvbridge_consul_denied_total Consul HTTP requests refused for the ACL token (403, or an answer ACL filtering emptied), by kind of endpoint. Also counted in srvbridge_consul_errors_total.
# TYPE srvbridge_consul_denied_total counter
srvbridge_consul_denied_total{kind="catalog"} 3
srvbridge_consul_denied_total{kind="service"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "srvbridge_consul_denied_total"); err != nil {
		t.Error(err)
	}
	p := newStatusPage(c, func() (bool, string) { return false, "x" }, "127.0.0.1:8500")
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	body := rec.Body.String()
	if !strings.Contains(body, "refuses the ACL token") || !strings.Contains(body, "consul answered 403 Permission denied to /v1/x") {
		t.Errorf("status page does not show the refusal:\n%s", body)
	}
}
