// Package admin is srvbridge's admin HTTP port: /healthz, /readyz, /metrics and the
// status page at /.
//
// It knows none of the packages it reports on. The counters it shows come through the
// small interfaces gathered in Sources, which cmd/srvbridge fills in with adapters as
// health, cache, resolver and forward start; the status page's listing and Consul's
// refusals of the token come as admin's own types (Listing, Refusal). So /metrics and
// the page work, and say "starting", from the moment the port is bound.
package admin
