package forward

import (
	"encoding/binary"
	"errors"

	"github.com/srvbridge/srvbridge/resolver/wire"
)

// The forwarder reads and patches messages in wire form itself: it needs only the
// header, the question, and where each TTL sits, and passing the upstream's bytes
// through untouched is what "responses passed through" means. The layout and its
// numbers come from resolver/wire; miekg/dns stays inside resolver/dnsmsg
// (docs/architecture.md), and nothing here needs it.

var (
	errShort     = errors.New("message shorter than a header")
	errQuestion  = errors.New("not exactly one well-formed question")
	errMalformed = errors.New("malformed record in reply")
)

// question is a client's query, parsed once. name is the question name in wire form,
// lower-cased: the cache key and the stub-zone match use it.
type question struct {
	id     uint16
	flags  uint16
	end    int // offset just past the question
	name   []byte
	qtype  uint16
	qclass uint16
	edns   bool
	do     bool // DNSSEC OK: the client wants signatures
	// udpSize is the largest UDP reply the query asks for: 512, or its EDNS size.
	udpSize int
}

// parseQuery reads a query the resolver has already accepted; it checks again, with
// the same reading (wire.Query), rather than trust it.
func parseQuery(pkt []byte) (question, error) {
	var q question
	var wq wire.Query
	switch wq.Parse(pkt) {
	case wire.Accept:
	case wire.Ignore:
		if len(pkt) < wire.HeaderLen {
			return q, errShort
		}
		return q, errQuestion
	default:
		return q, errQuestion
	}
	q.id, q.flags = wq.ID, wq.Flags
	q.name = lower(pkt[wire.HeaderLen : wq.QEnd-4])
	q.qtype, q.qclass = wq.QType, wq.QClass
	q.end = wq.QEnd
	q.udpSize = wire.MinUDPSize
	if wq.EDNS {
		q.edns, q.do = true, wq.EDNSDO
		q.udpSize = max(int(wq.EDNSSize), wire.MinUDPSize)
	}
	return q, nil
}

