package upstreamtest

import (
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// Zone is the test zone, example.test., as zone-file lines. Names outside it get
// NXDOMAIN with the root's SOA, as a recursive resolver would give for a name under a
// top-level domain that does not exist (such as search-suffixed junk under
// cluster.local.).
var Zone = append([]string{
	"example.test. 300 IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 60",
	"example.test. 300 IN NS ns.example.test.",
	"example.test. 300 IN MX 10 mail.example.test.",
	"ns.example.test. 300 IN A 192.0.2.1",
	"mail.example.test. 300 IN A 192.0.2.25",
	"db.example.test. 300 IN A 192.0.2.10",
	"db.example.test. 300 IN AAAA 2001:db8::10",
	"_pg._tcp.example.test. 300 IN SRV 0 5 5432 db.example.test.",
	`txt.example.test. 300 IN TXT "v=spf1 -all" "hello world"`,
	"www.example.test. 300 IN CNAME web.example.test.",
	"web.example.test. 300 IN CNAME lb.example.test.",
	"lb.example.test. 300 IN A 192.0.2.20",
	// tc: this server answers it with TC over UDP whatever the size, as a server with
	// a small UDP limit would; the whole answer comes over TCP.
	"tc.example.test. 300 IN A 192.0.2.31",
	"tc.example.test. 300 IN A 192.0.2.32",
	"tc.example.test. 300 IN A 192.0.2.33",
	// short: a one-second TTL, for expiry and serve-stale.
	"short.example.test. 1 IN A 192.0.2.40",
}, bigTXT()...)

// bigTXT is a TXT set of about 3 KB: too large for any UDP reply srvbridge sends.
func bigTXT() []string {
	var out []string
	for i := range 40 {
		out = append(out, fmt.Sprintf(`big.example.test. 300 IN TXT "%02d %s"`, i, strings.Repeat("x", 60)))
	}
	return out
}

const zoneName = "example.test."

var (
	records = mustParse(Zone)
	rootSOA = mustParse([]string{". 60 IN SOA a.root-servers.net. nstld.verisign-grs.com. 1 1800 900 604800 60"})[0]
)

func mustParse(lines []string) []dns.RR {
	out := make([]dns.RR, len(lines))
	for i, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			panic(fmt.Sprintf("upstreamtest: %q: %v", l, err))
		}
		out[i] = rr
	}
	return out
}

// answer is the authoritative answer to r from the zone: data (following CNAMEs
// within the zone), NODATA or NXDOMAIN with the SOA.
func answer(r *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	if len(r.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		return m
	}
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	if !dns.IsSubDomain(zoneName, name) {
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{dns.Copy(rootSOA)}
		return m
	}
	m.Authoritative = true
	if o := r.IsEdns0(); o != nil {
		m.SetEdns0(4096, o.Do())
	}
	for hops := 0; hops < 8; hops++ {
		var cname dns.RR
		exists, found := false, false
		for _, rr := range records {
			h := rr.Header()
			if !strings.EqualFold(h.Name, name) {
				continue
			}
			exists = true
			switch {
			case h.Rrtype == q.Qtype || q.Qtype == dns.TypeANY:
				m.Answer = append(m.Answer, ownedBy(rr, q.Name, name))
				found = true
			case h.Rrtype == dns.TypeCNAME:
				cname = rr
			}
		}
		if !found && cname != nil {
			m.Answer = append(m.Answer, ownedBy(cname, q.Name, name))
			name = cname.(*dns.CNAME).Target
			continue
		}
		if !found {
			if !exists {
				m.Rcode = dns.RcodeNameError
			}
			m.Ns = []dns.RR{dns.Copy(records[0])}
		}
		return m
	}
	return m
}

// ownedBy copies rr; the record for the question name itself is owned by the name as
// the client spelled it, as servers do by compressing it to the question.
func ownedBy(rr dns.RR, qname, name string) dns.RR {
	c := dns.Copy(rr)
	if strings.EqualFold(name, qname) {
		c.Header().Name = qname
	}
	return c
}

// truncate fits a UDP reply to what the query allows (512 bytes, or its EDNS size),
// setting TC when records had to go; tc.example.test. is always truncated.
func truncate(m, r *dns.Msg) {
	size := dns.MinMsgSize
	if o := r.IsEdns0(); o != nil {
		size = max(int(o.UDPSize()), dns.MinMsgSize)
	}
	if strings.EqualFold(r.Question[0].Name, "tc.example.test.") {
		m.Answer = nil
		m.Truncated = true
		return
	}
	m.Truncate(size)
}
