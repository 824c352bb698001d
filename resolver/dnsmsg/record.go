package dnsmsg

import (
	"fmt"
	"net/netip"

	"github.com/miekg/dns"
)

// Record types srvbridge builds.
const (
	TypeA     = dns.TypeA
	TypeNS    = dns.TypeNS
	TypeSOA   = dns.TypeSOA
	TypePTR   = dns.TypePTR
	TypeTXT   = dns.TypeTXT
	TypeAAAA  = dns.TypeAAAA
	TypeSRV   = dns.TypeSRV
	TypeOPT   = dns.TypeOPT
	TypeANY   = dns.TypeANY
	TypeAXFR  = dns.TypeAXFR
	TypeIXFR  = dns.TypeIXFR
	TypeCNAME = dns.TypeCNAME
)

// Rcodes srvbridge sends.
const (
	RcodeSuccess  = dns.RcodeSuccess
	RcodeFormErr  = dns.RcodeFormatError
	RcodeServFail = dns.RcodeServerFailure
	RcodeNXDomain = dns.RcodeNameError
	RcodeNotImp   = dns.RcodeNotImplemented
	RcodeRefused  = dns.RcodeRefused
	RcodeBadVers  = dns.RcodeBadVers
)

// Record is one resource record in srvbridge's terms.
type Record struct {
	Type uint16
	Name string // owner, fully qualified
	TTL  uint32

	IP netip.Addr // A, AAAA

	Priority, Weight, Port uint16 // SRV
	Target                 string // SRV target, NS host, PTR name, CNAME

	Text []string // TXT

	SOA *SOA
}

// SOA holds the fields of a start-of-authority record.
type SOA struct {
	MName, RName                   string
	Serial, Refresh, Retry, Expire uint32
	MinTTL                         uint32
}

func (r *Record) rr() (dns.RR, error) {
	h := dns.RR_Header{Name: r.Name, Rrtype: r.Type, Class: dns.ClassINET, Ttl: r.TTL}
	switch r.Type {
	case dns.TypeA:
		if !r.IP.Is4() {
			return nil, fmt.Errorf("record %s: A needs IPv4, not %v", r.Name, r.IP)
		}
		ip := r.IP.As4()
		return &dns.A{Hdr: h, A: ip[:]}, nil
	case dns.TypeAAAA:
		if !r.IP.Is6() || r.IP.Is4In6() {
			return nil, fmt.Errorf("record %s: AAAA needs IPv6, not %v", r.Name, r.IP)
		}
		ip := r.IP.As16()
		return &dns.AAAA{Hdr: h, AAAA: ip[:]}, nil
	case dns.TypeSRV:
		return &dns.SRV{Hdr: h, Priority: r.Priority, Weight: r.Weight, Port: r.Port, Target: r.Target}, nil
	case dns.TypeNS:
		return &dns.NS{Hdr: h, Ns: r.Target}, nil
	case dns.TypePTR:
		return &dns.PTR{Hdr: h, Ptr: r.Target}, nil
	case dns.TypeCNAME:
		return &dns.CNAME{Hdr: h, Target: r.Target}, nil
	case dns.TypeTXT:
		return &dns.TXT{Hdr: h, Txt: r.Text}, nil
	case dns.TypeSOA:
		if r.SOA == nil {
			return nil, fmt.Errorf("record %s: SOA without fields", r.Name)
		}
		s := r.SOA
		return &dns.SOA{Hdr: h, Ns: s.MName, Mbox: s.RName, Serial: s.Serial, Refresh: s.Refresh,
			Retry: s.Retry, Expire: s.Expire, Minttl: s.MinTTL}, nil
	}
	return nil, fmt.Errorf("record %s: unsupported type %d", r.Name, r.Type)
}

// TypeString names a record type for metrics and logs.
func TypeString(t uint16) string {
	if s, ok := dns.TypeToString[t]; ok {
		return s
	}
	return "OTHER"
}

// RcodeString names an rcode for metrics and logs.
func RcodeString(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return "OTHER"
}
