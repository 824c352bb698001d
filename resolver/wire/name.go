package wire

import (
	"errors"
	"fmt"
	"strings"
)

// ErrRoot is Domain's answer to the root: srvbridge never serves or forwards the
// whole namespace as one zone; each caller says what to use instead.
var ErrRoot = errors.New("the root is not a zone")

// Domain checks a domain name given in configuration (--domain, --alt-domain,
// --ns-name, stub zones) and returns it lower-cased with a trailing dot.
//
// The limits are RFC 1035's (section 2.3.4): a label holds 1 to 63 bytes and a
// name 255 bytes in wire form, which is 253 characters written without the
// trailing dot (each label's length byte becomes a dot, and the root's zero byte
// the trailing dot). A zone that is to hold names of its own must leave room
// below it; that is the caller's check (resolver.Config), not a property of a name.
//
// Labels are letters, digits, hyphens and underscores (Consul service names and
// RFC 2782 labels use underscores), and do not start or end with a hyphen (RFC 952
// host names, which is what every name in srvbridge's configuration is or holds).
func Domain(s string) (string, error) {
	d := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "."))
	if d == "" {
		return "", ErrRoot
	}
	if len(d) > MaxNameLen-2 {
		return "", fmt.Errorf("longer than %d characters", MaxNameLen-2)
	}
	for _, label := range strings.Split(d, ".") {
		switch {
		case label == "":
			return "", errors.New("empty label")
		case len(label) > MaxLabelLen:
			return "", fmt.Errorf("label %q longer than %d characters", label, MaxLabelLen)
		case label[0] == '-' || label[len(label)-1] == '-':
			return "", fmt.Errorf("label %q starts or ends with a hyphen", label)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("label %q has character %q (want letters, digits, - or _)", label, c)
			}
		}
	}
	return d + ".", nil
}

// AppendName appends a presentation-form name with a trailing dot, as Domain
// returns or Query.Name holds it (no label with a dot of its own), in wire form.
func AppendName(out []byte, name string) []byte {
	name = strings.TrimSuffix(name, ".")
	for name != "" {
		label, rest, _ := strings.Cut(name, ".")
		out = append(out, byte(len(label)))
		out = append(out, label...)
		name = rest
	}
	return append(out, 0)
}
