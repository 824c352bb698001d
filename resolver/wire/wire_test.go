package wire

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func packMsg(t testing.TB, m *dns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func question(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Id = 0xBEEF
	return m
}

// setCount overwrites one of the header's four counts (at 4, 6, 8 or 10).
func setCount(pkt []byte, off int, n uint16) []byte {
	b := append([]byte(nil), pkt...)
	binary.BigEndian.PutUint16(b[off:], n)
	return b
}

func TestAcceptQuery(t *testing.T) {
	good := packMsg(t, question("web.service.consul.", dns.TypeSRV))
	withOpcode := func(op int) []byte {
		m := question("web.service.consul.", dns.TypeSOA)
		m.Opcode = op
		return packMsg(t, m)
	}
	response := question("web.service.consul.", dns.TypeA)
	response.Response = true
	tests := []struct {
		name string
		pkt  []byte
		want Verdict
	}{
		{"query", good, Accept},
		{"empty", nil, Ignore},
		{"runt", good[:HeaderLen-1], Ignore},
		{"header alone", good[:HeaderLen], Accept}, // counts say one question; Parse finds none
		{"response", packMsg(t, response), Ignore},
		{"response too long", append(packMsg(t, response), make([]byte, MaxQueryLen)...), Ignore},
		{"longest query", append(append([]byte(nil), good...), make([]byte, MaxQueryLen-len(good))...), Accept},
		{"too long", append(append([]byte(nil), good...), make([]byte, MaxQueryLen+1-len(good))...), FormErr},
		{"notify", withOpcode(dns.OpcodeNotify), NotImp},
		{"update", withOpcode(dns.OpcodeUpdate), NotImp},
		{"notify without question", setCount(withOpcode(dns.OpcodeNotify), 4, 0), NotImp},
		{"notify with an answer", setCount(withOpcode(dns.OpcodeNotify), 6, 1), FormErr},
		{"no question", setCount(good, 4, 0), FormErr},
		{"two questions", setCount(good, 4, 2), FormErr},
		{"answer record", setCount(good, 6, 1), FormErr},
		{"authority record", setCount(good, 8, 1), FormErr},
		{"one additional", setCount(good, 10, 1), Accept},
		{"two additionals", setCount(good, 10, 2), FormErr},
	}
	for _, tc := range tests {
		if got := AcceptQuery(tc.pkt); got != tc.want {
			t.Errorf("%s: verdict %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	edns := question("Web.Service.CONSUL.", dns.TypeSRV)
	edns.SetEdns0(1232, true)
	badVers := question("web.service.consul.", dns.TypeA)
	badVers.SetEdns0(4096, false)
	badVers.IsEdns0().SetVersion(1)
	good := packMsg(t, question("web.service.consul.", dns.TypeA))
	odd := packMsg(t, question(`we\.b.service.consul.`, dns.TypeA))
	ctrl := packMsg(t, question(`w\009b.service.consul.`, dns.TypeA))
	notify := question("consul.", dns.TypeSOA)
	notify.Opcode = dns.OpcodeNotify
	long := strings.Repeat(strings.Repeat("a", 63)+".", 3) + strings.Repeat("b", 61) + "." // 255 bytes in wire form
	tests := []struct {
		name    string
		pkt     []byte
		verdict Verdict
		qname   string
		qtype   uint16
		odd     bool
		edns    bool
		size    uint16
		do      bool
		ver     uint8
		bad     bool
	}{
		{name: "plain", pkt: good, verdict: Accept, qname: "web.service.consul.", qtype: TypeA},
		{name: "case and edns", pkt: packMsg(t, edns), verdict: Accept, qname: "web.service.consul.", qtype: TypeSRV, edns: true, size: 1232, do: true},
		{name: "edns version", pkt: packMsg(t, badVers), verdict: Accept, qname: "web.service.consul.", qtype: TypeA, edns: true, size: 4096, ver: 1},
		{name: "root", pkt: packMsg(t, question(".", dns.TypeNS)), verdict: Accept, qname: ".", qtype: TypeNS},
		{name: "longest name", pkt: packMsg(t, question(long, dns.TypeA)), verdict: Accept, qname: long, qtype: TypeA},
		{name: "dot in a label", pkt: odd, verdict: Accept, qname: "we.b.service.consul.", qtype: TypeA, odd: true},
		{name: "control byte", pkt: ctrl, verdict: Accept, qname: "w\tb.service.consul.", qtype: TypeA, odd: true},
		{name: "notify keeps its question", pkt: packMsg(t, notify), verdict: NotImp, qname: "consul.", qtype: TypeSOA},
		{name: "name a byte too long", pkt: append(append(good[:HeaderLen:HeaderLen], strings.Repeat("\x3f"+strings.Repeat("a", 63), 3)+"\x3e"+strings.Repeat("b", 62)...), 0, 0, 1, 0, 1), verdict: FormErr},
		{name: "compression pointer", pkt: append(good[:HeaderLen:HeaderLen], 0xC0, 12, 0, 1, 0, 1), verdict: FormErr},
		{name: "extended label", pkt: append(good[:HeaderLen:HeaderLen], 0x41, 'a', 0, 0, 1, 0, 1), verdict: FormErr},
		{name: "label past the end", pkt: append(good[:HeaderLen:HeaderLen], 5, 'a'), verdict: FormErr},
		{name: "no terminating label", pkt: append(good[:HeaderLen:HeaderLen], 1, 'a'), verdict: FormErr},
		{name: "no type and class", pkt: good[:len(good)-1], verdict: FormErr},
		{name: "not an OPT", pkt: append(setCount(good, 10, 1), 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0), verdict: Accept, qname: "web.service.consul.", qtype: TypeA, bad: true},
		{name: "OPT rdlength wrong", pkt: append(setCount(good, 10, 1), 0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 4), verdict: Accept, qname: "web.service.consul.", qtype: TypeA, bad: true},
		{name: "OPT cut short", pkt: append(setCount(good, 10, 1), 0, 0, 41), verdict: Accept, qname: "web.service.consul.", qtype: TypeA, bad: true},
	}
	var q Query
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Parse into the same Query each time: nothing of the last packet may stick.
			q.Parse(packMsg(t, edns))
			v := q.Parse(tc.pkt)
			if v != tc.verdict {
				t.Fatalf("verdict %d, want %d", v, tc.verdict)
			}
			if v == FormErr {
				if q.QEnd != HeaderLen || len(q.Name) != 0 {
					t.Errorf("FORMERR left a question behind: end %d, name %q", q.QEnd, q.Name)
				}
				return
			}
			if string(q.Name) != tc.qname || q.QType != tc.qtype || q.QClass != ClassIN || q.Odd != tc.odd {
				t.Errorf("question %q type %d class %d odd %v, want %q %d IN odd %v", q.Name, q.QType, q.QClass, q.Odd, tc.qname, tc.qtype, tc.odd)
			}
			if q.EDNS != tc.edns || q.EDNSSize != tc.size || q.EDNSDO != tc.do || q.EDNSVer != tc.ver || q.EDNSBad != tc.bad {
				t.Errorf("edns %v size %d do %v version %d bad %v", q.EDNS, q.EDNSSize, q.EDNSDO, q.EDNSVer, q.EDNSBad)
			}
			if q.ID != 0xBEEF || q.QDCount != 1 {
				t.Errorf("header: id %x qdcount %d", q.ID, q.QDCount)
			}
			// The question ends where the packer put its type and class.
			if binary.BigEndian.Uint16(tc.pkt[q.QEnd-4:]) != tc.qtype {
				t.Errorf("question end %d is off", q.QEnd)
			}
		})
	}
}

// TestParseAllocatesNothing: the query path parses every packet into a reused Query.
func TestParseAllocatesNothing(t *testing.T) {
	m := question("Web.Service.Consul.", dns.TypeSRV)
	m.SetEdns0(1232, false)
	pkt := packMsg(t, m)
	var q Query
	if n := testing.AllocsPerRun(100, func() { q.Parse(pkt) }); n != 0 {
		t.Fatalf("%v allocations per parse", n)
	}
}

func TestDomain(t *testing.T) {
	label := strings.Repeat("a", 63)
	// 253 characters: the longest name RFC 1035 allows, written without the root.
	longest := label + "." + label + "." + label + "." + strings.Repeat("b", 61)
	tests := []struct {
		in, want string
		err      string
	}{
		{in: "consul", want: "consul."},
		{in: " Consul. ", want: "consul."},
		{in: "_web._tcp.dc1.consul", want: "_web._tcp.dc1.consul."},
		{in: "a-b.c0", want: "a-b.c0."},
		{in: longest, want: longest + "."},
		{in: longest + ".", want: longest + "."},
		{in: "", err: ErrRoot.Error()},
		{in: ".", err: ErrRoot.Error()},
		{in: longest + "b", err: "longer than 253 characters"},
		{in: label + "a.consul", err: "longer than 63 characters"},
		{in: "a..consul", err: "empty label"},
		{in: "consul..", err: "empty label"},
		{in: ".consul", err: "empty label"},
		{in: "-a.consul", err: "starts or ends with a hyphen"},
		{in: "a-.consul", err: "starts or ends with a hyphen"},
		{in: "a b.consul", err: "has character ' '"},
		{in: "a*.consul", err: "has character '*'"},
		{in: "ä.consul", err: "has character 'ä'"},
	}
	for _, tc := range tests {
		got, err := Domain(tc.in)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("Domain(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("Domain(%q) = %q, %v; want an error with %q", tc.in, got, err, tc.err)
		}
	}
}

// TestAppendName: what Domain accepts, AppendName writes as the packer would.
func TestAppendName(t *testing.T) {
	for _, name := range []string{".", "consul.", "web.service.dc1.consul.", strings.Repeat("a", 63) + ".x."} {
		got := AppendName(nil, name)
		want := make([]byte, 255)
		n, err := dns.PackDomainName(name, want, 0, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want[:n]) {
			t.Errorf("%s: % x, want % x", name, got, want[:n])
		}
	}
}

// TestSOA: the SOA record reads back through miekg/dns with the zone's names and
// timers, both where it answers the apex and where it sits under a longer name.
func TestSOA(t *testing.T) {
	soa := SOA{Serial: 1700000000, TTL: 30}
	for _, tc := range []struct{ qname, zone string }{
		{"consul.", "consul."},
		{"nope.service.dc1.consul.", "consul."},
		{"x.example.internal.", "example.internal."},
	} {
		out := AppendHeader(nil, 7, FlagQR|FlagAA|RcodeNXDomain, 1, 0, 1, 1)
		out = AppendName(out, tc.qname)
		out = binary.BigEndian.AppendUint16(out, TypeA)
		out = binary.BigEndian.AppendUint16(out, ClassIN)
		out = soa.Append(out, HeaderLen+len(tc.qname)-len(tc.zone))
		out = AppendOPT(out, 1232, 0)
		m := new(dns.Msg)
		if err := m.Unpack(out); err != nil {
			t.Fatalf("%s: %v", tc.qname, err)
		}
		if m.Id != 7 || !m.Response || !m.Authoritative || m.Rcode != dns.RcodeNameError || len(m.Ns) != 1 {
			t.Fatalf("%s: %v", tc.qname, m)
		}
		rr, ok := m.Ns[0].(*dns.SOA)
		if !ok {
			t.Fatalf("%s: authority %v", tc.qname, m.Ns[0])
		}
		want := dns.SOA{Hdr: dns.RR_Header{Name: tc.zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 30, Rdlength: rr.Hdr.Rdlength},
			Ns: "ns." + tc.zone, Mbox: "hostmaster." + tc.zone, Serial: 1700000000, Refresh: SOARefresh, Retry: SOARetry, Expire: SOAExpire, Minttl: 30}
		if *rr != want {
			t.Errorf("%s: SOA %v, want %v", tc.qname, rr, &want)
		}
		if o := m.IsEdns0(); o == nil || o.UDPSize() != 1232 || o.Version() != 0 {
			t.Errorf("%s: OPT %v", tc.qname, o)
		}
	}
}

// TestAppendOPTBadVers: BADVERS (16) is split between the header's rcode and the
// OPT record, and miekg/dns puts it back together.
func TestAppendOPTBadVers(t *testing.T) {
	out := AppendHeader(nil, 1, FlagQR|RcodeBadVers&RcodeMask, 0, 0, 0, 1)
	out = AppendOPT(out, 512, RcodeBadVers)
	m := new(dns.Msg)
	if err := m.Unpack(out); err != nil {
		t.Fatal(err)
	}
	if m.Rcode != dns.RcodeBadVers {
		t.Fatalf("rcode %d, want BADVERS", m.Rcode)
	}
}
