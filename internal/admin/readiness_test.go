package admin

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// refusal stands in for health.PermissionError: a refusal of the token, catalog-wide
// or for one service. cmd/srvbridge checks that health's real one behaves the same.
type refusal struct{ catalogWide bool }

func (r refusal) Error() string {
	return "consul answered 403 Permission denied to /v1/x: the token lacks service:read"
}

func (r refusal) CatalogWide() bool { return r.catalogWide }

func TestReadinessWithRefusals(t *testing.T) {
	notReady := func() (bool, string) { return false, "cannot reach Consul: the local datacenter is not known yet" }
	ready := func() (bool, string) { return true, "" }
	stale := func() (bool, string) { return true, "Consul unreachable for 5s" }
	none := func() error { return nil }
	catalog := func() error { return fmt.Errorf("watch catalog: %w", refusal{catalogWide: true}) }
	service := func() error { return refusal{} }
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
		ok, reason := ReadyUnlessRefused(tt.ready, tt.denied)()
		if ok != tt.ok || !strings.Contains(reason, tt.reason) {
			t.Errorf("%s: ready %v %q, want %v with %q", tt.name, ok, reason, tt.ok, tt.reason)
		}
		if s, _ := Settled(tt.ready, tt.denied)(); s != (tt.settled || ok) {
			t.Errorf("%s: settled %v, want %v", tt.name, s, tt.settled || ok)
		}
		if d, why := DegradedOrRefused(stale, tt.denied)(); tt.deg && (!d || !strings.Contains(why, "permission denied")) {
			t.Errorf("%s: degraded %v %q, want the refusal", tt.name, d, why)
		}
	}
	if d, why := DegradedOrRefused(stale, none)(); !d || why != "Consul unreachable for 5s" {
		t.Errorf("without a refusal: degraded %v %q, want the outage", d, why)
	}
	if !strings.HasPrefix(ConsulProblem(fmt.Errorf("local datacenter: %w", refusal{catalogWide: true})), "permission denied: ") ||
		!strings.HasPrefix(ConsulProblem(errors.New("dial tcp: refused")), "cannot reach Consul: ") {
		t.Error("ConsulProblem does not tell a refusal from an outage")
	}
}
