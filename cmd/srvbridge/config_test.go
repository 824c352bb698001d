package main

import (
	"errors"
	"flag"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// env returns a getenv over a fixed map.
func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func defaultConfig() Config {
	return Config{
		DNSAddr:         "127.0.0.1:8653",
		HTTPAddr:        "127.0.0.1:9153",
		ConsulAddr:      "127.0.0.1:8500",
		Domain:          "consul.",
		ServiceTTL:      5,
		NegativeTTL:     5,
		MaxServices:     10000,
		ConsulMaxConns:  16,
		IdleTimeout:     10 * time.Minute,
		AwaitTimeout:    1500 * time.Millisecond,
		AwaitMaxBytes:   32 << 20,
		ShutdownTimeout: 5 * time.Second,
		LogLevel:        slog.LevelInfo,
		LogFormat:       "text",

		UpstreamStrategy: "sequential",
		UpstreamTimeout:  time.Second,
		AllowRecursion: prefixes("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12",
			"192.168.0.0/16", "fc00::/7", "fe80::/10"),
		ForwardCacheSize:  10000,
		ForwardCacheBytes: 16 << 20,
		ForwardStale:      time.Hour,

		MaxUDPSize: 1232,
		UDPReader:  "thread",
	}
}

func prefixes(s ...string) []netip.Prefix {
	out := []netip.Prefix{}
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

func TestParseConfigValues(t *testing.T) {
	tests := []parseCase{
		{"defaults", nil, env(), func(*Config) {}},
		{"flags", []string{
			"--dns-addr", "[::1]:53", "--http-addr=:0", "--consul-addr", "https://consul.example:8501",
			"--domain", "Service.Example.COM", "--service-ttl", "30", "--negative-ttl=0",
			"--only-passing", "--prefetch=true", "--max-services", "7", "--idle-timeout", "90",
			"--await-timeout", "250ms", "--shutdown-timeout", "1m", "--log-level", "DEBUG", "--log-format", "json",
		}, env(), func(c *Config) {
			c.DNSAddr, c.HTTPAddr, c.ConsulAddr = "[::1]:53", ":0", "https://consul.example:8501"
			c.Domain, c.ServiceTTL, c.NegativeTTL = "service.example.com.", 30, 0
			c.Policy.OnlyPassing, c.Prefetch, c.MaxServices = true, true, 7
			c.IdleTimeout, c.AwaitTimeout, c.ShutdownTimeout = 90*time.Second, 250*time.Millisecond, time.Minute
			c.LogLevel, c.LogFormat = slog.LevelDebug, "json"
		}},
		{"single dash works too", []string{"-service-ttl", "1m"}, env(), func(c *Config) { c.ServiceTTL = 60 }},
		{"env sets", nil, env("SRVBRIDGE_DNS_ADDR", "0.0.0.0:5353", "SRVBRIDGE_PREFETCH", "1", "SRVBRIDGE_SERVICE_TTL", "10s"),
			func(c *Config) { c.DNSAddr, c.Prefetch, c.ServiceTTL = "0.0.0.0:5353", true, 10 }},
		{"flag wins over env", []string{"--dns-addr", "127.0.0.2:53", "--prefetch=false"},
			env("SRVBRIDGE_DNS_ADDR", "0.0.0.0:5353", "SRVBRIDGE_PREFETCH", "true"),
			func(c *Config) { c.DNSAddr = "127.0.0.2:53" }},
		{"empty env is unset", nil, env("SRVBRIDGE_DNS_ADDR", ""), func(*Config) {}},
		{"CONSUL_HTTP_ADDR is the consul default", nil, env("CONSUL_HTTP_ADDR", "10.0.0.1:8500"),
			func(c *Config) { c.ConsulAddr = "10.0.0.1:8500" }},
		{"SRVBRIDGE_CONSUL_ADDR beats CONSUL_HTTP_ADDR", nil,
			env("CONSUL_HTTP_ADDR", "10.0.0.1:8500", "SRVBRIDGE_CONSUL_ADDR", "10.0.0.2:8500"),
			func(c *Config) { c.ConsulAddr = "10.0.0.2:8500" }},
		{"--consul-addr beats both", []string{"--consul-addr", "unix:///run/consul.sock"},
			env("CONSUL_HTTP_ADDR", "10.0.0.1:8500", "SRVBRIDGE_CONSUL_ADDR", "10.0.0.2:8500"),
			func(c *Config) { c.ConsulAddr = "unix:///run/consul.sock" }},
		{"explicit zero service TTL", []string{"--service-ttl=0"}, env(), func(c *Config) { c.ServiceTTL = 0 }},
		{"consul address forms", []string{"--consul-addr", "http://consul.example/prefix"}, env(),
			func(c *Config) { c.ConsulAddr = "http://consul.example/prefix" }},
		{"warning level alias", []string{"--log-level", "warning"}, env(), func(c *Config) { c.LogLevel = slog.LevelWarn }},
		{"domain with underscore", []string{"--domain", "my_zone.local."}, env(), func(c *Config) { c.Domain = "my_zone.local." }},
	}
	runParseCases(t, tests)
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		args []string
		env  func(string) string
		want string // the whole error line
	}{
		{[]string{"--dns-addr", "foo"}, env(), `--dns-addr "foo": missing port in address`},
		{[]string{"--dns-addr", "localhost:53"}, env(), `--dns-addr "localhost:53": host "localhost" is not an IP address (use an IP, or nothing for all interfaces)`},
		{[]string{"--dns-addr", "127.0.0.1:0"}, env(), `--dns-addr "127.0.0.1:0": port "0" is not a number from 1 to 65535`},
		{[]string{"--dns-addr", "127.0.0.1:70000"}, env(), `--dns-addr "127.0.0.1:70000": port "70000" is not a number from 1 to 65535`},
		{nil, env("SRVBRIDGE_DNS_ADDR", "foo"), `--dns-addr "foo" (from SRVBRIDGE_DNS_ADDR): missing port in address`},
		{[]string{"--http-addr", "1.2.3.4"}, env(), `--http-addr "1.2.3.4": missing port in address`},
		{[]string{"--consul-addr", "ftp://x:1"}, env(), `--consul-addr "ftp://x:1": unknown scheme "ftp" (want http, https or unix)`},
		{[]string{"--consul-addr", "consul"}, env(), `--consul-addr "consul": missing port in address`},
		{[]string{"--consul-addr", "unix://relative.sock"}, env(), `--consul-addr "unix://relative.sock": unix socket path must be absolute, as in unix:///run/consul.sock`},
		{nil, env("CONSUL_HTTP_ADDR", "host:port"), `--consul-addr "host:port" (from CONSUL_HTTP_ADDR): port "port" is not a number from 1 to 65535`},
		{[]string{"--consul-addr", "http://user:hunter2@consul:8500"}, env(), `--consul-addr: credentials in the address are not supported; use CONSUL_HTTP_TOKEN or CONSUL_HTTP_AUTH`},
		{[]string{"--domain", "."}, env(), `--domain ".": must be a domain such as consul. (the root would swallow every name)`},
		{[]string{"--domain", "a..b"}, env(), `--domain "a..b": empty label`},
		{[]string{"--domain", "-x.y"}, env(), `--domain "-x.y": label "-x" starts or ends with a hyphen`},
		{[]string{"--domain", "ex ample"}, env(), `--domain "ex ample": label "ex ample" has character ' ' (want letters, digits, - or _)`},
		{[]string{"--domain", strings.Repeat("a", 64)}, env(), `--domain "` + strings.Repeat("a", 64) + `": label "` + strings.Repeat("a", 64) + `" longer than 63 characters`},
		{[]string{"--service-ttl", "-1"}, env(), `--service-ttl "-1": must not be negative`},
		{[]string{"--service-ttl", "-5s"}, env(), `--service-ttl "-5s": must not be negative`},
		{[]string{"--service-ttl", "1500ms"}, env(), `--service-ttl "1500ms": must be a whole number of seconds`},
		{[]string{"--service-ttl", "soon"}, env(), `--service-ttl "soon": not a duration (such as 5s or 1m) or a number of seconds`},
		{[]string{"--service-ttl", "2147483648"}, env(), `--service-ttl "2147483648": too large`},
		{[]string{"--negative-ttl", "1000000h"}, env(), `--negative-ttl "1000000h": larger than the DNS maximum of 2147483647 seconds`},
		{nil, env("SRVBRIDGE_ONLY_PASSING", "yes"), `--only-passing "yes" (from SRVBRIDGE_ONLY_PASSING): not a boolean (true or false)`},
		{[]string{"--max-services", "0"}, env(), `--max-services "0": must be a whole number of at least 1`},
		{[]string{"--idle-timeout", "0"}, env(), `--idle-timeout "0": must be greater than zero`},
		{[]string{"--await-timeout", "0s"}, env(), `--await-timeout "0s": must be greater than zero`},
		{[]string{"--log-level", "verbose"}, env(), `--log-level "verbose": want debug, info, warn or error`},
		{[]string{"--log-format", "xml"}, env(), `--log-format "xml": want text or json`},
		{[]string{"--no-such-flag"}, env(), `flag provided but not defined: -no-such-flag (see --help)`},
		{[]string{"--prefetch=maybe"}, env(), `--prefetch "maybe": not a boolean (true or false)`},
		{[]string{"--dns-addr"}, env(), `flag needs an argument: -dns-addr (see --help)`},
		{[]string{"serve"}, env(), `unexpected argument "serve": srvbridge takes flags only (see --help)`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := parseConfig(tt.args, tt.env)
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %q\nwant %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
		})
	}
}

