package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/srvbridge/srvbridge/internal/consultest"
)

// TestMain lets the test binary stand in for the sample service, so that the signal
// path is tested on a real process.
func TestMain(m *testing.M) {
	if os.Getenv("GO_TEST_SAMPLE_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func TestConfigFromEnv(t *testing.T) {
	env := func(kv map[string]string) func(string) string {
		return func(k string) string { return kv[k] }
	}
	c, err := configFromEnv(env(map[string]string{"INSTANCE_ID": "x"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Service != "my-service" || c.Port != 8080 || c.Consul.String() != "http://127.0.0.1:8500" || c.Drain != 7*time.Second {
		t.Errorf("defaults: %+v", c)
	}
	c, err = configFromEnv(env(map[string]string{"INSTANCE_ID": "x", "CONSUL_HTTP_ADDR": "https://consul:8501", "PORT": "9000", "DRAIN": "0s"}))
	if err != nil || c.Consul.String() != "https://consul:8501" || c.Port != 9000 || c.Drain != 0 {
		t.Errorf("set: %+v, %v", c, err)
	}
	for _, bad := range []map[string]string{{"PORT": "http"}, {"PORT": "0"}, {"DRAIN": "soon"}, {"CONSUL_HTTP_ADDR": "http://"}} {
		bad["INSTANCE_ID"] = "x"
		if _, err := configFromEnv(env(bad)); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
}

// passing returns the instance ids of service that Consul reports passing.
func passing(t *testing.T, a *consultest.Agent, service string) map[string]*api.AgentService {
	t.Helper()
	entries, _, err := a.Client.Health().Service(service, "", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*api.AgentService{}
	for _, e := range entries {
		out[e.Service.Meta["instance"]] = e.Service
	}
	return out
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func getAPI(addr string) (instance, error) {
	var got instance
	resp, err := http.Get("http://" + addr + "/api")
	if err != nil {
		return got, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&got)
	return got, err
}

// Two instances register with a passing HTTP check, answer /api with their own id,
// and one that is stopped leaves Consul at once but keeps serving while it drains.
//
// Needs: the Consul v1.16.3 binary (deploy/consul/build.sh or SRVBRIDGE_CONSUL_BIN).
func TestRegisterServeDeregister(t *testing.T) {
	agent := consultest.Start(t)
	consulURL, _ := consulURL(agent.HTTPAddr)
	logger := slog.New(slog.DiscardHandler)

	type running struct {
		cancel context.CancelFunc
		done   chan struct{} // closed when run has returned err
		err    error
	}
	start := func(id string, drain time.Duration) *running {
		ctx, cancel := context.WithCancel(context.Background())
		r := &running{cancel: cancel, done: make(chan struct{})}
		cfg := config{Service: "sample", Consul: consulURL, Address: "127.0.0.1", Listen: "127.0.0.1:0", InstanceID: id, Drain: drain}
		go func() { r.err = run(ctx, cfg, logger); close(r.done) }()
		t.Cleanup(func() { cancel(); <-r.done })
		return r
	}
	one := start("one", 1500*time.Millisecond)
	start("two", 0)

	var svcs map[string]*api.AgentService
	waitFor(t, "both instances passing", 20*time.Second, func() bool {
		svcs = passing(t, agent, "sample")
		return len(svcs) == 2
	})
	for id, s := range svcs {
		if s.ID != "sample-"+id {
			t.Errorf("service id %q, want sample-%s (unique per instance)", s.ID, id)
		}
		addr := net.JoinHostPort(s.Address, strconv.Itoa(s.Port))
		got, err := getAPI(addr)
		if err != nil || got.ID != id || got.Address != addr {
			t.Errorf("GET %s/api: %+v, %v; want instance %q at %s", addr, got, err, id, addr)
		}
	}

	addrOne := net.JoinHostPort(svcs["one"].Address, strconv.Itoa(svcs["one"].Port))
	one.cancel()
	waitFor(t, "instance one to deregister", 5*time.Second, func() bool {
		_, ok := passing(t, agent, "sample")["one"]
		return !ok
	})
	if _, ok := passing(t, agent, "sample")["two"]; !ok {
		t.Error("instance two left with instance one")
	}
	// Still draining: Kong may hold the old answer for its TTL.
	if got, err := getAPI(addrOne); err != nil || got.ID != "one" {
		t.Errorf("while draining: %+v, %v; want instance one still serving", got, err)
	}
	select {
	case <-one.done:
		if one.err != nil {
			t.Errorf("run: %v", one.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("instance one did not stop after draining")
	}
	if _, err := getAPI(addrOne); err == nil {
		t.Error("instance one still serving after it stopped")
	}
}

// A real process: its healthcheck subcommand passes while it runs; SIGTERM
// deregisters and exits 0.
func TestProcessSIGTERM(t *testing.T) {
	agent := consultest.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GO_TEST_SAMPLE_MAIN=1", "SERVICE_NAME=sig", "PORT="+port,
		"CONSUL_HTTP_ADDR=http://"+agent.HTTPAddr, "SERVICE_ADDRESS=127.0.0.1", "INSTANCE_ID=p1", "DRAIN=0s")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	})

	waitFor(t, "the process to register and pass", 20*time.Second, func() bool {
		_, ok := passing(t, agent, "sig")["p1"]
		return ok
	})
	// The image's HEALTHCHECK: "sample-service healthcheck" asks the running
	// instance on PORT.
	healthcheck := func() error {
		hc := exec.Command(os.Args[0], "healthcheck")
		hc.Env = append(os.Environ(), "GO_TEST_SAMPLE_MAIN=1", "PORT="+port, "INSTANCE_ID=hc")
		return hc.Run()
	}
	if err := healthcheck(); err != nil {
		t.Errorf("healthcheck of a running instance: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15s after SIGTERM\n%s", stderr.String())
	}
	svcs, err := agent.Client.Agent().Services()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := svcs["sig-p1"]; ok {
		t.Errorf("still registered after SIGTERM; log:\n%s", stderr.String())
	}
	if err := healthcheck(); err == nil {
		t.Error("healthcheck passes with the instance gone")
	}
	if !strings.Contains(stderr.String(), "deregistered from Consul") {
		t.Errorf("no deregistration logged:\n%s", stderr.String())
	}
}

func TestHandler(t *testing.T) {
	h := handler(instance{ID: "abc", Hostname: "h", Address: "10.0.0.1:8080"})
	for _, tt := range []struct {
		path string
		code int
		body string
	}{
		{"/api", 200, `{"instance":"abc","hostname":"h","address":"10.0.0.1:8080"}` + "\n"},
		{"/api/items", 200, `{"instance":"abc","hostname":"h","address":"10.0.0.1:8080"}` + "\n"},
		{"/health", 200, "ok\n"},
		{"/", 404, ""},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", tt.path, nil))
		if rec.Code != tt.code || (tt.body != "" && rec.Body.String() != tt.body) {
			t.Errorf("GET %s: %d %q, want %d %q", tt.path, rec.Code, rec.Body.String(), tt.code, tt.body)
		}
	}
}
