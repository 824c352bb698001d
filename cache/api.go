// Package cache holds what srvbridge serves: an immutable snapshot of the services it
// holds, each with answers pre-compiled by the resolver, swapped atomically so that
// readers never lock. It holds services on demand (or all of them with prefetch) and
// bounds how many; the Source keeps the held ones fresh. It knows nothing of sockets
// or of the Consul API.
package cache

import (
	"context"

	"github.com/srvbridge/srvbridge/health"
)

// Source is where service data comes from: health.Watcher in production.
type Source interface {
	LocalDatacenter(ctx context.Context) (string, error)
	Datacenters(ctx context.Context) ([]string, error)
	// WatchDatacenter follows dc until ctx is cancelled, giving sink the service
	// list, the node list and every new state of a held service.
	WatchDatacenter(ctx context.Context, dc string, sink health.Sink) error
	// Hold has name fetched now and kept fresh through dc's sink; Release stops it.
	Hold(dc, name string)
	Release(dc, name string)
	ExecuteQuery(ctx context.Context, dc, name string) (health.QueryResult, error)
}

// Result says what a lookup found and so which DNS answer follows.
type Result uint8

const (
	// Hit: the service is held and its compiled answers are returned.
	Hit Result = iota
	// NoService: the catalog has no such service, or no instance is left to serve.
	NoService
	// Miss: the catalog knows the service but it is not held yet; call Await.
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
