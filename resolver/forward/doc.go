// Package forward answers the names srvbridge is not authoritative for by asking
// upstream resolvers, so that a gateway such as Kong can use srvbridge as its only
// resolver (its Postgres host, plugin targets and search-suffixed junk included).
//
// A query goes to the upstreams of the longest matching stub zone, else to the
// default upstreams, one after another with a per-upstream timeout; a slow upstream
// stays in the race while the next one is asked. Replies are matched on a random ID
// of ours and the question, passed through with their rcode and sections, and kept
// in a cache bounded by entries and bytes that honours TTLs (RFC 2308 for negative
// answers) and can serve expired answers when every upstream fails (RFC 8767).
// Loops back to srvbridge itself are refused at start and detected at run time.
//
// Lookup is the same path for srvbridge's own background lookups (the addresses of
// a CNAME target spliced into an answer), without serve-stale.
//
// Which clients may use forwarding, and how many forwarded queries may be in flight,
// is the resolver's business: it calls Forward only for allowed clients, off its
// socket readers, bounded.
package forward
