package transport

import (
	"context"
	"net"
	"strconv"
)

// listenUDP binds n sockets to addr. With port 0 the first socket's port is used
// for the rest (and for TCP).
func listenUDP(addr string, n int) ([]*net.UDPConn, error) {
	lc := net.ListenConfig{Control: reusePort}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var conns []*net.UDPConn
	fail := func(err error) ([]*net.UDPConn, error) {
		for _, c := range conns {
			c.Close()
		}
		return nil, err
	}
	for i := 0; i < n; i++ {
		pc, err := lc.ListenPacket(context.Background(), "udp", addr)
		if err != nil {
			return fail(err)
		}
		c := pc.(*net.UDPConn)
		conns = append(conns, c)
		growReceiveBuffer(c)
		if err := wantDestination(c); err != nil {
			return fail(err)
		}
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

// udpReceiveBuffer is what each UDP socket asks for: at 2000 queries/s the kernel's
// default (about 200 KiB, some 270 datagrams with their overhead) overflows after
// ~150 ms without a read, which a burst of Consul updates competing for the CPU
// caused in the scale bench; 4 MiB absorbs seconds, as a delay instead of a loss.
const udpReceiveBuffer = 4 << 20

// wildcard reports whether a socket is bound to every address: its replies must
// name their source explicitly, or a multi-homed host may answer from an address
// the client never asked, and the client drops the reply.
func wildcard(c *net.UDPConn) bool {
	return c.LocalAddr().(*net.UDPAddr).IP.IsUnspecified()
}
