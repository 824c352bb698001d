package forward

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
)

// Loop protection, in two parts.
//
// At start, PointsAtSelf refuses an upstream that is srvbridge's own DNS address:
// the same IP and port, or, when srvbridge listens on all interfaces, an address
// assigned to one of the host's interfaces (127.0.0.1 and ::1 included) on that port.
// Other loopback addresses are not assumed to be us: Docker's embedded resolver sits
// at 127.0.0.11:53 behind a NAT rule in every container, where srvbridge may well
// listen on :53 itself.
//
// At run time, every query in flight upstream is registered under the random ID it
// was sent with and its question. A query arriving with that same ID and question is
// our own query come back (through NAT, a port mapping, or an address of this host
// the start-up check could not know): it is answered SERVFAIL at once instead of
// being forwarded again. A client picking the same random ID for the same question
// at the same moment is a 1 in 65536 coincidence per query in flight, and costs it
// one SERVFAIL. A loop through another resolver, which sends queries on with IDs of
// its own, is not recognised; it is bounded by the resolver's limit on forwarded
// queries in flight and by their deadline.

var errLoop = errors.New("forwarding loop: our own forwarded query came back")

// localAddrs lists the host's interface addresses; a variable so tests can stub it.
var localAddrs = func() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out, nil
}

// PointsAtSelf reports whether sending to up would reach srvbridge's own DNS listener
// on listen ("host:port"; an empty or unspecified host means every interface).
func PointsAtSelf(listen string, up netip.AddrPort) (bool, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return false, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return false, err
	}
	if uint16(p) != up.Port() {
		return false, nil
	}
	ip := up.Addr().Unmap().WithZone("")
	if host != "" {
		l, err := netip.ParseAddr(host)
		if err != nil {
			return false, err
		}
		if l = l.Unmap().WithZone(""); !l.IsUnspecified() {
			return l == ip, nil
		}
	}
	// Listening on every interface (Go listens dual-stack on 0.0.0.0 and ::): the
	// host's own addresses reach us.
	if ip.IsUnspecified() || ip == netip.IPv6Loopback() || ip == netip.AddrFrom4([4]byte{127, 0, 0, 1}) {
		return true, nil
	}
	local, err := localAddrs()
	if err != nil {
		return false, err
	}
	for _, a := range local {
		if a.WithZone("") == ip {
			return true, nil
		}
	}
	return false, nil
}

type loopKey struct {
	id            uint16
	qtype, qclass uint16
	name          string
}

// inflight is the set of queries we are waiting on upstream for.
type inflight struct {
	mu sync.Mutex
	m  map[loopKey]int
}

func (l *inflight) add(k loopKey) {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[loopKey]int)
	}
	l.m[k]++
	l.mu.Unlock()
}

func (l *inflight) remove(k loopKey) {
	l.mu.Lock()
	if l.m[k]--; l.m[k] <= 0 {
		delete(l.m, k)
	}
	l.mu.Unlock()
}

func (l *inflight) has(k loopKey) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m[k] > 0
}

func keyOf(id uint16, q *question) loopKey {
	return loopKey{id: id, qtype: q.qtype, qclass: q.qclass, name: string(q.name)}
}

// randomID is a query ID an off-path attacker cannot predict (RFC 5452).
func randomID() uint16 {
	var b [2]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint16(b[:])
}
