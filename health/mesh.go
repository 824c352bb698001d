package health

import (
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
