package health

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// pipeConsul answers index probes as Consul does, over a real HTTP/1.1 server (or
// HTTPS), and records what each request carried. answer decides per service name.
type pipeConsul struct {
	srv   *httptest.Server
	conns atomic.Int32 // connections accepted

	mu     sync.Mutex
	seen   []*http.Request
	answer func(name string, rw http.ResponseWriter) bool // false: the default answer
}

func newPipeConsul(t *testing.T) *pipeConsul { return startPipeConsul(t, false) }

// startPipeConsul starts the server; over TLS it offers HTTP/2 and HTTP/1.1, as
// Consul's HTTPS API does.
func startPipeConsul(t *testing.T, overTLS bool) *pipeConsul {
	c := &pipeConsul{}
	c.srv = httptest.NewUnstartedServer(c)
	c.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			c.conns.Add(1)
		}
	}
	if overTLS {
		c.srv.EnableHTTP2 = true
		c.srv.TLS = &tls.Config{NextProtos: []string{"h2", "http/1.1"}}
		c.srv.StartTLS()
	} else {
		c.srv.Start()
	}
	t.Cleanup(c.srv.Close)
	return c
}

func (c *pipeConsul) addr() string {
	return strings.TrimPrefix(strings.TrimPrefix(c.srv.URL, "http://"), "https://")
}

func (c *pipeConsul) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.seen = append(c.seen, r)
	answer := c.answer
	c.mu.Unlock()
	name := strings.TrimPrefix(r.URL.Path, "/v1/health/service/")
	if answer != nil && answer(name, rw) {
		return
	}
	rw.Header().Set("X-Consul-Index", fmt.Sprint(100+len(name)))
	fmt.Fprint(rw, "[]")
}

func (c *pipeConsul) requests() []*http.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*http.Request(nil), c.seen...)
}

func testPipeline(t *testing.T, c *pipeConsul, token string) *pipeline {
	t.Helper()
	return startPipeline(t, ProbeConn{Addr: c.addr(), Token: token})
}

// startPipeline makes a pipeline that the test's cleanup closes.
func startPipeline(t *testing.T, cfg ProbeConn) *pipeline {
	t.Helper()
	p, err := newPipeline(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.mu.Lock()
		p.close()
		p.mu.Unlock()
	})
	return p
}

// TestPipelineProbes: a batch's probes are the API client's requests (path, tag,
// datacenter, stale, token), answered in order on one connection, which the next
// batch reuses.
func TestPipelineProbes(t *testing.T) {
	c := newPipeConsul(t)
	p := testPipeline(t, c, "s3cret")
	names := []string{"web", "a/b c", "api-v2"}
	out := make([]probeAnswer, len(names))
	p.probe(context.Background(), "dc2", true, names, out)
	for i, name := range names {
		if a := out[i]; a.err != nil || !a.ok || a.index != uint64(100+len(name)) {
			t.Errorf("%s: %+v, want index %d", name, a, 100+len(name))
		}
	}
	reqs := c.requests()
	if len(reqs) != len(names) {
		t.Fatalf("%d requests, want %d", len(reqs), len(names))
	}
	for i, r := range reqs {
		q := r.URL.Query()
		if r.URL.Path != "/v1/health/service/"+names[i] || q.Get("tag") != probeTag || q.Get("dc") != "dc2" || !q.Has("stale") ||
			r.Header.Get("X-Consul-Token") != "s3cret" || r.Method != http.MethodGet {
			t.Errorf("request %d: %s %s, token %q", i, r.Method, r.URL, r.Header.Get("X-Consul-Token"))
		}
	}
	p.probe(context.Background(), "", false, names[:1], out[:1])
	if r := c.requests()[len(names)]; r.URL.Query().Has("dc") || r.URL.Query().Has("stale") {
		t.Errorf("no datacenter, not stale: %s", r.URL)
	}
	if n := c.conns.Load(); n != 1 {
		t.Errorf("%d connections for two batches, want 1", n)
	}
}

