package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// loadBucket counts one second of a fixed-rate load, by the second each query was sent
// in, plus what srvbridge's admin endpoint said during that second.
type loadBucket struct {
	StartMS int64 `json:"start_ms"` // unix ms
	replyCounts
	LatSumMS float64 `json:"lat_sum_ms"`
	LatMaxMS float64 `json:"lat_max_ms"`
	Ready    string  `json:"ready,omitempty"`     // /readyz: status and first line of the body
	Degraded float64 `json:"degraded"`            // srvbridge_degraded; -1 not read
	StaleS   float64 `json:"stale_s"`             // srvbridge_consul_stale_seconds; -1 not read
	Requests float64 `json:"consul_requests"`     // srvbridge_consul_requests_total at the sample; -1 not read
	AdminErr string  `json:"admin_err,omitempty"` // the admin endpoint did not answer
	// Per -pid label: CPU used since the previous reading, in cores, and open files.
	CPU map[string]float64 `json:"cpu,omitempty"`
	FDs map[string]int     `json:"fds,omitempty"`
}

// loadResult is what load writes and scale-report reads.
type loadResult struct {
	Addr      string       `json:"addr"`
	QPS       float64      `json:"qps"`
	TimeoutMS float64      `json:"timeout_ms"`
	Names     int          `json:"names"`
	Buckets   []loadBucket `json:"buckets"`
}

// cmdLoad asks srvbridge for known names (A and SRV of the catalog's services, chosen
// at random) at a fixed rate from one UDP socket, and counts every reply by rcode in
// per-second buckets; a query without a reply within -timeout is lost. Once a second it
// also reads /readyz and the degraded and Consul metrics from the admin endpoint.
func cmdLoad(args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	addr := fs.String("addr", "", "srvbridge DNS address host:port")
	admin := fs.String("admin", "", "srvbridge admin address host:port")
	n := fs.Int("services", 200, "ask for svc-00000 .. svc-(N-1)")
	qps := fs.Float64("qps", 2000, "queries per second")
	secs := fs.Duration("secs", 60*time.Second, "how long")
	timeout := fs.Duration("timeout", time.Second, "a query unanswered this long is lost")
	out := fs.String("out", "", "write the buckets as JSON here")
	pids := pidFlag{}
	fs.Var(pids, "pid", "label=pid of a process whose CPU and open files to read each second (repeatable)")
	pidFiles := pathFlag{}
	fs.Var(pidFiles, "pidfile", "label=file holding such a pid, read each time (a process the scenario restarts)")
	clk := fs.Float64("clk-tck", 100, "clock ticks per second (getconf CLK_TCK)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *admin == "" || *n < 1 || *qps <= 0 || *qps > 100000 || *secs <= 0 || *secs > time.Hour || *timeout <= 0 || *timeout > 10*time.Second {
		return errors.New("-out and -admin are required; want services >= 1, 0 < qps <= 100000, 0 < secs <= 1h, 0 < timeout <= 10s")
	}
	cl, err := dial(*addr)
	if err != nil {
		return err
	}
	defer cl.Close()
	nb := int((*secs + time.Second - 1) / time.Second)
	res := loadResult{Addr: *addr, QPS: *qps, TimeoutMS: ms(*timeout), Names: 2 * *n, Buckets: make([]loadBucket, nb)}
	start := time.Now()
	for i := range res.Buckets {
		res.Buckets[i] = loadBucket{StartMS: start.Add(time.Duration(i) * time.Second).UnixMilli(), Degraded: -1, StaleS: -1, Requests: -1}
	}
	end := start.Add(*secs)

	// Queries in flight by ID. 65536 IDs last 32 s at 2000 queries/s, far longer than
	// the timeout, so an ID is free again long before it is reused.
	type pending struct {
		sent   time.Time
		bucket int
		live   bool
	}
	var mu sync.Mutex
	var inflight [1 << 16]pending

	recvDone := make(chan error, 1)
	go func() {
		if err := cl.conn.SetReadDeadline(end.Add(*timeout)); err != nil {
			recvDone <- err
			return
		}
		recvDone <- readReplies(cl.conn, func(h header, now time.Time) {
			mu.Lock()
			p := &inflight[h.ID]
			if p.live {
				p.live = false
				countReply(&res.Buckets[p.bucket], h, now.Sub(p.sent), *timeout)
			}
			mu.Unlock()
		})
	}()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sampleAdmin(*admin, start, end, newProcReader(pids, pidFiles, *clk), func(i int, f func(*loadBucket)) {
			mu.Lock()
			defer mu.Unlock()
			if i >= 0 && i < len(res.Buckets) {
				f(&res.Buckets[i])
			}
		})
	}()

	rng := rand.New(rand.NewPCG(7, 0x10ad))
	for seq := 0; ; {
		now := time.Now()
		if !now.Before(end) {
			break
		}
		due := int(now.Sub(start).Seconds() * *qps)
		for ; seq < due; seq++ {
			id := uint16(seq)
			qtype := uint16(typeA)
			if seq%2 == 1 {
				qtype = typeSRV
			}
			q, err := packQuery(id, serviceName(rng.IntN(*n))+".service.consul", qtype)
			if err != nil {
				return err
			}
			b := min(int(now.Sub(start)/time.Second), nb-1)
			mu.Lock()
			inflight[id] = pending{sent: time.Now(), bucket: b, live: true}
			res.Buckets[b].Sent++
			mu.Unlock()
			if _, err := cl.conn.Write(q); err != nil {
				// A refused or failed send is a lost query; keep the rate.
				continue
			}
		}
		time.Sleep(time.Millisecond)
	}
	err = <-recvDone
	wg.Wait()
	if err != nil {
		return err
	}
	var t loadBucket
	for _, b := range res.Buckets {
		addBucket(&t, b)
	}
	fmt.Printf("load: %d sent, %d NOERROR, %d NXDOMAIN, %d SERVFAIL, %d other, %d lost (%d late)\n",
		t.Sent, t.NoError, t.NXDomain, t.ServFail, t.Other, t.lost(), t.Late)
	return writeJSON(*out, res)
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// countReply adds one reply, received lat after its query, to b.
func countReply(b *loadBucket, h header, lat, timeout time.Duration) {
	if lat > timeout {
		b.addLate(h.Rcode)
		return
	}
	b.addReply(h.Rcode, h.TC)
	l := ms(lat)
	b.LatSumMS += l
	b.LatMaxMS = max(b.LatMaxMS, l)
}

