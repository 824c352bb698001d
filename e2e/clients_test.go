package e2e

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/internal/bridgetest"
	"github.com/srvbridge/srvbridge/internal/testtier"
)

// TestClients: UDP and TCP give the same records, and dig and Go's own resolver both
// parse them.
func TestClients(t *testing.T) {
	_, b := threeWebBridge(t)

	t.Run("tcp equals udp", func(t *testing.T) {
		for _, q := range []struct {
			name  string
			qtype uint16
		}{{"web.service.consul.", dns.TypeSRV}, {"web.service.consul.", dns.TypeA}, {"nope.service.consul.", dns.TypeA}} {
			u, err := bridgetest.Exchange(b.DNSAddr, "udp", q.name, q.qtype)
			if err != nil {
				t.Fatal(err)
			}
			c, err := bridgetest.Exchange(b.DNSAddr, "tcp", q.name, q.qtype)
			if err != nil {
				t.Fatal(err)
			}
			if us, cs := bridgetest.Summary(u), bridgetest.Summary(c); us != cs {
				t.Errorf("%s: UDP\n%s\nTCP\n%s", q.name, us, cs)
			}
		}
	})

	t.Run("dig", func(t *testing.T) {
		host, port, _ := net.SplitHostPort(b.DNSAddr)
		for _, transport := range []string{"+notcp", "+tcp"} {
			out, err := exec.Command(testtier.Tool(t, "dig"), "@"+host, "-p", port, transport, "+short", "web.service.consul", "SRV").CombinedOutput()
			if err != nil {
				t.Fatalf("dig %s: %v\n%s", transport, err, out)
			}
			got := strings.Split(strings.TrimSpace(string(out)), "\n")
			slices.Sort(got)
			want := []string{
				"1 1 8081 7f00000b.addr.dc1.consul.",
				"1 1 8082 7f00000c.addr.dc1.consul.",
				"1 1 8083 7f00000d.addr.dc1.consul.",
			}
			if !slices.Equal(got, want) {
				t.Errorf("dig %s: %q, want %q", transport, got, want)
			}
		}
	})

	t.Run("go resolver", func(t *testing.T) {
		r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, b.DNSAddr)
		}}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, form := range [][3]string{{"", "", "web.service.consul"}, {"web", "tcp", "service.consul"}} {
			cname, srvs, err := r.LookupSRV(ctx, form[0], form[1], form[2])
			if err != nil {
				t.Fatalf("LookupSRV%q: %v", form, err)
			}
			var got []string
			for _, s := range srvs {
				got = append(got, fmt.Sprintf("%s:%d", s.Target, s.Port))
			}
			slices.Sort(got)
			if !slices.Equal(got, []string{t1, t2, t3}) {
				t.Errorf("LookupSRV%q = %s %v", form, cname, got)
			}
		}
		addrs, err := r.LookupHost(ctx, "web.service.consul")
		if err != nil {
			t.Fatalf("LookupHost: %v", err)
		}
		slices.Sort(addrs)
		if !slices.Equal(addrs, []string{"127.0.0.11", "127.0.0.12", "127.0.0.13"}) {
			t.Errorf("LookupHost = %v", addrs)
		}
		// A target resolves to exactly its instance's address.
		if addrs, err := r.LookupHost(ctx, "7f00000c.addr.dc1.consul"); err != nil || !slices.Equal(addrs, []string{"127.0.0.12"}) {
			t.Errorf("LookupHost(target) = %v, %v", addrs, err)
		}
		if _, err := r.LookupHost(ctx, "nope.service.consul"); !isNotFound(err) {
			t.Errorf("LookupHost(unknown) err = %v, want not found", err)
		}
	})
}

func isNotFound(err error) bool {
	var de *net.DNSError
	if e, ok := err.(*net.DNSError); ok {
		de = e
	}
	return de != nil && de.IsNotFound
}
