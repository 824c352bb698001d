package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/srvbridge/srvbridge/resolver/wire"
)

// The UDP fast path reads and writes in batches (recvmmsg/sendmmsg): under load one
// system call moves up to udpBatch datagrams each way. Two readers share the batch
// code: batchReader parks its goroutine in Go's poller when the socket is empty,
// threadReader (udp_thread_linux.go) blocks its own OS thread in recvmmsg.
// Everything is preallocated per socket, so a batch allocates nothing.

const (
	udpBatch = 32
	// maxQuery is one byte more than a query may hold, so that a longer datagram,
	// cut to fit, still shows as too long and is answered FORMERR.
	maxQuery = wire.MaxQueryLen + 1
)

// mmsghdr is struct mmsghdr from <sys/socket.h>. Go pads it as C does: to 64
// bytes on 64-bit systems, 32 on 32-bit ones (an explicit pad would be wrong there).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// batchConn holds one socket's preallocated batch state; a reader fills it with
// recvmmsg, answers it (answer) and writes it out with sendmmsg, whichever way it
// waits for the socket.
type batchConn struct {
	in  [udpBatch]mmsghdr
	out [udpBatch]mmsghdr

	inIov    [udpBatch]unix.Iovec
	outIov   [udpBatch]unix.Iovec
	inBuf    [udpBatch][maxQuery]byte
	outBuf   [udpBatch][]byte
	from     [udpBatch]unix.RawSockaddrInet6
	oob      [udpBatch][oobLen]byte
	replyOOB [udpBatch][oobLen]byte
	// used is how many receive slots the last recvmmsg filled: only those need
	// their lengths reset before the next one.
	used int
}

func newBatchConn(maxReply int) *batchConn {
	b := &batchConn{used: udpBatch}
	for i := range b.in {
		b.outBuf[i] = make([]byte, 0, maxReply)
		b.inIov[i].Base = &b.inBuf[i][0]
		b.in[i].hdr.Iov = &b.inIov[i]
		b.in[i].hdr.SetIovlen(1)
		b.out[i].hdr.Iov = &b.outIov[i]
		b.out[i].hdr.SetIovlen(1)
	}
	return b
}

// prepare readies the receive slots for recvmmsg.
func (b *batchConn) prepare() {
	for i := range b.used {
		h := &b.in[i].hdr
		b.inIov[i].SetLen(maxQuery)
		h.Name = (*byte)(unsafe.Pointer(&b.from[i]))
		h.Namelen = uint32(unsafe.Sizeof(b.from[i]))
		h.Control = &b.oob[i][0]
		h.SetControllen(oobLen)
		h.Flags = 0
	}
}

// source reads a received datagram's sender.
func (b *batchConn) source(i int) netip.AddrPort {
	sa := &b.from[i]
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa4.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port)
	case unix.AF_INET6:
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), port)
	}
	return netip.AddrPort{}
}

// answer answers the n received datagrams, lines their replies up in b.out for
// sendmmsg and returns how many there are. A query that must wait goes to wait
// with its slot, the sender and the reply's source control message (nil when the
// socket is not a wildcard one): it leaves the batch for the session's slow path.
func (b *batchConn) answer(s Session, n int, explicitSource bool, wait func(i int, pkt []byte, from netip.AddrPort, src []byte)) int {
	m := 0
	for i := range n {
		h := &b.in[i].hdr
		var src []byte
		if explicitSource {
			src = replySource(b.oob[i][:h.Controllen], b.replyOOB[i][:])
		}
		from := b.source(i)
		pkt := b.inBuf[i][:b.in[i].n]
		reply, w := s.Answer(pkt, from, b.outBuf[i][:0])
		switch {
		case reply != nil:
			o := &b.out[m]
			b.outIov[m].Base = unsafe.SliceData(reply)
			b.outIov[m].SetLen(len(reply))
			o.hdr.Name = (*byte)(unsafe.Pointer(&b.from[i]))
			o.hdr.Namelen = h.Namelen
			o.hdr.Control, o.hdr.Controllen = nil, 0
			if len(src) > 0 {
				o.hdr.Control = &src[0]
				o.hdr.SetControllen(len(src))
			}
			m++
		case w:
			wait(i, pkt, from, src)
		}
	}
	return m
}

// batchReader is the Linux UDP reader that waits in Go's poller: batches in,
// answers, batches out, parking its goroutine only when the socket is empty.
type batchReader struct {
	t *Transport
	c *net.UDPConn
	b *batchConn

	rc syscall.RawConn
	// The poller callbacks are built once: a closure made per call would escape
	// to the heap on every batch. They report through these fields.
	readFn, writeFn func(fd uintptr) bool
	n               int
	errno           syscall.Errno
	sendFrom, sendN int
}

func newUDPReader(t *Transport, c *net.UDPConn) (udpReader, error) {
	if t.cfg.UDPReader != ReaderPoller {
		return newThreadReader(t, c)
	}
	return newBatchReader(t, c)
}

func newBatchReader(t *Transport, c *net.UDPConn) (*batchReader, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	r := &batchReader{t: t, c: c, b: newBatchConn(max(t.cfg.MaxUDPReply, wire.MinUDPSize)), rc: rc}
	b := r.b
	r.readFn = func(fd uintptr) bool {
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.in[0])), udpBatch, unix.MSG_DONTWAIT, 0, 0)
		if e == unix.EAGAIN || e == unix.EINTR {
			return false // wait in the poller until readable
		}
		r.n, r.errno = int(n), e
		return true
	}
	r.writeFn = func(fd uintptr) bool {
		n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.out[r.sendFrom])), uintptr(r.sendN), unix.MSG_DONTWAIT, 0, 0)
		if e == unix.EAGAIN || e == unix.EINTR {
			return false
		}
		r.n, r.errno = int(n), e
		return true
	}
	return r, nil
}

// recv fills up to udpBatch slots, waiting in the poller while the socket is empty.
func (r *batchReader) recv() (int, error) {
	r.b.prepare()
	if err := r.rc.Read(r.readFn); err != nil {
		return 0, err
	}
	if r.errno != 0 {
		return 0, r.errno
	}
	r.b.used = max(r.n, 1)
	return r.n, nil
}

// send writes the first n prepared replies, retrying the rest after a partial send.
func (r *batchReader) send(n int) error {
	for sent := 0; sent < n; {
		r.sendFrom, r.sendN = sent, n-sent
		if err := r.rc.Write(r.writeFn); err != nil {
			return err
		}
		k := r.n
		if r.errno != 0 {
			// The first unsent reply failed (a bad destination): skip it alone.
			k = 1
		}
		sent += max(k, 1)
	}
	return nil
}

func (r *batchReader) close() error { return r.c.Close() }

func (r *batchReader) serve() {
	s := r.t.h.Session(false)
	explicitSource := wildcard(r.c)
	wait := func(_ int, pkt []byte, from netip.AddrPort, src []byte) {
		later(s, pkt, from, connSender(r.c, from, src))
	}
	for {
		n, err := r.recv()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if m := r.b.answer(s, n, explicitSource, wait); m > 0 {
			if err := r.send(m); err != nil && errors.Is(err, net.ErrClosed) {
				return
			}
		}
	}
}

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
