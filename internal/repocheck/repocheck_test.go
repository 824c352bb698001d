package main

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// check runs every check over an in-memory repository and returns the findings as
// "path:line: message" strings.
func check(t *testing.T, files fstest.MapFS) []string {
	t.Helper()
	var names []string
	for name := range files {
		names = append(names, name)
	}
	r, err := newRepo(files, names)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range r.check() {
		out = append(out, f.String())
	}
	return out
}

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

// expect fails unless the findings are exactly those containing each of want, in order.
func expect(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d findings, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("finding %d = %q, want it to contain %q", i, got[i], want[i])
		}
	}
}

func TestCleanRepoPasses(t *testing.T) {
	got := check(t, fstest.MapFS{
		"README.md": file("# Title\n\nSee [dns](docs/dns.md#names), `cmd/tool/main.go`, [top](#title) and docs/.\n\n" +
			"| a | b |\n|---|---:|\n| 1 | `x\\|y` |\n\n```\n| not | a | table |\n|---|\n```\n"),
		"docs/dns.md":       file("## Names\n\nBack to [the README](../README.md). Next to me: img/a.png. Not a doc: page.md.tmpl.\n"),
		"docs/img/a.png":    &fstest.MapFile{Data: []byte("\x89PNG\r\n\x1a\n\x00\x00")},
		"cmd/tool/main.go":  file("// Package main is described in docs/dns.md and in docs/*.md.\npackage main\n\nvar x = \"docs/missing.md\" // data, not a reference\n"),
		"x/testdata/blob":   &fstest.MapFile{Data: []byte("\x7fELF\x00\x00")},
		"x/testdata/g.md":   file("[gone](nowhere.md) docs/none.md\n\n| a |\n|---|\n| 1 | 2 |\n"),
		"scripts/run.sh":    file("#!/bin/sh\nexec cmd/tool/main.go bench/<date>.md $HOME/docs/x https://example.com/docs/none\n"),
		".gitignore":        file("# build outputs\n/cmd/tool/tool\n"),
		"deploy/k8s/doc.md": file("Restart with `kubectl rollout restart deploy/srvbridge`.\n"),
	})
	expect(t, got)
}

func TestBinaryAndSize(t *testing.T) {
	got := check(t, fstest.MapFS{
		"cmd/tool/tool":    &fstest.MapFile{Data: []byte("\x7fELF\x02\x01\x01")},
		"data.bin":         &fstest.MapFile{Data: []byte("abc\x00def")},
		"big.txt":          &fstest.MapFile{Data: []byte(strings.Repeat("a", maxFileSize+1))},
		"docs/img/big.png": &fstest.MapFile{Data: append([]byte("\x89PNG\x00"), make([]byte, maxImageSize)...)},
		"img/a.png":        &fstest.MapFile{Data: []byte("\x89PNG\r\n\x1a\n\x00")}, // images only in docs/img
		"ok/testdata/big":  &fstest.MapFile{Data: make([]byte, maxFileSize+1)},
	})
	expect(t, got, "big.txt: 1048577 bytes", "cmd/tool/tool: ELF executable", "data.bin: binary file", "docs/img/big.png: image is", "img/a.png: binary file")
}

func TestTableCells(t *testing.T) {
	got := check(t, fstest.MapFS{
		"README.md": file("| a | b | c |\n|---|---|---|\n| 1 | 2 | 3 |\n| 1 | 2 |\n| 1 | 2 | 3 | 4 |\n\ntext\n\n| x | y |\n|---|\n| `p|q` | r |\n"),
	})
	expect(t, got, "README.md:4: table row has 2 cells, its header (line 1) has 3",
		"README.md:5: table row has 4 cells", "README.md:10: delimiter row has 1 cells", "README.md:11: table row has 3 cells")
}

func TestReferences(t *testing.T) {
	got := check(t, fstest.MapFS{
		"README.md":        file("[a](docs/none.md) [b](docs/dns.md#nowhere) [c](#missing) ![d](/abs.png) docs/gone.go see docs/\n"),
		"docs/dns.md":      file("# DNS\n\nRead NOTES.md and cmd/*.md.\n"),
		"cmd/tool/main.go": file("// See docs/DESIGN.md.\npackage main\n"),
		"deploy/x.yaml":    file("# checked by deploy/deploy_test.go\nkey: value\n"),
		".dockerignore":    file("# from deploy/gone/\ncmd/tool/tool\n"),
	})
	expect(t, got,
		".dockerignore:1: deploy/gone does not exist",
		"README.md:1: link docs/none.md: docs/none.md does not exist",
		"README.md:1: link docs/dns.md#nowhere: docs/dns.md has no heading or anchor #nowhere",
		"README.md:1: link #missing: README.md has no heading or anchor #missing",
		"README.md:1: link /abs.png: absolute path",
		"README.md:1: docs/gone.go does not exist",
		"cmd/tool/main.go:1: docs/DESIGN.md does not exist",
		"deploy/x.yaml:1: deploy/deploy_test.go does not exist",
		"docs/dns.md:3: NOTES.md: no file of that name",
		"docs/dns.md:3: cmd/*.md matches no file",
	)
}

func TestPendingReference(t *testing.T) {
	defer func(p map[string]string) { pending = p }(pending)
	pending = map[string]string{"README.md: docs/later.md": "written on another branch"}
	expect(t, check(t, fstest.MapFS{"README.md": file("[x](docs/later.md) [y](docs/never.md)\n")}),
		"docs/never.md does not exist")
}

func TestAnchors(t *testing.T) {
	a := markdownAnchors("# srvbridge\n## Admin HTTP (`--http-addr`, default 127.0.0.1:9153)\n## Notes\n## Notes\n<a id=\"udp\"></a>**UDP**\n```\n# not a heading\n```\n")
	var got []string
	for k := range a {
		got = append(got, k)
	}
	slices.Sort(got)
	want := []string{"admin-http---http-addr-default-1270019153", "notes", "notes-1", "srvbridge", "udp"}
	if !slices.Equal(got, want) {
		t.Errorf("anchors = %q, want %q", got, want)
	}
}
