package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"
)

// Churn: the health of the synthetic catalog's instances flaps through catalog checks
// on their fake nodes, written with /v1/txn, and for a sample of the changes a UDP
// client times how long srvbridge takes to change its answer.

// churnTxnOps is the most operations Consul 1.16 takes in one transaction; register
// uses fewer (txnMaxOps) to keep whole services together.
const churnTxnOps = 128

// checkOp sets the catalog check of instance k (service k/m, instance k%m) to status;
// the first set creates the check.
func checkOp(k, m int, status string) *api.TxnOp {
	i, j := k/m, k%m
	id := fmt.Sprintf("%s-%d", serviceName(i), j)
	return &api.TxnOp{Check: &api.CheckTxnOp{Verb: api.CheckSet, Check: api.HealthCheck{
		Node: fmt.Sprintf("bench-node-%05d", i), CheckID: "churn-" + id, Name: "churn",
		Status: status, ServiceID: id, ServiceName: serviceName(i),
	}}}
}

func statusFor(down bool) string {
	if down {
		return api.HealthCritical
	}
	return api.HealthPassing
}

// picker chooses which instances change next: each pick toggles one instance between
// passing and critical, and an instance changed less than gap ticks ago is not picked
// again, so that a sampled change is never overtaken by the next change of the same
// instance while it is being timed.
type picker struct {
	down []bool
	last []int // tick of the last change + 1; 0: never changed
	gap  int
	rng  *rand.Rand
}

func newPicker(n, gap int, seed uint64) *picker {
	return &picker{down: make([]bool, n), last: make([]int, n), gap: gap, rng: rand.New(rand.NewPCG(seed, 0xc4a2))}
}

// pick returns up to count distinct instances for tick and toggles them; fewer when
// too few are eligible (bounded tries).
func (p *picker) pick(tick, count int) []int {
	var out []int
	for tries := 0; len(out) < count && tries < 20*count; tries++ {
		k := p.rng.IntN(len(p.down))
		if p.last[k] != 0 && tick-(p.last[k]-1) < p.gap {
			continue
		}
		p.last[k] = tick + 1
		p.down[k] = !p.down[k]
		out = append(out, k)
	}
	return out
}

// answerHas reports whether a reply lists ip in its A records; NXDOMAIN counts as an
// answer without it. decided is false for anything else (SERVFAIL, a bad reply), which
// says nothing about the instance.
func answerHas(r *dns.Msg, ip net.IP) (has, decided bool) {
	switch r.Rcode {
	case dns.RcodeNameError:
		return false, true
	case dns.RcodeSuccess:
	default:
		return false, false
	}
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok && a.A.Equal(ip) {
			return true, true
		}
	}
	return false, true
}

// waitAnswer asks addr for name's A records every poll until ip is listed (want) or
// not (!want), or deadline passes; it returns the time from t0.
func waitAnswer(addr, name string, ip net.IP, want bool, t0 time.Time, poll time.Duration, deadline time.Time) (time.Duration, error) {
	co, err := dns.Dial("udp", addr)
	if err != nil {
		return 0, err
	}
	defer co.Close()
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), dns.TypeA)
	q.RecursionDesired = false
	for {
		q.Id = dns.Id()
		r, _, err := c.ExchangeWithConn(q, co)
		now := time.Now()
		if err == nil {
			if has, decided := answerHas(r, ip); decided && has == want {
				return now.Sub(t0), nil
			}
		}
		if now.After(deadline) {
			return 0, errNotSeen
		}
		time.Sleep(poll)
	}
}

var errNotSeen = errors.New("answer did not change before the deadline")

// churnResult is what churn writes and scale-report reads.
type churnResult struct {
	Services   int       `json:"services"`
	Instances  int       `json:"instances"`
	OpsPerTxn  int       `json:"ops_per_txn"`
	Rate       float64   `json:"rate"` // changes per second asked for
	Secs       float64   `json:"secs"`
	TickMS     float64   `json:"tick_ms"`
	PollMS     float64   `json:"poll_ms"`
	DeadlineMS float64   `json:"deadline_ms"`
	ElapsedS   float64   `json:"elapsed_s"` // wall time of the changes
	Changes    int       `json:"changes"`   // check updates committed
	LateTicks  int       `json:"late_ticks"`
	TxnMS      []float64 `json:"txn_ms"`
	SampleMS   []float64 `json:"sample_ms"` // from the txn's response to the changed answer
	SampleSend []float64 `json:"sample_from_send_ms"`
	NotSeen    int       `json:"not_seen"`
	Restored   int       `json:"restored"`
	RestoreS   float64   `json:"restore_s"`
}

