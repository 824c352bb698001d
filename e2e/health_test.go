package e2e

import (
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/health"
	"github.com/srvbridge/srvbridge/internal/bridgetest"
	"github.com/srvbridge/srvbridge/internal/consultest"
)

var (
	t1 = "7f00000b.addr.dc1.consul.:8081"
	t2 = "7f00000c.addr.dc1.consul.:8082"
	t3 = "7f00000d.addr.dc1.consul.:8083"
)

func threeWeb(t *testing.T, a *consultest.Agent) {
	instance(t, a, "web", "web-1", "127.0.0.11", 8081)
	instance(t, a, "web", "web-2", "127.0.0.12", 8082)
	instance(t, a, "web", "web-3", "127.0.0.13", 8083)
}

// threeWebBridge is the common start: a Consul agent with threeWeb, and srvbridge
// already answering with all three.
func threeWebBridge(t *testing.T) (*consultest.Agent, *bridgetest.Bridge) {
	t.Helper()
	a := consultest.Start(t)
	threeWeb(t, a)
	b := bridgetest.Start(t, a.HTTPAddr)
	waitFor(t, b, "web.service.consul", dns.TypeSRV, hasTargets(t1, t2, t3))
	return a, b
}

// TestHealthPropagation flips one instance's check and measures how long the DNS
// answer takes to follow. Run with -v to see the delays.
func TestHealthPropagation(t *testing.T) {
	a, b := threeWebBridge(t)

	// Changes are spaced past the watch's rate limit (health.DefaultMinInterval,
	// with a small burst): one service changing faster than that is deliberately
	// coalesced, and the delay measured would be the limit, not the pipeline.
	const flips = 10
	gap := 2 * health.DefaultMinInterval
	var delays []time.Duration
	for i := 0; i < flips; i++ {
		time.Sleep(gap)
		a.SetTTL(t, "service:web-2", "fail")
		delays = append(delays, waitFor(t, b, "web.service.consul", dns.TypeSRV, hasTargets(t1, t3)))
		time.Sleep(gap)
		a.SetTTL(t, "service:web-2", "pass")
		delays = append(delays, waitFor(t, b, "web.service.consul", dns.TypeSRV, hasTargets(t1, t2, t3)))
	}
	// The A answer follows the same compiled state.
	a.SetTTL(t, "service:web-3", "fail")
	waitFor(t, b, "web.service.consul", dns.TypeA, func(r *dns.Msg) bool { return len(r.Answer) == 2 })

	sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
	t.Logf("propagation over %d changes (Consul change accepted → new DNS answer): p50 %v, p90 %v, max %v",
		len(delays), delays[len(delays)/2], delays[len(delays)*9/10], delays[len(delays)-1])
}

// TestRegistrationChanges adds and removes instances and whole services.
func TestRegistrationChanges(t *testing.T) {
	a := consultest.Start(t)
	instance(t, a, "web", "web-1", "127.0.0.11", 8081)
	b := bridgetest.Start(t, a.HTTPAddr)
	waitFor(t, b, "web.service.consul", dns.TypeSRV, hasTargets(t1))

	instance(t, a, "web", "web-2", "127.0.0.12", 8082)
	waitFor(t, b, "web.service.consul", dns.TypeSRV, hasTargets(t1, t2))
	a.Deregister(t, "web-1")
	waitFor(t, b, "web.service.consul", dns.TypeSRV, hasTargets(t2))
	a.Deregister(t, "web-2")
	waitFor(t, b, "web.service.consul", dns.TypeSRV, isRcode(dns.RcodeNameError))

	// A service registered after srvbridge started, first asked for after that.
	waitFor(t, b, "late.service.consul", dns.TypeA, isRcode(dns.RcodeNameError))
	instance(t, a, "late", "late-1", "127.0.0.41", 9400)
	waitFor(t, b, "late.service.consul", dns.TypeA, func(r *dns.Msg) bool {
		return slices.Equal(bridgetest.Lines(r.Answer), []string{"late.service.consul. 5 IN A 127.0.0.41"})
	})
	// Instances on other nodes, registered straight into the catalog.
	a.RegisterExternal(t, "node-b", "127.0.0.50", &api.AgentService{ID: "late-2", Service: "late", Port: 9401})
	waitFor(t, b, "late.service.consul", dns.TypeSRV, hasTargets("7f000029.addr.dc1.consul.:9400", "node-b.node.dc1.consul.:9401"))
}

