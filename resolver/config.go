// Package resolver is srvbridge's DNS side: it parses queries, answers names in the
// Consul domain from answers the cache holds pre-compiled, and hands the rest to its
// forwarder. Sockets are resolver/transport's business, the wire format
// resolver/wire's. It knows nothing of the Consul API.
package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"time"

	"github.com/srvbridge/srvbridge/resolver/wire"
)

// Config shapes answers and the server.
type Config struct {
	// Addr is the UDP and TCP listen address.
	Addr string
	// Domain is the zone served, "consul." by default; AltDomain an optional second.
	Domain    string
	AltDomain string
	// TTL is the TTL of positive answers, in seconds, unless TTLs names the service.
	TTL  uint32
	TTLs TTLs
	// NegativeTTL is the SOA minimum and the TTL of negative answers.
	NegativeTTL uint32
	// NSName is the name the apex NS record gives (default ns.<domain>); NSAddrs,
	// srvbridge's own addresses, are its glue and what NSName answers.
	NSName  string
	NSAddrs []netip.Addr
	// MaxUDPSize caps the EDNS buffer size we honour and advertise.
	MaxUDPSize uint16
	// UDPSockets is how many UDP sockets share the address (SO_REUSEPORT), each
	// with its own reader; 0 means one per CPU.
	UDPSockets int
	// UDPReader is how each UDP reader waits for datagrams: "poller" or "thread"
	// (transport.ReaderPoller, transport.ReaderThread); empty means thread.
	UDPReader string
	// AwaitMaxBytes bounds the memory of the UDP queries waiting on Consul at once
	// for a first fetch (park.go); past it, a query that must wait gets SERVFAIL.
	AwaitMaxBytes int64
	// TCPMaxConns and TCPIdleTimeout bound TCP clients.
	TCPMaxConns    int
	TCPIdleTimeout time.Duration

	// Forwarder, when set, answers names outside our zones for clients in
	// AllowRecursion; everyone else gets REFUSED for them (no open resolver).
	Forwarder      Forwarder
	AllowRecursion []netip.Prefix
	// MaxForwards bounds forwarded queries in flight; past it, SERVFAIL at once.
	MaxForwards int

	// SearchSuffixes are resolver search domains ("svc.cluster.local."; "*." in
	// front stands for any one label, a Kubernetes namespace). A name of ours with
	// one of them appended ("web.service.consul.svc.cluster.local.") is what a
	// client with ndots and a search list asks before the real name: it gets
	// NXDOMAIN at once instead of a trip upstream (see searchSuffixNX).
	SearchSuffixes []string

	Logger *slog.Logger
}

// Forwarder sends a query for a name outside our zones upstream.
type Forwarder interface {
	// Forward returns the upstream reply to query, with query's ID. tcp says how the
	// query reached us, so a client that used TCP is forwarded over TCP. limit is
	// the largest reply the client accepts over UDP (ignored for TCP).
	Forward(ctx context.Context, query []byte, tcp bool, limit int) ([]byte, error)
}

func (c *Config) normalize() error {
	if c.Domain == "" {
		c.Domain = "consul."
	}
	var err error
	if c.Domain, err = zoneName(c.Domain); err != nil {
		return fmt.Errorf("domain: %w", err)
	}
	if c.AltDomain != "" {
		if c.AltDomain, err = zoneName(c.AltDomain); err != nil {
			return fmt.Errorf("alt domain: %w", err)
		}
		if c.AltDomain == c.Domain {
			return fmt.Errorf("alt domain %q is the domain", c.AltDomain)
		}
	}
	if c.NSName == "" {
		c.NSName = "ns." + c.Domain
	} else if c.NSName, err = fqdn(c.NSName); err != nil {
		return fmt.Errorf("ns name: %w", err)
	}
	if c.MaxUDPSize == 0 {
		c.MaxUDPSize = 1232
	}
	if c.MaxUDPSize < 512 {
		return fmt.Errorf("max UDP size %d is below 512", c.MaxUDPSize)
	}
	if c.AwaitMaxBytes <= 0 {
		c.AwaitMaxBytes = DefaultAwaitMaxBytes
	}
	if c.TCPMaxConns <= 0 {
		c.TCPMaxConns = 512
	}
	if c.UDPSockets <= 0 {
		c.UDPSockets = runtime.NumCPU()
	}
	if c.MaxForwards <= 0 {
		c.MaxForwards = 1024
	}
	if c.TCPIdleTimeout <= 0 {
		c.TCPIdleTimeout = 10 * time.Second
	}
	suffixes := make([]string, 0, len(c.SearchSuffixes))
	for _, sfx := range c.SearchSuffixes {
		n, err := fqdn(strings.TrimPrefix(sfx, "*."))
		if err != nil {
			return fmt.Errorf("search suffix: %w", err)
		}
		if strings.HasPrefix(sfx, "*.") {
			n = "*." + n
		}
		suffixes = append(suffixes, n)
	}
	c.SearchSuffixes = suffixes
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// fqdn checks a configured name (wire.Domain) and returns it lower-cased with
// the trailing dot.
func fqdn(d string) (string, error) {
	n, err := wire.Domain(d)
	if errors.Is(err, wire.ErrRoot) {
		return "", fmt.Errorf("%q: the root cannot be served", d)
	}
	if err != nil {
		return "", fmt.Errorf("%q: %w", d, err)
	}
	return n, nil
}

// zoneRoom is what a served zone leaves below itself. Every name srvbridge hands
// out sits under a zone, and the longest fixed one is the SOA's RNAME,
// "hostmaster.<zone>": a zone longer than 255 - 11 bytes in wire form could not
// name its own SOA. Service, node and address names need more and fail, when
// too long, per name at build time; this keeps the zone itself answerable.
const zoneRoom = len("hostmaster.")

func zoneName(d string) (string, error) {
	n, err := fqdn(d)
	if err == nil && len(n)+1+zoneRoom > wire.MaxNameLen {
		return "", fmt.Errorf("%q: longer than %d characters, leaving no room for names below it", d, wire.MaxNameLen-1-zoneRoom-1)
	}
	return n, err
}
