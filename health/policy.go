package health

import (
	"cmp"
	"math"
	"slices"
	"strings"

	"github.com/hashicorp/consul/api"
)

// classifyChecks applies the health policy to every check of one instance: the node's
// checks (serfHealth, node maintenance) as well as the service's own. It mirrors the
// filter of Consul's DNS (CheckServiceNodes.Filter): an instance is out when any check
// is critical, and under onlyPassing when any check is not passing. Maintenance is a
// critical check in Consul; it is matched by ID as well so that the policy does not
// depend on the status Consul happens to give it.
//
// A status Consul does not define (neither passing, warning nor critical) counts as
// Warning: Consul's DNS serves such instances by default and drops them under
// only_passing, which is exactly what Warning means here.
func classifyChecks(checks api.HealthChecks, onlyPassing bool) Status {
	st := Passing
	for _, c := range checks {
		if c == nil {
			continue
		}
		// An instance imported from a cluster peer carries one aggregated check,
		// "<id>:overall-check", whose status is "maintenance" when the exporting
		// side put it or its node in maintenance (Consul 1.16.3).
		if isMaintenance(c.CheckID) || c.Status == api.HealthCritical || c.Status == api.HealthMaint {
			return Critical
		}
		if c.Status != api.HealthPassing {
			st = Warning
		}
	}
	if st == Warning && onlyPassing {
		return Critical
	}
	return st
}

func isMaintenance(checkID string) bool {
	return checkID == api.NodeMaint || strings.HasPrefix(checkID, api.ServiceMaintPrefix)
}

// weightFor picks the SRV weight the way Consul's DNS does (findWeight in agent/dns.go),
// from Consul's aggregated status rather than our policy, so that --only-passing does
// not change the weight of an instance that is served anyway.
//
//   - Weights absent (both 0, as in a catalog registration without weights): 1 and 1,
//     Consul's defaults.
//   - Otherwise Consul's values are kept, including a Warning weight of 0, which Consul
//     allows on purpose ("serve, but prefer others"); RFC 2782 gives weight 0 exactly
//     that meaning. Some clients (Kong) treat 0 as 1: that is the resolver's concern.
//   - Values outside uint16 are clamped; Consul's agent rejects them, the raw catalog
//     endpoint does not.
//   - A non-standard status gets 1, as in Consul.
//   - Critical and maintenance instances, which Consul never serves, keep their passing
//     weight, so a later fallback stage that serves them anyway still spreads load the
//     way operators configured.
func weightFor(w api.AgentWeights, rawStatus string) uint16 {
	passing, warning := w.Passing, w.Warning
	if passing == 0 && warning == 0 {
		passing, warning = 1, 1
	}
	switch rawStatus {
	case api.HealthWarning:
		return clampUint16(warning)
	case api.HealthPassing, api.HealthCritical, api.HealthMaint:
		return clampUint16(passing)
	default:
		return 1
	}
}

func clampUint16(v int) uint16 {
	return uint16(min(max(v, 0), math.MaxUint16))
}

// instanceFrom converts one /v1/health/service entry.
func instanceFrom(e *api.ServiceEntry, onlyPassing bool) Instance {
	in := Instance{RawStatus: e.Checks.AggregatedStatus(), Status: classifyChecks(e.Checks, onlyPassing)}
	if e.Node != nil {
		in.Node = e.Node.Node
		in.NodeAddress = e.Node.Address
	}
	if s := e.Service; s != nil {
		in.ID = s.ID
		in.Port = clampUint16(s.Port)
		in.Tags = slices.Clone(s.Tags)
		in.Address = s.Address
		in.Weight = weightFor(s.Weights, in.RawStatus)
		in.Virtual = s.TaggedAddresses[virtualTag].Address
	}
	in.OwnAddress = in.Address != ""
	if !in.OwnAddress {
		in.Address = in.NodeAddress
	}
	return in
}

// instancesFrom converts a whole answer, sorted by node then ID so that an unchanged
// service yields an identical Update whatever order Consul used.
func instancesFrom(entries []*api.ServiceEntry, onlyPassing bool) []Instance {
	out := make([]Instance, 0, len(entries))
	for _, e := range entries {
		if e == nil {
			continue
		}
		out = append(out, instanceFrom(e, onlyPassing))
	}
	slices.SortFunc(out, func(a, b Instance) int {
		return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.ID, b.ID))
	})
	return out
}
