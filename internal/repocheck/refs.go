package main

import (
	"fmt"
	"go/scanner"
	"go/token"
	"net/url"
	"path"
	"regexp"
	"strings"
	"unicode"
)

// pending lists references known not to resolve yet, each with why. Every entry is
// temporary: it names a file another branch is changing at the same time, and goes
// when that branch is merged. Keys are "file: reference".
var pending = map[string]string{}

// scanned says how a file's references are found: "md" (markdown links and named
// paths), "go" (paths in comments), "all" (paths anywhere: scripts, YAML, Makefile)
// or "comments" (paths in # comment lines: the ignore files, whose patterns may
// name files that do not exist on purpose).
func scanned(name string) string {
	base := path.Base(name)
	switch {
	case strings.HasSuffix(name, ".md"):
		return "md"
	case strings.HasSuffix(name, ".go"):
		return "go"
	case base == ".gitignore" || base == ".dockerignore":
		return "comments"
	case base == "Makefile" || base == "Dockerfile" || strings.HasPrefix(name, ".ci/"),
		strings.HasSuffix(name, ".sh"), strings.HasSuffix(name, ".yaml"), strings.HasSuffix(name, ".yml"):
		return "all"
	}
	return ""
}

// checkRefs finds references between repo files that do not resolve: relative
// markdown links (and their #anchors into markdown files), and repo paths such as
// docs/dns.md or deploy/consul/build.sh named in docs, comments and scripts. A
// path counts as a repo path when its first component is a top-level directory of
// the repository; it resolves when it names a file or directory there, or, with a
// *, matches one.
func (r *repo) checkRefs() []finding {
	var out []finding
	anchors := map[string]map[string]bool{}
	for _, name := range r.files {
		kind := scanned(name)
		if kind == "" || hasComponent(name, "testdata") {
			continue // fixtures (golden files) are data, their links point nowhere on purpose
		}
		b, err := r.read(name)
		if err != nil {
			out = append(out, finding{name, 0, err.Error()})
			continue
		}
		report := func(n int, ref, msg string) {
			if _, ok := pending[name+": "+ref]; !ok {
				out = append(out, finding{name, n, msg})
			}
		}
		text := string(b)
		switch kind {
		case "md":
			markdownLines(text, func(n int, line string) {
				for _, l := range markdownLinks(line) {
					if msg := r.resolveLink(name, l, anchors); msg != "" {
						report(n, l, msg)
					}
				}
				// Link targets were checked above, relative to the file.
				line = linkRE.ReplaceAllString(line, "]()")
				r.pathsIn(name, line, func(p, msg string) { report(n, p, msg) })
			})
		case "go":
			for _, c := range goComments(name, b) {
				for i, line := range strings.Split(c.text, "\n") {
					r.pathsIn(name, line, func(p, msg string) { report(c.line+i, p, msg) })
				}
			}
		case "all", "comments":
			for i, line := range strings.Split(text, "\n") {
				if kind == "comments" && !strings.HasPrefix(strings.TrimSpace(line), "#") {
					continue
				}
				r.pathsIn(name, line, func(p, msg string) { report(i+1, p, msg) })
			}
		}
	}
	return out
}

var linkRE = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// markdownLinks returns the targets of the inline links and images on a line.
func markdownLinks(line string) []string {
	var out []string
	for _, m := range linkRE.FindAllStringSubmatch(line, -1) {
		out = append(out, m[1])
	}
	return out
}

// resolveLink checks one link target of file from; "" when it resolves. External
// links (with a scheme) are not followed.
func (r *repo) resolveLink(from, target string, anchors map[string]map[string]bool) string {
	if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
		return ""
	}
	p, frag, _ := strings.Cut(target, "#")
	if u, err := url.PathUnescape(p); err == nil {
		p = u
	}
	dest := from
	if p != "" {
		if strings.HasPrefix(p, "/") {
			return fmt.Sprintf("link %s: absolute path; use one relative to %s", target, path.Dir(from))
		}
		dest = path.Join(path.Dir(from), p)
		if !r.isFil[dest] && !r.isDir[dest] {
			return fmt.Sprintf("link %s: %s does not exist", target, dest)
		}
	}
	if frag == "" || !strings.HasSuffix(dest, ".md") || !r.isFil[dest] {
		return ""
	}
	if anchors[dest] == nil {
		b, err := r.read(dest)
		if err != nil {
			return err.Error()
		}
		anchors[dest] = markdownAnchors(string(b))
	}
	if !anchors[dest][frag] {
		return fmt.Sprintf("link %s: %s has no heading or anchor #%s", target, dest, frag)
	}
	return ""
}

var anchorRE = regexp.MustCompile(`<a\s+(?:id|name)="([^"]+)"`)

