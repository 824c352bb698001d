package main

// Propagation for bench/catalog.sh: catalog changes of several kinds, written with
// /v1/txn on the synthetic catalog's fake nodes, each timed from Consul's response to
// the first srvbridge answer that shows it. One change at a time, so that each sample is
// one change's path and not a queue.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"
)

// catPropKinds are the changes catalog-prop knows, in the order it makes them.
var catPropKinds = []string{"check", "register", "deregister", "new-service", "port", "address"}

// catPropKind is one kind's samples.
type catPropKind struct {
	Kind       string    `json:"kind"`
	SamplesMS  []float64 `json:"samples_ms"`   // from the txn's response to the answer
	FromSendMS []float64 `json:"from_send_ms"` // from just before the txn was sent
	NotSeen    int       `json:"not_seen"`
	Failed     int       `json:"failed"` // the txn itself failed
}

// catPropResult is what catalog-prop writes and catalog-report reads.
type catPropResult struct {
	Label      string         `json:"label"`
	OverBudget bool           `json:"over_budget,omitempty"` // stopped early: fewer samples than asked
	First      int            `json:"first"`                 // services first .. first+count-1
	Count      int            `json:"count"`
	DeadlineMS float64        `json:"deadline_ms"`
	Kinds      []*catPropKind `json:"kinds"`
	Touched    map[string]int `json:"touched,omitempty"` // -touch: rcodes of the one query per name
}

// answerCheck decides from one reply whether the change shows.
type answerCheck func(r *dns.Msg) bool

func hasA(ip net.IP) answerCheck {
	return func(r *dns.Msg) bool { has, decided := answerHas(r, ip); return decided && has }
}

func lacksA(ip net.IP) answerCheck {
	return func(r *dns.Msg) bool { has, decided := answerHas(r, ip); return decided && !has }
}

// hasSRVPort: a NOERROR answer with an SRV record on port.
func hasSRVPort(port uint16) answerCheck {
	return func(r *dns.Msg) bool {
		if r.Rcode != dns.RcodeSuccess {
			return false
		}
		return slices.ContainsFunc(r.Answer, func(rr dns.RR) bool { s, ok := rr.(*dns.SRV); return ok && s.Port == port })
	}
}

func both(a, b answerCheck) answerCheck { return func(r *dns.Msg) bool { return a(r) && b(r) } }

// pollAnswer asks addr for name every poll until ok holds or deadline passes, and
// returns the time of the first such answer.
func pollAnswer(addr, name string, qtype uint16, ok answerCheck, poll time.Duration, deadline time.Time) (time.Time, error) {
	co, err := dns.Dial("udp", addr)
	if err != nil {
		return time.Time{}, err
	}
	defer co.Close()
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.RecursionDesired = false
	for {
		q.Id = dns.Id()
		r, _, err := c.ExchangeWithConn(q, co)
		now := time.Now()
		if err == nil && ok(r) {
			return now, nil
		}
		if now.After(deadline) {
			return time.Time{}, errNotSeen
		}
		time.Sleep(poll)
	}
}

// catChange is one change: the transaction, then what the answer must show.
type catChange struct {
	ops   api.TxnOps
	name  string
	qtype uint16
	ok    answerCheck
}

// instanceSvc is the catalog entry of instance j of service i as register wrote it.
func instanceSvc(i, j, m int) api.AgentService {
	return api.AgentService{ID: fmt.Sprintf("%s-%d", serviceName(i), j), Service: serviceName(i), Address: ipFor(i*m + j), Port: 20000 + j}
}

func nodeName(i int) string { return fmt.Sprintf("bench-node-%05d", i) }

func svcSet(i int, s api.AgentService) *api.TxnOp {
	return &api.TxnOp{Service: &api.ServiceTxnOp{Verb: api.ServiceSet, Node: nodeName(i), Service: s}}
}

// svcDelete removes instance id of service name from service i's node (Consul 1.16
// wants the name with the ID).
func svcDelete(i int, name, id string) *api.TxnOp {
	return &api.TxnOp{Service: &api.ServiceTxnOp{Verb: api.ServiceDelete, Node: nodeName(i), Service: api.AgentService{ID: id, Service: name}}}
}

