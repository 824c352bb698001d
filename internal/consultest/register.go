package consultest

import (
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// RegisterService registers a service on the agent's own node through the agent API,
// the way a real workload does. A TTL check given in reg.Check gets the ID
// "service:<service id>" unless reg.Check.CheckID says otherwise; drive it with SetTTL.
func (a *Agent) RegisterService(t testing.TB, reg api.AgentServiceRegistration) {
	t.Helper()
	if err := a.Client.Agent().ServiceRegister(&reg); err != nil {
		t.Fatalf("consultest: register service %q: %v", reg.ID, err)
	}
}

// Deregister removes a service registered with RegisterService.
func (a *Agent) Deregister(t testing.TB, serviceID string) {
	t.Helper()
	if err := a.Client.Agent().ServiceDeregister(serviceID); err != nil {
		t.Fatalf("consultest: deregister service %q: %v", serviceID, err)
	}
}

// SetTTL reports a TTL check's state. status is "pass", "warn" or "fail" (Consul's
// "passing", "warning" and "critical" are accepted too).
func (a *Agent) SetTTL(t testing.TB, checkID, status string) {
	t.Helper()
	if err := a.Client.Agent().UpdateTTL(checkID, "set by consultest", status); err != nil {
		t.Fatalf("consultest: update TTL check %q to %q: %v", checkID, status, err)
	}
}

// Maintenance turns maintenance mode on or off for one service, or for the whole node
// when serviceID is empty. Consul models it as a critical check named
// _service_maintenance:<id> or _node_maintenance.
func (a *Agent) Maintenance(t testing.TB, serviceID string, on bool) {
	t.Helper()
	ag := a.Client.Agent()
	var err error
	switch {
	case serviceID == "" && on:
		err = ag.EnableNodeMaintenance("consultest")
	case serviceID == "":
		err = ag.DisableNodeMaintenance()
	case on:
		err = ag.EnableServiceMaintenance(serviceID, "consultest")
	default:
		err = ag.DisableServiceMaintenance(serviceID)
	}
	if err != nil {
		t.Fatalf("consultest: maintenance %q=%v: %v", serviceID, on, err)
	}
}

// RegisterExternal registers a node with the given address and, optionally, one service
// instance on it, straight into the catalog. The node does not run an agent, so the
// local agent's anti-entropy leaves it alone: this is how several instances on
// different nodes (and node-address fallback) are set up with a single dev agent.
// Checks get their Node field filled in.
func (a *Agent) RegisterExternal(t testing.TB, node, address string, svc *api.AgentService, checks ...*api.HealthCheck) {
	t.Helper()
	for _, c := range checks {
		c.Node = node
	}
	reg := &api.CatalogRegistration{Node: node, Address: address, Service: svc, Checks: checks}
	if _, err := a.Client.Catalog().Register(reg, nil); err != nil {
		t.Fatalf("consultest: catalog register node %q: %v", node, err)
	}
}

// DeregisterExternal removes one service from a node registered with RegisterExternal,
// or the whole node when serviceID is empty.
func (a *Agent) DeregisterExternal(t testing.TB, node, serviceID string) {
	t.Helper()
	dereg := &api.CatalogDeregistration{Node: node, ServiceID: serviceID}
	if _, err := a.Client.Catalog().Deregister(dereg, nil); err != nil {
		t.Fatalf("consultest: catalog deregister %q/%q: %v", node, serviceID, err)
	}
}

// Eventually polls cond until it returns nil or timeout passes, then fails the test
// with cond's last error. Use it instead of sleeping: Consul applies changes
// asynchronously (anti-entropy, blocking-query wake-ups).
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("consultest: condition not met within %v: %v", timeout, err)
		}
		time.Sleep(pollEvery)
	}
}
