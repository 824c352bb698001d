package transport

import (
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/srvbridge/srvbridge/resolver/wire"
)

// threadReader serves one UDP socket the way Knot's workers do: an OS thread
// blocks in recvmmsg on a socket kept out of Go's poller. A wake-up is then the
// kernel waking that thread and nothing else: no read that fails with EAGAIN
// first, no epoll_wait, no goroutine parked and readied by the scheduler.
//
// The goroutine is not locked to its thread (runtime.LockOSThread): a goroutine
// blocked in a system call keeps its thread anyway, and after one it goes on
// running there. Locked, each of its passes through the scheduler (yieldEvery)
// would cost two thread hand-offs: measured, 0.2 more context switches per query
// at 2000 queries/s and no less CPU (bench/results/2026-11-30-udp-reader.md).
//
// The blocking calls go through unix.Syscall6 (the runtime's entersyscall), never
// RawSyscall: while the thread waits in the kernel the runtime may hand its P to
// other goroutines, and a garbage collection does not wait for it.
type threadReader struct {
	t              *Transport
	fd             int // blocking, not in the poller
	b              *batchConn
	explicitSource bool

	stop  atomic.Bool
	state atomic.Int32 // threadIdle, then threadServing or threadClosed: who closes fd

	// mu is held shared by whoever uses fd besides serve (a deferred reply, close's
	// shutdown) and exclusively to close it, so that no one writes to a descriptor
	// number the system has since given to another file.
	mu     sync.RWMutex
	closed bool
}

// yieldEvery is how often the reader passes through the scheduler. A goroutine
// that never does looks to the runtime's monitor (sysmon) like one that has run
// for too long (10 ms on one scheduling tick): it then takes the P away at every
// blocking recvmmsg, and the reader wakes sysmon to get one back at every query.
// Each pass costs a thread wake-up of its own (Gosched wakes an idle P's thread,
// which finds nothing to do), so it stays as close under sysmon's 10 ms as the
// gap to the next datagram allows: at 2000 queries/s, 9 ms took context switches
// from 1.145 to 1.107 per query against 5 ms
// (bench/results/2026-12-01-udp-reader-yield.md).
const yieldEvery = 9 * time.Millisecond

const (
	threadIdle int32 = iota
	threadServing
	threadClosed
)

// reserveProcs makes room in the runtime for the thread readers: each one holds
// a P (a slot of GOMAXPROCS) while it blocks in recvmmsg, and when no P is left
// idle, sysmon takes the P away at every blocking call, so that the reader must
// wake sysmon for one at every query. So GOMAXPROCS is raised to one more than
// the thread readers when it is not above them already; it reports the new value,
// or 0 when it was left alone.
func reserveProcs(readers []udpReader) int {
	n := 0
	for _, r := range readers {
		if _, ok := r.(*threadReader); ok {
			n++
		}
	}
	if n == 0 || runtime.GOMAXPROCS(0) > n {
		return 0
	}
	runtime.GOMAXPROCS(n + 1)
	return n + 1
}

// newThreadReader takes c's socket over: it keeps a blocking descriptor of its
// own and closes c, which takes the socket out of the poller. The socket stays
// bound and in its SO_REUSEPORT group throughout, with every option set on it,
// and the datagrams already queued on it stay there.
func newThreadReader(t *Transport, c *net.UDPConn) (*threadReader, error) {
	explicitSource := wildcard(c)
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	if err := c.Close(); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// O_NONBLOCK belongs to the open socket, which the poller's descriptor shared;
	// that one is gone now.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &threadReader{t: t, fd: fd, b: newBatchConn(max(t.cfg.MaxUDPReply, wire.MinUDPSize)), explicitSource: explicitSource}, nil
}

func (r *threadReader) serve() {
	if !r.state.CompareAndSwap(threadIdle, threadServing) {
		return // closed before it started
	}
	defer r.closeFD()
	s := r.t.h.Session(false)
	b := r.b
	wait := func(i int, pkt []byte, from netip.AddrPort, src []byte) {
		later(s, pkt, from, r.sender(i, src))
	}
	yielded := time.Now()
	for !r.stop.Load() {
		if now := time.Now(); now.Sub(yielded) > yieldEvery {
			runtime.Gosched()
			yielded = now
		}
		b.prepare()
		// MSG_WAITFORONE: block for the first datagram only, then take what is queued.
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(r.fd), uintptr(unsafe.Pointer(&b.in[0])), udpBatch, unix.MSG_WAITFORONE, 0, 0)
		if e != 0 {
			continue // EINTR, or an error of one datagram
		}
		b.used = max(int(n), 1)
		if r.stop.Load() {
			// After shutdown(SHUT_RD) recvmmsg fills the rest of the batch with empty
			// reads: answer only what was queued before them.
			k := 0
			for k < int(n) && b.in[k].n > 0 {
				k++
			}
			n = uintptr(k)
		}
		if m := b.answer(s, int(n), r.explicitSource, wait); m > 0 {
			r.send(m)
		}
	}
}

// send writes the first n replies of the batch: sendmmsg on a blocking socket
// returns once all are queued, or early on the first that fails, which is skipped.
func (r *threadReader) send(n int) {
	for sent := 0; sent < n; {
		k, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(r.fd), uintptr(unsafe.Pointer(&r.b.out[sent])), uintptr(n-sent), 0, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			k = 1
		}
		sent += max(int(k), 1)
	}
}

// sender returns the send function for a deferred query in slot i: it keeps
// copies of the sender's address and the source control message, since the batch
// is reused, and writes the reply with sendmsg from whichever goroutine calls it.
func (r *threadReader) sender(i int, src []byte) func(reply []byte) {
	to, namelen := r.b.from[i], r.b.in[i].hdr.Namelen
	src = append([]byte(nil), src...)
	return func(reply []byte) {
		if len(reply) == 0 {
			return
		}
		var iov unix.Iovec
		iov.Base = &reply[0]
		iov.SetLen(len(reply))
		msg := unix.Msghdr{Name: (*byte)(unsafe.Pointer(&to)), Namelen: namelen, Iov: &iov}
		msg.SetIovlen(1)
		if len(src) > 0 {
			msg.Control = &src[0]
			msg.SetControllen(len(src))
		}
		r.mu.RLock()
		defer r.mu.RUnlock()
		if !r.closed {
			unix.Syscall(unix.SYS_SENDMSG, uintptr(r.fd), uintptr(unsafe.Pointer(&msg)), 0)
		}
	}
}

// close stops serve after the batch in hand. shutdown(SHUT_RD) wakes a thread
// blocked in recvmmsg: on an unconnected UDP socket it fails with ENOTCONN but
// marks the socket shut and wakes its readers all the same (TestShutdownIdle hangs
// without it).
func (r *threadReader) close() error {
	r.stop.Store(true)
	r.mu.RLock()
	if !r.closed {
		unix.Shutdown(r.fd, unix.SHUT_RD)
	}
	r.mu.RUnlock()
	if r.state.CompareAndSwap(threadIdle, threadClosed) {
		r.closeFD()
	}
	return nil
}

func (r *threadReader) closeFD() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed = true
		unix.Close(r.fd)
	}
}
