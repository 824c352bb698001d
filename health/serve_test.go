package health

import (
	"strings"
	"testing"
)

func TestPolicyChoose(t *testing.T) {
	inst := func(st Status) Instance { return Instance{Status: st} }
	// four instances, of which healthy are passing or warning
	mix := func(healthy int) []Instance {
		out := make([]Instance, 4)
		for i := range out {
			out[i] = inst(Critical)
			if i < healthy {
				out[i] = inst(Passing)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		p       Policy
		all     []Instance
		n       int
		fb      Fallback
		warning bool
	}{
		{"empty", Policy{NoHealthy: NoHealthyAll}, nil, 0, NoFallback, false},
		{"nxdomain keeps the healthy", Policy{}, mix(1), 1, NoFallback, false},
		{"nxdomain with none", Policy{}, mix(0), 0, NoFallback, false},
		{"nodata with none", Policy{NoHealthy: NoHealthyNoData}, mix(0), 0, FallbackNoData, false},
		{"all with none", Policy{NoHealthy: NoHealthyAll}, mix(0), 4, FallbackAll, false},
		{"all with some", Policy{NoHealthy: NoHealthyAll}, mix(2), 2, NoFallback, false},
		{"panic below threshold", Policy{PanicPercent: 50}, mix(1), 4, FallbackPanic, false},
		{"panic at threshold", Policy{PanicPercent: 50}, mix(2), 2, NoFallback, false},
		{"warning is healthy", Policy{}, []Instance{inst(Warning), inst(Critical)}, 1, NoFallback, true},
	} {
		got, fb := tc.p.Choose(tc.all)
		if len(got) != tc.n || fb != tc.fb {
			t.Errorf("%s: %d instances, fallback %v; want %d, %v", tc.name, len(got), fb, tc.n, tc.fb)
		}
		if tc.warning && (len(got) != 1 || got[0].Status != Warning) {
			t.Errorf("%s: served %+v", tc.name, got)
		}
	}
}

func TestParseNoHealthy(t *testing.T) {
	for in, want := range map[string]NoHealthy{"nxdomain": NoHealthyNXDomain, " NoData ": NoHealthyNoData, "ALL": NoHealthyAll} {
		got, err := ParseNoHealthy(in)
		if err != nil || got != want {
			t.Errorf("ParseNoHealthy(%q) = %v, %v; want %v", in, got, err, want)
		}
		if got.String() != strings.ToLower(strings.TrimSpace(in)) {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
	if _, err := ParseNoHealthy("servfail"); err == nil || !strings.Contains(err.Error(), "want nxdomain, nodata or all") {
		t.Errorf("ParseNoHealthy(servfail): %v", err)
	}
	if err := (Policy{NoHealthy: 7}).Validate(); err == nil {
		t.Error("Validate accepted an unknown NoHealthy")
	}
	if err := (Policy{PanicPercent: 101}).Validate(); err == nil {
		t.Error("Validate accepted a panic threshold of 101%")
	}
}
