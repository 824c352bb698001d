package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// finding is one problem, located in a repo file.
type finding struct {
	path string
	line int // 0: the file as a whole
	msg  string
}

func (f finding) String() string {
	if f.line == 0 {
		return f.path + ": " + f.msg
	}
	return fmt.Sprintf("%s:%d: %s", f.path, f.line, f.msg)
}

// repo is the set of files under check, read through fsys (the repository root).
type repo struct {
	fsys  fs.FS
	files []string        // sorted, slash-separated, relative to the root
	isDir map[string]bool // every directory holding a file, and its parents
	isFil map[string]bool
	top   map[string]bool // first path components of files in directories
	// mdNames holds the base names of the markdown files.
	mdNames map[string]bool
}

// newRepo takes the files git lists; files listed but missing from the work tree
// (deleted, not yet committed) are left out.
func newRepo(fsys fs.FS, files []string) (*repo, error) {
	r := &repo{fsys: fsys, isDir: map[string]bool{}, isFil: map[string]bool{}, top: map[string]bool{}, mdNames: map[string]bool{}}
	for _, f := range files {
		if _, err := fs.Stat(fsys, f); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
		r.files = append(r.files, f)
		r.isFil[f] = true
		if strings.HasSuffix(f, ".md") {
			r.mdNames[path.Base(f)] = true
		}
		if first, _, ok := strings.Cut(f, "/"); ok {
			r.top[first] = true
		}
		for d := path.Dir(f); d != "."; d = path.Dir(d) {
			r.isDir[d] = true
		}
	}
	slices.Sort(r.files)
	return r, nil
}

func (r *repo) check() []finding {
	var out []finding
	out = append(out, r.checkFiles()...)
	out = append(out, r.checkTables()...)
	out = append(out, r.checkRefs()...)
	return out
}

func (r *repo) read(name string) ([]byte, error) { return fs.ReadFile(r.fsys, name) }

// hasComponent reports whether one of the directories name is in is called elem.
func hasComponent(name, elem string) bool {
	return slices.Contains(strings.Split(path.Dir(name), "/"), elem)
}
