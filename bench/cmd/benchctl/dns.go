package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// A deliberately tiny DNS client: the bench only needs to send one question and read the
// header of the reply (rcode and section counts), so it builds and reads the bytes
// itself instead of depending on a DNS library.

const (
	typeA   = 1
	typeSRV = 33
)

var typeNames = map[string]uint16{"A": typeA, "SRV": typeSRV}

var rcodeNames = map[int]string{0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}

// packQuery builds a query with recursion not desired and no EDNS, as dnsperf sends
// them by default.
func packQuery(id uint16, name string, qtype uint16) ([]byte, error) {
	b := make([]byte, 12, 12+len(name)+6)
	binary.BigEndian.PutUint16(b[0:], id)
	binary.BigEndian.PutUint16(b[4:], 1) // QDCOUNT
	for _, label := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if len(label) == 0 || len(label) > 63 {
			return nil, fmt.Errorf("bad name %q", name)
		}
		b = append(b, byte(len(label)))
		b = append(b, label...)
	}
	b = append(b, 0)
	b = binary.BigEndian.AppendUint16(b, qtype)
	b = binary.BigEndian.AppendUint16(b, 1) // IN
	return b, nil
}

// header is what the bench reads from a reply.
type header struct {
	ID         uint16
	Rcode      int
	TC         bool
	An, Ns, Ar int
	Size       int
}

func (h header) String() string {
	rc := rcodeNames[h.Rcode]
	if rc == "" {
		rc = fmt.Sprintf("RCODE%d", h.Rcode)
	}
	tc := ""
	if h.TC {
		tc = " TC"
	}
	return fmt.Sprintf("%s%s answer=%d authority=%d additional=%d size=%d", rc, tc, h.An, h.Ns, h.Ar, h.Size)
}

var errShort = errors.New("reply shorter than a DNS header")

func parseHeader(b []byte) (header, error) {
	if len(b) < 12 {
		return header{}, errShort
	}
	flags := binary.BigEndian.Uint16(b[2:])
	return header{
		ID:    binary.BigEndian.Uint16(b[0:]),
		Rcode: int(flags & 0xf),
		TC:    flags&0x0200 != 0,
		An:    int(binary.BigEndian.Uint16(b[6:])),
		Ns:    int(binary.BigEndian.Uint16(b[8:])),
		Ar:    int(binary.BigEndian.Uint16(b[10:])),
		Size:  len(b),
	}, nil
}

// client is a connected UDP socket asking one server.
type client struct {
	conn *net.UDPConn
	id   uint16
	buf  []byte
}

func dial(addr string) (*client, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	if !ua.IP.IsLoopback() {
		return nil, fmt.Errorf("%s is not a loopback address", addr)
	}
	c, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		return nil, err
	}
	return &client{conn: c, buf: make([]byte, 65535)}, nil
}

func (c *client) Close() error { return c.conn.Close() }

// ask sends one query and waits up to timeout for the reply with its ID; replies to
// earlier, timed-out queries are skipped.
func (c *client) ask(name string, qtype uint16, timeout time.Duration) (header, error) {
	c.id++
	q, err := packQuery(c.id, name, qtype)
	if err != nil {
		return header{}, err
	}
	deadline := time.Now().Add(timeout)
	if err := c.conn.SetDeadline(deadline); err != nil {
		return header{}, err
	}
	if _, err := c.conn.Write(q); err != nil {
		return header{}, err
	}
	for {
		n, err := c.conn.Read(c.buf)
		if err != nil {
			return header{}, err
		}
		h, err := parseHeader(c.buf[:n])
		if err != nil || h.ID != c.id {
			continue
		}
		return h, nil
	}
}

// readReplies reads DNS replies from conn until a read fails, calling got with each
// reply's header and arrival time; packets too short for a header are skipped. A read
// deadline that passes ends it without error: that is how the load commands stop.
func readReplies(conn net.Conn, got func(h header, now time.Time)) error {
	buf := make([]byte, 65535)
	for {
		nr, err := conn.Read(buf)
		now := time.Now()
		if err != nil {
			if isTimeout(err) {
				return nil
			}
			return err
		}
		if h, err := parseHeader(buf[:nr]); err == nil {
			got(h, now)
		}
	}
}
