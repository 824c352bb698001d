package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
)

// propResult is what prop writes and report reads.
type propResult struct {
	Flips     int          `json:"flips"`
	GapMS     float64      `json:"gap_ms"`
	PollMS    float64      `json:"poll_ms"`
	TimeoutMS float64      `json:"timeout_ms"`
	Name      string       `json:"name"`
	Targets   []propTarget `json:"targets"`
	PutMS     []float64    `json:"put_ms"` // how long each check update PUT took
}

type propTarget struct {
	Label     string    `json:"label"`
	Addr      string    `json:"addr"`
	SamplesMS []float64 `json:"samples_ms"` // per flip, time until the answer changed
	Timeouts  int       `json:"timeouts"`
}

type targetFlag []propTarget

func (t *targetFlag) String() string { return fmt.Sprint(*t) }
func (t *targetFlag) Set(v string) error {
	label, addr, ok := strings.Cut(v, "=")
	if !ok {
		return errors.New("want label=host:port")
	}
	*t = append(*t, propTarget{Label: label, Addr: addr})
	return nil
}

// cmdProp flips the TTL check of one instance of the flip service between critical and
// passing through Consul's agent HTTP API and, for each flip, polls every target's A
// answer for the flip service over UDP every -poll until it shows the new number of
// instances. The clock starts just before the check update is sent, so each sample is
// Consul's own processing (agent state, sync to the catalog) plus the server's path from
// the catalog to its answer. All targets poll the same flip at the same time.
func cmdProp(args []string) error {
	fs := flag.NewFlagSet("prop", flag.ContinueOnError)
	addr := fs.String("consul", "", "Consul HTTP address host:port")
	var targets targetFlag
	fs.Var(&targets, "target", "label=host:port of a DNS server to poll (repeatable)")
	flips := fs.Int("flips", 100, "number of check flips")
	gap := fs.Duration("gap", 200*time.Millisecond, "least time from one flip to the next")
	poll := fs.Duration("poll", time.Millisecond, "DNS polling interval")
	timeout := fs.Duration("timeout", 5*time.Second, "longest wait for one flip to show")
	out := fs.String("out", "", "write the samples as JSON here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(targets) == 0 || *out == "" {
		return errors.New("-target and -out are required")
	}
	if *flips < 1 || *flips > 10000 || *gap < 0 || *poll <= 0 || *timeout <= 0 {
		return errors.New("want 1 <= flips <= 10000, gap >= 0, poll > 0, timeout > 0")
	}
	c, err := consulClient(*addr, 10*time.Second)
	if err != nil {
		return err
	}
	name := flipService + ".service.consul"
	clients := make([]*client, len(targets))
	for i, t := range targets {
		if clients[i], err = dial(t.Addr); err != nil {
			return err
		}
		defer clients[i].Close()
	}

	// Start from "all passing" as every server sees it.
	if err := c.Agent().UpdateTTL(flipCheckID, "", api.HealthPassing); err != nil {
		return err
	}
	for i, cl := range clients {
		if _, ok := waitFor(cl, name, flipInstances, time.Now(), *poll, 10*time.Second); !ok {
			return fmt.Errorf("%s never answered %d A records for %s", targets[i].Label, flipInstances, name)
		}
	}

	res := propResult{Flips: *flips, GapMS: ms(*gap), PollMS: ms(*poll), TimeoutMS: ms(*timeout), Name: name}
	for i := range *flips {
		status, want := api.HealthCritical, flipInstances-1
		if i%2 == 1 {
			status, want = api.HealthPassing, flipInstances
		}
		t0 := time.Now()
		var wg sync.WaitGroup
		got := make([]time.Duration, len(clients))
		oks := make([]bool, len(clients))
		for k, cl := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[k], oks[k] = waitFor(cl, name, want, t0, *poll, *timeout)
			}()
		}
		err := c.Agent().UpdateTTL(flipCheckID, fmt.Sprintf("bench flip %d", i), status)
		res.PutMS = append(res.PutMS, ms(time.Since(t0)))
		wg.Wait()
		if err != nil {
			return fmt.Errorf("flip %d: %w", i, err)
		}
		for k := range clients {
			if oks[k] {
				targets[k].SamplesMS = append(targets[k].SamplesMS, ms(got[k]))
			} else {
				targets[k].Timeouts++
			}
		}
		time.Sleep(time.Until(t0.Add(*gap)))
	}
	// Leave the service as it was found.
	if err := c.Agent().UpdateTTL(flipCheckID, "", api.HealthPassing); err != nil {
		return err
	}
	res.Targets = targets
	for _, t := range targets {
		s := summarize(t.SamplesMS)
		fmt.Printf("propagation %-9s flips=%d p50=%.1fms p99=%.1fms max=%.1fms timeouts=%d\n",
			t.Label, *flips, s.P50, s.P99, s.Max, t.Timeouts)
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(*out, b, 0o644)
}

// waitFor polls until the A answer for name has want records, or timeout passes; the
// result is measured from t0.
func waitFor(c *client, name string, want int, t0 time.Time, poll, timeout time.Duration) (time.Duration, bool) {
	deadline := t0.Add(timeout)
	for tick := 1; ; tick++ {
		h, err := c.ask(name, typeA, 200*time.Millisecond)
		now := time.Now()
		if err == nil && h.Rcode == 0 && h.An == want {
			return now.Sub(t0), true
		}
		if now.After(deadline) {
			return 0, false
		}
		// Next tick on the t0 grid; if a query took longer than a tick, ask at once.
		next := t0.Add(time.Duration(tick) * poll)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		} else {
			tick = int(now.Sub(t0) / poll)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
