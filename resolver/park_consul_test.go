package resolver

import (
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/internal/bridgetest"
	"github.com/srvbridge/srvbridge/internal/consultest"
)

// TestColdBurstConsul: srvbridge with default flags (on demand) over a real Consul
// agent with 500 services nobody asked for yet; 4 clients ask for all of them at
// once over UDP. Every query is answered NOERROR, none SERVFAIL.
func TestColdBurstConsul(t *testing.T) {
	const names, clients = 500, 4
	a := consultest.Start(t)
	registerCold(t, a, names)
	b := bridgetest.Start(t, a.HTTPAddr, "--upstream", "none")

	askers := burst(t, b.DNSAddr, names, clients)
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, _ := received(askers)
		if got == names*clients || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	got, by := received(askers)
	if got != names*clients || by[dns.RcodeSuccess] != names*clients || by[dns.RcodeServerFailure] != 0 {
		t.Errorf("%d replies to %d queries, by rcode %v; want all NOERROR", got, names*clients, by)
	}
	for _, as := range askers {
		for _, p := range as.problems() {
			t.Error(p)
		}
	}
	m := b.Metrics(t)
	t.Logf("first-fetch waits %v, overload SERVFAIL %v", m["srvbridge_dns_first_fetch_waits_total"], m["srvbridge_dns_overload_servfail_total"])
	if m["srvbridge_dns_first_fetch_waits_total"] == 0 {
		t.Error("no query waited for a first fetch: the names were not cold")
	}
	if n := m["srvbridge_dns_overload_servfail_total"]; n != 0 {
		t.Errorf("%v queries refused as overload", n)
	}
}

// registerCold writes services svc-0000… with one instance each at coldAddr, in
// transactions of 64 operations.
func registerCold(t *testing.T, a *consultest.Agent, n int) {
	t.Helper()
	node := &api.TxnOp{Node: &api.NodeTxnOp{Verb: api.NodeSet, Node: api.Node{Node: "cold", Address: "127.0.9.1"}}}
	ops := api.TxnOps{node}
	flush := func() {
		ok, resp, _, err := a.Client.Txn().Txn(ops, nil)
		if err != nil || !ok {
			t.Fatalf("register: %v %v", err, resp.Errors)
		}
		ops = api.TxnOps{}
	}
	for i := range n {
		ops = append(ops, &api.TxnOp{Service: &api.ServiceTxnOp{Verb: api.ServiceSet, Node: "cold",
			Service: api.AgentService{ID: coldName(i), Service: coldName(i), Address: coldAddr(i).String(), Port: 80}}})
		if len(ops) == 64 {
			flush()
		}
	}
	if len(ops) > 0 {
		flush()
	}
}
