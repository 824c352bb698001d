package main

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/srvbridge/srvbridge/cache"
	"github.com/srvbridge/srvbridge/health"
	"github.com/srvbridge/srvbridge/internal/admin"
)

type fakeStatus struct {
	st   cache.StoreStatus
	last cache.StatusFilter
}

func (f *fakeStatus) Status(q cache.StatusFilter) cache.StoreStatus {
	f.last = q
	return f.st
}

// The status page's listing: which instances are in the answers (an instance is its
// node and ID), the bound on instances, and the fallback by name.
func TestStoreListing(t *testing.T) {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	web1 := health.Instance{ID: "web-1", Node: "n1", Address: "10.0.0.1", Port: 8080, Weight: 1, RawStatus: "passing", Tags: []string{"v1"}}
	web2 := health.Instance{ID: "web-2", Node: "n2", Address: "10.0.0.2", Port: 8081, Weight: 2, RawStatus: "critical"}
	web1n3 := health.Instance{ID: "web-1", Node: "n3", Address: "10.0.0.3", Port: 8080, Weight: 1, RawStatus: "critical"}
	api := health.Instance{ID: "api-1", Node: "n1", Address: "10.0.0.1", Port: 9090, Weight: 1, RawStatus: "critical"}
	f := &fakeStatus{st: cache.StoreStatus{LocalDC: "dc1", Matched: 2, Catalog: 5, Services: []cache.ServiceStatus{
		{Name: "web", Datacenter: "dc1", LastUsed: at.Add(time.Second),
			Service: &cache.Service{Instances: []health.Instance{web1}, All: []health.Instance{web1, web1n3, web2}, Updated: at}},
		{Name: "api", Datacenter: "dc2", LastUsed: at,
			Service: &cache.Service{Instances: []health.Instance{api}, All: []health.Instance{api}, Fallback: health.FallbackAll, Updated: at}},
	}}}

	got := storeListing{f}.Services(admin.ServiceQuery{Contains: "W", Limit: 7, Instances: 2})
	if f.last != (cache.StatusFilter{Contains: "W", Limit: 7}) {
		t.Errorf("filter passed to the cache: %+v", f.last)
	}
	want := admin.Listing{Datacenter: "dc1", Matched: 2, Catalog: 5, Services: []admin.ServiceStatus{
		{Name: "web", Datacenter: "dc1", Served: 1, Listed: 3, Updated: at, LastUsed: at.Add(time.Second),
			Instances: []admin.InstanceStatus{
				{ID: "web-1", Node: "n1", Address: "10.0.0.1", Port: 8080, Weight: 1, Health: "passing", Served: true, Tags: []string{"v1"}},
				{ID: "web-1", Node: "n3", Address: "10.0.0.3", Port: 8080, Weight: 1, Health: "critical"},
			}},
		{Name: "api", Datacenter: "dc2", Served: 1, Listed: 1, Fallback: "all", Updated: at, LastUsed: at,
			Instances: []admin.InstanceStatus{{ID: "api-1", Node: "n1", Address: "10.0.0.1", Port: 9090, Weight: 1, Health: "critical", Served: true}}},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("listing:\n got %+v\nwant %+v", got, want)
	}
	if all := (storeListing{f}).Services(admin.ServiceQuery{}); len(all.Services[0].Instances) != 3 {
		t.Errorf("no bound: %d instances of web, want 3", len(all.Services[0].Instances))
	}
}

// admin recognises health's refusals by their behaviour (admin.Refusal), wrapped as
// health returns them: catalog-wide ones make srvbridge unready, a hidden service
// does not, and neither reads as Consul being unreachable.
func TestHealthRefusalsForAdmin(t *testing.T) {
	refusal := func(k health.Kind) error {
		return fmt.Errorf("local datacenter: %w", &health.PermissionError{Kind: k, Endpoint: "/v1/x",
			Permission: "service:read", Cause: "answered 403 Permission denied"})
	}
	ready := func() (bool, string) { return true, "" }
	if ok, reason := admin.ReadyUnlessRefused(ready, func() error { return refusal(health.KindCatalog) })(); ok ||
		!strings.HasPrefix(reason, "permission denied: ") {
		t.Errorf("catalog refused: ready %v %q", ok, reason)
	}
	if ok, _ := admin.ReadyUnlessRefused(ready, func() error { return refusal(health.KindService) })(); !ok {
		t.Error("one service refused: not ready")
	}
	if p := admin.ConsulProblem(refusal(health.KindDatacenters)); !strings.HasPrefix(p, "permission denied: ") {
		t.Errorf("ConsulProblem of a refusal: %q", p)
	}
}
