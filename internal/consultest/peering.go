package consultest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// Peer sets up cluster peering between two agents (each its own cluster; give them
// different datacenters) and waits until it is active on both sides. The dialer
// knows the other cluster as dialerName, the acceptor knows the dialer as
// acceptorName. Peering runs over the servers' gRPC-TLS port, which every dev agent
// opens, with certificates from the built-in Connect CA: it needs no other config.
func Peer(t testing.TB, acceptor *Agent, acceptorName string, dialer *Agent, dialerName string) {
	t.Helper()
	ctx := context.Background()
	tok, _, err := acceptor.Client.Peerings().GenerateToken(ctx, api.PeeringGenerateTokenRequest{PeerName: acceptorName}, nil)
	if err != nil {
		t.Fatalf("consultest: peering token on %s: %v", acceptor.Datacenter, err)
	}
	if _, _, err := dialer.Client.Peerings().Establish(ctx, api.PeeringEstablishRequest{PeerName: dialerName, PeeringToken: tok.PeeringToken}, nil); err != nil {
		t.Fatalf("consultest: establish peering on %s: %v", dialer.Datacenter, err)
	}
	for _, side := range []struct {
		a    *Agent
		name string
	}{{acceptor, acceptorName}, {dialer, dialerName}} {
		Eventually(t, 30*time.Second, func() error {
			p, _, err := side.a.Client.Peerings().Read(ctx, side.name, nil)
			switch {
			case err != nil:
				return err
			case p == nil:
				return fmt.Errorf("no peering %q on %s yet", side.name, side.a.Datacenter)
			case p.State != api.PeeringStateActive:
				return fmt.Errorf("peering %q on %s is %s", side.name, side.a.Datacenter, p.State)
			}
			return nil
		})
	}
}

// Export exports services to a peer (the name this agent knows it by), replacing
// the agent's exported-services config entry.
func (a *Agent) Export(t testing.TB, peer string, services ...string) {
	t.Helper()
	entry := &api.ExportedServicesConfigEntry{Name: "default"}
	for _, s := range services {
		entry.Services = append(entry.Services, api.ExportedService{Name: s, Consumers: []api.ServiceConsumer{{Peer: peer}}})
	}
	if _, _, err := a.Client.ConfigEntries().Set(entry, nil); err != nil {
		t.Fatalf("consultest: export %v to %q: %v", services, peer, err)
	}
}
