package main

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite the report golden files in testdata/report")

// TestReportGolden renders recorded inputs (testdata/report/*: run.sh's runs.tsv,
// meta.env, dnsperf outputs and the optional files) and compares the terminal table,
// the Markdown results and the SVG byte for byte with what the report produced when
// the goldens were recorded. "full" is modelled on the recorded run of fa82733 (three
// rounds, repeated runs, propagation, probe, idle); "sparse" takes the other branches
// (not pinned, no optional inputs, lost queries, a missed fixed rate).
func TestReportGolden(t *testing.T) {
	for _, name := range []string{"full", "sparse"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", "report", name)
			in := func(f string) string {
				p := filepath.Join(dir, f)
				if _, err := os.Stat(p); err != nil {
					return ""
				}
				return p
			}
			rep, err := loadReport(in("runs.tsv"), in("meta.env"), in("prop.json"), in("probe.txt"), in("setup.txt"), in("gobench.txt"))
			if err != nil {
				t.Fatal(err)
			}
			if rep.idle, err = readOptional(in("idle.tsv")); err != nil {
				t.Fatal(err)
			}
			for file, got := range map[string]string{
				"golden.txt": rep.text(),
				"golden.md":  rep.markdown("results.svg"),
				"golden.svg": rep.svg(),
			} {
				path := filepath.Join(dir, file)
				if *updateGolden {
					if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if got != string(want) {
					t.Errorf("%s differs from %s (go test -run TestReportGolden -update rewrites it):\n%s", file, path, got)
				}
			}
		})
	}
}
