package health

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/consul/api"
)

// LocalDatacenter learns which datacenter the agent belongs to, with what the token
// may read. /v1/agent/self says it directly but needs agent:read, which the read-only
// token Consul documents for DNS does not have; Consul's answers carry no datacenter
// header either. So, in turn:
//
//  1. /v1/agent/self (agent:read); once refused, never asked again;
//  2. the Datacenter field of the local catalog's nodes (/v1/catalog/nodes, node:read),
//     which the agent answers from its own datacenter;
//  3. /v1/catalog/datacenters (no ACL) when it lists exactly one.
//
// When none works the error wraps ErrPermission and suggests --datacenter.
func (w *Watcher) LocalDatacenter(ctx context.Context) (string, error) {
	var selfErr error
	if !w.stats.acl.noAgentSelf.Load() {
		dc, err := w.agentDatacenter(ctx)
		if err == nil || !errors.Is(err, ErrPermission) {
			return dc, err
		}
		selfErr = err
		w.stats.acl.noAgentSelf.Store(true)
		w.log.Info("the ACL token may not read /v1/agent/self (agent:read); learning the local datacenter from the catalog")
	}
	dc, nodesErr := w.nodesDatacenter(ctx)
	if nodesErr == nil || !errors.Is(nodesErr, ErrPermission) {
		w.stats.acl.trackOneShot(w.log, KindDatacenters, nil)
		return dc, nodesErr
	}
	dcs, err := w.Datacenters(ctx)
	if err != nil {
		return "", fmt.Errorf("local datacenter: %w", err)
	}
	if len(dcs) == 1 {
		w.stats.acl.trackOneShot(w.log, KindDatacenters, nil)
		return dcs[0], nil
	}
	pe := &PermissionError{Endpoint: "/v1/catalog/nodes", Cause: causeFiltered, Permission: "node:read or agent:read"}
	errors.As(nodesErr, &pe)
	refused := *pe
	refused.Kind = KindDatacenters
	refused.Endpoint = "/v1/agent/self and " + pe.Endpoint
	if selfErr == nil {
		refused.Endpoint = pe.Endpoint
	}
	refused.Permission = "agent:read or node:read; or name the datacenter with --datacenter (Consul lists " +
		strings.Join(dcs, ", ") + ")"
	w.stats.acl.trackOneShot(w.log, KindDatacenters, &refused)
	return "", fmt.Errorf("local datacenter: %w", &refused)
}

// agentDatacenter asks /v1/agent/self.
func (w *Watcher) agentDatacenter(ctx context.Context) (string, error) {
	var self struct {
		Config struct{ Datacenter string }
	}
	const path = "/v1/agent/self"
	err := w.ask(ctx, KindDatacenters, path, func(q *api.QueryOptions) (*api.QueryMeta, error) {
		return w.cfg.Client.Raw().Query(path, &self, q)
	})
	if err != nil {
		return "", fmt.Errorf("local datacenter: %w", err)
	}
	if self.Config.Datacenter == "" {
		return "", errors.New("local datacenter: agent reported none")
	}
	return self.Config.Datacenter, nil
}

// nodesDatacenter reads the Datacenter field of the local catalog's nodes. One
// request at start-up, when agent:read is missing; every node of the answer has the
// same value.
func (w *Watcher) nodesDatacenter(ctx context.Context) (string, error) {
	var nodes []*api.Node
	err := w.ask(ctx, KindNodes, endpointOf(KindNodes), func(q *api.QueryOptions) (*api.QueryMeta, error) {
		q.AllowStale = w.cfg.AllowStale
		var meta *api.QueryMeta
		var err error
		nodes, meta, err = w.cfg.Client.Catalog().Nodes(q)
		if err == nil {
			err = emptied(KindNodes, len(nodes), meta, false)
		}
		return meta, err
	})
	if err != nil {
		return "", fmt.Errorf("local datacenter: %w", err)
	}
	for _, n := range nodes {
		if n != nil && n.Datacenter != "" {
			return n.Datacenter, nil
		}
	}
	return "", errors.New("local datacenter: the catalog's nodes name none")
}

// ask is one bounded request for LocalDatacenter, counted under KindDatacenters. A
// refusal comes back as a *PermissionError naming what a request of kind perm needs;
// it is counted, but not recorded as current: LocalDatacenter decides that once it
// has tried everything.
func (w *Watcher) ask(ctx context.Context, perm Kind, path string, do func(*api.QueryOptions) (*api.QueryMeta, error)) error {
	rctx, cancel := context.WithTimeout(ctx, oneShotTimeout)
	defer cancel()
	w.stats.request(KindDatacenters)
	_, err := do((&api.QueryOptions{}).WithContext(rctx))
	if err == nil {
		w.stats.contact()
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	err = asPermission(perm, path, err)
	if errors.Is(err, ErrPermission) {
		w.stats.acl.counts[KindDatacenters].Add(1)
	}
	w.stats.failed(KindDatacenters, err)
	return redact(err)
}
