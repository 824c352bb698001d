package health

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/hashicorp/consul/api"
)

// ErrNoDatacenter means Consul knows no route to the asked datacenter: the name is not
// one of its datacenters (or, in a WAN partition, none of its servers is reachable).
//
// A Watch* call returns it, wrapped, when the very first answer says so: out is never
// called, and the caller can serve a negative answer for the name instead of holding a
// watch that can never succeed. Once a watch has delivered a result, the same error is
// treated like any other outage and retried with backoff, so a temporarily unreachable
// datacenter keeps serving what was last known.
var ErrNoDatacenter = errors.New("no such datacenter")

// consulNoDCPath is the body of Consul's HTTP 500 for an unknown datacenter
// (structs.ErrNoDCPath in Consul's agent/structs/errors.go).
const consulNoDCPath = "No path to datacenter"

// classify turns an api error into what the watcher reports: ErrNoDatacenter when it
// applies, and never a string that could carry the ACL token.
func classify(dc string, err error) error {
	var se api.StatusError
	if errors.As(err, &se) && strings.Contains(se.Body, consulNoDCPath) {
		return fmt.Errorf("%w: %q", ErrNoDatacenter, dc)
	}
	return redact(err)
}

// The api package sends the token in the X-Consul-Token header, so request URLs (which
// net/http puts in every transport error) carry none. This is the second line of
// defence for a token that reaches a URL anyway, e.g. a ?token= in a configured address.
var tokenParam = regexp.MustCompile(`(?i)(token=)[^&\s"']+`)

func redactString(s string) string { return tokenParam.ReplaceAllString(s, "${1}REDACTED") }

func redact(err error) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue == err {
		// Keep the *url.Error so callers can still inspect Op and the network cause,
		// which never contains the URL.
		c := *ue
		c.URL = redactString(ue.URL)
		return &c
	}
	if msg := err.Error(); tokenParam.MatchString(msg) {
		return redactedError(redactString(msg))
	}
	return err
}

// redactedError deliberately does not unwrap: the wrapped error's text is what we hide.
type redactedError string

func (e redactedError) Error() string { return string(e) }
