package cache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/srvbridge/srvbridge/health"
	"github.com/srvbridge/srvbridge/internal/consultest"
)

// TestStateFileWarmStart: a store saves its view; a new store started while Consul
// is down restores it and answers from it, and Consul's answer replaces it later.
func TestStateFileWarmStart(t *testing.T) {
	a := consultest.Start(t)
	register(t, a, "web", 3)
	path := filepath.Join(t.TempDir(), "state.json")
	s, _ := startStore(t, a, Config{StateFile: path, StateEvery: 100 * time.Millisecond})
	if got, r := await(t, s, "web"); r != Hit || len(got) != 3 {
		t.Fatalf("web: %v %v", got, r)
	}
	consultest.Eventually(t, 5*time.Second, func() error {
		st, err := ReadState(path)
		if err != nil {
			return err
		}
		for _, c := range st.Catalogs {
			if len(c.Instances["web"]) == 3 {
				return nil
			}
		}
		return fmt.Errorf("state has no web instances yet")
	})

	a.Stop()
	st, err := ReadState(path)
	if err != nil {
		t.Fatal(err)
	}
	w := health.NewWatcher(health.Config{Client: a.Client, AllowStale: true})
	s2, err := New(w, names, Config{LocalDC: a.Datacenter})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s2.Run(ctx)
	if err := s2.Restore(st); err != nil {
		t.Fatal(err)
	}
	if ok, why := s2.Ready(); !ok {
		t.Fatalf("not ready after restore: %s", why)
	}
	if deg, _ := s2.Degraded(); !deg {
		t.Error("restored state not flagged as degraded")
	}
	if got, r := s2.Lookup(nil, []byte("web")); r != Hit || len(got) != 3 {
		t.Fatalf("restored web: %v %v", got, r)
	}
	if _, r := s2.Lookup(nil, []byte("nope")); r != NoService {
		t.Fatalf("unknown service after restore: %v", r)
	}

	// Consul comes back (a dev agent restarts empty): the saved view gives way.
	a.Restart()
	consultest.Eventually(t, 15*time.Second, func() error {
		if _, r := s2.Lookup(nil, []byte("web")); r != NoService {
			return fmt.Errorf("web still %v", r)
		}
		if deg, why := s2.Degraded(); deg {
			return fmt.Errorf("still degraded: %s", why)
		}
		return nil
	})
}

func TestStateFileRejectsForeignFiles(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"garbage": "\x00\x01not json",
		"foreign": `{"format":"something-else","local_dc":"dc1"}`,
		"empty":   "",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		if _, err := ReadState(p); !errors.Is(err, ErrForeignState) {
			t.Errorf("%s: err = %v, want ErrForeignState", name, err)
		}
	}
	if _, err := ReadState(filepath.Join(dir, "missing")); err == nil || errors.Is(err, ErrForeignState) {
		t.Errorf("missing file: err = %v", err)
	}
}

// TestServesStaleUntilMaxStale: with Consul gone, cached answers keep coming until
// the outage is older than MaxStale; without a bound they keep coming.
func TestServesStaleUntilMaxStale(t *testing.T) {
	a := consultest.Start(t)
	register(t, a, "web", 2)
	w := health.NewWatcher(health.Config{Client: a.Client, AllowStale: true})
	bounded, err := New(w, names, Config{LocalDC: a.Datacenter, MaxStale: 2 * time.Second, Outage: w.Stats().Outage})
	if err != nil {
		t.Fatal(err)
	}
	unbounded, _ := startStore(t, a, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go bounded.Run(ctx)
	for _, s := range []*Store[[]string]{bounded, unbounded} {
		consultest.Eventually(t, 10*time.Second, func() error {
			if got, r := await(t, s, "web"); r != Hit || len(got) != 2 {
				return fmt.Errorf("web: %v %v", got, r)
			}
			return nil
		})
	}
	// Before Kill: the first request fails as the process dies, which is before
	// Kill returns (it waits for the exit), and the outage is counted from there.
	start := time.Now()
	a.Kill()
	consultest.Eventually(t, 20*time.Second, func() error {
		if _, r := bounded.Lookup(nil, []byte("web")); r != NotReady {
			return fmt.Errorf("bounded store still answers %v", r)
		}
		return nil
	})
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("stopped serving after %v, before MaxStale", d)
	}
	if got, r := unbounded.Lookup(nil, []byte("web")); r != Hit || len(got) != 2 {
		t.Errorf("unbounded store during the outage: %v %v", got, r)
	}
}
