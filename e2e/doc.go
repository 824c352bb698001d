// Package e2e holds end-to-end tests: the real srvbridge binary, a real Consul dev
// agent, and real DNS clients (miekg/dns's client, dig, kdig, Go's resolver, HAProxy,
// headless Chromium) over loopback. Its subpackage deploy checks the deployment files
// (Dockerfiles, compose stacks, Kubernetes manifests, dashboard, alert rules) against
// each other and against the real binary.
//
// These tests live in a module of their own (this directory's go.mod) so that their
// test-only dependencies (chromedp, compose-go, the Kubernetes API types) stay out of
// the main module's go.mod, which lists only what the binaries need. The module may
// still import the main module's internal/ helpers: Go's internal rule is by import
// path, and this module's path is under github.com/srvbridge/srvbridge. Run it from
// here (go test ./...) or through make test, which runs both modules.
package e2e
