package main

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/srvbridge/srvbridge/health"
)

// consulAPIConfig applies srvbridge's settings on top of base, which should come from
// api.DefaultConfig() so that CONSUL_HTTP_TOKEN, CONSUL_CACERT and the rest are read
// exactly as the consul CLI reads them. Only the address and the connection pool are
// ours to decide. conns, when set, counts the TCP connections the pool holds.
func consulAPIConfig(c Config, base *api.Config, conns *connCounter) *api.Config {
	base.Address = c.ConsulAddr
	if t := base.Transport; t != nil {
		budget := c.ConsulMaxConns
		if budget <= 0 {
			budget = health.DefaultMaxConns
		}
		// The connection budget (--consul-max-conns), enforced where connections
		// are made: a request beyond it waits for a free connection instead of
		// dialling one more, so however many requests the watcher starts, Consul's
		// per-client limit (200 by default) is never reached by this process.
		t.MaxConnsPerHost = budget
		t.MaxIdleConns = 0 // no total limit; the per-host one binds
		t.MaxIdleConnsPerHost = budget
		t.IdleConnTimeout = 30 * time.Second
		// Over TLS, HTTP/2: every request is a stream on one connection. net/http
		// attempts h2 with a custom TLS config (which api sets) only when asked.
		t.ForceAttemptHTTP2 = true
		if conns != nil && t.DialContext != nil {
			t.DialContext = conns.wrap(t.DialContext)
		}
	}
	return base
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
