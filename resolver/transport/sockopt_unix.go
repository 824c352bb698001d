//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package transport

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePort lets several sockets share one address, so a new process can bind
// while the old one drains and a rolling restart loses no queries. On Linux the
// kernel also spreads datagrams over the UDP sockets (one reader each); the BSDs
// and macOS deliver to one of them, which costs nothing but the idle readers.
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

// receiveBuffer reports a UDP socket's receive buffer as the kernel sized it
// (Linux reports twice what was asked, for its bookkeeping).
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
