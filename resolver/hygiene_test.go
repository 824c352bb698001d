package resolver

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/resolver/wire"
)

// respondRaw answers one raw packet the way the UDP reader does.
func respondRaw(s *Server, pkt []byte) ([]byte, outcome) {
	var q query
	out := make([]byte, 0, wire.MaxMsgLen)
	return s.respond(&q, q.Parse(pkt), out, false, s.stats.shard())
}

func mustUnpack(t *testing.T, b []byte) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		t.Fatalf("reply does not parse: %v (% x)", err, b)
	}
	return m
}

// TestProtocolHygiene covers the queries that are not plain questions.
func TestProtocolHygiene(t *testing.T) {
	s := hotServer(t)
	base := func(name string, qtype uint16) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		return m
	}
	pack := func(m *dns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name  string
		pkt   func() []byte
		rcode int
		check func(t *testing.T, m *dns.Msg)
	}{
		{"notify opcode", func() []byte {
			m := base("web.service.consul.", dns.TypeSOA)
			m.Opcode = dns.OpcodeNotify
			return pack(m)
		}, dns.RcodeNotImplemented, nil},
		{"update opcode", func() []byte { m := base("consul.", dns.TypeSOA); m.Opcode = dns.OpcodeUpdate; return pack(m) }, dns.RcodeNotImplemented, nil},
		{"two questions", func() []byte {
			m := base("web.service.consul.", dns.TypeA)
			m.Question = append(m.Question, dns.Question{Name: "x.service.consul.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
			return pack(m)
		}, dns.RcodeFormatError, nil},
		{"no question", func() []byte { m := base("web.service.consul.", dns.TypeA); m.Question = nil; return pack(m) }, dns.RcodeFormatError, nil},
		{"chaos class", func() []byte {
			m := base("web.service.consul.", dns.TypeTXT)
			m.Question[0].Qclass = dns.ClassCHAOS
			return pack(m)
		}, dns.RcodeRefused, nil},
		{"axfr", func() []byte { return pack(base("consul.", dns.TypeAXFR)) }, dns.RcodeRefused, nil},
		{"ixfr", func() []byte { return pack(base("consul.", dns.TypeIXFR)) }, dns.RcodeRefused, nil},
		{"any", func() []byte { return pack(base("web.service.consul.", dns.TypeANY)) }, dns.RcodeSuccess, func(t *testing.T, m *dns.Msg) {
			if len(m.Answer) != 3 {
				t.Errorf("ANY: %d answers, want the 3 A records", len(m.Answer))
			}
			for _, rr := range m.Answer {
				if rr.Header().Rrtype != dns.TypeA {
					t.Errorf("ANY answered with %v", rr)
				}
			}
		}},
		{"edns version 1", func() []byte {
			m := base("web.service.consul.", dns.TypeA)
			m.SetEdns0(1232, false)
			m.IsEdns0().SetVersion(1)
			return pack(m)
		}, dns.RcodeBadVers, func(t *testing.T, m *dns.Msg) {
			if len(m.Answer) != 0 || m.IsEdns0() == nil || m.IsEdns0().Version() != 0 {
				t.Errorf("BADVERS reply: %v", m)
			}
		}},
		{"unknown edns option", func() []byte {
			m := base("web.service.consul.", dns.TypeA)
			m.SetEdns0(1232, false)
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_LOCAL{Code: 65001, Data: []byte{1, 2, 3}})
			return pack(m)
		}, dns.RcodeSuccess, func(t *testing.T, m *dns.Msg) {
			if len(m.Answer) != 3 || m.IsEdns0() == nil || m.IsEdns0().UDPSize() != 1232 || len(m.IsEdns0().Option) != 0 {
				t.Errorf("reply to a query with an unknown option: %v", m)
			}
		}},
		{"outside name, no forwarder", func() []byte { return pack(base("example.com.", dns.TypeA)) }, dns.RcodeRefused, func(t *testing.T, m *dns.Msg) {
			if m.RecursionAvailable {
				t.Error("RA set without a forwarder")
			}
		}},
		{"rd and id echoed", func() []byte {
			m := base("web.service.consul.", dns.TypeA)
			m.Id = 0xBEEF
			m.RecursionDesired = true
			return pack(m)
		}, dns.RcodeSuccess, func(t *testing.T, m *dns.Msg) {
			if m.Id != 0xBEEF || !m.RecursionDesired || !m.Authoritative || m.RecursionAvailable {
				t.Errorf("header: id %x rd %v aa %v ra %v", m.Id, m.RecursionDesired, m.Authoritative, m.RecursionAvailable)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pkt := tc.pkt()
			reply, oc := respondRaw(s, pkt)
			if oc != replied {
				t.Fatalf("outcome %d, want a reply", oc)
			}
			m := mustUnpack(t, reply)
			if m.Rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s:\n%v", dns.RcodeToString[m.Rcode], dns.RcodeToString[tc.rcode], m)
			}
			if !m.Response {
				t.Error("QR not set")
			}
			if tc.check != nil {
				tc.check(t, m)
			}
		})
	}
}