// lower returns a lower-cased copy of a wire-form name. Length bytes are below 64 and
// so never in 'A'..'Z'.
func lower(name []byte) []byte {
	out := make([]byte, len(name))
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

// matches reports whether reply answers the query pkt, whose question ends at qend:
// same ID, QR set, and the same question, the name compared without regard to case
// (upstreams may change it, RFC 4343). Anything else is a stale or spoofed datagram.
func matches(reply, pkt []byte, qend int) bool {
	if len(reply) < qend || reply[0] != pkt[0] || reply[1] != pkt[1] ||
		binary.BigEndian.Uint16(reply[2:])&wire.FlagQR == 0 || binary.BigEndian.Uint16(reply[4:]) != 1 {
		return false
	}
	nameEnd := qend - 4
	for i := wire.HeaderLen; i < nameEnd; i++ {
		a, b := reply[i], pkt[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	// Type and class exactly: their bytes may happen to look like letters.
	return string(reply[nameEnd:qend]) == string(pkt[nameEnd:qend])
}

// replyInfo is what the forwarder needs to know about an upstream reply.
type replyInfo struct {
	rcode   int
	tc      bool
	answers int
	// ttls holds the offset of every TTL field except the OPT record's (which holds
	// flags, not a TTL), so cached copies can be counted down in place.
	ttls []uint16
	// minTTL is the smallest TTL in the answer and authority sections.
	minTTL uint32
	// soa is set when the authority section holds an SOA; soaTTL and soaMin are its
	// TTL and MINIMUM field, which bound negative caching (RFC 2308 section 5).
	soa            bool
	soaTTL, soaMin uint32
	// opt is the offset of the OPT record, or -1; optLast says it ends the message.
	opt     int
	optLast bool
}

// walk reads every record of a reply whose question was already matched.
func walk(msg []byte) (replyInfo, error) {
	ri := replyInfo{opt: -1, minTTL: ^uint32(0)}
	if len(msg) < wire.HeaderLen {
		return ri, errShort
	}
	flags := binary.BigEndian.Uint16(msg[2:])
	ri.rcode = int(flags & 0xF)
	ri.tc = flags&wire.FlagTC != 0
	an := int(binary.BigEndian.Uint16(msg[6:]))
	ns := int(binary.BigEndian.Uint16(msg[8:]))
	ar := int(binary.BigEndian.Uint16(msg[10:]))
	ri.answers = an
	off := wire.HeaderLen
	for range binary.BigEndian.Uint16(msg[4:]) {
		var err error
		if off, err = skipName(msg, off); err != nil {
			return ri, err
		}
		off += 4
	}
	ri.ttls = make([]uint16, 0, an+ns+ar)
	for i := 0; i < an+ns+ar; i++ {
		start := off
		var err error
		if off, err = skipName(msg, off); err != nil {
			return ri, err
		}
		if off+10 > len(msg) {
			return ri, errMalformed
		}
		rtype := binary.BigEndian.Uint16(msg[off:])
		ttl := binary.BigEndian.Uint32(msg[off+4:])
		rdlen := int(binary.BigEndian.Uint16(msg[off+8:]))
		rdata := off + 10
		if rdata+rdlen > len(msg) {
			return ri, errMalformed
		}
		// The OPT pseudo-record: root owner, additional section (RFC 6891 6.1.1).
		// Anything else with its type is passed on as an ordinary record; stripping
		// its options by the fixed layout would cut a longer owner name in half.
		if rtype == wire.TypeOPT && msg[start] == 0 && i >= an+ns {
			ri.opt = start
			ri.optLast = i == an+ns+ar-1 && rdata+rdlen == len(msg)
		} else {
			ri.ttls = append(ri.ttls, uint16(off+4))
		}
		if i < an+ns {
			ri.minTTL = min(ri.minTTL, ttl)
		}
		if i >= an && i < an+ns && rtype == wire.TypeSOA && rdlen >= 22 {
			ri.soa = true
			ri.soaTTL = ttl
			ri.soaMin = binary.BigEndian.Uint32(msg[rdata+rdlen-4:])
		}
		off = rdata + rdlen
	}
	return ri, nil
}

// skipName steps over a possibly compressed name.
func skipName(msg []byte, off int) (int, error) {
	for {
		if off >= len(msg) {
			return 0, errMalformed
		}
		n := int(msg[off])
		switch {
		case n == 0:
			return off + 1, nil
		case n&0xC0 == 0xC0:
			if off+2 > len(msg) {
				return 0, errMalformed
			}
			return off + 2, nil
		case n&0xC0 != 0:
			return 0, errMalformed // the obsolete extended label types
		}
		off += 1 + n
	}
}

// stripOptions drops the options of a reply's OPT record when it is the last record.
// Options such as COOKIE (RFC 7873) and NSID belong to one client's exchange with the
// upstream and must not be replayed to other clients from the cache.
func stripOptions(msg []byte, ri *replyInfo) []byte {
	if ri.opt < 0 || !ri.optLast || len(msg) < ri.opt+wire.OPTLen {
		return msg
	}
	msg = msg[:ri.opt+wire.OPTLen]
	binary.BigEndian.PutUint16(msg[ri.opt+9:], 0)
	return msg
}

// present turns an upstream or cached reply into the one the client gets, in place:
// the client's ID, RD and CD bits and spelling of the question (clientQ is the query's
// header and question), RA set because this client is allowed recursion. A reply over
// UDP larger than limit becomes an empty one with TC set, so the client retries over
// TCP; a subset of the answers is never sent.
func present(reply, clientQ []byte, limit int, ri *replyInfo) []byte {
	copy(reply, clientQ[:2])
	flags := binary.BigEndian.Uint16(reply[2:])&^(wire.FlagRD|wire.FlagCD) |
		binary.BigEndian.Uint16(clientQ[2:])&(wire.FlagRD|wire.FlagCD) | wire.FlagRA
	binary.BigEndian.PutUint16(reply[2:], flags)
	copy(reply[wire.HeaderLen:], clientQ[wire.HeaderLen:])
	if len(reply) <= limit {
		return reply
	}
	out := make([]byte, 0, len(clientQ)+wire.OPTLen)
	out = append(out, reply[:4]...)
	out = binary.BigEndian.AppendUint16(out, 1)
	out = append(out, 0, 0, 0, 0, 0, 0)
	out[2] |= wire.FlagTC >> 8
	out = append(out, clientQ[wire.HeaderLen:]...)
	if ri != nil && ri.opt >= 0 && ri.optLast {
		out[11] = 1
		out = append(out, reply[ri.opt:ri.opt+wire.OPTLen]...)
		binary.BigEndian.PutUint16(out[len(out)-2:], 0)
	}
	return out
}

// errorReply answers a query with an rcode alone (no OPT: nothing is forwarded).
func errorReply(clientQ []byte, rcode int) []byte {
	out := append([]byte(nil), clientQ...)
	flags := binary.BigEndian.Uint16(out[2:])&(wire.OpcodeMask|wire.FlagRD|wire.FlagCD) | wire.FlagQR | wire.FlagRA | uint16(rcode)
	binary.BigEndian.PutUint16(out[2:], flags)
	binary.BigEndian.PutUint16(out[4:], 1)
	clear(out[6:wire.HeaderLen])
	return out
}
