package e2e

import (
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/internal/bridgetest"
	"github.com/srvbridge/srvbridge/internal/consultest"
	"github.com/srvbridge/srvbridge/internal/upstreamtest"
)

// Forwarding end to end: the real srvbridge binary, a real Consul dev agent, and as
// upstreams real DNS servers over real sockets (miekg/dns servers serving the test
// zone example.test., see internal/upstreamtest), a closed port and a blackhole.

// TestForwarding answers the sequence a Kong worker sends through its one resolver,
// passes every kind of upstream answer through unchanged, caches, and keeps recursion
// to the allowed clients.
func TestForwarding(t *testing.T) {
	a := consultest.Start(t)
	instance(t, a, "my-service", "my-service-1", "127.0.0.11", 8081)
	up := upstreamtest.Start(t, "127.0.0.3", upstreamtest.Options{})
	b := bridgetest.Start(t, a.HTTPAddr, "--upstream", up.Addr.String())

	t.Run("kong sequence", func(t *testing.T) {
		// Kong's default client: SRV first for every name, then A.
		r := b.Query(t, "db.example.test", dns.TypeSRV)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 {
			t.Errorf("SRV db.example.test: want NODATA with the SOA:\n%s", bridgetest.Summary(r))
		}
		r = b.Query(t, "db.example.test", dns.TypeA)
		if got := bridgetest.Lines(r.Answer); len(got) != 1 || got[0] != "db.example.test. 300 IN A 192.0.2.10" {
			t.Errorf("A db.example.test: %v", got)
		}
		// Search-suffixed junk: NXDOMAIN from upstream, fast, then from the cache.
		junk := "db.example.test.default.svc.cluster.local"
		for i := range 2 {
			before := up.Count("udp")
			start := time.Now()
			r = b.Query(t, junk, dns.TypeSRV)
			if took := time.Since(start); r.Rcode != dns.RcodeNameError || took > 500*time.Millisecond {
				t.Errorf("junk, query %d: %s after %v; want NXDOMAIN, fast", i+1, dns.RcodeToString[r.Rcode], took)
			}
			if asked := up.Count("udp") - before; asked != int64(1-i) {
				t.Errorf("junk, query %d: %d queries upstream, want %d", i+1, asked, 1-i)
			}
		}
		waitFor(t, b, "my-service.service.consul", dns.TypeSRV, hasTargets("7f00000b.addr.dc1.consul.:8081"))
		if r := b.Query(t, "my-service.service.consul", dns.TypeSRV); !r.Authoritative || !r.RecursionAvailable {
			t.Errorf("Consul answer: AA %v RA %v, want both", r.Authoritative, r.RecursionAvailable)
		}
	})

	t.Run("pass-through", func(t *testing.T) {
		for _, q := range []struct {
			name  string
			qtype uint16
		}{
			{"db.example.test.", dns.TypeAAAA},
			{"_pg._tcp.example.test.", dns.TypeSRV},
			{"example.test.", dns.TypeMX},
			{"txt.example.test.", dns.TypeTXT},
			{"www.example.test.", dns.TypeA},        // CNAME chain
			{"nope.example.test.", dns.TypeA},       // NXDOMAIN
			{"txt.example.test.", dns.TypeAAAA},     // NODATA
			{"Mixed.Example.TEST.", dns.TypeA},      // NXDOMAIN, spelling kept
			{"www.example.test.", dns.TypeANY},      // ANY is forwarded too
			{"nosuch-tld-xyz.", dns.TypeNS},         // NXDOMAIN from "the root"
			{"example.test.", dns.TypeSOA},          // the zone apex
			{"_pg._tcp.example.test.", dns.TypeTXT}, // NODATA for an SRV name
		} {
			for _, network := range []string{"udp", "tcp"} {
				want, err := bridgetest.Exchange(up.Addr.String(), network, q.name, q.qtype)
				if err != nil {
					t.Fatal(err)
				}
				got, err := bridgetest.Exchange(b.DNSAddr, network, q.name, q.qtype)
				if err != nil {
					t.Fatal(err)
				}
				if network == "tcp" {
					// The UDP query a moment ago cached it: TTLs may have counted down.
					zeroTTLs(want)
					zeroTTLs(got)
				}
				if bridgetest.Summary(got) != bridgetest.Summary(want) || got.Question[0] != want.Question[0] || !got.RecursionAvailable {
					t.Errorf("%s %s over %s: through srvbridge\n%s(RA %v)\ndirect\n%s", q.name, dns.TypeToString[q.qtype],
						network, bridgetest.Summary(got), got.RecursionAvailable, bridgetest.Summary(want))
				}
			}
		}
	})

	t.Run("truncation", func(t *testing.T) {
		// The upstream truncates tc.example.test over UDP although it would fit:
		// srvbridge asked it again over TCP and the UDP client got all three.
		r := b.Query(t, "tc.example.test", dns.TypeA)
		if r.Truncated || len(r.Answer) != 3 || up.Count("tcp") == 0 {
			t.Errorf("tc: TC %v, %d answers, %d TCP queries upstream", r.Truncated, len(r.Answer), up.Count("tcp"))
		}
		// 3 KB does not fit the client's UDP limit, with or without EDNS: TC, no
		// partial answer; over TCP all 40 records.
		for _, opts := range [][]func(*dns.Msg){nil, {func(m *dns.Msg) { m.SetEdns0(4096, false) }}} {
			r, err := bridgetest.Exchange(b.DNSAddr, "udp", "big.example.test", dns.TypeTXT, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if !r.Truncated || len(r.Answer) != 0 || r.Len() > 1232 {
				t.Errorf("big over UDP (EDNS %v): TC %v, %d answers, %d bytes", r.IsEdns0() != nil, r.Truncated, len(r.Answer), r.Len())
			}
		}
		r, err := bridgetest.Exchange(b.DNSAddr, "tcp", "big.example.test", dns.TypeTXT)
		if err != nil || r.Truncated || len(r.Answer) != 40 {
			t.Errorf("big over TCP: %v, %v", r, err)
		}
	})

	t.Run("cache counts TTLs down", func(t *testing.T) {
		first := b.Query(t, "lb.example.test", dns.TypeA)
		asked := up.Count("udp")
		deadline := time.Now().Add(5 * time.Second)
		for {
			r := b.Query(t, "lb.example.test", dns.TypeA)
			if r.Answer[0].Header().Ttl < first.Answer[0].Header().Ttl {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("TTL still %d after 5 s", r.Answer[0].Header().Ttl)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if up.Count("udp") != asked {
			t.Errorf("%d more queries upstream; the cache should have answered", up.Count("udp")-asked)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		m := b.Metrics(t)
		for _, series := range []string{
			`srvbridge_forward_upstream_responses_total{rcode="NOERROR",upstream="` + up.Addr.String() + `"}`,
			`srvbridge_forward_upstream_responses_total{rcode="NXDOMAIN",upstream="` + up.Addr.String() + `"}`,
			`srvbridge_forward_upstream_latency_seconds_count{upstream="` + up.Addr.String() + `"}`,
			"srvbridge_forward_cache_hits_total", "srvbridge_forward_cache_misses_total",
			"srvbridge_forward_cache_entries", "srvbridge_forward_queries_total",
		} {
			if m[series] <= 0 {
				t.Errorf("%s = %v, want > 0", series, m[series])
			}
		}
	})

	t.Run("allow list", func(t *testing.T) {
		b := bridgetest.Start(t, a.HTTPAddr, "--upstream", up.Addr.String(), "--allow-recursion", "127.0.0.2/32")
		waitFor(t, b, "my-service.service.consul", dns.TypeSRV, hasTargets("7f00000b.addr.dc1.consul.:8081"))
		// From 127.0.0.1, outside the list: REFUSED without RA, Consul names answered.
		r := b.Query(t, "db.example.test", dns.TypeA)
		if r.Rcode != dns.RcodeRefused || r.RecursionAvailable || len(r.Answer) != 0 {
			t.Errorf("from 127.0.0.1:\n%s(RA %v)", bridgetest.Summary(r), r.RecursionAvailable)
		}
		if r := b.Query(t, "my-service.service.consul", dns.TypeSRV); r.Rcode != dns.RcodeSuccess || r.RecursionAvailable {
			t.Errorf("Consul name from 127.0.0.1: %s, RA %v", dns.RcodeToString[r.Rcode], r.RecursionAvailable)
		}
		// From 127.0.0.2, inside it: forwarded.
		for _, network := range []string{"udp", "tcp"} {
			r = exchangeFrom(t, "127.0.0.2", b.DNSAddr, network, "db.example.test", dns.TypeA)
			if len(r.Answer) != 1 || !r.RecursionAvailable {
				t.Errorf("from 127.0.0.2 over %s:\n%s(RA %v)", network, bridgetest.Summary(r), r.RecursionAvailable)
			}
		}
		if n := b.Metrics(t)["srvbridge_recursion_refused_total"]; n != 1 {
			t.Errorf("srvbridge_recursion_refused_total %v, want 1", n)
		}
	})
}

// TestForwardFailures: dead upstreams of both kinds, every upstream dead, serve-stale,
// and a loop that only shows at run time.
func TestForwardFailures(t *testing.T) {
	a := consultest.Start(t)
	up := upstreamtest.Start(t, "127.0.0.3", upstreamtest.Options{})
	closed := upstreamtest.ClosedPort(t, "127.0.0.4").String()
	hole := upstreamtest.Blackhole(t, "127.0.0.5").String()

	t.Run("closed port first", func(t *testing.T) {
		b := bridgetest.Start(t, a.HTTPAddr, "--upstream", closed+","+up.Addr.String(), "--upstream-timeout", "1500ms")
		r, took := timedQuery(t, b.DNSAddr, "db.example.test", 5*time.Second)
		// The kernel refuses at once: the second is asked without waiting out the timeout.
		if len(r.Answer) != 1 || took >= 1500*time.Millisecond {
			t.Errorf("after %v:\n%s", took, bridgetest.Summary(r))
		}
	})

	t.Run("blackhole first", func(t *testing.T) {
		b := bridgetest.Start(t, a.HTTPAddr, "--upstream", hole, "--upstream", up.Addr.String(), "--upstream-timeout", "300ms")
		r, took := timedQuery(t, b.DNSAddr, "db.example.test", 5*time.Second)
		// Asked after the first's 300 ms, answered well within Kong's 2 s try.
		if len(r.Answer) != 1 || took < 300*time.Millisecond || took > 1500*time.Millisecond {
			t.Errorf("after %v:\n%s", took, bridgetest.Summary(r))
		}
		m := b.Metrics(t)
		if n := m[`srvbridge_forward_upstream_timeouts_total{upstream="`+hole+`"}`]; n != 1 {
			t.Errorf("blackhole timeouts %v, want 1", n)
		}
	})

	t.Run("all dead", func(t *testing.T) {
		b := bridgetest.Start(t, a.HTTPAddr, "--upstream", closed+","+hole, "--upstream-timeout", "300ms")
		r, took := timedQuery(t, b.DNSAddr, "db.example.test", 6*time.Second)
		if r.Rcode != dns.RcodeServerFailure || took > 4500*time.Millisecond {
			t.Errorf("after %v:\n%s", took, bridgetest.Summary(r))
		}
		if n := b.Metrics(t)["srvbridge_forward_failures_total"]; n != 1 {
			t.Errorf("srvbridge_forward_failures_total %v, want 1", n)
		}
	})

	t.Run("stale", func(t *testing.T) {
		own := upstreamtest.Start(t, "127.0.0.6", upstreamtest.Options{})
		b := bridgetest.Start(t, a.HTTPAddr, "--upstream", own.Addr.String())
		if r := b.Query(t, "short.example.test", dns.TypeA); len(r.Answer) != 1 || r.Answer[0].Header().Ttl != 1 {
			t.Fatalf("first answer:\n%s", bridgetest.Summary(r))
		}
		own.Stop()
		// Once its one-second TTL has run out, the answer is served stale, TTL 30.
		deadline := time.Now().Add(10 * time.Second)
		for {
			r := b.Query(t, "short.example.test", dns.TypeA)
			if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
				t.Fatalf("with the upstream gone:\n%s", bridgetest.Summary(r))
			}
			if r.Answer[0].Header().Ttl == 30 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no stale answer within 10 s:\n%s", bridgetest.Summary(r))
			}
			time.Sleep(50 * time.Millisecond)
		}
		if n := b.Metrics(t)["srvbridge_forward_stale_answers_total"]; n < 1 {
			t.Errorf("srvbridge_forward_stale_answers_total %v", n)
		}
	})

	t.Run("loop at run time", func(t *testing.T) {
		// A relay on another address passes whatever it gets to srvbridge: an upstream
		// that leads back to us in a way the start-up check cannot see.
		relayAddr, target := udpRelay(t, "127.0.0.7")
		b := bridgetest.Start(t, a.HTTPAddr, "--upstream", relayAddr.String())
		target.Store(&b.DNSAddr)
		r, took := timedQuery(t, b.DNSAddr, "db.example.test", 5*time.Second)
		if r.Rcode != dns.RcodeServerFailure || took > time.Second {
			t.Errorf("after %v:\n%s", took, bridgetest.Summary(r))
		}
		if n := b.Metrics(t)["srvbridge_forward_loops_total"]; n < 1 {
			t.Errorf("srvbridge_forward_loops_total %v", n)
		}
		if !strings.Contains(b.Logs(), "forwarding loop") {
			t.Error("the loop was not logged")
		}
	})
}

// TestForwardLoopRefusedAtStart: an upstream that is srvbridge's own address stops it
// before it does anything else, with one line saying why.
func TestForwardLoopRefusedAtStart(t *testing.T) {
	port, err := bridgetest.FreeDNSPort()
	if err != nil {
		t.Fatal(err)
	}
	p := strconv.Itoa(port)
	for _, args := range [][]string{
		{"--dns-addr", "127.0.0.1:" + p, "--upstream", "127.0.0.1:" + p},
		{"--dns-addr", ":" + p, "--upstream", "10.255.0.1,127.0.0.1:" + p},
		{"--dns-addr", "127.0.0.1:" + p, "--stub", "internal.test=192.0.2.1;127.0.0.1:" + p},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			cmd := exec.Command(bridgetest.Binary(t), append(args, "--consul-addr", "127.0.0.1:1", "--http-addr", "127.0.0.1:0")...)
			done := make(chan struct{})
			var out []byte
			go func() { out, err = cmd.CombinedOutput(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("still running after 10 s:\n%s", out)
			}
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
				t.Fatalf("exit %v, want non-zero; output:\n%s", err, out)
			}
			if !strings.Contains(string(out), "is srvbridge's own DNS address") {
				t.Errorf("output does not say why:\n%s", out)
			}
		})
	}
}

