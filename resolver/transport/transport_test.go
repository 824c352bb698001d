package transport

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/srvbridge/srvbridge/resolver/wire"
)

// echo is a Handler for the transport's own tests: it answers a query with the
// query itself, QR set. A query whose ID is slowID waits, and is answered from
// another goroutine once release is closed; one whose ID is dropID gets nothing.
type echo struct {
	release  chan struct{}
	inflight sync.WaitGroup
}

const (
	slowID = 0x5100
	dropID = 0xD000
)

func (e *echo) Session(tcp bool) Session { return &echoSession{e: e, tcp: tcp} }

type echoSession struct {
	e   *echo
	tcp bool
}

func (s *echoSession) Answer(pkt []byte, _ netip.AddrPort, out []byte) ([]byte, bool) {
	if len(pkt) < wire.HeaderLen {
		return nil, false
	}
	switch binary.BigEndian.Uint16(pkt) {
	case dropID:
		return nil, false
	case slowID:
		return nil, true
	}
	out = append(out, pkt...)
	out[2] |= wire.FlagQR >> 8
	return out, false
}

func (s *echoSession) Wait(pkt []byte, _ netip.AddrPort, send func([]byte)) []byte {
	reply := append([]byte(nil), pkt...)
	reply[2] |= wire.FlagQR >> 8
	if send == nil {
		<-s.e.release
		return reply
	}
	s.e.inflight.Add(1)
	go func() {
		defer s.e.inflight.Done()
		<-s.e.release
		send(reply)
	}()
	return nil
}

func query(id uint16) []byte {
	pkt := make([]byte, wire.HeaderLen, wire.HeaderLen+8)
	binary.BigEndian.PutUint16(pkt, id)
	binary.BigEndian.PutUint16(pkt[4:], 1)
	return append(pkt, "payload"...)
}

// readerPlain, for the tests only, puts the portable reader on every UDP socket,
// so it is tested here too and not only where it is the default.
const readerPlain = "plain"

// readerKinds are the UDP readers every UDP test runs against. Outside Linux the
// poller and thread kinds are the portable reader too.
var readerKinds = []string{ReaderPoller, ReaderThread, readerPlain}

// start serves h on addr with the UDP reader of the given kind.
func start(t *testing.T, addr string, sockets int, kind string) (*Transport, *echo) {
	t.Helper()
	h := &echo{release: make(chan struct{})}
	cfg := Config{Addr: addr, UDPSockets: sockets, MaxUDPReply: 1232, TCPMaxConns: 4, TCPIdleTimeout: 5 * time.Second}
	cfg.UDPReader = kind
	if kind == readerPlain {
		cfg.UDPReader = ReaderPoller // replaced below; a thread reader would take the socket over
	}
	tr, err := Listen(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	if kind == readerPlain {
		for i, c := range tr.udp {
			tr.readers[i] = newPlainReader(tr, c)
		}
	}
	tr.Serve()
	t.Cleanup(func() { tr.Shutdown(context.Background(), nil) })
	return tr, h
}

func dialUDP(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readReply reads one datagram within a deadline; it reports a timeout as nil.
func readReply(t *testing.T, c *net.UDPConn, wait time.Duration) []byte {
	t.Helper()
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(wait))
	n, err := c.Read(buf)
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return nil
		}
		t.Fatal(err)
	}
	return buf[:n]
}

func isReplyTo(reply []byte, id uint16) bool {
	return len(reply) >= wire.HeaderLen && binary.BigEndian.Uint16(reply) == id && reply[2]&(wire.FlagQR>>8) != 0
}

// testUDP runs the UDP checks against whichever reader serves tr's sockets.
func testUDP(t *testing.T, tr *Transport, h *echo) {
	c := dialUDP(t, tr.Addr())
	c.Write(query(1))
	if r := readReply(t, c, 2*time.Second); !isReplyTo(r, 1) {
		t.Fatalf("no echo: % x", r)
	}
	// A dropped query gets nothing; the next one is still answered.
	c.Write(query(dropID))
	c.Write(query(2))
	if r := readReply(t, c, 2*time.Second); !isReplyTo(r, 2) {
		t.Fatalf("after a drop: % x", r)
	}
	// A waiting query leaves the reader free: the next one is answered first.
	c.Write(query(slowID))
	c.Write(query(3))
	if r := readReply(t, c, 2*time.Second); !isReplyTo(r, 3) {
		t.Fatalf("reader blocked by a waiting query: % x", r)
	}
	close(h.release)
	if r := readReply(t, c, 2*time.Second); !isReplyTo(r, slowID) {
		t.Fatalf("waiting query never answered: % x", r)
	}
}

