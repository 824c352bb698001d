package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
)

// The synthetic catalog. Service i is "svc-%05d", registered on its own fake node
// "bench-node-%05d"; its instance j has the unique address ipFor(i*M+j) and port
// 20000+j. The flip service used for propagation lives on the agent's own node, because
// TTL checks are agent checks.
const (
	servicePrefix = "svc-"
	flipService   = "bench-flip"
	flipCheckID   = "bench-flip-ttl"
	flipInstances = 3
	txnMaxOps     = 64 // Consul 1.16 accepts up to 128 operations per transaction
)

func serviceName(i int) string { return fmt.Sprintf("%s%05d", servicePrefix, i) }

// ipFor maps instance k to 127.16.0.0 + k + 1, unique for k < 2^20.
func ipFor(k int) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], 127<<24|16<<16+uint32(k)+1)
	return net.IP(b[:]).String()
}

// benchSource is the loopback address the bench's own Consul requests come from. A
// Consul agent limits connections per client address (200 by default); srvbridge
// connects from 127.0.0.1, and the bench must neither take from its budget nor be
// refused with 429 when srvbridge has used it up.
var benchSource = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}

func consulClient(addr string, timeout time.Duration) (*api.Client, error) {
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: benchSource, Timeout: 10 * time.Second}).DialContext, MaxIdleConnsPerHost: 16}
	return api.NewClient(&api.Config{Address: addr, Scheme: "http", HttpClient: &http.Client{Timeout: timeout, Transport: tr}})
}

func cmdRegister(args []string) error {
	fs := flag.NewFlagSet("register", flag.ContinueOnError)
	addr := fs.String("consul", "", "Consul HTTP address host:port")
	n := fs.Int("services", 200, "number of services")
	m := fs.Int("instances", 3, "instances per service")
	conc := fs.Int("concurrency", 4, "transactions in flight")
	limit := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	checks := fs.Float64("checks", 0, "share of instances (0..1) registered with a passing catalog check, the one churn and catalog-prop toggle")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *checks < 0 || *checks > 1 {
		return errors.New("-checks: want 0..1")
	}
	if *n < 1 || *n > 50000 || *m < 1 || *m > txnMaxOps-1 || *n**m >= 1<<20 {
		return fmt.Errorf("want 1 <= services <= 50000, 1 <= instances <= %d and services*instances < 2^20", txnMaxOps-1)
	}
	if *conc < 1 || *conc > 64 {
		return fmt.Errorf("-concurrency %d: want 1..64", *conc)
	}
	c, err := consulClient(*addr, 60*time.Second)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *limit)
	defer cancel()
	start := time.Now()
	if err := waitLeader(ctx, c); err != nil {
		return err
	}

	// Whole services per transaction, as many as fit in txnMaxOps.
	opsPerSvc := *m + 1
	if *checks > 0 {
		opsPerSvc += *m
	}
	perTxn := max(1, txnMaxOps/opsPerSvc)
	batches := make(chan api.TxnOps)
	errc := make(chan error, *conc)
	var wg sync.WaitGroup
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ops := range batches {
				if err := commit(ctx, c, ops); err != nil {
					errc <- err
					cancel()
					return
				}
			}
		}()
	}
	var ops api.TxnOps
feed:
	for i := range *n {
		ops = append(ops, &api.TxnOp{Node: &api.NodeTxnOp{Verb: api.NodeSet, Node: api.Node{
			Node: nodeName(i), Address: fmt.Sprintf("127.254.%d.%d", i>>8, i&0xff), Datacenter: "",
		}}})
		for j := range *m {
			ops = append(ops, svcSet(i, instanceSvc(i, j, *m)))
			if k := i**m + j; float64(k%100) < *checks*100 {
				ops = append(ops, checkOp(k, *m, api.HealthPassing))
			}
		}
		if (i+1)%perTxn == 0 || i == *n-1 {
			select {
			case batches <- ops:
			case <-ctx.Done():
				break feed
			}
			ops = nil
		}
	}
	close(batches)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	if ctx.Err() != nil {
		return fmt.Errorf("registering: %w", ctx.Err())
	}

	for j := range flipInstances {
		reg := &api.AgentServiceRegistration{
			ID: fmt.Sprintf("%s-%d", flipService, j), Name: flipService,
			Address: fmt.Sprintf("127.15.0.%d", j+1), Port: 30000 + j,
		}
		if j == 0 {
			reg.Check = &api.AgentServiceCheck{CheckID: flipCheckID, Name: "bench flip", TTL: "1h", Status: api.HealthPassing}
		}
		if err := c.Agent().ServiceRegister(reg); err != nil {
			return fmt.Errorf("registering %s: %w", reg.ID, err)
		}
	}

	// The catalog must show every service before anyone derives files from it.
	for {
		svcs, _, err := c.Catalog().Services(nil)
		if err == nil && len(svcs) >= *n+2 {
			flips, _, err := c.Health().Service(flipService, "", true, nil)
			if err == nil && len(flips) == flipInstances {
				break
			}
		}
		select {
		case <-ctx.Done():
			return errors.New("catalog did not show every service in time")
		case <-time.After(100 * time.Millisecond):
		}
	}
	fmt.Printf("registered %d services x %d instances (+%s x %d) in %.1fs\n",
		*n, *m, flipService, flipInstances, time.Since(start).Seconds())
	return nil
}

func commit(ctx context.Context, c *api.Client, ops api.TxnOps) error {
	ok, resp, _, err := c.Txn().Txn(ops, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return err
	}
	if !ok {
		if resp != nil && len(resp.Errors) > 0 {
			return fmt.Errorf("transaction rolled back: op %d: %s", resp.Errors[0].OpIndex, resp.Errors[0].What)
		}
		return errors.New("transaction rolled back")
	}
	return nil
}

// waitLeader returns once the agent has a leader and answers catalog reads.
func waitLeader(ctx context.Context, c *api.Client) error {
	var last error
	for {
		leader, err := c.Status().Leader()
		if err == nil && leader == "" {
			err = errors.New("no leader yet")
		}
		if err == nil {
			_, _, err = c.Catalog().Services((&api.QueryOptions{}).WithContext(ctx))
		}
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("consul not ready: %v", last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
