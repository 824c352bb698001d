package main

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

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
		health.ConfigureTransport(t, c.ConsulMaxConns)
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
