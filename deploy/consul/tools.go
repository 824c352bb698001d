//go:build tools

// Package consul pins the Consul agent used by tests, the demo and bench.
package consul

import _ "github.com/hashicorp/consul"