// TestMaintenanceAndWarning: maintenance excludes, warning stays unless --only-passing.
func TestMaintenanceAndWarning(t *testing.T) {
	a := consultest.Start(t)
	threeWeb(t, a)
	b := bridgetest.Start(t, a.HTTPAddr)
	strict := bridgetest.Start(t, a.HTTPAddr, "--only-passing")
	for _, br := range []*bridgetest.Bridge{b, strict} {
		waitFor(t, br, "web.service.consul", dns.TypeSRV, hasTargets(t1, t2, t3))
	}

	a.Maintenance(t, "web-1", true)
	waitFor(t, b, "web.service.consul", dns.TypeSRV, hasTargets(t2, t3))
	a.Maintenance(t, "web-1", false)
	waitFor(t, b, "web.service.consul", dns.TypeSRV, hasTargets(t1, t2, t3))

	a.SetTTL(t, "service:web-3", "warn")
	waitFor(t, strict, "web.service.consul", dns.TypeSRV, hasTargets(t1, t2))
	// The default bridge saw the same change and still serves the warning instance.
	r := b.Query(t, "web.service.consul", dns.TypeSRV)
	if got := bridgetest.Targets(r); !slices.Equal(got, []string{t1, t2, t3}) {
		t.Fatalf("warning instance left out without --only-passing: %v", got)
	}

	// Node maintenance takes out every instance on the node.
	a.Maintenance(t, "", true)
	waitFor(t, b, "web.service.consul", dns.TypeSRV, isRcode(dns.RcodeNameError))
}

// TestWeights: SRV weight follows Weights.Passing / Weights.Warning.
func TestWeights(t *testing.T) {
	a := consultest.Start(t)
	a.RegisterService(t, api.AgentServiceRegistration{
		Name: "w", ID: "w-1", Address: "127.0.0.11", Port: 8081,
		Weights: &api.AgentWeights{Passing: 10, Warning: 2},
		Check:   &api.AgentServiceCheck{CheckID: "service:w-1", TTL: "10m", Status: api.HealthPassing},
	})
	instance(t, a, "w", "w-2", "127.0.0.12", 8082)
	b := bridgetest.Start(t, a.HTTPAddr)
	weights := func(want ...uint16) func(*dns.Msg) bool {
		return func(r *dns.Msg) bool {
			var got []uint16
			for _, rr := range r.Answer {
				got = append(got, rr.(*dns.SRV).Weight)
			}
			slices.Sort(got)
			return slices.Equal(got, want)
		}
	}
	waitFor(t, b, "w.service.consul", dns.TypeSRV, weights(1, 10))
	a.SetTTL(t, "service:w-1", "warn")
	waitFor(t, b, "w.service.consul", dns.TypeSRV, weights(1, 2))
}

// TestConsulRestart: a restarted dev agent has an empty catalog and a lower index;
// srvbridge must notice both and recover when services come back.
func TestConsulRestart(t *testing.T) {
	a, b := threeWebBridge(t)

	a.Restart()
	waitFor(t, b, "web.service.consul", dns.TypeSRV, isRcode(dns.RcodeNameError))
	instance(t, a, "web", "web-2", "127.0.0.12", 8082)
	waitFor(t, b, "web.service.consul", dns.TypeSRV, hasTargets(t2))
	a.SetTTL(t, "service:web-2", "fail")
	waitFor(t, b, "web.service.consul", dns.TypeSRV, isRcode(dns.RcodeNameError))
}