// TestNoReplyToResponsesOrRunts: a packet with QR set, or shorter than a header,
// gets nothing back (no reflection loops between servers).
func TestNoReplyToResponsesOrRunts(t *testing.T) {
	s := hotServer(t)
	m := new(dns.Msg)
	m.SetQuestion("web.service.consul.", dns.TypeA)
	m.Response = true
	resp, _ := m.Pack()
	for name, pkt := range map[string][]byte{"response": resp, "runt": {1, 2, 3}, "empty": {}} {
		if _, oc := respondRaw(s, pkt); oc != drop {
			t.Errorf("%s: outcome %d, want drop", name, oc)
		}
	}
}

// TestMalformedNeverAmplifies: whatever garbage arrives, a reply is never larger
// than the packet that caused it.
func TestMalformedNeverAmplifies(t *testing.T) {
	s := hotServer(t)
	good := packQuery(t, "web.service.consul.", dns.TypeSRV, false)
	cases := map[string][]byte{
		"truncated question":  good[:len(good)-3],
		"label past the end":  append(append([]byte{}, good[:12]...), 63, 'a'),
		"compression pointer": append(append([]byte{}, good[:12]...), 0xC0, 12, 0, 1, 0, 1),
		"answer records":      withCount(good, 6, 1),
		"two additionals":     withCount(good, 10, 2),
		"bad opt":             append(withCount(good, 10, 1), 0, 0, 41),
		"longer than a query": append(append([]byte{}, good...), make([]byte, wire.MaxQueryLen)...),
	}
	for name, pkt := range cases {
		reply, oc := respondRaw(s, pkt)
		if oc == drop {
			continue
		}
		if len(reply) > len(pkt) {
			t.Errorf("%s: %d-byte reply to a %d-byte packet", name, len(reply), len(pkt))
		}
		if m := mustUnpack(t, reply); m.Rcode != dns.RcodeFormatError {
			t.Errorf("%s: rcode %s, want FORMERR", name, dns.RcodeToString[m.Rcode])
		}
	}
}

func withCount(pkt []byte, off int, n uint16) []byte {
	b := append([]byte{}, pkt...)
	binary.BigEndian.PutUint16(b[off:], n)
	return b
}

// FuzzRespond: no packet crashes the server, and every reply parses, carries the
// query's ID and is a response. `go test` runs the seeds; `go test -fuzz` explores.
func FuzzRespond(f *testing.F) {
	for _, hq := range hotQueries {
		f.Add(packQuery(f, hq.name, hq.qtype, hq.edns))
	}
	f.Add(packQuery(f, "_web._tcp.service.dc1.consul.", dns.TypeSRV, true))
	f.Add(packQuery(f, "consul.", dns.TypeNS, false))
	f.Add(packQuery(f, "consultest.node.consul.", dns.TypeTXT, false))
	f.Add(packQuery(f, "1.0.0.127.in-addr.arpa.", dns.TypePTR, false))
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 0x0C, 0, 1, 0, 1})
	s := hotServer(f)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		reply, oc := respondRaw(s, pkt)
		if oc != replied {
			return
		}
		m := new(dns.Msg)
		if err := m.Unpack(reply); err != nil {
			t.Fatalf("reply does not parse: %v\nquery % x\nreply % x", err, pkt, reply)
		}
		if !m.Response || m.Id != binary.BigEndian.Uint16(pkt) {
			t.Fatalf("reply header wrong: %v", m.MsgHdr)
		}
	})
}

// TestUnknownTagsBuildNothing: made-up tags are NXDOMAIN without a reply being built
// or memoised for them, so they cost no more than any junk name.
func TestUnknownTagsBuildNothing(t *testing.T) {
	s := hotServer(t)
	before := s.stats.Compiles()
	for i := 0; i < 200; i++ {
		reply, oc := respondRaw(s, packQuery(t, fmt.Sprintf("tag%d.web.service.consul.", i), dns.TypeSRV, false))
		if oc != replied || mustUnpack(t, reply).Rcode != dns.RcodeNameError {
			t.Fatalf("tag%d: not NXDOMAIN", i)
		}
	}
	if n := s.stats.Compiles() - before; n != 0 {
		t.Fatalf("%d replies built for made-up tags", n)
	}
}
