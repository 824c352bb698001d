package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// logConfig parses args and env and returns the start-up log's "config" group, and the
// whole log line.
func logConfig(t *testing.T, args []string, env map[string]string) (map[string]any, string) {
	t.Helper()
	c, err := parseConfig(args, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("start", "config", c)
	var line struct {
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	return line.Config, buf.String()
}

// TestLogValue: the start-up line names every flag in the table, with the value that
// took effect, and never a secret.
func TestLogValue(t *testing.T) {
	const token, password = "tok-0123-secret", "pw-secret"
	got, line := logConfig(t,
		[]string{"--max-services", "77", "--consul-addr", "https://consul.example:8501"},
		map[string]string{"CONSUL_HTTP_TOKEN": token, "CONSUL_HTTP_AUTH": "srv:" + password, "SRVBRIDGE_IDLE_TIMEOUT": "3m"})
	for _, s := range specs {
		key := strings.ReplaceAll(s.Name, "-", "_")
		if _, ok := got[key]; !ok {
			t.Errorf("start-up log lacks --%s (%s)", s.Name, key)
		}
	}
	if len(got) != len(specs) {
		t.Errorf("start-up log has %d settings, the flag table %d", len(got), len(specs))
	}
	for key, want := range map[string]string{
		"max_services": "77",
		"idle_timeout": "3m",
		"consul_addr":  "https://consul.example:8501",
		"domain":       "consul.",
		"upstream":     "the nameservers in /etc/resolv.conf", // empty default: the shown one
	} {
		if got[key] != want {
			t.Errorf("%s = %v, want %q", key, got[key], want)
		}
	}
	for _, secret := range []string{token, password} {
		if strings.Contains(line, secret) {
			t.Errorf("start-up log shows a secret: %s", line)
		}
	}
}

// TestLogValueMasksSecretFlags: a flag marked Secret shows only whether it is set.
func TestLogValueMasksSecretFlags(t *testing.T) {
	defer func(saved []flagSpec) { specs = saved }(specs)
	specs = append(specs[:len(specs):len(specs)], flagSpec{Name: "test-token", Arg: "token", Usage: "a credential", Secret: true})
	got, line := logConfig(t, []string{"--test-token", "hunter2-secret"}, nil)
	if got["test_token"] != "(set)" || strings.Contains(line, "hunter2-secret") {
		t.Errorf("secret flag logged as %v: %s", got["test_token"], line)
	}
	got, _ = logConfig(t, nil, nil)
	if got["test_token"] != "(not set)" {
		t.Errorf("unset secret flag logged as %v", got["test_token"])
	}
}
