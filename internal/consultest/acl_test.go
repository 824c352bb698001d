package consultest

import (
	"testing"

	"github.com/hashicorp/consul/api"
)

// TestWithACL: default deny, so a request without a token reads nothing, while the
// agent's own client and a token from CreateToken read what their rules allow.
func TestWithACL(t *testing.T) {
	a := StartACL(t, api.AgentServiceRegistration{ID: "web-1", Name: "web", Port: 80})
	services := func(token string) map[string][]string {
		t.Helper()
		c, err := api.NewClient(&api.Config{Address: a.HTTPAddr, Token: token})
		if err != nil {
			t.Fatal(err)
		}
		s, _, err := c.Catalog().Services(nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := services(""); len(s) != 0 {
		t.Errorf("anonymous read %v, want nothing", s)
	}
	if s := services(a.ManagementToken); len(s) != 2 {
		t.Errorf("management token read %v, want consul and web", s)
	}
	if s := services(a.CreateToken(t, `service "web" { policy = "read" }`)); len(s) != 1 || s["web"] == nil {
		t.Errorf("a token for web read %v, want web only", s)
	}
}
