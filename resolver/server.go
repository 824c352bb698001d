package resolver

import (
	"cmp"
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/srvbridge/srvbridge/cache"
	"github.com/srvbridge/srvbridge/resolver/transport"
)

// Server is the answer logic (parse, look up, reply) behind a transport that
// carries queries over UDP and TCP (resolver/transport); it is the transport's
// Handler.
type Server struct {
	cfg    Config
	comp   *Compiler
	store  *cache.Store[*Answers]
	log    *slog.Logger
	stats  Stats
	apexes map[*zone]*apexAnswers

	tr       *transport.Transport
	parking  parking       // UDP queries waiting on Consul (park.go)
	fwdSem   chan struct{} // queries waiting on an upstream
	tcpStats *shard

	closing  atomic.Bool
	inflight sync.WaitGroup // forwarded UDP queries
}

// New returns a server answering from store with the compiler's configuration.
func New(comp *Compiler, store *cache.Store[*Answers]) *Server {
	s := &Server{
		cfg:    comp.cfg,
		comp:   comp,
		store:  store,
		log:    comp.cfg.Logger,
		apexes: map[*zone]*apexAnswers{},
		fwdSem: make(chan struct{}, comp.cfg.MaxForwards),
	}
	s.parking.init(comp.cfg.AwaitMaxBytes)
	for i := range comp.zones {
		a := &apexAnswers{}
		a.tpls.Store(&map[variantKey][]byte{})
		s.apexes[&comp.zones[i]] = a
	}
	s.tcpStats = s.stats.shard()
	comp.flat.srv.Store(s) // targets in our own zones are answered by s
	return s
}

// Stats returns the query counters.
func (s *Server) Stats() *Stats { return &s.stats }

// Start binds UDP and TCP to the configured address (the same port for both, also
// when the port is 0) and starts serving: one reader per UDP socket.
func (s *Server) Start() error {
	tr, err := transport.Listen(transport.Config{
		Addr:           s.cfg.Addr,
		UDPSockets:     s.cfg.UDPSockets,
		MaxUDPReply:    int(s.cfg.MaxUDPSize),
		TCPMaxConns:    s.cfg.TCPMaxConns,
		TCPIdleTimeout: s.cfg.TCPIdleTimeout,
		UDPReader:      s.cfg.UDPReader,
		Logger:         s.log,
	}, s)
	if err != nil {
		return err
	}
	s.tr = tr
	tr.Serve()
	s.log.Info("dns listening", "addr", s.Addr(), "udp_sockets", tr.UDPSockets(), "udp_reader", cmp.Or(s.cfg.UDPReader, transport.ReaderThread), "udp_receive_buffer", tr.ReceiveBuffer())
	return nil
}

// Addr is the bound address, useful when the configured port was 0.
func (s *Server) Addr() string {
	if s.tr == nil {
		return s.cfg.Addr
	}
	return s.tr.Addr()
}

// Shutdown stops taking queries, lets those in flight finish within ctx, and closes.
// Queries that arrive meanwhile and must wait get SERVFAIL at once.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.closing.CompareAndSwap(false, true) {
		return nil
	}
	defer s.comp.flat.stop()
	if s.tr == nil {
		return nil
	}
	// Slow-path replies still need the UDP sockets: the transport closes them after.
	return s.tr.Shutdown(ctx, s.drain)
}
