package consultest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// Needs: the Consul v1.16.3 binary (built by deploy/consul/build.sh or SRVBRIDGE_CONSUL_BIN).
func TestAgentLifecycle(t *testing.T) {
	a := Start(t, WithDatacenter("dctest"), WithNodeName("n1"))

	if self, err := a.Client.Agent().Self(); err != nil {
		t.Fatal(err)
	} else if dc := self["Config"]["Datacenter"]; dc != "dctest" {
		t.Fatalf("datacenter = %v, want dctest", dc)
	}

	a.RegisterService(t, api.AgentServiceRegistration{
		ID: "web-1", Name: "web", Port: 8080, Address: "127.0.0.2",
		Check: &api.AgentServiceCheck{TTL: "1h", Status: api.HealthPassing},
	})
	a.RegisterExternal(t, "ext-1", "127.0.0.3", &api.AgentService{ID: "web-2", Service: "web", Port: 8081})

	Eventually(t, 10*time.Second, func() error {
		entries, _, err := a.Client.Health().Service("web", "", true, nil)
		if err != nil {
			return err
		}
		if len(entries) != 2 {
			return fmt.Errorf("%d passing instances, want 2", len(entries))
		}
		return nil
	})

	// Consul's own DNS must answer on DNSAddr: other packages compare against it.
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", a.DNSAddr)
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, srvs, err := r.LookupSRV(ctx, "", "", "web.service.consul")
	if err != nil {
		t.Fatalf("SRV via %s: %v", a.DNSAddr, err)
	}
	if len(srvs) != 2 {
		t.Fatalf("SRV answers = %d, want 2", len(srvs))
	}

	a.SetTTL(t, "service:web-1", "fail")
	Eventually(t, 10*time.Second, func() error {
		entries, _, err := a.Client.Health().Service("web", "", true, nil)
		if err != nil {
			return err
		}
		if len(entries) != 1 || entries[0].Service.ID != "web-2" {
			return fmt.Errorf("passing instances = %d, want only web-2", len(entries))
		}
		return nil
	})

	_, before, err := a.Client.Catalog().Services(nil)
	if err != nil {
		t.Fatal(err)
	}
	httpAddr, dnsAddr := a.HTTPAddr, a.DNSAddr

	a.Restart()

	if a.HTTPAddr != httpAddr || a.DNSAddr != dnsAddr {
		t.Fatalf("addresses changed across restart: %s %s -> %s %s", httpAddr, dnsAddr, a.HTTPAddr, a.DNSAddr)
	}
	svcs, after, err := a.Client.Catalog().Services(nil)
	if err != nil {
		t.Fatalf("client unusable after restart: %v", err)
	}
	if _, ok := svcs["web"]; ok {
		t.Fatalf("web still registered after dev-agent restart: %v", svcs)
	}
	if after.LastIndex >= before.LastIndex {
		t.Logf("note: catalog index did not go backwards (%d -> %d)", before.LastIndex, after.LastIndex)
	}
	if _, _, err := r.LookupSRV(ctx, "", "", "consul.service.consul"); err != nil {
		t.Fatalf("DNS after restart on %s: %v", a.DNSAddr, err)
	}
}

// With a data directory the agent persists what was registered through its own API and
// registers it again after a restart, while the catalog itself (Raft, in memory in dev
// mode) starts empty: a realistic agent restart.
func TestAgentRestartWithDataDir(t *testing.T) {
	a := Start(t, WithDataDir(t.TempDir()))
	a.RegisterService(t, api.AgentServiceRegistration{ID: "web-1", Name: "web", Port: 8080})
	a.RegisterExternal(t, "ext-1", "127.0.0.3", &api.AgentService{ID: "web-2", Service: "web", Port: 8081})
	httpAddr := a.HTTPAddr

	a.Restart()

	if a.HTTPAddr != httpAddr {
		t.Fatalf("HTTP address changed across restart: %s -> %s", httpAddr, a.HTTPAddr)
	}
	Eventually(t, 10*time.Second, func() error {
		entries, _, err := a.Client.Health().Service("web", "", false, nil)
		if err != nil {
			return err
		}
		if len(entries) != 1 || entries[0].Service.ID != "web-1" {
			return fmt.Errorf("%d instances after restart, want only the agent's web-1", len(entries))
		}
		return nil
	})
}

func TestAgentPauseKill(t *testing.T) {
	a := Start(t)

	a.Pause()
	c, err := api.NewClient(&api.Config{Address: a.HTTPAddr, HttpClient: shortClient()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Status().Leader(); err == nil {
		t.Fatal("paused agent answered")
	}
	a.Resume()
	if _, err := c.Status().Leader(); err != nil {
		t.Fatalf("resumed agent: %v", err)
	}

	a.Kill()
	if a.Running() {
		t.Fatal("agent still running after Kill")
	}
	_, err = c.Status().Leader()
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Fatalf("killed agent: err = %v, want a connection error", err)
	}
}

func shortClient() *http.Client { return &http.Client{Timeout: 500 * time.Millisecond} }
