package cache

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestAwaitThroughColdBurst: Await outlasts its timeout while other services' first
// fetches keep arriving, and returns Miss soon after they stop.
func TestAwaitThroughColdBurst(t *testing.T) {
	const timeout = 100 * time.Millisecond
	names := []string{"web", "lonely"}
	for i := range 20 {
		names = append(names, fmt.Sprintf("o%d", i))
	}
	f := newFake(names...)
	f.manual = true
	s := startFake(t, f, Config{AwaitTimeout: timeout})
	res := map[string]chan Result{}
	for _, n := range names {
		res[n] = make(chan Result, 1)
		go func() {
			_, r := s.Await(context.Background(), "", n)
			res[n] <- r
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for holds, _ := f.counts(); holds < len(names); holds, _ = f.counts() {
		if time.Now().After(deadline) {
			t.Fatal("Await never held every service")
		}
		time.Sleep(time.Millisecond)
	}
	// The burst, as the scenario: a first fetch every 20 ms for four timeouts.
	for i := range 20 {
		f.deliver(fmt.Sprintf("o%d", i))
		time.Sleep(20 * time.Millisecond)
	}
	f.deliver("web")
	if r := <-res["web"]; r != Hit {
		t.Errorf("web, delivered 4 timeouts late amid a burst: %v, want hit", r)
	}
	// lonely is never delivered: after the burst it times out.
	select {
	case r := <-res["lonely"]:
		if r != Miss {
			t.Errorf("lonely, never delivered: %v, want miss", r)
		}
	case <-time.After(awaitLimit):
		t.Error("lonely waited the burst's whole allowance after the burst was over")
	}
}
