package health

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// The tests in this file drive the loop with a scripted fetch function instead of a
// Consul agent. This is deliberate and limited to what a real agent cannot be made to
// do on demand: answer index 0 (Consul >= 1.x clamps it to 1, older versions did not),
// go backwards at a chosen step, or churn fast enough to hit the rate limit. Everything
// else, including the backwards index after a restart, is tested against a real agent
// in watcher_test.go.

type step struct {
	index uint64
	err   error
}

// scripted returns the steps in order, then blocks until ctx is done, as a blocking
// query with nothing new would. It records the index each request asked for.
type scripted struct {
	steps []step
	asked []uint64
}

func (s *scripted) fetch(ctx context.Context, index uint64) (uint64, uint64, error) {
	s.asked = append(s.asked, index)
	if len(s.asked) > len(s.steps) {
		<-ctx.Done()
		return 0, 0, ctx.Err()
	}
	st := s.steps[len(s.asked)-1]
	return st.index, st.index, st.err
}

func runScripted(t *testing.T, s *scripted) (delivered []uint64, stats *Stats) {
	t.Helper()
	stats = &Stats{}
	ctx, cancel := context.WithCancel(context.Background())
	l := loop[uint64]{
		kind: KindService, what: "test", stats: stats, log: slog.New(slog.DiscardHandler),
		fetch: func(ctx context.Context, index uint64) (uint64, uint64, error) {
			v, got, err := s.fetch(ctx, index)
			if len(s.asked) == len(s.steps) {
				// Last scripted answer: let the loop deliver it, then stop.
				defer cancel()
			}
			return v, got, err
		},
		out: func(v uint64) { delivered = append(delivered, v) },
	}
	done := make(chan error, 1)
	go func() { done <- l.run(ctx) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("run returned %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("loop did not finish")
	}
	return delivered, stats
}

func TestLoopIndexRules(t *testing.T) {
	tooMany := api.StatusError{Code: http.StatusTooManyRequests, Body: "too many"}
	s := &scripted{steps: []step{
		{index: 10},               // first answer: delivered
		{index: 10},               // wait expired, nothing new: not delivered
		{index: 12},               // changed: delivered
		{index: 5},                // backwards: reset, not delivered
		{index: 5},                // non-blocking re-read after reset: delivered
		{index: 0},                // index 0: treated as 1 → backwards from 5 → reset
		{index: 0},                // fresh start: delivered, and the loop must block on 1, not 0
		{index: 0},                // 0 again is "unchanged" (1 == 1): not delivered
		{index: 3},                // changed
		{err: errors.New("boom")}, // unreachable: re-read without blocking
		{index: 3},                // same index, but maybe a new agent's: delivered
		{err: tooMany},            // 429: Consul is there, the same agent
		{index: 3},                // same index from the same agent: not delivered
		{index: 4},                // delivered
	}}
	delivered, stats := runScripted(t, s)

	wantAsked := []uint64{0, 10, 10, 12, 0, 5, 0, 1, 1, 3, 0, 3, 0, 3}
	if !equalU64(s.asked[:len(wantAsked)], wantAsked) {
		t.Errorf("indexes asked = %v, want %v", s.asked, wantAsked)
	}
	if want := []uint64{10, 12, 5, 0, 3, 3, 4}; !equalU64(delivered, want) {
		t.Errorf("delivered = %v, want %v", delivered, want)
	}
	if got := stats.IndexResets(); got != 2 {
		t.Errorf("IndexResets = %d, want 2", got)
	}
	if got := stats.Errors(KindService); got != 2 {
		t.Errorf("Errors = %d, want 2", got)
	}
}

func TestLoopNoDatacenterOnlyBeforeFirstResult(t *testing.T) {
	noDC := classify("x", errNoDCForTest())
	// Before any result: returned at once, out not called.
	s := &scripted{steps: []step{{err: noDC}}}
	l := loop[uint64]{kind: KindService, what: "service x/web", stats: &Stats{}, log: slog.New(slog.DiscardHandler),
		fetch: s.fetch, out: func(uint64) { t.Error("out called") }}
	err := l.run(context.Background())
	if !errors.Is(err, ErrNoDatacenter) {
		t.Fatalf("err = %v, want ErrNoDatacenter", err)
	}

	// After a result: an outage like any other, retried.
	s = &scripted{steps: []step{{index: 7}, {err: noDC}, {index: 8}}}
	delivered, _ := runScripted(t, s)
	if want := []uint64{7, 8}; !equalU64(delivered, want) {
		t.Errorf("delivered = %v, want %v", delivered, want)
	}
}

// TestLoopLeaderless: an answer from a server that knows no leader is taken only while
// the loop has nothing; after that it counts as a failure and the last answer stands.
// (A real agent is leaderless only for moments during a restart, not on demand.)
func TestLoopLeaderless(t *testing.T) {
	s := &scripted{steps: []step{
		{index: 5, err: errNoLeader}, // nothing yet: taken
		{index: 6},                   // delivered
		{index: 2, err: errNoLeader}, // a restarting server replaying its log: kept out
		{index: 7},                   // after the failure a non-blocking read: delivered
	}}
	delivered, stats := runScripted(t, s)
	if want := []uint64{5, 6, 7}; !equalU64(delivered, want) {
		t.Errorf("delivered = %v, want %v", delivered, want)
	}
	if got := stats.Errors(KindService); got != 1 {
		t.Errorf("Errors = %d, want 1", got)
	}
	if got := stats.IndexResets(); got != 0 {
		t.Errorf("IndexResets = %d, want 0: the leaderless answer must not count", got)
	}
}

// TestLoopRateLimit: every answer carries a new index at once (heavy churn). Only
// MinInterval stands between that and a busy loop.
func TestLoopRateLimit(t *testing.T) {
	var n atomic.Uint64
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	l := loop[uint64]{kind: KindService, what: "test", stats: &Stats{}, log: slog.New(slog.DiscardHandler),
		minInterval: 50 * time.Millisecond,
		fetch: func(context.Context, uint64) (uint64, uint64, error) {
			i := n.Add(1)
			return i, i, nil
		},
		out: func(uint64) {}}
	start := time.Now()
	_ = l.run(ctx)
	elapsed := time.Since(start)
	// After a burst, starts are ≥ 50ms apart: at most burst + elapsed/50ms + 1.
	if max := uint64(paceBurst) + uint64(elapsed/(50*time.Millisecond)) + 1; n.Load() > max {
		t.Errorf("%d requests in %v with MinInterval 50ms, want ≤ %d", n.Load(), elapsed, max)
	}
	if n.Load() < 5 {
		t.Errorf("only %d requests in %v: the limit is too strict", n.Load(), elapsed)
	}
}

func TestBackoffBounds(t *testing.T) {
	for failures := 1; failures < 100; failures++ {
		ceil := backoffMax
		if failures < 20 {
			ceil = min(backoffMax, backoffBase<<(failures-1))
		}
		for range 50 {
			if d := backoff(failures); d < 0 || d >= ceil {
				t.Fatalf("backoff(%d) = %v, want in [0, %v)", failures, d, ceil)
			}
		}
	}
	// Full jitter: not a constant.
	seen := map[time.Duration]bool{}
	for range 20 {
		seen[backoff(8)] = true
	}
	if len(seen) < 2 {
		t.Error("backoff has no jitter")
	}
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSpreadWait(t *testing.T) {
	lo, hi := time.Hour, time.Duration(0)
	for i := 0; i < 10000; i++ {
		d := spreadWait(time.Minute)
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < 45*time.Second || hi > 75*time.Second || hi-lo < 25*time.Second {
		t.Errorf("waits from %v to %v, want spread over 45s..75s", lo, hi)
	}
	if d := spreadWait(maxWaitTime); d > maxWaitTime {
		t.Errorf("%v past Consul's limit", d)
	}
}
