package main

import (
	"strings"
)

// envPrefix is prepended to a flag's upper-cased name to form its environment variable.
const envPrefix = "SRVBRIDGE_"

// flagSpec is the single description of a setting: --help, the table in
// docs/configuration.md and the parser are all generated from specs, so they cannot
// drift apart.
type flagSpec struct {
	Name string
	// Arg names the value in --help (empty for booleans).
	Arg string
	// Default is the raw default value, parsed like any user value.
	Default string
	// ShownDefault replaces Default in --help and the docs where the default is
	// computed (from another variable) rather than fixed.
	ShownDefault string
	Usage        string
	Bool         bool
	// Repeat lets the flag be given several times; the values are joined with commas,
	// so "--upstream a --upstream b" means "--upstream a,b".
	Repeat bool
	// Secret keeps the value out of the start-up log (Config.LogValue), which shows
	// only whether it is set. Any flag that can carry a credential sets it.
	Secret bool
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

// Default values that other code (tests, the docs) refers to by name.
const (
	// 8653 rather than Consul's 8600: each replica runs beside a Consul client agent
	// (docs/architecture.md, "Scaling out"), whose own DNS interface already holds
	// 127.0.0.1:8600. Unprivileged (53 needs root or CAP_NET_BIND_SERVICE) and
	// loopback-only, so a default start is never an open forwarder on the network.
	defaultDNSAddr = "127.0.0.1:8653"
	// 9153 is the port CoreDNS uses for its metrics; operators already expect it.
	defaultHTTPAddr = "127.0.0.1:9153"
	// 127.0.0.1 rather than consul/api's "localhost", which may resolve to ::1 first
	// while a dev or client agent listens on IPv4 loopback only.
	defaultConsulAddr = "127.0.0.1:8500"
	// Kong caches for the record TTL and re-resolves about 0.5–1 s after expiry, so a
	// change reaches it in roughly TTL + 1–2 s. 5 s keeps failover well under ten
	// seconds while each Kong worker asks at most once per 5 s per name. TTL 0 would
	// put Kong's balancer into per-request re-resolution (see docs/configuration.md).
	defaultServiceTTL = "5s"
	// Same as the service TTL so that a newly registered service is seen as quickly
	// as a changed one by caching resolvers that honour the SOA minimum.
	defaultNegativeTTL = "5s"
	// Kong waits 2 s per DNS try: after 1 s without an answer the next upstream still
	// has a second to answer within the same try, and the first stays in the race.
	defaultUpstreamTimeout = "1s"
	// Loopback, RFC 1918, IPv6 unique-local and link-local: where a gateway sits,
	// never the open internet.
	defaultAllowRecursion = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7,fe80::/10"
	// RFC 8767 suggests one to three days. An hour rides out an upstream outage while
	// keeping addresses that may have moved from being served for long.
	defaultForwardStale = "1h"
)

// specs lists every setting in the order --help and docs/configuration.md show them.
var specs = []flagSpec{
	{Name: "dns-addr", Arg: "host:port", Default: defaultDNSAddr,
		Usage: "UDP and TCP address to answer DNS on. Host must be an IP address, or empty for all interfaces."},
	{Name: "http-addr", Arg: "host:port", Default: defaultHTTPAddr,
		Usage: "Admin HTTP address serving the status page (/), /healthz, /readyz and /metrics."},
	{Name: "consul-addr", Arg: "addr", ShownDefault: "$CONSUL_HTTP_ADDR, else " + defaultConsulAddr,
		Usage: "Consul HTTP API address: host:port, http(s)://host:port or unix:///path. Token and TLS come from the CONSUL_* variables, as for the consul CLI."},
	{Name: "datacenter", Arg: "name", ShownDefault: "learned from Consul",
		Usage: "The local Consul datacenter, for names that carry none. By default srvbridge asks the agent (/v1/agent/self, which needs agent:read), else reads it from the catalog (node:read). See docs/consul-acl.md."},
	{Name: "domain", Arg: "name", Default: "consul.",
		Usage: "DNS domain answered authoritatively, as Consul's own DNS does."},
	{Name: "service-ttl", Arg: "duration", Default: defaultServiceTTL,
		Usage: "TTL of service answers (Go duration or whole seconds). 0 is allowed but breaks Kong's balancer."},
	{Name: "negative-ttl", Arg: "duration", Default: defaultNegativeTTL,
		Usage: "TTL of NXDOMAIN/NODATA answers: the SOA minimum (Go duration or whole seconds)."},
	{Name: "service-ttls", Arg: "name=ttl,...", Repeat: true, ShownDefault: "none",
		Usage: "Per-service TTL overrides, with Consul's precedence: an exact name, then the longest prefix*, then *. Example: 'web=10s,api-*=3s,*=5s'. Repeatable."},
	{Name: "alt-domain", Arg: "name", ShownDefault: "none",
		Usage: "A second domain answered like --domain (Consul's alt_domain); SRV targets then use it too."},
	{Name: "ns-name", Arg: "name", ShownDefault: "ns.<domain>",
		Usage: "Name the NS record at the domain apex gives for srvbridge itself."},
	{Name: "ns-address", Arg: "ip,...", Repeat: true, ShownDefault: "none",
		Usage: "srvbridge's own addresses: glue for the apex NS record, and the A/AAAA answer for --ns-name. Repeatable."},
	{Name: "search-suffix", Arg: "domain,...", Repeat: true, ShownDefault: "none",
		Usage: "Search domains of the clients (Kubernetes: '*.svc.cluster.local,svc.cluster.local,cluster.local'; '*.' stands for any one label, the namespace). A name of ours with one appended, such as web.service.consul.svc.cluster.local, gets NXDOMAIN at once instead of being forwarded. Repeatable."},
	{Name: "max-udp-size", Arg: "bytes", Default: "1232",
		Usage: "Largest UDP reply to EDNS clients, and the size advertised in our OPT record (512 to 65535). Clients without EDNS always get at most 512 bytes, and TC when more did not fit."},
	{Name: "udp-sockets", Arg: "n", Default: "0", ShownDefault: "one per CPU",
		Usage: "UDP sockets sharing --dns-addr (SO_REUSEPORT), each with its own reader."},
	{Name: "udp-reader", Arg: "kind", Default: "thread",
		Usage: "How each UDP reader waits for queries (Linux): thread (an OS thread of its own blocked in recvmmsg, as Knot's workers; GOMAXPROCS is raised to one more than --udp-sockets) or poller (Go's network poller). See docs/configuration.md. Other systems read with the standard library either way."},
	{Name: "no-healthy", Arg: "policy", Default: "nxdomain",
		Usage: "Answer for a service with instances but none healthy: nxdomain (as Consul), nodata (empty NOERROR, so Kong keeps its last answer) or all (every instance, critical included). See docs/dns.md."},
	{Name: "panic-threshold", Arg: "percent", Default: "0",
		Usage: "When fewer than this share of a service's instances are healthy, serve them all (as Envoy). 0 turns it off."},
	{Name: "max-stale", Arg: "duration", Default: "0",
		Usage: "How long to keep answering from the last known Consul data while Consul is unreachable; then SERVFAIL. 0 keeps answering for the whole outage."},
	{Name: "state-file", Arg: "path", ShownDefault: "none",
		Usage: "Where to save the last good view of Consul (atomically, at most every few seconds after a change). At start, if Consul cannot be reached, srvbridge serves from it instead of waiting."},
	{Name: "only-passing", Bool: true, Default: "false",
		Usage: "Serve only instances whose checks all pass; by default warning instances are served too."},
	{Name: "prefetch", Bool: true, Default: "false",
		Usage: "Fetch every catalog service from the start instead of on first query, and keep them all."},
	{Name: "max-services", Arg: "n", Default: "10000",
		Usage: "Most services held on demand at once; the least recently queried is dropped beyond it. A held service costs memory only (a few KB): one change feed per datacenter keeps them all fresh."},
	{Name: "consul-max-conns", Arg: "n", Default: "16",
		Usage: "Most TCP connections to Consul at once, blocking queries included; well under the 200 per client address Consul agents accept by default (limits.http_max_conns_per_client). A 429 from Consul halves the requests in flight for a while."},
	{Name: "consul-gzip", Bool: true, Default: "false",
		Usage: "Ask Consul for gzip-compressed answers. Off by default: srvbridge reads from a local agent, where compressing every answer costs Consul and srvbridge CPU to save bandwidth a local link does not need. Turn it on when Consul is across a slow link."},
	{Name: "idle-timeout", Arg: "duration", Default: "10m",
		Usage: "Forget a service that has not been queried for this long; the next query fetches it again."},
	{Name: "await-timeout", Arg: "duration", Default: "1.5s",
		Usage: "How long the first query for a service waits for its first Consul fetch, then SERVFAIL (keep it under Kong's 2s DNS timeout). In a cold burst, while the first fetches of other services keep arriving, it waits on, up to 5s (see docs/configuration.md)."},
	{Name: "await-max-bytes", Arg: "size", Default: "32MiB",
		Usage: "Most memory the UDP queries waiting for a first Consul fetch (see --await-timeout) may hold at once: each its packet and about 160 bytes, each name waited for about 8 KiB. Past it, a query that must wait gets SERVFAIL at once (srvbridge_dns_overload_servfail_total). 32MiB holds a cold burst of 2,000 names asked by 16 clients each, with room to spare."},
	{Name: "shutdown-timeout", Arg: "duration", Default: "5s",
		Usage: "On SIGTERM/SIGINT, how long in-flight queries may take to finish."},
	{Name: "upstream", Arg: "ip[:port],...", Repeat: true, ShownDefault: "the nameservers in /etc/resolv.conf",
		Usage: "Resolvers that names outside --domain are forwarded to; port 53 unless given, IPv6 as [::1]:53. Repeatable. none forwards nothing but --stub zones; other names are then REFUSED."},
	{Name: "upstream-strategy", Arg: "name", Default: "sequential",
		Usage: "Order in which upstreams are asked: sequential (the first is the primary) or random (spreads the load). Either way, upstreams that stopped answering are asked last."},
	{Name: "upstream-timeout", Arg: "duration", Default: defaultUpstreamTimeout,
		Usage: "How long an upstream has to answer before the next one is asked too; the first stays in the race. Keep it well under Kong's 2s DNS timeout, so failover happens within one Kong try."},
	{Name: "allow-recursion", Arg: "cidr,...", Repeat: true, Default: defaultAllowRecursion, ShownDefault: "loopback and private ranges",
		Usage: "Clients whose queries for names outside --domain are forwarded; others get REFUSED for those names (Consul names are answered for everyone), so srvbridge is never an open resolver. Repeatable; none allows no one. Default: " +
			strings.ReplaceAll(defaultAllowRecursion, ",", ", ") + "."},
	{Name: "stub", Arg: "zone=ip[:port][;ip[:port]...]", Repeat: true, ShownDefault: "none",
		Usage: "Forward a zone to servers of its own instead of the upstreams, such as another Consul domain: --stub 'dc2.example=10.0.0.5:8600;10.0.0.6:8600'. Repeatable; the longest matching zone wins."},
	{Name: "forward-cache-size", Arg: "n", Default: "10000",
		Usage: "Most forwarded answers cached; 0 turns the cache, and serving stale answers, off."},
	{Name: "forward-cache-bytes", Arg: "size", Default: "16MiB",
		Usage: "Most memory the cached forwarded answers may take: bytes, or a number with KiB, MiB or GiB."},
	{Name: "forward-stale", Arg: "duration", Default: defaultForwardStale,
		Usage: "How long past its TTL a cached forwarded answer may still be served, with TTL 30, when no upstream answers (RFC 8767). 0 never serves stale answers."},
	{Name: "log-level", Arg: "level", Default: "info",
		Usage: "Log level: debug, info, warn or error."},
	{Name: "log-format", Arg: "format", Default: "text",
		Usage: "Log format on stderr: text or json."},
}
