package forward

import (
	"bytes"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/resolver/wire"
)

func pack(t testing.TB, m *dns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustRR(t testing.TB, lines ...string) []dns.RR {
	t.Helper()
	out := make([]dns.RR, len(lines))
	for i, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = rr
	}
	return out
}

func TestParseQuery(t *testing.T) {
	m := new(dns.Msg)
	m.SetQuestion("DB.Example.Test.", dns.TypeSRV)
	m.CheckingDisabled = true
	m.SetEdns0(1232, true)
	q, err := parseQuery(pack(t, m))
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte("\x02db\x07example\x04test\x00"); !bytes.Equal(q.name, want) {
		t.Errorf("name %q, want %q", q.name, want)
	}
	if q.id != m.Id || q.qtype != dns.TypeSRV || q.qclass != dns.ClassINET || !q.edns || !q.do || q.flags&wire.FlagCD == 0 {
		t.Errorf("parsed %+v", q)
	}
	if q.end != wire.HeaderLen+len(q.name)+4 {
		t.Errorf("end %d", q.end)
	}

	m = new(dns.Msg)
	m.SetQuestion("a.test.", dns.TypeA)
	if q, err = parseQuery(pack(t, m)); err != nil || q.edns || q.do {
		t.Errorf("plain query: %+v, %v", q, err)
	}
	m.Response = true
	if _, err := parseQuery(pack(t, m)); err == nil {
		t.Error("a response parsed as a query")
	}
}

func TestMatches(t *testing.T) {
	query := func(name string, qtype uint16) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		m.Id = 0x1234
		return m
	}
	q := pack(t, query("Db.Example.Test.", 65)) // type 65 is 0x0041: 'A' on the wire
	qend := len(q)
	tests := []struct {
		name  string
		reply func() *dns.Msg
		want  bool
	}{
		{"same", func() *dns.Msg { r := new(dns.Msg); return r.SetReply(query("Db.Example.Test.", 65)) }, true},
		{"other case", func() *dns.Msg { r := new(dns.Msg); return r.SetReply(query("db.example.test.", 65)) }, true},
		{"other ID", func() *dns.Msg {
			r := new(dns.Msg).SetReply(query("db.example.test.", 65))
			r.Id++
			return r
		}, false},
		{"not a response", func() *dns.Msg { return query("db.example.test.", 65) }, false},
		{"other name", func() *dns.Msg { return new(dns.Msg).SetReply(query("dc.example.test.", 65)) }, false},
		// 97 is 0x0061, 'a': only the name may differ in case.
		{"other type", func() *dns.Msg { return new(dns.Msg).SetReply(query("db.example.test.", 97)) }, false},
		{"no question", func() *dns.Msg {
			r := new(dns.Msg).SetReply(query("db.example.test.", 65))
			r.Question = nil
			return r
		}, false},
	}
	for _, tt := range tests {
		if got := matches(pack(t, tt.reply()), q, qend); got != tt.want {
			t.Errorf("%s: matches = %v", tt.name, got)
		}
	}
}

func TestWalkAndCacheTTL(t *testing.T) {
	soa := "example.test. 120 IN SOA ns.example.test. h.example.test. 1 2 3 4 60"
	tests := []struct {
		name   string
		rcode  int
		tc     bool
		answer []string
		ns     []string
		extra  []string
		ttls   int
		want   time.Duration // 0: not cached
	}{
		{"positive: smallest of answer and authority", dns.RcodeSuccess, false,
			[]string{"a.test. 300 IN A 192.0.2.1", "a.test. 200 IN A 192.0.2.2"},
			[]string{"test. 250 IN NS ns.test."}, []string{"ns.test. 10 IN A 192.0.2.53"}, 4, 200 * time.Second},
		{"NXDOMAIN: SOA minimum", dns.RcodeNameError, false, nil, []string{soa}, nil, 1, 60 * time.Second},
		{"NODATA: SOA TTL when smaller", dns.RcodeSuccess, false, nil,
			[]string{"example.test. 30 IN SOA ns.example.test. h.example.test. 1 2 3 4 60"}, nil, 1, 30 * time.Second},
		{"CNAME then NXDOMAIN", dns.RcodeNameError, false, []string{"a.test. 20 IN CNAME b.example.test."}, []string{soa}, nil, 2, 20 * time.Second},
		{"NODATA without SOA", dns.RcodeSuccess, false, nil, nil, nil, 0, 0},
		{"referral", dns.RcodeSuccess, false, nil, []string{"test. 250 IN NS ns.test."}, nil, 1, 0},
		{"SERVFAIL", dns.RcodeServerFailure, false, nil, nil, nil, 0, 0},
		{"REFUSED", dns.RcodeRefused, false, nil, nil, nil, 0, 0},
		{"truncated", dns.RcodeSuccess, true, []string{"a.test. 300 IN A 192.0.2.1"}, nil, nil, 1, 0},
		{"TTL 0", dns.RcodeSuccess, false, []string{"a.test. 0 IN A 192.0.2.1"}, nil, nil, 1, 0},
		{"capped at a day", dns.RcodeSuccess, false, []string{"a.test. 604800 IN A 192.0.2.1"}, nil, nil, 1, 24 * time.Hour},
		{"negative capped at 3h", dns.RcodeNameError, false, nil,
			[]string{"example.test. 86400 IN SOA ns.example.test. h.example.test. 1 2 3 4 86400"}, nil, 1, 3 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := new(dns.Msg)
			m.SetQuestion("a.test.", dns.TypeA)
			m.Response, m.Rcode, m.Truncated = true, tt.rcode, tt.tc
			m.Answer, m.Ns, m.Extra = mustRR(t, tt.answer...), mustRR(t, tt.ns...), mustRR(t, tt.extra...)
			m.SetEdns0(1232, false)
			ri, err := walk(pack(t, m))
			if err != nil {
				t.Fatal(err)
			}
			if len(ri.ttls) != tt.ttls || ri.opt < 0 || !ri.optLast {
				t.Errorf("%d TTLs (want %d), opt at %d, last %v", len(ri.ttls), tt.ttls, ri.opt, ri.optLast)
			}
			got, ok := ri.cacheTTL()
			if ok != (tt.want != 0) || got != tt.want {
				t.Errorf("cacheTTL = %v, %v; want %v", got, ok, tt.want)
			}
		})
	}
}

