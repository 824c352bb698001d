package cache

import (
	"slices"
	"strings"
	"time"
)

// ServiceStatus is one catalog service as the status page shows it.
type ServiceStatus struct {
	Name       string
	Datacenter string
	// Service is the last state read from Consul. Only fetched services are
	// listed: a fetched entry exists exactly while the service is held.
	Service *Service
	// LastUsed is when a query last looked the service up, or when it was held
	// if none has since (whole seconds).
	LastUsed time.Time
}

// StatusFilter chooses which services Status lists.
type StatusFilter struct {
	// Contains keeps services whose name contains it, ignoring case; empty keeps all.
	Contains string
	// Limit bounds the services returned; 0 means no bound.
	Limit int
}

// StoreStatus is a point-in-time listing for operators, off the query path.
type StoreStatus struct {
	LocalDC string
	// Services are the fetched services that matched the filter, by datacenter
	// (local first) then name, at most Limit of them.
	Services []ServiceStatus
	// Matched counts the fetched services that matched, listed or not.
	Matched int
	// Catalog counts the services the read catalogs list, fetched or not.
	Catalog int
}

// Status lists the fetched services. It reads the same immutable snapshot queries
// read, so it never blocks them; the cost is one pass over the catalog.
func (s *Store[C]) Status(f StatusFilter) StoreStatus {
	snap := s.snap.Load()
	st := StoreStatus{LocalDC: snap.localDC}
	want := strings.ToLower(f.Contains)
	for _, v := range snap.dcs {
		st.Catalog += len(v.services)
		for key, sl := range v.services {
			e := sl.entry.Load()
			if e == nil || (want != "" && !strings.Contains(key, want)) {
				continue
			}
			st.Matched++
			var used time.Time
			if u := sl.lastUsed.Load(); u > 0 {
				used = time.Unix(u, 0)
			}
			st.Services = append(st.Services, ServiceStatus{
				Name: sl.name, Datacenter: v.name, Service: e.svc, LastUsed: used,
			})
		}
	}
	slices.SortFunc(st.Services, func(a, b ServiceStatus) int {
		if a.Datacenter != b.Datacenter {
			switch {
			case a.Datacenter == snap.localDC:
				return -1
			case b.Datacenter == snap.localDC:
				return 1
			}
			return strings.Compare(a.Datacenter, b.Datacenter)
		}
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	if f.Limit > 0 && len(st.Services) > f.Limit {
		st.Services = st.Services[:f.Limit]
	}
	return st
}
