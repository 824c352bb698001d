package cache

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/srvbridge/srvbridge/health"
)

// State is the last good view, saved so a restart while Consul is unreachable can
// still answer. It holds what Consul told us, never a credential.
type State struct {
	Format   string         `json:"format"`
	LocalDC  string         `json:"local_dc"`
	SavedAt  time.Time      `json:"saved_at"`
	Catalogs []CatalogState `json:"catalogs"`
}

// CatalogState is one datacenter: its service names, nodes, and the instances of the
// services that were being served.
type CatalogState struct {
	Datacenter string                       `json:"datacenter"`
	Services   []string                     `json:"services"`
	Nodes      []health.Node                `json:"nodes,omitempty"`
	Instances  map[string][]health.Instance `json:"instances,omitempty"` // service → every instance
}

// stateFormat names the file layout; a file with another value is not ours.
const stateFormat = "srvbridge-state-v1"

// ErrForeignState means a state file is not one srvbridge wrote.
var ErrForeignState = errors.New("not a srvbridge state file")

// State returns the current view as a State, the form the state file saves.
func (s *Store[C]) State() State {
	snap := s.snap.Load()
	st := State{Format: stateFormat, LocalDC: s.local(), SavedAt: time.Now().UTC()}
	for _, v := range snap.dcs {
		if !v.servicesRead {
			continue
		}
		cs := CatalogState{Datacenter: v.name, Instances: map[string][]health.Instance{}}
		for _, sl := range v.services {
			cs.Services = append(cs.Services, sl.name)
			if e := sl.entry.Load(); e != nil {
				cs.Instances[sl.name] = e.svc.All
			}
		}
		for _, n := range v.nodes {
			cs.Nodes = append(cs.Nodes, *n)
		}
		st.Catalogs = append(st.Catalogs, cs)
	}
	return st
}

// Restore installs a saved view and holds every service in it, so that
// the saved answers are served until Consul answers again, and replaced then. It
// is meant for start-up, before Consul was ever read.
func (s *Store[C]) Restore(st State) error {
	if st.Format != stateFormat {
		return ErrForeignState
	}
	if st.LocalDC == "" {
		return fmt.Errorf("state names no local datacenter")
	}
	s.setLocal(st.LocalDC) // a no-op when Consul already said
	if !strings.EqualFold(st.LocalDC, s.local()) {
		return fmt.Errorf("state is for datacenter %q, not %q", st.LocalDC, s.local())
	}
	for _, cs := range st.Catalogs {
		dc := strings.ToLower(cs.Datacenter)
		cat := health.Catalog{Datacenter: dc, Services: map[string][]string{}}
		for _, name := range cs.Services {
			cat.Services[name] = nil
		}
		s.applyCatalog(dc, cat)
		s.applyNodes(dc, health.Nodes{Datacenter: dc, Nodes: cs.Nodes})
		s.mu.Lock()
		v := s.snap.Load().dcs[dc]
		for name, insts := range cs.Instances {
			sl := v.services[strings.ToLower(name)]
			if sl == nil {
				continue
			}
			saved := health.ServiceState{Service: name, Datacenter: dc, Instances: insts}
			if sl.held {
				s.applyService(sl, saved)
				continue
			}
			// Keeps the saved answer until Consul answers, then replaces it.
			s.holdLocked(sl, !(s.cfg.Prefetch && dc == s.local()), &saved)
		}
		s.mu.Unlock()
	}
	s.restored.Store(true)
	return nil
}

// WriteState saves st atomically: a crash leaves the old file or the new one, never
// half of either.
func WriteState(path string, st State) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("state %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".srvbridge-state-*")
	if err != nil {
		return fmt.Errorf("state %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op after the rename
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("state %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // the rename itself survives a power cut only once the directory is synced
		d.Close()
	}
	return nil
}

// ReadState loads a state file, refusing one that is not srvbridge's.
func ReadState(path string) (State, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return State{}, fmt.Errorf("state %s: %w", path, err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, fmt.Errorf("state %s: %w: %v", path, ErrForeignState, err)
	}
	if st.Format != stateFormat {
		return State{}, fmt.Errorf("state %s: %w", path, ErrForeignState)
	}
	return st, nil
}

// persistLoop writes the state at most once per interval, and only after a change.
func (s *Store[C]) persistLoop(path string, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var saved uint64
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		gen := s.changes.Load()
		if gen == saved || !s.readFromConsul.Load() {
			continue // nothing new, or nothing read from Consul yet: keep the old file
		}
		if err := WriteState(path, s.State()); err != nil {
			s.log.Warn("saving state", "err", err)
			continue
		}
		saved = gen
	}
}

// Degraded reports whether answers come from a saved state because Consul has not
// been read since start.
func (s *Store[C]) Degraded() (bool, string) {
	if s.restored.Load() && !s.readFromConsul.Load() {
		return true, "serving the saved state: Consul not read since start"
	}
	return false, ""
}
