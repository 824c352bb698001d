package forward

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
)

// ResolvConf returns the nameservers of a resolv.conf file, on port 53, in file
// order: the host's own resolvers, which is where names outside Consul go by default.
// In a compose network that is Docker's embedded resolver.
func ResolvConf(path string) ([]netip.AddrPort, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ups, err := parseResolvConf(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ups, nil
}

func parseResolvConf(r io.Reader) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		// Link-local IPv6 servers carry a zone ("fe80::1%eth0"), which ParseAddr keeps.
		ip, err := netip.ParseAddr(fields[1])
		if err != nil {
			continue // glibc skips what it cannot parse too
		}
		ap := netip.AddrPortFrom(ip.Unmap(), 53)
		if !slices.Contains(out, ap) {
			out = append(out, ap)
		}
	}
	return out, sc.Err()
}
