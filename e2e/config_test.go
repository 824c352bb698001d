package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/srvbridge/srvbridge/internal/bridgetest"
)

// TestBadConfigExits runs the binary with bad settings: it must exit non-zero at once
// with one line that names the setting.
func TestBadConfigExits(t *testing.T) {
	tests := []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"--dns-addr", "nonsense"}, "", "--dns-addr"},
		{[]string{"--dns-addr", "127.0.0.1:99999"}, "", "--dns-addr"},
		{[]string{"--service-ttl", "-1s"}, "", "--service-ttl"},
		{[]string{"--consul-addr", "http://[::1"}, "", "--consul-addr"},
		{[]string{"--log-format", "xml"}, "", "--log-format"},
		{nil, "SRVBRIDGE_SERVICE_TTL=soon", "SRVBRIDGE_SERVICE_TTL"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(append(tc.args, tc.env), " "), func(t *testing.T) {
			cmd := exec.Command(bridgetest.Binary(t), tc.args...)
			if tc.env != "" {
				cmd.Env = append(cmd.Environ(), tc.env)
			}
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("exited 0; output:\n%s", out)
			}
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
				t.Fatalf("want a non-zero exit, got %v", err)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Fatalf("want one line naming %s, got:\n%s", tc.want, out)
			}
		})
	}
}
