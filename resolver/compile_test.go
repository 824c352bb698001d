package resolver

import (
	"fmt"
	"slices"
	"testing"

	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/cache"
	"github.com/srvbridge/srvbridge/health"
	"github.com/srvbridge/srvbridge/resolver/wire"
)

// compiled builds the reply a query for name and qtype gets from svc, without
// Consul: the compiler's own work, in the fast tier. It returns every rotation.
func compiled(t *testing.T, svc *cache.Service, name string, qtype uint16, limit uint16) []*dns.Msg {
	t.Helper()
	a := testCompiler(t).Compile(nil, svc)
	v := a.build([]byte(name), variantKey{qtype: qtype, limit: limit})
	if v.failed {
		t.Fatalf("%s: build failed", name)
	}
	var out []*dns.Msg
	for _, b := range everyRotation(v) {
		m := new(dns.Msg)
		if err := m.Unpack(b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, m)
	}
	return out
}

// TestDuplicateEndpointsMerged: two registrations of one endpoint (same node,
// address and port) give one SRV record, in every rotation, with the first
// instance's weight; two ports on one node give two records but one glue record.
func TestDuplicateEndpointsMerged(t *testing.T) {
	inst := func(id, node, addr string, own bool, port, weight uint16) health.Instance {
		return health.Instance{ID: id, Node: node, NodeAddress: "10.0.0.1", Address: addr, OwnAddress: own, Port: port, Weight: weight}
	}
	svc := &cache.Service{Name: "web", Datacenter: "dc1", Instances: []health.Instance{
		inst("a", "n1", "10.0.0.9", true, 80, 7),
		inst("b", "n1", "10.0.0.9", true, 80, 3), // a again
		inst("c", "n1", "10.0.0.1", false, 80, 1),
		inst("d", "n1", "10.0.0.1", false, 80, 1), // c again
		inst("e", "n1", "10.0.0.1", false, 81, 1), // c's node, another port
		inst("f", "n2", "10.0.0.9", true, 81, 1),
	}}
	for _, m := range compiled(t, svc, "web.service.consul.", wire.TypeSRV, wire.MaxMsgLen) {
		seen := map[string]bool{}
		for _, rr := range m.Answer {
			srv := rr.(*dns.SRV)
			key := fmt.Sprint(srv.Target, srv.Port)
			if seen[key] {
				t.Errorf("duplicate SRV record %v", srv)
			}
			seen[key] = true
			if srv.Target == "0a000009.addr.dc1.consul." && srv.Port == 80 && srv.Weight != 7 {
				t.Errorf("merged record has weight %d, want the first instance's 7", srv.Weight)
			}
		}
		if len(m.Answer) != 4 {
			t.Errorf("%d SRV records, want 4 distinct endpoints:\n%v", len(m.Answer), m)
		}
		glue := map[string]bool{}
		for _, rr := range m.Extra {
			if glue[rr.String()] {
				t.Errorf("duplicate glue %v", rr)
			}
			glue[rr.String()] = true
		}
		if len(m.Extra) != 2 {
			t.Errorf("%d glue records, want 2 (one per target):\n%v", len(m.Extra), m)
		}
	}
}

// TestMetaTXT: node metadata is encoded as Consul encodes it (agent/dns.go,
// encodeKVasRFC1464, Consul 1.16).
func TestMetaTXT(t *testing.T) {
	tests := []struct{ key, value, want string }{
		{"plain", "x=y", "plain=x=y"},
		{"rfc1035-spf", "v=spf1 -all", "v=spf1 -all"},
		{"RFC1035-Upper", "bare", "bare"},
		{"rfc1035", "not the prefix", "rfc1035=not the prefix"},
		{"k`ey", "va`lue", "k``ey=va``lue"},
		{"a=b", "c", "a`=b=c"},
		{" sp ", "v", "` sp` =v"},
		{"  ", "v", "` `` =v"}, // as Consul 1.16.3 answers it
		{"", "", "="},
	}
	for _, tc := range tests {
		if got := metaTXT(tc.key, tc.value); got != tc.want {
			t.Errorf("metaTXT(%q, %q) = %q, want %q", tc.key, tc.value, got, tc.want)
		}
	}
}

// TestHostNameAddressAnswersCNAME: a service registered with a host name as its
// address (an external service) answers A, AAAA and ANY with a CNAME to that host,
// once per host, as Consul does; SRV keeps the host name as the target.
func TestHostNameAddressAnswersCNAME(t *testing.T) {
	svc := &cache.Service{Name: "ext", Datacenter: "dc1", Instances: []health.Instance{
		{ID: "a", Node: "n1", Address: "db.example.com", OwnAddress: true, Port: 5432, Weight: 1},
		{ID: "b", Node: "n2", Address: "DB.example.com.", OwnAddress: true, Port: 5432, Weight: 1}, // the same host
		{ID: "c", Node: "n3", Address: "10.0.0.7", OwnAddress: true, Port: 5432, Weight: 1},
	}}
	for _, qt := range []uint16{wire.TypeA, wire.TypeAAAA, wire.TypeANY} {
		m := compiled(t, svc, "ext.service.consul.", qt, wire.MaxMsgLen)[0]
		var cnames []string
		for _, rr := range m.Answer {
			if c, ok := rr.(*dns.CNAME); ok {
				cnames = append(cnames, c.Target)
			}
		}
		if len(cnames) != 1 || cnames[0] != "db.example.com." {
			t.Errorf("%s: CNAMEs %q, want one to db.example.com.:\n%v", dns.TypeToString[qt], cnames, m)
		}
		if m.Rcode != dns.RcodeSuccess {
			t.Errorf("%s: %s", dns.TypeToString[qt], dns.RcodeToString[m.Rcode])
		}
	}
	if m := compiled(t, svc, "ext.service.consul.", wire.TypeSRV, wire.MaxMsgLen)[0]; len(m.Answer) != 2 ||
		m.Answer[0].(*dns.SRV).Target != "db.example.com." {
		t.Errorf("SRV:\n%v", m)
	}
}

// TestOnlyHostNamesAnswerCNAMEToEveryType: a service whose instances all have a host
// name as their address holds only CNAMEs, which answer every type (RFC 1034 3.6.2);
// one with an IP address among them answers other types with NODATA.
func TestOnlyHostNamesAnswerCNAMEToEveryType(t *testing.T) {
	named := &cache.Service{Name: "named", Datacenter: "dc1", Instances: []health.Instance{
		{ID: "a", Node: "n1", Address: "db.example.com", OwnAddress: true, Port: 5432, Weight: 1},
	}}
	mixed := &cache.Service{Name: "mixed", Datacenter: "dc1", Instances: append(slices.Clone(named.Instances),
		health.Instance{ID: "c", Node: "n3", Address: "fd00::7", OwnAddress: true, Port: 5432, Weight: 1})}
	for _, qt := range []uint16{wire.TypeTXT, wire.TypeCNAME, dns.TypeMX, wire.TypePTR} {
		m := compiled(t, named, "named.service.consul.", qt, wire.MaxMsgLen)[0]
		if len(m.Answer) != 1 || m.Answer[0].(*dns.CNAME).Target != "db.example.com." {
			t.Errorf("named %s: want the CNAME:\n%v", dns.TypeToString[qt], m)
		}
		if m := compiled(t, mixed, "mixed.service.consul.", qt, wire.MaxMsgLen)[0]; len(m.Answer) != 0 || m.Rcode != dns.RcodeSuccess {
			t.Errorf("mixed %s: want NODATA:\n%v", dns.TypeToString[qt], m)
		}
	}
}
