package e2e

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestRandomNameFlood: 200 000 made-up service names cost Consul nothing beyond the
// watches already running, and srvbridge's memory stays bounded.
func TestRandomNameFlood(t *testing.T) {
	_, b := threeWebBridge(t)
	before := b.Metrics(t)

	const total, workers = 200000, 4
	var wg sync.WaitGroup
	var mu sync.Mutex
	nx := 0
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("udp", b.DNSAddr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			buf := make([]byte, 512)
			got := 0
			for i := 0; i < total/workers; i++ {
				m := new(dns.Msg)
				m.SetQuestion(fmt.Sprintf("junk-%x.service.consul.", rand.Uint64()), dns.TypeSRV)
				pkt, _ := m.Pack()
				c.SetDeadline(time.Now().Add(time.Second))
				if _, err := c.Write(pkt); err != nil {
					continue
				}
				n, err := c.Read(buf)
				if err == nil && n >= 12 && buf[3]&0xF == dns.RcodeNameError {
					got++
				}
			}
			mu.Lock()
			nx += got
			mu.Unlock()
		}()
	}
	wg.Wait()
	after := b.Metrics(t)
	t.Logf("%d names in %v, %d NXDOMAIN; RSS %.1f MiB before, %.1f MiB after", total, time.Since(start), nx,
		before["process_resident_memory_bytes"]/(1<<20), after["process_resident_memory_bytes"]/(1<<20))
	if nx < total*99/100 {
		t.Errorf("only %d of %d junk names answered NXDOMAIN", nx, total)
	}
	for _, k := range []string{`srvbridge_consul_requests_total{kind="service"}`, `srvbridge_consul_requests_total{kind="query"}`} {
		if after[k] != before[k] {
			t.Errorf("%s moved from %v to %v during the flood", k, before[k], after[k])
		}
	}
	if w := after["srvbridge_watches_active"]; w != 1 {
		t.Errorf("%v watches after the flood, want 1", w)
	}
	// The bound: junk names leave nothing behind, so memory is what the process had
	// plus buffers, far below this.
	const bound = 64 << 20
	if rss := after["process_resident_memory_bytes"]; rss > bound {
		t.Errorf("RSS %.1f MiB after the flood, bound %d MiB", rss/(1<<20), bound>>20)
	}
}
