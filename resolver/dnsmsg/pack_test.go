package dnsmsg

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/resolver/wire"
)

const name = "web.service.consul."

// srvReply is an SRV reply for n instances, each with its A record as glue.
func srvReply(n, limit int, edns uint16) *Reply {
	r := &Reply{Name: name, Qtype: wire.TypeSRV, Limit: limit, EDNSSize: edns}
	for i := range n {
		target := fmt.Sprintf("node-%02d.node.dc1.consul.", i)
		r.Answer = append(r.Answer, Record{Type: wire.TypeSRV, Name: name, TTL: 5, Priority: 1, Weight: 1, Port: uint16(8000 + i), Target: target})
		r.Additional = append(r.Additional, Record{Type: wire.TypeA, Name: target, TTL: 5, IP: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})})
		r.GlueOf = append(r.GlueOf, i)
	}
	return r
}

// size is how long the reply packs with no limit at all.
func size(t *testing.T, r *Reply) int {
	t.Helper()
	c := *r
	c.Limit = wire.MaxMsgLen
	p, err := Pack(&c)
	if err != nil {
		t.Fatal(err)
	}
	return len(p.Wire)
}

func unpack(t *testing.T, p Packed) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	if err := m.Unpack(p.Wire); err != nil {
		t.Fatalf("packed reply does not parse: %v", err)
	}
	return m
}

// TestPack covers each truncation rule: a reply that fits goes whole; glue goes
// before answers, from the end; when the answers alone do not fit, TC is set with
// as many answers as fit and nothing else; the EDNS size and TCP's 65535 bytes
// are limits like any other; and the OPT record survives every cut.
func TestPack(t *testing.T) {
	answersOnly := func(n int, edns uint16) int {
		r := srvReply(n, 0, edns)
		r.Additional, r.GlueOf = nil, nil
		return size(t, r)
	}
	// The oracle for the larger cases: the most answers (then glue records) whose
	// reply, packed with no limit, fits, counted up one at a time.
	fitAnswers := func(n, limit int, edns uint16) int {
		k := 0
		for k < n && answersOnly(k+1, edns) <= limit {
			k++
		}
		return k
	}
	fitGlue := func(n, limit int, edns uint16) int {
		k := 0
		for k < n {
			r := srvReply(n, 0, edns)
			r.Additional, r.GlueOf = r.Additional[:k+1], r.GlueOf[:k+1]
			if size(t, r) > limit {
				break
			}
			k++
		}
		return k
	}
	tests := []struct {
		name      string
		reply     *Reply
		answers   int // answers expected in the packed reply
		glue      int // additional records expected, OPT aside
		truncated bool
	}{
		{"fits", srvReply(3, wire.MinUDPSize, 0), 3, 3, false},
		{"fits to the byte", srvReply(3, size(t, srvReply(3, 0, 0)), 0), 3, 3, false},
		// One byte short of everything: the last glue record goes, answers stay.
		{"drop one glue", srvReply(3, size(t, srvReply(3, 0, 0))-1, 0), 3, 2, false},
		{"drop all glue", srvReply(3, answersOnly(3, 0), 0), 3, 0, false},
		// One byte short of the answers alone: TC, and the answers that fit.
		{"truncate", srvReply(3, answersOnly(3, 0)-1, 0), 2, 0, true},
		{"truncate to none", srvReply(3, answersOnly(0, 0), 0), 0, 0, true},
		{"plain udp", srvReply(20, wire.MinUDPSize, 0), fitAnswers(20, wire.MinUDPSize, 0), 0, true},
		{"plain udp, glue cut", srvReply(10, wire.MinUDPSize, 0), 10, fitGlue(10, wire.MinUDPSize, 0), false},
		// 25 answers fit 1232 bytes, their glue only in part.
		{"edns 1232", srvReply(25, 1232, 1232), 25, fitGlue(25, 1232, 1232), false},
		{"edns 1232, more", srvReply(40, 1232, 1232), fitAnswers(40, 1232, 1232), 0, true},
		{"edns exact", srvReply(3, answersOnly(3, 1232), 1232), 3, 0, false},
		{"tcp", srvReply(400, wire.MaxMsgLen, 0), 400, 400, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Pack(tc.reply)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Wire) > tc.reply.Limit {
				t.Fatalf("%d bytes over a limit of %d", len(p.Wire), tc.reply.Limit)
			}
			m := unpack(t, p)
			glue := 0
			for _, rr := range m.Extra {
				if rr.Header().Rrtype != dns.TypeOPT {
					glue++
				}
			}
			if len(m.Answer) != tc.answers || glue != tc.glue || m.Truncated != tc.truncated || p.Truncated != tc.truncated {
				t.Fatalf("%d answers, %d glue, TC %v (Packed says %v); want %d, %d, %v",
					len(m.Answer), glue, m.Truncated, p.Truncated, tc.answers, tc.glue, tc.truncated)
			}
			if p.GlueCut != len(tc.reply.Additional)-glue {
				t.Errorf("GlueCut %d, but %d of %d glue records went", p.GlueCut, len(tc.reply.Additional)-glue, len(tc.reply.Additional))
			}
			// Answers keep their order; kept glue belongs to a kept answer.
			for i, rr := range m.Answer {
				if srv, ok := rr.(*dns.SRV); !ok || srv.Port != uint16(8000+i) {
					t.Fatalf("answer %d is %v", i, rr)
				}
			}
			for _, rr := range m.Extra {
				if a, ok := rr.(*dns.A); ok && int(a.A[3]) >= len(m.Answer) {
					t.Errorf("glue %v for an answer that went", a)
				}
			}
			if o := m.IsEdns0(); (o != nil) != (tc.reply.EDNSSize != 0) || o != nil && o.UDPSize() != tc.reply.EDNSSize {
				t.Errorf("OPT %v, want size %d", o, tc.reply.EDNSSize)
			}
			if !m.Response || !m.Authoritative || len(m.Question) != 1 || m.Question[0].Name != name {
				t.Errorf("header or question wrong: %v", m.MsgHdr)
			}
		})
	}
}

