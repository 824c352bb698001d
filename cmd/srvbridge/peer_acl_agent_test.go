package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/internal/bridgetest"
	"github.com/srvbridge/srvbridge/internal/consultest"
)

// TestACLPeerNames: with ACLs on the importing side, a token with the minimal DNS
// policy and peering:read answers a service imported from a cluster peer; the
// minimal policy alone (no peering:read) answers NXDOMAIN, says why once, and
// stays ready.
func TestACLPeerNames(t *testing.T) {
	exp := consultest.Start(t, consultest.WithDatacenter("dc1"), consultest.WithNodeName("exp"))
	imp := consultest.Start(t, consultest.WithDatacenter("dc2"), consultest.WithNodeName("imp"), consultest.WithACL())
	consultest.Peer(t, exp, "east", imp, "west")
	exp.RegisterService(t, api.AgentServiceRegistration{ID: "web-1", Name: "web", Address: "127.0.0.11", Port: 8080})
	exp.Export(t, "east", "web")
	consultest.Eventually(t, aclSettle, func() error {
		got, _, err := imp.Client.Health().Service("web", "", false, &api.QueryOptions{Peer: "west"})
		if err == nil && len(got) != 1 {
			err = fmt.Errorf("%d instances of web imported", len(got))
		}
		return err
	})
	const name = "web.service.west.peer.consul"

	t.Run("peering read", func(t *testing.T) {
		token := imp.CreateToken(t, consultest.DNSReadRules+"peering = \"read\"\n")
		b := launchACLBridge(t, imp, token)
		b.waitReadyz(t, 200, "ready")
		if r := queryUntil(t, b, name, dns.RcodeSuccess); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "127.0.0.11" {
			t.Errorf("%s A: %s", name, bridgetest.Summary(r))
		}
	})

	t.Run("minimal policy", func(t *testing.T) {
		token := imp.CreateToken(t, consultest.DNSReadRules)
		b := launchACLBridge(t, imp, token)
		b.waitReadyz(t, 200, "ready")
		// Until the datacenter list is read once, a name of another datacenter or
		// peer cannot be refused yet (SERVFAIL), as for any remote datacenter.
		if r := queryUntil(t, b, name, dns.RcodeNameError); r.Rcode != dns.RcodeNameError {
			t.Errorf("%s A without peering:read: %s, want NXDOMAIN", name, bridgetest.Summary(r))
		}
		// srvbridge logs the refusal before it answers NXDOMAIN, but its log reaches
		// b.logs through a pipe and a copying goroutine, which may lag the reply.
		consultest.Eventually(t, aclSettle, func() error {
			if !strings.Contains(b.logs.String(), "cannot list cluster peers") {
				return errors.New("the missing peering:read is not said yet")
			}
			return nil
		})
		logs := b.logs.String()
		if n := strings.Count(logs, "cannot list cluster peers"); n != 1 {
			t.Errorf("the missing peering:read is said %d times, want once; log:\n%s", n, logs)
		}
		if strings.Contains(logs, token) {
			t.Error("the token is in the log")
		}
		b.waitReadyz(t, 200, "ready")
	})
}

// queryUntil asks name's A record until the rcode is want or aclSettle passes, and
// returns the last reply.
func queryUntil(t *testing.T, b *aclBridge, name string, want int) *dns.Msg {
	t.Helper()
	for deadline := time.Now().Add(aclSettle); ; time.Sleep(10 * time.Millisecond) {
		r := b.query(t, name, dns.TypeA)
		if r.Rcode == want || time.Now().After(deadline) {
			return r
		}
	}
}
