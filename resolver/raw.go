package resolver

import (
	"encoding/binary"

	"github.com/srvbridge/srvbridge/resolver/wire"
)

// Replies built byte by byte on the query path, for answers that cannot be
// pre-compiled per name (names are unbounded) yet must stay allocation-free.

// appendHeader starts a reply to q: same ID, opcode, RD and CD; QR set, and AA when
// aa says the reply is an answer from our zone. The question is echoed when there
// was exactly one.
func appendHeader(out []byte, q *query, rcode int, aa bool, an, ns, ar uint16) []byte {
	flags := replyFlags(q, rcode, aa)
	qd := uint16(0)
	if q.QDCount == 1 && q.QEnd > wire.HeaderLen {
		qd = 1
	}
	out = wire.AppendHeader(out[:0], q.ID, flags, qd, an, ns, ar)
	if qd == 1 {
		out = append(out, q.Pkt[wire.HeaderLen:q.QEnd]...)
	}
	return out
}

// replyFlags is the header flags word of a reply to q. AA only marks answers from
// our zone (NOERROR, NXDOMAIN, NODATA): an error says nothing authoritative. RD, CD
// and RA belong to QUERY (RFC 1035 4.1.1, RFC 6895 2): a NOTIMP for another opcode
// echoes the opcode alone, as ISC's EDNS compliance tester (genreport, tests
// "opcode" and "opcodeflg") and BIND expect.
func replyFlags(q *query, rcode int, aa bool) uint16 {
	flags := wire.FlagQR | q.Flags&wire.OpcodeMask | uint16(rcode&wire.RcodeMask)
	if q.Opcode() != wire.OpcodeQuery {
		return flags
	}
	flags |= q.Flags & (wire.FlagRD | wire.FlagCD)
	if aa {
		flags |= wire.FlagAA
	}
	if q.recursion {
		flags |= wire.FlagRA
	}
	return flags
}

// appendOPT adds our OPT record when the query had one. rcode carries the upper
// eight bits of an extended rcode (BADVERS).
func (s *Server) appendOPT(out []byte, q *query, extRcode int) []byte {
	if !q.EDNS && extRcode == 0 {
		return out
	}
	return wire.AppendOPT(out, s.cfg.MaxUDPSize, extRcode)
}

func (q *query) arcountForOPT() uint16 {
	if q.EDNS {
		return 1
	}
	return 0
}

// errorReply answers with an rcode and nothing else, without AA.
func (s *Server) errorReply(out []byte, q *query, rcode int) []byte {
	out = appendHeader(out, q, rcode, false, 0, 0, q.arcountForOPT())
	return s.appendOPT(out, q, 0)
}

// negative is NXDOMAIN or NODATA with the zone's SOA in the authority section (RFC
// 2308). Every name in the SOA points at the zone suffix inside the question.
func (s *Server) negative(out []byte, q *query, p *parsed, rcode int) []byte {
	out = appendHeader(out, q, rcode, true, 0, 1, q.arcountForOPT())
	out = s.comp.soa.Append(out, wire.HeaderLen+p.apexOff)
	return s.appendOPT(out, q, 0)
}

// addrAnswer is the one record a <hex>.addr name stands for.
func (s *Server) addrAnswer(out []byte, q *query, ip []byte) []byte {
	out = appendHeader(out, q, 0, true, 1, 0, q.arcountForOPT())
	out = binary.BigEndian.AppendUint16(out, 0xC000|wire.HeaderLen)
	t := uint16(wire.TypeA)
	if len(ip) == 16 {
		t = wire.TypeAAAA
	}
	out = binary.BigEndian.AppendUint16(out, t)
	out = binary.BigEndian.AppendUint16(out, wire.ClassIN)
	out = binary.BigEndian.AppendUint32(out, s.cfg.TTL)
	out = binary.BigEndian.AppendUint16(out, uint16(len(ip)))
	out = append(out, ip...)
	return s.appendOPT(out, q, 0)
}

// fromTemplate copies a compiled reply and patches in what belongs to this query:
// its ID, its RD and CD bits, and its spelling of the question name.
func fromTemplate(out []byte, tpl []byte, q *query) []byte {
	out = append(out[:0], tpl...)
	binary.BigEndian.PutUint16(out, q.ID)
	flags := binary.BigEndian.Uint16(out[2:]) | q.Flags&(wire.FlagRD|wire.FlagCD)
	if q.recursion {
		flags |= wire.FlagRA
	}
	binary.BigEndian.PutUint16(out[2:], flags)
	copy(out[wire.HeaderLen:q.QEnd], q.Pkt[wire.HeaderLen:q.QEnd])
	return out
}
