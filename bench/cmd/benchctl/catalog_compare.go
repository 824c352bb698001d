package main

// Two srvbridge replicas against one agent must give the same answers: ask both for
// every name of the catalog (A and SRV) and compare the replies record by record.
// Also: time until a srvbridge's /readyz answers 200.

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// answerKey is a reply in a form two servers' replies can be compared by: the rcode and
// the sorted records of all sections, TTLs set to 0 (two caches may count down from
// different moments) and the ID and question left out.
func answerKey(r *dns.Msg) string {
	var rrs []string
	for _, sec := range [][]dns.RR{r.Answer, r.Ns, r.Extra} {
		for _, rr := range sec {
			if rr.Header().Rrtype == dns.TypeOPT {
				continue
			}
			c := dns.Copy(rr)
			c.Header().Ttl = 0
			rrs = append(rrs, c.String())
		}
	}
	slices.Sort(rrs)
	tc := ""
	if r.Truncated {
		tc = " TC"
	}
	return dns.RcodeToString[r.Rcode] + tc + "\n" + strings.Join(rrs, "\n")
}

// compareResult is what catalog-compare writes.
type compareResult struct {
	Names     int            `json:"names"`
	Questions int            `json:"questions"`
	Identical int            `json:"identical"`
	Differ    int            `json:"differ"`
	Errors    int            `json:"errors"` // no reply from one of the two (after retries)
	RcodesA   map[string]int `json:"rcodes_a"`
	RcodesB   map[string]int `json:"rcodes_b"`
	Examples  []string       `json:"examples,omitempty"`
	Skipped   int            `json:"skipped,omitempty"` // questions not asked: the budget ran out
}

func cmdCatalogCompare(args []string) error {
	fs := flag.NewFlagSet("catalog-compare", flag.ContinueOnError)
	a := fs.String("a", "", "first DNS server host:port")
	b := fs.String("b", "", "second DNS server host:port")
	n := fs.Int("services", 2000, "services svc-00000 .. svc-(N-1), plus the flip service")
	tries := fs.Int("tries", 3, "ask again this often, 200 ms apart, while the answers differ")
	budget := fs.Duration("budget", 3*time.Minute, "stop comparing after this long (servers that do not answer cost a timeout per question)")
	out := fs.String("out", "", "write the results as JSON here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *a == "" || *b == "" || *out == "" || *n < 1 || *n > 100000 || *tries < 1 || *tries > 10 {
		return errors.New("-a, -b and -out are required; want 1 <= services <= 100000, 1 <= tries <= 10")
	}
	names := []string{flipService}
	for i := range *n {
		names = append(names, serviceName(i))
	}
	ca, err := dns.Dial("udp", *a)
	if err != nil {
		return err
	}
	defer ca.Close()
	cb, err := dns.Dial("udp", *b)
	if err != nil {
		return err
	}
	defer cb.Close()
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	stopAt := time.Now().Add(*budget)
	ask := func(co *dns.Conn, name string, qtype uint16) (*dns.Msg, error) {
		q := new(dns.Msg)
		q.SetQuestion(dns.Fqdn(name+".service.consul"), qtype)
		q.RecursionDesired = false
		r, _, err := c.ExchangeWithConn(q, co)
		return r, err
	}
	res := compareResult{Names: len(names), RcodesA: map[string]int{}, RcodesB: map[string]int{}}
	for _, name := range names {
		for _, qtype := range []uint16{dns.TypeA, dns.TypeSRV} {
			res.Questions++
			if time.Now().After(stopAt) {
				res.Skipped++
				continue
			}
			var ka, kb string
			var errA, errB error
			for try := range *tries {
				if try > 0 {
					time.Sleep(200 * time.Millisecond)
				}
				var ra, rb *dns.Msg
				ra, errA = ask(ca, name, qtype)
				rb, errB = ask(cb, name, qtype)
				if errA == nil {
					ka = answerKey(ra)
				}
				if errB == nil {
					kb = answerKey(rb)
				}
				if errA != nil || errB != nil {
					if try > 0 {
						break // asked twice without a reply: no more time on this name
					}
					continue
				}
				if ka == kb {
					break
				}
			}
			switch {
			case errA != nil || errB != nil:
				res.Errors++
			case ka == kb:
				res.Identical++
			default:
				res.Differ++
				if len(res.Examples) < 5 {
					res.Examples = append(res.Examples, fmt.Sprintf("%s %s: %q vs %q", name, dns.TypeToString[qtype], firstLine(ka), firstLine(kb)))
				}
			}
			if errA == nil {
				res.RcodesA[firstLine(ka)]++
			}
			if errB == nil {
				res.RcodesB[firstLine(kb)]++
			}
		}
	}
	fmt.Printf("catalog-compare: %d questions, %d identical, %d differ, %d without a reply, %d not asked (budget); rcodes %v / %v\n",
		res.Questions, res.Identical, res.Differ, res.Errors, res.Skipped, res.RcodesA, res.RcodesB)
	return writeJSON(*out, res)
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }

// readyResult is what readyz writes.
type readyResult struct {
	Ready bool    `json:"ready"`
	Secs  float64 `json:"secs"` // since -since, when it answered 200 (or gave up)
	Last  string  `json:"last"` // the last /readyz answer
}

// cmdReadyz polls /readyz every 100 ms until it answers 200 or -timeout passes. Not
// ready in time is a result, not an error.
func cmdReadyz(args []string) error {
	fs := flag.NewFlagSet("readyz", flag.ContinueOnError)
	admin := fs.String("admin", "", "srvbridge admin address host:port")
	since := fs.Int64("since", 0, "unix time in ns to count from (srvbridge's start); default now")
	limit := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	out := fs.String("out", "", "write the result as JSON here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *admin == "" || *out == "" || *limit <= 0 || *limit > time.Hour {
		return errors.New("-admin and -out are required; 0 < timeout <= 1h")
	}
	t0 := startTime(*since)
	hc := &http.Client{Timeout: 2 * time.Second}
	res := readyResult{}
	for deadline := time.Now().Add(*limit); ; {
		last, err := readyz(hc, *admin)
		if err != nil {
			last = err.Error()
		}
		res.Last = last
		if err == nil && strings.HasPrefix(last, "200") {
			res.Ready = true
			break
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	res.Secs = time.Since(t0).Seconds()
	if res.Ready {
		fmt.Printf("ready %.1f s after start\n", res.Secs)
	} else {
		fmt.Printf("NOT ready %.1f s after start; /readyz: %s\n", res.Secs, res.Last)
	}
	return writeJSON(*out, res)
}
