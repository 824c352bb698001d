package deploy_test

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"sigs.k8s.io/yaml"
)

var composeDir = filepath.Join(repoRoot, "deploy", "compose")

// loadCompose loads a compose file the way `docker compose` does: the same loader,
// schema validation, interpolation (with an empty environment, so defaults apply),
// YAML merge keys and consistency checks.
func loadCompose(t *testing.T, file string) *types.Project {
	t.Helper()
	dir, err := filepath.Abs(composeDir)
	if err != nil {
		t.Fatal(err)
	}
	details, err := loader.LoadConfigFiles(context.Background(), []string{filepath.Join(dir, file)}, dir)
	if err != nil {
		t.Fatal(err)
	}
	details.Environment = types.Mapping{}
	p, err := loader.LoadWithContext(context.Background(), *details)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return p
}

func env(s types.ServiceConfig) map[string]string {
	out := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

// isSrvbridge: built from the repository's own Dockerfile.
func isSrvbridge(s types.ServiceConfig) bool {
	root, _ := filepath.Abs(repoRoot)
	return s.Build != nil && filepath.Clean(s.Build.Context) == root &&
		(s.Build.Dockerfile == "" || s.Build.Dockerfile == "Dockerfile")
}

// oneShot services run to completion; everything else runs for the life of the
// stack and must say so with its restart policy.
func oneShot(p *types.Project, name string) bool {
	for _, s := range p.Services {
		if d, ok := s.DependsOn[name]; ok && d.Condition == types.ServiceConditionCompletedSuccessfully {
			return true
		}
	}
	return p.Services[name].Restart == types.RestartPolicyOnFailure
}

func TestComposeFiles(t *testing.T) {
	for _, tt := range []struct {
		file   string
		dbless bool
	}{
		{"compose.yaml", false},
		{"compose.dbless.yaml", true},
	} {
		t.Run(tt.file, func(t *testing.T) {
			p := loadCompose(t, tt.file)
			checkComposeProject(t, p, tt.dbless)
		})
	}
}

func checkComposeProject(t *testing.T, p *types.Project, dbless bool) {
	want := []string{"consul", "srvbridge-1", "srvbridge-2", "sample", "kong"}
	if !dbless {
		want = append(want, "postgres", "kong-migrations", "kong-config")
	}
	for _, name := range want {
		if _, ok := p.Services[name]; !ok {
			t.Errorf("no service %q", name)
		}
	}
	kong, ok := p.Services["kong"]
	if !ok {
		t.FailNow()
	}

	// The one network and its fixed subnet.
	if len(p.Networks) != 1 {
		t.Fatalf("want one network, have %v", sortedKeys(p.Networks))
	}
	var netName string
	var subnet, dynamic netip.Prefix
	var gateway netip.Addr
	for name, n := range p.Networks {
		netName = name
		if len(n.Ipam.Config) != 1 {
			t.Fatalf("network %s: want one fixed IPAM pool", name)
		}
		pool := n.Ipam.Config[0]
		var err error
		if subnet, err = netip.ParsePrefix(pool.Subnet); err != nil {
			t.Fatalf("network %s subnet: %v", name, err)
		}
		if dynamic, err = netip.ParsePrefix(pool.IPRange); err != nil {
			t.Fatalf("network %s ip_range (keeps dynamic addresses off the fixed ones): %v", name, err)
		}
		if gateway, err = netip.ParseAddr(pool.Gateway); err != nil {
			t.Fatalf("network %s gateway: %v", name, err)
		}
		if !subnet.Contains(dynamic.Addr()) || dynamic.Bits() < subnet.Bits() {
			t.Errorf("ip_range %s is not inside subnet %s", dynamic, subnet)
		}
	}

	// srvbridge replicas: fixed addresses, and those are exactly KONG_DNS_RESOLVER.
	var replicas []string
	for _, name := range sortedKeys(p.Services) {
		s := p.Services[name]
		if !isSrvbridge(s) {
			continue
		}
		replicas = append(replicas, name)
		where := "service " + name
		sn := s.Networks[netName]
		if sn == nil || sn.Ipv4Address == "" {
			t.Errorf("%s: no fixed ipv4_address on %s: Kong takes IPs only", where, netName)
			continue
		}
		ip, err := netip.ParseAddr(sn.Ipv4Address)
		if err != nil || !subnet.Contains(ip) || dynamic.Contains(ip) || ip == gateway {
			t.Errorf("%s: address %s must be in %s, outside the dynamic range %s, not the gateway", where, sn.Ipv4Address, subnet, dynamic)
		}
		if s.User == "root" || s.User == "0" || strings.HasPrefix(s.User, "0:") {
			t.Errorf("%s: runs as root (user: %s); the image's non-root user is the point", where, s.User)
		}
		e := env(s)
		checkEnv(t, where, e)
		checkConfigAccepted(t, where, e)
		for _, arg := range append(slices.Clone(s.Entrypoint), s.Command...) {
			checkFlag(t, where+" command", arg)
		}
		// Non-root on port 53 needs the unprivileged port range to start at 53.
		if v, err := strconv.Atoi(s.Sysctls["net.ipv4.ip_unprivileged_port_start"]); err != nil || v > 53 {
			t.Errorf("%s: sysctl net.ipv4.ip_unprivileged_port_start = %q, want <= 53 so uid 65532 can bind 53", where, s.Sysctls["net.ipv4.ip_unprivileged_port_start"])
		}
		// Kong's resolver sends Postgres' name here: it must be forwarded for the
		// whole network, Kong's dynamic address included.
		if !prefixesCover(e["SRVBRIDGE_ALLOW_RECURSION"], subnet) {
			t.Errorf("%s: SRVBRIDGE_ALLOW_RECURSION %q does not cover the network %s: Kong's lookups of Postgres would be REFUSED",
				where, e["SRVBRIDGE_ALLOW_RECURSION"], subnet)
		}
		if host := consulHost(e["CONSUL_HTTP_ADDR"]); p.Services[host].Name == "" {
			t.Errorf("%s: CONSUL_HTTP_ADDR %q names no service of the stack", where, e["CONSUL_HTTP_ADDR"])
		}
		if d, ok := s.DependsOn["consul"]; !ok || d.Condition != types.ServiceConditionHealthy {
			t.Errorf("%s: should wait for consul to be healthy", where)
		}
		if s.HealthCheck == nil || !slices.Equal(s.HealthCheck.Test, []string{"CMD", "/srvbridge", "healthcheck"}) {
			t.Errorf("%s: healthcheck %v, want the image's [CMD /srvbridge healthcheck]", where, s.HealthCheck)
		}
	}
	if len(replicas) < 2 {
		t.Errorf("srvbridge replicas %v: want two, to show scaling out", replicas)
	}
	// The port each replica listens on: its own SRVBRIDGE_DNS_ADDR, else the image's.
	imageEnv := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile")).final().keyValues("ENV")
	wantResolvers := map[string]bool{}
	for _, name := range replicas {
		addr, ok := env(p.Services[name])["SRVBRIDGE_DNS_ADDR"]
		if !ok {
			addr = imageEnv["SRVBRIDGE_DNS_ADDR"]
		}
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("service %s: DNS address %q: %v", name, addr, err)
		}
		wantResolvers[net.JoinHostPort(p.Services[name].Networks[netName].Ipv4Address, port)] = true
	}
	ke := env(kong)
	haveResolvers := map[string]bool{}
	for _, r := range strings.Split(ke["KONG_DNS_RESOLVER"], ",") {
		r = strings.TrimSpace(r)
		if _, err := netip.ParseAddrPort(r); err != nil {
			t.Errorf("KONG_DNS_RESOLVER entry %q is not ip:port (Kong rejects hostnames; give the port to be explicit)", r)
		}
		haveResolvers[r] = true
	}
	if strings.Join(sortedKeys(haveResolvers), ",") != strings.Join(sortedKeys(wantResolvers), ",") {
		t.Errorf("KONG_DNS_RESOLVER %q, want exactly the srvbridge replicas %v", ke["KONG_DNS_RESOLVER"], sortedKeys(wantResolvers))
	}
	if order := strings.Split(ke["KONG_DNS_ORDER"], ","); slices.Index(order, "SRV") < 0 ||
		(slices.Index(order, "A") >= 0 && slices.Index(order, "A") < slices.Index(order, "SRV")) {
		t.Errorf("KONG_DNS_ORDER %q: SRV must come before A, or Kong loses each instance's port", ke["KONG_DNS_ORDER"])
	}
	for _, name := range replicas {
		if d, ok := kong.DependsOn[name]; !ok || d.Condition != types.ServiceConditionHealthy {
			t.Errorf("kong should wait for %s to be healthy: every name it resolves goes there", name)
		}
	}

	// Wiring that holds for every service.
	for _, name := range sortedKeys(p.Services) {
		s := p.Services[name]
		for dep := range s.DependsOn {
			if _, ok := p.Services[dep]; !ok {
				t.Errorf("service %s depends on %q, which does not exist", name, dep)
			}
		}
		if s.Image != "" && s.Build == nil {
			if _, tag, ok := strings.Cut(s.Image, ":"); !ok || tag == "latest" {
				t.Errorf("service %s: image %q: pin a tag", name, s.Image)
			}
		}
		if s.Build != nil {
			df := s.Build.Dockerfile
			if df == "" {
				df = "Dockerfile"
			}
			if _, err := os.Stat(filepath.Join(s.Build.Context, df)); err != nil {
				t.Errorf("service %s: build: %v", name, err)
			}
		}
		if oneShot(p, name) {
			continue
		}
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0 {
			t.Errorf("service %s runs for the life of the stack but has no healthcheck", name)
		}
		if s.Restart != types.RestartPolicyUnlessStopped && s.Restart != types.RestartPolicyAlways && name != "consul" && name != "postgres" {
			t.Errorf("service %s: restart %q, want unless-stopped", name, s.Restart)
		}
	}

	// The sample service scales: nothing in it may be fixed per container.
	sample := p.Services["sample"]
	if sample.ContainerName != "" || len(sample.Ports) > 0 {
		t.Errorf("sample: container_name %q / ports %v stop `--scale sample=3` from working", sample.ContainerName, sample.Ports)
	}
	for _, sn := range sample.Networks {
		if sn != nil && sn.Ipv4Address != "" {
			t.Errorf("sample: fixed address %s stops --scale from working", sn.Ipv4Address)
		}
	}
	se := env(sample)
	wantHost := se["SERVICE_NAME"] + ".service.consul"
	if se["SERVICE_NAME"] == "" {
		t.Errorf("sample: no SERVICE_NAME")
	}
	if host := consulHost(se["CONSUL_HTTP_ADDR"]); p.Services[host].Name == "" {
		t.Errorf("sample: CONSUL_HTTP_ADDR %q names no service of the stack", se["CONSUL_HTTP_ADDR"])
	}

	// The Kong Service points at the sample's Consul name, and the Route is /api.
	if dbless {
		mounted := ""
		for _, v := range kong.Volumes {
			if v.Target == ke["KONG_DECLARATIVE_CONFIG"] {
				mounted = v.Source
			}
		}
		if mounted == "" || ke["KONG_DATABASE"] != "off" {
			t.Fatalf("kong: KONG_DATABASE %q and KONG_DECLARATIVE_CONFIG %q must be off and a mounted file", ke["KONG_DATABASE"], ke["KONG_DECLARATIVE_CONFIG"])
		}
		checkKongDeclarative(t, mounted, wantHost)
	} else {
		script := strings.Join(append(slices.Clone(p.Services["kong-config"].Entrypoint), p.Services["kong-config"].Command...), " ")
		for _, want := range []string{
			"PUT http://kong:8001/services/" + se["SERVICE_NAME"],
			"host=" + wantHost,
			"/routes/",
			"paths[]=/api",
			"strip_path=false",
		} {
			if !strings.Contains(script, want) {
				t.Errorf("kong-config: script lacks %q:\n%s", want, script)
			}
		}
		if ke["KONG_PG_HOST"] == "" || p.Services[ke["KONG_PG_HOST"]].Name == "" {
			t.Errorf("kong: KONG_PG_HOST %q names no service of the stack", ke["KONG_PG_HOST"])
		}
	}
}

