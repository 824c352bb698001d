package health

import (
	"slices"
	"testing"

	"github.com/hashicorp/consul/api"
)

func chk(id, status string) *api.HealthCheck {
	return &api.HealthCheck{CheckID: id, Status: status}
}

func TestClassifyChecks(t *testing.T) {
	serf := func(s string) *api.HealthCheck { return chk("serfHealth", s) }
	svc := func(s string) *api.HealthCheck { return chk("service:web-1", s) }
	tests := []struct {
		name        string
		checks      api.HealthChecks
		want        Status
		onlyPassing Status
	}{
		{"no checks", nil, Passing, Passing},
		{"all passing", api.HealthChecks{serf(api.HealthPassing), svc(api.HealthPassing)}, Passing, Passing},
		{"service warning", api.HealthChecks{serf(api.HealthPassing), svc(api.HealthWarning)}, Warning, Critical},
		{"service critical", api.HealthChecks{serf(api.HealthPassing), svc(api.HealthCritical)}, Critical, Critical},
		{"node check critical", api.HealthChecks{serf(api.HealthCritical), svc(api.HealthPassing)}, Critical, Critical},
		{"node check warning", api.HealthChecks{serf(api.HealthWarning), svc(api.HealthPassing)}, Warning, Critical},
		{"critical beats warning", api.HealthChecks{svc(api.HealthWarning), serf(api.HealthCritical)}, Critical, Critical},
		{"node maintenance", api.HealthChecks{serf(api.HealthPassing), chk(api.NodeMaint, api.HealthCritical)}, Critical, Critical},
		{"service maintenance", api.HealthChecks{chk(api.ServiceMaintPrefix+"web-1", api.HealthCritical)}, Critical, Critical},
		// Maintenance is matched by ID, not only by the critical status Consul gives it.
		{"maintenance whatever its status", api.HealthChecks{chk(api.ServiceMaintPrefix+"web-1", api.HealthPassing)}, Critical, Critical},
		// An imported instance's aggregated check says "maintenance" (Consul 1.16.3
		// still serves it, see docs/dns.md).
		{"imported maintenance", api.HealthChecks{chk("web-1:overall-check", api.HealthMaint)}, Critical, Critical},
		// Consul's DNS only drops critical by default, so an unknown status is served;
		// only_passing drops it.
		{"non-standard status", api.HealthChecks{svc("unknown")}, Warning, Critical},
		{"empty status", api.HealthChecks{svc("")}, Warning, Critical},
		{"nil entry ignored", api.HealthChecks{nil, svc(api.HealthPassing)}, Passing, Passing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classifyChecks(checkStates(tt.checks), false); got != tt.want {
				t.Errorf("default policy: %v, want %v", got, tt.want)
			}
			if got := classifyChecks(checkStates(tt.checks), true); got != tt.onlyPassing {
				t.Errorf("only-passing policy: %v, want %v", got, tt.onlyPassing)
			}
		})
	}
}

func TestWeightFor(t *testing.T) {
	tests := []struct {
		name    string
		weights api.AgentWeights
		raw     string
		want    uint16
	}{
		{"absent, passing", api.AgentWeights{}, api.HealthPassing, 1},
		{"absent, warning", api.AgentWeights{}, api.HealthWarning, 1},
		{"passing", api.AgentWeights{Passing: 10, Warning: 3}, api.HealthPassing, 10},
		{"warning", api.AgentWeights{Passing: 10, Warning: 3}, api.HealthWarning, 3},
		{"warning weight 0 kept", api.AgentWeights{Passing: 10, Warning: 0}, api.HealthWarning, 0},
		{"too large clamped", api.AgentWeights{Passing: 70000, Warning: 1}, api.HealthPassing, 65535},
		{"negative clamped", api.AgentWeights{Passing: 5, Warning: -3}, api.HealthWarning, 0},
		{"critical keeps passing weight", api.AgentWeights{Passing: 7, Warning: 2}, api.HealthCritical, 7},
		{"maintenance keeps passing weight", api.AgentWeights{Passing: 7, Warning: 2}, api.HealthMaint, 7},
		{"non-standard status", api.AgentWeights{Passing: 7, Warning: 2}, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := weightFor(tt.weights, tt.raw); got != tt.want {
				t.Errorf("weightFor(%+v, %q) = %d, want %d", tt.weights, tt.raw, got, tt.want)
			}
		})
	}
}

func TestInstanceFrom(t *testing.T) {
	node := &api.Node{Node: "n1", Address: "10.0.0.1"}
	tests := []struct {
		name  string
		entry api.ServiceEntry
		want  Instance
	}{
		{
			name: "own address",
			entry: api.ServiceEntry{Node: node, Service: &api.AgentService{
				ID: "web-1", Address: "10.0.0.2", Port: 80, Tags: []string{"a", "b"},
				Weights: api.AgentWeights{Passing: 5, Warning: 1},
			}, Checks: api.HealthChecks{chk("serfHealth", api.HealthPassing)}},
			want: Instance{ID: "web-1", Node: "n1", NodeAddress: "10.0.0.1", Address: "10.0.0.2", OwnAddress: true,
				Port: 80, Weight: 5, Status: Passing, Tags: []string{"a", "b"}, RawStatus: api.HealthPassing},
		},
		{
			name: "node address fallback",
			entry: api.ServiceEntry{Node: node, Service: &api.AgentService{ID: "web-2", Port: 81},
				Checks: api.HealthChecks{chk("service:web-2", api.HealthWarning)}},
			want: Instance{ID: "web-2", Node: "n1", NodeAddress: "10.0.0.1", Address: "10.0.0.1",
				Port: 81, Weight: 1, Status: Warning, RawStatus: api.HealthWarning},
		},
		{
			name: "maintenance",
			entry: api.ServiceEntry{Node: node, Service: &api.AgentService{ID: "web-3", Port: 82},
				Checks: api.HealthChecks{chk(api.NodeMaint, api.HealthCritical)}},
			want: Instance{ID: "web-3", Node: "n1", NodeAddress: "10.0.0.1", Address: "10.0.0.1",
				Port: 82, Weight: 1, Status: Critical, RawStatus: api.HealthMaint},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := instanceFrom(&tt.entry, false)
			if !equalInstance(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}

	// Tags must not alias Consul's decoded slice, which the api package may reuse.
	e := tests[0].entry
	in := instanceFrom(&e, false)
	e.Service.Tags[0] = "changed"
	if in.Tags[0] != "a" {
		t.Errorf("Instance.Tags aliases the api slice")
	}
}

func equalInstance(a, b Instance) bool {
	return a.ID == b.ID && a.Node == b.Node && a.NodeAddress == b.NodeAddress && a.Address == b.Address &&
		a.OwnAddress == b.OwnAddress && a.Port == b.Port && a.Weight == b.Weight && a.Status == b.Status &&
		a.RawStatus == b.RawStatus && slices.Equal(a.Tags, b.Tags)
}
