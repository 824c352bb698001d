package main

import (
	"strings"
	"testing"
)

func TestParseDatacenter(t *testing.T) {
	env := func(k string) string {
		if k == "SRVBRIDGE_DATACENTER" {
			return "East_1"
		}
		return ""
	}
	for _, tt := range []struct {
		args []string
		env  func(string) string
		want string
	}{
		{nil, func(string) string { return "" }, ""},
		{[]string{"--datacenter", "DC1"}, func(string) string { return "" }, "dc1"},
		{nil, env, "east_1"},
		{[]string{"--datacenter", "dc-2"}, env, "dc-2"},
	} {
		c, err := parseConfig(tt.args, tt.env)
		if err != nil || c.Datacenter != tt.want {
			t.Errorf("%v: Datacenter %q, %v; want %q", tt.args, c.Datacenter, err, tt.want)
		}
	}
	for _, bad := range []string{"dc.1", "dc 1", strings.Repeat("d", 64), "dc1/x"} {
		_, err := parseConfig([]string{"--datacenter", bad}, func(string) string { return "" })
		if err == nil || !strings.HasPrefix(err.Error(), "--datacenter ") {
			t.Errorf("--datacenter %q: %v, want an error naming the flag", bad, err)
		}
	}
}
