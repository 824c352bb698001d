package resolver

import (
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/srvbridge/srvbridge/cache"
	"github.com/srvbridge/srvbridge/health"
	"github.com/srvbridge/srvbridge/resolver/dnsmsg"
	"github.com/srvbridge/srvbridge/resolver/wire"
)

// Compiler builds reply templates. Its Compile method is the cache's compile hook, so
// answers are built when Consul data changes, never per query.
type Compiler struct {
	cfg    Config
	zones  []zone
	soa    wire.SOA
	search []searchSuffix
	flat   *flattener // resolves the CNAME targets spliced into answers (flatten.go)
}

// NewCompiler checks cfg and returns a compiler for it.
func NewCompiler(cfg Config) (*Compiler, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	c := &Compiler{cfg: cfg, soa: wire.SOA{Serial: uint32(time.Now().Unix()), TTL: cfg.NegativeTTL},
		search: newSearchSuffixes(cfg.SearchSuffixes)}
	c.zones = append(c.zones, zone{name: []byte(cfg.Domain)})
	if cfg.AltDomain != "" {
		c.zones = append(c.zones, zone{name: []byte(cfg.AltDomain)})
	}
	c.flat = newFlattener(c.zones, cfg.Forwarder, cfg.Logger)
	return c, nil
}

// maxRotations is how many orders of the same records are pre-built. Clients that
// take the first record spread over this many instances; more costs memory only.
const maxRotations = 4

// Compile returns the answers for svc, rebuilding every variant prev had served so
// the queries after a change find their replies ready.
func (c *Compiler) Compile(prev *Answers, svc *cache.Service) *Answers {
	a := &Answers{c: c, svc: svc, tags: map[string]struct{}{}}
	for _, in := range svc.Instances {
		for _, t := range in.Tags {
			a.tags[strings.ToLower(t)] = struct{}{}
		}
	}
	// The virtual IP is the service's, whatever the health of the instance that
	// shows it: every instance, healthy or not.
	for _, in := range svc.All {
		if ip, err := netip.ParseAddr(in.Virtual); err == nil && ip.Is4() && !a.vipOK {
			a.vip, a.vipOK = ip.As4(), true
		}
	}
	// Held from before the first splice subscribes a to a CNAME target until its
	// memo is in place: a rebuild for new target records waits for it (flatten.go).
	a.mu.Lock()
	defer a.mu.Unlock()
	a.memo.Store(&memo{})
	m := memo{}
	if prev != nil {
		m = a.remake(*prev.memo.Load())
	}
	a.memo.Store(&m)
	// The targets of host-name addresses are resolved now, before anyone asks A.
	for _, in := range svc.Instances {
		if _, err := netip.ParseAddr(in.Address); err != nil {
			if host, err := wire.Domain(in.Address); err == nil {
				c.flat.subscribe(host, a)
			}
		}
	}
	return a
}

// remake builds every variant of old anew for a, every order of each: this runs
// when Consul data changes, off the query path, so that no query after the change
// packs one. a.mu must be held.
func (a *Answers) remake(old memo) memo {
	m := memo{}
	for name, vs := range old {
		for _, v := range vs {
			nv := a.make(name, v.key)
			if !nv.failed {
				for i := range nv.n {
					nv.packed(i)
				}
			}
			m[name] = append(m[name], nv)
		}
	}
	return m
}

// rebuild remakes a's variants in place: a CNAME target's records changed.
func (a *Answers) rebuild() {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.remake(*a.memo.Load())
	a.memo.Store(&m)
}

// make prepares one variant and packs the order its first query gets; pick packs
// the others when first used. a.mu must be held.
func (a *Answers) make(name string, k variantKey) *variant {
	v := &variant{key: k, a: a, name: name, p: parseName([]byte(name), k.qtype, a.c.zones), n: 1}
	v.insts = a.c.distinctEndpoints(filterTag(a.svc.Instances, v.p.tag), a.svc.Datacenter, string(v.p.zone.name))
	if len(v.insts) > 1 && (k.qtype == wire.TypeSRV || k.qtype == wire.TypeA || k.qtype == wire.TypeAAAA || k.qtype == wire.TypeANY) {
		v.n = uint32(min(len(v.insts), maxRotations))
	}
	// Every order holds the same records: whether packing fails, and whether there
	// are answers at all, shows in the first order packed.
	b, empty, err := v.pack(v.first())
	if err != nil {
		a.c.cfg.Logger.Error("building answer", "name", name, "err", err)
		return &variant{key: k, failed: true, n: 1}
	}
	if empty {
		v.n = 1 // nothing to rotate
	}
	v.rots[v.first()].Store(&b)
	return v
}

