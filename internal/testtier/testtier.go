// Package testtier splits the suite into two tiers. `go test -short ./...` is the fast
// tier: it needs nothing but Go, so it runs on any machine in well under a minute. The
// full tier (make test) adds the tests that start the Consul agent, build and run the
// srvbridge binary, or call dig, kdig, haproxy, chromium or promtool. Helpers that
// start such programs call Slow, so every test that uses them joins the right tier
// without a check of its own.
package testtier

import (
	"os/exec"
	"testing"
)

// Slow skips t under -short; needs says what the test would start, for the skip
// message. Outside -short it does nothing: a missing program must then fail the test
// (see Tool), never let it pass silently.
func Slow(t testing.TB, needs string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("needs %s: not in the fast tier (-short)", needs)
	}
}

// Tool returns the path of an external program the test runs. Under -short it skips
// the test; otherwise a missing program fails it, naming the install step that
// provides it (make test runs scripts/install-test-deps.sh).
func Tool(t testing.TB, name string) string {
	t.Helper()
	Slow(t, name)
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found in PATH: run `make test`, which installs it (scripts/install-test-deps.sh)", name)
	}
	return p
}
