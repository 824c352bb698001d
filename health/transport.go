package health

import (
	"net/http"
	"time"
)

// ConfigureTransport applies the connection budget to the transport of the api
// client a Watcher uses; maxConns 0 means DefaultMaxConns.
//
// The budget is enforced where connections are made: a request beyond it waits for
// a free connection instead of dialling one more, so however many requests the
// watcher starts, Consul's per-client limit (200 by default) is never reached by
// this process. Over TLS the transport attempts HTTP/2, where every request is a
// stream on one connection; net/http attempts h2 with a custom TLS config (which
// the api package sets) only when asked.
//
// Answers are not compressed: Go asks for gzip by default and Consul then
// compresses every answer of more than about 1,400 bytes, which costs Consul about
// as much CPU again as the read itself and srvbridge a decompression, to save
// bandwidth that a local agent's link does not need. A caller reading Consul across
// a slow link may turn it back on.
func ConfigureTransport(t *http.Transport, maxConns int) {
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	t.MaxConnsPerHost = maxConns
	t.MaxIdleConns = 0 // no total limit; the per-host one binds
	t.MaxIdleConnsPerHost = maxConns
	t.IdleConnTimeout = 30 * time.Second
	t.ForceAttemptHTTP2 = true
	t.DisableCompression = true
}