// pack builds order r of v: the instances rotated by r/n of their number. A reply
// without answers is NXDOMAIN or NODATA with the zone's SOA (empty), alike in every
// order. a.mu must be held.
func (v *variant) pack(r uint32) (b []byte, empty bool, err error) {
	if f := v.first(); r != f {
		if base := v.rots[f].Load(); base != nil {
			if b, ok := v.permute(*base, r); ok {
				return b, false, nil
			}
		}
	}
	a, k := v.a, v.key
	rot := v.insts
	if start := v.start(r); start != 0 {
		rot = make([]health.Instance, len(v.insts))
		copy(rot[copy(rot, v.insts[start:]):], v.insts[:start])
	}
	reply := a.c.serviceReply(v.name, &v.p, a.svc, rot, k)
	if k.qtype == wire.TypeA || k.qtype == wire.TypeAAAA {
		a.splice(reply, k.qtype)
	}
	if len(reply.Answer) == 0 {
		return a.c.soaReply(v.name, k, reply.Rcode, false, v.p.apexOff), true, nil
	}
	packed, err := dnsmsg.Pack(reply)
	return packed.Wire, false, err
}

// start is where order r begins in v.insts: each order rotates them by r/n of
// their number.
func (v *variant) start(r uint32) int { return int(r) * len(v.insts) / int(v.n) }

// splice appends, after the answer's CNAMEs, their targets' records of the type
// asked, where the flattener knows them (flatten.go). A CNAME whose target's first
// lookup is still running gets TTL 0: that answer is replaced within moments, and a
// client (Kong's new DNS client does not follow CNAMEs) must not keep it.
func (a *Answers) splice(r *dnsmsg.Reply, qtype uint16) {
	for i := range r.Answer {
		if r.Answer[i].Type != wire.TypeCNAME {
			continue
		}
		recs, pending := a.c.flat.splice(r.Answer[i].Target, a, qtype)
		if pending {
			r.Answer[i].TTL = 0
		}
		r.Answer = append(r.Answer, recs...)
	}
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
		r.Rcode = wire.RcodeNXDomain
		return r
	}
	dc := svc.Datacenter
	ttl := c.cfg.TTLs.For(svc.Name, c.cfg.TTL)
	if svc.TTL > 0 {
		ttl = uint32(svc.TTL / time.Second)
	}
	switch k.qtype {
	case wire.TypeSRV:
		// Two ports on one node share a target: its glue goes in once (RFC 2181 5),
		// tied to the first answer that needs it.
		glued := make(map[string]bool, len(insts))
		r.Answer = make([]dnsmsg.Record, 0, len(insts))
		r.Additional, r.GlueOf = make([]dnsmsg.Record, 0, len(insts)), make([]int, 0, len(insts))
		for _, in := range insts {
			target, glue := c.target(&in, dc, zoneName)
			r.Answer = append(r.Answer, dnsmsg.Record{Type: wire.TypeSRV, Name: name, TTL: ttl,
				Priority: 1, Weight: in.Weight, Port: in.Port, Target: target})
			if glue.IsValid() && !glued[target] {
				glued[target] = true
				r.Additional = append(r.Additional, addrRecord(target, glue, ttl))
				r.GlueOf = append(r.GlueOf, len(r.Answer)-1)
			}
		}
	case wire.TypeA, wire.TypeAAAA, wire.TypeANY:
		addressAnswers(r, name, insts, ttl, k.qtype)
	default:
		// A name whose instances all have a host name as their address holds only
		// CNAMEs, and a CNAME answers every type (RFC 1034 3.6.2), as in Consul.
		if !slices.ContainsFunc(insts, func(in health.Instance) bool { _, err := netip.ParseAddr(in.Address); return err == nil }) {
			addressAnswers(r, name, insts, ttl, k.qtype)
		}
	}
	return r
}

