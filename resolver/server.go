package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/srvbridge/srvbridge/cache"
)

// Server answers DNS over UDP and TCP on one address.
type Server struct {
	cfg    Config
	comp   *Compiler
	store  *cache.Store[*Answers]
	log    *slog.Logger
	stats  Stats
	apexes map[*zone]*apexAnswers

	udp      []*net.UDPConn
	tcp      net.Listener
	slowSem  chan struct{} // queries waiting on Consul
	fwdSem   chan struct{} // queries waiting on an upstream
	tcpSem   chan struct{} // open TCP connections
	tcpStats *shard

	closing  atomic.Bool
	readers  sync.WaitGroup // socket readers and TCP connections
	inflight sync.WaitGroup // slow-path queries
	connMu   sync.Mutex
	conns    map[net.Conn]struct{}
}

// New returns a server answering from store with the compiler's configuration.
func New(comp *Compiler, store *cache.Store[*Answers]) *Server {
	s := &Server{
		cfg:     comp.cfg,
		comp:    comp,
		store:   store,
		log:     comp.cfg.Logger,
		apexes:  map[*zone]*apexAnswers{},
		slowSem: make(chan struct{}, comp.cfg.SlowWorkers),
		fwdSem:  make(chan struct{}, comp.cfg.MaxForwards),
		tcpSem:  make(chan struct{}, comp.cfg.TCPMaxConns),
		conns:   map[net.Conn]struct{}{},
	}
	for i := range comp.zones {
		a := &apexAnswers{}
		a.tpls.Store(&map[variantKey][]byte{})
		s.apexes[&comp.zones[i]] = a
	}
	s.tcpStats = s.stats.shard()
	return s
}

// Stats returns the query counters.
func (s *Server) Stats() *Stats { return &s.stats }

// Start binds UDP and TCP to the configured address (the same port for both, also
// when the port is 0) and starts serving: one reader per UDP socket.
func (s *Server) Start() error {
	if _, _, err := net.SplitHostPort(s.cfg.Addr); err != nil {
		return fmt.Errorf("dns listen address %q: %w", s.cfg.Addr, err)
	}
	_, port, _ := net.SplitHostPort(s.cfg.Addr)
	var conns []*net.UDPConn
	for try := 0; ; try++ {
		var err error
		conns, err = listenUDP(s.cfg.Addr, s.cfg.UDPSockets)
		if err != nil {
			return fmt.Errorf("listen udp %s: %w", s.cfg.Addr, err)
		}
		s.udp = conns
		s.tcp, err = listenTCP(s.Addr())
		if err == nil {
			break
		}
		for _, c := range conns {
			c.Close()
		}
		// Port 0 picked a UDP port whose TCP twin is taken (an outgoing connection
		// may hold it): pick again.
		if port != "0" || !errors.Is(err, syscall.EADDRINUSE) || try == 9 {
			return fmt.Errorf("listen tcp %s: %w", s.cfg.Addr, err)
		}
	}
	s.readers.Add(len(conns) + 1)
	for _, c := range conns {
		go s.serveBatch(c)
	}
	go s.serveTCP(s.tcp)
	s.log.Info("dns listening", "addr", s.Addr(), "udp_sockets", len(conns), "udp_receive_buffer", receiveBuffer(conns[0]))
	return nil
}

// Addr is the bound address, useful when the configured port was 0.
func (s *Server) Addr() string {
	if len(s.udp) == 0 {
		return s.cfg.Addr
	}
	return s.udp[0].LocalAddr().String()
}

// Shutdown stops taking queries, lets those in flight finish within ctx, and closes.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.closing.CompareAndSwap(false, true) {
		return nil
	}
	if s.tcp != nil {
		s.tcp.Close()
	}
	wait(ctx, &s.inflight) // slow-path replies still need the UDP socket
	for _, c := range s.udp {
		c.Close()
	}
	s.connMu.Lock()
	for c := range s.conns {
		// Unblock idle readers; a query being answered still gets its reply out.
		c.SetReadDeadline(aLongTimeAgo)
	}
	s.connMu.Unlock()
	if !wait(ctx, &s.readers) {
		return errors.New("dns shutdown: connections still open when the deadline passed")
	}
	return nil
}

func wait(ctx context.Context, wg *sync.WaitGroup) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}
