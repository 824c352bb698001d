package cache

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/srvbridge/srvbridge/internal/consultest"
)

// TestStatus: the listing holds the fetched services with every registered instance,
// healthy or not, and the filter and the limit apply to it.
func TestStatus(t *testing.T) {
	a := consultest.Start(t)
	register(t, a, "web", 2)
	register(t, a, "api", 1)
	register(t, a, "idle", 1)
	a.SetTTL(t, "service:web-1", api.HealthCritical)
	s, _ := startStore(t, a, Config{})
	for _, name := range []string{"web", "api"} {
		if _, r := await(t, s, name); r != Hit {
			t.Fatalf("%s: %v", name, r)
		}
	}
	consultest.Eventually(t, 5*time.Second, func() error {
		st := s.Status(StatusFilter{})
		var got []string
		for _, ss := range st.Services {
			got = append(got, fmt.Sprintf("%s/%s: %d of %d", ss.Datacenter, ss.Name, len(ss.Service.Instances), len(ss.Service.All)))
		}
		// "consul" is in the catalog but never asked for, like "idle".
		want := []string{"dc1/api: 1 of 1", "dc1/web: 1 of 2"}
		if !slices.Equal(got, want) || st.Matched != 2 || st.Catalog != 4 || st.LocalDC != "dc1" {
			return fmt.Errorf("status %v, matched %d, catalog %d, dc %q; want %v, 2, 4, dc1", got, st.Matched, st.Catalog, st.LocalDC, want)
		}
		return nil
	})

	st := s.Status(StatusFilter{Contains: "WE"})
	if len(st.Services) != 1 || st.Services[0].Name != "web" || st.Matched != 1 {
		t.Errorf("filter WE: %+v", st)
	}
	st = s.Status(StatusFilter{Limit: 1})
	if len(st.Services) != 1 || st.Services[0].Name != "api" || st.Matched != 2 {
		t.Errorf("limit 1: %d listed, matched %d", len(st.Services), st.Matched)
	}
	if u := s.Status(StatusFilter{}).Services[0].LastUsed; u.IsZero() || time.Since(u) > time.Minute {
		t.Errorf("last used %v", u)
	}
}
