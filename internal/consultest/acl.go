package consultest

import (
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/hashicorp/consul/api"
)

// WithACL turns ACLs on with default deny, as production runs Consul: a request
// without a token gets the anonymous token, which may read nothing. The agent's Client
// (and so every helper here) uses a management token, also the agent's own token for
// registering its node; tests get narrower ones from CreateToken.
func WithACL() Option {
	return func(o *options) { o.managementToken = newUUID() }
}

// StartACL starts an agent WithACL and registers services on it through the agent
// API. It skips the test under -short, as every test that needs the binary does.
func StartACL(t *testing.T, services ...api.AgentServiceRegistration) *Agent {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the Consul binary")
	}
	a := Start(t, WithACL())
	for _, s := range services {
		a.RegisterService(t, s)
	}
	return a
}

func aclConfig(management string) map[string]any {
	return map[string]any{
		"enabled":                  true,
		"default_policy":           "deny",
		"enable_token_persistence": false,
		"tokens": map[string]any{
			"initial_management": management,
			"agent":              management,
		},
	}
}

// DNSReadRules is the policy Consul documents for a token that serves DNS: read every
// service, node and prepared query.
const DNSReadRules = `service_prefix "" { policy = "read" }
node_prefix "" { policy = "read" }
query_prefix "" { policy = "read" }
`

// CreateToken creates a policy with the given rules (HCL) and a token holding it, and
// returns the token's secret. The agent must have been started WithACL.
func (a *Agent) CreateToken(t testing.TB, rules string) string {
	t.Helper()
	if a.ManagementToken == "" {
		t.Fatal("consultest: CreateToken needs an agent started WithACL")
	}
	acl := a.Client.ACL()
	pol, _, err := acl.PolicyCreate(&api.ACLPolicy{Name: "consultest-" + newUUID()[:8], Rules: rules}, nil)
	if err != nil {
		t.Fatalf("consultest: create policy: %v", err)
	}
	tok, _, err := acl.TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{ID: pol.ID}}}, nil)
	if err != nil {
		t.Fatalf("consultest: create token: %v", err)
	}
	return tok.SecretID
}

// NewUUID returns a random token-shaped UUID, e.g. one Consul does not know.
func NewUUID() string { return newUUID() }

func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
