package admin

import "time"

// What the status page lists, in admin's own types: cmd/srvbridge converts the
// cache's listing into them, so this package knows nothing of cache or health.

// ServiceLister lists what the cache serves; cmd/srvbridge adapts *cache.Store.
type ServiceLister interface {
	Services(ServiceQuery) Listing
}

// ServiceQuery chooses what Services lists.
type ServiceQuery struct {
	// Contains keeps services whose name contains it, ignoring case; empty keeps all.
	Contains string
	// Limit bounds the services listed, Instances the instances listed per service;
	// 0 means no bound.
	Limit, Instances int
}

// Listing is a point-in-time view of the services the cache holds.
type Listing struct {
	// Datacenter is the local datacenter.
	Datacenter string
	// Services are the fetched services that matched, by datacenter (local first)
	// then name, at most ServiceQuery.Limit of them.
	Services []ServiceStatus
	// Matched counts the fetched services that matched, listed or not.
	Matched int
	// Catalog counts the services the read catalogs list, fetched or not.
	Catalog int
}

// ServiceStatus is one fetched service.
type ServiceStatus struct {
	Name, Datacenter string
	// Served counts the instances in the answers; Listed those Consul lists, served
	// or not.
	Served, Listed int
	// Instances are the first of the Listed ones, at most ServiceQuery.Instances.
	Instances []InstanceStatus
	// Fallback names the policy the answers fall back to (no healthy instance, or
	// the panic threshold); empty when the healthy instances are served.
	Fallback string
	// Updated is when srvbridge applied Consul's last change.
	Updated time.Time
	// LastUsed is the last query for the service, or when it was held if none since.
	LastUsed time.Time
}

// InstanceStatus is one instance of a service as Consul lists it.
type InstanceStatus struct {
	ID, Node, Address string
	Port, Weight      uint16
	// Health is Consul's aggregated status: passing, warning, critical, maintenance.
	Health string
	// Served: the instance is in the answers.
	Served bool
	Tags   []string
}
