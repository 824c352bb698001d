// Package cache holds what srvbridge serves: an immutable snapshot of the services it
// watches, each with answers pre-compiled by the resolver, swapped atomically so that
// readers never lock. It starts and stops Consul watches on demand and bounds them.
// It knows nothing of sockets or of the Consul API.
package cache

import (
	"context"

	"github.com/srvbridge/srvbridge/health"
)

// Source is where service data comes from: health.Watcher in production. Each method
// blocks, calling out with every new state, until ctx is cancelled.
type Source interface {
	LocalDatacenter(ctx context.Context) (string, error)
	Datacenters(ctx context.Context) ([]string, error)
	WatchCatalog(ctx context.Context, dc string, out func(health.Catalog)) error
	WatchService(ctx context.Context, dc, name string, out func(health.Update)) error
	WatchNodes(ctx context.Context, dc string, out func(health.Nodes)) error
	ExecuteQuery(ctx context.Context, dc, name string) (health.QueryResult, error)
}

// Result says what a lookup found and so which DNS answer follows.
type Result uint8

const (
	// Hit: the service is watched and its compiled answers are returned.
	Hit Result = iota
	// NoService: the catalog has no such service, or no instance is left to serve.
	NoService
	// Miss: the catalog knows the service but it is not watched yet; call Await.
	Miss
	// NoDatacenter: the datacenter is not one Consul knows.
	NoDatacenter
	// NotReady: the catalog has never been read, so no negative answer can be given.
	NotReady
)

func (r Result) String() string {
	switch r {
	case Hit:
		return "hit"
	case NoService:
		return "no-service"
	case Miss:
		return "miss"
	case NoDatacenter:
		return "no-datacenter"
	default:
		return "not-ready"
	}
}
