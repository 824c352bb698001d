// Package wire is srvbridge's knowledge of the DNS message format in one place: the
// header layout, the type, class, rcode and opcode numbers, reading a query's
// question without allocating, deciding which packets deserve no answer, the
// names srvbridge accepts in its configuration, and the SOA record every negative
// answer carries. The resolver, its forwarder and its packer all use it; none of
// them spells a wire constant of its own.
//
// It has no dependencies: miekg/dns stays inside resolver/dnsmsg.
package wire

// Header layout (RFC 1035 section 4.1.1).
const (
	HeaderLen = 12

	FlagQR = 1 << 15
	FlagAA = 1 << 10
	FlagTC = 1 << 9
	FlagRD = 1 << 8
	FlagRA = 1 << 7
	FlagCD = 1 << 4

	OpcodeShift = 11
	OpcodeMask  = 0xF << OpcodeShift
	RcodeMask   = 0xF
)

// Opcodes (RFC 1035 section 4.1.1, RFC 1996, RFC 2136). srvbridge answers QUERY only.
const (
	OpcodeQuery  = 0
	OpcodeNotify = 4
	OpcodeUpdate = 5
)

// Classes.
const (
	ClassIN  = 1
	ClassCH  = 3
	ClassANY = 255
)

// Record types srvbridge reads or writes.
const (
	TypeA     = 1
	TypeNS    = 2
	TypeCNAME = 5
	TypeSOA   = 6
	TypePTR   = 12
	TypeTXT   = 16
	TypeAAAA  = 28
	TypeSRV   = 33
	TypeOPT   = 41
	TypeIXFR  = 251
	TypeAXFR  = 252
	TypeANY   = 255
)

// Rcodes. BADVERS is an extended rcode (RFC 6891 section 6.1.3): its upper eight
// bits travel in the OPT record, its lower four in the header.
const (
	RcodeSuccess  = 0
	RcodeFormErr  = 1
	RcodeServFail = 2
	RcodeNXDomain = 3
	RcodeNotImp   = 4
	RcodeRefused  = 5
	RcodeBadVers  = 16
)

// Sizes.
const (
	// MaxNameLen is the longest name in wire form, length bytes and root included
	// (RFC 1035 section 2.3.4); MaxLabelLen the longest label.
	MaxNameLen  = 255
	MaxLabelLen = 63
	// MinUDPSize is what every client takes over UDP (RFC 1035 section 4.2.1), and
	// the least an EDNS client may advertise (RFC 6891 section 6.2.5).
	MinUDPSize = 512
	// MaxMsgLen is the largest message: TCP's two-byte length prefix bounds it.
	MaxMsgLen = 65535
	// MaxQueryLen bounds a query. A real one is a header, a name of at most 255
	// bytes and an OPT record with a few options (cookies, padding): well under
	// this. Anything longer is refused with FORMERR before it is parsed.
	MaxQueryLen = 4096
	// OPTLen is an OPT record without options: root owner, type, class (the UDP
	// size), TTL (extended rcode, version, flags), rdlength.
	OPTLen = 11
)
