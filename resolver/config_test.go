package resolver

import (
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/srvbridge/srvbridge/resolver/wire"
)

// TestZoneRoom: a served zone may be as long as leaves room for its own SOA's
// hostmaster.<zone>, and no longer; at the limit, its negative answer still parses.
func TestZoneRoom(t *testing.T) {
	label := strings.Repeat("z", 60)
	longest := label + "." + label + "." + label + "." + strings.Repeat("y", 59) // 242 characters
	if len(longest) != 242 {
		t.Fatalf("test zone is %d characters", len(longest))
	}
	c, err := NewCompiler(Config{Domain: longest, NegativeTTL: 5})
	if err != nil {
		t.Fatalf("zone of 242 characters refused: %v", err)
	}
	name := "a." + longest + "."
	p := parseName([]byte(name), wire.TypeA, c.zones)
	m := new(dns.Msg)
	if err := m.Unpack(c.soaReply(name, variantKey{qtype: wire.TypeA}, wire.RcodeNXDomain, false, p.apexOff)); err != nil {
		t.Fatalf("negative answer under the longest zone does not parse: %v", err)
	}
	if soa, ok := m.Ns[0].(*dns.SOA); !ok || soa.Mbox != "hostmaster."+longest+"." {
		t.Fatalf("authority %v", m.Ns)
	}
	if _, err := NewCompiler(Config{Domain: "x" + longest}); err == nil || !strings.Contains(err.Error(), "no room") {
		t.Fatalf("zone of 243 characters: %v", err)
	}
	if _, err := NewCompiler(Config{AltDomain: "x" + longest}); err == nil {
		t.Fatal("alt domain of 243 characters accepted")
	}
	if _, err := NewCompiler(Config{Domain: "-bad.consul"}); err == nil {
		t.Fatal("zone with a leading hyphen accepted")
	}
}
