// Package e2e holds end-to-end tests: the real srvbridge binary, a real Consul dev
// agent, and real DNS clients (miekg/dns's client, dig, Go's resolver) over loopback.
package e2e