// zeroTTLs sets every TTL to 0, to compare replies whose TTLs may differ in age.
func zeroTTLs(m *dns.Msg) {
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			if rr.Header().Rrtype != dns.TypeOPT {
				rr.Header().Ttl = 0
			}
		}
	}
}

// timedQuery sends an A query over UDP with a client timeout longer than srvbridge's
// own 4 s deadline for forwarded queries, and says how long the reply took.
func timedQuery(t *testing.T, addr, name string, timeout time.Duration) (*dns.Msg, time.Duration) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	c := &dns.Client{Net: "udp", Timeout: timeout}
	start := time.Now()
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r, time.Since(start)
}

// exchangeFrom queries from a given loopback source address.
func exchangeFrom(t *testing.T, src, addr, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	var local net.Addr = &net.UDPAddr{IP: net.ParseIP(src)}
	if network == "tcp" {
		local = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Net: network, Timeout: 2 * time.Second, Dialer: &net.Dialer{LocalAddr: local, Timeout: 2 * time.Second}}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s from %s over %s: %v", name, src, network, err)
	}
	return r
}

// udpRelay listens on ip and sends each datagram on to *target (once set), relaying
// the reply back: a real UDP forwarder without any loop detection.
func udpRelay(t *testing.T, ip string) (netip.AddrPort, *atomic.Pointer[string]) {
	t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	var target atomic.Pointer[string]
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			to := target.Load()
			if to == nil {
				continue
			}
			query := append([]byte(nil), buf[:n]...)
			go func() {
				c, err := net.Dial("udp", *to)
				if err != nil {
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				reply := make([]byte, 65535)
				if _, err := c.Write(query); err != nil {
					return
				}
				if n, err := c.Read(reply); err == nil {
					pc.WriteTo(reply[:n], from)
				}
			}()
		}
	}()
	return netip.MustParseAddrPort(pc.LocalAddr().String()), &target
}
