# make run   the demo: Consul dev agent, three backends, srvbridge, a gateway (HAProxy for Kong)
# make test  everything CI runs (.ci/run), installing missing tools first
# make test-short  the fast tier: no Consul, no external tools, under a minute
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

# A fresh shell may not have Go on PATH yet; the toolchain lives here on our machines.
export PATH := $(PATH):/usr/local/go/bin

GO ?= go
VERSION ?= $(shell git describe --tags --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# v0.8.2 is the newest release that builds and runs on Go 1.26; `go run pkg@version`
# builds it once into the Go cache, so it needs no install step.
STATICCHECK := $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
# -p 1: the machines have 2 cores and several packages start real Consul agents.
TEST_FLAGS ?= -p 1 -count=1 -timeout 25m
# The end-to-end and deploy tests are a module of their own (e2e/go.mod), so that their
# test-only dependencies stay out of the main go.mod. The root's ./... stops at a
# nested module: every Go target runs in both.
E2E := e2e

.PHONY: build run test test-short test-deps lint fmt-check vet staticcheck repocheck cross tables go-test smoke clean bench bench-scale bench-catalog docker

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/srvbridge ./cmd/srvbridge

run:
	deploy/demo/run.sh

test: test-deps lint go-test smoke

# The fast tier: tests that need the Consul agent, the built binary or another external
# program skip under -short (internal/testtier), and the e2e module is left out.
test-short:
	$(GO) test -short -count=1 ./...

# System packages, then the pinned Consul agent (about 6 minutes once, then cached).
test-deps:
	scripts/install-test-deps.sh
	@consul=$$(deploy/consul/build.sh); echo "consul: $$consul"

lint: fmt-check vet staticcheck repocheck cross

fmt-check:
	@out=$$(gofmt -l .); if [[ -n $$out ]]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	cd $(E2E) && $(GO) vet ./...

staticcheck:
	$(STATICCHECK) ./...
	cd $(E2E) && $(STATICCHECK) ./...

# Tracked binaries and big files, markdown tables, references between repo files.
repocheck:
	$(GO) run ./internal/repocheck

# srvbridge runs on macOS and the BSDs too: Linux-only code sits behind build tags with
# a portable fallback (resolver/transport). Building for each catches a system call
# that slipped out from behind its tag; vet for darwin checks the fallback's code.
CROSS_TARGETS := darwin/amd64 darwin/arm64 freebsd/amd64 linux/arm64

cross:
	@for t in $(CROSS_TARGETS); do \
		echo "go build $$t"; \
		CGO_ENABLED=0 GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) build ./... || exit 1; \
	done
	CGO_ENABLED=0 GOOS=darwin GOARCH=arm64 $(GO) vet ./...

go-test:
	$(GO) test $(TEST_FLAGS) ./...
	cd $(E2E) && $(GO) test $(TEST_FLAGS) ./...

# The demo as a smoke test: requests through the gateway follow a health flip and
# SRV weights; then Ctrl-C, and nothing of the demo may be left running or listening.
smoke:
	DEMO_EXIT=1 deploy/demo/run.sh

clean:
	rm -rf bin/

# Rewrite the tables of figures in bench/README.md and docs/operations.md from
# bench/results (TestGeneratedTablesCurrent in bench/cmd/benchctl fails when stale).
tables:
	$(GO) run ./bench/cmd/benchctl tables

# The container image, stamped like `make build` (needs a Docker engine; CI has none).
docker:
	docker build -t srvbridge:$(VERSION) --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) .

# srvbridge vs Consul's DNS vs Knot DNS with dnsperf on loopback (bench/README.md); about
# 5 minutes, QUICK=1 1-2. Settings: BENCH_* variables (bench/run.sh --help).
bench:
	bench/run.sh

# srvbridge with 10 000 services x 10 instances: sync, RSS, churn, Consul outages (bench/README.md); ~10 min.
bench-scale:
	bench/scale.sh

# Issue 11's targets against a Consul agent with its default limits: 2 000 x 5 on demand
# and --prefetch, propagation, two replicas, HTTPS, a freeze (bench/README.md); about 80
# minutes, QUICK=1 about 12, --heavy adds 10 000 x 10. Settings: bench/catalog.sh --help.
bench-catalog:
	bench/catalog.sh
