package wire

import "encoding/binary"

// Verdict is what a server does with a packet, decided from its header before the
// question is read, in the spirit of miekg/dns's MsgAcceptFunc.
type Verdict uint8

const (
	// Accept: answer it.
	Accept Verdict = iota
	// Ignore: send nothing. Runts and responses get no reply, so srvbridge never
	// amplifies garbage and two servers never bounce replies off each other.
	Ignore
	// FormErr: answer FORMERR with a header alone, so that the reply is never
	// larger than the packet that caused it.
	FormErr
	// NotImp: answer NOTIMP, echoing the question when there is one; an opcode
	// other than QUERY (NOTIFY, UPDATE) asks for something srvbridge does not do.
	NotImp
)

// AcceptQuery decides from the header alone whether a packet is a query srvbridge
// answers. Its order matters and is part of the contract: nothing for runts and
// responses; FORMERR for packets too long to be a query or with records besides
// the question and one OPT; NOTIMP for other opcodes; FORMERR for anything but one
// question.
func AcceptQuery(pkt []byte) Verdict {
	if len(pkt) < HeaderLen {
		return Ignore
	}
	flags := binary.BigEndian.Uint16(pkt[2:])
	if flags&FlagQR != 0 {
		return Ignore
	}
	if len(pkt) > MaxQueryLen {
		return FormErr
	}
	qd := binary.BigEndian.Uint16(pkt[4:])
	an := binary.BigEndian.Uint16(pkt[6:])
	ns := binary.BigEndian.Uint16(pkt[8:])
	ar := binary.BigEndian.Uint16(pkt[10:])
	if qd == 1 && (an != 0 || ns != 0 || ar > 1) {
		return FormErr
	}
	if int(flags&OpcodeMask)>>OpcodeShift != OpcodeQuery {
		return NotImp
	}
	if qd != 1 {
		return FormErr
	}
	return Accept
}

// Query is a parsed query. It is meant to be reused: parsing writes the lower-cased
// name into the fixed array behind Name, so Parse allocates nothing.
type Query struct {
	Pkt []byte // the packet parsed; the transport's buffer, not a copy

	ID      uint16
	Flags   uint16
	QDCount uint16

	// QEnd is the offset just past the question (name, type, class), or HeaderLen
	// when there is no question to echo.
	QEnd   int
	QType  uint16
	QClass uint16

	// Name is the question name in lower-case presentation form with a trailing dot
	// ("web.service.consul."). A label holding a '.' or a byte outside printable
	// ASCII cannot be written that way unambiguously; it sets Odd, and such a name
	// matches nothing of srvbridge's own.
	Name    []byte
	nameBuf [MaxNameLen]byte
	Odd     bool

	EDNS     bool
	EDNSSize uint16
	EDNSVer  uint8
	EDNSDO   bool
	// EDNSBad: an additional record that is not a well-formed OPT record.
	EDNSBad bool
}

// Opcode returns the query's opcode.
func (q *Query) Opcode() int { return int(q.Flags&OpcodeMask) >> OpcodeShift }

// Parse reads a packet's header, its question and its OPT record if it has one,
// and returns the packet's verdict: AcceptQuery's, or FormErr when the question
// is malformed. On FormErr QEnd is HeaderLen, as a FORMERR carries no question.
func (q *Query) Parse(pkt []byte) Verdict {
	q.Pkt = pkt
	q.Name = q.nameBuf[:0]
	q.Odd, q.EDNS, q.EDNSBad, q.EDNSDO = false, false, false, false
	q.EDNSSize, q.EDNSVer, q.QType, q.QClass = 0, 0, 0, 0
	q.QEnd = HeaderLen
	v := AcceptQuery(pkt)
	if v == Ignore {
		return v
	}
	q.ID = binary.BigEndian.Uint16(pkt[0:])
	q.Flags = binary.BigEndian.Uint16(pkt[2:])
	q.QDCount = binary.BigEndian.Uint16(pkt[4:])
	if v == FormErr || q.QDCount != 1 {
		return v
	}
	off, ok := q.readName(pkt, HeaderLen)
	if !ok || off+4 > len(pkt) {
		q.Name = q.nameBuf[:0]
		return FormErr
	}
	q.QType = binary.BigEndian.Uint16(pkt[off:])
	q.QClass = binary.BigEndian.Uint16(pkt[off+2:])
	q.QEnd = off + 4
	if binary.BigEndian.Uint16(pkt[10:]) == 1 {
		q.readOPT(pkt[q.QEnd:])
	}
	return v
}

// readName reads an uncompressed name (a question's first name has nothing to
// point back to) into Name.
func (q *Query) readName(pkt []byte, off int) (int, bool) {
	wireLen := 1 // the root label
	for {
		if off >= len(pkt) {
			return 0, false
		}
		n := int(pkt[off])
		off++
		if n == 0 {
			break
		}
		wireLen += 1 + n
		if n > MaxLabelLen || off+n > len(pkt) || wireLen > MaxNameLen {
			return 0, false // compression pointers and extended labels included
		}
		for _, c := range pkt[off : off+n] {
			switch {
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			case c == '.' || c <= ' ' || c >= 0x7F:
				q.Odd = true
			}
			q.Name = append(q.Name, c)
		}
		q.Name = append(q.Name, '.')
		off += n
	}
	if len(q.Name) == 0 {
		q.Name = append(q.Name, '.')
	}
	return off, true
}

// readOPT reads the one additional record a query may carry (RFC 6891 6.1.1).
func (q *Query) readOPT(rr []byte) {
	if len(rr) < OPTLen || rr[0] != 0 || binary.BigEndian.Uint16(rr[1:]) != TypeOPT {
		q.EDNSBad = true
		return
	}
	if OPTLen+int(binary.BigEndian.Uint16(rr[9:])) != len(rr) {
		q.EDNSBad = true
		return
	}
	q.EDNS = true
	q.EDNSSize = binary.BigEndian.Uint16(rr[3:])
	q.EDNSVer = rr[6]
	q.EDNSDO = rr[7]&0x80 != 0
}
