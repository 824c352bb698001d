// Package transport carries DNS messages between sockets and the answer logic: UDP
// sockets sharing one address (SO_REUSEPORT) with a reader each, TCP with its
// length prefix, connection limits and idle timeouts, the receive buffer, and a
// graceful shutdown. It knows nothing of what a message says; a Handler answers.
//
// On Linux a UDP reader moves datagrams in batches (recvmmsg/sendmmsg) and answers
// from the address each query was sent to (IP_PKTINFO); on other systems it reads
// and writes one datagram at a time with the standard library. Both are kinds of
// udpReader. On Linux a third kind, the default (Config.UDPReader "thread"),
// blocks a dedicated OS thread in recvmmsg on a socket kept out of Go's poller, as
// Knot's workers do: it costs half the CPU per query of the poller reader at a
// low rate and a sixth less at saturation (bench/results/2026-11-30-udp-reader.md).
package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Handler is the answer logic.
type Handler interface {
	// Session returns the answering state for one UDP reader or one TCP
	// connection (tcp). The transport calls a Session from one goroutine only.
	Session(tcp bool) Session
}

// Session answers the queries that reach one reader.
type Session interface {
	// Answer answers pkt, sent by from, into out (empty, with room for the
	// largest reply the transport sends) and returns the reply, or nil for no
	// reply at all. When the answer must wait (for Consul, for an upstream), it
	// returns nil and wait, and the transport calls Wait next. pkt and out belong to
	// the transport: they are reused once Answer returns.
	Answer(pkt []byte, from netip.AddrPort, out []byte) (reply []byte, wait bool)
	// Wait answers the query the last Answer deferred. Over TCP send is nil: Wait
	// blocks and returns the reply, so replies leave in the order queries came.
	// Over UDP Wait must not block the reader: it either returns a reply to send
	// at once, or returns nil and calls send exactly once, later, from another
	// goroutine. pkt is valid only until Wait returns.
	Wait(pkt []byte, from netip.AddrPort, send func(reply []byte)) []byte
}

// Config sizes the transport.
type Config struct {
	// Addr is the UDP and TCP listen address; port 0 picks one port for both.
	Addr string
	// UDPSockets is how many UDP sockets share the address, each with a reader.
	UDPSockets int
	// MaxUDPReply is the largest UDP reply: it sizes each reader's buffers.
	MaxUDPReply int
	// TCPMaxConns and TCPIdleTimeout bound TCP clients.
	TCPMaxConns    int
	TCPIdleTimeout time.Duration
	// UDPReader picks how a UDP reader waits for datagrams: ReaderThread (the
	// default, also when empty) or ReaderPoller. Outside Linux both are the
	// portable reader.
	UDPReader string
	Logger    *slog.Logger
}

// The kinds of UDP reader (Config.UDPReader).
const (
	// ReaderPoller parks the reader's goroutine in Go's network poller while its
	// socket is empty.
	ReaderPoller = "poller"
	// ReaderThread gives each reader an OS thread of its own that blocks in
	// recvmmsg on a socket outside the poller: no poller or scheduler work per
	// wake-up (Linux only). It raises GOMAXPROCS to one more than the readers
	// (reserveProcs says why).
	ReaderThread = "thread"
)

// Transport serves one address over UDP and TCP.
type Transport struct {
	cfg Config
	h   Handler
	log *slog.Logger

	udp     []*net.UDPConn // a thread reader takes its socket over and closes the conn
	rcvbuf  int
	readers []udpReader
	tcp     net.Listener
	tcpSem  chan struct{}

	closing atomic.Bool
	serving sync.WaitGroup // UDP readers, the TCP acceptor and TCP connections
	connMu  sync.Mutex
	conns   map[net.Conn]struct{}
}

// udpReader serves one UDP socket.
type udpReader interface {
	// serve answers queries until close.
	serve()
	// close stops serve: it returns once the replies of the batch in hand are out.
	close() error
}

