package main

import (
	"log/slog"
	"time"

	"github.com/hashicorp/consul/api"
)

// consulAPIConfig applies srvbridge's settings on top of base, which should come from
// api.DefaultConfig() so that CONSUL_HTTP_TOKEN, CONSUL_CACERT and the rest are read
// exactly as the consul CLI reads them. Only the address and the connection pool are
// ours to decide.
func consulAPIConfig(c Config, base *api.Config) *api.Config {
	base.Address = c.ConsulAddr
	if t := base.Transport; t != nil {
		// Every watched service holds a blocking query on a connection of its own,
		// idle only between an answer and the loop's next request. The default pool
		// keeps GOMAXPROCS+1 idle connections per host, so when many queries return
		// at once (a burst of changes) the rest were closed and dialled again:
		// thousands of TIME_WAIT sockets at 10 000 services and refused requests.
		// Not unlimited either: connections the transport dialled for a request
		// that meanwhile got another one would pile up idle and count against
		// Consul's per-client connection limit.
		t.MaxIdleConns = 0 // no total limit; the per-host one binds
		t.MaxIdleConnsPerHost = idleConsulConns
		t.IdleConnTimeout = 30 * time.Second
	}
	return base
}

// idleConsulConns holds the idle moments of a burst of a thousand answers a second.
const idleConsulConns = 512

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
