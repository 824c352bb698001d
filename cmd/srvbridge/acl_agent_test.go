package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/internal/bridgetest"
	"github.com/srvbridge/srvbridge/internal/consultest"
)

// These tests run srvbridge as a process against a real Consul agent with ACLs on
// (default deny, Consul's limits at their defaults), with the token in
// CONSUL_HTTP_TOKEN as an operator sets it, and ask it over real DNS.

const aclSettle = 20 * time.Second

type aclBridge struct {
	admin, dns string
	logs       *lockedLog
	cmd        *exec.Cmd
	exited     chan struct{} // closed once the process has exited
}

type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startACLAgent starts an agent with ACLs on and two services, web and api.
func startACLAgent(t *testing.T) *consultest.Agent {
	t.Helper()
	return consultest.StartACL(t, api.AgentServiceRegistration{ID: "web-1", Name: "web", Port: 8080},
		api.AgentServiceRegistration{ID: "api-1", Name: "api", Port: 9090})
}

// launchACLBridge runs srvbridge with token ("" sends none) and extra flags.
func launchACLBridge(t *testing.T, a *consultest.Agent, token string, extra ...string) *aclBridge {
	t.Helper()
	port, err := bridgetest.FreeDNSPort()
	if err != nil {
		t.Fatal(err)
	}
	b := &aclBridge{admin: freePort(t), dns: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), logs: &lockedLog{}}
	b.cmd = srvbridgeCmd(t, append([]string{"--consul-addr", a.HTTPAddr, "--http-addr", b.admin,
		"--dns-addr", b.dns, "--upstream", "none", "--log-level", "debug"}, extra...)...)
	if token != "" {
		b.cmd.Env = append(b.cmd.Env, "CONSUL_HTTP_TOKEN="+token)
	}
	b.cmd.Stdout, b.cmd.Stderr = b.logs, b.logs
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b.exited = make(chan struct{})
	go func() { b.cmd.Wait(); close(b.exited) }()
	t.Cleanup(func() {
		b.cmd.Process.Kill()
		<-b.exited
		if t.Failed() {
			t.Logf("srvbridge log:\n%s", b.logs.String())
		}
		if token != "" && strings.Contains(b.logs.String(), token) {
			t.Error("the token is in srvbridge's log")
		}
	})
	return b
}

