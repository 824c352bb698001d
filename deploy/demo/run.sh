#!/usr/bin/env bash
# The srvbridge demo (make run): a Consul dev agent, three small HTTP backends
# registered as service my-service with real HTTP health checks, and srvbridge
# answering DNS for them. It prints real SRV and A answers, then stays up until
# Ctrl-C with hints on what to try.
#
# DEMO_EXIT=1 turns it into a smoke test: check that SRV has three records with
# glue and a non-zero TTL, fail one backend and see it leave the answers, recover it
# and see it return, then exit 0 (non-zero on any failure).
#
# Every port and address can be overridden, see the DEMO_* variables below. Linux
# routes all of 127.0.0.0/8 to loopback, so the backends get distinct addresses and
# the A answer shows three different IPs.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

consul_http=${DEMO_CONSUL_HTTP_PORT:-18500}
consul_server=${DEMO_CONSUL_SERVER_PORT:-18300}
consul_serf_lan=${DEMO_CONSUL_SERF_LAN_PORT:-18301}
consul_serf_wan=${DEMO_CONSUL_SERF_WAN_PORT:-18302}
dns_port=${DEMO_DNS_PORT:-8653}   # srvbridge's default, so the README's commands match
admin_port=${DEMO_ADMIN_PORT:-9153}
read -r -a backends <<<"${DEMO_BACKENDS:-127.0.0.1:18081 127.0.0.2:18082 127.0.0.3:18083}"
read -r -a extra_flags <<<"${DEMO_SRVBRIDGE_FLAGS:-}" # e.g. "--log-level debug"
service=my-service
deadline_s=${DEMO_DEADLINE:-30}

bin=$root/bin
logs=$bin/demo
pids=()

say() { printf '\n==> %s\n' "$*"; }
die() {
	printf 'demo: %s\n' "$*" >&2
	exit 1
}

