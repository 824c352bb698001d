package resolver

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/resolver/transport"
	"github.com/srvbridge/srvbridge/resolver/wire"
)

// udpReaders are the kinds of UDP reader the socket tests run against.
var udpReaders = []string{transport.ReaderPoller, transport.ReaderThread}

// startOn runs the hot server's answers on real sockets at addr, with the
// default UDP reader.
func startOn(t *testing.T, s *Server, addr string) string {
	return startReader(t, s, addr, "")
}

// startReader runs the hot server's answers on real sockets at addr with the
// given kind of UDP reader.
func startReader(t *testing.T, s *Server, addr, reader string) string {
	t.Helper()
	srv := New(s.comp, s.store)
	srv.cfg.Addr = addr
	srv.cfg.UDPReader = reader
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
	testRepliesFromQueriedAddress(t, port)
	for _, reader := range udpReaders {
		_, port, _ := net.SplitHostPort(startReader(t, s, "0.0.0.0:0", reader))
		testRepliesFromQueriedAddress(t, port)
	}
}

func testRepliesFromQueriedAddress(t *testing.T, port string) {
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
// nothing per query, on a specific address and on a wildcard one, with every
// kind of UDP reader.
func TestUDPLoopAllocatesNothing(t *testing.T) {
	s := hotServer(t)
	for _, reader := range udpReaders {
		for _, bind := range []string{"127.0.0.1:0", "0.0.0.0:0"} {
			testUDPLoopAllocatesNothing(t, s, reader, bind)
		}
	}
}

func testUDPLoopAllocatesNothing(t *testing.T, s *Server, reader, bind string) {
	_, port, _ := net.SplitHostPort(startReader(t, s, bind, reader))
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
		t.Errorf("%s reader on %s: %v allocations per query over the socket path", reader, bind, allocs)
	}
}