// TestPackAuthority: authority records ride with a reply that fits,
// and a TC reply drops them with the answers they came with.
func TestPackAuthority(t *testing.T) {
	r := srvReply(1, wire.MinUDPSize, 0)
	r.Authority = []Record{{Type: wire.TypeNS, Name: "consul.", TTL: 5, Target: "ns.consul."}}
	m := unpack(t, must(t, r))
	if len(m.Ns) != 1 || m.Truncated {
		t.Fatalf("authority lost from a reply that fits: %v", m)
	}
	r = srvReply(30, wire.MinUDPSize, 0)
	r.Authority = []Record{{Type: wire.TypeNS, Name: "consul.", TTL: 5, Target: "ns.consul."}}
	if m := unpack(t, must(t, r)); len(m.Ns) != 0 || !m.Truncated {
		t.Fatalf("TC reply kept its authority: %v", m)
	}
}

func must(t *testing.T, r *Reply) Packed {
	t.Helper()
	p, err := Pack(r)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPackErrors(t *testing.T) {
	links := srvReply(2, wire.MinUDPSize, 0)
	links.GlueOf = links.GlueOf[:1]
	tiny := srvReply(1, wire.HeaderLen, 0)
	bad := srvReply(1, wire.MinUDPSize, 0)
	bad.Answer = append(bad.Answer, Record{Type: wire.TypeA, Name: name, IP: netip.MustParseAddr("2001:db8::1")})
	for _, tc := range []struct {
		name string
		r    *Reply
		want string
	}{
		{"glue links", links, "2 additional records"},
		{"no room for a header and question", tiny, "even an empty reply"},
		{"A record with IPv6", bad, "A needs IPv4"},
	} {
		if _, err := Pack(tc.r); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}