// prefixesCover reports whether one of the comma-separated prefixes contains all of
// subnet.
func prefixesCover(list string, subnet netip.Prefix) bool {
	for _, s := range strings.Split(list, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err == nil && p.Bits() <= subnet.Bits() && p.Contains(subnet.Addr()) {
			return true
		}
	}
	return false
}

var hostRE = regexp.MustCompile(`^(?:https?://)?([^:/]+)`)

func consulHost(addr string) string {
	m := hostRE.FindStringSubmatch(addr)
	if m == nil {
		return ""
	}
	return m[1]
}

// checkKongDeclarative reads Kong's declarative file strictly: the one Service must
// point at the sample's Consul name with a /api route that keeps its path.
func checkKongDeclarative(t *testing.T, path, wantHost string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		FormatVersion string `json:"_format_version"`
		Services      []struct {
			Name     string `json:"name"`
			Host     string `json:"host"`
			Port     int    `json:"port"`
			Protocol string `json:"protocol"`
			Routes   []struct {
				Name      string   `json:"name"`
				Paths     []string `json:"paths"`
				StripPath *bool    `json:"strip_path"`
			} `json:"routes"`
		} `json:"services"`
	}
	if err := yaml.UnmarshalStrict(raw, &cfg); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if !strings.HasPrefix(cfg.FormatVersion, "3.") {
		t.Errorf("%s: _format_version %q, want 3.x for Kong 3", path, cfg.FormatVersion)
	}
	if len(cfg.Services) != 1 {
		t.Fatalf("%s: %d services, want 1", path, len(cfg.Services))
	}
	s := cfg.Services[0]
	if s.Host != wantHost || s.Port == 0 {
		t.Errorf("%s: service host %q port %d, want %s and a fallback port", path, s.Host, s.Port, wantHost)
	}
	if len(s.Routes) != 1 || !slices.Equal(s.Routes[0].Paths, []string{"/api"}) || s.Routes[0].StripPath == nil || *s.Routes[0].StripPath {
		t.Errorf("%s: want one route /api with strip_path false, have %+v", path, s.Routes)
	}
}
