package main

import (
	"log/slog"

	"github.com/hashicorp/consul/api"
)

// consulAPIConfig applies srvbridge's settings on top of base, which should come from
// api.DefaultConfig() so that CONSUL_HTTP_TOKEN, CONSUL_CACERT and the rest are read
// exactly as the consul CLI reads them. Only the address is ours to decide.
func consulAPIConfig(c Config, base *api.Config) *api.Config {
	base.Address = c.ConsulAddr
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
