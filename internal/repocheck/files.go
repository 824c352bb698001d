package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

const (
	// maxFileSize bounds any tracked file: large data belongs outside the repository
	// (the Consul binary is built into a cache, bench raw output stays in a work dir).
	maxFileSize = 1 << 20
	// maxImageSize bounds the documentation images under docs/img. They are binary
	// on purpose (the status page screenshot); a screenshot that needs more is too big.
	maxImageSize = 256 << 10
)

// imageDir holds the documentation images, the one place besides testdata where
// binary files are allowed.
const imageDir = "docs/img/"

var imageExts = map[string]bool{".png": true, ".jpg": true, ".jpeg": true, ".gif": true, ".webp": true, ".svg": true}

// checkFiles finds binaries and oversized files. Files in a testdata directory are
// fixtures (fuzz corpora, recorded inputs) and are exempt; images in docs/img may be
// binary up to maxImageSize.
func (r *repo) checkFiles() []finding {
	var out []finding
	for _, name := range r.files {
		if hasComponent(name, "testdata") {
			continue
		}
		info, err := fs.Stat(r.fsys, name)
		if err != nil {
			out = append(out, finding{name, 0, err.Error()})
			continue
		}
		if strings.HasPrefix(name, imageDir) && imageExts[strings.ToLower(path.Ext(name))] {
			if info.Size() > maxImageSize {
				out = append(out, finding{name, 0, fmt.Sprintf("image is %d bytes, more than %d: make it smaller", info.Size(), maxImageSize)})
			}
			continue
		}
		if info.Size() > maxFileSize {
			out = append(out, finding{name, 0, fmt.Sprintf("%d bytes, more than %d: keep large files out of the repository", info.Size(), maxFileSize)})
			continue
		}
		b, err := r.read(name)
		if err != nil {
			out = append(out, finding{name, 0, err.Error()})
			continue
		}
		if why := binaryKind(b); why != "" {
			out = append(out, finding{name, 0, why + ": binaries are build outputs, not sources (see .gitignore)"})
		}
	}
	return out
}

// binaryKind says why b is not a text file, or "" when it is one. Git's own test is a
// NUL byte in the first 8000 bytes; executables are named for what they are.
func binaryKind(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\x7fELF")):
		return "ELF executable"
	case bytes.HasPrefix(b, []byte("MZ")) && bytes.IndexByte(b[:min(len(b), 8000)], 0) >= 0:
		return "Windows executable"
	case bytes.HasPrefix(b, []byte{0xcf, 0xfa, 0xed, 0xfe}), bytes.HasPrefix(b, []byte{0xce, 0xfa, 0xed, 0xfe}):
		return "Mach-O executable"
	case bytes.IndexByte(b[:min(len(b), 8000)], 0) >= 0:
		return "binary file (NUL bytes)"
	}
	return ""
}
