package consultest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

const (
	readyTimeout = 60 * time.Second
	stopTimeout  = 10 * time.Second
	pollEvery    = 25 * time.Millisecond
	logTailLines = 300
)

// Option configures Start.
type Option func(*options)

type options struct {
	datacenter string
	nodeName   string
	dataDir    string
	logLevel   string
	// managementToken, when set, turns ACLs on (acl.go).
	managementToken string
	https           bool
}

// WithDatacenter names the agent's datacenter (default "dc1").
func WithDatacenter(dc string) Option { return func(o *options) { o.datacenter = dc } }

// WithNodeName names the agent's node (default "consultest").
func WithNodeName(name string) Option { return func(o *options) { o.nodeName = name } }

// WithDataDir gives the agent a data directory. A dev agent keeps its catalog (Raft) in
// memory whatever this says, so a restart still empties the catalog and resets its
// indexes; but the agent persists services and checks registered through its own API
// (RegisterService) and its node ID there, and registers them again on start, as a real
// agent restart does. Catalog-only registrations (RegisterExternal) are lost either way.
func WithDataDir(dir string) Option { return func(o *options) { o.dataDir = dir } }

// WithLogLevel sets the agent's log level (default "info").
func WithLogLevel(level string) Option { return func(o *options) { o.logLevel = level } }

// WithHTTPS serves the HTTP API over HTTPS too, on HTTPSAddr, with a CA and a
// server certificate made by `consul tls`. Client and the helpers keep plain HTTP.
func WithHTTPS() Option { return func(o *options) { o.https = true } }

// Agent is a running `consul agent -dev` listening on 127.0.0.1 only.
type Agent struct {
	HTTPAddr   string // host:port of the HTTP API
	HTTPSAddr  string // host:port of the HTTPS API, with WithHTTPS
	CAFile     string // the CA of the HTTPS API's certificate, with WithHTTPS
	DNSAddr    string // host:port of Consul's own DNS interface (UDP and TCP)
	Datacenter string
	NodeName   string
	// Client talks to HTTPAddr. It has no overall timeout, so blocking queries work.
	// With WithACL it sends ManagementToken.
	Client *api.Client
	// ManagementToken is the ACL token that may do anything; empty without WithACL.
	ManagementToken string

	t       testing.TB
	bin     string
	dir     string
	logPath string
	opts    options
	ports   ports

	mu     sync.Mutex
	proc   *os.Process
	exited chan struct{}
	paused bool
}

type ports struct {
	HTTP    int `json:"http"`
	HTTPS   int `json:"https"`
	DNS     int `json:"dns"`
	Server  int `json:"server"`
	SerfLAN int `json:"serf_lan"`
	SerfWAN int `json:"serf_wan"`
	GRPC    int `json:"grpc"`
	GRPCTLS int `json:"grpc_tls"`
}

// Start launches a dev agent on free ports and returns once it has a leader and its own
// node is in the catalog. The agent is stopped by t.Cleanup; its log is written to
// t.Log if the test failed.
func Start(t testing.TB, opts ...Option) *Agent {
	t.Helper()
	o := options{datacenter: "dc1", nodeName: "consultest", logLevel: "info"}
	for _, f := range opts {
		f(&o)
	}
	a := &Agent{t: t, bin: Binary(t), dir: t.TempDir(), opts: o, Datacenter: o.datacenter, NodeName: o.nodeName,
		ManagementToken: o.managementToken}
	a.logPath = filepath.Join(a.dir, "consul.log")
	t.Cleanup(func() {
		a.Stop()
		if t.Failed() {
			a.dumpLog()
		}
	})

	if o.https {
		if err := a.makeCerts(); err != nil {
			t.Fatalf("consultest: %v", err)
		}
	}
	// Free ports are only free until someone else binds them; a lost race shows up as
	// "address already in use" and is retried with a fresh set.
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if a.ports, err = freePorts(o.https); err != nil {
			t.Fatalf("consultest: choosing ports: %v", err)
		}
		if err = a.launch(); err == nil {
			break
		}
		if !errors.Is(err, errAddrInUse) {
			t.Fatalf("consultest: starting consul: %v", err)
		}
	}
	if err != nil {
		t.Fatalf("consultest: starting consul: %v", err)
	}
	a.HTTPAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(a.ports.HTTP))
	a.DNSAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(a.ports.DNS))
	if o.https {
		a.HTTPSAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(a.ports.HTTPS))
	}
	a.Client, err = api.NewClient(&api.Config{Address: a.HTTPAddr, Scheme: "http", Token: a.ManagementToken})
	if err != nil {
		t.Fatalf("consultest: %v", err)
	}
	return a
}