// extraIP is the address of the bench's s-th added instance or moved address:
// 127.17.0.0 + s + 1 (base 0) or 127.18.0.0 + s + 1 (base 1), outside register's range.
func extraIP(base, s int) net.IP {
	return net.IPv4(127, byte(17+base), byte((s+1)>>8), byte(s+1))
}

// changesFor returns, for sample s of kind on service i (instance j), the timed
// change and the untimed one that undoes it (nil when the next kind undoes it).
func changesFor(kind string, s, i, j, m int) (do, undo *catChange) {
	name := serviceName(i) + ".service.consul"
	orig := instanceSvc(i, j, m)
	origIP := net.ParseIP(orig.Address)
	switch kind {
	case "check":
		k := i*m + j
		return &catChange{api.TxnOps{checkOp(k, m, api.HealthCritical)}, name, dns.TypeA, lacksA(origIP)},
			&catChange{api.TxnOps{checkOp(k, m, api.HealthPassing)}, name, dns.TypeA, hasA(origIP)}
	case "register", "deregister":
		// A new instance without checks, then its removal: "register" times the first,
		// "deregister" the second.
		ip := extraIP(0, s)
		add := &catChange{api.TxnOps{svcSet(i, api.AgentService{ID: fmt.Sprintf("bench-extra-%d", s), Service: serviceName(i), Address: ip.String(), Port: 21000 + s%1000})}, name, dns.TypeA, hasA(ip)}
		del := &catChange{api.TxnOps{svcDelete(i, serviceName(i), fmt.Sprintf("bench-extra-%d", s))}, name, dns.TypeA, lacksA(ip)}
		if kind == "register" {
			return add, del
		}
		return del, nil
	case "new-service":
		// A service that did not exist: NXDOMAIN before, an answer after; then gone again.
		ip := extraIP(0, 60000+s)
		svc := fmt.Sprintf("bench-new-%d", s)
		name := svc + ".service.consul"
		return &catChange{api.TxnOps{svcSet(i, api.AgentService{ID: svc, Service: svc, Address: ip.String(), Port: 22000})}, name, dns.TypeA, hasA(ip)},
			&catChange{api.TxnOps{svcDelete(i, svc, svc)}, name, dns.TypeA, lacksA(ip)}
	case "port":
		// A re-registration with another port and the same checks.
		moved := orig
		moved.Port = 40000 + s%20000
		return &catChange{api.TxnOps{svcSet(i, moved)}, name, dns.TypeSRV, hasSRVPort(uint16(moved.Port))},
			&catChange{api.TxnOps{svcSet(i, orig)}, name, dns.TypeSRV, hasSRVPort(uint16(orig.Port))}
	case "address":
		moved := orig
		ip := extraIP(1, s)
		moved.Address = ip.String()
		return &catChange{api.TxnOps{svcSet(i, moved)}, name, dns.TypeA, both(hasA(ip), lacksA(origIP))},
			&catChange{api.TxnOps{svcSet(i, orig)}, name, dns.TypeA, both(hasA(origIP), lacksA(ip))}
	}
	return nil, nil
}

