package admin

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestAdminEndpoints(t *testing.T) {
	now := t0
	c := testCollector(&now)
	c.SetSources(Sources{Queries: fakeQueries{{"SRV", "NOERROR"}: 42}})
	var ready Readiness
	ready.NotReady("waiting for the first catalog read from Consul")
	srv := httptest.NewServer(NewHandler(ready.Ready, NewRegistry(c), NewStatusPage(c, ready.Ready, "127.0.0.1:8500")))
	defer srv.Close()

	if code, body := get(t, srv.URL+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get(t, srv.URL+"/readyz"); code != 503 || body != "not ready: waiting for the first catalog read from Consul\n" {
		t.Errorf("/readyz before: %d %q", code, body)
	}

	var ok atomic.Bool
	ready.SetCheck(func() (bool, string) {
		if ok.Load() {
			return true, ""
		}
		return false, "cache says no"
	})
	if code, body := get(t, srv.URL+"/readyz"); code != 503 || !strings.Contains(body, "cache says no") {
		t.Errorf("/readyz delegated, not ready: %d %q", code, body)
	}
	ok.Store(true)
	if code, body := get(t, srv.URL+"/readyz"); code != 200 || body != "ready\n" {
		t.Errorf("/readyz after: %d %q", code, body)
	}
	ready.NotReady("shutting down")
	if code, _ := get(t, srv.URL+"/readyz"); code != 503 {
		t.Errorf("/readyz while shutting down: %d", code)
	}

	code, body := get(t, srv.URL+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`srvbridge_dns_queries_total{qtype="SRV",rcode="NOERROR"} 42`,
		`srvbridge_build_info{commit="abc123",goversion="go1.26.0",version="v1.2.3"} 1`,
		"go_goroutines ",
		"process_start_time_seconds ",
		"promhttp_metric_handler_requests_total",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	resp, err := http.Post(srv.URL+"/healthz", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz: %d", resp.StatusCode)
	}
	if code, _ := get(t, srv.URL+"/nope"); code != 404 {
		t.Errorf("/nope: %d", code)
	}
}

func TestStartAdminBindsAndStops(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	var ready Readiness
	c := testCollector(&t0)
	a, err := Start("127.0.0.1:0", NewHandler(ready.Ready, NewRegistry(c), NewStatusPage(c, ready.Ready, "")), log)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, "http://"+a.Addr()+"/healthz"); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	// A taken port fails at once, with the address in the error.
	if _, err := Start(a.Addr(), http.NotFoundHandler(), log); err == nil || !strings.Contains(err.Error(), a.Addr()) {
		t.Errorf("second bind: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + a.Addr() + "/healthz"); err == nil {
		t.Error("still serving after Shutdown")
	}
}
