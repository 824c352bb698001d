package resolver

import (
	"bytes"
	"net/netip"

	"github.com/srvbridge/srvbridge/resolver/dnsmsg"
	"github.com/srvbridge/srvbridge/resolver/wire"
)

var (
	arpa4 = []byte(".in-addr.arpa.")
	arpa6 = []byte(".ip6.arpa.")
)

// reverseIP reads the address out of a reverse-lookup name.
func reverseIP(name []byte) (netip.Addr, bool) {
	switch {
	case bytes.HasSuffix(name, arpa4):
		var b [4]byte
		labels := bytes.Split(name[:len(name)-len(arpa4)], []byte("."))
		if len(labels) != 4 {
			return netip.Addr{}, false
		}
		for i, l := range labels {
			n := 0
			if len(l) == 0 || len(l) > 3 || (len(l) > 1 && l[0] == '0') {
				return netip.Addr{}, false
			}
			for _, c := range l {
				if c < '0' || c > '9' {
					return netip.Addr{}, false
				}
				n = n*10 + int(c-'0')
			}
			if n > 255 {
				return netip.Addr{}, false
			}
			b[3-i] = byte(n)
		}
		return netip.AddrFrom4(b), true
	case bytes.HasSuffix(name, arpa6):
		nibbles := name[:len(name)-len(arpa6)]
		if len(nibbles) != 63 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i := 0; i < 32; i++ {
			c := nibbles[2*i]
			if 2*i+1 < len(nibbles) && nibbles[2*i+1] != '.' {
				return netip.Addr{}, false
			}
			var v byte
			switch {
			case c >= '0' && c <= '9':
				v = c - '0'
			case c >= 'a' && c <= 'f':
				v = c - 'a' + 10
			default:
				return netip.Addr{}, false
			}
			pos := 31 - i
			if pos%2 == 0 {
				b[pos/2] |= v << 4
			} else {
				b[pos/2] |= v
			}
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}

// ptr answers a reverse lookup for an address Consul knows: a node's, or a served
// instance's own. Unknown addresses are not ours to answer.
func (s *Server) ptr(q *query, out []byte, tcp bool, st *shard) ([]byte, outcome, bool) {
	ip, ok := reverseIP(q.Name)
	if !ok {
		return nil, replied, false
	}
	rn, ok := s.store.LookupAddr(ip)
	if !ok {
		return nil, replied, false
	}
	kind := ".node."
	if rn.Service {
		kind = ".service."
	}
	r := s.newReply(q, tcp)
	r.Answer = []dnsmsg.Record{{Type: wire.TypePTR, Name: r.Name, TTL: s.cfg.TTL,
		Target: rn.Name + kind + rn.Datacenter + "." + s.cfg.Domain}}
	reply, oc := s.packed(q, r, out, st)
	return reply, oc, true
}