# show_logs prints the end of every log, for a failure that needs explaining.
show_logs() {
	local f
	for f in "$logs"/*.log; do
		[[ -e $f ]] || continue
		printf '\n--- last lines of %s ---\n' "${f#"$root"/}" >&2
		tail -n 20 "$f" >&2
	done
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if ((rc != 0)) && ((rc != 130)) && ((rc != 143)); then
		show_logs
	fi
	# Stop in reverse start order: srvbridge, then the backends, then Consul.
	local i pid
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -TERM "${pids[i]}" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME CMD... runs CMD in the background with its output in $logs/NAME.log.
start() {
	local name=$1
	shift
	"$@" >"$logs/$name.log" 2>&1 &
	pids+=($!)
}

# tcp_busy HOST PORT succeeds when something accepts connections there.
tcp_busy() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_for WHAT CMD... retries CMD every 100ms until it succeeds or the deadline passes.
wait_for() {
	local what=$1
	shift
	local end=$((SECONDS + deadline_s))
	until "$@" >/dev/null 2>&1; do
		((SECONDS < end)) || die "timed out after ${deadline_s}s waiting for $what"
		sleep 0.1
	done
}

dig_q() { dig @127.0.0.1 -p "$dns_port" +time=2 +tries=1 "$@"; }

# srv_count prints how many SRV records the answer holds.
srv_count() { dig_q +noall +answer "$service.service.consul" SRV | awk '$4 == "SRV"' | wc -l; }

srv_count_is() { [[ $(srv_count) -eq $1 ]]; }

# --- tools --------------------------------------------------------------------------

if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
	PATH=$PATH:/usr/local/go/bin
fi
command -v go >/dev/null || die "go is not installed"
command -v curl >/dev/null || die "curl is not installed (apt-get install curl)"
if ! command -v dig >/dev/null; then
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
		say "installing dig (dnsutils)"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsutils >/dev/null
	else
		die "dig is missing: install dnsutils (sudo apt-get install dnsutils)"
	fi
fi

for port in "$consul_http" "$consul_server" "$consul_serf_lan" "$admin_port"; do
	! tcp_busy 127.0.0.1 "$port" || die "port $port is taken; set the DEMO_*_PORT variables (see $0)"
done
for b in "${backends[@]}"; do
	! tcp_busy "${b%:*}" "${b##*:}" || die "$b is taken; set DEMO_BACKENDS"
done

say "building srvbridge and the demo backend into bin/"
mkdir -p "$bin"
rm -rf "$logs"
mkdir -p "$logs"
go build -o "$bin/srvbridge" ./cmd/srvbridge
go build -o "$bin/demo-backend" ./deploy/demo/backend

if [[ -n ${CONSUL_BIN:-} ]]; then
	consul=$CONSUL_BIN
else
	say "getting the pinned Consul agent (built once, about 6 minutes on 2 cores, then cached)"
	consul=$(deploy/consul/build.sh)
fi
[[ -x $consul ]] || die "no Consul binary at '$consul'"

# --- Consul -------------------------------------------------------------------------

say "starting a Consul dev agent on 127.0.0.1:$consul_http"
# Its DNS and gRPC interfaces are off: the demo needs neither, and they would only
# add ports that may collide with a Consul the developer already runs.
start consul "$consul" agent -dev -node srvbridge-demo \
	-bind 127.0.0.1 -client 127.0.0.1 \
	-http-port "$consul_http" -server-port "$consul_server" \
	-serf-lan-port "$consul_serf_lan" -serf-wan-port "$consul_serf_wan" \
	-dns-port -1 -grpc-port -1 -grpc-tls-port -1
consul_url=http://127.0.0.1:$consul_http
has_leader() { [[ $(curl -fsS "$consul_url/v1/status/leader") == *:* ]]; }
wait_for "Consul to elect itself leader" has_leader

# --- backends -----------------------------------------------------------------------

i=0
for b in "${backends[@]}"; do
	i=$((i + 1))
	start "web-$i" "$bin/demo-backend" --addr "$b" --name "web-$i"
done
i=0
for b in "${backends[@]}"; do
	i=$((i + 1))
	wait_for "backend web-$i on $b" curl -fsS "http://$b/health"
done

say "registering $service with ${#backends[@]} instances, each with an HTTP check every 1s"
i=0
for b in "${backends[@]}"; do
	i=$((i + 1))
	tag=v1
	((i < ${#backends[@]})) || tag=v2 # the last one is the "canary", to show tag queries
	curl -fsS -X PUT "$consul_url/v1/agent/service/register" --data @- <<EOF
{
  "ID": "$service-$i",
  "Name": "$service",
  "Address": "${b%:*}",
  "Port": ${b##*:},
  "Tags": ["$tag"],
  "Meta": {"instance": "web-$i"},
  "Check": {
    "Name": "web-$i /health",
    "HTTP": "http://$b/health",
    "Interval": "1s",
    "Timeout": "1s"
  }
}
EOF
done

# --- srvbridge ----------------------------------------------------------------------

say "starting srvbridge: DNS on 127.0.0.1:$dns_port, admin on 127.0.0.1:$admin_port"
start srvbridge "$bin/srvbridge" \
	--dns-addr "127.0.0.1:$dns_port" --http-addr "127.0.0.1:$admin_port" \
	--consul-addr "127.0.0.1:$consul_http" "${extra_flags[@]}"
srvbridge_pid=${pids[-1]}
ready() { curl -fsS "http://127.0.0.1:$admin_port/readyz"; }
wait_for "srvbridge to be ready (/readyz)" ready
wait_for "all ${#backends[@]} instances to pass their checks and appear in SRV" srv_count_is "${#backends[@]}"

say "dig @127.0.0.1 -p $dns_port $service.service.consul SRV"
dig_q "$service.service.consul" SRV
say "dig @127.0.0.1 -p $dns_port $service.service.consul A"
dig_q "$service.service.consul" A

if [[ ${DEMO_EXIT:-0} == 1 ]]; then
	say "smoke test"
	n=${#backends[@]}
	answer=$(dig_q +noall +answer "$service.service.consul" SRV)
	got=$(awk '$4 == "SRV"' <<<"$answer" | wc -l)
	((got == n)) || die "SRV answer has $got records, want $n"
	zero=$(awk '$4 == "SRV" && $2 == 0' <<<"$answer" | wc -l)
	((zero == 0)) || die "SRV answer has records with TTL 0"
	glue=$(dig_q +noall +additional "$service.service.consul" SRV | awk '$4 == "A"' | wc -l)
	((glue == n)) || die "SRV answer has $glue glue A records, want $n"
	a=$(dig_q +short "$service.service.consul" A | sort -u | wc -l)
	((a == n)) || die "A answer has $a distinct addresses, want $n"
	echo "ok: $got SRV records, TTL > 0, $glue glue A records, $a A records"
	page=$(curl -fsS "http://127.0.0.1:$admin_port/")
	rows=$(grep -c 'class="inst"' <<<"$page" || true)
	grep -q "data-service=\"$service\"" <<<"$page" && ((rows >= n)) ||
		die "status page does not list $service with its $n instances ($rows instance rows)"
	echo "ok: status page lists $service with $rows instance rows"

	last=${backends[n - 1]}
	t0=$(date +%s%N)
	curl -fsS -X POST "http://$last/fail" >/dev/null
	wait_for "the failed backend to leave the SRV answer" srv_count_is $((n - 1))
	t1=$(date +%s%N)
	curl -fsS -X POST "http://$last/recover" >/dev/null
	wait_for "the recovered backend to return to the SRV answer" srv_count_is "$n"
	t2=$(date +%s%N)
	# These include Consul's 1s check interval: the time from the backend's change to
	# a changed DNS answer, not srvbridge's share of it alone.
	echo "ok: backend failed -> gone from SRV in $(((t1 - t0) / 1000000)) ms; recovered -> back in $(((t2 - t1) / 1000000)) ms"

	# Graceful stop: SIGTERM must end srvbridge with status 0 within its shutdown bound.
	kill -TERM "$srvbridge_pid"
	(sleep 10 && kill -KILL "$srvbridge_pid") 2>/dev/null &
	watchdog=$!
	rc=0
	wait "$srvbridge_pid" || rc=$?
	kill "$watchdog" 2>/dev/null || true
	((rc == 0)) || die "srvbridge exited with status $rc on SIGTERM, want 0 (137: still running after 10s)"
	echo "ok: srvbridge exited 0 on SIGTERM"
	say "demo smoke test passed"
	exit 0
fi

last=${backends[${#backends[@]} - 1]}
cat <<EOF

srvbridge answers DNS on 127.0.0.1:$dns_port; Consul runs at $consul_url (UI: $consul_url/ui).
Try:
  dig @127.0.0.1 -p $dns_port $service.service.consul SRV          # all healthy instances, with glue A records
  dig @127.0.0.1 -p $dns_port _$service._tcp.service.consul SRV    # RFC 2782 form (Kong's new DNS client)
  dig @127.0.0.1 -p $dns_port v2.$service.service.consul SRV       # only instances tagged v2
  curl -X POST http://$last/fail      # fail that backend's health check: it leaves the answers within ~1s
  curl -X POST http://$last/recover   # and comes back
  curl -s http://127.0.0.1:$admin_port/metrics | grep ^srvbridge_
Status page (reloads itself): http://127.0.0.1:$admin_port/
Logs: ${logs#"$root"/}/*.log. Ctrl-C stops everything.
EOF

# Stay up until Ctrl-C, but not past a component that died.
while sleep 1; do
	for pid in "${pids[@]}"; do
		kill -0 "$pid" 2>/dev/null || die "a demo process (pid $pid) exited; see the logs"
	done
done
