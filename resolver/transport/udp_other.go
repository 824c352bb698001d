//go:build !linux

package transport

import "net"

// newUDPReader is the portable reader outside Linux.
func newUDPReader(t *Transport, c *net.UDPConn) (udpReader, error) {
	return newPlainReader(t, c), nil
}

// growReceiveBuffer asks for udpReceiveBuffer; the system may cap it (on the BSDs
// kern.ipc.maxsockbuf, on macOS a few MiB). Best effort: the default still works.
func growReceiveBuffer(c *net.UDPConn) {
	c.SetReadBuffer(udpReceiveBuffer)
}

// wantDestination has nothing to ask for: the portable reader sends no control
// messages (plainReader says why).
func wantDestination(*net.UDPConn) error { return nil }

// reserveProcs has nothing to do: there are no thread readers here.
func reserveProcs([]udpReader) int { return 0 }
