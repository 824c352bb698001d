package main

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/srvbridge/srvbridge/resolver/wire"
)

// Validation of the forwarding flags. Whether an upstream points back at srvbridge
// itself depends on the host's addresses, so run checks that when it builds the
// forwarder; here only the form is checked.

// maxUpstreamTimeout is the resolver's deadline for one forwarded query: a longer
// per-upstream timeout would mean no failover at all.
const maxUpstreamTimeout = 4 * time.Second

// parseUpstreams reads "ip[:port],..."; empty means the resolv.conf default (nil),
// "none" means no upstreams.
func parseUpstreams(r *rawFlag) (ups []netip.AddrPort, none bool, err error) {
	v := strings.TrimSpace(r.value)
	switch v {
	case "":
		return nil, false, nil
	case "none":
		return nil, true, nil
	}
	for _, s := range strings.Split(v, ",") {
		ap, reason := serverAddr(strings.TrimSpace(s))
		if reason != "" {
			return nil, false, r.errorf("%s", reason)
		}
		if !slices.Contains(ups, ap) {
			ups = append(ups, ap)
		}
	}
	return ups, false, nil
}

// serverAddr reads "ip", "ip:port" or "[ipv6]:port", port 53 by default. Host names
// are refused: resolving the resolver would need a resolver (Kong refuses them too).
func serverAddr(s string) (netip.AddrPort, string) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		ip, ierr := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
		if ierr != nil {
			return ap, fmt.Sprintf("%q is not an IP address with an optional port (such as 10.0.0.2, 10.0.0.2:53 or [::1]:53)", s)
		}
		ap = netip.AddrPortFrom(ip, 53)
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	switch {
	case ap.Port() == 0:
		return ap, fmt.Sprintf("%q: port 0", s)
	case ap.Addr().IsUnspecified() || ap.Addr().IsMulticast():
		return ap, fmt.Sprintf("%q is not a unicast address", s)
	}
	return ap, ""
}

func parseStrategy(r *rawFlag) (string, error) {
	switch s := strings.ToLower(strings.TrimSpace(r.value)); s {
	case "sequential", "random":
		return s, nil
	}
	return "", r.errorf("want sequential or random")
}

func parseUpstreamTimeout(r *rawFlag) (time.Duration, error) {
	d, err := parsePositiveDuration(r)
	if err != nil {
		return 0, err
	}
	if d >= maxUpstreamTimeout {
		return 0, r.errorf("must be under %v, the deadline of a whole forwarded query", maxUpstreamTimeout)
	}
	return d, nil
}

// parseAllowRecursion reads "cidr,..." (a bare IP is one host); "none" allows no one.
func parseAllowRecursion(r *rawFlag) ([]netip.Prefix, error) {
	v := strings.TrimSpace(r.value)
	if v == "none" {
		return []netip.Prefix{}, nil
	}
	var out []netip.Prefix
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		p, err := netip.ParsePrefix(s)
		if err != nil {
			ip, ierr := netip.ParseAddr(s)
			if ierr != nil {
				return nil, r.errorf("%q is not a CIDR (such as 10.0.0.0/8) or an IP address", s)
			}
			p = netip.PrefixFrom(ip, ip.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// parseStubs reads "zone=ip[:port][;ip[:port]...],...". A zone inside domain would
// never be forwarded: srvbridge answers those names itself.
func parseStubs(r *rawFlag, domain string) ([]StubZone, error) {
	v := strings.TrimSpace(r.value)
	if v == "" || v == "none" {
		return nil, nil
	}
	var out []StubZone
	for _, s := range strings.Split(v, ",") {
		zone, servers, ok := strings.Cut(strings.TrimSpace(s), "=")
		if !ok || strings.TrimSpace(servers) == "" {
			return nil, r.errorf("%q: want zone=ip[:port][;ip[:port]...]", s)
		}
		name := strings.ToLower(strings.TrimSpace(zone))
		if name == "" || name == "." {
			return nil, r.errorf("the root is not a stub zone: use --upstream")
		}
		zone, err := wire.Domain(name)
		if err != nil {
			return nil, r.errorf("zone %q: %v", name, err)
		}
		if zone == domain || strings.HasSuffix(zone, "."+domain) {
			return nil, r.errorf("zone %s is inside --domain %s, which srvbridge answers itself", zone, domain)
		}
		sz := StubZone{Zone: zone}
		for _, srv := range strings.Split(servers, ";") {
			ap, reason := serverAddr(strings.TrimSpace(srv))
			if reason != "" {
				return nil, r.errorf("zone %s: %s", zone, reason)
			}
			if !slices.Contains(sz.Servers, ap) {
				sz.Servers = append(sz.Servers, ap)
			}
		}
		for _, other := range out {
			if other.Zone == zone {
				return nil, r.errorf("zone %s given twice", zone)
			}
		}
		out = append(out, sz)
	}
	return out, nil
}

func parseNonNegativeInt(r *rawFlag) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(r.value))
	if err != nil || n < 0 {
		return 0, r.errorf("must be a whole number, 0 or more")
	}
	return n, nil
}

// parseBytes reads a size in bytes, optionally with a binary unit: 65536, 64KiB, 16MiB.
func parseBytes(r *rawFlag) (int64, error) {
	v := strings.TrimSpace(r.value)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			v, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 || n > (1<<40)/mult {
		return 0, r.errorf("want a size such as 16MiB, 512KiB or 1048576 (bytes), from 1 byte to 1024GiB")
	}
	return n * mult, nil
}
