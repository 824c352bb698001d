package main

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/srvbridge/srvbridge/resolver/wire"
)

// maxTTL is the largest TTL RFC 2181 (section 8) allows: 2^31 - 1 seconds.
const maxTTL = 1<<31 - 1

// parseListenAddr accepts host:port where host is an IP literal or empty (all
// interfaces). Host names are refused: a listener bound to whatever "localhost"
// resolves to first is a classic source of "works on my machine".
func parseListenAddr(r *rawFlag, allowPortZero bool) (string, error) {
	host, port, err := net.SplitHostPort(r.value)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return "", r.errorf("%s", ae.Err)
		}
		return "", r.errorf("%v", err)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return "", r.errorf("host %q is not an IP address (use an IP, or nothing for all interfaces)", host)
		}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	min := uint64(1)
	if allowPortZero {
		min = 0
	}
	if err != nil || p < min {
		return "", r.errorf("port %q is not a number from %d to 65535", port, min)
	}
	return net.JoinHostPort(host, strconv.FormatUint(p, 10)), nil
}

// parseConsulAddr accepts the forms consul/api accepts: host:port,
// http(s)://host[:port][/prefix] and unix:///path. It checks the form only; whether
// Consul answers there is the readiness probe's business.
func parseConsulAddr(r *rawFlag) (string, error) {
	v := strings.TrimSpace(r.value)
	if strings.Contains(v, "@") {
		// Never echo the value: it would print the credentials.
		return "", errors.New("--consul-addr: credentials in the address are not supported; use CONSUL_HTTP_TOKEN or CONSUL_HTTP_AUTH")
	}
	scheme, rest, hasScheme := strings.Cut(v, "://")
	if !hasScheme {
		scheme, rest = "", v
	}
	switch scheme {
	case "unix":
		if !strings.HasPrefix(rest, "/") || len(rest) < 2 {
			return "", r.errorf("unix socket path must be absolute, as in unix:///run/consul.sock")
		}
		return v, nil
	case "", "http", "https":
	default:
		return "", r.errorf("unknown scheme %q (want http, https or unix)", scheme)
	}
	hostport, _, _ := strings.Cut(rest, "/") // a path is a reverse-proxy prefix
	if hostport == "" {
		return "", r.errorf("missing host")
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		// The scheme implies the port (80/443); a bare host without one is a typo.
		if hasScheme && !strings.Contains(hostport, ":") {
			return v, nil
		}
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return "", r.errorf("%s", ae.Err)
		}
		return "", r.errorf("%v", err)
	}
	if host == "" {
		return "", r.errorf("missing host")
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return "", r.errorf("port %q is not a number from 1 to 65535", port)
	}
	return v, nil
}

// parseDomain normalises to lower case with a trailing dot and checks DNS name syntax.
// Underscores are allowed in labels because service names often contain them.
func parseDomain(r *rawFlag) (string, error) {
	d := strings.ToLower(strings.TrimSpace(r.value))
	if d == "" || d == "." {
		return "", r.errorf("must be a domain such as consul. (the root would swallow every name)")
	}
	d, err := wire.Domain(d)
	if err != nil {
		return "", r.errorf("%v", err)
	}
	return d, nil
}

// parseSeconds reads a Go duration ("5s", "1m30s") or a bare number of seconds ("5").
func parseSeconds(r *rawFlag) (time.Duration, error) {
	v := strings.TrimSpace(r.value)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, r.errorf("must not be negative")
		}
		if n > int64(maxTTL) {
			return 0, r.errorf("too large")
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, r.errorf("not a duration (such as 5s or 1m) or a number of seconds")
	}
	if d < 0 {
		return 0, r.errorf("must not be negative")
	}
	return d, nil
}

// parseTTL accepts whole seconds only, as DNS TTLs have no finer unit; rounding
// silently would make "1500ms" mean something other than what was written.
func parseTTL(r *rawFlag) (uint32, error) {
	d, err := parseSeconds(r)
	if err != nil {
		return 0, err
	}
	if d%time.Second != 0 {
		return 0, r.errorf("must be a whole number of seconds")
	}
	if d/time.Second > maxTTL {
		return 0, r.errorf("larger than the DNS maximum of %d seconds", maxTTL)
	}
	return uint32(d / time.Second), nil
}

func parsePositiveDuration(r *rawFlag) (time.Duration, error) {
	d, err := parseSeconds(r)
	if err != nil {
		return 0, err
	}
	if d == 0 {
		return 0, r.errorf("must be greater than zero")
	}
	return d, nil
}

func parseBool(r *rawFlag) (bool, error) {
	b, err := strconv.ParseBool(strings.TrimSpace(r.value))
	if err != nil {
		return false, r.errorf("not a boolean (true or false)")
	}
	return b, nil
}

func parsePositiveInt(r *rawFlag) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(r.value))
	if err != nil || n < 1 {
		return 0, r.errorf("must be a whole number of at least 1")
	}
	return n, nil
}

func parseLogLevel(r *rawFlag) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(r.value)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, r.errorf("want debug, info, warn or error")
}

func parseLogFormat(r *rawFlag) (string, error) {
	switch f := strings.ToLower(strings.TrimSpace(r.value)); f {
	case "text", "json":
		return f, nil
	}
	return "", r.errorf("want text or json")
}
