package main

import (
	"strings"
)

// envPrefix is prepended to a flag's upper-cased name to form its environment variable.
const envPrefix = "SRVBRIDGE_"

// flagSpec is the single description of a setting: --help, the README table and the
// parser are all generated from specs, so they cannot drift apart.
type flagSpec struct {
	Name string
	// Arg names the value in --help (empty for booleans).
	Arg string
	// Default is the raw default value, parsed like any user value.
	Default string
	// ShownDefault replaces Default in --help and the README where the default is
	// computed (from another variable) rather than fixed.
	ShownDefault string
	Usage        string
	Bool         bool
}

// EnvName returns the environment variable that sets the flag: SRVBRIDGE_<NAME>,
// upper-case, dashes as underscores.
func (s flagSpec) EnvName() string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
}

func (s flagSpec) shownDefault() string {
	if s.ShownDefault != "" {
		return s.ShownDefault
	}
	return s.Default
}

// Default values that other code (tests, the README) refers to by name.
const (
	// 8653 rather than Consul's 8600: DESIGN.md wants each replica beside a Consul
	// client agent, whose own DNS interface already holds 127.0.0.1:8600. Unprivileged
	// (53 needs root or CAP_NET_BIND_SERVICE) and loopback-only, so a default start is
	// never an open forwarder on the network.
	defaultDNSAddr = "127.0.0.1:8653"
	// 9153 is the port CoreDNS uses for its metrics; operators already expect it.
	defaultHTTPAddr = "127.0.0.1:9153"
	// 127.0.0.1 rather than consul/api's "localhost", which may resolve to ::1 first
	// while a dev or client agent listens on IPv4 loopback only.
	defaultConsulAddr = "127.0.0.1:8500"
	// Kong caches for the record TTL and re-resolves about 0.5–1 s after expiry, so a
	// change reaches it in roughly TTL + 1–2 s. 5 s keeps failover well under ten
	// seconds while each Kong worker asks at most once per 5 s per name. TTL 0 would
	// put Kong's balancer into per-request re-resolution (see README).
	defaultServiceTTL = "5s"
	// Same as the service TTL so that a newly registered service is seen as quickly
	// as a changed one by caching resolvers that honour the SOA minimum.
	defaultNegativeTTL = "5s"
)

// specs lists every setting in the order --help and the README show them.
var specs = []flagSpec{
	{Name: "dns-addr", Arg: "host:port", Default: defaultDNSAddr,
		Usage: "UDP and TCP address to answer DNS on. Host must be an IP address, or empty for all interfaces."},
	{Name: "http-addr", Arg: "host:port", Default: defaultHTTPAddr,
		Usage: "Admin HTTP address serving /healthz, /readyz and /metrics."},
	{Name: "consul-addr", Arg: "addr", ShownDefault: "$CONSUL_HTTP_ADDR, else " + defaultConsulAddr,
		Usage: "Consul HTTP API address: host:port, http(s)://host:port or unix:///path. Token and TLS come from the CONSUL_* variables, as for the consul CLI."},
	{Name: "domain", Arg: "name", Default: "consul.",
		Usage: "DNS domain answered authoritatively, as Consul's own DNS does."},
	{Name: "service-ttl", Arg: "duration", Default: defaultServiceTTL,
		Usage: "TTL of service answers (Go duration or whole seconds). 0 is allowed but breaks Kong's balancer."},
	{Name: "negative-ttl", Arg: "duration", Default: defaultNegativeTTL,
		Usage: "TTL of NXDOMAIN/NODATA answers: the SOA minimum (Go duration or whole seconds)."},
	{Name: "only-passing", Bool: true, Default: "false",
		Usage: "Serve only instances whose checks all pass; by default warning instances are served too."},
	{Name: "prefetch", Bool: true, Default: "false",
		Usage: "Watch every catalog service from the start instead of on first query."},
	{Name: "max-services", Arg: "n", Default: "128",
		Usage: "Most services watched on demand at once; the least recently queried is dropped beyond it. Each watch holds one HTTP connection to Consul, whose agents accept 200 per client by default (limits.http_max_conns_per_client)."},
	{Name: "idle-timeout", Arg: "duration", Default: "10m",
		Usage: "Stop watching a service that has not been queried for this long."},
	{Name: "await-timeout", Arg: "duration", Default: "1s",
		Usage: "How long the first query for a service waits for its first Consul fetch (keep it under Kong's 2s DNS timeout)."},
	{Name: "shutdown-timeout", Arg: "duration", Default: "5s",
		Usage: "On SIGTERM/SIGINT, how long in-flight queries may take to finish."},
	{Name: "log-level", Arg: "level", Default: "info",
		Usage: "Log level: debug, info, warn or error."},
	{Name: "log-format", Arg: "format", Default: "text",
		Usage: "Log format on stderr: text or json."},
}
