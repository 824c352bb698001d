package dnsmsg

import (
	"fmt"
	"net/netip"

	"github.com/miekg/dns"
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
