package main

// The client side of bench/catalog.sh: a gateway with many upstreams. Several client
// sockets each ask every name once per interval (like a Kong worker whose DNS cache
// expires every TTL), and one more socket sweeps over all names at a fixed rate. Every
// reply is counted by rcode; latency goes into a histogram, counted only for queries sent
// after the warm-up (once every name has been asked at least once).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// latHist is a latency histogram with fixed buckets: 1 µs wide up to 1 ms, 100 µs up
// to 100 ms, 10 ms up to 10 s, and one overflow bucket. A quantile is the upper edge of
// the bucket holding the nearest-rank sample, so it errs high by at most one bucket.
type latHist struct {
	Counts [latBuckets]int64 `json:"-"`
	N      int64             `json:"n"`
	SumUS  float64           `json:"sum_us"`
	MaxUS  float64           `json:"max_us"`
}

const (
	latFine    = 1000 // 0..1 ms by 1 µs
	latMid     = 990  // 1..100 ms by 100 µs
	latCoarse  = 990  // 100 ms..10 s by 10 ms
	latBuckets = latFine + latMid + latCoarse + 1
)

// latBucket maps a latency in µs to its bucket; latEdge is that bucket's upper edge.
func latBucket(us float64) int {
	switch {
	case us < 1000:
		return int(us)
	case us < 100_000:
		return latFine + int((us-1000)/100)
	case us < 10_000_000:
		return latFine + latMid + int((us-100_000)/10_000)
	}
	return latBuckets - 1
}

func latEdge(i int) float64 {
	switch {
	case i < latFine:
		return float64(i + 1)
	case i < latFine+latMid:
		return 1000 + float64(i-latFine+1)*100
	case i < latBuckets-1:
		return 100_000 + float64(i-latFine-latMid+1)*10_000
	}
	return math.Inf(1)
}

func (h *latHist) add(d time.Duration) {
	us := float64(d) / float64(time.Microsecond)
	h.Counts[latBucket(max(0, us))]++
	h.N++
	h.SumUS += us
	h.MaxUS = max(h.MaxUS, us)
}

func (h *latHist) merge(o *latHist) {
	for i, c := range o.Counts {
		h.Counts[i] += c
	}
	h.N += o.N
	h.SumUS += o.SumUS
	h.MaxUS = max(h.MaxUS, o.MaxUS)
}

// quantileUS is the nearest-rank p-quantile in µs (the bucket's upper edge, at most the
// largest sample); NaN without samples.
func (h *latHist) quantileUS(p float64) float64 {
	if h.N == 0 {
		return math.NaN()
	}
	rank := max(1, int64(math.Ceil(p*float64(h.N))))
	var seen int64
	for i, c := range h.Counts {
		seen += c
		if seen >= rank {
			return min(latEdge(i), h.MaxUS)
		}
	}
	return h.MaxUS
}

// catCounts counts replies by rcode; lost is sent minus answered.
// catCounts are the counts of one second, or of a whole load.
type catCounts = replyCounts

type catLoadResult struct {
	Clients    int         `json:"clients"`
	IntervalS  float64     `json:"interval_s"`
	SweepQPS   float64     `json:"sweep_qps"`
	Names      int         `json:"names"`    // services asked
	Excluded   int         `json:"excluded"` // the last services, never asked (the cold set)
	WarmS      float64     `json:"warm_s"`
	StartMS    int64       `json:"start_ms"`
	Secs       float64     `json:"secs"`
	TimeoutMS  float64     `json:"timeout_ms"`
	Total      catCounts   `json:"total"`
	AfterWarm  catCounts   `json:"after_warm"`
	Seconds    []catCounts `json:"seconds"` // by the second a query was sent in
	Lat        latHist     `json:"lat_after_warm"`
	LatP50US   float64     `json:"lat_p50_us"`
	LatP99US   float64     `json:"lat_p99_us"`
	LatP999US  float64     `json:"lat_p999_us"`
	LatAllP99  float64     `json:"lat_all_p99_us"` // including the warm-up
	FirstFailS float64     `json:"first_fail_s"`   // first second with SERVFAIL, NXDOMAIN or lost; -1 none
	LastFailS  float64     `json:"last_fail_s"`
}

