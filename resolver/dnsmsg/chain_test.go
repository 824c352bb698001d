package dnsmsg

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

func reply(t *testing.T, name string, qtype uint16, rrs ...string) []byte {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Response = true
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		m.Answer = append(m.Answer, rr)
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestChain: the CNAMEs from the name asked on and the addresses of the last one,
// in order and lower case; records of other owners or types are left out; a loop
// or an overlong chain is ErrChain.
func TestChain(t *testing.T) {
	msg := reply(t, "Db.Example.test.", dns.TypeA,
		"evil.test. 60 IN A 10.6.6.6",
		"db.example.test. 60 IN CNAME Alias.Example.test.",
		"alias.example.test. 30 IN A 192.0.2.1",
		"alias.example.test. 30 IN AAAA 2001:db8::1",
		"alias.example.test. 30 IN A 192.0.2.2",
	)
	recs, rcode, err := Chain(msg, "db.example.test.", dns.TypeA)
	if err != nil || rcode != dns.RcodeSuccess {
		t.Fatalf("rcode %d, err %v", rcode, err)
	}
	got := fmt.Sprint(recs)
	want := fmt.Sprint([]Record{
		{Type: dns.TypeCNAME, Name: "db.example.test.", TTL: 60, Target: "alias.example.test."},
		{Type: dns.TypeA, Name: "alias.example.test.", TTL: 30, IP: netip.MustParseAddr("192.0.2.1")},
		{Type: dns.TypeA, Name: "alias.example.test.", TTL: 30, IP: netip.MustParseAddr("192.0.2.2")},
	})
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}

	loop := reply(t, "a.test.", dns.TypeA, "a.test. 60 IN CNAME b.test.", "b.test. 60 IN CNAME a.test.")
	if _, _, err := Chain(loop, "a.test.", dns.TypeA); !errors.Is(err, ErrChain) {
		t.Errorf("a loop: err %v, want ErrChain", err)
	}
	if _, _, err := Chain([]byte{1, 2, 3}, "a.test.", dns.TypeA); err == nil {
		t.Error("garbage: no error")
	}
}
