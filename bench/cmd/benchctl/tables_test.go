package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// repoRoot is the repository root as seen from this package's directory.
const repoRoot = "../../.."

// TestGeneratedTablesCurrent fails when a committed generated table differs from what
// `benchctl tables` makes of bench/results: a figure retyped or edited by hand, or a
// results file changed without `make tables`.
func TestGeneratedTablesCurrent(t *testing.T) {
	for _, doc := range tableDocs {
		b, err := os.ReadFile(filepath.Join(repoRoot, doc))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), genBegin) {
			t.Errorf("%s has no generated table", doc)
		}
		got, err := regenerate(repoRoot, doc, string(b))
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		if got != string(b) {
			t.Errorf("%s: generated tables are stale; run make tables", doc)
		}
	}
}

func TestRegenerate(t *testing.T) {
	root := t.TempDir()
	results := "# run\n\n## Results\n\n| server | q/s |\n|---|---:|\n| srvbridge | 100 |\n\n- ratio: 1.0\n- other: 2\n\nprose\n\n" +
		"## Propagation: flips\n\ntext\n\n| server | p50 |\n|---|---:|\n| srvbridge | 4.4 ms |\n\n## Every run\n"
	if err := os.MkdirAll(filepath.Join(root, "bench", "results"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bench", "results", "r.md"), []byte(results), 0o644); err != nil {
		t.Fatal(err)
	}
	doc := "intro\n" + genBegin + "results bench/results/r.md -->\n| stale | 1 |\n" + genEnd + "\nmiddle\n" +
		genBegin + "propagation bench/results/r.md -->\n" + genEnd + "\nend\n"
	got, err := regenerate(root, "bench/README.md", doc)
	if err != nil {
		t.Fatal(err)
	}
	want := "intro\n" + genBegin + "results bench/results/r.md -->\n| server | q/s |\n|---|---:|\n| srvbridge | 100 |\n\n- ratio: 1.0\n- other: 2\n" + genEnd +
		"\nmiddle\n" + genBegin + "propagation bench/results/r.md -->\n| server | p50 |\n|---|---:|\n| srvbridge | 4.4 ms |\n" + genEnd + "\nend\n"
	if got != want {
		t.Errorf("regenerate:\n%s\nwant:\n%s", got, want)
	}
	for _, bad := range []string{
		genBegin + "nosuchkind bench/results/r.md -->\n" + genEnd,
		genBegin + "results -->\n" + genEnd,
		genBegin + "results bench/results/missing.md -->\n" + genEnd,
		genBegin + "results bench/results/r.md -->\nno end marker\n",
	} {
		if _, err := regenerate(root, "bench/README.md", bad); err == nil {
			t.Errorf("no error for %q", bad)
		}
	}
}

// TestParseScale checks the figures taken from a recorded scale run against the file.
func TestParseScale(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "bench/results/2026-11-25-14a3cde-scale.md"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := parseScale(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if r.commit != "14a3cde" || r.firstAnswer != 14.259 || r.wholeCatalog != 16.2 || r.rssOutage != "1023" ||
		r.restFailed != "90" || r.churnReached != "947" || r.churnFailed != "1228" || r.openFilesAfterOutage != "19755" {
		t.Errorf("parsed %+v", r)
	}
	if got := col(r.restartHead, r.restart["after"], "NXDOMAIN"); got != "23603" {
		t.Errorf("NXDOMAIN after the restart = %q, want 23603", got)
	}
	if got := readyzFailed(col(r.stopHead, r.stop["after"], "`/readyz` said")); got != "20" {
		t.Errorf("/readyz readings failed after SIGCONT = %q, want 20", got)
	}
	if _, err := parseScale("# not a results file\n"); err == nil {
		t.Error("parsed a file without results")
	}
	if got := toMS("1.16 s"); got != "1160" {
		t.Errorf("toMS(1.16 s) = %s", got)
	}
	if got := thousands("120003"); got != "120 003" {
		t.Errorf("thousands(120003) = %s", got)
	}
}
