package main

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/srvbridge/srvbridge/health"
	"github.com/srvbridge/srvbridge/resolver"
	"github.com/srvbridge/srvbridge/resolver/transport"
)

// parseAnswerSettings reads the settings that shape answers and their staleness.
func parseAnswerSettings(c *Config, raw map[string]*rawFlag) error {
	var err error
	if r := raw["service-ttls"]; strings.TrimSpace(r.value) != "" {
		if c.ServiceTTLs, err = resolver.ParseTTLs(r.value); err != nil {
			return r.errorf("%v", err)
		}
	}
	if r := raw["alt-domain"]; strings.TrimSpace(r.value) != "" {
		if c.AltDomain, err = parseDomain(r); err != nil {
			return err
		}
		if c.AltDomain == c.Domain {
			return r.errorf("is the same as --domain")
		}
	}
	if r := raw["ns-name"]; strings.TrimSpace(r.value) != "" {
		if c.NSName, err = parseDomain(r); err != nil {
			return err
		}
	}
	if r := raw["ns-address"]; strings.TrimSpace(r.value) != "" {
		for _, f := range strings.Split(r.value, ",") {
			ip, err := netip.ParseAddr(strings.TrimSpace(f))
			if err != nil {
				return r.errorf("%q is not an IP address", strings.TrimSpace(f))
			}
			c.NSAddrs = append(c.NSAddrs, ip.Unmap())
		}
	}
	if r := raw["search-suffix"]; strings.TrimSpace(r.value) != "" {
		for _, f := range strings.Split(r.value, ",") {
			f = strings.TrimSpace(f)
			d, err := parseDomain(&rawFlag{spec: r.spec, value: strings.TrimPrefix(f, "*."), from: r.from})
			if err != nil {
				return err
			}
			if strings.HasPrefix(f, "*.") {
				d = "*." + d
			}
			c.SearchSuffixes = append(c.SearchSuffixes, d)
		}
	}
	r := raw["max-udp-size"]
	n, err := strconv.Atoi(strings.TrimSpace(r.value))
	if err != nil || n < 512 || n > 65535 {
		return r.errorf("want a number of bytes from 512 to 65535")
	}
	c.MaxUDPSize = uint16(n)
	if c.UDPSockets, err = parseNonNegativeInt(raw["udp-sockets"]); err != nil {
		return err
	}
	if c.UDPSockets > 1024 {
		return raw["udp-sockets"].errorf("at most 1024")
	}
	switch r := raw["udp-reader"]; strings.TrimSpace(r.value) {
	case transport.ReaderPoller, transport.ReaderThread:
		c.UDPReader = strings.TrimSpace(r.value)
	default:
		return r.errorf("want poller or thread")
	}
	r = raw["no-healthy"]
	if c.Policy.NoHealthy, err = health.ParseNoHealthy(r.value); err != nil {
		return r.errorf("want nxdomain, nodata or all")
	}
	r = raw["panic-threshold"]
	if c.Policy.PanicPercent, err = strconv.Atoi(strings.TrimSpace(r.value)); err != nil || c.Policy.Validate() != nil {
		return r.errorf("want a whole percentage from 0 to 100")
	}
	if c.MaxStale, err = parseSeconds(raw["max-stale"]); err != nil {
		return err
	}
	c.StateFile = strings.TrimSpace(raw["state-file"].value)
	return nil
}