// TestPipelineOverTLS: over HTTPS the probes go on one TLS connection that offers
// HTTP/1.1 only, whatever the API client's TLS settings offer, and the agent
// answers them as HTTP/1.1 requests although it speaks HTTP/2 too. A certificate
// the settings do not trust fails every probe, saying so.
func TestPipelineOverTLS(t *testing.T) {
	c := startPipeConsul(t, true)
	trusted := c.srv.Client().Transport.(*http.Transport).TLSClientConfig
	settings := &tls.Config{RootCAs: trusted.RootCAs, NextProtos: []string{"h2", "http/1.1"}}
	p := startPipeline(t, ProbeConn{Addr: c.addr(), Token: "s3cret", TLS: settings})
	names := []string{"web", "api-v2"}
	out := make([]probeAnswer, len(names))
	for range 2 {
		p.probe(context.Background(), "", false, names, out)
		for i, name := range names {
			if a := out[i]; a.err != nil || !a.ok || a.index != uint64(100+len(name)) {
				t.Errorf("%s: %+v, want index %d", name, a, 100+len(name))
			}
		}
	}
	reqs := c.requests()
	if len(reqs) != 2*len(names) {
		t.Fatalf("%d requests, want %d", len(reqs), 2*len(names))
	}
	for _, r := range reqs {
		if r.ProtoMajor != 1 || r.TLS == nil || r.TLS.NegotiatedProtocol != "http/1.1" || r.Header.Get("X-Consul-Token") != "s3cret" {
			t.Errorf("%s over %s, ALPN %+v", r.URL, r.Proto, r.TLS)
		}
	}
	if n := c.conns.Load(); n != 1 {
		t.Errorf("%d connections for two batches, want 1", n)
	}
	if !slices.Equal(settings.NextProtos, []string{"h2", "http/1.1"}) {
		t.Errorf("the API client's TLS settings were changed: %v", settings.NextProtos)
	}

	untrusting := startPipeline(t, ProbeConn{Addr: c.addr(), TLS: &tls.Config{}})
	untrusting.probe(context.Background(), "", false, names, out)
	for _, a := range out {
		if a.err == nil || !strings.Contains(a.err.Error(), "certificate") {
			t.Errorf("untrusted certificate: %+v", a)
		}
	}
	if n := len(c.requests()); n != 2*len(names) {
		t.Errorf("%d requests reached the agent without a trusted handshake", n-2*len(names))
	}
}

// TestPipelineAgentClosesConnection: when the agent closes the connection after
// some answers, the probes it did not answer go again on a new connection.
func TestPipelineAgentClosesConnection(t *testing.T) {
	c := newPipeConsul(t)
	var n atomic.Int32
	c.answer = func(name string, rw http.ResponseWriter) bool {
		if n.Add(1) == 2 {
			rw.Header().Set("Connection", "close")
		}
		return false
	}
	p := testPipeline(t, c, "")
	names := []string{"a", "bb", "ccc", "dddd"}
	out := make([]probeAnswer, len(names))
	p.probe(context.Background(), "", false, names, out)
	for i, name := range names {
		if a := out[i]; a.err != nil || !a.ok || a.index != uint64(100+len(name)) {
			t.Errorf("%s: %+v", name, a)
		}
	}
	if got := c.conns.Load(); got != 2 {
		t.Errorf("%d connections, want 2", got)
	}
}

// TestPipelineRefusals: a 403, a 429 and an ACL-filtered answer come back as the
// API client reports them, in their place in the batch, and do not break it.
func TestPipelineRefusals(t *testing.T) {
	c := newPipeConsul(t)
	c.answer = func(name string, rw http.ResponseWriter) bool {
		switch name {
		case "denied":
			http.Error(rw, "Permission denied: token lacks service:read", http.StatusForbidden)
		case "busy":
			http.Error(rw, "too many requests", http.StatusTooManyRequests)
		case "filtered":
			rw.Header().Set("X-Consul-Index", "9")
			rw.Header().Set("X-Consul-Results-Filtered-By-ACLs", "true")
			fmt.Fprint(rw, "[]")
		default:
			return false
		}
		return true
	}
	p := testPipeline(t, c, "")
	names := []string{"denied", "ok", "busy", "filtered"}
	out := make([]probeAnswer, len(names))
	p.probe(context.Background(), "", false, names, out)
	var se api.StatusError
	if !errors.As(out[0].err, &se) || se.Code != http.StatusForbidden || !strings.Contains(se.Body, "service:read") {
		t.Errorf("denied: %+v", out[0])
	}
	if out[1].err != nil || !out[1].ok {
		t.Errorf("ok: %+v", out[1])
	}
	if !throttled(out[2].err) {
		t.Errorf("busy: %+v, want a 429", out[2])
	}
	if out[3].err != nil || out[3].ok {
		t.Errorf("filtered: %+v, want no index that stands for the full read", out[3])
	}
}

// TestPipelineUnreachable: with nobody listening every probe of the batch fails
// as unreachable, and the error does not carry the token.
func TestPipelineUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p, err := newPipeline(ProbeConn{Addr: addr, Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]probeAnswer, 2)
	p.probe(context.Background(), "", false, []string{"a", "b"}, out)
	for _, a := range out {
		if a.err == nil || !unreachable(a.err) || strings.Contains(a.err.Error(), "s3cret") {
			t.Errorf("%+v, want unreachable", a)
		}
	}
}

// TestPipelineRejectsHeaderInjection: a token that would end the header is refused,
// so that probes go through the API client instead.
func TestPipelineRejectsHeaderInjection(t *testing.T) {
	for _, cfg := range []ProbeConn{{Addr: "127.0.0.1:8500", Token: "a\r\nX-Evil: 1"}, {Addr: ""}, {Addr: "h:1/x"}} {
		if _, err := newPipeline(cfg); err == nil {
			t.Errorf("%q accepted", cfg.Addr)
		} else if strings.Contains(err.Error(), "Evil") {
			t.Errorf("the error quotes the token: %v", err)
		}
	}
}