var errAddrInUse = errors.New("address already in use")

// launch writes the config for the current ports, starts the process and waits until it
// is ready. On failure the process is gone when launch returns.
func (a *Agent) launch() error {
	cfg := map[string]any{
		"datacenter":           a.opts.datacenter,
		"node_name":            a.opts.nodeName,
		"bind_addr":            "127.0.0.1",
		"client_addr":          "127.0.0.1",
		"advertise_addr":       "127.0.0.1",
		"advertise_addr_wan":   "127.0.0.1",
		"ports":                a.ports,
		"disable_update_check": true,
		"log_level":            a.opts.logLevel,
	}
	if a.opts.dataDir != "" {
		cfg["data_dir"] = a.opts.dataDir
	}
	if a.opts.managementToken != "" {
		cfg["acl"] = aclConfig(a.opts.managementToken)
	}
	if a.opts.https {
		cfg["tls"] = map[string]any{"defaults": map[string]any{
			"ca_file":   a.CAFile,
			"cert_file": filepath.Join(a.dir, a.opts.datacenter+"-server-consul-0.pem"),
			"key_file":  filepath.Join(a.dir, a.opts.datacenter+"-server-consul-0-key.pem"),
		}}
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(a.dir, "agent.json")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		return err
	}

	logf, err := os.OpenFile(a.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	logStart, _ := logf.Seek(0, 2)
	fmt.Fprintf(logf, "==== consultest: starting %s agent -dev -config-file %s\n", a.bin, cfgPath)
	cmd := exec.Command(a.bin, "agent", "-dev", "-config-file", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = cleanEnv()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	a.mu.Lock()
	a.proc, a.exited, a.paused = cmd.Process, exited, false
	a.mu.Unlock()

	if err := a.waitReady(exited); err != nil {
		a.Stop()
		if strings.Contains(a.logSince(logStart), "address already in use") {
			return fmt.Errorf("%w: %v", errAddrInUse, err)
		}
		return err
	}
	return nil
}

// makeCerts writes a CA and a server certificate for the agent's datacenter into
// its directory, as `consul tls` names them.
func (a *Agent) makeCerts() error {
	for _, args := range [][]string{{"tls", "ca", "create"}, {"tls", "cert", "create", "-server", "-dc", a.opts.datacenter}} {
		cmd := exec.Command(a.bin, args...)
		cmd.Dir, cmd.Env = a.dir, cleanEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("consul %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	a.CAFile = filepath.Join(a.dir, "consul-agent-ca.pem")
	return nil
}

// cleanEnv drops CONSUL_* variables so a developer's shell cannot point the agent or
// its CLI defaults elsewhere.
func cleanEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "CONSUL_") })
}

func (a *Agent) waitReady(exited <-chan struct{}) error {
	// A short per-request timeout keeps polling honest; a.Client must not have one.
	c, err := api.NewClient(&api.Config{
		Address:    net.JoinHostPort("127.0.0.1", strconv.Itoa(a.ports.HTTP)),
		Scheme:     "http",
		HttpClient: &http.Client{Timeout: 2 * time.Second},
		Token:      a.opts.managementToken,
	})
	if err != nil {
		return err
	}
	deadline := time.Now().Add(readyTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("consul exited before becoming ready (last check: %v)", last)
		default:
		}
		last = ready(c, a.opts.nodeName)
		if last == nil {
			return nil
		}
		time.Sleep(pollEvery)
	}
	return fmt.Errorf("consul not ready after %v: %v", readyTimeout, last)
}

func ready(c *api.Client, node string) error {
	leader, err := c.Status().Leader()
	if err != nil {
		return err
	}
	if leader == "" {
		return errors.New("no leader yet")
	}
	nodes, _, err := c.Catalog().Nodes(nil)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if n.Node == node {
			return nil
		}
	}
	return fmt.Errorf("node %q not in catalog yet", node)
}

