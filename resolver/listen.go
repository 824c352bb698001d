package resolver

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePort lets several sockets share one address: the kernel spreads datagrams
// over the UDP sockets (one reader each), and a new process can bind while the old
// one drains, so a rolling restart loses no queries.
func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// listenUDP binds n sockets to addr. With port 0 the first socket's port is used
// for the rest (and for TCP).
func listenUDP(addr string, n int) ([]*net.UDPConn, error) {
	lc := net.ListenConfig{Control: reusePort}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var conns []*net.UDPConn
	for i := 0; i < n; i++ {
		pc, err := lc.ListenPacket(context.Background(), "udp", addr)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return nil, err
		}
		c := pc.(*net.UDPConn)
		if err := wantDestination(c); err != nil {
			c.Close()
			for _, c := range conns {
				c.Close()
			}
			return nil, err
		}
		conns = append(conns, c)
		if i == 0 {
			addr = net.JoinHostPort(host, strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port))
		}
	}
	return conns, nil
}

func listenTCP(addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: reusePort}
	return lc.Listen(context.Background(), "tcp", addr)
}

// wildcard reports whether a socket is bound to every address: its replies must
// name their source explicitly, or a multi-homed host may answer from an address
// the client never asked, and the client drops the reply.
func wildcard(c *net.UDPConn) bool {
	return c.LocalAddr().(*net.UDPAddr).IP.IsUnspecified()
}

// wantDestination asks the kernel for each datagram's destination address on
// wildcard sockets.
func wantDestination(c *net.UDPConn) error {
	if !wildcard(c) {
		return nil
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		// Both, because a [::] socket also receives IPv4 (mapped) datagrams.
		e4 := unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		e6 := unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
		if e4 != nil && e6 != nil {
			serr = fmt.Errorf("IP_PKTINFO: %v; IPV6_RECVPKTINFO: %v", e4, e6)
		}
	})
	if err != nil {
		return err
	}
	return serr
}
