package main

import (
	"strings"
	"testing"
	"time"

	"github.com/srvbridge/srvbridge/health"
)

func TestParseAnswerSettings(t *testing.T) {
	env := func(string) string { return "" }
	c, err := parseConfig([]string{"--service-ttls", "web=10s", "--service-ttls", "api-*=3s",
		"--alt-domain", "Consul.Example", "--max-udp-size", "4096", "--udp-sockets", "3",
		"--udp-reader", "thread", "--no-healthy", "all", "--panic-threshold", "40", "--max-stale", "10m", "--state-file", "/var/lib/srvbridge/state.json"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.ServiceTTLs.For("web", 5) != 10 || c.ServiceTTLs.For("api-x", 5) != 3 || c.ServiceTTLs.For("other", 5) != 5 {
		t.Errorf("service TTLs not applied: %+v", c.ServiceTTLs)
	}
	if c.AltDomain != "consul.example." || c.MaxUDPSize != 4096 || c.UDPSockets != 3 || c.UDPReader != "thread" || c.Policy.NoHealthy != health.NoHealthyAll ||
		c.Policy.PanicPercent != 40 || c.MaxStale != 10*time.Minute || c.StateFile != "/var/lib/srvbridge/state.json" {
		t.Errorf("parsed %+v", c)
	}

	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"--service-ttls", "web"}, "--service-ttls"},
		{[]string{"--service-ttls", "web=1500ms"}, "--service-ttls"},
		{[]string{"--alt-domain", "consul"}, "--alt-domain"},
		{[]string{"--alt-domain", "bad..name"}, "--alt-domain"},
		{[]string{"--max-udp-size", "100"}, "--max-udp-size"},
		{[]string{"--max-udp-size", "70000"}, "--max-udp-size"},
		{[]string{"--udp-sockets", "-1"}, "--udp-sockets"},
		{[]string{"--udp-reader", "epoll"}, "--udp-reader"},
		{[]string{"--no-healthy", "some"}, "--no-healthy"},
		{[]string{"--panic-threshold", "101"}, "--panic-threshold"},
		{[]string{"--panic-threshold", "half"}, "--panic-threshold"},
		{[]string{"--max-stale", "-1s"}, "--max-stale"},
		{[]string{"--ns-address", "ns1"}, "--ns-address"},
		{[]string{"--ns-name", "a..b"}, "--ns-name"},
		{[]string{"--search-suffix", "svc..local"}, "--search-suffix"},
		{[]string{"--search-suffix", "*."}, "--search-suffix"},
		{[]string{"--search-suffix", "."}, "--search-suffix"},
	} {
		_, err := parseConfig(tc.args, env)
		if err == nil || !strings.Contains(err.Error(), tc.flag) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: err = %v, want one line naming %s", tc.args, err, tc.flag)
		}
	}
}

func TestParseSearchSuffixes(t *testing.T) {
	c, err := parseConfig([]string{"--search-suffix", "*.svc.Cluster.Local, svc.cluster.local", "--search-suffix", "cluster.local."},
		func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"*.svc.cluster.local.", "svc.cluster.local.", "cluster.local."}
	if strings.Join(c.SearchSuffixes, " ") != strings.Join(want, " ") {
		t.Errorf("search suffixes %q, want %q", c.SearchSuffixes, want)
	}
}
