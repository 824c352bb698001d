package deploy_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// dockerfile is a Dockerfile read just far enough to check it: instructions per
// stage, continuation lines joined, comments dropped, global ARGs substituted into
// FROM.
type dockerfile struct {
	path   string
	stages []*stage
}

type stage struct {
	from, name string
	instrs     []instr
}

type instr struct {
	cmd  string // upper case
	args string
	line int
}

func parseDockerfile(t *testing.T, path string) *dockerfile {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	df := &dockerfile{path: path}
	globalArgs := map[string]string{}
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue // comments go, even inside a continuation, as Docker does
		}
		if cur.Len() == 0 {
			start = n
		}
		if body, cont := strings.CutSuffix(line, `\`); cont {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(line)
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			continue
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := instr{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start}
		switch {
		case in.cmd == "ARG" && len(df.stages) == 0:
			k, v, _ := strings.Cut(in.args, "=")
			globalArgs[k] = v
		case in.cmd == "FROM":
			f := strings.Fields(os.Expand(in.args, func(k string) string { return globalArgs[k] }))
			s := &stage{}
			for i := 0; i < len(f); i++ {
				switch {
				case strings.HasPrefix(f[i], "--"):
				case strings.EqualFold(f[i], "AS") && i+1 < len(f):
					s.name = f[i+1]
					i++
				default:
					s.from = f[i]
				}
			}
			df.stages = append(df.stages, s)
		case len(df.stages) == 0:
			t.Fatalf("%s:%d: %s before the first FROM", path, start, in.cmd)
		default:
			s := df.stages[len(df.stages)-1]
			s.instrs = append(s.instrs, in)
		}
	}
	if len(df.stages) == 0 {
		t.Fatalf("%s: no FROM", path)
	}
	return df
}

func (d *dockerfile) final() *stage { return d.stages[len(d.stages)-1] }

// last returns the stage's last instruction cmd; Docker uses the last one of
// ENTRYPOINT, CMD, HEALTHCHECK and USER.
func (s *stage) last(cmd string) (instr, bool) {
	for i := len(s.instrs) - 1; i >= 0; i-- {
		if s.instrs[i].cmd == cmd {
			return s.instrs[i], true
		}
	}
	return instr{}, false
}

func (s *stage) all(cmd string) []instr {
	var out []instr
	for _, in := range s.instrs {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// goBuildLine is the RUN instruction that runs go build.
func (d *dockerfile) goBuildLine(t *testing.T) string {
	t.Helper()
	for _, s := range d.stages {
		for _, in := range s.all("RUN") {
			if strings.Contains(in.args, "go build") {
				return in.args
			}
		}
	}
	t.Fatalf("%s: no RUN ... go build", d.path)
	return ""
}

// execForm decodes a JSON-array instruction argument. The shell form would need a
// shell, which distroless does not have.
func execForm(t *testing.T, where, args string) []string {
	t.Helper()
	var argv []string
	if err := json.Unmarshal([]byte(args), &argv); err != nil || len(argv) == 0 {
		t.Fatalf("%s: %q is not the exec form [\"...\"] (distroless has no shell): %v", where, args, err)
	}
	return argv
}

// words splits an instruction's arguments at spaces outside double quotes, removing
// the quotes (enough for ENV, LABEL and EXPOSE).
func words(s string) []string {
	var out []string
	var cur strings.Builder
	inQuote, any := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote, any = !inQuote, true
		case (r == ' ' || r == '\t') && !inQuote:
			if any {
				out = append(out, cur.String())
				cur.Reset()
				any = false
			}
		default:
			cur.WriteRune(r)
			any = true
		}
	}
	if any {
		out = append(out, cur.String())
	}
	return out
}

// keyValues collects the key=value words of every ENV or LABEL in a stage.
func (s *stage) keyValues(cmd string) map[string]string {
	out := map[string]string{}
	for _, in := range s.all(cmd) {
		for _, w := range words(in.args) {
			if k, v, ok := strings.Cut(w, "="); ok {
				out[k] = v
			}
		}
	}
	return out
}

// healthcheck returns the HEALTHCHECK options and its CMD.
func (s *stage) healthcheck(t *testing.T, where string) (map[string]string, []string) {
	t.Helper()
	in, ok := s.last("HEALTHCHECK")
	if !ok {
		t.Fatalf("%s: final stage has no HEALTHCHECK", where)
	}
	opts, cmd, ok := strings.Cut(in.args, "CMD ")
	if !ok {
		t.Fatalf("%s:%d: HEALTHCHECK without CMD: %q", where, in.line, in.args)
	}
	o := map[string]string{}
	for _, w := range strings.Fields(opts) {
		k, v, _ := strings.Cut(strings.TrimPrefix(w, "--"), "=")
		o[k] = v
	}
	return o, execForm(t, where+":HEALTHCHECK", cmd)
}

// checkFinalStage checks what every image of ours must be: distroless, non-root by
// number (Kubernetes' runAsNonRoot cannot check a user name), exec-form entrypoint
// that is the binary copied from a build stage, and a HEALTHCHECK that runs it.
func checkFinalStage(t *testing.T, df *dockerfile) (entrypoint, health []string, healthOpts map[string]string) {
	t.Helper()
	final := df.final()
	if !strings.HasPrefix(final.from, "gcr.io/distroless/static") || !strings.HasSuffix(final.from, ":nonroot") {
		t.Errorf("%s: final stage FROM %s, want gcr.io/distroless/static...:nonroot", df.path, final.from)
	}
	user, ok := final.last("USER")
	if !ok {
		t.Fatalf("%s: final stage sets no USER", df.path)
	}
	uid, _, _ := strings.Cut(user.args, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("%s:%d: USER %s, want a numeric non-zero uid", df.path, user.line, user.args)
	}

	ep, ok := final.last("ENTRYPOINT")
	if !ok {
		t.Fatalf("%s: no ENTRYPOINT", df.path)
	}
	entrypoint = execForm(t, df.path+":ENTRYPOINT", ep.args)
	copied := false
	for _, c := range final.all("COPY") {
		if f := strings.Fields(c.args); strings.HasPrefix(f[0], "--from=") && f[len(f)-1] == entrypoint[0] {
			copied = true
		}
	}
	if !copied {
		t.Errorf("%s: ENTRYPOINT %s is not a file COPY --from a build stage puts there", df.path, entrypoint[0])
	}

	healthOpts, health = final.healthcheck(t, df.path)
	if health[0] != entrypoint[0] {
		t.Errorf("%s: HEALTHCHECK runs %s, not the image's binary %s", df.path, health[0], entrypoint[0])
	}
	if final.keyValues("LABEL")["org.opencontainers.image.source"] == "" {
		t.Errorf("%s: no org.opencontainers.image.source label", df.path)
	}

	build := df.goBuildLine(t)
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath"} {
		if !strings.Contains(build, want) {
			t.Errorf("%s: go build without %s: a static, reproducible binary is what distroless/static needs", df.path, want)
		}
	}
	checkGoVersion(t, df)
	return entrypoint, health, healthOpts
}

// checkGoVersion: the builder's Go must be able to build go.mod's go line without
// fetching a toolchain at build time.
func checkGoVersion(t *testing.T, df *dockerfile) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+(?:\.\d+)?)\s*$`).FindSubmatch(raw)
	if m == nil {
		t.Fatal("go.mod: no go line")
	}
	goVersion := string(m[1])
	want := strings.Split(goVersion, ".")
	for _, s := range df.stages {
		img, tag, _ := strings.Cut(s.from, ":")
		if img != "golang" {
			continue
		}
		tag, _, _ = strings.Cut(tag, "-") // 1.26-bookworm
		have := strings.Split(tag, ".")
		if len(have) < 2 || have[0] != want[0] || have[1] != want[1] {
			t.Errorf("%s: builder %s, but go.mod says go %s: use golang:%s.%s", df.path, s.from, goVersion, want[0], want[1])
		} else if len(have) == 3 && len(want) == 3 {
			h, _ := strconv.Atoi(have[2])
			w, _ := strconv.Atoi(want[2])
			if h < w {
				t.Errorf("%s: builder %s is older than go.mod's go %s", df.path, s.from, goVersion)
			}
		}
		return
	}
	t.Errorf("%s: no golang:<version> build stage", df.path)
}

