// Package bridgetest runs the real srvbridge binary against a real Consul agent for
// end-to-end tests, and queries it with a DNS client over real sockets.
package bridgetest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/srvbridge/srvbridge/internal/testtier"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds cmd/srvbridge once per test process and returns its path. Under
// -short it skips the test: building and running the binary is the slow tier's job.
func Binary(t testing.TB) string {
	t.Helper()
	testtier.Slow(t, "the srvbridge binary")
	buildOnce.Do(func() {
		root, err := repoRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "srvbridge-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "srvbridge")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/srvbridge")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/srvbridge: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("bridgetest: %v", buildErr)
	}
	return binPath
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			bytes.Contains(b, []byte("module github.com/srvbridge/srvbridge\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no srvbridge go.mod above the working directory")
		}
		dir = parent
	}
}

// Bridge is a running srvbridge process.
type Bridge struct {
	DNSAddr  string
	HTTPAddr string
	cmd      *exec.Cmd
	logs     *lockedBuffer
	exited   chan struct{}
	t        testing.TB
}

// Start runs srvbridge against the Consul HTTP API at consulAddr, on free loopback
// ports, with extra flags, and waits until /readyz says ready.
func Start(t testing.TB, consulAddr string, flags ...string) *Bridge {
	t.Helper()
	b := Launch(t, consulAddr, flags...)
	if err := b.WaitReady(20 * time.Second); err != nil {
		t.Fatalf("bridgetest: %v\n%s", err, b.Logs())
	}
	return b
}

// Launch runs srvbridge without waiting for it to become ready.
func Launch(t testing.TB, consulAddr string, flags ...string) *Bridge {
	t.Helper()
	port, err := FreeDNSPort()
	if err != nil {
		t.Fatalf("bridgetest: %v", err)
	}
	return LaunchAt(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), consulAddr, flags...)
}

// LaunchAt runs srvbridge answering DNS on dnsAddr, which another srvbridge may
// share (SO_REUSEPORT), without waiting for it to become ready.
func LaunchAt(t testing.TB, dnsAddr, consulAddr string, flags ...string) *Bridge {
	t.Helper()
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("bridgetest: %v", err)
	}
	httpAddr := hl.Addr().String()
	hl.Close()
	b := &Bridge{
		DNSAddr:  dnsAddr,
		HTTPAddr: httpAddr,
		logs:     &lockedBuffer{},
		exited:   make(chan struct{}),
		t:        t,
	}
	args := append([]string{"--consul-addr", consulAddr, "--dns-addr", b.DNSAddr,
		"--http-addr", b.HTTPAddr, "--log-level", "debug"}, flags...)
	b.cmd = exec.Command(Binary(t), args...)
	b.cmd.Env = cleanEnv()
	b.cmd.Stdout, b.cmd.Stderr = b.logs, b.logs
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("bridgetest: start srvbridge: %v", err)
	}
	go func() { b.cmd.Wait(); close(b.exited) }()
	t.Cleanup(func() {
		b.Stop()
		if t.Failed() {
			t.Logf("srvbridge log:\n%s", b.Logs())
		}
	})
	return b
}

// cleanEnv keeps the test's Consul settings out of the child: every address and
// token it uses comes from the flags the test passes.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !bytes.HasPrefix([]byte(kv), []byte("CONSUL_")) && !bytes.HasPrefix([]byte(kv), []byte("SRVBRIDGE_")) {
			env = append(env, kv)
		}
	}
	return env
}

// WaitReady polls /readyz until it answers 200.
func (b *Bridge) WaitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-b.exited:
			return fmt.Errorf("srvbridge exited before ready: %v", b.cmd.ProcessState)
		default:
		}
		resp, err := c.Get("http://" + b.HTTPAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("srvbridge not ready within %v (last: %v)", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop sends SIGTERM and waits for the exit; it reports whether the exit code was 0.
func (b *Bridge) Stop() (cleanExit bool) {
	select {
	case <-b.exited:
		return b.cmd.ProcessState.Success()
	default:
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
		return b.cmd.ProcessState.Success()
	case <-time.After(15 * time.Second):
		b.cmd.Process.Kill()
		<-b.exited
		return false
	}
}

// Logs returns everything the process wrote so far.
func (b *Bridge) Logs() string { return b.logs.String() }

// FreeDNSPort finds a loopback port free for both UDP and TCP.
func FreeDNSPort() (int, error) {
	for i := 0; i < 50; i++ {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		u.Close()
		if err != nil {
			continue
		}
		l.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no port free for both UDP and TCP")
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
