package main

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func addrs(s ...string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, a := range s {
		out = append(out, netip.MustParseAddrPort(a))
	}
	return out
}

func TestParseForwardingFlags(t *testing.T) {
	tests := []parseCase{
		{"upstreams repeated and comma-separated", []string{"--upstream", "10.0.0.2", "--upstream", "10.0.0.3:5353,[::1]:53, 10.0.0.2:53"}, env(),
			func(c *Config) { c.Upstreams = addrs("10.0.0.2:53", "10.0.0.3:5353", "[::1]:53") }},
		{"bare IPv6 upstream", []string{"--upstream", "fd00::53"}, env(), func(c *Config) { c.Upstreams = addrs("[fd00::53]:53") }},
		{"flag replaces env", []string{"--upstream", "10.0.0.2"}, env("SRVBRIDGE_UPSTREAM", "10.0.0.9"),
			func(c *Config) { c.Upstreams = addrs("10.0.0.2:53") }},
		{"none", nil, env("SRVBRIDGE_UPSTREAM", "none"), func(c *Config) { c.NoUpstreams = true }},
		{"strategy and timeout", []string{"--upstream-strategy", "Random", "--upstream-timeout", "750ms"}, env(),
			func(c *Config) { c.UpstreamStrategy, c.UpstreamTimeout = "random", 750*time.Millisecond }},
		{"allow list", []string{"--allow-recursion", "10.1.2.3", "--allow-recursion", "192.168.7.7/16,fd00::/8"}, env(),
			func(c *Config) { c.AllowRecursion = prefixes("10.1.2.3/32", "192.168.0.0/16", "fd00::/8") }},
		{"allow no one", []string{"--allow-recursion", "none"}, env(), func(c *Config) { c.AllowRecursion = prefixes() }},
		{"stubs", []string{"--stub", "Dc2.Example=10.0.0.5:8600;10.0.0.6", "--stub", "internal.=[fd00::1]:53"}, env(),
			func(c *Config) {
				c.Stubs = []StubZone{
					{Zone: "dc2.example.", Servers: addrs("10.0.0.5:8600", "10.0.0.6:53")},
					{Zone: "internal.", Servers: addrs("[fd00::1]:53")},
				}
			}},
		{"cache and stale", []string{"--forward-cache-size", "0", "--forward-cache-bytes", "512KiB", "--forward-stale", "0"}, env(),
			func(c *Config) { c.ForwardCacheSize, c.ForwardCacheBytes, c.ForwardStale = 0, 512<<10, 0 }},
		{"cache bytes plain", nil, env("SRVBRIDGE_FORWARD_CACHE_BYTES", "1048576"), func(c *Config) { c.ForwardCacheBytes = 1 << 20 }},
	}
	runParseCases(t, tests)
}

func TestParseForwardingErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--upstream", "db.internal"}, `--upstream "db.internal": "db.internal" is not an IP address with an optional port (such as 10.0.0.2, 10.0.0.2:53 or [::1]:53)`},
		{[]string{"--upstream", "10.0.0.1,10.0.0.2:0"}, `--upstream "10.0.0.1,10.0.0.2:0": "10.0.0.2:0": port 0`},
		{[]string{"--upstream", "0.0.0.0"}, `--upstream "0.0.0.0": "0.0.0.0" is not a unicast address`},
		{[]string{"--upstream-strategy", "round-robin"}, `--upstream-strategy "round-robin": want sequential or random`},
		{[]string{"--upstream-timeout", "5s"}, `--upstream-timeout "5s": must be under 4s, the deadline of a whole forwarded query`},
		{[]string{"--upstream-timeout", "0"}, `--upstream-timeout "0": must be greater than zero`},
		{[]string{"--allow-recursion", "10.0.0.0/33"}, `--allow-recursion "10.0.0.0/33": "10.0.0.0/33" is not a CIDR (such as 10.0.0.0/8) or an IP address`},
		{[]string{"--stub", "example.test"}, `--stub "example.test": "example.test": want zone=ip[:port][;ip[:port]...]`},
		{[]string{"--stub", "a..b=10.0.0.1"}, `--stub "a..b=10.0.0.1": zone "a..b": empty label`},
		{[]string{"--stub", "web.service.consul=10.0.0.1"}, `--stub "web.service.consul=10.0.0.1": zone web.service.consul. is inside --domain consul., which srvbridge answers itself`},
		{[]string{"--stub", ".=10.0.0.1"}, `--stub ".=10.0.0.1": the root is not a stub zone: use --upstream`},
		{[]string{"--stub", "x.test=10.0.0.1;nope"}, `--stub "x.test=10.0.0.1;nope": zone x.test.: "nope" is not an IP address with an optional port (such as 10.0.0.2, 10.0.0.2:53 or [::1]:53)`},
		{[]string{"--stub", "x.test=10.0.0.1", "--stub", "X.test.=10.0.0.2"}, `--stub "x.test=10.0.0.1,X.test.=10.0.0.2": zone x.test. given twice`},
		{[]string{"--forward-cache-size", "-1"}, `--forward-cache-size "-1": must be a whole number, 0 or more`},
		{[]string{"--forward-cache-bytes", "16MB"}, `--forward-cache-bytes "16MB": want a size such as 16MiB, 512KiB or 1048576 (bytes), from 1 byte to 1024GiB`},
		{[]string{"--forward-cache-bytes", "0"}, `--forward-cache-bytes "0": want a size such as 16MiB, 512KiB or 1048576 (bytes), from 1 byte to 1024GiB`},
		{[]string{"--forward-stale", "soon"}, `--forward-stale "soon": not a duration (such as 5s or 1m) or a number of seconds`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := parseConfig(tt.args, env())
			if err == nil || err.Error() != tt.want {
				t.Errorf("error\n got %v\nwant %s", err, tt.want)
			}
		})
	}
}