// markdownAnchors returns the fragments GitHub gives a markdown file's headings
// (lower case, punctuation dropped, spaces to hyphens, -1, -2 for repeats), plus
// explicit <a id="..."> anchors.
func markdownAnchors(text string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	markdownLines(text, func(_ int, line string) {
		for _, m := range anchorRE.FindAllStringSubmatch(line, -1) {
			out[m[1]] = true
		}
		t := strings.TrimLeft(line, "#")
		if len(t) == len(line) || len(line)-len(t) > 6 || !strings.HasPrefix(t, " ") {
			return
		}
		var b strings.Builder
		for _, c := range strings.ToLower(strings.TrimSpace(t)) {
			switch {
			case unicode.IsLetter(c) || unicode.IsDigit(c) || c == '-' || c == '_':
				b.WriteRune(c)
			case c == ' ':
				b.WriteByte('-')
			}
		}
		slug := b.String()
		if n := seen[slug]; n > 0 {
			out[fmt.Sprintf("%s-%d", slug, n)] = true
		} else {
			out[slug] = true
		}
		seen[slug]++
	})
	return out
}

var pathRE = regexp.MustCompile(`[A-Za-z0-9_.*\-]+(?:/[A-Za-z0-9_.*\-]*)+`)

// kubectlRE matches code spans holding a kubectl command, whose deploy/<name>
// arguments are Kubernetes Deployments, not the deploy/ directory.
var kubectlRE = regexp.MustCompile("`kubectl [^`]*`")

// mdNameRE matches a bare markdown file name such as README.md.
// A further extension (report.md.tmpl) makes it another file's name.
var mdNameRE = regexp.MustCompile("(?:^|[\\s(`\"'\\[])([A-Za-z0-9_][A-Za-z0-9_-]*\\.md)(\\.[A-Za-z0-9]+)?\\b")

// pathsIn calls bad for each repo path named on a line of file from that does not
// resolve. A path counts when its first component is a top-level directory of the
// repository (docs/dns.md, ./cmd/srvbridge) or, in markdown, of the file's own
// directory; a bare markdown file name must exist somewhere.
func (r *repo) pathsIn(from, line string, bad func(ref, msg string)) {
	line = kubectlRE.ReplaceAllStringFunc(line, func(s string) string { return strings.Repeat(" ", len(s)) })
	for _, m := range mdNameRE.FindAllStringSubmatch(line, -1) {
		if m[2] == "" && !r.mdNames[m[1]] {
			bad(m[1], fmt.Sprintf("%s: no file of that name in the repository", m[1]))
		}
	}
	local := ""
	if strings.HasSuffix(from, ".md") && path.Dir(from) != "." {
		local = path.Dir(from) + "/"
	}
	for _, loc := range pathRE.FindAllStringIndex(line, -1) {
		if loc[0] > 0 && strings.ContainsRune(`/.:$@~{`, rune(line[loc[0]-1])) && !strings.HasPrefix(line[loc[0]-1:], "./") {
			continue // part of a URL, an absolute path, a variable or a module path
		}
		if loc[0] > 0 && (unicode.IsLetter(rune(line[loc[0]-1])) || unicode.IsDigit(rune(line[loc[0]-1]))) {
			continue
		}
		if loc[1] < len(line) && strings.ContainsRune(`<$%{`, rune(line[loc[1]])) {
			continue // a pattern such as bench/results/<date>.md, not a path
		}
		p := strings.TrimPrefix(line[loc[0]:loc[1]], "./")
		p = strings.TrimRight(p, ".,:;")
		first, _, _ := strings.Cut(p, "/")
		if strings.Contains(p, "...") || strings.Contains(p, "**") {
			continue
		}
		switch {
		case local != "" && (r.isDir[local+first] || r.isFil[local+first]) && r.resolvePath(local+p) == "":
		case !r.top[first]:
		default:
			if msg := r.resolvePath(p); msg != "" {
				bad(p, msg)
			}
		}
	}
}

func (r *repo) resolvePath(p string) string {
	dir := strings.HasSuffix(p, "/")
	p = strings.TrimSuffix(p, "/")
	if strings.Contains(p, "*") {
		for _, f := range r.files {
			for c := f; c != "."; c = path.Dir(c) {
				if ok, _ := path.Match(p, c); ok {
					return ""
				}
			}
		}
		return fmt.Sprintf("%s matches no file", p)
	}
	if r.isDir[p] || (!dir && r.isFil[p]) {
		return ""
	}
	if dir && r.isFil[p] {
		return fmt.Sprintf("%s/ is a file, not a directory", p)
	}
	return fmt.Sprintf("%s does not exist", p)
}

type comment struct {
	line int
	text string
}

// goComments returns a Go file's comments with their first lines. Paths in string
// literals are data (test fixtures, flag examples), not references.
func goComments(name string, src []byte) []comment {
	var out []comment
	fset := token.NewFileSet()
	var s scanner.Scanner
	s.Init(fset.AddFile(name, -1, len(src)), src, nil, scanner.ScanComments)
	for {
		pos, tok, lit := s.Scan()
		if tok == token.EOF {
			return out
		}
		if tok == token.COMMENT {
			out = append(out, comment{fset.Position(pos).Line, lit})
		}
	}
}
