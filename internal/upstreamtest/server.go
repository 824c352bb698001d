// Package upstreamtest runs real DNS servers for forwarding tests: miekg/dns servers
// over real UDP and TCP sockets on loopback addresses, serving a small test zone, and
// the two ways an upstream can be dead (a closed port, and a blackhole that reads
// queries and never answers). Test support only: the server side of srvbridge never
// imports it.
package upstreamtest

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Server is a real DNS server on one loopback address, UDP and TCP on the same port.
type Server struct {
	Addr netip.AddrPort

	udp, tcp *atomic.Int64 // queries seen, by transport (Start's servers only)
	udpSrv   *dns.Server
	tcpSrv   *dns.Server
	stopOnce sync.Once
}

// Options change how Start's zone server behaves.
type Options struct {
	// Delay holds every reply back this long: a slow but working upstream.
	Delay time.Duration
	// Spoof sends two wrong datagrams before each UDP reply: one with another ID, one
	// for another name. A forwarder must ignore both and take the third.
	Spoof bool
	// LowerCase answers with the question lower-cased, as some servers do.
	LowerCase bool
}

// Start serves the test zone (see Zone) on ip ("127.0.0.3") at a free port. It is
// stopped by t.Cleanup.
func Start(t testing.TB, ip string, opts Options) *Server {
	t.Helper()
	var udp, tcp atomic.Int64
	s := StartHandler(t, ip, dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := answer(r)
		if w.LocalAddr().Network() == "udp" {
			udp.Add(1)
			truncate(m, r)
		} else {
			tcp.Add(1)
		}
		if opts.LowerCase {
			for i := range m.Question {
				m.Question[i].Name = strings.ToLower(m.Question[i].Name)
			}
		}
		time.Sleep(opts.Delay) // the slow upstream being simulated, not synchronisation
		if opts.Spoof && w.LocalAddr().Network() == "udp" {
			bad := m.Copy()
			bad.Id++
			w.WriteMsg(bad)
			bad = m.Copy()
			bad.Question[0].Name = "evil." + bad.Question[0].Name
			w.WriteMsg(bad)
		}
		w.WriteMsg(m)
	}))
	s.udp, s.tcp = &udp, &tcp
	return s
}

// StartHandler serves h on ip at a port free for both UDP and TCP.
func StartHandler(t testing.TB, ip string, h dns.Handler) *Server {
	t.Helper()
	pc, l, err := listenBoth(ip)
	if err != nil {
		t.Fatalf("upstreamtest: %v", err)
	}
	s := &Server{
		Addr:   netip.MustParseAddrPort(pc.LocalAddr().String()),
		udpSrv: &dns.Server{PacketConn: pc, Handler: h},
		tcpSrv: &dns.Server{Listener: l, Handler: h},
	}
	for _, srv := range []*dns.Server{s.udpSrv, s.tcpSrv} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
	}
	t.Cleanup(s.Stop)
	return s
}

// Count returns how many queries a server from Start received over network ("udp"
// or "tcp").
func (s *Server) Count(network string) int64 {
	if network == "tcp" {
		return s.tcp.Load()
	}
	return s.udp.Load()
}

// Stop closes both sockets: from then on the port is closed, and queries to it are
// refused by the kernel.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		s.udpSrv.Shutdown()
		s.tcpSrv.Shutdown()
	})
}

// Blackhole returns an address on ip where a UDP socket reads queries and never
// answers, and a TCP listener accepts connections and never answers: an upstream
// that is up but unresponsive, or whose replies are lost.
func Blackhole(t testing.TB, ip string) netip.AddrPort {
	t.Helper()
	pc, l, err := listenBoth(ip)
	if err != nil {
		t.Fatalf("upstreamtest: %v", err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		buf := make([]byte, 65535)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

// ClosedPort returns an address on ip where nothing listens, UDP or TCP.
func ClosedPort(t testing.TB, ip string) netip.AddrPort {
	t.Helper()
	pc, l, err := listenBoth(ip)
	if err != nil {
		t.Fatalf("upstreamtest: %v", err)
	}
	pc.Close()
	l.Close()
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

func listenBoth(ip string) (net.PacketConn, net.Listener, error) {
	for i := 0; i < 50; i++ {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return nil, nil, err
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err == nil {
			return pc, l, nil
		}
		pc.Close()
	}
	return nil, nil, fmt.Errorf("no port on %s free for both UDP and TCP", ip)
}
