// Package consultest runs a real Consul dev agent for tests. Tests across the repo use it
// instead of mocks, so that blocking-query indexes, health checks and the DNS interface
// behave exactly as they do in production.
package consultest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/srvbridge/srvbridge/internal/testtier"
)

// EnvBinary names an existing consul binary; when set, nothing is built.
const EnvBinary = "SRVBRIDGE_CONSUL_BIN"

const modulePath = "github.com/srvbridge/srvbridge"

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary returns the path of the pinned Consul agent binary. The first call in a
// process may build it (several minutes) through deploy/consul/build.sh; later calls
// reuse the result. Under -short it skips the test (the fast tier has no Consul);
// otherwise it fails the test rather than skipping it: a test that needs Consul must
// not pass silently on a machine that lacks it.
func Binary(t testing.TB) string {
	t.Helper()
	testtier.Slow(t, "the Consul agent")
	if p := os.Getenv(EnvBinary); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("consultest: %s=%q: %v", EnvBinary, p, err)
		}
		return p
	}
	buildOnce.Do(func() { buildPath, buildErr = build() })
	if buildErr != nil {
		t.Fatalf("consultest: no consul binary (set %s or fix deploy/consul/build.sh): %v", EnvBinary, buildErr)
	}
	return buildPath
}

func build() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	script := filepath.Join(root, "deploy", "consul", "build.sh")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("bash", script)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %v\n%s", script, err, tail(stderr.String(), 40))
	}
	p := strings.TrimSpace(stdout.String())
	if p == "" {
		return "", fmt.Errorf("%s printed no path\n%s", script, tail(stderr.String(), 40))
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s: %v", script, err)
	}
	return p, nil
}

// repoRoot walks up from the working directory (the package directory under go test)
// to the go.mod of the main module. Nested modules such as deploy/consul are skipped.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if mod, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && moduleName(mod) == modulePath {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod for module " + modulePath + " above the working directory")
		}
		dir = parent
	}
}

func moduleName(gomod []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}
