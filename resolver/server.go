package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"

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

	udp      *net.UDPConn
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
// when the port is 0) and starts serving.
func (s *Server) Start() error {
	ua, err := net.ResolveUDPAddr("udp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("dns listen address %q: %w", s.cfg.Addr, err)
	}
	s.udp, err = net.ListenUDP("udp", ua)
	if err != nil {
		return fmt.Errorf("listen udp %s: %w", s.cfg.Addr, err)
	}
	bound := s.udp.LocalAddr().(*net.UDPAddr)
	host, _, _ := net.SplitHostPort(s.cfg.Addr)
	s.tcp, err = net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(bound.Port)))
	if err != nil {
		s.udp.Close()
		return fmt.Errorf("listen tcp %s: %w", s.cfg.Addr, err)
	}
	s.readers.Add(2)
	go s.serveUDP(s.udp)
	go s.serveTCP(s.tcp)
	s.log.Info("dns listening", "addr", s.Addr())
	return nil
}

// Addr is the bound address, useful when the configured port was 0.
func (s *Server) Addr() string {
	if s.udp == nil {
		return s.cfg.Addr
	}
	return s.udp.LocalAddr().String()
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
	if s.udp != nil {
		s.udp.Close()
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
