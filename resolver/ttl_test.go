package resolver

import "testing"

func TestTTLPrecedence(t *testing.T) {
	ttls, err := ParseTTLs("web=10s, api*=3s, api-internal*=7s, *=20s")
	if err != nil {
		t.Fatal(err)
	}
	for svc, want := range map[string]uint32{
		"web": 10, "WEB": 10, "api": 3, "api-x": 3, "api-internal-1": 7, "other": 20, "webx": 20,
	} {
		if got := ttls.For(svc, 5); got != want {
			t.Errorf("For(%q) = %d, want %d", svc, got, want)
		}
	}
	none, _ := ParseTTLs("")
	if got := none.For("web", 5); got != 5 {
		t.Errorf("no overrides: %d, want the default 5", got)
	}
	for _, bad := range []string{"web", "web=", "web=fast", "web=-1s", "web=1500ms", "a*b=1s", "*a=1s"} {
		if _, err := ParseTTLs(bad); err == nil {
			t.Errorf("ParseTTLs(%q) accepted", bad)
		}
	}
}
