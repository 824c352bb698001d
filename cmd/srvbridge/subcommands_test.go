package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestVersionSubcommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := realMain([]string{"version"}, env(), nil, &stdout, &stderr); code != exitOK {
		t.Fatalf("version: exit %d, stderr %q", code, stderr.String())
	}
	if got := stdout.String(); got != versionLine()+"\n" || !strings.HasPrefix(got, "srvbridge dev (commit unknown, go") {
		t.Errorf("version printed %q", got)
	}
	var flagOut bytes.Buffer
	realMain([]string{"--version"}, env(), nil, &flagOut, io.Discard)
	if flagOut.String() != stdout.String() {
		t.Errorf("--version %q and version %q differ", flagOut.String(), stdout.String())
	}
	stdout.Reset()
	if code := realMain([]string{"version", "extra"}, env(), nil, &stdout, &stderr); code != exitUsage {
		t.Errorf("version extra: exit %d, want %d", code, exitUsage)
	}
}

func TestDialTarget(t *testing.T) {
	for in, want := range map[string]string{
		":9153":          "127.0.0.1:9153",
		"0.0.0.0:9153":   "127.0.0.1:9153",
		"[::]:9153":      "[::1]:9153",
		"127.0.0.2:9153": "127.0.0.2:9153",
		"[::1]:9153":     "[::1]:9153",
		"10.1.2.3:80":    "10.1.2.3:80",
	} {
		if got := dialTarget(in); got != want {
			t.Errorf("dialTarget(%q) = %q, want %q", in, got, want)
		}
	}
}

// In-process, against a stand-in admin server: which path is asked, what exit code
// each answer gives, and that the flag wins over the variable.
func TestHealthcheckAnswers(t *testing.T) {
	ready := true
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Path)
		if r.URL.Path == "/readyz" && !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "not ready: cannot reach Consul: connection refused\nmore\n")
			return
		}
		io.WriteString(w, "ok\n")
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	run := func(getenv func(string) string, args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := realMain(append([]string{"healthcheck"}, args...), getenv, nil, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	fromEnv := env("SRVBRIDGE_HTTP_ADDR", addr)

	if code, out, _ := run(fromEnv); code != exitOK || out != "ok\n" {
		t.Errorf("ready: exit %d, stdout %q", code, out)
	}
	ready = false
	code, _, errOut := run(fromEnv)
	if code != exitFailure || !strings.Contains(errOut, "503") || !strings.Contains(errOut, "not ready: cannot reach Consul") || strings.Contains(errOut, "more") {
		t.Errorf("not ready: exit %d, stderr %q; want 1 and the reason's first line", code, errOut)
	}
	if code, _, _ := run(fromEnv, "--live"); code != exitOK {
		t.Errorf("--live while not ready: exit %d, want 0", code)
	}
	if want := []string{"/readyz", "/readyz", "/healthz"}; strings.Join(asked, " ") != strings.Join(want, " ") {
		t.Errorf("asked %v, want %v", asked, want)
	}

	// The flag wins over the variable; the default is the server's default.
	closed := freePort(t)
	if code, _, _ := run(env("SRVBRIDGE_HTTP_ADDR", closed), "--live", "--http-addr", addr); code != exitOK {
		t.Errorf("--http-addr over SRVBRIDGE_HTTP_ADDR: exit %d", code)
	}
	if code, _, errOut := run(env("SRVBRIDGE_HTTP_ADDR", closed), "--live"); code != exitFailure || !strings.Contains(errOut, closed) {
		t.Errorf("nothing listening: exit %d, stderr %q; want 1 naming %s", code, errOut, closed)
	}

	for _, bad := range [][]string{{"--http-addr", "localhost:9153"}, {"--nope"}, {"extra"}, {"--timeout", "0s"}} {
		if code, _, errOut := run(env(), bad...); code != exitUsage || !strings.HasPrefix(errOut, "srvbridge healthcheck: ") {
			t.Errorf("healthcheck %v: exit %d, stderr %q; want 2", bad, code, errOut)
		}
	}
	if code, out, _ := run(env(), "--help"); code != exitOK || !strings.Contains(out, "Usage: srvbridge healthcheck") {
		t.Errorf("healthcheck --help: exit %d, %q", code, out)
	}
}

// A hung admin server must not hang the healthcheck past its timeout: Docker would
// kill it and record only "timed out".
func TestHealthcheckTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	start := time.Now()
	var stderr bytes.Buffer
	code := realMain([]string{"healthcheck", "--timeout", "200ms", "--http-addr", strings.TrimPrefix(srv.URL, "http://")}, env(), nil, io.Discard, &stderr)
	if code != exitFailure || time.Since(start) > 2*time.Second {
		t.Errorf("exit %d after %v (stderr %q); want 1 within the timeout", code, time.Since(start), stderr.String())
	}
}

// Real processes: the healthcheck subcommand against a real srvbridge that cannot
// reach Consul, found through SRVBRIDGE_HTTP_ADDR with a wildcard host as the
// container image sets it.
func TestProcessHealthcheck(t *testing.T) {
	admin := freePort(t)
	closed := freePort(t)
	server := srvbridgeCmd(t, "--http-addr", admin, "--consul-addr", closed, "--dns-addr", "127.0.0.1:1053")
	var serverErr bytes.Buffer
	server.Stderr = &serverErr
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		server.Process.Signal(syscall.SIGTERM)
		server.Wait()
	}()

	_, port, _ := strings.Cut(admin, ":")
	check := func(args ...string) (int, string) {
		cmd := srvbridgeCmd(t, append([]string{"healthcheck"}, args...)...)
		cmd.Env = append(cmd.Env, "SRVBRIDGE_HTTP_ADDR=0.0.0.0:"+port)
		out, err := cmd.CombinedOutput()
		if _, ok := err.(*exec.ExitError); err != nil && !ok {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, out := check("--live")
		if code == exitOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthcheck --live never passed: %d %q; server stderr:\n%s", code, out, serverErr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, out := check(); code != exitFailure || !strings.Contains(out, "Consul") {
		t.Errorf("healthcheck while Consul is unreachable: exit %d, %q; want 1 saying why", code, out)
	}
}