// Listen binds UDP and TCP to cfg.Addr, the same port for both (also when the
// port is 0), and returns a transport ready to Serve.
func Listen(cfg Config, h Handler) (*Transport, error) {
	_, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("dns listen address %q: %w", cfg.Addr, err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	t := &Transport{cfg: cfg, h: h, log: cfg.Logger,
		tcpSem: make(chan struct{}, max(cfg.TCPMaxConns, 1)), conns: map[net.Conn]struct{}{}}
	for try := 0; ; try++ {
		t.udp, err = listenUDP(cfg.Addr, max(cfg.UDPSockets, 1))
		if err != nil {
			return nil, fmt.Errorf("listen udp %s: %w", cfg.Addr, err)
		}
		t.tcp, err = listenTCP(t.Addr())
		if err == nil {
			break
		}
		for _, c := range t.udp {
			c.Close()
		}
		// Port 0 picked a UDP port whose TCP twin is taken (an outgoing connection
		// may hold it): pick again.
		if port != "0" || !errors.Is(err, syscall.EADDRINUSE) || try == 9 {
			return nil, fmt.Errorf("listen tcp %s: %w", cfg.Addr, err)
		}
	}
	t.rcvbuf = receiveBuffer(t.udp[0])
	for _, c := range t.udp {
		r, err := newUDPReader(t, c)
		if err != nil {
			t.closeAll()
			return nil, fmt.Errorf("udp reader on %s: %w", c.LocalAddr(), err)
		}
		t.readers = append(t.readers, r)
	}
	return t, nil
}

func (t *Transport) closeAll() {
	t.tcp.Close()
	for _, r := range t.readers {
		r.close()
	}
	for _, c := range t.udp {
		c.Close()
	}
}

// Serve starts a reader per UDP socket and the TCP acceptor, and returns.
func (t *Transport) Serve() {
	if procs := reserveProcs(t.readers); procs > 0 {
		t.log.Info("GOMAXPROCS raised for the UDP thread readers", "gomaxprocs", procs)
	}
	t.serving.Add(len(t.readers) + 1)
	for _, r := range t.readers {
		go func() {
			defer t.serving.Done()
			r.serve()
		}()
	}
	go t.serveTCP()
}

// Addr is the bound address, useful when the configured port was 0.
func (t *Transport) Addr() string {
	if len(t.udp) == 0 {
		return t.cfg.Addr
	}
	return t.udp[0].LocalAddr().String()
}

// UDPSockets is how many UDP sockets share the address.
func (t *Transport) UDPSockets() int { return len(t.udp) }

// ReceiveBuffer is a UDP socket's receive buffer as the kernel sized it, or 0
// where the system does not tell.
func (t *Transport) ReceiveBuffer() int { return t.rcvbuf }

// Shutdown stops taking queries and closes, letting those in flight finish
// within ctx. drain, when set, waits for the replies the handler still owes over
// UDP (Session.Wait's sends): the sockets stay open until it returns.
func (t *Transport) Shutdown(ctx context.Context, drain func(context.Context)) error {
	if !t.closing.CompareAndSwap(false, true) {
		return nil
	}
	t.tcp.Close()
	if drain != nil {
		drain(ctx)
	}
	for _, r := range t.readers {
		r.close()
	}
	t.connMu.Lock()
	for c := range t.conns {
		// Unblock idle readers; a query being answered still gets its reply out.
		c.SetReadDeadline(aLongTimeAgo)
	}
	t.connMu.Unlock()
	if !Wait(ctx, &t.serving) {
		return errors.New("dns shutdown: connections still open when the deadline passed")
	}
	return nil
}

// Wait waits for wg until ctx is done, and reports whether wg finished.
func Wait(ctx context.Context, wg *sync.WaitGroup) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// later hands a deferred UDP query to the session; send writes its reply (it
// must be safe to call from any goroutine, after the reader has moved on).
func later(s Session, pkt []byte, from netip.AddrPort, send func(reply []byte)) {
	if reply := s.Wait(pkt, from, send); reply != nil {
		send(reply)
	}
}

// connSender writes a deferred reply on c from the address the query came to
// (src, a control message, may be nil).
func connSender(c *net.UDPConn, to netip.AddrPort, src []byte) func(reply []byte) {
	src = append([]byte(nil), src...) // the reader reuses its control buffers
	return func(reply []byte) { c.WriteMsgUDPAddrPort(reply, src, to) }
}
