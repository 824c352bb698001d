package cache

import (
	"context"
	"testing"
	"time"

	"github.com/srvbridge/srvbridge/health"
)

// TestAwaitDoesNotWaitOutADatacenterRead: a name in a datacenter the store does not
// know yet waits for a read of the datacenter list. It gives up at its await
// timeout while Consul still sits on the request, and later ones share that read
// instead of starting more.
func TestAwaitDoesNotWaitOutADatacenterRead(t *testing.T) {
	defer func(d time.Duration) { dcMinInterval = d }(dcMinInterval)
	dcMinInterval = 0 // every unknown datacenter may read the list again
	f := newFake("web")
	hang := make(chan struct{})
	defer close(hang)
	f.dcsHang = hang
	s := startFake(t, f, Config{AwaitTimeout: 20 * time.Millisecond})
	// The read at start hangs, so the list is not known yet.

	for range 2 {
		done := make(chan Result, 1)
		go func() {
			_, r := s.AwaitEntry(context.Background(), health.EntryService, "dc9", "web")
			done <- r
		}()
		select {
		case r := <-done:
			if r != Miss {
				t.Fatalf("web in an unknown datacenter: %v, want Miss", r)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("AwaitEntry waited for the hung datacenter read, past its own timeout")
		}
	}
	f.mu.Lock()
	reads := f.dcsReads
	f.mu.Unlock()
	if reads != 1 {
		t.Errorf("%d datacenter reads, want 1: the one at start, shared by both waits", reads)
	}
}
