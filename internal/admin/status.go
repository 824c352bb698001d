package admin

import (
	"bytes"
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The status page: what a person opening the admin port wants to see at a glance.
// It is rendered on the server from the same counters /metrics reads, with no script,
// so it works from a terminal browser and needs no front-end build.

const (
	defaultRefresh    = 5 * time.Second
	statusMaxServices = 200 // a page of 10 000 services helps nobody; the filter does
	statusMaxInsts    = 100
)

// StatusPage renders GET /. Its sources come from the collector, which cmd/srvbridge
// fills in as the packages start, so the page works (and says "starting") from the
// first moment the admin port is up.
type StatusPage struct {
	coll       *Collector
	ready      func() (bool, string)
	consulAddr string
}

// NewStatusPage shows what coll reads, readiness as ready reports it, and the
// Consul address with any password hidden.
func NewStatusPage(coll *Collector, ready func() (bool, string), consulAddr string) *StatusPage {
	return &StatusPage{coll: coll, ready: ready, consulAddr: RedactURL(consulAddr)}
}

// RedactURL hides a password given in the address's user info: the page is for
// anyone who can reach the admin port, and secrets never appear on it (nor in logs).
func RedactURL(addr string) string {
	u, err := url.Parse(addr)
	if err != nil || u.User == nil {
		return addr
	}
	return u.Redacted()
}

func (p *StatusPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	refresh := defaultRefresh
	if v := q.Get("refresh"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 3600 {
			http.Error(w, fmt.Sprintf("refresh %q: want whole seconds from 0 (off) to 3600", v), http.StatusBadRequest)
			return
		}
		refresh = time.Duration(n) * time.Second
	}
	data := p.data(q.Get("q"), refresh)
	data.RefreshSet = q.Has("refresh")
	var buf bytes.Buffer
	if err := statusTemplate.Execute(&buf, data); err != nil {
		http.Error(w, "status page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// No script at all, styles only from the page itself, no framing.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.Write(buf.Bytes())
}

//go:embed status.html
var statusHTML string

var statusTemplate = template.Must(template.New("status").Parse(statusHTML))

// statusData is everything the template shows, computed before rendering so that
// the template holds no logic beyond loops and conditions.
type statusData struct {
	Version, Commit, GoVersion string
	Now                        string
	Uptime                     string
	Refresh                    int  // seconds; 0: no automatic refresh
	RefreshSet                 bool // asked for in the URL, so the filter form keeps it
	Filter                     string

	Ready       bool
	ReadyReason string

	ConsulAddr     string
	ConsulState    string // "connected", "unreachable", "not contacted yet"
	ConsulDetail   string
	ConsulOK       bool
	ConsulRequests uint64
	ConsulErrors   uint64
	Datacenter     string

	QueriesTotal uint64
	ByRcode      []counter
	ByType       []counter

	Started  bool // the cache exists; before that there is nothing to list
	Services []serviceRow
	Shown    int
	Matched  int
	Catalog  int
}

type counter struct {
	Name string
	N    uint64
}

type serviceRow struct {
	Name, Datacenter string
	Served, All      int
	Updated          string // when srvbridge applied Consul's last change
	LastUsed         string // the last query for it, or when it was held if none since
	Fallback         string // empty when the healthy instances are served
	Instances        []instanceRow
	MoreInstances    int
}

type instanceRow struct {
	ID, Node, Address string
	Port              uint16
	Weight            uint16
	Health            string // Consul's aggregated status
	Served            bool
	Tags              string
}

func (p *StatusPage) data(filter string, refresh time.Duration) statusData {
	now := p.coll.now()
	d := statusData{
		Version: p.coll.build.Version, Commit: p.coll.build.Commit, GoVersion: p.coll.build.GoVersion,
		Now:        now.UTC().Format("2006-01-02 15:04:05 UTC"),
		Uptime:     roundAge(now.Sub(p.coll.start)),
		Refresh:    int(refresh / time.Second),
		Filter:     filter,
		ConsulAddr: p.consulAddr,
	}
	d.Ready, d.ReadyReason = p.ready()
	src := p.coll.src.Load()

	d.ConsulState, d.ConsulDetail = "not contacted yet", "connecting"
	if cs := src.Consul; cs != nil {
		cs.EachKind(func(_ string, req, errs uint64) {
			d.ConsulRequests += req
			d.ConsulErrors += errs
		})
		last := cs.LastContact()
		var outage time.Duration
		if src.Answers != nil {
			outage = time.Duration(src.Answers.StaleSeconds() * float64(time.Second))
		}
		switch {
		case outage > 0:
			d.ConsulState = "unreachable"
			d.ConsulDetail = "for " + roundAge(outage) + "; answers are the last known ones"
		case !last.IsZero():
			d.ConsulState, d.ConsulOK = "connected", true
			d.ConsulDetail = "last answer " + roundAge(now.Sub(last)) + " ago"
		}
		if last.IsZero() && d.ConsulErrors > 0 {
			d.ConsulState, d.ConsulDetail = "unreachable", "never answered since start"
		}
	}
	if a := src.ACL; a != nil {
		if err := a.Denied(); err != nil {
			d.ConsulState, d.ConsulDetail, d.ConsulOK = "refuses the ACL token", err.Error(), false
		}
	}

	if qs := src.Queries; qs != nil {
		rc, qt := map[string]uint64{}, map[string]uint64{}
		qs.EachQuery(func(qtype, rcode string, n uint64) {
			d.QueriesTotal += n
			rc[rcode] += n
			qt[qtype] += n
		})
		d.ByRcode, d.ByType = sortedCounters(rc), sortedCounters(qt)
	}

	if src.Services != nil {
		st := src.Services.Services(ServiceQuery{Contains: filter, Limit: statusMaxServices, Instances: statusMaxInsts})
		d.Started, d.Datacenter = true, st.Datacenter
		d.Matched, d.Catalog, d.Shown = st.Matched, st.Catalog, len(st.Services)
		for _, ss := range st.Services {
			d.Services = append(d.Services, serviceRowOf(ss, now))
		}
	}
	return d
}

func serviceRowOf(ss ServiceStatus, now time.Time) serviceRow {
	row := serviceRow{
		Name: ss.Name, Datacenter: ss.Datacenter,
		Served: ss.Served, All: ss.Listed,
		Updated:  roundAge(now.Sub(ss.Updated)) + " ago",
		LastUsed: roundAge(now.Sub(ss.LastUsed)) + " ago",
		Fallback: ss.Fallback,
	}
	insts := ss.Instances[:min(len(ss.Instances), statusMaxInsts)]
	row.MoreInstances = max(ss.Listed-len(insts), 0)
	for _, in := range insts {
		row.Instances = append(row.Instances, instanceRow{ID: in.ID, Node: in.Node, Address: in.Address,
			Port: in.Port, Weight: in.Weight, Health: in.Health, Served: in.Served, Tags: strings.Join(in.Tags, ", ")})
	}
	return row
}

// sortedCounters orders by count, largest first, then name, so the page does not
// reshuffle between refreshes when counts tie.
func sortedCounters(m map[string]uint64) []counter {
	out := make([]counter, 0, len(m))
	for k, n := range m {
		out = append(out, counter{k, n})
	}
	slices.SortFunc(out, func(a, b counter) int {
		return cmp.Or(cmp.Compare(b.N, a.N), strings.Compare(a.Name, b.Name))
	})
	return out
}

// roundAge prints a duration at a precision a person reads at a glance.
func roundAge(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	default:
		return d.Round(time.Minute).String()
	}
}
