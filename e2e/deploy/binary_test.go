// Package deploy_test checks the deployment files (Dockerfiles, compose stacks,
// Kubernetes manifests, dashboard, alert rules) against each other and against the
// real srvbridge binary. Docker cannot run on the test machines, so these tests are
// what stands between a typo and a stack that fails on someone else's laptop.
package deploy_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// repoRoot is the repository, relative to this package's directory (where go test
// runs it): e2e/deploy, in the e2e module nested in the repository.
const repoRoot = "../.."

// tmpDir holds the binary built for this package's tests; TestMain removes it.
var tmpDir string

func TestMain(m *testing.M) {
	var err error
	if tmpDir, err = os.MkdirTemp("", "srvbridge-deploytest-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	stopServer()
	os.RemoveAll(tmpDir)
	os.Exit(code)
}

// binaryFacts is what the real binary says about itself.
type binaryFacts struct {
	Path string
	// Flags are the --names in --help; Env the SRVBRIDGE_* variables it documents.
	Flags map[string]bool
	Env   map[string]bool
	// Version is the output of `srvbridge version` for a build stamped with the
	// Dockerfile's -X names and the values below.
	Version string
}

const (
	stampVersion = "v0.0.0-deploytest"
	stampCommit  = "c0ffee1"
)

var (
	binOnce sync.Once
	bin     binaryFacts
	binErr  error
)

// srvbridge builds cmd/srvbridge once for the package, stamped through the -X names
// the Dockerfile uses (so a renamed variable fails here, not in an image that says
// "dev"), and reads its --help.
func srvbridge(t *testing.T) binaryFacts {
	t.Helper()
	binOnce.Do(func() { bin, binErr = buildSrvbridge(t) })
	if binErr != nil {
		t.Fatal(binErr)
	}
	return bin
}

func buildSrvbridge(t *testing.T) (binaryFacts, error) {
	df := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	xs := regexp.MustCompile(`-X (main\.\w+)=\$\{?(\w+)\}?`).FindAllStringSubmatch(df.goBuildLine(t), -1)
	stamp := map[string]string{"VERSION": stampVersion, "COMMIT": stampCommit}
	var ldflags []string
	for _, x := range xs {
		v, ok := stamp[x[2]]
		if !ok {
			return binaryFacts{}, fmt.Errorf("Dockerfile: -X %s=$%s: build arg not known to this test", x[1], x[2])
		}
		ldflags = append(ldflags, "-X "+x[1]+"="+v)
	}
	if len(ldflags) != 2 {
		return binaryFacts{}, fmt.Errorf("Dockerfile go build stamps %d variables, want version and commit: %q", len(ldflags), xs)
	}

	f := binaryFacts{Path: filepath.Join(tmpDir, "srvbridge"), Flags: map[string]bool{}, Env: map[string]bool{}}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", strings.Join(ldflags, " "), "-o", f.Path, "./cmd/srvbridge")
	// From the repository root, so the binary is built with the main module's
	// dependency versions, as the Dockerfile builds it, not with this module's.
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return f, fmt.Errorf("go build: %v\n%s", err, out)
	}
	help, err := exec.Command(f.Path, "--help").Output()
	if err != nil {
		return f, fmt.Errorf("srvbridge --help: %v", err)
	}
	for _, m := range regexp.MustCompile(`(?m)^\s+--([a-z0-9-]+)`).FindAllStringSubmatch(string(help), -1) {
		f.Flags[m[1]] = true
	}
	for _, m := range regexp.MustCompile(`\benv (SRVBRIDGE_[A-Z0-9_]+)`).FindAllStringSubmatch(string(help), -1) {
		f.Env[m[1]] = true
	}
	if len(f.Flags) < 5 || len(f.Env) < 5 {
		return f, fmt.Errorf("--help lists %d flags and %d variables: has its format changed?\n%s", len(f.Flags), len(f.Env), help)
	}
	out, err := exec.Command(f.Path, "version").Output()
	if err != nil {
		return f, fmt.Errorf("srvbridge version: %v", err)
	}
	f.Version = string(out)
	return f, nil
}

// checkFlag fails unless --name (given as "--name" or "--name=value") is a flag of
// the binary.
func checkFlag(t *testing.T, where, arg string) {
	t.Helper()
	if !strings.HasPrefix(arg, "--") {
		return
	}
	name, _, _ := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
	if !srvbridge(t).Flags[name] {
		t.Errorf("%s: %s is not a flag of srvbridge (see srvbridge --help)", where, arg)
	}
}

