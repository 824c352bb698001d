package e2e

import (
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/internal/bridgetest"
	"github.com/srvbridge/srvbridge/internal/consultest"
	"github.com/srvbridge/srvbridge/internal/testtier"
)

// TestTruncation: 30 instances do not fit in 512 bytes. Plain UDP gets TC and a
// prefix; EDNS gets every answer with as much glue as fits; TCP gets everything.
// Checked with dig and kdig, the clients operators use.
func TestTruncation(t *testing.T) {
	a := consultest.Start(t)
	for i := 1; i <= 30; i++ {
		instance(t, a, "big", fmt.Sprintf("big-%d", i), fmt.Sprintf("127.0.1.%d", i), 9000+i)
	}
	for i := 1; i <= 22; i++ {
		instance(t, a, "mid", fmt.Sprintf("mid-%d", i), fmt.Sprintf("127.0.2.%d", i), 9000+i)
	}
	b := bridgetest.Start(t, a.HTTPAddr)
	waitFor(t, b, "big.service.consul", dns.TypeSRV, func(r *dns.Msg) bool { return len(r.Answer) == 30 || r.Truncated })

	host, port, _ := net.SplitHostPort(b.DNSAddr)
	type result struct {
		tc             bool
		answers, extra int
		size           int
	}
	var query func(name, svc string, args ...string) result
	run := func(name string, args ...string) result {
		t.Helper()
		return query(name, "big", args...)
	}
	query = func(name, svc string, args ...string) result {
		t.Helper()
		args = append([]string{"@" + host, "-p", port, svc + ".service.consul", "SRV"}, args...)
		out, err := exec.Command(testtier.Tool(t, name), args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return result{
			tc:      regexp.MustCompile(`(?i)flags:[^;]*\btc\b`).Match(out),
			answers: count(`(?m)^`+svc+`\.service\.consul\.\s+\d+\s+IN\s+SRV`, out),
			extra:   count(`(?m)^7f000[0-9a-f]{3}\.addr\.dc1\.consul\.\s+\d+\s+IN\s+A`, out),
			size:    msgSize(out),
		}
	}

	plain := run("dig", "+notcp", "+noedns", "+ignore")
	if !plain.tc || plain.answers == 0 || plain.answers >= 30 || plain.extra != 0 || plain.size > 512 {
		t.Errorf("no EDNS over UDP: want TC, a prefix of the answers, no glue, ≤512 bytes; got %+v", plain)
	}
	// SRV targets are never compressed (RFC 2782), so a record is 44 bytes here and
	// 30 do not fit in 1232: the largest prefix that does, with TC.
	edns := run("dig", "+notcp", "+bufsize=1232", "+ignore")
	if !edns.tc || edns.answers <= plain.answers || edns.extra != 0 || edns.size > 1232 || edns.size <= 1232-44 {
		t.Errorf("EDNS 1232: want TC and the largest prefix that fits 1232 bytes, no glue; got %+v", edns)
	}
	// 22 answers fit in 1232 bytes but not with all their glue: glue goes first,
	// the answers stay complete and TC stays clear.
	mid := query("dig", "mid", "+notcp", "+bufsize=1232", "+ignore")
	if mid.tc || mid.answers != 22 || mid.extra == 0 || mid.extra >= 22 || mid.size > 1232 {
		t.Errorf("EDNS 1232, 22 instances: want all answers, part of the glue, no TC; got %+v", mid)
	}
	tcp := run("dig", "+tcp")
	if tcp.tc || tcp.answers != 30 || tcp.extra != 30 {
		t.Errorf("TCP: want all 30 answers and 30 glue records; got %+v", tcp)
	}
	// dig's default retries over TCP on TC, as Kong does: the answer is complete.
	retried := run("dig", "+notcp", "+noedns")
	if retried.answers != 30 {
		t.Errorf("dig retrying over TCP after TC: %d answers, want 30", retried.answers)
	}
	k := run("kdig", "+notcp", "+noedns", "+ignore")
	if !k.tc || k.answers >= 30 {
		t.Errorf("kdig without EDNS: want TC and a prefix; got %+v", k)
	}
	kt := run("kdig", "+tcp")
	if kt.answers != 30 || kt.extra != 30 {
		t.Errorf("kdig over TCP: want 30+30; got %+v", kt)
	}
}

// TestRotation: successive answers start at different records, so clients that take
// the first one still spread.
func TestRotation(t *testing.T) {
	a := consultest.Start(t)
	threeWeb(t, a)
	instance(t, a, "web", "web-4", "127.0.0.14", 8084)
	b := bridgetest.Start(t, a.HTTPAddr)
	waitFor(t, b, "web.service.consul", dns.TypeA, func(r *dns.Msg) bool { return len(r.Answer) == 4 })
	for _, qtype := range []uint16{dns.TypeA, dns.TypeSRV} {
		first := map[string]int{}
		for i := 0; i < 16; i++ {
			r := b.Query(t, "web.service.consul", qtype)
			if len(r.Answer) != 4 {
				t.Fatalf("%d answers", len(r.Answer))
			}
			switch rr := r.Answer[0].(type) {
			case *dns.A:
				first[rr.A.String()]++
			case *dns.SRV:
				first[rr.Target]++
			}
		}
		if len(first) < 4 {
			t.Errorf("%s: first records over 16 queries: %v; want all 4 instances to lead", dns.TypeToString[qtype], first)
		}
	}
}

func count(re string, out []byte) int { return len(regexp.MustCompile(re).FindAll(out, -1)) }

// msgSize reads dig's and kdig's "MSG SIZE  rcvd: N" / "Received N B" line.
func msgSize(out []byte) int {
	m := regexp.MustCompile(`(?:MSG SIZE\s+rcvd:|Received) (\d+)`).FindSubmatch(out)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}
