package resolver

import (
	"encoding/hex"
	"net/netip"
	"strings"
	"time"

	"github.com/srvbridge/srvbridge/cache"
	"github.com/srvbridge/srvbridge/health"
	"github.com/srvbridge/srvbridge/resolver/dnsmsg"
)

// Compiler builds reply templates. Its Compile method is the cache's compile hook, so
// answers are built when Consul data changes, never per query.
type Compiler struct {
	cfg    Config
	zones  []zone
	serial uint32
}

// NewCompiler checks cfg and returns a compiler for it.
func NewCompiler(cfg Config) (*Compiler, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	c := &Compiler{cfg: cfg, serial: uint32(time.Now().Unix())}
	c.zones = append(c.zones, zone{name: []byte(cfg.Domain)})
	if cfg.AltDomain != "" {
		c.zones = append(c.zones, zone{name: []byte(cfg.AltDomain)})
	}
	return c, nil
}

// maxRotations is how many orders of the same records are pre-built. Clients that
// take the first record spread over this many instances; more costs memory only.
const maxRotations = 4

// Compile returns the answers for svc, rebuilding every variant prev had served so
// the first query after a change finds its reply ready.
func (c *Compiler) Compile(prev *Answers, svc *cache.Service) *Answers {
	a := &Answers{c: c, svc: svc, tags: map[string]struct{}{}}
	for _, in := range svc.Instances {
		for _, t := range in.Tags {
			a.tags[strings.ToLower(t)] = struct{}{}
		}
	}
	m := memo{}
	if prev != nil {
		for name, vs := range *prev.memo.Load() {
			for _, v := range vs {
				m[name] = append(m[name], a.make(name, v.key))
			}
		}
	}
	a.memo.Store(&m)
	return a
}

// make builds every rotation of one variant.
func (a *Answers) make(name string, k variantKey) *variant {
	v := &variant{key: k}
	p := parseName([]byte(name), k.qtype, a.c.zones)
	insts := filterTag(a.svc.Instances, p.tag)
	n := 1
	if len(insts) > 1 && (k.qtype == typeSRV || k.qtype == typeA || k.qtype == typeAAAA || k.qtype == typeANY) {
		n = min(len(insts), maxRotations)
	}
	rot := make([]health.Instance, len(insts))
	for r := 0; r < n; r++ {
		start := r * len(insts) / n
		copy(rot, insts[start:])
		copy(rot[len(insts)-start:], insts[:start])
		reply := a.c.serviceReply(name, &p, a.svc, rot, k)
		packed, err := dnsmsg.Pack(reply)
		if err != nil {
			a.c.cfg.Logger.Error("building answer", "name", name, "err", err)
			return &variant{key: k, failed: true}
		}
		v.rots = append(v.rots, packed.Wire)
		v.truncated = v.truncated || packed.Truncated
	}
	return v
}

// serviceReply lays out the records Consul would send for these instances.
func (c *Compiler) serviceReply(name string, p *parsed, svc *cache.Service, insts []health.Instance, k variantKey) *dnsmsg.Reply {
	r := &dnsmsg.Reply{Name: name, Qtype: k.qtype, Limit: int(k.limit)}
	if k.edns {
		r.EDNSSize = c.cfg.MaxUDPSize
	}
	zoneName := string(p.zone.name)
	if len(insts) == 0 && !svc.Empty() {
		// A tag nobody carries names nothing, as in Consul.
		r.Rcode = dnsmsg.RcodeNXDomain
		r.Authority = []dnsmsg.Record{c.soa(zoneName)}
		return r
	}
	dc := svc.Datacenter
	ttl := c.cfg.TTLs.For(svc.Name, c.cfg.TTL)
	if svc.TTL > 0 {
		ttl = uint32(svc.TTL / time.Second)
	}
	switch k.qtype {
	case typeSRV:
		for _, in := range insts {
			target, glue := c.target(&in, dc, zoneName)
			r.Answer = append(r.Answer, dnsmsg.Record{Type: dnsmsg.TypeSRV, Name: name, TTL: ttl,
				Priority: 1, Weight: in.Weight, Port: in.Port, Target: target})
			if glue.IsValid() {
				r.Additional = append(r.Additional, addrRecord(target, glue, ttl))
				r.GlueOf = append(r.GlueOf, len(r.Answer)-1)
			}
		}
	case typeA, typeAAAA, typeANY:
		seen := make(map[netip.Addr]bool, len(insts))
		for _, in := range insts {
			ip, err := netip.ParseAddr(in.Address)
			if err != nil || seen[ip.Unmap()] {
				continue
			}
			ip = ip.Unmap()
			seen[ip] = true
			if k.qtype == typeANY || (k.qtype == typeA) == ip.Is4() {
				r.Answer = append(r.Answer, addrRecord(name, ip, ttl))
			}
		}
	}
	if len(r.Answer) == 0 {
		r.Authority = []dnsmsg.Record{c.soa(zoneName)}
	}
	return r
}

// target is the SRV target Consul hands out for an instance and the address it
// resolves to (invalid when the target is a host name we do not serve).
func (c *Compiler) target(in *health.Instance, dc, zoneName string) (string, netip.Addr) {
	ip, err := netip.ParseAddr(in.Address)
	if err != nil {
		return strings.TrimSuffix(in.Address, ".") + ".", netip.Addr{}
	}
	ip = ip.Unmap()
	if !in.OwnAddress {
		return in.Node + ".node." + dc + "." + zoneName, ip
	}
	return hexAddr(ip) + ".addr." + dc + "." + zoneName, ip
}

func hexAddr(ip netip.Addr) string {
	b := ip.AsSlice()
	return hex.EncodeToString(b)
}

func addrRecord(name string, ip netip.Addr, ttl uint32) dnsmsg.Record {
	t := uint16(dnsmsg.TypeA)
	if ip.Is6() {
		t = dnsmsg.TypeAAAA
	}
	return dnsmsg.Record{Type: t, Name: name, TTL: ttl, IP: ip}
}

func (c *Compiler) soa(zoneName string) dnsmsg.Record {
	return dnsmsg.Record{Type: dnsmsg.TypeSOA, Name: zoneName, TTL: c.cfg.NegativeTTL, SOA: &dnsmsg.SOA{
		MName: "ns." + zoneName, RName: "hostmaster." + zoneName, Serial: c.serial,
		Refresh: soaRefresh, Retry: soaRetry, Expire: soaExpire, MinTTL: c.cfg.NegativeTTL,
	}}
}

// SOA timers as Consul sets them by default.
const (
	soaRefresh = 3600
	soaRetry   = 600
	soaExpire  = 86400
)

// filterTag keeps the instances carrying tag, compared without case as Consul does.
func filterTag(insts []health.Instance, tag []byte) []health.Instance {
	if len(tag) == 0 {
		return insts
	}
	t := string(tag)
	var out []health.Instance
	for _, in := range insts {
		for _, have := range in.Tags {
			if strings.EqualFold(have, t) {
				out = append(out, in)
				break
			}
		}
	}
	return out
}
