package resolver

import (
	"bytes"
	"strings"

	"github.com/srvbridge/srvbridge/resolver/wire"
)

// searchSuffix is one configured search domain.
type searchSuffix struct {
	name []byte // lower case, trailing dot: "svc.cluster.local."
	wild bool   // any one label (a namespace) comes between our name and name
}

func newSearchSuffixes(cfg []string) []searchSuffix {
	out := make([]searchSuffix, 0, len(cfg))
	for _, s := range cfg {
		out = append(out, searchSuffix{name: []byte(strings.TrimPrefix(s, "*.")), wild: strings.HasPrefix(s, "*.")})
	}
	return out
}

// searchSuffixNX reports whether name is a name we serve with a search suffix
// appended: "web.service.consul.svc.cluster.local." is what a Kubernetes pod
// (ndots:5) asks before "web.service.consul.", and no upstream can know it. Only
// names with a kind label (service, node, query, addr) count, so a Kubernetes name
// that merely passes through a namespace called like our domain
// ("consul-ui.consul.svc.cluster.local.") is still forwarded. The name is read as
// an A query: the implicit-service SRV form ("_http._tcp.<x>.consul") has the
// shape of Kubernetes' own SRV names and must not match. It allocates nothing.
func (c *Compiler) searchSuffixNX(name []byte) bool {
	for i := range c.search {
		sf := &c.search[i]
		n := len(name) - len(sf.name)
		if n <= 0 || name[n-1] != '.' || !bytes.Equal(name[n:], sf.name) {
			continue
		}
		rest := name[:n]
		if sf.wild {
			j := bytes.LastIndexByte(rest[:len(rest)-1], '.')
			if j < 0 {
				continue
			}
			rest = rest[:j+1]
		}
		switch parseName(rest, wire.TypeA, c.zones).kind {
		case kindService, kindNode, kindQuery, kindAddr:
			return true
		}
	}
	return false
}
