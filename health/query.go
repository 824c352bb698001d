package health

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/consul/api"
)

// ErrNoQuery means no prepared query has that name or ID.
var ErrNoQuery = errors.New("no such prepared query")

// QueryResult is one execution of a prepared query: the instances it chose (Consul
// already applied the query's own health filter and failover) and how long the
// query says its answer may be cached.
type QueryResult struct {
	ServiceState
	// TTL is the query's DNS TTL, 0 when it sets none.
	TTL time.Duration
}

// ExecuteQuery runs a prepared query (/v1/query/<name>/execute). Prepared queries
// cannot be watched with blocking queries; callers cache the result for its TTL.
func (w *Watcher) ExecuteQuery(ctx context.Context, dc, name string) (QueryResult, error) {
	rctx, cancel := context.WithTimeout(ctx, oneShotTimeout)
	defer cancel()
	defer w.stats.begin(KindQuery)()
	q := (&api.QueryOptions{Datacenter: dc, AllowStale: w.cfg.AllowStale}).WithContext(rctx)
	resp, meta, err := w.cfg.Client.PreparedQuery().Execute(name, q)
	if err == nil && resp != nil {
		err = emptied(KindQuery, len(resp.Nodes), meta, false)
	}
	err = w.stats.acl.observeOneShot(w.log, KindQuery, "/v1/query/"+name+"/execute", err)
	if err != nil {
		if ctx.Err() != nil {
			return QueryResult{}, ctx.Err()
		}
		var se api.StatusError
		if errors.As(err, &se) && se.Code == http.StatusNotFound {
			return QueryResult{}, fmt.Errorf("execute query %s/%s: %w", dc, name, ErrNoQuery)
		}
		w.stats.failed(KindQuery, err)
		return QueryResult{}, fmt.Errorf("execute query %s/%s: %w", dc, name, classify(dc, err))
	}
	w.stats.contact()
	entries := make([]*api.ServiceEntry, len(resp.Nodes))
	for i := range resp.Nodes {
		entries[i] = &resp.Nodes[i]
	}
	r := QueryResult{ServiceState: ServiceState{Service: resp.Service, Datacenter: resp.Datacenter,
		Instances: instancesFrom(entries, w.cfg.Policy.OnlyPassing)}}
	if resp.DNS.TTL != "" {
		if d, err := time.ParseDuration(resp.DNS.TTL); err == nil && d > 0 {
			r.TTL = d
		}
	}
	return r, nil
}
