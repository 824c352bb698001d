package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/internal/bridgetest"
	"github.com/srvbridge/srvbridge/internal/consultest"
	"github.com/srvbridge/srvbridge/internal/upstreamtest"
)

// prober queries one name over UDP in a loop until stopped, counting outcomes.
type prober struct {
	ok, servfail, other, lost atomic.Int64
	stop                      chan struct{}
	done                      sync.WaitGroup
}

// probe starts a prober. retries > 0 retries a lost query like Kong's client does
// (several tries); a query is lost only when every try timed out.
func probe(addr, name string, qtype uint16, retries int) *prober {
	p := &prober{stop: make(chan struct{})}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		c := &dns.Client{Net: "udp", Timeout: 500 * time.Millisecond}
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			m := new(dns.Msg)
			m.SetQuestion(name, qtype)
			var r *dns.Msg
			var err error
			for try := 0; try <= retries; try++ {
				if r, _, err = c.Exchange(m, addr); err == nil {
					break
				}
			}
			switch {
			case err != nil:
				p.lost.Add(1)
			case r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0:
				p.ok.Add(1)
			case r.Rcode == dns.RcodeServerFailure:
				p.servfail.Add(1)
			default:
				p.other.Add(1)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return p
}

func (p *prober) finish() string {
	close(p.stop)
	p.done.Wait()
	return fmt.Sprintf("ok %d, servfail %d, other %d, lost %d", p.ok.Load(), p.servfail.Load(), p.other.Load(), p.lost.Load())
}

// TestConsulOutage: while Consul is frozen (SIGSTOP) and then dead, known names are
// answered from the last known data: no SERVFAIL, nothing lost. When Consul is back
// (restarted, so empty) the answers follow it within seconds.
func TestConsulOutage(t *testing.T) {
	a, b := threeWebBridge(t)

	p := probe(b.DNSAddr, "web.service.consul.", dns.TypeSRV, 0)
	a.Pause()
	time.Sleep(2 * time.Second) // a frozen agent: the window the prober runs through
	a.Resume()
	a.Kill()
	waitReadyz(t, b, "ready (degraded: Consul unreachable")
	stats := p.finish()
	t.Logf("during the outage: %s", stats)
	if p.servfail.Load() != 0 || p.lost.Load() != 0 || p.other.Load() != 0 || p.ok.Load() == 0 {
		t.Fatalf("known name during a Consul outage: %s; want only answers", stats)
	}

	start := time.Now()
	a.Restart()
	instance(t, a, "web", "web-2", "127.0.0.12", 8082)
	waitFor(t, b, "web.service.consul", dns.TypeSRV, hasTargets(t2))
	t.Logf("fresh answers %v after Consul was started again", time.Since(start))
}

// TestStartWithConsulDown: without a state file srvbridge is up but not ready,
// answers SERVFAIL for Consul names and still forwards; with one it serves the saved
// answers, ready but degraded.
func TestStartWithConsulDown(t *testing.T) {
	a := consultest.Start(t)
	threeWeb(t, a)
	up := upstreamtest.Start(t, "127.0.0.3", upstreamtest.Options{})
	state := filepath.Join(t.TempDir(), "state.json")
	first := bridgetest.Start(t, a.HTTPAddr, "--state-file", state, "--upstream", up.Addr.String())
	waitFor(t, first, "web.service.consul", dns.TypeSRV, hasTargets(t1, t2, t3))
	consultest.Eventually(t, 15*time.Second, func() error {
		b, err := os.ReadFile(state)
		if err != nil || !strings.Contains(string(b), "127.0.0.13") {
			return fmt.Errorf("state file not written yet (%v)", err)
		}
		return nil
	})
	if !first.Stop() {
		t.Fatal("srvbridge did not exit 0 on SIGTERM")
	}
	a.Stop()

	cold := bridgetest.Launch(t, a.HTTPAddr, "--upstream", up.Addr.String())
	waitReadyz(t, cold, "not ready")
	// The admin server answers before DNS binds; SERVFAIL once DNS is up.
	waitFor(t, cold, "web.service.consul", dns.TypeSRV, isRcode(dns.RcodeServerFailure))
	if r := cold.Query(t, "db.example.test", dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("forwarding with Consul down:\n%s", bridgetest.Summary(r))
	}
	// What the SrvbridgeNotReady alert reads.
	if v, ok := cold.Metrics(t)["srvbridge_ready"]; !ok || v != 0 {
		t.Errorf("not ready: srvbridge_ready %v (exported: %v), want 0", v, ok)
	}

	warm := bridgetest.Start(t, a.HTTPAddr, "--state-file", state)
	waitReadyz(t, warm, "ready (degraded")
	if m := warm.Metrics(t); m["srvbridge_ready"] != 1 || m["srvbridge_degraded"] != 1 {
		t.Errorf("saved state: srvbridge_ready %v, srvbridge_degraded %v; want 1, 1", m["srvbridge_ready"], m["srvbridge_degraded"])
	}
	r := warm.Query(t, "web.service.consul", dns.TypeSRV)
	if got := bridgetest.Targets(r); strings.Join(got, " ") != strings.Join([]string{t1, t2, t3}, " ") {
		t.Errorf("saved answers: %v", got)
	}
	if r := warm.Query(t, "nope.service.consul", dns.TypeSRV); r.Rcode != dns.RcodeNameError {
		t.Errorf("unknown name from the saved catalog: %s", dns.RcodeToString[r.Rcode])
	}
}

// TestSlowTCPClients: connections that send nothing, or half a query, hold neither
// UDP nor other TCP clients.
func TestSlowTCPClients(t *testing.T) {
	_, b := threeWebBridge(t)
	var conns []net.Conn
	for i := 0; i < 50; i++ {
		c, err := net.Dial("tcp", b.DNSAddr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if i%2 == 0 {
			c.Write([]byte{0, 40, 0}) // a length, then one byte of the 40 promised
		}
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, network := range []string{"udp", "tcp"} {
		start := time.Now()
		r, err := bridgetest.Exchange(b.DNSAddr, network, "web.service.consul", dns.TypeSRV)
		if err != nil || len(r.Answer) != 3 {
			t.Fatalf("%s beside 50 stalled TCP clients: %v", network, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s answer took %v beside stalled clients", network, d)
		}
	}
	// The stalled connections are closed by the idle timeout, not held forever.
	conns[1].SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := conns[1].Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("idle connection: read %v, want EOF from the server's idle timeout", err)
	}
}

// TestRollingRestart: a second srvbridge binds the same address while the first is
// running (SO_REUSEPORT); the first then drains and exits. A client retrying as Kong
// does never fails.
func TestRollingRestart(t *testing.T) {
	a := consultest.Start(t)
	threeWeb(t, a)
	port, err := bridgetest.FreeDNSPort()
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
	old := bridgetest.LaunchAt(t, addr, a.HTTPAddr, "--prefetch")
	if err := old.WaitReady(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, old, "web.service.consul", dns.TypeSRV, hasTargets(t1, t2, t3))
	p := probe(addr, "web.service.consul.", dns.TypeSRV, 2)
	next := bridgetest.LaunchAt(t, addr, a.HTTPAddr, "--prefetch")
	if err := next.WaitReady(20 * time.Second); err != nil {
		t.Fatalf("second process on the same address: %v\n%s", err, next.Logs())
	}
	if !old.Stop() {
		t.Fatal("old process did not exit 0")
	}
	// Some queries go to the new process only now.
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	stats := p.finish()
	t.Logf("across the restart: %s", stats)
	if p.lost.Load() != 0 || p.servfail.Load() != 0 || p.other.Load() != 0 {
		t.Fatalf("queries failed across a rolling restart: %s", stats)
	}
}

func waitReadyz(t *testing.T, b *bridgetest.Bridge, want string) {
	t.Helper()
	var last string
	consultest.Eventually(t, 30*time.Second, func() error {
		resp, err := http.Get("http://" + b.HTTPAddr + "/readyz")
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		if !strings.HasPrefix(string(body), want) {
			return fmt.Errorf("/readyz: %s", last)
		}
		return nil
	})
}
