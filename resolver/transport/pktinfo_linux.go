package transport

import (
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Ancillary data for replying from the address a query was sent to, read and
// written by hand so the per-packet path allocates nothing.

const (
	cmsgHdrLen = int(unsafe.Sizeof(unix.Cmsghdr{}))
	oobLen     = 64 // room for one in6_pktinfo control message, the larger of the two
)

// replySource turns the control messages of a received datagram into the control
// message that sends the reply from the same destination address. It writes into
// dst (oobLen bytes) and returns the used part, or nil when none was found.
func replySource(oob, dst []byte) []byte {
	for len(oob) >= cmsgHdrLen {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < cmsgHdrLen || l > len(oob) {
			return nil
		}
		data := oob[cmsgHdrLen:l]
		switch {
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= 12:
			// struct in_pktinfo { int ifindex; in_addr spec_dst; in_addr addr; }:
			// send from addr (where the query went), let routing pick the interface.
			var pi [12]byte
			copy(pi[8:], data[8:12])
			copy(pi[4:8], data[8:12])
			return putCmsg(dst, unix.IPPROTO_IP, unix.IP_PKTINFO, pi[:])
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= 20:
			// struct in6_pktinfo { in6_addr addr; unsigned ifindex; }
			var pi [20]byte
			copy(pi[:16], data[:16])
			binary.NativeEndian.PutUint32(pi[16:], binary.NativeEndian.Uint32(data[16:20]))
			return putCmsg(dst, unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, pi[:])
		}
		oob = oob[unix.CmsgSpace(l-cmsgHdrLen):]
	}
	return nil
}

func putCmsg(dst []byte, level, typ int32, data []byte) []byte {
	n := unix.CmsgSpace(len(data))
	if n > len(dst) {
		return nil
	}
	b := dst[:n]
	clear(b)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[cmsgHdrLen:], data)
	return b
}
