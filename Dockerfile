# syntax=docker/dockerfile:1
#
# srvbridge as a container: a static binary on distroless, running as a non-root user.
#
#   docker build -t srvbridge \
#     --build-arg VERSION="$(git describe --tags --dirty 2>/dev/null || echo dev)" \
#     --build-arg COMMIT="$(git rev-parse --short HEAD)" .
#
# .git is not sent to the build (.dockerignore), so the version is passed in, as the
# Makefile's LDFLAGS do for `make build`.
#
# Port 53 as a non-root user: the image listens on :53 (SRVBRIDGE_DNS_ADDR), because
# the clients that cannot name a port (resolv.conf, CoreDNS's default forward) expect
# it. A non-root process may bind it only where net.ipv4.ip_unprivileged_port_start
# is 53 or lower in the container's network namespace:
#   - Docker 20.10+ sets it to 0 for every container not on the host network;
#     deploy/compose sets it explicitly anyway (sysctls:), for Podman and others.
#   - Kubernetes runtimes may not: deploy/kubernetes sets it in the pod's
#     securityContext.sysctls (a "safe" sysctl since Kubernetes 1.22).
#   - `cap_add: [NET_BIND_SERVICE]` does NOT help: a non-root process gets no
#     effective capabilities from the container's bounding set unless the binary has
#     file capabilities, and distroless has no setcap.
#   - With the host network, or where sysctls are not allowed, set
#     SRVBRIDGE_DNS_ADDR=:8653 and point clients (or a port mapping) at that.

# The Go minor version must match go.mod's `go` line (a test checks it). The build
# runs on the build machine's platform and cross-compiles, so multi-arch images build
# without emulation.
ARG GO_VERSION=1.26
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
# No separate `go mod download` layer: go.mod also lists the test-only modules
# (compose loader, Kubernetes types), and the cache mounts below already make a
# rebuild fetch nothing; go build downloads only what the binary imports.
COPY . .
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG COMMIT=unknown
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/srvbridge ./cmd/srvbridge

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="srvbridge" \
      org.opencontainers.image.description="Consul-aware authoritative DNS server for API gateways such as Kong" \
      org.opencontainers.image.source="https://github.com/srvbridge/srvbridge" \
      org.opencontainers.image.documentation="https://github.com/srvbridge/srvbridge#deploy" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=build /out/srvbridge /srvbridge

# Listen on every interface inside the container: DNS on 53, admin (/healthz,
# /readyz, /metrics) on 9153. Set these through the environment rather than flags so
# that `srvbridge healthcheck`, which Docker runs with the container's environment,
# probes the same admin address the server listens on.
ENV SRVBRIDGE_DNS_ADDR=:53 \
    SRVBRIDGE_HTTP_ADDR=:9153
EXPOSE 53/udp 53/tcp 9153/tcp

# Numeric, so that Kubernetes' runAsNonRoot can verify it (it cannot resolve names).
# 65532 is distroless's "nonroot".
USER 65532:65532

# Readiness, not just liveness: see runHealthcheck in cmd/srvbridge/subcommands.go.
# The timeout leaves room for the subcommand's own 2s deadline.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["/srvbridge", "healthcheck"]

ENTRYPOINT ["/srvbridge"]
