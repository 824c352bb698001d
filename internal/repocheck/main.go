// Command repocheck fails when the repository stops telling the truth about itself:
// a tracked binary or oversized file, a markdown table whose rows do not match its
// header, or a reference from one repo file to another that does not resolve. `make
// lint` runs it from the repository root:
//
//	go run ./internal/repocheck
//
// It checks the files git tracks plus new files not yet added (but not ignored ones),
// so a mistake shows before it is committed. Each finding is printed as path:line:
// message; the exit status is 1 when there is any.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

func main() {
	root, err := gitOutput("rev-parse", "--show-toplevel")
	if err != nil {
		fmt.Fprintln(os.Stderr, "repocheck:", err)
		os.Exit(2)
	}
	root = strings.TrimSpace(root)
	list, err := gitOutput("-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	if err != nil {
		fmt.Fprintln(os.Stderr, "repocheck:", err)
		os.Exit(2)
	}
	var files []string
	for _, f := range strings.Split(list, "\x00") {
		if f != "" {
			files = append(files, f)
		}
	}
	r, err := newRepo(os.DirFS(root), files)
	if err != nil {
		fmt.Fprintln(os.Stderr, "repocheck:", err)
		os.Exit(2)
	}
	findings := r.check()
	for _, f := range findings {
		fmt.Println(f)
	}
	if len(findings) > 0 {
		fmt.Fprintf(os.Stderr, "repocheck: %d problem(s) in %d files\n", len(findings), len(r.files))
		os.Exit(1)
	}
}

func gitOutput(args ...string) (string, error) {
	var stderr bytes.Buffer
	cmd := exec.Command("git", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}