// addressAnswers adds the address records of insts of the family qtype asks (both
// for ANY), once each, and a CNAME for each distinct host name given as an address.
func addressAnswers(r *dnsmsg.Reply, name string, insts []health.Instance, ttl uint32, qtype uint16) {
	seen := make(map[netip.Addr]bool, len(insts))
	r.Answer = slices.Grow(r.Answer, len(insts))
	var aliased map[string]bool
	for _, in := range insts {
		ip, err := netip.ParseAddr(in.Address)
		if err != nil {
			// A host name as the address (an external service, e.g. from
			// consul-esm): Consul answers a CNAME to it, whatever the type.
			host, herr := wire.Domain(in.Address)
			if herr != nil || aliased[host] {
				continue
			}
			if aliased == nil {
				aliased = map[string]bool{}
			}
			aliased[host] = true
			r.Answer = append(r.Answer, dnsmsg.Record{Type: wire.TypeCNAME, Name: name, TTL: ttl, Target: host})
			continue
		}
		if seen[ip.Unmap()] {
			continue
		}
		ip = ip.Unmap()
		seen[ip] = true
		if qtype == wire.TypeANY || (qtype == wire.TypeA) == ip.Is4() {
			r.Answer = append(r.Answer, addrRecord(name, ip, ttl))
		}
	}
}

// distinctEndpoints drops each instance whose SRV record would repeat an earlier
// one's target and port: two registrations of one endpoint (same node, address and
// port) would otherwise give two identical records in one RRset, which RFC 2181 5
// forbids, and double that endpoint's share of the traffic in clients that count
// records (Kong). The first instance in the catalog's order is kept, weight
// included: Consul keeps the first too, but after shuffling. It runs before the
// rotations, so every rotation, and every query, keeps the same one.
func (c *Compiler) distinctEndpoints(insts []health.Instance, dc, zoneName string) []health.Instance {
	type endpoint struct {
		target string
		port   uint16
	}
	seen := make(map[endpoint]bool, len(insts))
	var out []health.Instance
	for i := range insts {
		t, _ := c.target(&insts[i], dc, zoneName)
		e := endpoint{t, insts[i].Port}
		if seen[e] {
			if out == nil {
				out = append(make([]health.Instance, 0, len(insts)), insts[:i]...)
			}
			continue
		}
		seen[e] = true
		if out != nil {
			out = append(out, insts[i])
		}
	}
	if out == nil {
		return insts
	}
	return out
}

// target is the SRV target Consul hands out for an instance and the address it
// resolves to (invalid when the target is a host name we do not serve).
func (c *Compiler) target(in *health.Instance, dc, zoneName string) (string, netip.Addr) {
	ip, err := netip.ParseAddr(in.Address)
	if err != nil {
		// Lower case, so that one host written two ways is one endpoint and one
		// record (names compare without case).
		return strings.ToLower(strings.TrimSuffix(in.Address, ".")) + ".", netip.Addr{}
	}
	ip = ip.Unmap()
	if !in.OwnAddress {
		return in.Node + ".node." + dc + "." + zoneName, ip
	}
	if _, peer := health.PeerOf(dc); peer {
		// An imported instance's own address: Consul 1.16 names no datacenter.
		return hexAddr(ip) + ".addr." + zoneName, ip
	}
	return hexAddr(ip) + ".addr." + dc + "." + zoneName, ip
}

func hexAddr(ip netip.Addr) string {
	b := ip.AsSlice()
	return hex.EncodeToString(b)
}

func addrRecord(name string, ip netip.Addr, ttl uint32) dnsmsg.Record {
	t := uint16(wire.TypeA)
	if ip.Is6() {
		t = wire.TypeAAAA
	}
	return dnsmsg.Record{Type: t, Name: name, TTL: ttl, IP: ip}
}

// soaReply is the template of a reply whose one record is the zone's SOA, its
// names pointing at the zone suffix of the question (at zoneOff in name): in the
// answer section when the apex is asked for its SOA, else in the authority
// section of an NXDOMAIN or NODATA (RFC 2308). The query path builds the same
// record for names it holds no template for (Server.negative): both take it from
// wire.SOA.
func (c *Compiler) soaReply(name string, k variantKey, rcode int, answer bool, zoneOff int) []byte {
	an, ns, ar := uint16(0), uint16(1), uint16(0)
	if answer {
		an, ns = 1, 0
	}
	if k.edns {
		ar = 1
	}
	out := wire.AppendHeader(make([]byte, 0, wire.MinUDPSize), 0, wire.FlagQR|wire.FlagAA|uint16(rcode), 1, an, ns, ar)
	out = wire.AppendName(out, name)
	out = binary.BigEndian.AppendUint16(out, k.qtype)
	out = binary.BigEndian.AppendUint16(out, wire.ClassIN)
	out = c.soa.Append(out, wire.HeaderLen+zoneOff)
	if k.edns {
		out = wire.AppendOPT(out, c.cfg.MaxUDPSize, 0)
	}
	return out
}

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
