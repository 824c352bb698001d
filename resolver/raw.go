package resolver

import "encoding/binary"

// Replies built byte by byte on the query path, for answers that cannot be
// pre-compiled per name (names are unbounded) yet must stay allocation-free.

// appendHeader starts a reply to q: same ID, opcode, RD and CD; QR and AA set. The
// question is echoed when there was exactly one.
func appendHeader(out []byte, q *query, rcode int, an, ns, ar uint16) []byte {
	flags := flagQR | flagAA | q.flags&(opcodeMask|flagRD|flagCD) | uint16(rcode&0xF)
	if q.recursion {
		flags |= flagRA
	}
	qd := uint16(0)
	if q.qdcount == 1 && q.qEnd > headerLen {
		qd = 1
	}
	out = binary.BigEndian.AppendUint16(out[:0], q.id)
	out = binary.BigEndian.AppendUint16(out, flags)
	out = binary.BigEndian.AppendUint16(out, qd)
	out = binary.BigEndian.AppendUint16(out, an)
	out = binary.BigEndian.AppendUint16(out, ns)
	out = binary.BigEndian.AppendUint16(out, ar)
	if qd == 1 {
		out = append(out, q.pkt[headerLen:q.qEnd]...)
	}
	return out
}

// appendOPT adds our OPT record when the query had one. rcode carries the upper
// eight bits of an extended rcode (BADVERS).
func (s *Server) appendOPT(out []byte, q *query, extRcode int) []byte {
	if !q.edns && extRcode == 0 {
		return out
	}
	out = append(out, 0) // root owner
	out = binary.BigEndian.AppendUint16(out, typeOPT)
	out = binary.BigEndian.AppendUint16(out, s.cfg.MaxUDPSize)
	out = append(out, byte(extRcode>>4), 0, 0, 0) // ext-rcode, version 0, no flags
	return binary.BigEndian.AppendUint16(out, 0)
}

func (q *query) arcountForOPT() uint16 {
	if q.edns {
		return 1
	}
	return 0
}

// errorReply answers with an rcode and nothing else.
func (s *Server) errorReply(out []byte, q *query, rcode int) []byte {
	out = appendHeader(out, q, rcode, 0, 0, q.arcountForOPT())
	return s.appendOPT(out, q, 0)
}

// negative is NXDOMAIN or NODATA with the zone's SOA in the authority section (RFC
// 2308). Every name in the SOA points at the zone suffix inside the question.
func (s *Server) negative(out []byte, q *query, p *parsed, rcode int) []byte {
	out = appendHeader(out, q, rcode, 0, 1, q.arcountForOPT())
	apex := uint16(0xC000 | (headerLen + p.apexOff))
	out = binary.BigEndian.AppendUint16(out, apex)
	out = binary.BigEndian.AppendUint16(out, typeSOA)
	out = binary.BigEndian.AppendUint16(out, classIN)
	out = binary.BigEndian.AppendUint32(out, s.cfg.NegativeTTL)
	out = binary.BigEndian.AppendUint16(out, uint16(len(soaMName)+2+len(soaRName)+2+20))
	out = append(out, soaMName...)
	out = binary.BigEndian.AppendUint16(out, apex)
	out = append(out, soaRName...)
	out = binary.BigEndian.AppendUint16(out, apex)
	out = binary.BigEndian.AppendUint32(out, s.comp.serial)
	out = binary.BigEndian.AppendUint32(out, soaRefresh)
	out = binary.BigEndian.AppendUint32(out, soaRetry)
	out = binary.BigEndian.AppendUint32(out, soaExpire)
	out = binary.BigEndian.AppendUint32(out, s.cfg.NegativeTTL)
	return s.appendOPT(out, q, 0)
}

// The SOA's first label of mname and rname; the zone follows as a pointer.
var (
	soaMName = []byte("\x02ns")
	soaRName = []byte("\x0ahostmaster")
)

// addrAnswer is the one record a <hex>.addr name stands for.
func (s *Server) addrAnswer(out []byte, q *query, ip []byte) []byte {
	out = appendHeader(out, q, 0, 1, 0, q.arcountForOPT())
	out = binary.BigEndian.AppendUint16(out, 0xC000|headerLen)
	t := uint16(typeA)
	if len(ip) == 16 {
		t = typeAAAA
	}
	out = binary.BigEndian.AppendUint16(out, t)
	out = binary.BigEndian.AppendUint16(out, classIN)
	out = binary.BigEndian.AppendUint32(out, s.cfg.TTL)
	out = binary.BigEndian.AppendUint16(out, uint16(len(ip)))
	out = append(out, ip...)
	return s.appendOPT(out, q, 0)
}

// fromTemplate copies a compiled reply and patches in what belongs to this query:
// its ID, its RD and CD bits, and its spelling of the question name.
func fromTemplate(out []byte, tpl []byte, q *query) []byte {
	out = append(out[:0], tpl...)
	binary.BigEndian.PutUint16(out, q.id)
	flags := binary.BigEndian.Uint16(out[2:]) | q.flags&(flagRD|flagCD)
	if q.recursion {
		flags |= flagRA
	}
	binary.BigEndian.PutUint16(out[2:], flags)
	copy(out[headerLen:q.qEnd], q.pkt[headerLen:q.qEnd])
	return out
}
