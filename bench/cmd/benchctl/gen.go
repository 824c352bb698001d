package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
)

// instance is what a DNS answer is made of.
type instance struct {
	IP   string
	Port int
}

// cmdGen reads the bench services back from Consul (names from the catalog, instances
// from the health endpoint, with Consul's DNS health rule: any critical check drops the
// instance) and writes from that one view both the query file that dnsperf replays
// against every server and the static zone that Knot serves.
func cmdGen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	addr := fs.String("consul", "", "Consul HTTP address host:port")
	dc := fs.String("dc", "dc1", "datacenter label used in SRV targets")
	zonePath := fs.String("zone", "", "write the Knot zone file for consul. here")
	queryPath := fs.String("queries", "", "write the dnsperf query file here")
	nxShare := fs.Float64("nx-share", 0.10, "share of NXDOMAIN names in the query file")
	ttl := fs.Int("ttl", 5, "TTL of the zone's records and SOA minimum (srvbridge's defaults)")
	seed := fs.Uint64("seed", 1, "seed of the query file's shuffle")
	conc := fs.Int("concurrency", 8, "health requests in flight")
	limit := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	knotConf := fs.String("knot-conf", "", "also write a knotd config serving the zone here (its run and storage directory: the zone's)")
	knotListen := fs.String("knot-listen", "", "with -knot-conf: knotd's address, 127.0.0.1@port")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *zonePath == "" || *queryPath == "" {
		return fmt.Errorf("-zone and -queries are required")
	}
	if (*knotConf == "") != (*knotListen == "") {
		return fmt.Errorf("-knot-conf and -knot-listen go together")
	}
	if *nxShare < 0 || *nxShare >= 0.9 {
		return fmt.Errorf("-nx-share %v: want 0 <= share < 0.9", *nxShare)
	}
	c, err := consulClient(*addr, 30*time.Second)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *limit)
	defer cancel()

	catalog, _, err := c.Catalog().Services((&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return err
	}
	var names []string
	for name := range catalog {
		if strings.HasPrefix(name, servicePrefix) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		return fmt.Errorf("no %s* services in the catalog", servicePrefix)
	}
	served, err := fetchInstances(ctx, c, names, *conc)
	if err != nil {
		return err
	}

	if err := writeZone(*zonePath, *dc, *ttl, names, served); err != nil {
		return err
	}
	if *knotConf != "" {
		if err := writeKnotConf(*knotConf, *zonePath, *knotListen); err != nil {
			return err
		}
	}
	nq, nnx, err := writeQueries(*queryPath, names, *nxShare, *seed)
	if err != nil {
		return err
	}
	total := 0
	for _, in := range served {
		total += len(in)
	}
	fmt.Printf("catalog: %d services, %d instances; zone %s; %d queries (%d NXDOMAIN names) in %s\n",
		len(names), total, filepath.Base(*zonePath), nq, nnx, filepath.Base(*queryPath))
	return nil
}

func fetchInstances(ctx context.Context, c *api.Client, names []string, conc int) (map[string][]instance, error) {
	out := make(map[string][]instance, len(names))
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, max(1, conc))
	var wg sync.WaitGroup
	for _, name := range names {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			entries, _, err := c.Health().Service(name, "", false, (&api.QueryOptions{}).WithContext(ctx))
			var ins []instance
			for _, e := range entries {
				if e.Checks.AggregatedStatus() == api.HealthCritical {
					continue
				}
				ip := e.Service.Address
				if ip == "" {
					ip = e.Node.Address
				}
				ins = append(ins, instance{IP: ip, Port: e.Service.Port})
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("health of %s: %w", name, err)
			}
			out[name] = ins
		}()
	}
	wg.Wait()
	return out, firstErr
}

// writeZone writes the records srvbridge serves for the queried names: SRV and A at
// <svc>.service, SRV at _<svc>._tcp.service, the A record of each SRV target
// <hex-ip>.addr.<dc> (Knot adds it as additional data, as srvbridge and Consul add
// theirs), and the apex SOA and NS.
func writeZone(path, dc string, ttl int, names []string, served map[string][]instance) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintf(w, "$ORIGIN consul.\n$TTL %d\n", ttl)
	fmt.Fprintf(w, "@ SOA ns.consul. hostmaster.consul. 1 3600 600 86400 %d\n", ttl)
	fmt.Fprintf(w, "@ NS ns.consul.\nns A 127.0.0.1\n")
	targets := map[string]string{}
	for _, name := range names {
		for _, in := range served[name] {
			ip := net.ParseIP(in.IP).To4()
			if ip == nil {
				f.Close()
				return fmt.Errorf("%s: instance address %q is not IPv4", name, in.IP)
			}
			target := hex.EncodeToString(ip) + ".addr." + dc
			targets[target] = in.IP
			fmt.Fprintf(w, "%s.service SRV 1 1 %d %s\n", name, in.Port, target)
			fmt.Fprintf(w, "_%s._tcp.service SRV 1 1 %d %s\n", name, in.Port, target)
			fmt.Fprintf(w, "%s.service A %s\n", name, in.IP)
		}
	}
	for _, t := range slices.Sorted(maps.Keys(targets)) {
		fmt.Fprintf(w, "%s A %s\n", t, targets[t])
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeKnotConf writes a knotd config that serves zonePath as consul. on listen with
// one UDP worker (the benchmarks compare it with one server process on a shared core),
// its run and database directories under the zone's.
func writeKnotConf(path, zonePath, listen string) error {
	dir, err := filepath.Abs(filepath.Dir(zonePath))
	if err != nil {
		return err
	}
	run := filepath.Join(dir, "knot")
	if err := os.MkdirAll(run, 0o755); err != nil {
		return err
	}
	conf := fmt.Sprintf(`server:
    rundir: %[1]q
    listen: %[2]s
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: warning
database:
    storage: %[1]q
template:
  - id: default
    storage: %[3]q
    semantic-checks: off
zone:
  - domain: consul.
    file: %[4]q
`, run, listen, dir, filepath.Base(zonePath))
	return os.WriteFile(path, []byte(conf), 0o644)
}

// writeQueries writes, for every service, "<svc>.service.consul SRV", "<svc>.service.consul
// A" and "_<svc>._tcp.service.consul SRV", plus nx-share of names that do not exist,
// shuffled with a fixed seed so that every server gets the same sequence.
func writeQueries(path string, names []string, nxShare float64, seed uint64) (int, int, error) {
	var lines []string
	for _, name := range names {
		lines = append(lines,
			name+".service.consul SRV",
			name+".service.consul A",
			"_"+name+"._tcp.service.consul SRV")
	}
	nnx := int(float64(len(lines))*nxShare/(1-nxShare) + 0.5)
	for i := range nnx {
		qtype := "A"
		if i%2 == 1 {
			qtype = "SRV"
		}
		lines = append(lines, fmt.Sprintf("nx-%05d.service.consul %s", i, qtype))
	}
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	r.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
	data := strings.Join(lines, "\n") + "\n"
	return len(lines), nnx, os.WriteFile(path, []byte(data), 0o644)
}
