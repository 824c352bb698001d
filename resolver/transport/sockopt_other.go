//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd)

package transport

import (
	"net"
	"syscall"
)

// reusePort is a no-op where SO_REUSEPORT is unknown: one socket per address, and
// a restart must wait for the old process to let go of the port.
func reusePort(_, _ string, _ syscall.RawConn) error { return nil }

func receiveBuffer(*net.UDPConn) int { return 0 }
