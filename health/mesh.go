package health

import (
	"context"
	"slices"
	"strings"
)

// Entry is what a held name stands for. A service's Connect-capable instances and
// the ingress gateways that expose it are held like services, under names no
// service can have (Consul service names hold no space), so that one feed, one
// refetch pool and one set of marks keep all of them fresh.
type Entry uint8

const (
	EntryService Entry = iota // <svc>.service: /v1/health/service/<svc>
	EntryConnect              // <svc>.connect: /v1/health/connect/<svc>, sidecar proxies and native apps
	EntryIngress              // <svc>.ingress: /v1/health/ingress/<svc>, gateways exposing svc
	numEntries
)

// virtualTag is the tagged address under which Consul 1.16 lists the virtual IP of
// the service a Connect instance (sidecar proxy or native app) belongs to. It is the
// only place the HTTP API shows it.
const virtualTag = "consul-virtual"

var entryPrefix = [numEntries]string{"", "connect ", "ingress "}
var entryPath = [numEntries]string{"/v1/health/service/", "/v1/health/connect/", "/v1/health/ingress/"}

// HeldName is the name Hold and Release take, and ServiceState.Service carries, for
// entry e of service svc.
func HeldName(e Entry, svc string) string { return entryPrefix[e] + svc }

// SplitHeld takes a held name apart again.
func SplitHeld(name string) (Entry, string) {
	for e := EntryConnect; e < numEntries; e++ {
		if s, ok := strings.CutPrefix(name, entryPrefix[e]); ok {
			return e, s
		}
	}
	return EntryService, name
}

// markServicesLocked queues what a change of these services' checks concerns: the
// services themselves, each one's connect entry (a native app is its own Connect
// instance), and every mesh entry whose last answer held an instance of one of them
// (a sidecar proxy, an ingress gateway). A sidecar or gateway registered since that
// answer comes with a registration, which sweeps. f.mu must be held.
func (f *feed) markServicesLocked(svcs []string) {
	for _, s := range svcs {
		f.markLocked(s, true)
		f.markLocked(HeldName(EntryConnect, s), true)
		for held := range f.meshBy[s] {
			f.markLocked(held, true)
		}
	}
}

// setSources records which services a mesh entry's instances belong to, for
// markServicesLocked. f.mu must be held.
func (f *feed) setSources(name string, h *heldService, sources []string) {
	reindex(f.meshBy, name, h.sources, sources)
	h.sources = sources
}

// sourcesOf lists the distinct services of a mesh entry's answer; nil for a
// service's own answer, whose instances are all of that service.
func sourcesOf(name string, slim []serviceEntry) []string {
	if e, _ := SplitHeld(name); e == EntryService {
		return nil
	}
	var out []string
	for i := range slim {
		if s := slim[i].Service.Service; s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// ingressPath lists every ingress-gateway config entry of a datacenter. Which
// services a gateway exposes lives only there: a change of it alone moves neither
// the services, the nodes nor the checks index, so without this watch a service
// added to or removed from a gateway would reach <svc>.ingress only at the next
// sweep. Its index moves on every config entry write, of any kind (Consul 1.16.3
// keeps one index for the config-entries table), and on nothing else: the answer
// is diffed, and only a change of what a gateway exposes marks anything.
const ingressPath = "/v1/config/ingress-gateway"

// ingressEntry is the part of an ingress-gateway config entry that says what the
// gateway exposes.
type ingressEntry struct {
	Name      string
	Listeners []struct {
		Services []struct{ Name string }
	}
}

// anyService is the wildcard an ingress listener may expose instead of names.
const anyService = "*"

func (f *feed) watchIngress(ctx context.Context) error {
	return run(ctx, f.w, KindConfig, "ingress gateways "+f.dc, func(ctx context.Context, index uint64) ([]ingressEntry, uint64, error) {
		q, cancel := f.w.queryOptions(ctx, f.dc, index)
		defer cancel()
		var entries []ingressEntry
		meta, err := f.w.cfg.Client.Raw().Query(ingressPath, &entries, q)
		if err != nil {
			return nil, 0, classify(f.dc, err)
		}
		return entries, meta.LastIndex, f.w.leader(meta)
	}, f.ingressChanged)
}

// ingressChanged diffs what the gateways expose against the last answer and marks
// the held <svc>.ingress entries of the services that came or went: a change costs
// one refetch per such entry, whatever the size of the catalog. The first answer is
// compared with nothing and marks every held ingress entry, as the other loops'
// first answers do; so does a change of a wildcard listener.
func (f *feed) ingressChanged(entries []ingressEntry) {
	cur := map[string]bool{}
	for _, e := range entries {
		for _, l := range e.Listeners {
			for _, s := range l.Services {
				cur[strings.ToLower(e.Name)+"/"+strings.ToLower(s.Name)] = true
			}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.exposed
	f.exposed = cur
	changed := map[string]bool{}
	all := old == nil
	for _, m := range [2][2]map[string]bool{{old, cur}, {cur, old}} {
		for pair := range m[0] {
			if !m[1][pair] {
				_, svc, _ := strings.Cut(pair, "/")
				changed[svc] = true
				all = all || svc == anyService
			}
		}
	}
	if !all && len(changed) == 0 {
		return
	}
	for name := range f.held {
		if e, svc := SplitHeld(name); e == EntryIngress && (all || changed[strings.ToLower(svc)]) {
			f.markLocked(name, true)
		}
	}
	f.signal()
}