func TestUDP(t *testing.T) {
	for _, kind := range readerKinds {
		t.Run(kind, func(t *testing.T) {
			tr, h := start(t, "127.0.0.1:0", 2, kind)
			testUDP(t, tr, h)
		})
	}
}

// TestUDPWildcard: on a wildcard address the readers answer too (on Linux with
// the query's destination as the reply's source, a control message per reply).
func TestUDPWildcard(t *testing.T) {
	for _, kind := range readerKinds {
		t.Run(kind, func(t *testing.T) {
			if kind == readerPlain || runtime.GOOS != "linux" {
				t.Skip("the portable reader sends no control messages (plainReader says why)")
			}
			tr, h := start(t, "0.0.0.0:0", 2, kind)
			_, port, _ := net.SplitHostPort(tr.Addr())
			c := dialUDP(t, net.JoinHostPort("127.0.0.2", port))
			c.Write(query(9))
			if r := readReply(t, c, 2*time.Second); !isReplyTo(r, 9) {
				t.Fatalf("no echo from the queried address: % x", r)
			}
			// A deferred reply leaves from the queried address as well.
			c.Write(query(slowID))
			close(h.release)
			if r := readReply(t, c, 2*time.Second); !isReplyTo(r, slowID) {
				t.Fatalf("deferred reply not from the queried address: % x", r)
			}
		})
	}
}

func TestTCP(t *testing.T) {
	tr, h := start(t, "127.0.0.1:0", 1, ReaderPoller)
	c, err := net.Dial("tcp", tr.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exchange := func(id uint16) []byte {
		q := query(id)
		c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(q))), q...))
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		var l [2]byte
		if _, err := c.Read(l[:]); err != nil {
			t.Fatal(err)
		}
		reply := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := c.Read(reply); err != nil {
			t.Fatal(err)
		}
		return reply
	}
	if r := exchange(7); !isReplyTo(r, 7) {
		t.Fatalf("tcp echo: % x", r)
	}
	close(h.release)
	if r := exchange(slowID); !isReplyTo(r, slowID) {
		t.Fatalf("tcp waiting query: % x", r)
	}
}

// TestShutdownDrains: a UDP reply the handler still owes goes out before the
// sockets close, when drain waits for it.
func TestShutdownDrains(t *testing.T) {
	for _, kind := range readerKinds {
		t.Run(kind, func(t *testing.T) { testShutdownDrains(t, kind) })
	}
}

func testShutdownDrains(t *testing.T, kind string) {
	tr, h := start(t, "127.0.0.1:0", 1, kind)
	c := dialUDP(t, tr.Addr())
	c.Write(query(slowID))
	c.Write(query(4))
	if r := readReply(t, c, 2*time.Second); !isReplyTo(r, 4) {
		t.Fatalf("% x", r)
	}
	draining := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- tr.Shutdown(context.Background(), func(ctx context.Context) {
			close(draining)
			Wait(ctx, &h.inflight)
		})
	}()
	select {
	case <-draining:
	case err := <-done:
		t.Fatalf("shutdown finished without draining: %v", err)
	case <-time.After(2 * time.Second):
		t.Fatal("shutdown never drained")
	}
	close(h.release) // the owed reply goes out only now, while shutdown waits for it
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r := readReply(t, c, 2*time.Second); !isReplyTo(r, slowID) {
		t.Fatalf("owed reply lost at shutdown: % x", r)
	}
}

// TestShutdownIdle: Shutdown returns promptly while every reader waits for a
// datagram that never comes (a thread reader blocked in recvmmsg must be woken),
// and the port is free again afterwards.
func TestShutdownIdle(t *testing.T) {
	for _, kind := range readerKinds {
		t.Run(kind, func(t *testing.T) {
			tr, _ := start(t, "127.0.0.1:0", 2, kind)
			c := dialUDP(t, tr.Addr())
			c.Write(query(5))
			if r := readReply(t, c, 2*time.Second); !isReplyTo(r, 5) {
				t.Fatalf("% x", r)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := tr.Shutdown(ctx, nil); err != nil {
				t.Fatal(err)
			}
			// Every socket is closed: the address binds again without SO_REUSEPORT.
			pc, err := net.ListenPacket("udp", tr.Addr())
			if err != nil {
				t.Fatalf("socket still open after shutdown: %v", err)
			}
			pc.Close()
		})
	}
}
