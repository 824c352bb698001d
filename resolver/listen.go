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
		growReceiveBuffer(c)
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

// udpReceiveBuffer is what each UDP socket asks for: at 2000 queries/s the kernel's
// default (about 200 KiB, some 270 datagrams with their overhead) overflows after
// ~150 ms without a read, which a burst of Consul updates competing for the CPU
// caused in the scale bench; 4 MiB absorbs seconds, as a delay instead of a loss.
const udpReceiveBuffer = 4 << 20

// growReceiveBuffer asks for udpReceiveBuffer, beyond net.core.rmem_max where the
// process may (CAP_NET_ADMIN), else up to it. Best effort: the default still works.
func growReceiveBuffer(c *net.UDPConn) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, udpReceiveBuffer) != nil {
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, udpReceiveBuffer)
		}
	})
}

// receiveBuffer reports a UDP socket's receive buffer as the kernel sizes it (twice
// what was asked, for its bookkeeping).
func receiveBuffer(c *net.UDPConn) int {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	rc.Control(func(fd uintptr) {
		n, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
	})
	return n
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
