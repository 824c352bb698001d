package dnsmsg

import (
	"fmt"
	"sort"

	"github.com/miekg/dns"
)

// Reply describes a whole response to be packed into a template.
type Reply struct {
	// Name is the question name as packed (lower case); the query's own spelling is
	// copied over it per query, which is safe because it has the same length.
	Name  string
	Qtype uint16
	Rcode int

	Answer     []Record
	Authority  []Record
	Additional []Record
	// GlueOf[i] is the index of the answer that Additional[i] supports, so that glue
	// never outlives its answer when answers are cut.
	GlueOf []int

	// EDNSSize, when non-zero, adds an OPT record advertising that UDP size.
	EDNSSize uint16
	// Limit is the largest message the client accepts.
	Limit int
}

// Packed is a packed reply and how it was cut to fit.
type Packed struct {
	Wire      []byte
	Truncated bool // TC is set: answers were left out
	GlueCut   int  // additional records dropped to fit
}

// Pack builds the wire form, dropping glue before answers, and setting TC only when
// answers themselves had to go. It never returns a silent subset of the answers.
func Pack(r *Reply) (Packed, error) {
	ans, err := rrs(r.Answer)
	if err != nil {
		return Packed{}, err
	}
	ns, err := rrs(r.Authority)
	if err != nil {
		return Packed{}, err
	}
	extra, err := rrs(r.Additional)
	if err != nil {
		return Packed{}, err
	}
	if len(r.GlueOf) != 0 && len(r.GlueOf) != len(extra) {
		return Packed{}, fmt.Errorf("pack %s: %d glue links for %d additional records", r.Name, len(r.GlueOf), len(extra))
	}
	m := new(dns.Msg)
	m.Response = true
	m.Authoritative = true
	m.Rcode = r.Rcode
	m.Compress = true
	m.Question = []dns.Question{{Name: r.Name, Qtype: r.Qtype, Qclass: dns.ClassINET}}
	build := func(nAns, nExtra int, withNS bool) ([]byte, error) {
		m.Answer = ans[:nAns]
		m.Ns = nil
		if withNS {
			m.Ns = ns
		}
		m.Extra = m.Extra[:0]
		for i := 0; i < nExtra; i++ {
			if len(r.GlueOf) == 0 || r.GlueOf[i] < nAns {
				m.Extra = append(m.Extra, extra[i])
			}
		}
		if r.EDNSSize != 0 {
			o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
			o.SetUDPSize(r.EDNSSize)
			m.Extra = append(m.Extra, o)
		}
		b, err := m.Pack()
		if err != nil {
			return nil, fmt.Errorf("pack %s: %w", r.Name, err)
		}
		return b, nil
	}
	full, err := build(len(ans), len(extra), true)
	if err != nil || len(full) <= r.Limit {
		return Packed{Wire: full}, err
	}
	// Drop glue from the end first: the answers stay complete.
	var packErr error
	fits := func(nAns, nExtra int) bool {
		b, err := build(nAns, nExtra, true)
		if err != nil {
			packErr = err
			return false
		}
		return len(b) <= r.Limit
	}
	if fits(len(ans), 0) {
		k := sort.Search(len(extra)+1, func(k int) bool { return !fits(len(ans), k) }) - 1
		b, err := build(len(ans), k, true)
		return Packed{Wire: b, GlueCut: len(extra) - k}, err
	}
	if packErr != nil {
		return Packed{}, packErr
	}
	// The answers do not fit: send what does, with TC so the client retries over TCP.
	n := sort.Search(len(ans)+1, func(n int) bool { return !fits(n, 0) }) - 1
	if n < 0 {
		n = 0
	}
	m.Truncated = true
	b, err := build(n, 0, false)
	if err != nil {
		return Packed{}, err
	}
	if len(b) > r.Limit {
		return Packed{}, fmt.Errorf("pack %s: even an empty reply exceeds %d bytes", r.Name, r.Limit)
	}
	return Packed{Wire: b, Truncated: true, GlueCut: len(extra)}, nil
}

func rrs(recs []Record) ([]dns.RR, error) {
	out := make([]dns.RR, 0, len(recs))
	for i := range recs {
		rr, err := recs[i].rr()
		if err != nil {
			return nil, err
		}
		out = append(out, rr)
	}
	return out, nil
}