// TestSweepPipelined: with a probe connection a sweep probes its batch in one
// write, reads in full only what moved, and delivers only what changed.
func TestSweepPipelined(t *testing.T) {
	c := &fakeHealth{port: 80, index: 7, full: map[string]int{}, probes: map[string]int{}}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	client, err := api.NewClient(&api.Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	var dials atomic.Int32
	w := NewWatcher(Config{Client: client, MaxConns: 8, Probes: &ProbeConn{Addr: addr, Dial: countingDial(&dials)}})
	if w.pipe == nil {
		t.Fatal("no pipeline")
	}
	f := w.feedFor("")
	sink := &nopSink{}
	f.sink = sink
	names := []string{"a", "b", "c"}
	for _, n := range names {
		f.hold(n)
	}
	for range names {
		refreshNext(t, f, take1(f))
	}
	sweepBatch := func() {
		t.Helper()
		f.sweep()
		name, h, swept, ok := f.next(context.Background())
		if !ok || !swept {
			t.Fatalf("next after a sweep: %q swept %v", name, swept)
		}
		batch := f.takeSwept([]taken{{name, h}})
		if len(batch) != len(names) {
			t.Fatalf("batch of %d, want %d", len(batch), len(names))
		}
		f.refreshSwept(context.Background(), batch)
		f.sweepDone()
	}
	delivered := len(sink.got)
	sweepBatch()
	for _, n := range names {
		if full, probes := c.reads(n); full != 1 || probes != 1 {
			t.Errorf("%s unchanged: %d full reads, %d probes; want 1 and 1", n, full, probes)
		}
	}
	if len(sink.got) != delivered {
		t.Errorf("unchanged services delivered again")
	}
	c.set(81, 8)
	sweepBatch()
	for _, n := range names {
		if full, probes := c.reads(n); full != 2 || probes != 2 {
			t.Errorf("%s moved: %d full reads, %d probes; want 2 and 2", n, full, probes)
		}
	}
	if got := len(sink.got) - delivered; got != len(names) {
		t.Errorf("%d delivered after the move, want %d", got, len(names))
	}
	if got := w.stats.SweepReadsSaved(); got != uint64(len(names)) {
		t.Errorf("%d reads saved, want %d", got, len(names))
	}
	// The probes went through the pipeline, on one connection for both sweeps.
	if n := dials.Load(); n != 1 {
		t.Errorf("%d probe connections dialled, want 1", n)
	}
}

// countingDial dials TCP and counts the connections made in n.
func countingDial(n *atomic.Int32) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
}

// take1 is the name next hands out now.
func take1(f *feed) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.holds.names[0]
}

// TestPipelineCanceled: a batch waiting on a slow agent ends when its context does,
// with the context's error for every probe it did not get an answer to.
func TestPipelineCanceled(t *testing.T) {
	c := newPipeConsul(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	c.answer = func(name string, rw http.ResponseWriter) bool {
		if name == "slow" {
			<-release
		}
		return false
	}
	p := testPipeline(t, c, "")
	ctx, cancel := context.WithCancel(context.Background())
	out := make([]probeAnswer, 2)
	done := make(chan struct{})
	go func() {
		p.probe(ctx, "", false, []string{"a", "slow"}, out)
		close(done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(c.requests()) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the agent never got the slow probe")
		}
		runtime.Gosched()
	}
	cancel()
	// Without the cancel the read would wait for its own deadline, oneShotTimeout.
	select {
	case <-done:
	case <-time.After(oneShotTimeout / 2):
		t.Fatal("the batch outlived its context")
	}
	if out[0].err != nil || !out[0].ok {
		t.Errorf("answered before the cancel: %+v", out[0])
	}
	if !errors.Is(out[1].err, context.Canceled) {
		t.Errorf("waiting at the cancel: %+v, want context.Canceled", out[1])
	}
}

// TestPipelineShedByAgent: an agent that answers 429 and closes the connection (its
// per-client connection limit) is not dialled again for the rest of the batch:
// they all get the 429.
func TestPipelineShedByAgent(t *testing.T) {
	c := newPipeConsul(t)
	c.answer = func(name string, rw http.ResponseWriter) bool {
		if name != "b" {
			return false
		}
		rw.Header().Set("Connection", "close")
		http.Error(rw, "too many connections", http.StatusTooManyRequests)
		return true
	}
	p := testPipeline(t, c, "")
	names := []string{"a", "b", "c", "d"}
	out := make([]probeAnswer, len(names))
	p.probe(context.Background(), "", false, names, out)
	if out[0].err != nil || !out[0].ok {
		t.Errorf("a: %+v", out[0])
	}
	for i, a := range out[1:] {
		if !throttled(a.err) {
			t.Errorf("%s: %+v, want the 429", names[i+1], a)
		}
	}
	if n := c.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}
