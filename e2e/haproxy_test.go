package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/internal/bridgetest"
	"github.com/srvbridge/srvbridge/internal/consultest"
	"github.com/srvbridge/srvbridge/internal/testtier"
)

// TestHAProxy balances real HTTP traffic with HAProxy's DNS service discovery
// (server-template on the RFC 2782 name) through srvbridge, against backends
// registered in a real Consul.
func TestHAProxy(t *testing.T) {
	haproxy := testtier.Tool(t, "haproxy")
	a := consultest.Start(t)
	ips := []string{"127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"}
	ports := make([]int, len(ips))
	for i, ip := range ips {
		ports[i] = serveName(t, ip, fmt.Sprintf("backend-%d", i+1))
	}
	for i := 0; i < 3; i++ {
		instance(t, a, "web", fmt.Sprintf("web-%d", i+1), ips[i], ports[i])
	}
	b := bridgetest.Start(t, a.HTTPAddr)
	waitFor(t, b, "_web._tcp.service.consul", dns.TypeSRV, func(r *dns.Msg) bool { return len(r.Answer) == 3 })

	front := startHAProxy(t, haproxy, b.DNSAddr)
	seen := func(want ...string) {
		t.Helper()
		slices.Sort(want)
		deadline := time.Now().Add(20 * time.Second)
		var got []string
		for time.Now().Before(deadline) {
			got = hits(front, 24)
			if slices.Equal(got, want) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("backends reached through HAProxy: %v, want %v", got, want)
	}
	seen("backend-1", "backend-2", "backend-3")

	a.SetTTL(t, "service:web-2", "fail")
	seen("backend-1", "backend-3")

	instance(t, a, "web", "web-4", ips[3], ports[3])
	seen("backend-1", "backend-3", "backend-4")

	a.SetTTL(t, "service:web-2", "pass")
	seen("backend-1", "backend-2", "backend-3", "backend-4")
}

// serveName runs an HTTP server on ip that answers with its name.
func serveName(t *testing.T, ip, name string) int {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, name)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

func startHAProxy(t *testing.T, bin, dnsAddr string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	front := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global
    maxconn 100

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s

resolvers srvbridge
    nameserver sb %s
    accepted_payload_size 1232
    resolve_retries 3
    timeout resolve 100ms
    timeout retry 200ms
    hold valid 100ms
    hold obsolete 0s
    hold nx 100ms

frontend fe
    bind %s
    default_backend be

backend be
    balance roundrobin
    server-template web 6 _web._tcp.service.consul resolvers srvbridge resolve-prefer ipv4 init-addr none
`, dnsAddr, front)
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-db", "-f", path)
	logs := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("haproxy output:\n%s", logs.String())
		}
	})
	return front
}

// hits sends n requests through HAProxy and returns the distinct backends that
// answered, sorted.
func hits(front string, n int) []string {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	set := map[string]bool{}
	for i := 0; i < n; i++ {
		resp, err := c.Get("http://" + front + "/")
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			set[string(body)] = true
		}
	}
	var out []string
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
