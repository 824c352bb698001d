package admin

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

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
	c.SetSources(Sources{
		Consul: fakeConsul{counts: map[string][2]uint64{"catalog": {4, 3}}, last: t0},
		ACL:    fakeACL{counts: map[string]uint64{"catalog": 3, "service": 0}, err: refusal{catalogWide: true}},
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
	p := NewStatusPage(c, func() (bool, string) { return false, "x" }, "127.0.0.1:8500")
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	body := rec.Body.String()
	if !strings.Contains(body, "refuses the ACL token") || !strings.Contains(body, "consul answered 403 Permission denied to /v1/x") {
		t.Errorf("status page does not show the refusal:\n%s", body)
	}
}
