package cache

import (
	"bytes"
	"context"
	"maps"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/srvbridge/srvbridge/health"
)

// Services imported from a cluster peer live in a view of their own, named as the
// health package names the peer (health.PeerDatacenter: "<peer>.peer"), so that
// lookups, holds, idle release and the LRU bound treat them as any datacenter's.
// Unlike a datacenter's, a peer's view has no service list: Consul 1.16 serves
// none for a peer (docs/consul-watch.md). A slot is made on the first query of a
// name and dropped again when released, so that made-up names leave nothing
// behind; which peers exist comes with the datacenter list (PeerLister), so a
// made-up peer costs no hold at all.

// PeerLister is what a Source that can follow cluster peers offers beside
// Datacenters: the peers' datacenter names (health.Watcher.PeerDatacenters).
type PeerLister interface {
	PeerDatacenters(ctx context.Context) ([]string, error)
}

// peerDatacenters adds the source's peers to a datacenter list. A failure (most
// often a token without peering:read, which the minimal policy lacks, or a Consul
// without peering) leaves the peers unknown, so their names get NXDOMAIN. It is
// said once, at Info: most deployments use no peering and lack the right on
// purpose, and a Warn on every start would train operators to ignore warnings.
func (s *Store[C]) peerDatacenters(dcs []string) []string {
	pl, ok := s.src.(PeerLister)
	if !ok {
		return dcs
	}
	peers, err := pl.PeerDatacenters(s.ctx)
	if err != nil {
		if s.peersSaid.CompareAndSwap(false, true) {
			s.log.Info("cannot list cluster peers: names of services imported from a peer (<svc>.service.<peer>.peer) get NXDOMAIN; the token needs peering:read", "err", err)
		}
		return dcs
	}
	return append(dcs, peers...)
}

// isPeer says whether a datacenter name is a cluster peer's.
func isPeer(dc string) bool {
	_, ok := health.PeerOf(dc)
	return ok
}

// peerCatalogLocked installs a peer's view the first time its feed starts; a later
// start keeps the view and its held slots. s.mu must be held.
func (s *Store[C]) peerCatalogLocked(dc string) {
	old := s.snap.Load()
	if v := old.dcs[dc]; v == nil || !v.servicesRead {
		pv := &peerView{}
		pv.nodes.Store(&map[string]*health.Node{})
		s.install(old, &dcView[C]{name: dc, services: map[string]*slot[C]{}, servicesRead: true, peer: pv, nodesRead: true})
	}
	s.changes.Add(1)
	if ch, ok := s.pendingDC[dc]; ok {
		close(ch)
		delete(s.pendingDC, dc)
	}
}

// peerSlotLocked returns the slot of an imported service, making it on first use,
// and makes sure the peer is followed (a view restored from a state file is not).
// s.mu must be held.
func (s *Store[C]) peerSlotLocked(v *dcView[C], name string) *slot[C] {
	s.followLocked(v.name)
	if sl := v.services[name]; sl != nil {
		return sl
	}
	s.makeRoomForPeerLocked()
	v = s.snap.Load().dcs[v.name] // the eviction may have replaced it
	sl := &slot[C]{name: name, dc: v.name}
	next := *v
	next.services = make(map[string]*slot[C], len(v.services)+1)
	maps.Copy(next.services, v.services)
	next.services[name] = sl
	s.install(s.snap.Load(), &next)
	return sl
}

// maxPeerHeld bounds the imported services held at once, below --max-services.
// Each costs Consul a request every few seconds (health/peer.go) however idle, and
// Consul lists no imported services to tell a made-up name from a real one: a
// flood of names under a real peer would otherwise hold thousands.
const maxPeerHeld = 256

// makeRoomForPeerLocked releases the least recently queried imported service when
// maxPeerHeld are held. s.mu must be held.
func (s *Store[C]) makeRoomForPeerLocked() {
	var oldest *slot[C]
	n := 0
	for _, v := range s.snap.Load().dcs {
		if v.peer == nil {
			continue
		}
		for _, sl := range v.services {
			n++
			if oldest == nil || sl.lastUsed.Load() < oldest.lastUsed.Load() {
				oldest = sl
			}
		}
	}
	if n < min(maxPeerHeld, s.cfg.MaxServices) || oldest == nil {
		return
	}
	s.stats.evictions.Add(1)
	if oldest.held {
		s.releaseLocked(oldest) // drops it too
	} else {
		s.dropPeerSlotLocked(oldest)
	}
}

// dropPeerSlotLocked forgets a released imported service. s.mu must be held.
func (s *Store[C]) dropPeerSlotLocked(sl *slot[C]) {
	old := s.snap.Load()
	v := old.dcs[sl.dc]
	key := strings.ToLower(sl.name)
	if v == nil || v.services[key] != sl {
		return
	}
	next := *v
	next.services = maps.Clone(v.services)
	delete(next.services, key)
	s.install(old, &next)
	s.peerNodes(sl.dc)
}

// peerView is what a peer's view has beyond a datacenter's. Its copies share it.
type peerView struct {
	// nodes indexes the nodes of the peer's held services (peerNodes). It is
	// rebuilt when one of them delivers, which must not wait for Store.mu (a
	// Source may deliver from within Hold), so it lives outside the snapshot;
	// mu orders the rebuilds, after Store.mu where both are taken.
	mu    sync.Mutex
	nodes atomic.Pointer[map[string]*health.Node]
}

// isPeerName is isPeer for a name as lookups get it.
func isPeerName(dc []byte) bool { return bytes.HasSuffix(dc, []byte(".peer")) }

// peerNodes indexes the nodes of a peer's held services, for <node>.node.<peer>.peer
// names (the SRV targets of instances without an address of their own): Consul
// lists no nodes for a peer either, so these are the nodes srvbridge can know.
func (s *Store[C]) peerNodes(dc string) {
	v := s.snap.Load().dcs[dc]
	if v == nil || v.peer == nil {
		return
	}
	pv := v.peer
	pv.mu.Lock()
	defer pv.mu.Unlock()
	// Read again under pv.mu: a rebuild that started earlier, from an older
	// snapshot, has stored its index by now, and this one replaces it.
	if v = s.snap.Load().dcs[dc]; v == nil || v.peer != pv {
		return
	}
	nodes := peerNodeIndex(v.services)
	if !maps.EqualFunc(nodes, *pv.nodes.Load(), func(a, b *health.Node) bool { return a.Name == b.Name && a.Address == b.Address }) {
		pv.nodes.Store(&nodes)
	}
}

func peerNodeIndex[C any](svcs map[string]*slot[C]) map[string]*health.Node {
	nodes := map[string]*health.Node{}
	for _, sl := range svcs {
		e := sl.entry.Load()
		if e == nil {
			continue
		}
		for _, in := range e.svc.All {
			key := strings.ToLower(in.Node)
			if _, dup := nodes[key]; !dup && in.Node != "" {
				nodes[key] = &health.Node{Name: in.Node, Address: in.NodeAddress}
			}
		}
	}
	return nodes
}