func (b *aclBridge) get(path string) (int, string, error) {
	resp, err := http.Get("http://" + b.admin + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// waitReadyz polls /readyz until it answers code with a body containing want.
func (b *aclBridge) waitReadyz(t *testing.T, code int, want string) string {
	t.Helper()
	var last string
	consultest.Eventually(t, aclSettle, func() error {
		c, body, err := b.get("/readyz")
		last = fmt.Sprintf("%d %q", c, body)
		if err != nil || c != code || !strings.Contains(body, want) {
			return fmt.Errorf("/readyz: %s, %v; want %d with %q", last, err, code, want)
		}
		return nil
	})
	return last
}

func (b *aclBridge) query(t *testing.T, name string, qtype uint16) *dns.Msg {
	t.Helper()
	r, err := bridgetest.Exchange(b.dns, "udp", name, qtype)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// metric returns the value of one sample of /metrics, "" if absent.
func (b *aclBridge) metric(t *testing.T, sample string) string {
	t.Helper()
	_, body, err := b.get("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			return v
		}
	}
	return ""
}

// TestACLDNSTokenServes: the read-only token Consul documents for DNS has no
// agent:read. srvbridge learns the datacenter from the catalog, becomes ready and
// answers; with --datacenter it does not even ask /v1/agent/self.
func TestACLDNSTokenServes(t *testing.T) {
	a := startACLAgent(t)
	token := a.CreateToken(t, consultest.DNSReadRules)
	for _, flags := range [][]string{nil, {"--datacenter", a.Datacenter}} {
		t.Run(fmt.Sprint(flags), func(t *testing.T) {
			b := launchACLBridge(t, a, token, flags...)
			b.waitReadyz(t, 200, "ready")
			srv := b.query(t, "web.service.consul", dns.TypeSRV)
			if srv.Rcode != dns.RcodeSuccess || len(srv.Answer) != 1 || srv.Answer[0].(*dns.SRV).Port != 8080 {
				t.Errorf("web SRV: %s", bridgetest.Summary(srv))
			}
			ip := b.query(t, "api.service.consul", dns.TypeA)
			if ip.Rcode != dns.RcodeSuccess || len(ip.Answer) != 1 || ip.Answer[0].(*dns.A).A.String() != "127.0.0.1" {
				t.Errorf("api A: %s", bridgetest.Summary(ip))
			}
			if nx := b.query(t, "nope.service.consul", dns.TypeA); nx.Rcode != dns.RcodeNameError {
				t.Errorf("unregistered name: %s, want NXDOMAIN", bridgetest.Summary(nx))
			}
			wantDenied := "1" // /v1/agent/self, once
			if flags != nil {
				wantDenied = "0"
			}
			if got := b.metric(t, `srvbridge_consul_denied_total{kind="datacenters"}`); got != wantDenied {
				t.Errorf(`srvbridge_consul_denied_total{kind="datacenters"} = %q, want %s`, got, wantDenied)
			}
		})
	}
}

// TestACLRefusedTokenNotReady: without a token, with one Consul does not know, and
// with one that may read services but no node, srvbridge is not ready and says which
// permission is missing, and registered names are SERVFAIL: never NXDOMAIN, which
// clients would cache as "this service does not exist".
func TestACLRefusedTokenNotReady(t *testing.T) {
	a := startACLAgent(t)
	for _, tt := range []struct {
		name, token, want string
		flags             []string
	}{
		{"no token", "", "no token was sent, and Consul's anonymous token lacks service:read", nil},
		{"no token, --datacenter", "", "no token was sent, and Consul's anonymous token lacks service:read",
			[]string{"--datacenter", a.Datacenter}},
		{"unknown token", consultest.NewUUID(), "403 ACL not found to /v1/catalog/services", nil},
		{"no node:read", a.CreateToken(t, `service_prefix "" { policy = "read" }`), "lacks node:read", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := launchACLBridge(t, a, tt.token, tt.flags...)
			got := b.waitReadyz(t, 503, tt.want)
			if !strings.Contains(got, "permission denied") {
				t.Errorf("/readyz %s does not say permission denied", got)
			}
			for _, q := range []struct {
				name  string
				qtype uint16
			}{{"web.service.consul", dns.TypeSRV}, {"api.service.consul", dns.TypeA}} {
				if r := b.query(t, q.name, q.qtype); r.Rcode != dns.RcodeServerFailure {
					t.Errorf("%s: %s, want SERVFAIL", q.name, bridgetest.Summary(r))
				}
			}
			if _, page, _ := b.get("/"); !strings.Contains(page, "refuses the ACL token") {
				t.Errorf("status page does not say Consul refuses the token")
			}
			if got := b.metric(t, `srvbridge_consul_requests_total{kind="probe"}`); got != "0" {
				t.Errorf("outage probes = %s: a refused token closed the outage gate", got)
			}
		})
	}
}

// TestACLUnknownDatacenterFlag: --datacenter naming a datacenter Consul does not
// know is a configuration error, reported at start.
func TestACLUnknownDatacenterFlag(t *testing.T) {
	a := startACLAgent(t)
	b := launchACLBridge(t, a, a.CreateToken(t, consultest.DNSReadRules), "--datacenter", "nowhere")
	select {
	case <-b.exited:
	case <-time.After(aclSettle):
		t.Fatal("still running with an unknown --datacenter")
	}
	if b.cmd.ProcessState.Success() || !strings.Contains(b.logs.String(), `--datacenter \"nowhere\": unknown datacenter: Consul knows dc1`) {
		t.Errorf("%v; log:\n%s", b.cmd.ProcessState, b.logs.String())
	}
}
