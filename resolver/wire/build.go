package wire

import "encoding/binary"

// AppendHeader appends a message header.
func AppendHeader(out []byte, id, flags, qd, an, ns, ar uint16) []byte {
	out = binary.BigEndian.AppendUint16(out, id)
	out = binary.BigEndian.AppendUint16(out, flags)
	out = binary.BigEndian.AppendUint16(out, qd)
	out = binary.BigEndian.AppendUint16(out, an)
	out = binary.BigEndian.AppendUint16(out, ns)
	return binary.BigEndian.AppendUint16(out, ar)
}

// AppendOPT appends an OPT record without options advertising udpSize. extRcode
// is a whole extended rcode (BADVERS); its upper eight bits go here.
func AppendOPT(out []byte, udpSize uint16, extRcode int) []byte {
	out = append(out, 0) // root owner
	out = binary.BigEndian.AppendUint16(out, TypeOPT)
	out = binary.BigEndian.AppendUint16(out, udpSize)
	out = append(out, byte(extRcode>>4), 0, 0, 0) // extended rcode, version 0, no flags
	return binary.BigEndian.AppendUint16(out, 0)
}

// SOA timers as Consul sets them by default.
const (
	SOARefresh = 3600
	SOARetry   = 600
	SOAExpire  = 86400
)

// SOA is the zone's start of authority, the same for every answer: every negative
// answer carries it (RFC 2308), and the apex answers it for itself.
type SOA struct {
	Serial uint32
	// TTL is the record's TTL and its MINIMUM field alike: the negative TTL.
	TTL uint32
}

// The first label of the SOA's MNAME and RNAME; the zone follows as a pointer.
const (
	soaMName = "\x02ns"
	soaRName = "\x0ahostmaster"
)

// Append appends the SOA record of the zone whose name sits at offset zone of the
// message being built: its owner is a pointer there, and its MNAME and RNAME are
// ns.<zone> and hostmaster.<zone> pointing there too. Nothing is spelled out, so the
// record has the same size for every zone and needs no compression table.
func (s SOA) Append(out []byte, zone int) []byte {
	ptr := uint16(0xC000 | zone)
	out = binary.BigEndian.AppendUint16(out, ptr)
	out = binary.BigEndian.AppendUint16(out, TypeSOA)
	out = binary.BigEndian.AppendUint16(out, ClassIN)
	out = binary.BigEndian.AppendUint32(out, s.TTL)
	out = binary.BigEndian.AppendUint16(out, uint16(len(soaMName)+2+len(soaRName)+2+20))
	out = append(out, soaMName...)
	out = binary.BigEndian.AppendUint16(out, ptr)
	out = append(out, soaRName...)
	out = binary.BigEndian.AppendUint16(out, ptr)
	out = binary.BigEndian.AppendUint32(out, s.Serial)
	out = binary.BigEndian.AppendUint32(out, SOARefresh)
	out = binary.BigEndian.AppendUint32(out, SOARetry)
	out = binary.BigEndian.AppendUint32(out, SOAExpire)
	return binary.BigEndian.AppendUint32(out, s.TTL)
}
