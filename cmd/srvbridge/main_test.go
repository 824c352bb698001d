package main

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for srvbridge itself, so that exit codes and
// signals are tested on a real process without a separate build step.
func TestMain(m *testing.M) {
	if os.Getenv("GO_TEST_SRVBRIDGE_MAIN") == "1" {
		for i, a := range os.Args {
			if a == "--" {
				os.Args = append([]string{"srvbridge"}, os.Args[i+1:]...)
				break
			}
		}
		main()
		return
	}
	os.Exit(m.Run())
}

// srvbridgeCmd runs this test binary as srvbridge with args, in an environment without
// SRVBRIDGE_* or CONSUL_* variables so the host's settings cannot leak in.
func srvbridgeCmd(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"--"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SRVBRIDGE_") && !strings.HasPrefix(kv, "CONSUL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "GO_TEST_SRVBRIDGE_MAIN=1")
	return cmd
}

func TestRealMainUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--dns-addr", "foo"}, `srvbridge: --dns-addr "foo": missing port in address` + "\n"},
		{[]string{"--service-ttl", "-5"}, `srvbridge: --service-ttl "-5": must not be negative` + "\n"},
	} {
		var stdout, stderr bytes.Buffer
		code := realMain(tt.args, env(), nil, &stdout, &stderr)
		if code != exitUsage || stderr.String() != tt.want || stdout.Len() != 0 {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit 2 and %q", tt.args, code, stderr.String(), stdout.String(), tt.want)
		}
	}
}

func TestRealMainHelpAndVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := realMain([]string{"--help"}, env(), nil, &stdout, &stderr); code != 0 {
		t.Errorf("--help exit %d", code)
	}
	if !strings.HasPrefix(stdout.String(), "Usage: srvbridge") || stderr.Len() != 0 {
		t.Errorf("--help wrote stdout %q stderr %q", stdout.String(), stderr.String())
	}
	stdout.Reset()
	if code := realMain([]string{"--version"}, env(), nil, &stdout, &stderr); code != 0 {
		t.Errorf("--version exit %d", code)
	}
	if !strings.HasPrefix(stdout.String(), "srvbridge dev (commit unknown, go") {
		t.Errorf("--version: %q", stdout.String())
	}
}

// A real process: bad configuration exits 2 with one line on stderr naming the flag.
func TestProcessBadConfigExits2(t *testing.T) {
	for _, args := range [][]string{
		{"--dns-addr", "127.0.0.1"},
		{"--service-ttl", "-1"},
		{"--consul-addr", "nope://x"},
	} {
		cmd := srvbridgeCmd(t, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 2 {
			t.Errorf("%v: %v, want exit status 2", args, err)
		}
		line := stderr.String()
		if !strings.HasPrefix(line, "srvbridge: "+args[0]+" ") || strings.Count(line, "\n") != 1 {
			t.Errorf("%v: stderr %q, want one line naming %s", args, line, args[0])
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// With Consul unreachable, srvbridge stays up, alive but not ready, and says why;
// SIGTERM then ends it with status 0.
func TestProcessSignalWhileConsulUnreachable(t *testing.T) {
	admin := freePort(t)
	closed := freePort(t) // nothing listens there once freePort returns
	cmd := srvbridgeCmd(t, "--http-addr", admin, "--consul-addr", closed, "--dns-addr", "127.0.0.1:1053", "--log-format", "json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	}()

	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + admin + "/readyz")
		if err == nil {
			body := new(bytes.Buffer)
			body.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 503 && strings.Contains(body.String(), "Consul") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never said Consul is unreachable; stderr:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := http.Get("http://" + admin + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/healthz %d while Consul is down", resp.StatusCode)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("after SIGTERM: %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10s after SIGTERM; stderr:\n%s", stderr.String())
	}
	if out := stderr.String(); !strings.Contains(out, "srvbridge stopped") {
		t.Errorf("no clean stop logged:\n%s", out)
	}
}
