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

	"github.com/srvbridge/srvbridge/health"
	"github.com/srvbridge/srvbridge/internal/admin"
	"github.com/srvbridge/srvbridge/resolver"
)

// Config is the validated configuration. It holds no Consul credentials: those stay in
// the CONSUL_* variables that consul/api reads itself, so nothing here can leak them.
type Config struct {
	DNSAddr    string
	HTTPAddr   string
	ConsulAddr string
	// Datacenter is the local datacenter; empty asks Consul (datacenter.go).
	Datacenter string
	Domain     string
	// ServiceTTL and NegativeTTL are in seconds, as they go on the wire.
	ServiceTTL      uint32
	NegativeTTL     uint32
	Prefetch        bool
	MaxServices     int
	ConsulMaxConns  int
	ConsulGzip      bool
	IdleTimeout     time.Duration
	AwaitTimeout    time.Duration
	AwaitMaxBytes   int64
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
	SearchSuffixes []string
	MaxUDPSize     uint16
	UDPSockets     int
	UDPReader      string
	// Policy is the answer policy: --only-passing, --no-healthy, --panic-threshold.
	Policy    health.Policy
	MaxStale  time.Duration
	StateFile string

	// settings are the effective values of every flag, for LogValue.
	settings []setting
}

// StubZone is a zone forwarded to servers of its own.
type StubZone struct {
	Zone    string // lower case, trailing dot
	Servers []netip.AddrPort
}

// LogValue lets the whole configuration be logged as one attribute at start-up: every
// setting in the flag table, as it took effect, so a new flag is logged without
// anyone remembering to add it here.
func (c Config) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, len(c.settings))
	for _, s := range c.settings {
		attrs = append(attrs, slog.String(s.name, s.value))
	}
	return slog.GroupValue(attrs...)
}

// setting is one flag's effective value, ready to log.
type setting struct{ name, value string }

// effectiveSettings lists every flag in the table with the value that took effect,
// its shown default when that is computed at run time. Secrets are never copied:
// a Secret flag shows only whether it is set, and a password in a URL is masked.
func effectiveSettings(raw map[string]*rawFlag) []setting {
	out := make([]setting, 0, len(specs))
	for _, spec := range specs {
		r := raw[spec.Name]
		v := r.value
		switch {
		case spec.Secret && v != "":
			v = "(set)"
		case spec.Secret:
			v = "(not set)"
		case v == "" && r.from == "":
			v = spec.shownDefault()
		default:
			v = admin.RedactURL(v)
		}
		out = append(out, setting{strings.ReplaceAll(spec.Name, "-", "_"), v})
	}
	return out
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
		func() error { c.Policy.OnlyPassing, err = parseBool(raw["only-passing"]); return err },
		func() error { c.Prefetch, err = parseBool(raw["prefetch"]); return err },
		func() error { c.MaxServices, err = parsePositiveInt(raw["max-services"]); return err },
		func() error { c.ConsulMaxConns, err = parsePositiveInt(raw["consul-max-conns"]); return err },
		func() error { c.ConsulGzip, err = parseBool(raw["consul-gzip"]); return err },
		func() error { c.IdleTimeout, err = parsePositiveDuration(raw["idle-timeout"]); return err },
		func() error { c.AwaitTimeout, err = parsePositiveDuration(raw["await-timeout"]); return err },
		func() error { c.AwaitMaxBytes, err = parseBytes(raw["await-max-bytes"]); return err },
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
	c.settings = effectiveSettings(raw)
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
