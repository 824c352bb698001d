package resolver

import (
	"bytes"
	"encoding/binary"
	"net/netip"

	"github.com/srvbridge/srvbridge/resolver/wire"
)

// An address answer's orders hold the same fixed-size records: each an A (or AAAA)
// record whose owner is a pointer to the question, so they differ only in which
// address each record carries. permute makes order r from the first order's bytes by
// writing the addresses in order r's sequence, instead of laying out and compressing
// the whole reply again: a cold burst packs thousands of such orders, and a rebuild
// after a change every one of them. Anything else (SRV, whose targets compress
// against each other; host names, which answer CNAMEs; a truncated reply) is packed.

// permute returns order r built from base, the packed first order, or false when the
// reply is not of that shape and must be packed.
func (v *variant) permute(base []byte, r uint32) ([]byte, bool) {
	qtype := v.key.qtype
	size := 4
	switch {
	case qtype == wire.TypeAAAA:
		size = 16
	case qtype != wire.TypeA:
		return nil, false
	}
	if len(base) < 12 || truncated(base) {
		return nil, false
	}
	ips, ok := v.addresses(r)
	if !ok || len(ips) != int(binary.BigEndian.Uint16(base[6:])) {
		return nil, false
	}
	// The question: its name (never compressed) and type and class.
	end := bytes.IndexByte(base[12:], 0)
	if end < 0 {
		return nil, false
	}
	off := 12 + end + 1 + 4
	const head = 2 + 2 + 2 + 4 + 2 // pointer, type, class, TTL, length
	rec := head + size
	if off+len(ips)*rec > len(base) {
		return nil, false
	}
	out := append([]byte(nil), base...)
	for i, ip := range ips {
		p := out[off+i*rec:]
		if p[0] != 0xC0 || p[1] != 12 || binary.BigEndian.Uint16(p[2:]) != qtype || int(binary.BigEndian.Uint16(p[10:])) != size {
			return nil, false
		}
		copy(p[head:rec], ip.AsSlice())
	}
	return out, true
}

// addresses lists the addresses of order r as addressAnswers lays them out: the
// instances rotated by r/n of their number, each address once, of the family asked.
// false when an instance has a host name for an address.
func (v *variant) addresses(r uint32) ([]netip.Addr, bool) {
	n := len(v.insts)
	start := v.start(r)
	ips := make([]netip.Addr, 0, n)
	for j := range n {
		ip, err := netip.ParseAddr(v.insts[(start+j)%n].Address)
		if err != nil {
			return nil, false
		}
		ip = ip.Unmap()
		if (v.key.qtype == wire.TypeA) == ip.Is4() && !containsAddr(ips, ip) {
			ips = append(ips, ip)
		}
	}
	return ips, true
}

func containsAddr(ips []netip.Addr, ip netip.Addr) bool {
	for _, x := range ips {
		if x == ip {
			return true
		}
	}
	return false
}
