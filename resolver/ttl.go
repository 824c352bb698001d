package resolver

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// TTLs are per-service TTL overrides with Consul's precedence (dns_config.service_ttl):
// an exact name beats the longest matching "prefix*", which beats "*".
type TTLs struct {
	exact    map[string]uint32
	prefixes []prefixTTL // longest first
	any      *uint32
}

type prefixTTL struct {
	prefix string
	ttl    uint32
}

// ParseTTLs reads "name=10s,api-*=3s,*=5s". Durations are whole seconds; names are
// compared without case.
func ParseTTLs(spec string) (TTLs, error) {
	t := TTLs{exact: map[string]uint32{}}
	if strings.TrimSpace(spec) == "" {
		return t, nil
	}
	for _, item := range strings.Split(spec, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(item), "=")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || name == "" {
			return TTLs{}, fmt.Errorf("%q: want name=duration", item)
		}
		d, err := time.ParseDuration(strings.TrimSpace(val))
		if err != nil {
			return TTLs{}, fmt.Errorf("%q: %w", item, err)
		}
		if d < 0 || d%time.Second != 0 || d > 24*time.Hour {
			return TTLs{}, fmt.Errorf("%q: want whole seconds from 0s to 24h", item)
		}
		secs := uint32(d / time.Second)
		switch {
		case name == "*":
			t.any = &secs
		case strings.HasSuffix(name, "*"):
			p := strings.TrimSuffix(name, "*")
			if strings.Contains(p, "*") {
				return TTLs{}, fmt.Errorf("%q: only a trailing * is allowed", item)
			}
			t.prefixes = append(t.prefixes, prefixTTL{p, secs})
		default:
			if strings.Contains(name, "*") {
				return TTLs{}, fmt.Errorf("%q: only a trailing * is allowed", item)
			}
			t.exact[name] = secs
		}
	}
	sort.SliceStable(t.prefixes, func(i, j int) bool { return len(t.prefixes[i].prefix) > len(t.prefixes[j].prefix) })
	return t, nil
}

// For returns the TTL for a service, or def when nothing matches.
func (t TTLs) For(service string, def uint32) uint32 {
	service = strings.ToLower(service)
	if ttl, ok := t.exact[service]; ok {
		return ttl
	}
	for _, p := range t.prefixes {
		if strings.HasPrefix(service, p.prefix) {
			return p.ttl
		}
	}
	if t.any != nil {
		return *t.any
	}
	return def
}
