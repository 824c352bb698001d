#!/usr/bin/env bash
# Installs the system tools `make test` needs on a fresh Debian machine, and only those
# that are missing, so a machine that has them all runs no apt at all:
#   dig (dnsutils), kdig (knot-dnsutils), haproxy, curl, flock (util-linux), and
#   chromium with a font for the status page's browser test (its screenshot), and
#   promtool (prometheus) for the PromQL of the alert rules and the dashboard.
# The Consul agent is a Go build, not a package: see deploy/consul/build.sh.
set -euo pipefail

need=()
command -v dig >/dev/null || need+=(dnsutils)
command -v kdig >/dev/null || need+=(knot-dnsutils)
command -v haproxy >/dev/null || need+=(haproxy)
command -v curl >/dev/null || need+=(curl)
command -v flock >/dev/null || need+=(util-linux)
command -v chromium >/dev/null || need+=(chromium)
command -v promtool >/dev/null || need+=(prometheus)
dpkg-query -W -f '${Status}' fonts-dejavu-core 2>/dev/null | grep -q 'ok installed' || need+=(fonts-dejavu-core)

if ((${#need[@]} == 0)); then
	echo "test deps: all present"
	exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
	command -v sudo >/dev/null || {
		echo "test deps: need root (or sudo) to install: ${need[*]}" >&2
		exit 1
	}
	sudo=(sudo)
fi

echo "test deps: installing ${need[*]}"
# Packages such as haproxy start their service on install. Tests start their own
# instances on their own ports, so forbid service starts for the duration, unless
# the machine already has a policy of its own.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
	"${sudo[@]}" chmod 0755 "$policy"
	trap '"${sudo[@]}" rm -f "$policy"' EXIT
fi
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "test deps: installed ${need[*]}"
