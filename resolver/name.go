package resolver

import (
	"bytes"

	"github.com/srvbridge/srvbridge/health"
	"github.com/srvbridge/srvbridge/resolver/wire"
)

// kind is what a name inside one of our zones refers to.
type kind uint8

const (
	kindOutside kind = iota // not in any zone we serve: forwarded, or refused
	kindInvalid             // in our zone, but no name Consul would serve: NXDOMAIN
	kindApex
	kindService
	kindAddr
	kindNode
	kindQuery
	kindConnect // <svc>.connect: the service's Connect-capable instances
	kindIngress // <svc>.ingress: the ingress gateways that expose the service
	kindVirtual // <svc>.virtual: the service's virtual IP, from its connect entry
)

// entry is the cache entry a service-like kind is answered from.
func (k kind) entry() health.Entry {
	switch k {
	case kindConnect, kindVirtual:
		return health.EntryConnect
	case kindIngress:
		return health.EntryIngress
	}
	return health.EntryService
}

// zone is a domain srvbridge is authoritative for: the Consul domain and, optionally,
// an alternative one.
type zone struct {
	name []byte // lower case, trailing dot: "consul."
}

// parsed is a name taken apart. The byte slices point into the query's name buffer,
// so taking a name apart allocates nothing.
type parsed struct {
	kind    kind
	zone    *zone
	apexOff int    // where the zone suffix starts in the name (and, +12, in the packet)
	svc     []byte // service, node, query name, or hex address
	tag     []byte // may span labels ("v1.beta"); empty means no tag filter
	dc      []byte // empty means the local datacenter; "<peer>.peer" a cluster peer
	peer    bool   // a <svc>.virtual name with a peer (or anything) after the kind
}

const maxLabels = 128

type span struct{ s, e int }

// kindLabels are the labels that say what a name asks for.
var kindLabels = [...]struct {
	lbl []byte
	k   kind
}{
	{[]byte("service"), kindService},
	{[]byte("node"), kindNode},
	{[]byte("addr"), kindAddr},
	{[]byte("query"), kindQuery},
	{[]byte("connect"), kindConnect},
	{[]byte("ingress"), kindIngress},
	{[]byte("virtual"), kindVirtual},
}

var (
	lblDC      = []byte("dc")
	lblNS      = []byte("ns")
	lblAP      = []byte("ap")
	lblPeer    = []byte("peer")
	lblDefault = []byte("default")
	lblTCP     = []byte("tcp")
)

// parseName follows Consul's reading of names (agent/dns.go, dispatch): the rightmost
// kind label splits the name into parts before it and a datacenter after it; an SRV
// query may leave out "service" when it uses the RFC 2782 underscore form.
func parseName(name []byte, qtype uint16, zones []zone) parsed {
	var p parsed
	for i := range zones {
		z := &zones[i]
		if bytes.Equal(name, z.name) {
			return parsed{kind: kindApex, zone: z, apexOff: 0}
		}
		if n := len(name) - len(z.name); n > 0 && name[n-1] == '.' && bytes.Equal(name[n:], z.name) {
			p.zone, p.apexOff = z, n
			break
		}
	}
	if p.zone == nil {
		return parsed{kind: kindOutside}
	}
	p.kind = kindInvalid
	rest := name[:p.apexOff-1]
	var lbl [maxLabels]span
	n := 0
	start := 0
	for i := 0; i <= len(rest); i++ {
		if i == len(rest) || rest[i] == '.' {
			if n == maxLabels || i == start {
				return p
			}
			lbl[n] = span{start, i}
			n++
			start = i + 1
		}
	}
	at := func(i int) []byte { return rest[lbl[i].s:lbl[i].e] }
	joined := func(from, to int) []byte { return rest[lbl[from].s:lbl[to-1].e] }
	// Labels [0, parts) name the thing; labels [suffix, n) name the datacenter.
	k, parts, suffix := kindInvalid, -1, -1
	for i := n - 1; i >= 0 && parts < 0; i-- {
		l := at(i)
		for _, kl := range kindLabels {
			if bytes.Equal(l, kl.lbl) {
				k, parts, suffix = kl.k, i, i+1
				break
			}
		}
		if parts < 0 && qtype == wire.TypeSRV && l[0] == '_' {
			// "_web._tcp.consul": "service" left out, this label is a part.
			k, parts, suffix = kindService, i+1, i+1
		}
	}
	if parts <= 0 {
		return p
	}
	// Locality: nothing, "<dc>", or labelled parts "[<ns>.ns][.<ap>.ap][.<dc>.dc]",
	// each at most once and in that order. A CE agent has one namespace and one
	// partition, both "default": any other names nothing. A prepared query takes
	// "<dc>" alone, as in Consul.
	switch m := n - suffix; {
	case k == kindVirtual:
		// "<svc>.virtual[.<peer>]": what follows names a peer, not a datacenter,
		// and srvbridge follows no peering.
		p.peer = m > 0
	case m == 0:
	case m == 1:
		p.dc = at(suffix)
	case m == 2 && bytes.Equal(at(suffix+1), lblPeer):
		// "<peer>.peer", alone (Consul 1.16 refuses it beside ns, ap or dc): a
		// service imported from a cluster peer, which the cache holds under the
		// datacenter name "<peer>.peer" (health.PeerDatacenter), the very bytes of
		// the name. An .addr name ignores it, as in Consul; a node name is one of
		// the nodes of the peer's held services (cache/peer.go).
		if k != kindService && k != kindAddr && k != kindNode {
			return p
		}
		p.dc = joined(suffix, n)
	case m%2 == 0 && k != kindQuery:
		order, dc := 0, []byte(nil)
		for i := suffix; i < n; i += 2 {
			v, l := at(i), at(i+1)
			switch {
			case order < 1 && bytes.Equal(l, lblNS) && bytes.Equal(v, lblDefault):
				order = 1
			case order < 2 && bytes.Equal(l, lblAP) && bytes.Equal(v, lblDefault):
				order = 2
			case order < 3 && bytes.Equal(l, lblDC):
				order, dc = 3, v
			default:
				return p
			}
		}
		p.dc = dc
	default:
		return p
	}
	switch k {
	case kindService:
		if parts == 2 && at(0)[0] == '_' && at(1)[0] == '_' {
			p.svc = at(0)[1:]
			if t := at(1)[1:]; !bytes.Equal(t, lblTCP) {
				p.tag = t
			}
		} else {
			p.svc = at(parts - 1)
			if parts > 1 {
				p.tag = joined(0, parts-1)
			}
		}
		if len(p.svc) == 0 {
			return p
		}
	case kindConnect, kindIngress, kindVirtual:
		// As in Consul, the last label before the kind names the service and any
		// before it are ignored: these forms take no tag.
		p.svc = at(parts - 1)
	case kindAddr:
		if parts != 1 {
			return p
		}
		p.svc = at(0)
	case kindQuery:
		// "_<name>._<proto>.query": RFC 2782's form names the query before the
		// protocol label, which is ignored; the name may hold dots, as in Consul.
		p.svc = joined(0, parts)
		if parts >= 2 && at(0)[0] == '_' && at(parts - 1)[0] == '_' {
			p.svc = joined(0, parts-1)[1:]
			if len(p.svc) == 0 {
				return p
			}
		}
	default:
		p.svc = joined(0, parts)
	}
	p.kind = k
	return p
}
