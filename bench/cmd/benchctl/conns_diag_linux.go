//go:build linux

package main

import (
	"encoding/binary"
	"fmt"
	"syscall"
)

// establishedTCP lists this network namespace's ESTABLISHED TCP sockets through
// netlink sock_diag, as ss does. Reading /proc/net/tcp and tcp6 instead walks the
// kernel's whole established hash table (262,144 buckets here) in small chunks: 9.6 ms
// of kernel CPU per sample on this machine, ten samples a second, on the two cores
// the DNS server under test shares. That showed in the server's p99: with conns
// sampling, 1.5-2.2 ms under the catalog load; without, 0.6-0.9 ms. The dump costs
// under a millisecond.
func establishedTCP() ([]tcpEntry, error) {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, syscall.NETLINK_INET_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sock_diag socket: %w", err)
	}
	defer syscall.Close(fd)
	var all []tcpEntry
	buf := make([]byte, 1<<16)
	for i, family := range []uint8{syscall.AF_INET, syscall.AF_INET6} {
		if err := diagRequest(fd, family, uint32(i+1)); err != nil {
			return nil, err
		}
		entries, err := diagReplies(fd, buf)
		if err != nil {
			return nil, err
		}
		all = append(all, entries...)
	}
	return all, nil
}

const (
	sockDiagByFamily = 20 // SOCK_DIAG_BY_FAMILY
	tcpEstablished   = 1  // TCP_ESTABLISHED
	diagReqLen       = 56 // struct inet_diag_req_v2
	diagMsgInode     = 68 // offset of idiag_inode in struct inet_diag_msg
)

// diagRequest asks for a dump of family's ESTABLISHED TCP sockets.
func diagRequest(fd int, family uint8, seq uint32) error {
	req := make([]byte, syscall.NLMSG_HDRLEN+diagReqLen)
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], sockDiagByFamily)
	binary.NativeEndian.PutUint16(req[6:], syscall.NLM_F_REQUEST|syscall.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:], seq)
	r := req[syscall.NLMSG_HDRLEN:]
	r[0], r[1] = family, syscall.IPPROTO_TCP
	binary.NativeEndian.PutUint32(r[4:], 1<<tcpEstablished)
	if err := syscall.Sendto(fd, req, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return fmt.Errorf("sock_diag request: %w", err)
	}
	return nil
}

// diagReplies reads one dump: each struct inet_diag_msg gives the ports (network
// order, at 4 and 6) and the inode.
func diagReplies(fd int, buf []byte) ([]tcpEntry, error) {
	var out []tcpEntry
	for {
		n, _, err := syscall.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, fmt.Errorf("sock_diag reply: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, fmt.Errorf("sock_diag reply: %w", err)
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case syscall.NLMSG_DONE:
				return out, nil
			case syscall.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if errno := -int32(binary.NativeEndian.Uint32(m.Data)); errno != 0 {
						return nil, fmt.Errorf("sock_diag: %w", syscall.Errno(errno))
					}
				}
				return out, nil
			case sockDiagByFamily:
				d := m.Data
				if len(d) < diagMsgInode+4 {
					continue
				}
				out = append(out, tcpEntry{
					LocalPort:  int(binary.BigEndian.Uint16(d[4:])),
					RemotePort: int(binary.BigEndian.Uint16(d[6:])),
					State:      "01",
					Inode:      uint64(binary.NativeEndian.Uint32(d[diagMsgInode:])),
				})
			}
		}
	}
}
