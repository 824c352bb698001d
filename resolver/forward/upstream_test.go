package forward

import (
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func ups(n int) []*upstream {
	out := make([]*upstream, n)
	for i := range out {
		ap := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}), 53)
		out[i] = &upstream{addr: ap, name: ap.String()}
	}
	return out
}

func names(list []*upstream) string {
	var s []string
	for _, u := range list {
		s = append(s, u.name)
	}
	return strings.Join(s, " ")
}

func TestOrderSequential(t *testing.T) {
	u := ups(3)
	now := time.Now()
	log := slog.New(slog.DiscardHandler)
	if got := names(order(u, Sequential, now)); got != names(u) {
		t.Errorf("healthy: %s", got)
	}
	u[0].failed(now, log, errors.New("refused"))
	if got, want := names(order(u, Sequential, now)), names([]*upstream{u[1], u[2], u[0]}); got != want {
		t.Errorf("first backing off: %s, want %s", got, want)
	}
	// Its backoff over, it leads again.
	if got := names(order(u, Sequential, now.Add(firstDown))); got != names(u) {
		t.Errorf("after backoff: %s", got)
	}
	// Every upstream backing off: still all of them, in the configured order.
	for _, x := range u {
		x.failed(now, log, errors.New("refused"))
	}
	if got := names(order(u, Sequential, now)); got != names(u) {
		t.Errorf("all backing off: %s", got)
	}
	u[1].answered(log)
	if got, want := names(order(u, Sequential, now)), names([]*upstream{u[1], u[0], u[2]}); got != want {
		t.Errorf("second answered: %s, want %s", got, want)
	}
}

func TestBackoffGrows(t *testing.T) {
	u := ups(1)[0]
	now := time.Now()
	log := slog.New(slog.DiscardHandler)
	var got []time.Duration
	for range 8 {
		u.failed(now, log, errors.New("timeout"))
		got = append(got, time.Duration(u.downUntil.Load()-now.UnixNano()))
	}
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30, 30}
	for i := range want {
		want[i] *= time.Second
	}
	if !slices.Equal(got, want) {
		t.Errorf("backoffs %v, want %v", got, want)
	}
}

// Random order puts each healthy upstream first about equally often, and upstreams
// backing off still last.
func TestOrderRandom(t *testing.T) {
	u := ups(4)
	now := time.Now()
	u[3].failed(now, slog.New(slog.DiscardHandler), errors.New("refused"))
	first := map[string]int{}
	const n = 3000
	for range n {
		o := order(u, Random, now)
		if len(o) != 4 || o[3] != u[3] {
			t.Fatalf("order %s: the upstream backing off is not last", names(o))
		}
		first[o[0].name]++
	}
	for _, x := range u[:3] {
		if c := first[x.name]; c < n/3-200 || c > n/3+200 {
			t.Errorf("%s first %d times of %d", x.name, c, n)
		}
	}
}

func TestParseStrategy(t *testing.T) {
	for _, s := range []Strategy{Sequential, Random} {
		if got, ok := ParseStrategy(s.String()); !ok || got != s {
			t.Errorf("%v does not round-trip", s)
		}
	}
	if _, ok := ParseStrategy("round-robin"); ok {
		t.Error("round-robin accepted")
	}
}
