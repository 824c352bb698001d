package cache

import (
	"iter"
	"maps"

	"github.com/srvbridge/srvbridge/health"
)

// Mesh entries (<svc>.connect, <svc>.ingress) live in slots of their own beside the
// service's, so that web.service and web.connect never share an answer. They exist
// only for services the catalog lists: a sidecar or gateway for a service that is
// not registered names nothing here (NXDOMAIN), and a flood of made-up names costs
// no hold. Unlike service slots they are made on first query, not with every
// catalog read: most services never have a connect or ingress name asked.

// meshSlotLocked returns dc's slot for entry e of name, making it (and a new view
// that holds it) on first use. s.mu must be held.
func (s *Store[C]) meshSlotLocked(v *dcView[C], e health.Entry, name string) *slot[C] {
	if sl := v.mesh[e-1][name]; sl != nil {
		return sl
	}
	svc := v.services[name]
	sl := &slot[C]{name: svc.name, dc: svc.dc, kind: e}
	next := *v
	m := make(map[string]*slot[C], len(v.mesh[e-1])+1)
	maps.Copy(m, v.mesh[e-1])
	m[name] = sl
	next.mesh[e-1] = m
	s.install(s.snap.Load(), &next)
	return sl
}

// keepMeshLocked carries the mesh slots of services still listed in svcs over to a
// new view, and releases the others. s.mu must be held.
func (s *Store[C]) keepMeshLocked(old *dcView[C], svcs map[string]*slot[C]) [2]map[string]*slot[C] {
	var out [2]map[string]*slot[C]
	for i, m := range old.mesh {
		for key, sl := range m {
			if svcs[key] == nil {
				s.releaseLocked(sl)
				continue
			}
			if out[i] == nil {
				out[i] = make(map[string]*slot[C], len(m))
			}
			out[i][key] = sl
		}
	}
	return out
}

// slots yields every slot of the view: services, then mesh entries.
func (v *dcView[C]) slots() iter.Seq[*slot[C]] {
	return func(yield func(*slot[C]) bool) {
		for _, m := range append([]map[string]*slot[C]{v.services}, v.mesh[:]...) {
			for _, sl := range m {
				if !yield(sl) {
					return
				}
			}
		}
	}
}
