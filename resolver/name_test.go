package resolver

import (
	"strings"
	"testing"

	"github.com/srvbridge/srvbridge/resolver/wire"
)

func TestParseName(t *testing.T) {
	zones := []zone{{name: []byte("consul.")}, {name: []byte("alt.example.")}}
	tests := []struct {
		name    string
		qtype   uint16
		kind    kind
		svc     string
		tag     string
		dc      string
		apexOff int
	}{
		{"web.service.consul.", wire.TypeSRV, kindService, "web", "", "", 12},
		{"web.service.dc1.consul.", wire.TypeA, kindService, "web", "", "dc1", 16},
		{"web.service.dc1.dc.consul.", wire.TypeA, kindService, "web", "", "dc1", 19},
		{"prod.web.service.consul.", wire.TypeA, kindService, "web", "prod", "", 17},
		{"v1.beta.web.service.consul.", wire.TypeSRV, kindService, "web", "v1.beta", "", 20},
		{"_web._tcp.service.consul.", wire.TypeSRV, kindService, "web", "", "", 18},
		{"_web._prod.service.dc2.consul.", wire.TypeSRV, kindService, "web", "prod", "dc2", 23},
		{"_web._tcp.consul.", wire.TypeSRV, kindService, "web", "", "", 10},
		{"_web._tcp.dc2.consul.", wire.TypeSRV, kindService, "web", "", "dc2", 14},
		{"_web._tcp.consul.", wire.TypeA, kindInvalid, "", "", "", 10},
		{"web.service.alt.example.", wire.TypeSRV, kindService, "web", "", "", 12},
		{"7f000001.addr.dc1.consul.", wire.TypeA, kindAddr, "7f000001", "", "dc1", 18},
		{"7f000001.addr.consul.", wire.TypeA, kindAddr, "7f000001", "", "", 14},
		{"a.b.addr.consul.", wire.TypeA, kindInvalid, "", "", "", 9},
		{"node1.node.consul.", wire.TypeA, kindNode, "node1", "", "", 11},
		{"my.node.name.node.dc1.consul.", wire.TypeA, kindNode, "my.node.name", "", "dc1", 22},
		{"pq.query.consul.", wire.TypeSRV, kindQuery, "pq", "", "", 9},
		{"pq.query.dc1.dc.consul.", wire.TypeSRV, kindInvalid, "", "", "", 16},
		{"pq.query.default.ns.consul.", wire.TypeSRV, kindInvalid, "", "", "", 20},
		{"web.service.default.ns.consul.", wire.TypeA, kindService, "web", "", "", 23},
		{"web.service.default.ap.consul.", wire.TypeA, kindService, "web", "", "", 23},
		{"web.service.default.ns.default.ap.consul.", wire.TypeA, kindService, "web", "", "", 34},
		{"web.service.default.ns.default.ap.dc2.dc.consul.", wire.TypeSRV, kindService, "web", "", "dc2", 41},
		{"web.service.default.ns.dc2.dc.consul.", wire.TypeSRV, kindService, "web", "", "dc2", 30},
		{"web.service.default.ap.dc2.dc.consul.", wire.TypeSRV, kindService, "web", "", "dc2", 30},
		{"v1.web.service.default.ns.consul.", wire.TypeSRV, kindService, "web", "v1", "", 26},
		{"_web._tcp.service.default.ns.consul.", wire.TypeSRV, kindService, "web", "", "", 29},
		{"_web._v1.default.ap.dc2.dc.consul.", wire.TypeSRV, kindService, "web", "v1", "dc2", 27},
		{"node1.node.default.ap.dc2.dc.consul.", wire.TypeA, kindNode, "node1", "", "dc2", 29},
		{"web.service.other.ns.consul.", wire.TypeA, kindInvalid, "", "", "", 21},
		{"web.service.default.ns.other.ap.consul.", wire.TypeA, kindInvalid, "", "", "", 32},
		{"web.service.default.ap.default.ns.consul.", wire.TypeA, kindInvalid, "", "", "", 34},
		{"web.service.dc2.dc.default.ns.consul.", wire.TypeA, kindInvalid, "", "", "", 30},
		{"web.service.default.ns.default.ns.consul.", wire.TypeA, kindInvalid, "", "", "", 34},
		{"web.service.default.ns.dc2.consul.", wire.TypeA, kindInvalid, "", "", "", 27},
		// Cluster peering: "<peer>.peer" alone, held as the datacenter "<peer>.peer";
		// next to ns, ap or dc, or after another kind, Consul 1.16.3 answers NXDOMAIN.
		{"web.service.peer1.peer.consul.", wire.TypeA, kindService, "web", "", "peer1.peer", 23},
		{"v1.web.service.peer1.peer.consul.", wire.TypeSRV, kindService, "web", "v1", "peer1.peer", 26},
		{"_web._v1.service.peer1.peer.consul.", wire.TypeSRV, kindService, "web", "v1", "peer1.peer", 28},
		{"_web._tcp.service.peer1.peer.consul.", wire.TypeSRV, kindService, "web", "", "peer1.peer", 29},
		{"_web._tcp.peer1.peer.consul.", wire.TypeSRV, kindService, "web", "", "peer1.peer", 21},
		{"web.service.peer1.peer.alt.example.", wire.TypeA, kindService, "web", "", "peer1.peer", 23},
		{"7f000001.addr.peer1.peer.consul.", wire.TypeA, kindAddr, "7f000001", "", "peer1.peer", 25},
		{"web.service.default.ns.peer1.peer.consul.", wire.TypeA, kindInvalid, "", "", "", 34},
		{"web.service.peer1.peer.default.ap.consul.", wire.TypeA, kindInvalid, "", "", "", 34},
		{"web.service.peer1.peer.dc2.dc.consul.", wire.TypeA, kindInvalid, "", "", "", 30},
		{"web.service.peer.consul.", wire.TypeA, kindService, "web", "", "peer", 17},
		{"web.connect.peer1.peer.consul.", wire.TypeA, kindInvalid, "", "", "", 23},
		{"n1.node.peer1.peer.consul.", wire.TypeA, kindNode, "n1", "", "peer1.peer", 19},
		{"pq.query.peer1.peer.consul.", wire.TypeA, kindInvalid, "", "", "", 20},
		{"web.connect.consul.", wire.TypeSRV, kindConnect, "web", "", "", 12},
		{"web.connect.dc2.consul.", wire.TypeA, kindConnect, "web", "", "dc2", 16},
		{"web.connect.default.ns.dc2.dc.consul.", wire.TypeA, kindConnect, "web", "", "dc2", 30},
		{"v1.web.connect.consul.", wire.TypeSRV, kindConnect, "web", "", "", 15}, // no tags: ignored, as Consul
		{"_web._tcp.connect.consul.", wire.TypeSRV, kindConnect, "_tcp", "", "", 18},
		{"web.connect.other.ns.consul.", wire.TypeSRV, kindInvalid, "", "", "", 21},
		{"connect.consul.", wire.TypeSRV, kindInvalid, "", "", "", 8},
		{"web.ingress.consul.", wire.TypeSRV, kindIngress, "web", "", "", 12},
		{"x.y.web.ingress.dc1.consul.", wire.TypeA, kindIngress, "web", "", "dc1", 20},
		{"web.ingress.service.consul.", wire.TypeA, kindService, "ingress", "web", "", 20}, // the rightmost kind label wins
		{"web.virtual.consul.", wire.TypeA, kindVirtual, "web", "", "", 12},
		{"x.web.virtual.peer1.consul.", wire.TypeA, kindVirtual, "web", "", "", 20},
		{"_pq._tcp.query.consul.", wire.TypeSRV, kindQuery, "pq", "", "", 15},
		{"_pq._udp.query.dc1.consul.", wire.TypeA, kindQuery, "pq", "", "dc1", 19},
		{"_my.pq._tcp.query.consul.", wire.TypeSRV, kindQuery, "my.pq", "", "", 18},
		{"_pq.tcp.query.consul.", wire.TypeSRV, kindQuery, "_pq.tcp", "", "", 14},
		{"_._tcp.query.consul.", wire.TypeSRV, kindInvalid, "", "", "", 13},
		{"consul.", wire.TypeSOA, kindApex, "", "", "", 0},
		{"alt.example.", wire.TypeNS, kindApex, "", "", "", 0},
		{"service.consul.", wire.TypeA, kindInvalid, "", "", "", 8},
		{"web.consul.", wire.TypeA, kindInvalid, "", "", "", 4},
		{"web.service.a.b.c.consul.", wire.TypeA, kindInvalid, "", "", "", 18},
		{"web.service.dc1.xx.consul.", wire.TypeA, kindInvalid, "", "", "", 19},
		{"example.com.", wire.TypeA, kindOutside, "", "", "", 0},
		{"notconsul.", wire.TypeA, kindOutside, "", "", "", 0},
		{"xconsul.", wire.TypeA, kindOutside, "", "", "", 0},
		{".", wire.TypeNS, kindOutside, "", "", "", 0},
		{"web.service.consul.example.com.", wire.TypeA, kindOutside, "", "", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := parseName([]byte(tc.name), tc.qtype, zones)
			if p.kind != tc.kind || string(p.svc) != tc.svc || string(p.tag) != tc.tag || string(p.dc) != tc.dc {
				t.Fatalf("parseName(%q) = kind %d svc %q tag %q dc %q; want kind %d svc %q tag %q dc %q",
					tc.name, p.kind, p.svc, p.tag, p.dc, tc.kind, tc.svc, tc.tag, tc.dc)
			}
			if wantPeer := strings.Contains(tc.name, ".virtual.peer1."); p.peer != wantPeer {
				t.Fatalf("parseName(%q) peer %v, want %v", tc.name, p.peer, wantPeer)
			}
			if p.kind != kindOutside && p.apexOff != tc.apexOff {
				t.Fatalf("parseName(%q) apex offset %d, want %d", tc.name, p.apexOff, tc.apexOff)
			}
		})
	}
}

func TestParseNameAllocatesNothing(t *testing.T) {
	zones := []zone{{name: []byte("consul.")}}
	for _, tc := range []struct {
		name string
		kind kind
	}{
		{"v1.beta.web.service.dc1.consul.", kindService},
		{"_pq._tcp.query.dc1.consul.", kindQuery},
		{"web.service.default.ns.default.ap.dc1.dc.consul.", kindService},
		{"web.service.other.ns.consul.", kindInvalid},
		{"v1.web.connect.dc1.consul.", kindConnect},
		{"web.ingress.default.ns.dc1.dc.consul.", kindIngress},
		{"web.virtual.peer1.consul.", kindVirtual},
		{"v1.web.service.peer1.peer.consul.", kindService},
	} {
		name := []byte(tc.name)
		allocs := testing.AllocsPerRun(100, func() {
			if p := parseName(name, wire.TypeSRV, zones); p.kind != tc.kind {
				t.Fatalf("%s: kind %d, want %d", tc.name, p.kind, tc.kind)
			}
		})
		if allocs != 0 {
			t.Fatalf("parseName(%s) allocates %v times per call", tc.name, allocs)
		}
	}
}