func cmdCatalogProp(args []string) error {
	fs := flag.NewFlagSet("catalog-prop", flag.ContinueOnError)
	addr := fs.String("consul", "", "Consul HTTP address host:port")
	dnsAddr := fs.String("dns", "", "srvbridge DNS address host:port")
	m := fs.Int("instances", 5, "instances per service (as registered)")
	first := fs.Int("first", 0, "change services first .. first+count-1")
	count := fs.Int("count", 2000, "how many services to choose from")
	samples := fs.Int("samples", 20, "changes per kind")
	kinds := fs.String("kinds", strings.Join(catPropKinds, ","), "which kinds, comma-separated: "+strings.Join(catPropKinds, ", "))
	each := fs.Bool("each", false, "change each service of the range once, in order (instead of -samples random ones)")
	touch := fs.Bool("touch", false, "only ask each name of the range once (A) and count the rcodes")
	poll := fs.Duration("poll", 2*time.Millisecond, "DNS polling interval")
	deadline := fs.Duration("deadline", 10*time.Second, "longest wait for one change to show")
	label := fs.String("label", "prop", "name in the output")
	seed := fs.Uint64("seed", 11, "seed of the choice of services")
	budget := fs.Duration("budget", 5*time.Minute, "make no new change after this long (slow propagation must not stall the scenario)")
	out := fs.String("out", "", "write the results as JSON here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *dnsAddr == "" || *m < 1 || *first < 0 || *count < 1 || *samples < 1 || *samples > 5000 || *poll <= 0 || *deadline <= 0 || *deadline > 5*time.Minute {
		return errors.New("-dns and -out are required; want instances >= 1, first >= 0, count >= 1, 1 <= samples <= 5000, poll > 0, 0 < deadline <= 5m")
	}
	res := catPropResult{Label: *label, First: *first, Count: *count, DeadlineMS: ms(*deadline)}
	if *touch {
		cl, err := dial(*dnsAddr)
		if err != nil {
			return err
		}
		defer cl.Close()
		res.Touched = map[string]int{}
		for i := *first; i < *first+*count; i++ {
			h, err := cl.ask(serviceName(i)+".service.consul", typeA, 2*time.Second)
			rc := "lost"
			if err == nil {
				rc = rcodeNames[h.Rcode]
			}
			res.Touched[rc]++
		}
		fmt.Printf("%s: asked %d names once: %v\n", *label, *count, res.Touched)
		return writeJSON(*out, res)
	}
	want := strings.Split(*kinds, ",")
	for _, k := range want {
		if !slices.Contains(catPropKinds, k) {
			return fmt.Errorf("-kinds: unknown %q", k)
		}
		res.Kinds = append(res.Kinds, &catPropKind{Kind: k})
	}
	if *each {
		*samples = *count
	}
	c, err := consulClient(*addr, 10*time.Second)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(*samples*len(want)*2)*(*deadline+10*time.Second))
	defer cancel()
	rng := rand.New(rand.NewPCG(*seed, 0x9a0b))
	stopAt := time.Now().Add(*budget)
	for s := range *samples {
		if time.Now().After(stopAt) {
			res.OverBudget = true
			break
		}
		i := *first + rng.IntN(*count)
		if *each {
			i = *first + s
		}
		j := rng.IntN(*m)
		for _, k := range res.Kinds {
			do, undo := changesFor(k.Kind, s, i, j, *m)
			sent := time.Now()
			if err := commit(ctx, c, do.ops); err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("%s: %w", k.Kind, err)
				}
				k.Failed++
				continue
			}
			done := time.Now()
			seen, err := pollAnswer(*dnsAddr, do.name, do.qtype, do.ok, *poll, done.Add(*deadline))
			if err != nil {
				k.NotSeen++
			} else {
				k.SamplesMS = append(k.SamplesMS, ms(seen.Sub(done)))
				k.FromSendMS = append(k.FromSendMS, ms(seen.Sub(sent)))
			}
			// "register" leaves its instance for "deregister" when both run.
			if undo == nil || (k.Kind == "register" && slices.Contains(want, "deregister")) {
				continue
			}
			if err := commit(ctx, c, undo.ops); err != nil {
				// The catalog keeps this change; the next samples still measure.
				fmt.Fprintf(os.Stderr, "catalog-prop: undoing %s (sample %d): %v\n", k.Kind, s, err)
				k.Failed++
				continue
			}
			// Wait for the undo to show (untimed), so that the next sample starts clean.
			_, _ = pollAnswer(*dnsAddr, undo.name, undo.qtype, undo.ok, *poll, time.Now().Add(*deadline))
		}
	}
	var parts []string
	for _, k := range res.Kinds {
		sm := summarize(k.SamplesMS)
		parts = append(parts, fmt.Sprintf("%s p50 %.0f ms p99 %.0f ms max %.0f ms (%d, %d not seen, %d writes failed)", k.Kind, sm.P50, sm.P99, sm.Max, len(k.SamplesMS), k.NotSeen, k.Failed))
	}
	fmt.Printf("%s: %s\n", *label, strings.Join(parts, "; "))
	return writeJSON(*out, res)
}
