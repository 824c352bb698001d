package transport

import (
	"errors"
	"net"

	"github.com/srvbridge/srvbridge/resolver/wire"
)

// plainReader reads and answers one datagram at a time with the standard library,
// which works on every system Go runs on. It is the reader outside Linux. It sends
// no control messages: setting the source address (IP_PKTINFO and its cousins) is
// spelled differently on each BSD, and on macOS it unbinds the socket (as
// miekg/dns found), so on a multi-homed host bind a specific address rather than
// the wildcard.
type plainReader struct {
	t   *Transport
	c   *net.UDPConn
	in  []byte
	out []byte
}

func newPlainReader(t *Transport, c *net.UDPConn) *plainReader {
	// One byte past the longest query, so a longer datagram, cut to fit, still
	// shows as too long and is refused (wire.AcceptQuery).
	return &plainReader{t: t, c: c, in: make([]byte, wire.MaxQueryLen+1), out: make([]byte, 0, max(t.cfg.MaxUDPReply, wire.MinUDPSize))}
}

func (r *plainReader) serve() {
	s := r.t.h.Session(false)
	for {
		n, from, err := r.c.ReadFromUDPAddrPort(r.in)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		pkt := r.in[:n]
		reply, wait := s.Answer(pkt, from, r.out[:0])
		switch {
		case reply != nil:
			r.c.WriteToUDPAddrPort(reply, from)
		case wait:
			later(s, pkt, from, connSender(r.c, from, nil))
		}
	}
}

func (r *plainReader) close() error { return r.c.Close() }
