package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/srvbridge/srvbridge/resolver"
)

// Config is the validated configuration. It holds no Consul credentials: those stay in
// the CONSUL_* variables that consul/api reads itself, so nothing here can leak them.
type Config struct {
	DNSAddr    string
	HTTPAddr   string
	ConsulAddr string
	// Datacenter is the local datacenter; empty asks Consul (acl.go).
	Datacenter string
	Domain     string
	// ServiceTTL and NegativeTTL are in seconds, as they go on the wire.
	ServiceTTL      uint32
	NegativeTTL     uint32
	OnlyPassing     bool
	Prefetch        bool
	MaxServices     int
	IdleTimeout     time.Duration
	AwaitTimeout    time.Duration
	ShutdownTimeout time.Duration
	LogLevel        slog.Level
	LogFormat       string

	// Forwarding of names outside Domain. Upstreams nil means the nameservers of
	// /etc/resolv.conf; NoUpstreams ("--upstream none") means none, so only Stubs
	// are forwarded.
	Upstreams         []netip.AddrPort
	NoUpstreams       bool
	UpstreamStrategy  string
	UpstreamTimeout   time.Duration
	AllowRecursion    []netip.Prefix
	Stubs             []StubZone
	ForwardCacheSize  int
	ForwardCacheBytes int64
	ForwardStale      time.Duration

	// Answers (see config_dns.go).
	ServiceTTLs    resolver.TTLs
	AltDomain      string
	NSName         string
	NSAddrs        []netip.Addr
	MaxUDPSize     uint16
	UDPSockets     int
	NoHealthy      string
	PanicThreshold int
	MaxStale       time.Duration
	StateFile      string
}

// StubZone is a zone forwarded to servers of its own.
type StubZone struct {
	Zone    string // lower case, trailing dot
	Servers []netip.AddrPort
}

// LogValue lets the whole configuration be logged as one attribute at start-up.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("dns_addr", c.DNSAddr),
		slog.String("http_addr", c.HTTPAddr),
		slog.String("consul_addr", c.ConsulAddr),
		slog.String("datacenter", c.Datacenter),
		slog.String("domain", c.Domain),
		slog.Uint64("service_ttl", uint64(c.ServiceTTL)),
		slog.Uint64("negative_ttl", uint64(c.NegativeTTL)),
		slog.Bool("only_passing", c.OnlyPassing),
		slog.Bool("prefetch", c.Prefetch),
		slog.Int("max_services", c.MaxServices),
		slog.Duration("idle_timeout", c.IdleTimeout),
		slog.Duration("await_timeout", c.AwaitTimeout),
		slog.Duration("shutdown_timeout", c.ShutdownTimeout),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("log_format", c.LogFormat),
		slog.Any("upstreams", upstreamsLog(c)),
		slog.String("upstream_strategy", c.UpstreamStrategy),
		slog.Duration("upstream_timeout", c.UpstreamTimeout),
		slog.Any("allow_recursion", c.AllowRecursion),
		slog.Any("stubs", c.Stubs),
		slog.Int("forward_cache_size", c.ForwardCacheSize),
		slog.Int64("forward_cache_bytes", c.ForwardCacheBytes),
		slog.Duration("forward_stale", c.ForwardStale),
	)
}

func upstreamsLog(c Config) any {
	switch {
	case c.NoUpstreams:
		return "none"
	case c.Upstreams == nil:
		return "resolv.conf"
	}
	return c.Upstreams
}

// errVersion is returned by parseConfig when --version was given.
var errVersion = errors.New("version requested")

// rawFlag holds one setting's text and where it came from, so that an error can name
// the variable the user actually has to fix.
type rawFlag struct {
	spec  flagSpec
	value string
	from  string // "" for the default, else the flag or variable that set it
}

func (r *rawFlag) String() string { return r.value }

func (r *rawFlag) Set(v string) error {
	if r.spec.Repeat && r.from == "--"+r.spec.Name {
		v = r.value + "," + v
	}
	r.value = v
	r.from = "--" + r.spec.Name
	return nil
}

// IsBoolFlag lets "--prefetch" stand alone, as with flag.Bool.
func (r *rawFlag) IsBoolFlag() bool { return r.spec.Bool }

// errorf formats a validation error as `--name "value": reason`, noting the variable
// when the value came from the environment.
func (r *rawFlag) errorf(format string, args ...any) error {
	where := ""
	if r.from != "" && r.from != "--"+r.spec.Name {
		where = " (from " + r.from + ")"
	}
	return fmt.Errorf("--%s %q%s: %s", r.spec.Name, r.value, where, fmt.Sprintf(format, args...))
}

