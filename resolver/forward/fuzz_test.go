package forward

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/resolver/wire"
)

// FuzzAccept feeds accept replies an upstream could send for one query: any header
// and any records after the query's own question (replies with another question never
// reach accept). Nothing may panic; what the client gets carries its ID and question
// and fits its size or is an empty TC reply; a reply miekg/dns can read stays
// readable through caching, TTL countdown, serve-stale and presenting. `go test` runs
// the seeds; `go test -fuzz FuzzAccept` explores.
func FuzzAccept(f *testing.F) {
	query := new(dns.Msg)
	query.SetQuestion("www.example.test.", dns.TypeA)
	query.SetEdns0(1232, false)
	pkt := pack(f, query)
	q, err := parseQuery(pkt)
	if err != nil {
		f.Fatal(err)
	}
	clientQ := pkt[:q.end]
	key := cacheKey(&q)
	now := time.Unix(1_700_000_000, 0)

	seed := func(m *dns.Msg) {
		b := pack(f, m)
		f.Add(b[:wire.HeaderLen], b[q.end:], uint16(512))
		f.Add(b[:wire.HeaderLen], b[q.end:], uint16(4096))
	}
	ok := new(dns.Msg)
	ok.SetReply(query)
	ok.Answer = mustRR(f, "www.example.test. 300 IN CNAME web.example.test.", "web.example.test. 60 IN A 192.0.2.1")
	ok.Ns = mustRR(f, "example.test. 3600 IN NS ns.example.test.")
	ok.Extra = append(mustRR(f, "ns.example.test. 3600 IN A 192.0.2.53"), ok.Extra...)
	seed(ok)
	nx := new(dns.Msg)
	nx.SetRcode(query, dns.RcodeNameError)
	nx.Ns = mustRR(f, "example.test. 120 IN SOA ns.example.test. h.example.test. 1 2 3 4 60")
	nx.SetEdns0(1232, false)
	nx.IsEdns0().Option = append(nx.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
	seed(nx)
	compressed := ok.Copy()
	compressed.Compress = true
	seed(compressed)

	f.Fuzz(func(t *testing.T, header, records []byte, limit uint16) {
		if len(header) < wire.HeaderLen {
			return
		}
		// The upstream's header, made to match (our ID, QR, one question), then the
		// query's question and whatever records follow.
		reply := append(append([]byte(nil), header[:wire.HeaderLen]...), clientQ[wire.HeaderLen:]...)
		reply = append(reply, records...)
		if len(reply) > wire.MaxMsgLen {
			return
		}
		copy(reply, clientQ[:2])
		reply[2] |= wire.FlagQR >> 8
		binary.BigEndian.PutUint16(reply[4:], 1)
		if !matches(reply, pkt, q.end) {
			t.Fatal("built reply does not match the query")
		}
		// The bytes as they came: nothing may panic, and the client's ID, question and
		// size limit hold. A reply miekg/dns reads is also sent again as miekg/dns
		// packs it - names and pointers where a real server puts them - and must stay
		// readable. (Raw bytes can point into the header or a TTL, which are
		// rewritten on the way: nonsense whose meaning changes with the ID.)
		exercise(t, reply, clientQ, key, now, max(int(limit), 512), false)
		m := new(dns.Msg)
		if m.Unpack(reply) != nil {
			return
		}
		m.Compress = true
		// (miekg/dns does not always read back what it packs: an empty SOA, say.)
		if packed, err := m.Pack(); err == nil && len(packed) <= wire.MaxMsgLen && matches(packed, pkt, q.end) &&
			new(dns.Msg).Unpack(packed) == nil {
			exercise(t, packed, clientQ, key, now, max(int(limit), 512), true)
		}
	})
}

// exercise runs reply through accept, the cache, the TTL countdown and serve-stale,
// and checks what the client would get each time.
func exercise(t *testing.T, reply, clientQ []byte, key string, now time.Time, lim int, readable bool) {
	t.Helper()
	fw := &Forwarder{cache: newCache(16, 1<<20, time.Hour, new(Stats))}
	out, err := fw.accept(append([]byte(nil), reply...), clientQ, key, now, lim)
	if err != nil {
		return
	}
	check := func(what string, msg []byte) {
		t.Helper()
		if len(msg) < len(clientQ) || string(msg[:2]) != string(clientQ[:2]) ||
			string(msg[wire.HeaderLen:len(clientQ)]) != string(clientQ[wire.HeaderLen:]) {
			t.Fatalf("%s: not the client's ID and question\nreply % x\nout   % x", what, reply, msg)
		}
		if len(msg) > lim && (msg[2]&(wire.FlagTC>>8) == 0 || binary.BigEndian.Uint16(msg[6:]) != 0) {
			t.Fatalf("%s: %d bytes over a limit of %d without being an empty TC reply", what, len(msg), lim)
		}
		if readable {
			if err := new(dns.Msg).Unpack(msg); err != nil {
				t.Fatalf("%s: a readable reply became unreadable: %v\nreply % x\nout   % x", what, err, reply, msg)
			}
		}
	}
	check("presented", out)

	e, fresh := fw.cache.get(key, now.Add(10*time.Second))
	if e == nil {
		return
	}
	if !fresh && e.fresh > 10*time.Second {
		t.Fatalf("cached for %v but not fresh after 10s", e.fresh)
	}
	check("from the cache", present(e.serve(now.Add(10*time.Second), false), clientQ, lim, &e.ri))
	check("served stale", present(e.serve(now.Add(2*time.Hour), true), clientQ, lim, &e.ri))
}