func cmdChurn(args []string) error {
	fs := flag.NewFlagSet("churn", flag.ContinueOnError)
	addr := fs.String("consul", "", "Consul HTTP address host:port")
	dnsAddr := fs.String("dns", "", "srvbridge DNS address host:port")
	n := fs.Int("services", 200, "services in the catalog (as registered)")
	m := fs.Int("instances", 3, "instances per service (as registered)")
	rate := fs.Float64("rate", 1000, "check changes per second")
	secs := fs.Duration("secs", 60*time.Second, "how long to change")
	tick := fs.Duration("tick", 100*time.Millisecond, "changes are sent once per tick")
	sample := fs.Float64("sample", 20, "changes timed per second")
	poll := fs.Duration("poll", 5*time.Millisecond, "DNS polling interval of a timed change")
	deadline := fs.Duration("deadline", 10*time.Second, "longest wait for one change to show")
	conc := fs.Int("concurrency", 4, "transactions in flight")
	perTxn := fs.Int("ops", churnTxnOps, "check changes per transaction (Consul 1.16 takes at most 128)")
	seed := fs.Uint64("seed", 1, "seed of the choice of instances")
	out := fs.String("out", "", "write the results as JSON here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *dnsAddr == "" {
		return errors.New("-dns and -out are required")
	}
	if *rate <= 0 || *tick < 10*time.Millisecond || *secs < *tick || *secs > 30*time.Minute || *sample < 0 || *poll <= 0 || *deadline <= 0 || *conc < 1 || *perTxn < 1 || *perTxn > churnTxnOps {
		return fmt.Errorf("want rate > 0, tick >= 10ms, tick <= secs <= 30m, sample >= 0, poll > 0, deadline > 0, concurrency >= 1, 1 <= ops <= %d", churnTxnOps)
	}
	c, err := consulClient(*addr, 30*time.Second)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *secs+*deadline+5*time.Minute)
	defer cancel()

	ticks := int(*secs / *tick)
	perTick := *rate * tick.Seconds()
	gap := int(*deadline / *tick)
	pk := newPicker(*n**m, gap+1, *seed)
	res := churnResult{Services: *n, Instances: *m, OpsPerTxn: *perTxn, Rate: *rate, Secs: secs.Seconds(), TickMS: ms(*tick), PollMS: ms(*poll), DeadlineMS: ms(*deadline)}
	var mu sync.Mutex
	var samplers sync.WaitGroup
	sampleDebt, changeDebt := 0.0, 0.0
	start := time.Now()
	for t := range ticks {
		due := start.Add(time.Duration(t) * *tick)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		} else if -d > *tick {
			res.LateTicks++
		}
		changeDebt += perTick
		picks := pk.pick(t, int(changeDebt))
		changeDebt -= float64(len(picks))
		sampleDebt += *sample * tick.Seconds()
		nSample := min(len(picks), int(sampleDebt))
		sampleDebt -= float64(nSample)

		// Whole tick's changes in transactions of at most perTxn, conc in flight; the
		// tick ends when all are committed, so a slow Consul slows the churn down (the
		// achieved rate is reported) instead of piling up requests.
		sem := make(chan struct{}, *conc)
		var wg sync.WaitGroup
		var tickErr error
		for lo := 0; lo < len(picks); lo += *perTxn {
			batch := picks[lo:min(lo+*perTxn, len(picks))]
			sampled := batch[:max(0, min(len(batch), nSample-lo))]
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				ops := make(api.TxnOps, 0, len(batch))
				for _, k := range batch {
					ops = append(ops, checkOp(k, *m, statusFor(pk.down[k])))
				}
				sent := time.Now()
				err := commit(ctx, c, ops)
				done := time.Now()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					tickErr = err
					return
				}
				res.TxnMS = append(res.TxnMS, ms(done.Sub(sent)))
				res.Changes += len(batch)
				for _, k := range sampled {
					up := !pk.down[k] // read now: the main loop is waiting for this tick
					samplers.Add(1)
					go func() {
						defer samplers.Done()
						d, err := waitAnswer(*dnsAddr, serviceName(k / *m)+".service.consul", net.ParseIP(ipFor(k)), up, done, *poll, done.Add(*deadline))
						mu.Lock()
						defer mu.Unlock()
						if err != nil {
							res.NotSeen++
							return
						}
						res.SampleMS = append(res.SampleMS, ms(d))
						res.SampleSend = append(res.SampleSend, ms(d+done.Sub(sent)))
					}()
				}
			}()
		}
		wg.Wait()
		if tickErr != nil {
			return fmt.Errorf("tick %d: %w", t, tickErr)
		}
	}
	res.ElapsedS = time.Since(start).Seconds()
	samplers.Wait()

	// Leave every instance passing again.
	restoreStart := time.Now()
	var ops api.TxnOps
	for k, d := range pk.down {
		if d {
			ops = append(ops, checkOp(k, *m, api.HealthPassing))
		}
		if len(ops) == *perTxn || (k == len(pk.down)-1 && len(ops) > 0) {
			if err := commit(ctx, c, ops); err != nil {
				return fmt.Errorf("restoring: %w", err)
			}
			res.Restored += len(ops)
			ops = nil
		}
	}
	res.RestoreS = time.Since(restoreStart).Seconds()

	s := summarize(res.SampleMS)
	fmt.Printf("churn: %d changes in %.1fs (%.0f/s, asked %.0f/s), %d transactions; %d timed: p50 %.0f ms, p99 %.0f ms, max %.0f ms, %d not seen within %v; %d restored in %.1fs\n",
		res.Changes, res.ElapsedS, float64(res.Changes)/res.ElapsedS, *rate, len(res.TxnMS), len(res.SampleMS), s.P50, s.P99, s.Max, res.NotSeen, *deadline, res.Restored, res.RestoreS)
	return writeJSON(*out, res)
}