// parseConfig turns command-line arguments and environment into a validated Config.
// Precedence: flag, then SRVBRIDGE_<NAME>, then the default. An empty variable counts
// as unset. It returns flag.ErrHelp for --help and errVersion for --version.
func parseConfig(args []string, getenv func(string) string) (Config, error) {
	fs := flag.NewFlagSet("srvbridge", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once, by the caller
	fs.Usage = func() {}

	raw := make(map[string]*rawFlag, len(specs))
	for _, s := range specs {
		r := &rawFlag{spec: s, value: s.Default}
		if v := getenv(s.EnvName()); v != "" {
			r.value, r.from = v, s.EnvName()
		}
		fs.Var(r, s.Name, s.Usage)
		raw[s.Name] = r
	}
	version := fs.Bool("version", false, "print the version and exit")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, err
		}
		return Config{}, fmt.Errorf("%v (see --help)", err)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q: srvbridge takes flags only (see --help)", fs.Arg(0))
	}
	if *version {
		return Config{}, errVersion
	}

	// consul-addr defaults to what the consul CLI would use.
	if r := raw["consul-addr"]; r.from == "" {
		r.value = defaultConsulAddr
		if v := getenv("CONSUL_HTTP_ADDR"); v != "" {
			r.value, r.from = v, "CONSUL_HTTP_ADDR"
		}
	}

	var c Config
	var err error
	// Each step validates one setting; the first error wins so the user sees one line.
	steps := []func() error{
		func() error { c.DNSAddr, err = parseListenAddr(raw["dns-addr"], false); return err },
		func() error { c.HTTPAddr, err = parseListenAddr(raw["http-addr"], true); return err },
		func() error { c.ConsulAddr, err = parseConsulAddr(raw["consul-addr"]); return err },
		func() error { c.Datacenter, err = parseDatacenter(raw["datacenter"]); return err },
		func() error { c.Domain, err = parseDomain(raw["domain"]); return err },
		func() error { c.ServiceTTL, err = parseTTL(raw["service-ttl"]); return err },
		func() error { c.NegativeTTL, err = parseTTL(raw["negative-ttl"]); return err },
		func() error { c.OnlyPassing, err = parseBool(raw["only-passing"]); return err },
		func() error { c.Prefetch, err = parseBool(raw["prefetch"]); return err },
		func() error { c.MaxServices, err = parsePositiveInt(raw["max-services"]); return err },
		func() error { c.IdleTimeout, err = parsePositiveDuration(raw["idle-timeout"]); return err },
		func() error { c.AwaitTimeout, err = parsePositiveDuration(raw["await-timeout"]); return err },
		func() error { c.ShutdownTimeout, err = parsePositiveDuration(raw["shutdown-timeout"]); return err },
		func() error { c.LogLevel, err = parseLogLevel(raw["log-level"]); return err },
		func() error { c.LogFormat, err = parseLogFormat(raw["log-format"]); return err },
		func() error { c.Upstreams, c.NoUpstreams, err = parseUpstreams(raw["upstream"]); return err },
		func() error { c.UpstreamStrategy, err = parseStrategy(raw["upstream-strategy"]); return err },
		func() error { c.UpstreamTimeout, err = parseUpstreamTimeout(raw["upstream-timeout"]); return err },
		func() error { c.AllowRecursion, err = parseAllowRecursion(raw["allow-recursion"]); return err },
		func() error { c.Stubs, err = parseStubs(raw["stub"], c.Domain); return err },
		func() error { c.ForwardCacheSize, err = parseNonNegativeInt(raw["forward-cache-size"]); return err },
		func() error { c.ForwardCacheBytes, err = parseBytes(raw["forward-cache-bytes"]); return err },
		func() error { c.ForwardStale, err = parseSeconds(raw["forward-stale"]); return err },
		func() error { return parseAnswerSettings(&c, raw) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return Config{}, err
		}
	}
	return c, nil
}

// unknownEnv returns SRVBRIDGE_* variables that set no flag: most likely typos, which
// would otherwise be ignored without a word.
func unknownEnv(environ []string) []string {
	known := make(map[string]bool, len(specs))
	for _, s := range specs {
		known[s.EnvName()] = true
	}
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, envPrefix) && !known[name] {
			out = append(out, name)
		}
	}
	return out
}