// checkEnv fails unless every SRVBRIDGE_* name in env is documented by --help: a
// misspelt variable is ignored with only a warning in the log.
func checkEnv(t *testing.T, where string, env map[string]string) {
	t.Helper()
	for k := range env {
		if strings.HasPrefix(k, "SRVBRIDGE_") && !srvbridge(t).Env[k] {
			t.Errorf("%s: %s sets no srvbridge flag (see srvbridge --help)", where, k)
		}
	}
}

// A running srvbridge whose Consul is unreachable: alive, never ready, serving
// /metrics. Shared by the metric-name and healthcheck tests.
var (
	serverOnce sync.Once
	server     *runningServer
	serverErr  error
)

type runningServer struct {
	cmd       *exec.Cmd
	AdminAddr string
	Metrics   map[string]bool // metric family names on /metrics
	stderr    *bytes.Buffer
}

func runningSrvbridge(t *testing.T) *runningServer {
	t.Helper()
	b := srvbridge(t)
	serverOnce.Do(func() { server, serverErr = startServer(b.Path) })
	if serverErr != nil {
		t.Fatal(serverErr)
	}
	return server
}

func startServer(path string) (*runningServer, error) {
	admin, err := freePort()
	if err != nil {
		return nil, err
	}
	dns, err := freePort()
	if err != nil {
		return nil, err
	}
	consul, err := freePort() // closed once freePort returns: nothing answers there
	if err != nil {
		return nil, err
	}
	s := &runningServer{AdminAddr: admin, stderr: new(bytes.Buffer)}
	s.cmd = exec.Command(path, "--http-addr", admin, "--dns-addr", dns, "--consul-addr", consul)
	s.cmd.Env = cleanEnv()
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		body, err := get("http://" + admin + "/metrics")
		if err == nil {
			s.Metrics = metricFamilies(body)
			if s.Metrics["srvbridge_consul_last_contact_seconds"] {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.cmd.Process.Kill()
			s.cmd.Wait()
			return nil, fmt.Errorf("srvbridge /metrics never served the Consul metrics: %v\nstderr:\n%s", err, s.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func stopServer() {
	if server != nil {
		server.cmd.Process.Kill()
		server.cmd.Wait()
	}
}

// cleanEnv is the environment without SRVBRIDGE_* and CONSUL_* variables, so the
// host's settings cannot leak into a test.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SRVBRIDGE_") && !strings.HasPrefix(kv, "CONSUL_") {
			env = append(env, kv)
		}
	}
	return env
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func get(url string) (string, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), err
}

// metricFamilies returns the names in the "# TYPE" lines of a Prometheus text page.
func metricFamilies(page string) map[string]bool {
	out := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(page))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			out[f[2]] = true
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// The binary built as the Dockerfile builds it reports the stamped version.
func TestVersionStampedAsInDockerfile(t *testing.T) {
	v := srvbridge(t).Version
	want := fmt.Sprintf("srvbridge %s (commit %s, go", stampVersion, stampCommit)
	if !strings.HasPrefix(v, want) {
		t.Errorf("srvbridge version = %q, want prefix %q", v, want)
	}
}

// checkConfigAccepted starts the real binary with a deployment's SRVBRIDGE_*
// settings, so that a value it would reject at start-up (exit 2) fails here. The
// listen addresses are moved to free loopback ports and Consul to a closed one: what
// is checked is the configuration, not the network.
func checkConfigAccepted(t *testing.T, where string, settings map[string]string) {
	t.Helper()
	b := srvbridge(t)
	admin, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	dns, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	consul, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(b.Path)
	cmd.Env = cleanEnv()
	for k, v := range settings {
		if strings.HasPrefix(k, "SRVBRIDGE_") {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Env = append(cmd.Env, "SRVBRIDGE_DNS_ADDR="+dns, "SRVBRIDGE_HTTP_ADDR="+admin, "CONSUL_HTTP_ADDR="+consul)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case <-exited:
			t.Errorf("%s: srvbridge rejected its settings (exit %d):\n%s", where, cmd.ProcessState.ExitCode(), stderr.String())
			return
		case <-deadline:
			t.Errorf("%s: srvbridge with these settings never served /healthz:\n%s", where, stderr.String())
			return
		case <-time.After(50 * time.Millisecond):
		}
		if _, err := get("http://" + admin + "/healthz"); err == nil {
			return
		}
	}
}
