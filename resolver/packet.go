package resolver

import "github.com/srvbridge/srvbridge/resolver/wire"

// query is a parsed request: the wire form's reading of it, plus what the
// transport knows about the client. It is reused per reader, so parsing allocates
// nothing.
type query struct {
	wire.Query

	// recursion is set when the client may use forwarding; such clients see RA in
	// every reply.
	recursion bool
}
