package main

// The start-up try at Consul, and --datacenter. What srvbridge reports when Consul
// refuses its ACL token is internal/admin's business (docs/consul-acl.md).

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/srvbridge/srvbridge/health"
)

// errUnknownDatacenter: --datacenter names a datacenter Consul does not know.
var errUnknownDatacenter = errors.New("unknown datacenter")

// localDatacenter is the start-up try at Consul. With --datacenter (name) it only
// checks that Consul answers and knows that datacenter (/v1/catalog/datacenters,
// which needs no ACL); without, it asks Consul which datacenter is local.
func localDatacenter(ctx context.Context, name string, w *health.Watcher) (string, error) {
	if name == "" {
		return w.LocalDatacenter(ctx)
	}
	dcs, err := w.Datacenters(ctx)
	if err != nil {
		return name, err
	}
	if !slices.Contains(dcs, name) {
		return name, fmt.Errorf("--datacenter %q: %w: Consul knows %s", name, errUnknownDatacenter, strings.Join(dcs, ", "))
	}
	return name, nil
}

// validDatacenter is what Consul accepts as a datacenter name (lower case after its
// own folding), which must also fit in one DNS label.
var validDatacenter = regexp.MustCompile(`^[a-z0-9_-]{1,63}$`)

// parseDatacenter reads --datacenter: empty (learn it from Consul) or a name.
func parseDatacenter(r *rawFlag) (string, error) {
	dc := strings.ToLower(strings.TrimSpace(r.value))
	if dc != "" && !validDatacenter.MatchString(dc) {
		return "", r.errorf("a datacenter name has 1 to 63 letters, digits, - or _")
	}
	return dc, nil
}