// Pid is the agent's process id, 0 when it is not running: benchmarks read its
// CPU time from /proc.
func (a *Agent) Pid() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.proc == nil {
		return 0
	}
	return a.proc.Pid
}

// Stop shuts the agent down and waits for it to exit. Stopping a stopped agent is a
// no-op.
func (a *Agent) Stop() {
	a.mu.Lock()
	proc, exited, paused := a.proc, a.exited, a.paused
	a.proc, a.paused = nil, false
	a.mu.Unlock()
	if proc == nil {
		return
	}
	if paused {
		_ = proc.Signal(syscall.SIGCONT)
	}
	_ = proc.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(stopTimeout):
		_ = proc.Kill()
		<-exited
	}
}

// Kill ends the agent with SIGKILL, as a crash would: no leave, no graceful shutdown.
func (a *Agent) Kill() {
	a.mu.Lock()
	proc, exited := a.proc, a.exited
	a.proc, a.paused = nil, false
	a.mu.Unlock()
	if proc == nil {
		return
	}
	_ = proc.Kill()
	<-exited
}

// Restart stops the agent and starts it again on the same ports. A dev agent keeps its
// catalog in memory, so it comes back empty (see WithDataDir for what survives) and
// every Raft index starts again from a low value: the "index went backwards" case of
// blocking queries.
func (a *Agent) Restart() {
	a.t.Helper()
	a.Stop()
	// Our own listeners were just closed; a port can still be taken by another process
	// in between, which is rare enough to only retry for a short while.
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; {
		if err = a.launch(); err == nil || !errors.Is(err, errAddrInUse) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		a.t.Fatalf("consultest: restarting consul on the same ports: %v", err)
	}
}

// Pause freezes the agent with SIGSTOP: its sockets stay open but nothing answers, the
// way a hung or partitioned agent looks to a client.
func (a *Agent) Pause() { a.signal(syscall.SIGSTOP, true) }

// Resume undoes Pause.
func (a *Agent) Resume() { a.signal(syscall.SIGCONT, false) }

func (a *Agent) signal(sig syscall.Signal, paused bool) {
	a.t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.proc == nil {
		a.t.Fatalf("consultest: agent is not running")
	}
	if err := a.proc.Signal(sig); err != nil {
		a.t.Fatalf("consultest: %v: %v", sig, err)
	}
	a.paused = paused
}

// Running reports whether the agent process is alive (paused counts as alive).
func (a *Agent) Running() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.proc == nil {
		return false
	}
	select {
	case <-a.exited:
		return false
	default:
		return true
	}
}

// LogPath is the agent's log file; every (re)start appends to it.
func (a *Agent) LogPath() string { return a.logPath }

func (a *Agent) logSince(off int64) string {
	b, err := os.ReadFile(a.logPath)
	if err != nil || off > int64(len(b)) {
		return ""
	}
	return string(b[off:])
}

func (a *Agent) dumpLog() {
	b, err := os.ReadFile(a.logPath)
	if err != nil {
		a.t.Logf("consultest: reading consul log: %v", err)
		return
	}
	a.t.Logf("consultest: consul log (%s, last %d lines):\n%s", a.logPath, logTailLines, tail(string(b), logTailLines))
}

// freePorts picks one port per agent listener. Each is checked free for both TCP and
// UDP (DNS and Serf use both), and all are held until every one is chosen so that the
// set has no duplicates. HTTPS stays off (-1) unless https.
func freePorts(https bool) (ports, error) {
	var held []interface{ Close() error }
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	pick := func() (int, error) {
		for range 50 {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return 0, err
			}
			port := l.Addr().(*net.TCPAddr).Port
			u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				l.Close()
				continue
			}
			held = append(held, l, u)
			return port, nil
		}
		return 0, errors.New("no port free for both tcp and udp")
	}
	p := ports{HTTPS: -1}
	dsts := []*int{&p.HTTP, &p.DNS, &p.Server, &p.SerfLAN, &p.SerfWAN, &p.GRPC, &p.GRPCTLS}
	if https {
		dsts = append(dsts, &p.HTTPS)
	}
	for _, dst := range dsts {
		port, err := pick()
		if err != nil {
			return ports{}, err
		}
		*dst = port
	}
	return p, nil
}