// startTime is a -since flag's time: unix ns, or now when 0.
func startTime(since int64) time.Time {
	if since > 0 {
		return time.Unix(0, since)
	}
	return time.Now()
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// changeResult is one change made right after Consul came back.
type changeResult struct {
	Label    string  `json:"label"`
	TxnOKMS  float64 `json:"txn_ok_ms"`  // from -since (Consul resumed) until the txn was committed
	Attempts int     `json:"attempts"`   // txn attempts until one succeeded
	PropMS   float64 `json:"prop_ms"`    // from the txn's response to the changed answer
	TotalMS  float64 `json:"total_ms"`   // from -since to the changed answer
	NotSeen  bool    `json:"not_seen"`   // the answer did not change before the deadline
	Instance int     `json:"instance"`   // which instance was set critical
	Since    int64   `json:"since_unix"` // -since, in ns
}

// cmdChange sets one instance's check critical (retrying the transaction until Consul
// takes it), times until srvbridge's answer drops it, and sets it passing again.
func cmdChange(args []string) error {
	fs := flag.NewFlagSet("change", flag.ContinueOnError)
	addr := fs.String("consul", "", "Consul HTTP address host:port")
	dnsAddr := fs.String("dns", "", "srvbridge DNS address host:port")
	m := fs.Int("instances", 3, "instances per service (as registered)")
	k := fs.Int("instance", 0, "instance to change (service k/instances)")
	since := fs.Int64("since", 0, "unix time in ns to count from (Consul resumed); default now")
	limit := fs.Duration("timeout", 2*time.Minute, "give up on Consul after this long")
	deadline := fs.Duration("deadline", 30*time.Second, "longest wait for the answer to change")
	label := fs.String("label", "change", "name in the output")
	out := fs.String("out", "", "write the result as JSON here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *dnsAddr == "" || *k < 0 || *m < 1 {
		return errors.New("-dns and -out are required; -instance >= 0, -instances >= 1")
	}
	t0 := startTime(*since)
	c, err := consulClient(*addr, 10*time.Second)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *limit)
	defer cancel()
	res := changeResult{Label: *label, Instance: *k, Since: t0.UnixNano()}
	for {
		res.Attempts++
		err = commit(ctx, c, api.TxnOps{checkOp(*k, *m, api.HealthCritical)})
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("consul did not take the change in %v: %v", *limit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	done := time.Now()
	res.TxnOKMS = ms(done.Sub(t0))
	d, err := waitAnswer(*dnsAddr, serviceName(*k / *m)+".service.consul", net.ParseIP(ipFor(*k)), false, done, 5*time.Millisecond, done.Add(*deadline))
	if err != nil {
		res.NotSeen = true
	} else {
		res.PropMS = ms(d)
		res.TotalMS = ms(done.Add(d).Sub(t0))
	}
	if err := commit(ctx, c, api.TxnOps{checkOp(*k, *m, api.HealthPassing)}); err != nil {
		return fmt.Errorf("restoring: %w", err)
	}
	fmt.Printf("%s: txn committed %.0f ms after -since (%d attempts); answer changed %.1f ms after the txn (not seen: %v)\n",
		*label, res.TxnOKMS, res.Attempts, res.PropMS, res.NotSeen)
	return writeJSON(*out, res)
}
