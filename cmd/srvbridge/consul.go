package main

import (
	"log/slog"

	"github.com/hashicorp/consul/api"
)

// consulAPIConfig applies srvbridge's settings on top of base, which should come from
// api.DefaultConfig() so that CONSUL_HTTP_TOKEN, CONSUL_CACERT and the rest are read
// exactly as the consul CLI reads them. Only the address and the connection pool are
// ours to decide.
func consulAPIConfig(c Config, base *api.Config) *api.Config {
	base.Address = c.ConsulAddr
	if t := base.Transport; t != nil {
		// Every watched service holds a blocking query on a connection of its own.
		// The default pool keeps GOMAXPROCS+1 idle connections per host, so when many
		// queries return at once (a burst of changes) the rest were closed and dialled
		// again: thousands of TIME_WAIT sockets at 10 000 services and, past Consul's
		// per-client limit, refused requests. Idle connections still time out.
		t.MaxIdleConns = 0 // no total limit
		t.MaxIdleConnsPerHost = 1 << 20
	}
	return base
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
