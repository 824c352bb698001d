package health

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/srvbridge/srvbridge/internal/consultest"
)

// These tests run a real agent with ACLs on and default deny, and watch it with the
// tokens an operator may give srvbridge.

func aclWatcher(t *testing.T, a *consultest.Agent, token string) *Watcher {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: a.HTTPAddr, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return NewWatcher(Config{Client: c, AllowStale: true, WaitTime: 5 * time.Second})
}

func startACLAgent(t *testing.T) *consultest.Agent {
	t.Helper()
	return consultest.StartACL(t, api.AgentServiceRegistration{ID: "web-1", Name: "web", Port: 8080},
		api.AgentServiceRegistration{ID: "api-1", Name: "api", Port: 9090})
}

// TestACLDNSToken: the read-only token Consul documents for DNS has no agent:read,
// so the local datacenter comes from the catalog; everything else just works.
func TestACLDNSToken(t *testing.T) {
	a := startACLAgent(t)
	w := aclWatcher(t, a, a.CreateToken(t, consultest.DNSReadRules))
	ctx := context.Background()
	for range 2 {
		if dc, err := w.LocalDatacenter(ctx); err != nil || dc != a.Datacenter {
			t.Fatalf("LocalDatacenter = %q, %v; want %q without agent:read", dc, err, a.Datacenter)
		}
	}
	if n := w.Stats().Requests(KindDatacenters); n != 3 {
		t.Errorf("%d datacenter requests for two calls, want 3: /v1/agent/self is asked once", n)
	}
	servesWeb(t, w)
}

// TestACLNarrowToken: a token that may read one service works for it; the catalog
// lists only what it may read, and that is no refusal.
func TestACLNarrowToken(t *testing.T) {
	a := startACLAgent(t)
	w := aclWatcher(t, a, a.CreateToken(t, `service_prefix "web" { policy = "read" }
node_prefix "" { policy = "read" }`))
	cat := &recorder[Catalog]{}
	watch(t, func(ctx context.Context) error { return w.WatchCatalog(ctx, "", cat.add) })
	waitLast(t, cat, func(c Catalog) error {
		if _, ok := c.Services["web"]; !ok || len(c.Services) != 1 {
			return fmt.Errorf("catalog %v, want web only", c.Services)
		}
		return nil
	})
	servesWeb(t, w)
}

// servesWeb watches web until its instance arrives, and checks that nothing was
// refused on the way.
func servesWeb(t *testing.T, w *Watcher) {
	t.Helper()
	r := watchService(t, w, "", "web")
	waitLast(t, r, func(u ServiceState) error {
		_, err := only(u, "web-1")
		return err
	})
	if err := w.Denied(); err != nil {
		t.Errorf("Denied() = %v with a token that may read web", err)
	}
}

// TestACLRefusedTokens: no token, an unknown token, and tokens missing service:read
// or node:read. Consul answers 403 to some and 200 with empty lists to others; either
// way no watch may deliver the emptiness (which DNS would answer NXDOMAIN for
// registered names), the outage gate stays open, and Denied names what is missing.
func TestACLRefusedTokens(t *testing.T) {
	a := startACLAgent(t)
	for _, tt := range []struct {
		name  string
		token string
		kind  Kind   // the watch that is refused
		want  string // in Denied()
	}{
		{"no token", "", KindCatalog, "no token was sent, and Consul's anonymous token lacks service:read"},
		{"unknown token", consultest.NewUUID(), KindCatalog, "403 ACL not found"},
		{"no service:read", a.CreateToken(t, `node_prefix "" { policy = "read" }`), KindCatalog, "lacks service:read"},
		// The feed's node list is refused too, and comes first in Denied().
		{"no node:read", a.CreateToken(t, `service_prefix "" { policy = "read" }`), KindService, "lacks node:read"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := aclWatcher(t, a, tt.token)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			delivered := make(chan string, 1)
			var run func() error
			switch tt.kind {
			case KindCatalog:
				run = func() error {
					return w.WatchCatalog(ctx, "", func(c Catalog) { delivered <- fmt.Sprint(c.Services) })
				}
			default:
				run = func() error {
					w.Hold("", "web")
					return w.WatchDatacenter(ctx, "", serviceSink(func(u ServiceState) { delivered <- fmt.Sprint(u.Instances) }))
				}
			}
			done := make(chan error, 1)
			go func() { done <- run() }()
			consultest.Eventually(t, settle, func() error {
				if w.Stats().Denials(tt.kind) < 2 {
					return errors.New("waiting for two refused requests")
				}
				return nil
			})
			err := w.Denied()
			if !errors.Is(err, ErrPermission) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Denied() = %v, want a refusal saying %q", err, tt.want)
			}
			select {
			case got := <-delivered:
				t.Errorf("the refused watch delivered %s", got)
			default:
			}
			if n := w.Stats().Requests(KindProbe); n != 0 {
				t.Errorf("%d outage probes: a refused token closed the gate", n)
			}
			if o := w.Stats().Outage(); o != 0 {
				t.Errorf("Outage() = %v for a Consul that answers", o)
			}
			cancel()
			<-done
			if err := w.Denied(); err != nil {
				t.Errorf("Denied() = %v after the watch stopped", err)
			}
		})
	}
}

