package forward

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// reply packs a NOERROR answer for name with one A record of the given TTL.
func reply(t testing.TB, name string, ttl uint32) ([]byte, replyInfo) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.Response = true
	m.Answer = mustRR(t, fmt.Sprintf("%s %d IN A 192.0.2.1", name, ttl))
	b := pack(t, m)
	ri, err := walk(b)
	if err != nil {
		t.Fatal(err)
	}
	return b, ri
}

// 100k distinct names through a cache bounded at 1000 entries, then through one
// bounded at 64 KiB: neither bound is ever exceeded, and what was dropped was counted.
func TestCacheBounded(t *testing.T) {
	for _, b := range []struct {
		entries int
		bytes   int64
	}{{1000, 1 << 30}, {1 << 20, 64 << 10}} {
		t.Run(fmt.Sprintf("%d entries, %d bytes", b.entries, b.bytes), func(t *testing.T) {
			var st Stats
			c := newCache(b.entries, b.bytes, time.Hour, &st)
			now := time.Now()
			const n = 100_000
			msg, ri := reply(t, "n.test.", 300)
			for i := range n {
				key := fmt.Sprintf("name-%d.test.", i)
				c.add(key, msg, ri, now, time.Minute)
				entries, bytes := c.size()
				if entries > b.entries || bytes > b.bytes {
					t.Fatalf("after %d adds: %d entries, %d bytes; bounds %d, %d", i+1, entries, bytes, b.entries, b.bytes)
				}
			}
			entries, _ := c.size()
			if entries == 0 || st.CacheEvictions() != uint64(n-entries) {
				t.Errorf("%d entries held, %d evictions; want %d evictions", entries, st.CacheEvictions(), n-entries)
			}
			if e, _ := c.get(fmt.Sprintf("name-%d.test.", n-1), now); e == nil {
				t.Error("the newest entry was evicted")
			}
			if e, _ := c.get("name-0.test.", now); e != nil {
				t.Error("the oldest entry survived")
			}
		})
	}
}

// Replacing an entry gives its bytes back.
func TestCacheReplace(t *testing.T) {
	var st Stats
	c := newCache(10, 1<<20, 0, &st)
	msg, ri := reply(t, "a.test.", 300)
	now := time.Now()
	for range 5 {
		c.add("k", msg, ri, now, time.Minute)
	}
	once := newCache(10, 1<<20, 0, &st)
	once.add("k", msg, ri, now, time.Minute)
	_, want := once.size()
	if entries, bytes := c.size(); entries != 1 || bytes != want {
		t.Errorf("5 adds of one key: %d entries, %d bytes; want 1, %d", entries, bytes, want)
	}
}

func TestCacheExpiryAndStale(t *testing.T) {
	var st Stats
	c := newCache(10, 1<<20, 10*time.Minute, &st)
	msg, ri := reply(t, "a.test.", 300)
	t0 := time.Now()
	c.add("k", msg, ri, t0, 300*time.Second)
	ttl := func(b []byte) uint32 { return binary.BigEndian.Uint32(b[ri.ttls[0]:]) }

	for _, tt := range []struct {
		after time.Duration
		fresh bool
		ttl   uint32 // served TTL; 0 when the entry is gone
		stale bool
	}{
		{0, true, 300, false},
		{1500 * time.Millisecond, true, 299, false},
		{299*time.Second + 900*time.Millisecond, true, 1, false},
		{300 * time.Second, false, staleTTL, true},
		{300*time.Second + 9*time.Minute, false, staleTTL, true},
		{310 * time.Minute, false, 0, false},
	} {
		e, fresh := c.get("k", t0.Add(tt.after))
		if fresh != tt.fresh || (e == nil) != (tt.ttl == 0) {
			t.Fatalf("after %v: entry %v, fresh %v", tt.after, e != nil, fresh)
		}
		if e != nil {
			if got := ttl(e.serve(t0.Add(tt.after), tt.stale)); got != tt.ttl {
				t.Errorf("after %v: served TTL %d, want %d", tt.after, got, tt.ttl)
			}
		}
	}
	if n, _ := c.size(); n != 0 {
		t.Errorf("an entry past its stale window is still held")
	}
}

// Additional records may have TTLs below the answer's; they stop at 0.
func TestServeClampsAtZero(t *testing.T) {
	m := new(dns.Msg)
	m.SetQuestion("a.test.", dns.TypeA)
	m.Response = true
	m.Answer = mustRR(t, "a.test. 300 IN NS ns.test.")
	m.Extra = mustRR(t, "ns.test. 5 IN A 192.0.2.53")
	b := pack(t, m)
	ri, err := walk(b)
	if err != nil {
		t.Fatal(err)
	}
	e := &entry{msg: b, ri: ri, stored: time.Now(), fresh: 300 * time.Second}
	var got dns.Msg
	if err := got.Unpack(e.serve(e.stored.Add(10*time.Second), false)); err != nil {
		t.Fatal(err)
	}
	if got.Answer[0].Header().Ttl != 290 || got.Extra[0].Header().Ttl != 0 {
		t.Errorf("TTLs %d and %d, want 290 and 0", got.Answer[0].Header().Ttl, got.Extra[0].Header().Ttl)
	}
}
