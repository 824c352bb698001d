package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// cmdWait polls srvbridge's admin endpoint until /readyz answers 200 and /metrics show
// at least the given numbers of services and instances served: with --prefetch every
// catalog service is watched from the start, and the bench must not begin before each
// of them has had its first answer compiled.
func cmdWait(args []string) error {
	fs := flag.NewFlagSet("wait", flag.ContinueOnError)
	admin := fs.String("admin", "", "srvbridge admin address host:port")
	services := fs.Int("services", 1, "services served at least")
	instances := fs.Int("instances", 1, "instances served at least")
	limit := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	start := time.Now()
	deadline := start.Add(*limit)
	last := errors.New("not polled yet")
	for time.Now().Before(deadline) {
		var s, in float64
		if err := get(hc, "http://"+*admin+"/readyz", nil); err != nil {
			last = err
		} else if err := get(hc, "http://"+*admin+"/metrics", func(r io.Reader) error {
			var err error
			s, in, err = servedGauges(r)
			return err
		}); err != nil {
			last = err
		} else if int(s) >= *services && int(in) >= *instances {
			fmt.Printf("srvbridge serves %d services, %d instances after %.1fs\n", int(s), int(in), time.Since(start).Seconds())
			return nil
		} else {
			last = fmt.Errorf("serving %d services, %d instances", int(s), int(in))
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("srvbridge not serving %d services / %d instances after %v: %v", *services, *instances, *limit, last)
}

func get(hc *http.Client, url string, body func(io.Reader) error) error {
	resp, err := hc.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	if body == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return body(resp.Body)
}

func servedGauges(r io.Reader) (services, instances float64, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	found := 0
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		var dst *float64
		switch name {
		case "srvbridge_services_served":
			dst = &services
		case "srvbridge_instances_served":
			dst = &instances
		default:
			continue
		}
		if *dst, err = strconv.ParseFloat(strings.TrimSpace(val), 64); err != nil {
			return 0, 0, err
		}
		found++
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if found < 2 {
		return 0, 0, errors.New("srvbridge_services_served / srvbridge_instances_served missing from /metrics")
	}
	return services, instances, nil
}

// cmdMetric prints the sum of all samples of one metric family from srvbridge's
// /metrics (for example srvbridge_consul_requests_total over every kind).
func cmdMetric(args []string) error {
	fs := flag.NewFlagSet("metric", flag.ContinueOnError)
	admin := fs.String("admin", "", "srvbridge admin address host:port")
	name := fs.String("name", "", "metric family name")
	if err := fs.Parse(args); err != nil {
		return err
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	var sum float64
	found := false
	err := get(hc, "http://"+*admin+"/metrics", func(r io.Reader) error {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, *name) {
				continue
			}
			rest := line[len(*name):]
			if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
				continue
			}
			f := strings.Fields(rest[strings.LastIndex(rest, "}")+1:])
			if len(f) == 0 {
				continue
			}
			v, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				return fmt.Errorf("%q: %w", line, err)
			}
			sum += v
			found = true
		}
		return sc.Err()
	})
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("no %s in /metrics", *name)
	}
	fmt.Printf("%.0f\n", sum)
	return nil
}
