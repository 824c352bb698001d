package testtier

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// recorder stands in for the test a helper is given: it records a skip or a fatal
// failure and ends its goroutine, as the real ones do.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// call runs f against a recorder with -short set to short, and returns the record
// and the value f returned (if it returned).
func call(t *testing.T, short bool, f func(testing.TB) string) (rec *recorder, got string) {
	t.Helper()
	old := flag.Lookup("test.short").Value.String()
	if err := flag.Set("test.short", strconv.FormatBool(short)); err != nil {
		t.Fatal(err)
	}
	defer flag.Set("test.short", old)
	rec = &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		got = f(rec)
	}()
	<-done
	return rec, got
}

const missing = "srvbridge-testtier-no-such-program"

func TestToolSkipsUnderShort(t *testing.T) {
	rec, _ := call(t, true, func(tb testing.TB) string { return Tool(tb, missing) })
	if !strings.Contains(rec.skipped, missing) || rec.failed != "" {
		t.Errorf("under -short: skipped %q, failed %q; want a skip naming %s", rec.skipped, rec.failed, missing)
	}
}

// Outside -short a missing program must fail the test, never let it pass.
func TestToolFailsWhenMissing(t *testing.T) {
	rec, _ := call(t, false, func(tb testing.TB) string { return Tool(tb, missing) })
	if rec.skipped != "" || !strings.Contains(rec.failed, missing) || !strings.Contains(rec.failed, "install-test-deps.sh") {
		t.Errorf("without -short: skipped %q, failed %q; want a failure naming the program and the install step", rec.skipped, rec.failed)
	}
}

func TestToolFindsProgram(t *testing.T) {
	// A program of our own on PATH: the fast tier runs where no real one is installed.
	dir := t.TempDir()
	want := filepath.Join(dir, "fake-tool")
	if err := os.WriteFile(want, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	rec, got := call(t, false, func(tb testing.TB) string { return Tool(tb, "fake-tool") })
	if rec.skipped != "" || rec.failed != "" || got != want {
		t.Errorf("Tool(fake-tool) = %q, want %q; skipped %q, failed %q", got, want, rec.skipped, rec.failed)
	}
}

func TestSlowRunsOutsideShort(t *testing.T) {
	rec, got := call(t, false, func(tb testing.TB) string { Slow(tb, "x"); return "ran" })
	if got != "ran" || rec.skipped != "" {
		t.Errorf("without -short: returned %q, skipped %q; want the test to go on", got, rec.skipped)
	}
}
