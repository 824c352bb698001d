package main

// subcommands.go holds the two subcommands a container needs: "healthcheck", because
// the distroless image has no shell or curl for a HEALTHCHECK, and "version". The
// server itself takes flags only, so a first argument that is a bare word is
// unambiguous.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"time"
)

// subcommands are the words realMain dispatches before parsing server flags.
var subcommands = map[string]func(args []string, getenv func(string) string, stdout, stderr io.Writer) int{
	"healthcheck": runHealthcheck,
	"version":     runVersion,
}

// runSubcommand runs the subcommand named by args[0]. ok is false when args[0] names
// none, and the caller goes on to start the server.
func runSubcommand(args []string, getenv func(string) string, stdout, stderr io.Writer) (code int, ok bool) {
	if len(args) == 0 {
		return 0, false
	}
	run, ok := subcommands[args[0]]
	if !ok {
		return 0, false
	}
	return run(args[1:], getenv, stdout, stderr), true
}

// versionLine is what both "srvbridge version" and "srvbridge --version" print.
func versionLine() string {
	return fmt.Sprintf("srvbridge %s (commit %s, %s)", version, commit, runtime.Version())
}

func runVersion(args []string, _ func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "srvbridge version: unexpected argument %q\n", args[0])
		return exitUsage
	}
	fmt.Fprintln(stdout, versionLine())
	return exitOK
}

const healthcheckUsage = `Usage: srvbridge healthcheck [--live] [--http-addr host:port] [--timeout duration]

Asks the running srvbridge's admin server whether it is ready (GET /readyz) or,
with --live, alive (GET /healthz). Exits 0 if it answered 200, 1 otherwise. Meant
for Docker's HEALTHCHECK in an image that has no shell or curl.

The admin address comes from --http-addr, else SRVBRIDGE_HTTP_ADDR, else the
server's default, exactly as for the server, so set the server's address through
the environment variable and both agree. A wildcard host (empty, 0.0.0.0 or ::)
is asked on loopback.

Flags:
  --live                 probe /healthz instead of /readyz
  --http-addr host:port  admin address (env SRVBRIDGE_HTTP_ADDR, default ` + defaultHTTPAddr + `)
  --timeout duration     give up after this long (default 2s)
`

// runHealthcheck is "srvbridge healthcheck".
//
// Why readiness by default: Docker's health status feeds compose's
// depends_on: service_healthy (Kong must not start before srvbridge answers) and
// Swarm's routing, and plain Docker never restarts an unhealthy container. /readyz
// only fails before the first Consul catalog read and while shutting down: once
// ready, a Consul outage keeps it ready (srvbridge serves what it has), so using it
// as the container's health cannot turn a Consul outage into restarts.
// Kubernetes, which has separate probes, uses /healthz and /readyz directly.
func runHealthcheck(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("srvbridge healthcheck", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}

	var spec flagSpec
	for _, s := range specs {
		if s.Name == "http-addr" {
			spec = s
		}
	}
	addr := &rawFlag{spec: spec, value: spec.Default}
	if v := getenv(spec.EnvName()); v != "" {
		addr.value, addr.from = v, spec.EnvName()
	}
	fs.Var(addr, spec.Name, spec.Usage)
	live := fs.Bool("live", false, "probe /healthz instead of /readyz")
	timeout := fs.Duration("timeout", 2*time.Second, "give up after this long")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			io.WriteString(stdout, healthcheckUsage)
			return exitOK
		}
		fmt.Fprintf(stderr, "srvbridge healthcheck: %v (see --help)\n", err)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "srvbridge healthcheck: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if *timeout <= 0 {
		fmt.Fprintf(stderr, "srvbridge healthcheck: --timeout must be positive\n")
		return exitUsage
	}
	hostport, err := parseListenAddr(addr, false)
	if err != nil {
		fmt.Fprintf(stderr, "srvbridge healthcheck: %v\n", err)
		return exitUsage
	}

	path := "/readyz"
	if *live {
		path = "/healthz"
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	body, err := probe(ctx, "http://"+dialTarget(hostport)+path)
	if err != nil {
		fmt.Fprintf(stderr, "srvbridge healthcheck: %v\n", err)
		return exitFailure
	}
	// Docker keeps the last lines of output in `docker inspect`: the body says why.
	io.WriteString(stdout, body)
	return exitOK
}

// dialTarget maps a listen address to one a local client can connect to: the server
// listening on a wildcard accepts on loopback too.
func dialTarget(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if host == "" {
		return net.JoinHostPort("127.0.0.1", port)
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsUnspecified() {
		if ip.Is4() {
			return net.JoinHostPort("127.0.0.1", port)
		}
		return net.JoinHostPort("::1", port)
	}
	return listen
}

// maxProbeBody caps what is read and echoed: /readyz says one line.
const maxProbeBody = 4 << 10

// probe GETs url and returns the body if the status is 200; otherwise an error that
// carries the status and the body's first line (the "not ready" reason).
func probe(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	// No proxy: HTTP_PROXY in a container's environment must not divert a probe of
	// loopback (net/http skips proxies for loopback anyway, but make it explicit).
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxProbeBody))
	body := string(b)
	if resp.StatusCode != http.StatusOK {
		line, _, _ := strings.Cut(strings.TrimSpace(body), "\n")
		return "", fmt.Errorf("GET %s: %s: %s", url, resp.Status, line)
	}
	return body, nil
}
