package health

import (
	"errors"
	"log/slog"
	"testing"
	"time"
)

// TestGateReleaseWindow: the waiters are released over 2 ms each (at most 20 s), and
// twice as slowly each time Consul fails again soon after an opening, up to 8 times.
func TestGateReleaseWindow(t *testing.T) {
	g := newGate(nil, slog.New(slog.DiscardHandler))
	open := func(waiters int) time.Duration {
		g.fail(errors.New("down"))
		g.mu.Lock()
		g.waiters = waiters
		g.mu.Unlock()
		g.ok()
		return g.spread
	}
	if d := open(1000); d != 2*time.Second {
		t.Errorf("first opening: %v, want 2s", d)
	}
	for _, want := range []time.Duration{4 * time.Second, 8 * time.Second, 16 * time.Second, 16 * time.Second} {
		if d := open(1000); d != want {
			t.Errorf("after a relapse: %v, want %v", d, want)
		}
	}
	g.openedAt = time.Now().Add(-relapseWindow)
	if d := open(100000); d != resyncMax {
		t.Errorf("after a stable opening, 100 000 waiters: %v, want %v", d, resyncMax)
	}
}
