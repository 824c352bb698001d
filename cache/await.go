package cache

import "time"

// How long a first query waits. A query for a service nobody held yet waits for the
// service's first fetch, at most Config.AwaitTimeout, then gets SERVFAIL: Consul is
// not answering, and the client had better hear so before its own timeout. But in a
// cold burst (a restart on demand, a gateway asking for all its upstreams at once)
// Consul is answering, only a few thousand first fetches take it more than that on a
// small host. There a SERVFAIL is the worst answer: Kong caches it as an error for a
// second and fails its requests, where the answer a few hundred milliseconds later
// would still have come within its 2 s timeout. So while first fetches of other
// services keep arriving, a query past its await timeout waits on, up to awaitLimit:
// the default timeout of the most patient common client (glibc's 5 s); past that
// nobody listens.
const (
	awaitLimit = 5 * time.Second
	// burstQuiet is how recent the last first fetch must be for the feed to count as
	// working through a burst. Under a burst they come every millisecond or so; when
	// Consul stops answering, none comes at all.
	burstQuiet = 500 * time.Millisecond
)

// AwaitUntil says whether a first query that arrived at arrived, and is unanswered
// at now, may go on waiting, and until when before it asks again. The resolver parks
// UDP queries per name and answers each by its own arrival.
func (s *Store[C]) AwaitUntil(arrived, now time.Time) (time.Time, bool) {
	if until := arrived.Add(s.cfg.AwaitTimeout); now.Before(until) {
		return until, true
	}
	limit := arrived.Add(max(awaitLimit, s.cfg.AwaitTimeout))
	last := time.Unix(0, s.lastFirst.Load())
	if !now.Before(limit) || now.Sub(last) >= burstQuiet {
		return time.Time{}, false
	}
	if next := last.Add(burstQuiet); next.Before(limit) {
		return next, true
	}
	return limit, true
}