func TestDockerfile(t *testing.T) {
	df := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	entrypoint, health, healthOpts := checkFinalStage(t, df)
	final := df.final()

	if !strings.Contains(df.goBuildLine(t), "./cmd/srvbridge") {
		t.Errorf("Dockerfile: go build does not build ./cmd/srvbridge")
	}
	for _, arg := range entrypoint[1:] {
		checkFlag(t, "Dockerfile ENTRYPOINT", arg)
	}
	if cmd, ok := final.last("CMD"); ok {
		for _, arg := range execForm(t, "Dockerfile CMD", cmd.args) {
			checkFlag(t, "Dockerfile CMD", arg)
		}
	}

	// The admin and DNS addresses come from ENV, so that the healthcheck (which
	// Docker runs with the container's environment) finds the server.
	env := final.keyValues("ENV")
	checkEnv(t, "Dockerfile ENV", env)
	checkConfigAccepted(t, "Dockerfile ENV", env)
	exposed := map[string]bool{}
	for _, in := range final.all("EXPOSE") {
		for _, p := range words(in.args) {
			exposed[p] = true
		}
	}
	port := func(name string) string {
		addr, ok := env[name]
		if !ok {
			t.Fatalf("Dockerfile: final stage does not set %s", name)
		}
		_, p, _ := strings.Cut(addr, ":")
		return p
	}
	dnsPort, adminPort := port("SRVBRIDGE_DNS_ADDR"), port("SRVBRIDGE_HTTP_ADDR")
	for _, want := range []string{dnsPort + "/udp", dnsPort + "/tcp", adminPort + "/tcp"} {
		if !exposed[want] {
			t.Errorf("Dockerfile: EXPOSE lacks %s (have %v)", want, sortedKeys(exposed))
		}
	}
	if dnsPort != "53" {
		t.Errorf("Dockerfile: DNS on port %s; clients that cannot name a port expect 53", dnsPort)
	}

	// Docker kills a check that overruns its --timeout and records only "timed out":
	// leave the subcommand's own 2s deadline room to report why.
	if d, err := time.ParseDuration(healthOpts["timeout"]); err != nil || d <= 2*time.Second {
		t.Errorf("Dockerfile: HEALTHCHECK --timeout=%s, want more than the subcommand's 2s", healthOpts["timeout"])
	}

	// Run the HEALTHCHECK command for real against a srvbridge that cannot reach
	// Consul, with the image's kind of admin address (wildcard host, port only): it
	// must reach the server and report it unready, and --live must report it alive.
	s := runningSrvbridge(t)
	_, adminPortLive, _ := strings.Cut(s.AdminAddr, ":")
	run := func(args ...string) (int, string) {
		cmd := exec.Command(srvbridge(t).Path, args...)
		cmd.Env = append(cleanEnv(), "SRVBRIDGE_HTTP_ADDR=:"+adminPortLive)
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	if code, out := run(health[1:]...); code != 1 || !strings.Contains(out, "503") || !strings.Contains(out, "not ready") {
		t.Errorf("HEALTHCHECK %v against an unready server: exit %d, %q; want exit 1 naming 503 and the reason", health, code, out)
	}
	if code, out := run(append(health[1:], "--live")...); code != 0 {
		t.Errorf("HEALTHCHECK %v --live against a live server: exit %d, %q", health, code, out)
	}
}

func TestSampleServiceDockerfile(t *testing.T) {
	df := parseDockerfile(t, filepath.Join(repoRoot, "deploy", "sample-service", "Dockerfile"))
	_, health, _ := checkFinalStage(t, df)
	m := regexp.MustCompile(`go build .* (\./\S+)$`).FindStringSubmatch(df.goBuildLine(t))
	if m == nil {
		t.Fatalf("sample-service Dockerfile: cannot find the package go build builds")
	}
	src, err := os.ReadFile(filepath.Join(repoRoot, m[1], "main.go"))
	if err != nil {
		t.Fatalf("sample-service Dockerfile builds %s: %v", m[1], err)
	}
	if len(health) != 2 || !bytes.Contains(src, []byte(strconv.Quote(health[1]))) {
		t.Errorf("sample-service HEALTHCHECK %v: %s does not handle %q", health, m[1], health[1:])
	}
}

// Every file the two images compile must reach the Docker daemon through
// .dockerignore, judged by the same pattern matcher BuildKit uses; and what must not
// be sent (the .git directory, the deploy files themselves) is not.
func TestDockerignore(t *testing.T) {
	f, err := os.Open(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	excluded := func(rel string) bool {
		m, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-deps",
		"-f", `{{if not .Standard}}{{.Module.Path}}|{{.Dir}}|{{join .GoFiles "|"}}|{{join .EmbedFiles "|"}}{{end}}`,
		"./cmd/srvbridge", "./deploy/sample-service")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	needed := []string{"go.mod", "go.sum"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if len(f) < 3 || f[0] != "github.com/srvbridge/srvbridge" {
			continue // other modules come from the module proxy, not the context
		}
		rel, err := filepath.Rel(root, f[1])
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range f[2:] {
			if name != "" {
				needed = append(needed, filepath.Join(rel, name))
			}
		}
	}
	if len(needed) < 10 {
		t.Fatalf("only %d files found to check: %v", len(needed), needed)
	}
	for _, rel := range needed {
		if excluded(rel) {
			t.Errorf(".dockerignore excludes %s, which the images compile", rel)
		}
	}
	for _, rel := range []string{".git/HEAD", "bench/x", "deploy/compose/compose.yaml", "bin/srvbridge", "cmd/srvbridge/main_test.go", "e2e/go.mod"} {
		if !excluded(rel) {
			t.Errorf(".dockerignore sends %s to the daemon", rel)
		}
	}
}
