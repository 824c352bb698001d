package resolver

import (
	"encoding/binary"
	"errors"
)

// DNS header layout (RFC 1035 4.1.1).
const (
	headerLen = 12

	flagQR = 1 << 15
	flagAA = 1 << 10
	flagTC = 1 << 9
	flagRD = 1 << 8
	flagRA = 1 << 7
	flagCD = 1 << 4

	opcodeShift = 11
	opcodeMask  = 0xF << opcodeShift

	classIN  = 1
	classANY = 255

	maxNameLen = 255
)

var (
	errShort       = errors.New("packet shorter than a header")
	errIsResponse  = errors.New("packet is a response")
	errBadName     = errors.New("malformed question name")
	errCompression = errors.New("compression pointer in question")
	errTrailing    = errors.New("records after the question")
)

// query is a parsed request. It is reused per socket, so parsing allocates nothing:
// the lower-cased name is written into name's fixed backing array.
type query struct {
	pkt []byte

	id                                 uint16
	flags                              uint16
	qdcount, ancount, nscount, arcount uint16

	qEnd   int // offset just past the question (name, type, class)
	qtype  uint16
	qclass uint16

	// name is the question name in lower-case presentation form with a trailing dot
	// ("web.service.consul."); labels holding '.' or bytes outside printable ASCII
	// set odd, and such names take the slow path.
	name    []byte
	nameBuf [maxNameLen + 1]byte
	odd     bool

	edns     bool
	ednsSize uint16
	ednsVer  uint8
	ednsDO   bool
	ednsBad  bool // OPT present but malformed or not where it belongs

	// recursion is set by the transport when the client may use forwarding; such
	// clients see RA in every reply.
	recursion bool
}

func (q *query) opcode() int { return int(q.flags&opcodeMask) >> opcodeShift }

// parse reads header, question and an OPT record if there is one. It returns an error
// only for packets that deserve no reply or a FORMERR; odd but valid shapes are
// flagged for the slow path.
func (q *query) parse(pkt []byte) error {
	q.pkt = pkt
	q.name = q.nameBuf[:0]
	q.odd, q.edns, q.ednsBad, q.ednsDO = false, false, false, false
	q.ednsSize, q.ednsVer = 0, 0
	if len(pkt) < headerLen {
		return errShort
	}
	q.id = binary.BigEndian.Uint16(pkt[0:])
	q.flags = binary.BigEndian.Uint16(pkt[2:])
	q.qdcount = binary.BigEndian.Uint16(pkt[4:])
	q.ancount = binary.BigEndian.Uint16(pkt[6:])
	q.nscount = binary.BigEndian.Uint16(pkt[8:])
	q.arcount = binary.BigEndian.Uint16(pkt[10:])
	if q.flags&flagQR != 0 {
		return errIsResponse
	}
	if q.qdcount != 1 {
		q.qEnd = headerLen
		return nil // the caller answers FORMERR (or NOTIMP for other opcodes)
	}
	off, err := q.readName(pkt, headerLen)
	if err != nil {
		return err
	}
	if off+4 > len(pkt) {
		return errBadName
	}
	q.qtype = binary.BigEndian.Uint16(pkt[off:])
	q.qclass = binary.BigEndian.Uint16(pkt[off+2:])
	q.qEnd = off + 4
	if q.ancount != 0 || q.nscount != 0 || q.arcount > 1 {
		return errTrailing
	}
	if q.arcount == 1 {
		q.readOPT(pkt[q.qEnd:])
	}
	return nil
}

func (q *query) readName(pkt []byte, off int) (int, error) {
	for {
		if off >= len(pkt) {
			return 0, errBadName
		}
		n := int(pkt[off])
		off++
		if n == 0 {
			break
		}
		if n&0xC0 != 0 {
			return 0, errCompression
		}
		if off+n > len(pkt) || len(q.name)+n+1 > maxNameLen {
			return 0, errBadName
		}
		for _, c := range pkt[off : off+n] {
			switch {
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			case c == '.' || c <= ' ' || c >= 0x7F:
				q.odd = true
			}
			q.name = append(q.name, c)
		}
		q.name = append(q.name, '.')
		off += n
	}
	if len(q.name) == 0 {
		q.name = append(q.name, '.')
	}
	return off, nil
}

// readOPT parses the one additional record a query may carry (RFC 6891 6.1.1).
func (q *query) readOPT(rr []byte) {
	// Root owner (one zero byte), type, class, TTL, rdlength.
	if len(rr) < 11 || rr[0] != 0 || binary.BigEndian.Uint16(rr[1:]) != typeOPT {
		q.ednsBad = true
		return
	}
	rdlen := int(binary.BigEndian.Uint16(rr[9:]))
	if 11+rdlen != len(rr) {
		q.ednsBad = true
		return
	}
	q.edns = true
	q.ednsSize = binary.BigEndian.Uint16(rr[3:])
	q.ednsVer = rr[6]
	q.ednsDO = rr[7]&0x80 != 0
}

const (
	typeA     = 1
	typeNS    = 2
	typeCNAME = 5
	typeSOA   = 6
	typePTR   = 12
	typeTXT   = 16
	typeAAAA  = 28
	typeSRV   = 33
	typeOPT   = 41
	typeIXFR  = 251
	typeAXFR  = 252
	typeANY   = 255
)
