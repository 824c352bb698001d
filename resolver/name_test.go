package resolver

import "testing"

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
		{"web.service.consul.", typeSRV, kindService, "web", "", "", 12},
		{"web.service.dc1.consul.", typeA, kindService, "web", "", "dc1", 16},
		{"web.service.dc1.dc.consul.", typeA, kindService, "web", "", "dc1", 19},
		{"prod.web.service.consul.", typeA, kindService, "web", "prod", "", 17},
		{"v1.beta.web.service.consul.", typeSRV, kindService, "web", "v1.beta", "", 20},
		{"_web._tcp.service.consul.", typeSRV, kindService, "web", "", "", 18},
		{"_web._prod.service.dc2.consul.", typeSRV, kindService, "web", "prod", "dc2", 23},
		{"_web._tcp.consul.", typeSRV, kindService, "web", "", "", 10},
		{"_web._tcp.dc2.consul.", typeSRV, kindService, "web", "", "dc2", 14},
		{"_web._tcp.consul.", typeA, kindInvalid, "", "", "", 10},
		{"web.service.alt.example.", typeSRV, kindService, "web", "", "", 12},
		{"7f000001.addr.dc1.consul.", typeA, kindAddr, "7f000001", "", "dc1", 18},
		{"7f000001.addr.consul.", typeA, kindAddr, "7f000001", "", "", 14},
		{"a.b.addr.consul.", typeA, kindInvalid, "", "", "", 9},
		{"node1.node.consul.", typeA, kindNode, "node1", "", "", 11},
		{"my.node.name.node.dc1.consul.", typeA, kindNode, "my.node.name", "", "dc1", 22},
		{"pq.query.consul.", typeSRV, kindQuery, "pq", "", "", 9},
		{"consul.", typeSOA, kindApex, "", "", "", 0},
		{"alt.example.", typeNS, kindApex, "", "", "", 0},
		{"service.consul.", typeA, kindInvalid, "", "", "", 8},
		{"web.consul.", typeA, kindInvalid, "", "", "", 4},
		{"web.service.a.b.c.consul.", typeA, kindInvalid, "", "", "", 18},
		{"web.service.dc1.xx.consul.", typeA, kindInvalid, "", "", "", 19},
		{"example.com.", typeA, kindOutside, "", "", "", 0},
		{"notconsul.", typeA, kindOutside, "", "", "", 0},
		{"xconsul.", typeA, kindOutside, "", "", "", 0},
		{".", typeNS, kindOutside, "", "", "", 0},
		{"web.service.consul.example.com.", typeA, kindOutside, "", "", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := parseName([]byte(tc.name), tc.qtype, zones)
			if p.kind != tc.kind || string(p.svc) != tc.svc || string(p.tag) != tc.tag || string(p.dc) != tc.dc {
				t.Fatalf("parseName(%q) = kind %d svc %q tag %q dc %q; want kind %d svc %q tag %q dc %q",
					tc.name, p.kind, p.svc, p.tag, p.dc, tc.kind, tc.svc, tc.tag, tc.dc)
			}
			if p.kind != kindOutside && p.apexOff != tc.apexOff {
				t.Fatalf("parseName(%q) apex offset %d, want %d", tc.name, p.apexOff, tc.apexOff)
			}
		})
	}
}

func TestParseNameAllocatesNothing(t *testing.T) {
	zones := []zone{{name: []byte("consul.")}}
	name := []byte("v1.beta.web.service.dc1.consul.")
	allocs := testing.AllocsPerRun(100, func() {
		if p := parseName(name, typeSRV, zones); p.kind != kindService {
			t.Fatal("not a service")
		}
	})
	if allocs != 0 {
		t.Fatalf("parseName allocates %v times per call", allocs)
	}
}