// catStream is one UDP socket sending at a fixed rate; name(seq) says what to ask.
type catStream struct {
	cl      *client
	qps     float64
	name    func(seq int) (string, uint16)
	counts  []catCounts // per second
	lat     latHist     // sent after the warm-up
	latAll  latHist
	mu      sync.Mutex
	pending [1 << 16]struct {
		sent time.Time
		sec  int
		live bool
	}
}

// lateDrain is how long, in timeouts, a stream keeps reading after its last query, so
// that a reply later than the timeout is still seen and its rcode counted (late).
const lateDrain = 2

// reply counts the reply h that arrived at now: by rcode in the second its query was
// sent, its latency if it came within timeout, else as late (lost, its rcode kept).
func (s *catStream) reply(h header, now, start time.Time, warm, timeout time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &s.pending[h.ID]
	if !p.live {
		return
	}
	p.live = false
	lat := now.Sub(p.sent)
	c := &s.counts[p.sec]
	if lat > timeout {
		c.addLate(h.Rcode)
		return
	}
	c.addReply(h.Rcode, h.TC)
	if lat > time.Millisecond {
		c.Slow++
	}
	s.latAll.add(lat)
	if p.sent.Sub(start) >= warm {
		s.lat.add(lat)
	}
}

func (s *catStream) run(ctx context.Context, start time.Time, warm, timeout time.Duration) error {
	recvDone := make(chan error, 1)
	go func() {
		recvDone <- readReplies(s.cl.conn, func(h header, now time.Time) { s.reply(h, now, start, warm, timeout) })
	}()
	var sendErr error
	for seq := 0; ctx.Err() == nil; {
		now := time.Now()
		due := int(now.Sub(start).Seconds() * s.qps)
		for ; seq < due; seq++ {
			name, qtype := s.name(seq)
			q, err := packQuery(uint16(seq), name, qtype)
			if err != nil {
				sendErr = err
				break
			}
			sec := min(int(now.Sub(start)/time.Second), len(s.counts)-1)
			s.mu.Lock()
			s.pending[uint16(seq)] = struct {
				sent time.Time
				sec  int
				live bool
			}{time.Now(), sec, true}
			s.counts[sec].Sent++
			s.mu.Unlock()
			// A failed send is a lost query; keep the rate.
			_, _ = s.cl.conn.Write(q)
		}
		if sendErr != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	// Give the last queries twice their timeout, then stop the reader: a reply in the
	// second timeout is late but still counted by its rcode.
	if err := s.cl.conn.SetReadDeadline(time.Now().Add(lateDrain * timeout)); err != nil {
		return err
	}
	return errors.Join(sendErr, <-recvDone)
}

func cmdCatalogLoad(args []string) error {
	fs := flag.NewFlagSet("catalog-load", flag.ContinueOnError)
	addr := fs.String("addr", "", "srvbridge DNS address host:port")
	n := fs.Int("services", 2000, "services svc-00000 .. svc-(N-1) in the catalog")
	exclude := fs.Int("exclude", 0, "never ask the last this many services (the cold set)")
	clients := fs.Int("clients", 16, "client sockets, each asking every name once per -interval")
	interval := fs.Duration("interval", 5*time.Second, "each client asks every name once per interval")
	sweep := fs.Float64("sweep", 1000, "queries/s of one more socket sweeping over all names (0: none)")
	warm := fs.Duration("warm", 0, "latency counts only queries sent after this (default: when every name was asked once)")
	secs := fs.Duration("secs", 10*time.Minute, "longest run; SIGTERM or SIGINT ends it earlier")
	timeout := fs.Duration("timeout", time.Second, "a query unanswered this long is lost (a reply up to twice as late is counted as late, by rcode)")
	out := fs.String("out", "", "write the results as JSON here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	names := *n - *exclude
	if *out == "" || names < 1 || *exclude < 0 || *clients < 0 || *clients > 256 || *interval < 100*time.Millisecond ||
		*sweep < 0 || *sweep > 50000 || *secs <= 0 || *secs > time.Hour || *timeout <= 0 || *timeout > 10*time.Second {
		return errors.New("-out required; want services > exclude >= 0, 0 <= clients <= 256, interval >= 100ms, 0 <= sweep <= 50000, 0 < secs <= 1h, 0 < timeout <= 10s")
	}
	perClient := float64(names) / interval.Seconds()
	if float64(*clients)*perClient+*sweep > 100000 {
		return fmt.Errorf("%.0f queries/s asked: more than 100000", float64(*clients)*perClient+*sweep)
	}
	if *warm == 0 {
		*warm = *interval + time.Second
		if *sweep > 0 && *clients == 0 {
			*warm = time.Duration(float64(names) / *sweep * float64(time.Second))
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *secs)
	defer cancel()

	nsec := int(secs.Seconds()) + 2
	var streams []*catStream
	// Client c starts its sweep at its own offset so that the clients do not ask the same
	// name at the same moment, and asks SRV and A in alternate rounds (a gateway asks
	// SRV first and A for names without SRV).
	for c := range *clients + 1 {
		qps, off := perClient, c*names/max(1, *clients)
		if c == *clients {
			if *sweep == 0 {
				break
			}
			qps, off = *sweep, 0
		}
		cl, err := dial(*addr)
		if err != nil {
			return err
		}
		defer cl.Close()
		streams = append(streams, &catStream{cl: cl, qps: qps, counts: make([]catCounts, nsec), name: func(seq int) (string, uint16) {
			qtype := uint16(typeSRV)
			if (seq/names+c)%2 == 1 {
				qtype = typeA
			}
			return serviceName((seq+off)%names) + ".service.consul", qtype
		}})
	}
	start := time.Now()
	// Secs is the time spent sending, without the wait for late replies after it.
	var sendEnd atomic.Int64
	context.AfterFunc(ctx, func() { sendEnd.Store(time.Now().UnixNano()) })
	var wg sync.WaitGroup
	errs := make([]error, len(streams))
	for i, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.run(ctx, start, *warm, *timeout)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if end := sendEnd.Load(); end != 0 {
		elapsed = time.Unix(0, end).Sub(start)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	res := catLoadResult{Clients: *clients, IntervalS: interval.Seconds(), SweepQPS: *sweep, Names: names, Excluded: *exclude,
		WarmS: warm.Seconds(), StartMS: start.UnixMilli(), Secs: elapsed.Seconds(), TimeoutMS: ms(*timeout)}
	res.Seconds = make([]catCounts, min(nsec, int(elapsed.Seconds())+1))
	var all latHist
	for _, s := range streams {
		for i := range res.Seconds {
			res.Seconds[i].merge(s.counts[i])
		}
		res.Lat.merge(&s.lat)
		all.merge(&s.latAll)
	}
	res.summarize(all)
	t := res.Total
	fmt.Printf("catalog-load: %.0f s, %d sent (%.0f/s), %d NOERROR, %d NXDOMAIN, %d SERVFAIL, %d other, %d lost (%s); after the %.0f s warm-up p50 %.0f µs, p99 %.0f µs, max %.0f µs\n",
		res.Secs, t.Sent, float64(t.Sent)/max(res.Secs, 1e-9), t.NoError, t.NXDomain, t.ServFail, t.Other, t.lost(), fmtLate(t), res.WarmS, res.LatP50US, res.LatP99US, res.Lat.MaxUS)
	return writeJSON(*out, res)
}

// summarize fills the totals, percentiles and failure span from Seconds and the histograms.
func (r *catLoadResult) summarize(all latHist) {
	r.Total, r.AfterWarm = catCounts{}, catCounts{}
	r.FirstFailS, r.LastFailS = -1, -1
	for i, c := range r.Seconds {
		r.Total.merge(c)
		if float64(i) >= math.Ceil(r.WarmS) {
			r.AfterWarm.merge(c)
		}
		if c.ServFail+c.NXDomain+c.lost() > 0 {
			if r.FirstFailS < 0 {
				r.FirstFailS = float64(i)
			}
			r.LastFailS = float64(i)
		}
	}
	r.LatP50US, r.LatP99US, r.LatP999US = finite(r.Lat.quantileUS(0.5)), finite(r.Lat.quantileUS(0.99)), finite(r.Lat.quantileUS(0.999))
	r.LatAllP99 = finite(all.quantileUS(0.99))
}

// finite turns a NaN (no samples) into -1, which encoding/json can write.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return -1
	}
	return v
}
