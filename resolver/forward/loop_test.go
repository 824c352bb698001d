package forward

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestPointsAtSelf(t *testing.T) {
	saved := localAddrs
	t.Cleanup(func() { localAddrs = saved })
	localAddrs = func() ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("fd00::5")}, nil
	}
	tests := []struct {
		listen, up string
		want       bool
	}{
		{"127.0.0.1:8653", "127.0.0.1:8653", true},
		{"127.0.0.1:8653", "127.0.0.1:53", false},
		{"127.0.0.1:8653", "127.0.0.2:8653", false},
		{"[::1]:53", "[::1]:53", true},
		{"[::ffff:127.0.0.1]:53", "127.0.0.1:53", true},
		{"0.0.0.0:53", "127.0.0.1:53", true},
		// Docker's embedded resolver: a NAT rule, not our socket.
		{"0.0.0.0:53", "127.0.0.11:53", false},
		{"0.0.0.0:53", "10.1.2.3:53", true},
		{"0.0.0.0:53", "[fd00::5]:53", true},
		{"0.0.0.0:53", "10.1.2.4:53", false},
		{":53", "[::1]:53", true},
		{"[::]:53", "10.1.2.3:53", true},
		{"[::]:53", "10.1.2.3:5353", false},
		{"10.1.2.3:53", "127.0.0.1:53", false},
	}
	for _, tt := range tests {
		got, err := PointsAtSelf(tt.listen, netip.MustParseAddrPort(tt.up))
		if err != nil || got != tt.want {
			t.Errorf("PointsAtSelf(%s, %s) = %v, %v; want %v", tt.listen, tt.up, got, err, tt.want)
		}
	}
}

func TestNewRefusesLoops(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Listen: "127.0.0.1:8653", Upstreams: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:8653")}},
			"upstream 127.0.0.1:8653 is srvbridge's own DNS address (127.0.0.1:8653)"},
		{Config{Listen: ":8653", Upstreams: []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:53")},
			Stubs: []Stub{{Zone: "x.test", Upstreams: []netip.AddrPort{netip.MustParseAddrPort("[::1]:8653")}}}},
			"stub zone x.test server [::1]:8653 is srvbridge's own DNS address"},
		{Config{Upstreams: []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:53")}}, "not a unicast address"},
		{Config{}, "nothing to forward to"},
		{Config{Stubs: []Stub{{Zone: ".", Upstreams: []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:53")}}}}, "the root is not a stub zone"},
		{Config{Upstreams: []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:53")}, CacheEntries: 10}, "byte bound"},
	}
	for _, tt := range tests {
		_, err := New(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) = %v, want an error containing %q", tt.cfg, err, tt.want)
		}
	}
}

func TestInflight(t *testing.T) {
	var l inflight
	k := loopKey{id: 7, qtype: 1, qclass: 1, name: "\x01a\x00"}
	l.add(k)
	l.add(k)
	l.remove(k)
	if !l.has(k) {
		t.Fatal("lost after one of two removes")
	}
	if other := (loopKey{id: 8, qtype: 1, qclass: 1, name: k.name}); l.has(other) {
		t.Error("another ID matched")
	}
	l.remove(k)
	if l.has(k) || len(l.m) != 0 {
		t.Error("still registered after both removes")
	}
}

func TestParseResolvConf(t *testing.T) {
	got, err := parseResolvConf(strings.NewReader(`# generated
search default.svc.cluster.local svc.cluster.local
nameserver 127.0.0.11
nameserver  10.0.0.2   # with a comment
nameserver fe80::1%eth0
nameserver not-an-ip
nameserver 127.0.0.11
options ndots:5
`))
	want := []netip.AddrPort{
		netip.MustParseAddrPort("127.0.0.11:53"),
		netip.MustParseAddrPort("10.0.0.2:53"),
		netip.MustParseAddrPort("[fe80::1%eth0]:53"),
	}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("got %v, %v; want %v", got, err, want)
	}
}