// addBucket adds b's counts to t (the admin readings are not added).
func addBucket(t *loadBucket, b loadBucket) {
	t.merge(b.replyCounts)
	t.LatSumMS += b.LatSumMS
	t.LatMaxMS = max(t.LatMaxMS, b.LatMaxMS)
}

// sampleAdmin reads /readyz and /metrics once a second until end and records each
// reading in the bucket of the second it was taken in.
func sampleAdmin(admin string, start, end time.Time, procs *procReader, record func(int, func(*loadBucket))) {
	hc := &http.Client{Timeout: 900 * time.Millisecond}
	for t := start.Add(500 * time.Millisecond); t.Before(end); t = t.Add(time.Second) {
		time.Sleep(time.Until(t))
		i := int(time.Since(start) / time.Second)
		cpu, fds := procs.read()
		record(i, func(b *loadBucket) { b.CPU, b.FDs = cpu, fds })
		ready, err := readyz(hc, admin)
		var m map[string]float64
		if err == nil {
			m, err = scrapeMetrics(hc, admin)
		}
		record(i, func(b *loadBucket) {
			b.Ready = ready
			if err != nil {
				b.AdminErr = err.Error()
				return
			}
			b.Degraded = m["srvbridge_degraded"]
			b.StaleS = m["srvbridge_consul_stale_seconds"]
			b.Requests = m["srvbridge_consul_requests_total"]
		})
	}
}

// readyz returns /readyz's status code and the first line of its body.
func readyz(hc *http.Client, admin string) (string, error) {
	resp, err := hc.Get("http://" + admin + "/readyz")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 512))
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return fmt.Sprintf("%d %s", resp.StatusCode, line), err
}

// cmdFirstAnswer asks for one name every 10 ms until it gets NOERROR with records, and
// prints the seconds since -since (when srvbridge was started).
func cmdFirstAnswer(args []string) error {
	fs := flag.NewFlagSet("firstanswer", flag.ContinueOnError)
	addr := fs.String("addr", "", "DNS server host:port")
	name := fs.String("name", serviceName(0)+".service.consul", "name to ask (A)")
	since := fs.Int64("since", 0, "unix time in ns to count from; default now")
	limit := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	t0 := startTime(*since)
	c, err := dial(*addr)
	if err != nil {
		return err
	}
	defer c.Close()
	deadline := time.Now().Add(*limit)
	for time.Now().Before(deadline) {
		h, err := c.ask(*name, typeA, 100*time.Millisecond)
		if err == nil && h.Rcode == 0 && h.An > 0 {
			fmt.Printf("%.3f\n", time.Since(t0).Seconds())
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("no answer with records for %s in %v", *name, *limit)
}

// procReader reads the CPU time and open files of a few processes; each read gives
// the CPU used since the previous one, in cores.
type procReader struct {
	pids  map[string]int
	files map[string]string // label -> pid file
	clk   float64
	ticks map[string]int64
	at    time.Time
}

func newProcReader(pids map[string]int, files map[string]string, clk float64) *procReader {
	p := &procReader{pids: maps.Clone(pids), files: files, clk: clk}
	p.read()
	return p
}

func (p *procReader) read() (cpu map[string]float64, fds map[string]int) {
	for l, path := range p.files {
		b, err := os.ReadFile(path)
		if pid, err2 := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && err2 == nil {
			if p.pids[l] != pid {
				delete(p.ticks, l) // a new process: no CPU figure until its second reading
			}
			p.pids[l] = pid
		}
	}
	if len(p.pids) == 0 {
		return nil, nil
	}
	now := time.Now()
	cpu, fds = map[string]float64{}, map[string]int{}
	ticks := map[string]int64{}
	for l, pid := range p.pids {
		t, err := procTicks(pid)
		if err != nil {
			continue // gone (killed by the scenario); a later process has another pid
		}
		ticks[l] = t
		if prev, ok := p.ticks[l]; ok && now.After(p.at) {
			cpu[l] = float64(t-prev) / p.clk / now.Sub(p.at).Seconds()
		}
		fds[l] = openFiles(pid)
	}
	p.ticks, p.at = ticks, now
	return cpu, fds
}
