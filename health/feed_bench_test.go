package health

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/srvbridge/srvbridge/internal/consultest"
)

// BenchmarkFeedChange measures what one change costs the feed with 2 000 held
// services: a check status change (one refetch) and a port change the checks do not
// see (a sweep of every held service), with the sweep's index probes sent one at a
// time through the API client and pipelined on a connection of their own
// (pipeline.go), over HTTP and over HTTPS, where the API client's probes are
// HTTP/2 streams and the pipeline's a TLS connection of HTTP/1.1. Reported per
// change: the time until the new state is delivered, the Consul requests it took
// (full reads and index probes), and the CPU time of this process and of the agent
// (Linux: the agent's from /proc). Requests still under way when the change is
// delivered count towards the next change.
func BenchmarkFeedChange(b *testing.B) {
	const n = 2000
	a := consultest.Start(b, consultest.WithHTTPS())
	reg, err := api.NewClient(&api.Config{Address: a.HTTPAddr, Scheme: "http", Transport: &http.Transport{DisableKeepAlives: true}})
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		name := fmt.Sprintf("svc-%04d", i)
		if err := reg.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: name, ID: name, Port: 1000 + i,
			Check: &api.AgentServiceCheck{CheckID: name + "-ttl", TTL: "1h", Status: api.HealthPassing}}); err != nil {
			b.Fatal(err)
		}
	}
	for _, mode := range []struct {
		name             string
		https, pipelined bool
	}{{"one-at-a-time", false, false}, {"pipelined", false, true}, {"https-one-at-a-time", true, false}, {"https-pipelined", true, true}} {
		b.Run(mode.name, func(b *testing.B) { benchFeedChange(b, a, reg, n, mode.https, mode.pipelined) })
	}
}

func benchFeedChange(b *testing.B, a *consultest.Agent, reg *api.Client, n int, https, pipelined bool) {
	tr := &http.Transport{}
	cfg := Config{AllowStale: true}
	addr, scheme := a.HTTPAddr, "http"
	if https {
		tlsCfg, err := api.SetupTLSConfig(&api.TLSConfig{CAFile: a.CAFile})
		if err != nil {
			b.Fatal(err)
		}
		tr.TLSClientConfig, addr, scheme = tlsCfg, a.HTTPSAddr, "https"
	}
	if pipelined {
		cfg.Probes = &ProbeConn{Addr: addr, TLS: tr.TLSClientConfig}
		ConfigureTransport(tr, DefaultMaxConns-ProbeConns)
	} else {
		ConfigureTransport(tr, DefaultMaxConns)
	}
	c, err := api.NewClient(&api.Config{Address: addr, Scheme: scheme, Transport: tr})
	if err != nil {
		b.Fatal(err)
	}
	cfg.Client = c
	w := NewWatcher(cfg)
	r := &sinkRecorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	defer func() {
		cancel()
		<-done
	}()
	go func() {
		defer close(done)
		w.WatchDatacenter(ctx, "", r)
	}()
	for i := range n {
		w.Hold("", fmt.Sprintf("svc-%04d", i))
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r.mu.Lock()
		got := len(r.svcs)
		r.mu.Unlock()
		if got == n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d services fetched", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A millisecond between looks: finer polling would cost this process's CPU
	// as much as the sweeps it measures.
	waitFor := func(name string, cond func(Instance) bool) {
		for time.Now().Before(deadline.Add(time.Minute)) {
			r.mu.Lock()
			st := r.svcs[name]
			r.mu.Unlock()
			if len(st.Instances) == 1 && cond(st.Instances[0]) {
				return
			}
			time.Sleep(time.Millisecond)
		}
		b.Fatalf("%s never changed", name)
	}
	cpu := func() (self, agent time.Duration) { return processCPU(b), pidCPU(a.Pid()) }
	reportCPU := func(b *testing.B, self0, agent0 time.Duration) {
		self1, agent1 := cpu()
		b.ReportMetric(float64((self1-self0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
		if agent0 >= 0 && agent1 >= 0 {
			b.ReportMetric(float64((agent1-agent0).Microseconds())/1000/float64(b.N), "agent-cpu-ms/op")
		}
	}
	b.Run("check", func(b *testing.B) {
		before := w.Stats().Requests(KindService)
		self0, agent0 := cpu()
		status := []string{"fail", "pass"}
		for i := 0; b.Loop(); i++ {
			a.SetTTL(b, "svc-0007-ttl", status[i%2])
			want := []Status{Critical, Passing}[i%2]
			waitFor("svc-0007", func(in Instance) bool { return in.Status == want })
		}
		reportCPU(b, self0, agent0)
		b.ReportMetric(float64(w.Stats().Requests(KindService)-before)/float64(b.N), "refetches/op")
	})
	b.Run("port", func(b *testing.B) {
		before, probes := w.Stats().Requests(KindService), w.Stats().Requests(KindServiceIndex)
		self0, agent0 := cpu()
		for i := 0; b.Loop(); i++ {
			port := 20000 + i%2
			if err := reg.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "svc-0009", ID: "svc-0009", Port: port,
				Check: &api.AgentServiceCheck{CheckID: "svc-0009-ttl", TTL: "1h", Status: api.HealthPassing}}); err != nil {
				b.Fatal(err)
			}
			waitFor("svc-0009", func(in Instance) bool { return int(in.Port) == port })
		}
		reportCPU(b, self0, agent0)
		b.ReportMetric(float64(w.Stats().Requests(KindService)-before)/float64(b.N), "refetches/op")
		b.ReportMetric(float64(w.Stats().Requests(KindServiceIndex)-probes)/float64(b.N), "probes/op")
	})
}

// pidCPU is the user and system time of process pid from /proc (Linux), in clock
// ticks of 10 ms (USER_HZ), or -1 where /proc cannot say.
func pidCPU(pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil || pid <= 0 {
		return -1
	}
	s := string(raw)
	// Fields after the command name, which may hold spaces: state is field 3,
	// utime and stime are 14 and 15.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return -1
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
