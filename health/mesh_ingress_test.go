package health

import (
	"slices"
	"testing"
)

// TestIngressChangedMarks: a change of what the gateways expose marks the held
// ingress entries of the services that came or went, and nothing else; the first
// answer and a wildcard change mark every held ingress entry; an answer that moved
// the index without changing what is exposed (another kind of config entry) marks
// nothing.
func TestIngressChangedMarks(t *testing.T) {
	f := newFeed(nil, "dc1")
	for _, n := range []string{"web", HeldName(EntryIngress, "web"), HeldName(EntryIngress, "Api"), HeldName(EntryIngress, "db"), HeldName(EntryConnect, "api")} {
		f.held[n] = &heldService{}
	}
	entry := func(gw string, svcs ...string) ingressEntry {
		e := ingressEntry{Name: gw}
		for _, s := range svcs {
			e.Listeners = append(e.Listeners, struct{ Services []struct{ Name string } }{Services: []struct{ Name string }{{Name: s}}})
		}
		return e
	}
	drain := func() []string {
		var out []string
		for f.changes.len() > 0 {
			out = append(out, f.changes.pop())
		}
		for _, h := range f.held {
			h.queued, h.urgent = false, false
		}
		slices.Sort(out)
		return out
	}
	for _, step := range []struct {
		what    string
		entries []ingressEntry
		want    []string
	}{
		{"first answer", []ingressEntry{entry("edge", "web")}, []string{"ingress Api", "ingress db", "ingress web"}},
		{"same again", []ingressEntry{entry("edge", "web")}, nil},
		{"api added", []ingressEntry{entry("edge", "web", "api")}, []string{"ingress Api"}},
		{"api moved to another gateway", []ingressEntry{entry("edge", "web"), entry("edge2", "API")}, []string{"ingress Api"}},
		{"a service nobody holds", []ingressEntry{entry("edge", "web", "other"), entry("edge2", "API")}, nil},
		{"wildcard", []ingressEntry{entry("edge", "web", "*"), entry("edge2", "API")}, []string{"ingress Api", "ingress db", "ingress web"}},
		{"gateway entry gone", []ingressEntry{entry("edge", "web", "*")}, []string{"ingress Api"}},
	} {
		f.ingressChanged(step.entries)
		if got := drain(); !slices.Equal(got, step.want) {
			t.Errorf("%s: marked %q, want %q", step.what, got, step.want)
		}
	}
}
