package deploy_test

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

var k8sDir = filepath.Join(repoRoot, "deploy", "kubernetes")

// k8sObjects holds every manifest, decoded strictly into the Kubernetes API types:
// a misspelt or misplaced field fails the decode instead of being ignored, which is
// what `kubectl apply` would do with it (silently, before server-side validation).
type k8sObjects struct {
	Namespaces  []*corev1.Namespace
	ConfigMaps  []*corev1.ConfigMap
	Deployments []*appsv1.Deployment
	Services    []*corev1.Service
	PDBs        []*policyv1.PodDisruptionBudget
	files       []string // base names of the decoded files
}

func loadK8s(t *testing.T, dir string) *k8sObjects {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs := &k8sObjects{}
	for _, path := range paths {
		if filepath.Base(path) == "kustomization.yaml" {
			continue // not an API object; checked on its own
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		objs.files = append(objs.files, filepath.Base(path))
		for i, doc := range splitYAML(raw) {
			var meta struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal(doc, &meta); err != nil {
				t.Fatalf("%s (document %d): %v", path, i+1, err)
			}
			var into any
			switch meta.APIVersion + " " + meta.Kind {
			case "v1 Namespace":
				o := &corev1.Namespace{}
				objs.Namespaces, into = append(objs.Namespaces, o), o
			case "v1 ConfigMap":
				o := &corev1.ConfigMap{}
				objs.ConfigMaps, into = append(objs.ConfigMaps, o), o
			case "apps/v1 Deployment":
				o := &appsv1.Deployment{}
				objs.Deployments, into = append(objs.Deployments, o), o
			case "v1 Service":
				o := &corev1.Service{}
				objs.Services, into = append(objs.Services, o), o
			case "policy/v1 PodDisruptionBudget":
				o := &policyv1.PodDisruptionBudget{}
				objs.PDBs, into = append(objs.PDBs, o), o
			default:
				t.Fatalf("%s (document %d): unexpected %s %s", path, i+1, meta.APIVersion, meta.Kind)
			}
			if err := yaml.UnmarshalStrict(doc, into); err != nil {
				t.Fatalf("%s (document %d): %v", path, i+1, err)
			}
		}
	}
	return objs
}

// splitYAML splits a multi-document YAML file at "---" lines, dropping empty ones.
func splitYAML(raw []byte) [][]byte {
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(raw), -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(d, "")) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

func one[T any](t *testing.T, kind string, list []T) T {
	t.Helper()
	if len(list) != 1 {
		t.Fatalf("want one %s, have %d", kind, len(list))
	}
	return list[0]
}

func TestKubernetesManifests(t *testing.T) {
	objs := loadK8s(t, k8sDir)
	ns := one(t, "Namespace", objs.Namespaces)
	cm := one(t, "ConfigMap", objs.ConfigMaps)
	dep := one(t, "Deployment", objs.Deployments)
	svc := one(t, "Service", objs.Services)
	pdb := one(t, "PodDisruptionBudget", objs.PDBs)

	if ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("namespace %s: enforce the restricted Pod Security Standard, which the Deployment is written to pass", ns.Name)
	}
	for _, m := range []struct{ kind, ns string }{
		{"ConfigMap", cm.Namespace}, {"Deployment", dep.Namespace}, {"Service", svc.Namespace}, {"PodDisruptionBudget", pdb.Namespace},
	} {
		if m.ns != ns.Name {
			t.Errorf("%s in namespace %q, want %q", m.kind, m.ns, ns.Name)
		}
	}

	// Deployment.
	spec := dep.Spec.Template.Spec
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas < 2 {
		t.Errorf("deployment: replicas %v, want at least 2", dep.Spec.Replicas)
	}
	podLabels := dep.Spec.Template.Labels
	if !selects(dep.Spec.Selector.MatchLabels, podLabels) {
		t.Errorf("deployment: selector %v does not select its pods %v", dep.Spec.Selector.MatchLabels, podLabels)
	}
	c := one(t, "container", spec.Containers)
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod securityContext: want runAsNonRoot and a non-zero runAsUser, have %+v", psc)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext: seccompProfile RuntimeDefault is required by the restricted standard")
	}
	csc := c.SecurityContext
	if csc == nil || csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem ||
		csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation ||
		csc.Capabilities == nil || !slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(csc.Capabilities.Add) > 0 {
		t.Errorf("container securityContext: want readOnlyRootFilesystem, no privilege escalation, drop ALL and add nothing; have %+v", csc)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("container resources: want cpu and memory requests and a memory limit, have %+v", c.Resources)
	}

	// Ports, probes and the ConfigMap's addresses agree.
	checkEnv(t, "ConfigMap "+cm.Name, cm.Data)
	checkConfigAccepted(t, "ConfigMap "+cm.Name, cm.Data)
	if !slices.ContainsFunc(c.EnvFrom, func(e corev1.EnvFromSource) bool {
		return e.ConfigMapRef != nil && e.ConfigMapRef.Name == cm.Name
	}) {
		t.Errorf("container does not take its environment from ConfigMap %s", cm.Name)
	}
	for _, e := range c.Env {
		checkEnv(t, "container env", map[string]string{e.Name: e.Value})
		if e.Name == "CONSUL_HTTP_TOKEN" && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			t.Errorf("CONSUL_HTTP_TOKEN must come from a Secret")
		}
	}
	for _, arg := range append(slices.Clone(c.Command), c.Args...) {
		checkFlag(t, "container command", arg)
	}
	addrPort := func(key string) int32 {
		_, p, err := net.SplitHostPort(cm.Data[key])
		n, err2 := strconv.Atoi(p)
		if err != nil || err2 != nil {
			t.Fatalf("ConfigMap %s = %q: want host:port", key, cm.Data[key])
		}
		return int32(n)
	}
	dnsPort, adminPort := addrPort("SRVBRIDGE_DNS_ADDR"), addrPort("SRVBRIDGE_HTTP_ADDR")
	ports := map[string]corev1.ContainerPort{}
	for _, p := range c.Ports {
		ports[p.Name] = p
	}
	for _, want := range []corev1.ContainerPort{
		{Name: "dns-udp", ContainerPort: dnsPort, Protocol: corev1.ProtocolUDP},
		{Name: "dns-tcp", ContainerPort: dnsPort, Protocol: corev1.ProtocolTCP},
		{Name: "admin", ContainerPort: adminPort, Protocol: corev1.ProtocolTCP},
	} {
		if ports[want.Name] != want {
			t.Errorf("container port %s: have %+v, want %+v (from the ConfigMap's addresses)", want.Name, ports[want.Name], want)
		}
	}
	if dnsPort < 1024 {
		if !slices.ContainsFunc(psc.Sysctls, func(s corev1.Sysctl) bool {
			n, err := strconv.Atoi(s.Value)
			return s.Name == "net.ipv4.ip_unprivileged_port_start" && err == nil && n <= int(dnsPort)
		}) {
			t.Errorf("DNS on port %d as uid %d needs the pod sysctl net.ipv4.ip_unprivileged_port_start <= %d", dnsPort, *psc.RunAsUser, dnsPort)
		}
	}
	probe := func(name string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path {
			t.Errorf("%s probe: want GET %s, have %+v", name, path, p)
			return
		}
		port := p.HTTPGet.Port
		if !(port.StrVal == "admin" || port.IntValue() == int(adminPort)) {
			t.Errorf("%s probe on port %s, not the admin port %d", name, port.String(), adminPort)
		}
		// Consul outages must not look like a dead process.
		if p.TimeoutSeconds < 1 {
			t.Errorf("%s probe: timeoutSeconds %d", name, p.TimeoutSeconds)
		}
	}
	probe("liveness", c.LivenessProbe, "/healthz")
	probe("readiness", c.ReadinessProbe, "/readyz")
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Exec != nil {
		t.Errorf("preStop: want a hook that needs no shell (sleep action); the image has none")
	}

	// Service: fixed ClusterIP, DNS over UDP and TCP to the right pods.
	if !selects(svc.Spec.Selector, podLabels) {
		t.Errorf("service selector %v does not select the pods %v", svc.Spec.Selector, podLabels)
	}
	clusterIP, err := netip.ParseAddr(svc.Spec.ClusterIP)
	if err != nil {
		t.Fatalf("service: clusterIP %q must be a fixed address: Kong and CoreDNS take IPs only", svc.Spec.ClusterIP)
	}
	var udp, tcp bool
	for _, p := range svc.Spec.Ports {
		target, ok := ports[p.TargetPort.StrVal]
		if !ok || target.Protocol != p.Protocol {
			t.Errorf("service port %s targets %s/%s, which no container port matches", p.Name, p.TargetPort.String(), p.Protocol)
		}
		if p.Port == 53 && p.Protocol == corev1.ProtocolUDP {
			udp = true
		}
		if p.Port == 53 && p.Protocol == corev1.ProtocolTCP {
			tcp = true
		}
	}
	if !udp || !tcp {
		t.Errorf("service: want port 53 over UDP and TCP (Kong retries truncated answers over TCP)")
	}

	// PDB.
	if pdb.Spec.Selector == nil || !selects(pdb.Spec.Selector.MatchLabels, podLabels) {
		t.Errorf("PDB selector does not select the pods")
	}
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() < 1 || pdb.Spec.MinAvailable.IntValue() >= int(*dep.Spec.Replicas) {
		t.Errorf("PDB minAvailable %v: want at least 1 and fewer than the replicas, or drains block", pdb.Spec.MinAvailable)
	}

	// Where the fixed ClusterIP is documented and used, it is this one.
	ipPort := net.JoinHostPort(clusterIP.String(), "53")
	for _, f := range []struct{ file, want string }{
		{"README.md", "KONG_DNS_RESOLVER=" + ipPort},
		{"coredns-stub.md", "forward . " + ipPort},
		{"coredns/coredns-custom.yaml", "forward . " + ipPort},
	} {
		raw, err := os.ReadFile(filepath.Join(k8sDir, f.file))
		if err != nil {
			t.Error(err)
			continue
		}
		if !bytes.Contains(raw, []byte(f.want)) {
			t.Errorf("%s does not say %q: the Service's clusterIP is %s", f.file, f.want, clusterIP)
		}
	}

	// kustomization.yaml lists exactly these files and names the Deployment's image.
	var kust struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Resources  []string `json:"resources"`
		Images     []struct {
			Name    string `json:"name"`
			NewName string `json:"newName"`
			NewTag  string `json:"newTag"`
		} `json:"images"`
	}
	raw, err := os.ReadFile(filepath.Join(k8sDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(raw, &kust); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if have, want := slices.Sorted(slices.Values(kust.Resources)), objs.files; !slices.Equal(have, want) {
		t.Errorf("kustomization.yaml resources %v, want the manifests %v", have, want)
	}
	if len(kust.Resources) == 0 || kust.Resources[0] != "namespace.yaml" {
		t.Errorf("kustomization.yaml: list namespace.yaml first")
	}
	if len(kust.Images) != 1 || kust.Images[0].Name != c.Image {
		t.Errorf("kustomization.yaml images %+v do not name the container image %q", kust.Images, c.Image)
	}
}

// The CoreDNS snippet is a valid ConfigMap whose server block forwards .consul.
func TestCoreDNSCustom(t *testing.T) {
	objs := loadK8s(t, filepath.Join(k8sDir, "coredns"))
	cm := one(t, "ConfigMap", objs.ConfigMaps)
	if cm.Namespace != "kube-system" || cm.Name != "coredns-custom" {
		t.Errorf("CoreDNS reads kube-system/coredns-custom, not %s/%s", cm.Namespace, cm.Name)
	}
	for key, block := range cm.Data {
		if !strings.HasSuffix(key, ".server") {
			t.Errorf("key %q: CoreDNS imports *.server files only", key)
		}
		if !regexp.MustCompile(`(?m)^consul:53 \{$`).MatchString(block) || strings.Count(block, "{") != strings.Count(block, "}") {
			t.Errorf("key %q: want one balanced `consul:53 { ... }` block:\n%s", key, block)
		}
	}
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}
