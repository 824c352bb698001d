package resolver

import (
	"context"
	"net/netip"
	"time"

	"github.com/srvbridge/srvbridge/resolver/wire"
)

// forwardTimeout bounds one forwarded query end to end; the forwarder's own
// per-upstream timeouts and failover fit inside it.
const forwardTimeout = 4 * time.Second

// mayRecurse reports whether a client may have outside names forwarded.
func (s *Server) mayRecurse(from netip.Addr) bool {
	if s.cfg.Forwarder == nil {
		return false
	}
	from = from.Unmap()
	for _, p := range s.cfg.AllowRecursion {
		if p.Contains(from) {
			return true
		}
	}
	return false
}

// forwardQuery asks the forwarder and returns the reply to send; SERVFAIL when the
// forwarder fails.
func (s *Server) forwardQuery(q *query, pkt []byte, tcp bool, st *shard) []byte {
	st.forwarded.Add(1)
	limit := s.replyLimit(q, tcp)
	ctx, cancel := context.WithTimeout(context.Background(), forwardTimeout)
	defer cancel()
	reply, err := s.cfg.Forwarder.Forward(ctx, pkt, tcp, limit)
	if err != nil || len(reply) < wire.HeaderLen {
		st.forwardFailed.Add(1)
		s.log.Debug("forwarding failed", "name", string(q.Name), "err", err)
		out, _ := s.count(st, q.QType, s.errorReply(make([]byte, 0, 512), q, wire.RcodeServFail))
		return out
	}
	st.add(q.QType, int(reply[3]&0xF))
	return reply
}
