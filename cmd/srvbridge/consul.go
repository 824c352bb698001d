package main

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/consul/api"

	"github.com/srvbridge/srvbridge/health"
)

// consulAPIConfig applies srvbridge's settings on top of base, which should come from
// api.DefaultConfig() so that CONSUL_HTTP_TOKEN, CONSUL_CACERT and the rest are read
// exactly as the consul CLI reads them. Only the address, the connection pool and
// compression are ours to decide. conns, when set, counts the TCP connections the
// pool holds.
func consulAPIConfig(c Config, base *api.Config, conns *connCounter) *api.Config {
	base.Address = c.ConsulAddr
	if t := base.Transport; t != nil {
		health.ConfigureTransport(t, c.ConsulMaxConns)
		if c.ConsulGzip {
			t.DisableCompression = false
		}
		if conns != nil && t.DialContext != nil {
			t.DialContext = conns.wrap(t.DialContext)
		}
	}
	return base
}

// minProbeBudget is the least --consul-max-conns that pipelines the index probes
// on a connection of their own: a datacenter's four blocking queries, the probe
// connection and at least three for the refetches.
const minProbeBudget = 8

// probeConn returns the settings of the sweeps' pipelined probe connection
// (health.ProbeConn), and takes its connection off the transport's share of the
// budget, when the client a, as api.NewClient left it, talks HTTP or HTTPS straight
// to the agent's address; over HTTPS with the transport's TLS settings. A Unix
// socket, a proxy, a path prefix or an Enterprise namespace or partition keep the
// API client's path, which knows them. nil: no pipelining.
func probeConn(c Config, a *api.Config) *health.ProbeConn {
	t := a.Transport
	if t == nil || (a.Scheme != "http" && a.Scheme != "https") || strings.HasPrefix(c.ConsulAddr, "unix://") || a.PathPrefix != "" ||
		a.Namespace != "" || a.Partition != "" || c.ConsulMaxConns < minProbeBudget {
		return nil
	}
	if t.Proxy != nil {
		u, err := t.Proxy(&http.Request{URL: &url.URL{Scheme: "http", Host: a.Address}})
		if err != nil || u != nil {
			return nil
		}
	}
	t.MaxConnsPerHost = c.ConsulMaxConns - health.ProbeConns
	t.MaxIdleConnsPerHost = t.MaxConnsPerHost
	p := &health.ProbeConn{Addr: a.Address, Token: a.Token, Dial: t.DialContext}
	if a.Scheme == "https" {
		// A copy: the transport adds HTTP/2 to its own settings on first use.
		p.TLS = &tls.Config{}
		if t.TLSClientConfig != nil {
			p.TLS = t.TLSClientConfig.Clone()
		}
	}
	return p
}

// connCounter counts the open connections of a transport.
type connCounter struct{ open atomic.Int64 }

func (c *connCounter) Open() int64 { return c.open.Load() }

func (c *connCounter) wrap(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		c.open.Add(1)
		return &countedConn{Conn: conn, c: c}, nil
	}
}

type countedConn struct {
	net.Conn
	c    *connCounter
	once sync.Once
}

func (cc *countedConn) Close() error {
	cc.once.Do(func() { cc.c.open.Add(-1) })
	return cc.Conn.Close()
}

// h2Counter counts the answers Consul sent over HTTP/2, so that /metrics shows
// whether TLS negotiated it: over HTTP/2 every request is a stream on one
// connection, over HTTP/1.1 each in-flight request holds a connection of its own.
type h2Counter struct {
	next http.RoundTripper
	h2   atomic.Uint64
}

// countHTTP2 wraps the HTTP client api.NewClient set up in c.
func countHTTP2(c *api.Config) *h2Counter {
	h := &h2Counter{next: c.HttpClient.Transport}
	if h.next == nil {
		h.next = http.DefaultTransport
	}
	c.HttpClient.Transport = h
	return h
}

func (h *h2Counter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := h.next.RoundTrip(r)
	if err == nil && resp.ProtoMajor == 2 {
		h.h2.Add(1)
	}
	return resp, err
}

func (h *h2Counter) Count() uint64 { return h.h2.Load() }

// consulLogAttrs describes the Consul connection for the start-up log. Secrets are
// reported as set or unset, never by value.
func consulLogAttrs(c *api.Config) slog.Attr {
	set := func(b bool) string {
		if b {
			return "set"
		}
		return "unset"
	}
	return slog.Group("consul",
		slog.String("address", c.Address),
		slog.String("scheme", c.Scheme),
		slog.String("token", set(c.Token != "" || c.TokenFile != "")),
		slog.String("basic_auth", set(c.HttpAuth != nil)),
		slog.String("ca_file", c.TLSConfig.CAFile),
		slog.String("client_cert", c.TLSConfig.CertFile),
		slog.Bool("tls_skip_verify", c.TLSConfig.InsecureSkipVerify),
	)
}
