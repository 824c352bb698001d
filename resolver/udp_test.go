package resolver

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/resolver/wire"
)

// startOn runs the hot server's answers on real sockets at addr.
func startOn(t *testing.T, s *Server, addr string) string {
	t.Helper()
	srv := New(s.comp, s.store)
	srv.cfg.Addr = addr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return srv.Addr()
}

// TestWildcardRepliesFromQueriedAddress: bound to 0.0.0.0, a query sent to
// 127.0.0.2 is answered from 127.0.0.2. A connected client socket drops datagrams
// from any other source, so a wrong source shows up as a timeout.
func TestWildcardRepliesFromQueriedAddress(t *testing.T) {
	s := hotServer(t)
	_, port, _ := net.SplitHostPort(startOn(t, s, "0.0.0.0:0"))
	for _, ip := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.53"} {
		c := &dns.Client{Net: "udp", Timeout: time.Second}
		m := new(dns.Msg)
		m.SetQuestion("web.service.consul.", dns.TypeA)
		r, _, err := c.Exchange(m, net.JoinHostPort(ip, port))
		if err != nil {
			t.Fatalf("query to %s: %v", ip, err)
		}
		if len(r.Answer) != 3 {
			t.Fatalf("query to %s: %v", ip, r)
		}
	}
}

// TestUDPLoopAllocatesNothing: the whole socket path, read to write, allocates
// nothing per query, on a specific address and on a wildcard one.
func TestUDPLoopAllocatesNothing(t *testing.T) {
	s := hotServer(t)
	for _, bind := range []string{"127.0.0.1:0", "0.0.0.0:0"} {
		_, port, _ := net.SplitHostPort(startOn(t, s, bind))
		raddr, _ := net.ResolveUDPAddr("udp", net.JoinHostPort("127.0.0.1", port))
		c, err := net.DialUDP("udp", nil, raddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		pkt := packQuery(t, "web.service.consul.", dns.TypeSRV, false)
		buf := make([]byte, 2048)
		exchange := func() {
			if _, err := c.Write(pkt); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			if n, err := c.Read(buf); err != nil || n < wire.HeaderLen {
				t.Fatalf("read: %d %v", n, err)
			}
		}
		exchange()
		if allocs := testing.AllocsPerRun(500, exchange); allocs > 0.01 {
			t.Errorf("%s: %v allocations per query over the socket path", bind, allocs)
		}
	}
}
