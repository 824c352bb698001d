package cache

import (
	"net/netip"
	"strings"

	"github.com/srvbridge/srvbridge/health"
)

// applyNodes installs a new node list for dc.
func (s *Store[C]) applyNodes(dc string, n health.Nodes) {
	nodes := make(map[string]*health.Node, len(n.Nodes))
	addrs := make(map[netip.Addr]*health.Node, len(n.Nodes))
	for i := range n.Nodes {
		nd := &n.Nodes[i]
		key := strings.ToLower(nd.Name)
		if _, dup := nodes[key]; !dup {
			nodes[key] = nd
		}
		if a, err := netip.ParseAddr(nd.Address); err == nil {
			if _, dup := addrs[a.Unmap()]; !dup {
				addrs[a.Unmap()] = nd
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.snap.Load()
	view := &dcView[C]{name: dc, nodes: nodes, nodeAddrs: addrs, nodesRead: true}
	if v := old.dcs[dc]; v != nil {
		view.services, view.servicesRead, view.mesh, view.peer = v.services, v.servicesRead, v.mesh, v.peer
	}
	s.install(old, view)
	s.changes.Add(1)
}

// LookupNode finds a node by lower-case name; an empty dc means the local one. Like
// Lookup, it returns Miss for a datacenter whose catalog is not read yet.
func (s *Store[C]) LookupNode(dc, name []byte) (*health.Node, Result) {
	v, res := s.snap.Load().view(dc, true)
	if v == nil {
		if res == Miss && isPeerName(dc) {
			return nil, NoService // a peer's nodes are those of its held services: none yet
		}
		return nil, res
	}
	nodes := v.nodes
	if v.peer != nil {
		nodes = *v.peer.nodes.Load()
	}
	if nd := nodes[string(name)]; nd != nil {
		return nd, Hit
	}
	return nil, NoService
}

// ReverseName is what a PTR query for an address answers with.
type ReverseName struct {
	Name       string // node or service name
	Datacenter string
	Service    bool // a service instance's own address, not a node's
}

// LookupAddr finds the node, or else the service instance (healthy or not), that has ip, in
// the local datacenter as Consul does. Nodes are indexed by address; service
// addresses are searched among the held services only, which bounds the walk.
func (s *Store[C]) LookupAddr(ip netip.Addr) (ReverseName, bool) {
	v := s.snap.Load().local
	if v == nil {
		return ReverseName{}, false
	}
	if nd := v.nodeAddrs[ip.Unmap()]; nd != nil {
		return ReverseName{Name: nd.Name, Datacenter: v.name}, true
	}
	for _, sl := range v.services {
		e := sl.entry.Load()
		if e == nil {
			continue
		}
		// Every registered instance, healthy or not, as Consul: an address's name
		// does not change with its health.
		for _, in := range e.svc.All {
			if a, err := netip.ParseAddr(in.Address); err == nil && in.OwnAddress && a.Unmap() == ip {
				return ReverseName{Name: e.svc.Name, Datacenter: v.name, Service: true}, true
			}
		}
	}
	return ReverseName{}, false
}
