package cache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/srvbridge/srvbridge/health"
)

// peerSource is a fake Source with one local datacenter (no services) and cluster
// peers: Hold delivers the imported instances it was given for (peer, service), or
// none, to that peer's sink, as health's peer feed does.
type peerSource struct {
	mu       sync.Mutex
	peers    []string // datacenter names: "west.peer"
	peersErr error
	imported map[string][]health.Instance // "west.peer/web" → instances
	sinks    map[string]health.Sink
	holds    []string // "west.peer/web"
	releases []string
}

func (p *peerSource) LocalDatacenter(context.Context) (string, error) { return "dc1", nil }
func (p *peerSource) Datacenters(context.Context) ([]string, error)   { return []string{"dc1"}, nil }
func (p *peerSource) PeerDatacenters(context.Context) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.peers), p.peersErr
}

func (p *peerSource) WatchDatacenter(ctx context.Context, dc string, sink health.Sink) error {
	p.mu.Lock()
	p.sinks[dc] = sink
	p.mu.Unlock()
	sink.Catalog(health.Catalog{Datacenter: dc, Services: map[string][]string{}})
	<-ctx.Done()
	return ctx.Err()
}

func (p *peerSource) Hold(dc, name string) {
	p.mu.Lock()
	p.holds = append(p.holds, dc+"/"+name)
	sink := p.sinks[dc]
	st := health.ServiceState{Service: name, Datacenter: dc, Instances: slices.Clone(p.imported[dc+"/"+name])}
	p.mu.Unlock()
	if sink != nil {
		sink.Service(st)
	}
}

func (p *peerSource) Release(dc, name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.releases = append(p.releases, dc+"/"+name)
}

func (p *peerSource) ExecuteQuery(context.Context, string, string) (health.QueryResult, error) {
	return health.QueryResult{}, health.ErrNoQuery
}

func (p *peerSource) log() (holds, releases []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.holds), slices.Clone(p.releases)
}

func startPeerStore(t *testing.T, p *peerSource) *Store[[]string] {
	t.Helper()
	s := runStore(t, p, Config{LocalDC: "dc1", IdleTimeout: time.Minute})
	deadline := time.Now().Add(5 * time.Second)
	for !s.snap.Load().knownRead {
		if time.Now().After(deadline) {
			t.Fatal("the datacenter list was never read")
		}
		time.Sleep(time.Millisecond)
	}
	return s
}

// TestPeerSlots: an imported service is held on its first query under the peer's
// datacenter name, answers (and gives its nodes) until released, and leaves
// nothing behind after; an unknown peer, or peers that cannot be listed, cost no
// hold at all.
func TestPeerSlots(t *testing.T) {
	p := &peerSource{peers: []string{"west.peer"}, sinks: map[string]health.Sink{}, imported: map[string][]health.Instance{
		"west.peer/web": {{ID: "web-1", Node: "n9", NodeAddress: "127.0.9.9", Address: "127.0.9.1", OwnAddress: true, Port: 80}},
	}}
	s := startPeerStore(t, p)
	ctx := context.Background()

	if _, r := s.Lookup([]byte("nope.peer"), []byte("web")); r != NoDatacenter {
		t.Fatalf("unknown peer: %v, want no-datacenter", r)
	}
	if _, r := s.Lookup([]byte("west.peer"), []byte("web")); r != Miss {
		t.Fatalf("first query: %v, want miss", r)
	}
	if _, r := s.LookupNode([]byte("west.peer"), []byte("n9")); r != NoService {
		t.Fatalf("a node of a peer before any of its services is held: %v, want no-service", r)
	}
	if got, r := s.Await(ctx, "west.peer", "web"); r != Hit || !slices.Equal(got, []string{"127.0.9.1"}) {
		t.Fatalf("await web from west: %v %v", got, r)
	}
	if _, r := s.Await(ctx, "west.peer", "api"); r != NoService {
		t.Fatalf("a service the peer does not export: %v, want no-service", r)
	}
	if nd, r := s.LookupNode([]byte("west.peer"), []byte("n9")); r != Hit || nd.Address != "127.0.9.9" {
		t.Fatalf("node n9 of west: %+v %v", nd, r)
	}
	if holds, _ := p.log(); !slices.Equal(holds, []string{"west.peer/web", "west.peer/api"}) {
		t.Fatalf("holds %v", holds)
	}

	// Idle past the timeout: released, and gone from the view.
	s.sweep(coarseNow.Load() + 3600)
	if _, releases := p.log(); len(releases) != 2 {
		t.Fatalf("releases %v, want both", releases)
	}
	if v := s.snap.Load().dcs["west.peer"]; len(v.services) != 0 || len(*v.peer.nodes.Load()) != 0 {
		t.Fatalf("released imported services left %d slots and %d nodes", len(v.services), len(*v.peer.nodes.Load()))
	}
	if _, r := s.Lookup([]byte("west.peer"), []byte("web")); r != Miss {
		t.Fatalf("after release: %v, want miss", r)
	}
	if _, r := s.LookupNode([]byte("west.peer"), []byte("n9")); r != NoService {
		t.Fatalf("a node of a released service: %v, want no-service", r)
	}
}

// TestPeersUnreadable: without the peer list (a token without peering:read) a
// peer's names are NXDOMAIN and nothing is held.
func TestPeersUnreadable(t *testing.T) {
	p := &peerSource{peersErr: errors.New("403 lacks permission 'peering:read'"), sinks: map[string]health.Sink{}}
	s := startPeerStore(t, p)
	if _, r := s.Await(context.Background(), "west.peer", "web"); r != NoDatacenter {
		t.Fatalf("await with no peer list: %v, want no-datacenter", r)
	}
	if holds, _ := p.log(); len(holds) != 0 {
		t.Fatalf("holds %v, want none", holds)
	}
	if !s.peersSaid.Load() {
		t.Fatal("the failure to list the peers was not reported")
	}
}

// TestPeerHeldBounded: made-up names under a real peer hold at most maxPeerHeld
// imported services; the least recently queried goes first.
func TestPeerHeldBounded(t *testing.T) {
	p := &peerSource{peers: []string{"west.peer"}, sinks: map[string]health.Sink{}}
	s := startPeerStore(t, p)
	ctx := context.Background()
	for i := range maxPeerHeld + 10 {
		if _, r := s.Await(ctx, "west.peer", fmt.Sprintf("made-up-%d", i)); r != NoService {
			t.Fatalf("made-up-%d: %v, want no-service", i, r)
		}
	}
	s.mu.Lock()
	held := len(s.snap.Load().dcs["west.peer"].services)
	s.mu.Unlock()
	holds, releases := p.log()
	if held != maxPeerHeld || len(holds)-len(releases) != maxPeerHeld {
		t.Fatalf("%d slots, %d holds, %d releases; want %d held", held, len(holds), len(releases), maxPeerHeld)
	}
}
