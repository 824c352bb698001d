package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/internal/bridgetest"
	"github.com/srvbridge/srvbridge/internal/consultest"
	"github.com/srvbridge/srvbridge/internal/testtier"
)

// TestStatusPageInBrowser opens the admin port's status page in headless Chromium
// (Debian's chromium, installed by make test): it must list the live services from a
// real Consul, then show a health change without anyone reloading it, because it
// refreshes itself. A screenshot is saved under the test's temp dir; with
// STATUS_SCREENSHOT=path it is also copied there (the README's picture is made so).
func TestStatusPageInBrowser(t *testing.T) {
	chromium := testtier.Tool(t, "chromium")
	a := consultest.Start(t)
	instance(t, a, "web", "web-1", "127.0.0.10", 8080, "v1")
	instance(t, a, "web", "web-2", "127.0.0.11", 8081, "v1")
	instance(t, a, "api", "api-1", "127.0.0.12", 9090)
	b := bridgetest.Start(t, a.HTTPAddr, "--prefetch")
	waitFor(t, b, "web.service.consul", dns.TypeSRV, hasTargets("7f00000a.addr.dc1.consul.:8080", "7f00000b.addr.dc1.consul.:8081"))

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // tests may run as root, where Chromium's sandbox refuses to start
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1200, 800),
	)
	// The browser lives as long as the allocator's context; this bounds the whole test.
	bound, cancelBound := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancelBound()
	actx, cancelAlloc := chromedp.NewExecAllocator(bound, opts...)
	defer cancelAlloc()
	ctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()
	fail := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v\nsrvbridge log:\n%s", what, err, tail(b.Logs(), 20))
		}
	}
	within := func(d time.Duration) context.Context {
		c, cancel := context.WithTimeout(ctx, d)
		t.Cleanup(cancel)
		return c
	}

	// Refresh every second, so the health change below must arrive by itself. The
	// first action starts the browser, so it runs without a timeout of its own.
	fail("open the status page", chromedp.Do(ctx, chromedp.Navigate("http://"+b.HTTPAddr+"/?refresh=1")))
	fail("wait for web-2", chromedp.Do(within(20*time.Second), chromedp.WaitVisible(chromedp.CSS(`tr[data-instance="web-2"]`))))
	title, err := chromedp.Run(within(10*time.Second), chromedp.Title())
	fail("title", err)
	web2Health, err := chromedp.Run(within(10*time.Second), chromedp.Text(chromedp.CSS(`tr[data-instance="web-2"] .h`)))
	fail("web-2 health", err)
	if title != "srvbridge · dc1" || web2Health != "passing" {
		t.Errorf("title %q, web-2 health %q; want %q and passing", title, web2Health, "srvbridge · dc1")
	}
	// Every instance row; Consul's own service (on a random port) aside.
	rows, err := chromedp.Run(within(10*time.Second), chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("tr.inst:not([data-instance=consul])")].map(r => r.innerText.replace(/\s+/g, " ").trim())`))
	fail("instance rows", err)
	want := []string{"api-1 consultest 127.0.0.12 9090 1 passing yes", "web-1 consultest 127.0.0.10 8080 1 passing yes v1",
		"web-2 consultest 127.0.0.11 8081 1 passing yes v1"}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("instance rows:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}

	a.SetTTL(t, "service:web-2", api.HealthCritical)
	start := time.Now()
	fail("see web-2 turn critical without a reload", chromedp.Do(within(15*time.Second),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-instance="web-2"] .h-critical`))))
	t.Logf("page showed web-2 critical %v after the check changed", time.Since(start).Round(time.Millisecond))
	served, err := chromedp.Run(within(10*time.Second), chromedp.Text(chromedp.CSS(`tr[data-instance="web-2"] td:nth-child(7)`)))
	fail("web-2 in answers", err)
	summary, err := chromedp.Run(within(10*time.Second), chromedp.Text(chromedp.CSS(`tr[data-service="web"]`)))
	fail("web row", err)
	if served != "no" || !strings.Contains(summary, "1 of 2 served") {
		t.Errorf("after the change: web-2 in answers %q, web row %q", served, summary)
	}
	// The page's query counter counts the queries this test sent.
	queries, err := chromedp.Run(within(10*time.Second), chromedp.Text(chromedp.CSS(`#queries b`)))
	fail("query counter", err)
	if n, err := strconv.Atoi(queries); err != nil || n < 1 {
		t.Errorf("query counter %q", queries)
	}

	png, err := chromedp.Run(within(20*time.Second), chromedp.FullScreenshot(100))
	fail("screenshot", err)
	shot := filepath.Join(t.TempDir(), "status-page.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
	if dst := os.Getenv("STATUS_SCREENSHOT"); dst != "" {
		if err := os.WriteFile(dst, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if len(png) < 1000 || string(png[1:4]) != "PNG" {
		t.Errorf("screenshot is not a PNG: %d bytes", len(png))
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
