#!/usr/bin/env bash
# Installs the system tools `make test` needs on a fresh Debian machine, and only those
# that are missing, so a machine that has them all runs no apt at all:
#   dig (dnsutils), kdig (knot-dnsutils), haproxy, curl, flock (util-linux), and
#   chromium with a font for the status page's browser test (its screenshot), and
#   promtool (prometheus) for the PromQL of the alert rules and the dashboard.
# The Consul agent is a Go build, not a package: see deploy/consul/build.sh.
#
# With arguments, only those tools (by command name, e.g. `haproxy dig`): the demo
# (deploy/demo/run.sh) installs what it needs this way.
set -euo pipefail

declare -A package=([dig]=dnsutils [kdig]=knot-dnsutils [haproxy]=haproxy [curl]=curl
	[flock]=util-linux [chromium]=chromium [promtool]=prometheus)
tools=("$@")
((${#tools[@]})) || tools=(dig kdig haproxy curl flock chromium promtool)

need=()
for tool in "${tools[@]}"; do
	[[ -n ${package[$tool]:-} ]] || {
		echo "test deps: unknown tool $tool (known: ${!package[*]})" >&2
		exit 2
	}
	command -v "$tool" >/dev/null || need+=("${package[$tool]}")
done
if (($# == 0)); then
	dpkg-query -W -f '${Status}' fonts-dejavu-core 2>/dev/null | grep -q 'ok installed' || need+=(fonts-dejavu-core)
fi

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