// TestACLLocalDatacenterRefused: with neither agent:read nor node:read, a single
// datacenter is still known from /v1/catalog/datacenters, which needs no ACL.
func TestACLLocalDatacenterRefused(t *testing.T) {
	a := startACLAgent(t)
	for _, token := range []string{"", consultest.NewUUID()} {
		w := aclWatcher(t, a, token)
		if dc, err := w.LocalDatacenter(context.Background()); err != nil || dc != a.Datacenter {
			t.Errorf("token %q: LocalDatacenter = %q, %v; want %q", token, dc, err, a.Datacenter)
		}
		if w.Stats().Denials(KindDatacenters) != 2 {
			t.Errorf("token %q: %d refusals counted, want 2 (agent/self, catalog/nodes)", token, w.Stats().Denials(KindDatacenters))
		}
		if err := w.Denied(); err != nil {
			t.Errorf("token %q: Denied() = %v although the datacenter is known", token, err)
		}
	}
}

// TestACLTokenLosesNodeRead: the token's policy loses node:read while a service is
// watched, and the service changes. Blocking health queries go to Consul's streaming
// backend, which never says it filtered anything: measured on 1.16.3, the service's
// watch just stops seeing changes. It must not deliver an empty service (NXDOMAIN
// for a registered name), and the node list reports the refusal.
func TestACLTokenLosesNodeRead(t *testing.T) {
	a := startACLAgent(t)
	acl := a.Client.ACL()
	pol, _, err := acl.PolicyCreate(&api.ACLPolicy{Name: "shrinking", Rules: consultest.DNSReadRules}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := acl.TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{ID: pol.ID}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := aclWatcher(t, a, tok.SecretID)
	r := watchService(t, w, "", "web")
	nodes := &recorder[Nodes]{}
	watch(t, func(ctx context.Context) error { return w.WatchNodes(ctx, "", nodes.add) })
	waitLast(t, r, func(u ServiceState) error {
		_, err := only(u, "web-1")
		return err
	})
	waitLast(t, nodes, func(Nodes) error { return nil })

	pol.Rules = `service_prefix "" { policy = "read" }`
	if _, _, err := acl.PolicyUpdate(pol, nil); err != nil {
		t.Fatal(err)
	}
	a.RegisterService(t, api.AgentServiceRegistration{ID: "web-2", Name: "web", Port: 8081})
	a.Deregister(t, "web-1")
	consultest.Eventually(t, settle, func() error {
		if w.Stats().Denials(KindNodes) == 0 {
			return errors.New("waiting for the node list's refusal")
		}
		return nil
	})
	for _, u := range r.all() {
		if len(u.Instances) == 0 {
			t.Fatalf("delivered an empty web after the token lost node:read: %+v", r.all())
		}
	}
	var pe *PermissionError
	if err := w.Denied(); !errors.As(err, &pe) || pe.Permission != "node:read" {
		t.Errorf("Denied() = %v, want the node list's refusal", err)
	}
}

// serviceSink passes a feed's service states to fn and drops the rest.
type serviceSink func(ServiceState)

func (serviceSink) Catalog(Catalog)           {}
func (serviceSink) Nodes(Nodes)               {}
func (f serviceSink) Service(st ServiceState) { f(st) }
