package wire

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// FuzzParseQuestion checks Parse against miekg/dns on any packet: no panic; a
// question Parse reads, miekg/dns reads the same (name without regard to case,
// type, class); the name fits RFC 1035's limit; and the verdict is AcceptQuery's
// unless the question itself is malformed. `go test` runs the seeds; `go test
// -fuzz FuzzParseQuestion ./resolver/wire/` explores.
func FuzzParseQuestion(f *testing.F) {
	add := func(m *dns.Msg) { f.Add(packMsg(f, m)) }
	add(question("web.service.consul.", dns.TypeSRV))
	add(question("_web._tcp.service.dc1.consul.", dns.TypeSRV))
	add(question(".", dns.TypeNS))
	add(question(`we\.b\009.service.consul.`, dns.TypeA))
	e := question("Web.Service.Consul.", dns.TypeA)
	e.SetEdns0(1232, true)
	e.IsEdns0().Option = append(e.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
	add(e)
	n := question("consul.", dns.TypeSOA)
	n.Opcode = dns.OpcodeNotify
	add(n)
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 0x0C, 0, 1, 0, 1})
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0})

	var q Query
	f.Fuzz(func(t *testing.T, pkt []byte) {
		v := q.Parse(pkt)
		if a := AcceptQuery(pkt); v != a && v != FormErr {
			t.Fatalf("verdict %d, AcceptQuery says %d", v, a)
		}
		if v == Ignore || v == FormErr || q.QDCount != 1 {
			if v == FormErr && q.QEnd != HeaderLen {
				t.Fatalf("FORMERR with a question to echo (end %d)", q.QEnd)
			}
			return
		}
		if q.QEnd > len(pkt) || q.QEnd <= HeaderLen {
			t.Fatalf("question ends at %d of %d", q.QEnd, len(pkt))
		}
		if len(q.Name) > MaxNameLen-1 {
			t.Fatalf("name of %d characters", len(q.Name))
		}
		// The header and question alone, as miekg/dns sees them.
		hq := append([]byte(nil), pkt[:q.QEnd]...)
		binary.BigEndian.PutUint32(hq[6:], 0)
		binary.BigEndian.PutUint16(hq[10:], 0)
		var m dns.Msg
		if err := m.Unpack(hq); err != nil || len(m.Question) != 1 {
			t.Fatalf("Parse read a question miekg/dns does not (%v): % x", err, hq)
		}
		mq := m.Question[0]
		if mq.Qtype != q.QType || mq.Qclass != q.QClass {
			t.Fatalf("type %d class %d, miekg/dns reads %d %d", q.QType, q.QClass, mq.Qtype, mq.Qclass)
		}
		// miekg/dns escapes what Odd flags ("\.", "\009") as well as a few printable
		// characters ("\(", "\@"); plain names must agree once those are undone.
		if !q.Odd && unescape(strings.ToLower(mq.Name)) != string(q.Name) {
			t.Fatalf("name %q, miekg/dns reads %q", q.Name, mq.Name)
		}
		if q.Odd && !strings.Contains(mq.Name, `\`) {
			t.Fatalf("name %q flagged odd, miekg/dns reads %q", q.Name, mq.Name)
		}
	})
}

// unescape undoes miekg/dns's escaping of printable characters.
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