func TestParseConfigFirstErrorWins(t *testing.T) {
	_, err := parseConfig([]string{"--dns-addr", "x", "--service-ttl", "-1"}, env())
	if err == nil || !strings.HasPrefix(err.Error(), "--dns-addr") {
		t.Fatalf("want the --dns-addr error alone, got %v", err)
	}
}

func TestParseConfigHelpAndVersion(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help"} {
		if _, err := parseConfig([]string{arg}, env()); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s: got %v, want flag.ErrHelp", arg, err)
		}
	}
	if _, err := parseConfig([]string{"--version"}, env()); !errors.Is(err, errVersion) {
		t.Errorf("--version: got %v", err)
	}
	// --version must not be settable from the environment: SRVBRIDGE_VERSION is a
	// name deployment tooling might well use for something else.
	if _, err := parseConfig(nil, env("SRVBRIDGE_VERSION", "1.2.3")); err != nil {
		t.Errorf("SRVBRIDGE_VERSION: %v", err)
	}
}

func TestEnvNames(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range specs {
		name := s.EnvName()
		if seen[name] {
			t.Errorf("duplicate variable %s", name)
		}
		seen[name] = true
		if strings.ContainsAny(name, "-abcdefghijklmnopqrstuvwxyz") {
			t.Errorf("%s: variable names are upper case with underscores", name)
		}
	}
	if got := (flagSpec{Name: "dns-addr"}).EnvName(); got != "SRVBRIDGE_DNS_ADDR" {
		t.Errorf("EnvName = %s", got)
	}
}

// Every default must itself parse: a default that fails validation would make the
// binary unusable without flags.
func TestDefaultsParse(t *testing.T) {
	for _, s := range specs {
		if s.Default == "" && s.ShownDefault == "" {
			t.Errorf("--%s has no default to show", s.Name)
		}
	}
	if _, err := parseConfig(nil, env()); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownEnv(t *testing.T) {
	got := unknownEnv([]string{
		"PATH=/bin", "SRVBRIDGE_DNS_ADDR=x", "SRVBRIDGE_DNS_ADRR=typo", "SRVBRIDGE_VERSION=1", "CONSUL_HTTP_ADDR=y",
	})
	want := []string{"SRVBRIDGE_DNS_ADRR", "SRVBRIDGE_VERSION"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// parseCase is one parseConfig call and how its result differs from the defaults.
type parseCase struct {
	name string
	args []string
	env  func(string) string
	want func(*Config)
}

func runParseCases(t *testing.T, tests []parseCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseConfig(tt.args, tt.env)
			if err != nil {
				t.Fatalf("parseConfig: %v", err)
			}
			got.settings = nil // what LogValue logs; TestLogValue checks it
			want := defaultConfig()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}