func TestWalkRejectsMalformed(t *testing.T) {
	m := new(dns.Msg)
	m.SetQuestion("a.test.", dns.TypeA)
	m.Response = true
	m.Answer = mustRR(t, "a.test. 300 IN A 192.0.2.1")
	b := pack(t, m)
	for cut := len(b) - 1; cut > len(b)-14; cut-- {
		if _, err := walk(b[:cut]); err == nil {
			t.Errorf("reply cut to %d of %d bytes walked without error", cut, len(b))
		}
	}
}

// Options such as a DNS cookie belong to one exchange and are dropped.
func TestStripOptions(t *testing.T) {
	m := new(dns.Msg)
	m.SetQuestion("a.test.", dns.TypeA)
	m.Response = true
	m.Answer = mustRR(t, "a.test. 300 IN A 192.0.2.1")
	m.SetEdns0(1232, true)
	o := m.IsEdns0()
	o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708a1a2a3a4a5a6a7a8"})
	b := pack(t, m)
	ri, err := walk(b)
	if err != nil {
		t.Fatal(err)
	}
	b = stripOptions(b, &ri)
	var got dns.Msg
	if err := got.Unpack(b); err != nil {
		t.Fatal(err)
	}
	o = got.IsEdns0()
	if o == nil || len(o.Option) != 0 || !o.Do() || o.UDPSize() != 1232 || len(got.Answer) != 1 {
		t.Errorf("after stripping: %v", &got)
	}
}

func TestPresent(t *testing.T) {
	client := new(dns.Msg)
	client.SetQuestion("BIG.example.TEST.", dns.TypeTXT)
	client.Id = 4242
	cq := pack(t, client)

	r := new(dns.Msg)
	r.SetQuestion("big.example.test.", dns.TypeTXT)
	r.Response, r.RecursionDesired, r.Id = true, false, 7
	for i := 0; i < 20; i++ {
		r.Answer = append(r.Answer, mustRR(t, `big.example.test. 300 IN TXT "0123456789012345678901234567890123456789"`)...)
	}
	r.SetEdns0(4096, false)
	wire := pack(t, r)
	ri, err := walk(wire)
	if err != nil {
		t.Fatal(err)
	}

	for _, limit := range []int{len(wire), 512} {
		out := present(append([]byte(nil), wire...), cq, limit, &ri)
		var got dns.Msg
		if err := got.Unpack(out); err != nil {
			t.Fatal(err)
		}
		if got.Id != 4242 || !got.RecursionDesired || !got.RecursionAvailable || got.Question[0].Name != "BIG.example.TEST." {
			t.Errorf("limit %d: header or question not the client's: %v", limit, &got)
		}
		if len(out) > limit {
			t.Errorf("limit %d: %d bytes", limit, len(out))
		}
		truncated := limit < len(wire)
		if got.Truncated != truncated || (len(got.Answer) == 0) != truncated || got.IsEdns0() == nil {
			t.Errorf("limit %d: TC %v with %d answers, OPT %v", limit, got.Truncated, len(got.Answer), got.IsEdns0())
		}
	}
}

func TestInZone(t *testing.T) {
	name := func(s string) []byte { b, _ := wireName(s); return b }
	tests := []struct {
		name, zone string
		want       bool
	}{
		{"db.example.test.", "example.test.", true},
		{"example.test.", "example.test.", true},
		{"dbexample.test.", "example.test.", false},
		{"test.", "example.test.", false},
		{"a.b.c.consul2.", "consul2", true},
	}
	for _, tt := range tests {
		if got := inZone(name(tt.name), name(tt.zone)); got != tt.want {
			t.Errorf("inZone(%s, %s) = %v", tt.name, tt.zone, got)
		}
	}
	if got := presentation(name("Db.Example.test")); got != "db.example.test." {
		t.Errorf("presentation: %q", got)
	}
}
