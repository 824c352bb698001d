package health

import (
	"cmp"
	"math"
	"slices"
	"strings"

	"github.com/hashicorp/consul/api"
)

// checkState is the part of a check the policy reads.
type checkState struct {
	CheckID, Status string
}

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
func classifyChecks(checks []checkState, onlyPassing bool) Status {
	st := Passing
	for _, c := range checks {
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

// aggregatedStatus is api.HealthChecks.AggregatedStatus, to the letter: Consul's own
// summary, shown to operators and read by weightFor. A status it does not know
// makes it "" at once, whatever the checks after it say.
func aggregatedStatus(checks []checkState) string {
	var warning, critical, maintenance bool
	for _, c := range checks {
		if isMaintenance(c.CheckID) {
			maintenance = true
			continue
		}
		switch c.Status {
		case api.HealthPassing:
		case api.HealthWarning:
			warning = true
		case api.HealthCritical:
			critical = true
		default:
			return ""
		}
	}
	switch {
	case maintenance:
		return api.HealthMaint
	case critical:
		return api.HealthCritical
	case warning:
		return api.HealthWarning
	default: // passing, or no check at all
		return api.HealthPassing
	}
}

// checkStates gives api checks the shape the policy reads. A nil check is no check.
func checkStates(checks api.HealthChecks) []checkState {
	out := make([]checkState, 0, len(checks))
	for _, c := range checks {
		if c != nil {
			out = append(out, checkState{CheckID: c.CheckID, Status: c.Status})
		}
	}
	return out
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

// instance applies the policy to one entry of an answer. The instance keeps e's
// strings and tags: e is decoded for it and dropped.
func (e *serviceEntry) instance(onlyPassing bool) Instance {
	s := &e.Service
	in := Instance{ID: s.ID, Node: e.Node.Node, NodeAddress: e.Node.Address, Address: s.Address,
		Port: clampUint16(s.Port), Tags: s.Tags, RawStatus: aggregatedStatus(e.Checks),
		Status: classifyChecks(e.Checks, onlyPassing), Virtual: s.TaggedAddresses.Virtual.Address}
	in.Weight = weightFor(s.Weights, in.RawStatus)
	in.OwnAddress = in.Address != ""
	if !in.OwnAddress {
		in.Address = in.NodeAddress
	}
	return in
}

// instances converts a whole answer, sorted by node then ID so that an unchanged
// service yields an identical Update whatever order Consul used.
func instances(entries []serviceEntry, onlyPassing bool) []Instance {
	out := make([]Instance, len(entries))
	for i := range entries {
		out[i] = entries[i].instance(onlyPassing)
	}
	sortInstances(out)
	return out
}

func sortInstances(ins []Instance) {
	slices.SortFunc(ins, func(a, b Instance) int {
		return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.ID, b.ID))
	})
}

// slimEntry gives an api entry (a prepared query's answer) the shape the policy
// reads. Its tags are copied: the api package may reuse its decoded slice.
func slimEntry(e *api.ServiceEntry) serviceEntry {
	var out serviceEntry
	if e.Node != nil {
		out.Node.Node, out.Node.Address = e.Node.Node, e.Node.Address
	}
	if s := e.Service; s != nil {
		out.Service.ID, out.Service.Service, out.Service.Address = s.ID, s.Service, s.Address
		out.Service.Port, out.Service.Weights = s.Port, s.Weights
		out.Service.Tags = slices.Clone(s.Tags)
		out.Service.TaggedAddresses.Virtual.Address = s.TaggedAddresses[virtualTag].Address
	}
	out.Checks = checkStates(e.Checks)
	return out
}

// instanceFrom converts one api entry.
func instanceFrom(e *api.ServiceEntry, onlyPassing bool) Instance {
	s := slimEntry(e)
	in := s.instance(onlyPassing)
	if e.Service == nil {
		in.Weight = 0 // no service, no weight to pick
	}
	return in
}

// instancesFrom converts a whole api answer; nil entries are skipped.
func instancesFrom(entries []*api.ServiceEntry, onlyPassing bool) []Instance {
	out := make([]Instance, 0, len(entries))
	for _, e := range entries {
		if e != nil {
			out = append(out, instanceFrom(e, onlyPassing))
		}
	}
	sortInstances(out)
	return out
}
