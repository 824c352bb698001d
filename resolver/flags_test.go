package resolver

import (
	"encoding/binary"
	"testing"

	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/resolver/wire"
)

// storelessServer answers what needs no Consul data (names outside the zone, the
// apex, names that cannot exist, protocol errors), so it runs in the fast tier.
func storelessServer(t testing.TB) *Server {
	t.Helper()
	comp, err := NewCompiler(Config{TTL: 5, NegativeTTL: 5})
	if err != nil {
		t.Fatal(err)
	}
	return New(comp, nil)
}

// rawQuery is a query header with every flag the caller gives and, when name is
// not empty, one IN question.
func rawQuery(flags uint16, name string, qtype uint16) []byte {
	qd := uint16(0)
	if name != "" {
		qd = 1
	}
	pkt := wire.AppendHeader(nil, 0x1234, flags, qd, 0, 0, 0)
	if name != "" {
		pkt = wire.AppendName(pkt, name)
		pkt = binary.BigEndian.AppendUint16(pkt, qtype)
		pkt = binary.BigEndian.AppendUint16(pkt, wire.ClassIN)
	}
	return pkt
}

// TestHeaderFlags checks the flags word of replies byte for byte: AA only on answers
// from our zone, and nothing but the opcode echoed for an opcode we do not do.
func TestHeaderFlags(t *testing.T) {
	s := storelessServer(t)
	const (
		qr     = wire.FlagQR
		aa     = wire.FlagAA
		rd     = wire.FlagRD
		cd     = wire.FlagCD
		ad     = 1 << 5
		z      = 1 << 6
		op15   = 15 << wire.OpcodeShift
		notify = wire.OpcodeNotify << wire.OpcodeShift
	)
	all := wire.FlagAA | wire.FlagTC | wire.FlagRD | wire.FlagRA | uint16(z) | uint16(ad) | wire.FlagCD
	tests := []struct {
		name      string
		pkt       []byte
		flags     uint16 // the whole flags word of the reply, rcode included
		qd, arcnt uint16
	}{
		// genreport "opcode": dig +noedns +noad +norec +header-only +opcode=15
		{"opcode 15", rawQuery(op15, "", 0), qr | op15 | wire.RcodeNotImp, 0, 0},
		// genreport "opcodeflg": the same with every flag bit set.
		{"opcode 15, every flag", rawQuery(op15|all, "", 0), qr | op15 | wire.RcodeNotImp, 0, 0},
		{"notify with a question in our zone", rawQuery(notify|rd|cd, "web.service.consul.", wire.TypeSOA), qr | notify | wire.RcodeNotImp, 1, 0},
		{"outside the zone, no recursion", rawQuery(rd|cd, "example.com.", wire.TypeA), qr | rd | cd | wire.RcodeRefused, 1, 0},
		{"outside the zone, AA asked", rawQuery(aa, "example.com.", wire.TypeA), qr | wire.RcodeRefused, 1, 0},
		{"zone transfer", rawQuery(0, "consul.", wire.TypeAXFR), qr | wire.RcodeRefused, 1, 0},
		{"name that cannot exist", rawQuery(rd, "nope.consul.", wire.TypeA), qr | aa | rd | wire.RcodeNXDomain, 1, 0},
		{"apex SOA", rawQuery(cd, "consul.", wire.TypeSOA), qr | aa | cd, 1, 0},
		{"two questions", func() []byte {
			p := rawQuery(0, "consul.", wire.TypeSOA)
			binary.BigEndian.PutUint16(p[4:], 2)
			return p
		}(), qr | wire.RcodeFormErr, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reply, oc := respondRaw(s, tc.pkt)
			if oc != replied {
				t.Fatalf("outcome %d, want a reply", oc)
			}
			if len(reply) < wire.HeaderLen {
				t.Fatalf("reply % x shorter than a header", reply)
			}
			if id := binary.BigEndian.Uint16(reply); id != 0x1234 {
				t.Errorf("ID %#x", id)
			}
			if got := binary.BigEndian.Uint16(reply[2:]); got != tc.flags {
				t.Errorf("flags %016b, want %016b", got, tc.flags)
			}
			if qd := binary.BigEndian.Uint16(reply[4:]); qd != tc.qd {
				t.Errorf("QDCOUNT %d, want %d", qd, tc.qd)
			}
			if tc.flags&wire.FlagAA == 0 {
				for off := 6; off < wire.HeaderLen; off += 2 {
					if n := binary.BigEndian.Uint16(reply[off:]); n != 0 {
						t.Errorf("count at offset %d is %d in an error reply", off, n)
					}
				}
			}
		})
	}
}

// TestBadVersNotAuthoritative: BADVERS is a protocol error, not an answer.
func TestBadVersNotAuthoritative(t *testing.T) {
	s := storelessServer(t)
	m := new(dns.Msg)
	m.SetQuestion("consul.", dns.TypeSOA)
	m.SetEdns0(1232, false)
	m.IsEdns0().SetVersion(1)
	pkt, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	reply, _ := respondRaw(s, pkt)
	r := mustUnpack(t, reply)
	if r.Rcode != dns.RcodeBadVers || r.Authoritative {
		t.Errorf("rcode %s AA %v, want BADVERS without AA", dns.RcodeToString[r.Rcode], r.Authoritative)
	}
}
