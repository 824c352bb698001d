#!/usr/bin/env bash
# The srvbridge demo (make run): a Consul dev agent, three small HTTP backends
# registered as service my-service with real HTTP health checks, srvbridge answering
# DNS for them, and a gateway (HAProxy, standing in for Kong) that finds the backends
# through srvbridge with SRV queries. It prints real dig answers, then walks through
# the recipe's "test the setup": requests spread over the instances, one instance
# fails its health check and stops getting requests, it recovers and gets them again,
# and SRV weights. Then it stays up until Ctrl-C, which stops everything.
#
# DEMO_EXIT=1 (make smoke) is the same demo as a test: this script starts itself in
# the background, in a session of its own, with extra checks (SRV answer shape,
# status page, srvbridge's exit status), waits for its walkthrough to pass (every
# step asserts what it prints), sends it SIGINT as Ctrl-C would, and checks that no
# process of the demo is left and its ports are free. Exit 0 on success, non-zero on any failure.
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
dns_port=${DEMO_DNS_PORT:-8653} # srvbridge's default, so the README's commands match
admin_port=${DEMO_ADMIN_PORT:-9153}
gateway_port=${DEMO_GATEWAY_PORT:-18000} # Kong's proxy port is 8000
read -r -a backends <<<"${DEMO_BACKENDS:-127.0.0.1:18081 127.0.0.2:18082 127.0.0.3:18083}"
read -r -a extra_flags <<<"${DEMO_SRVBRIDGE_FLAGS:-}" # e.g. "--log-level debug"
ttl=${DEMO_TTL:-5}                                    # srvbridge's --service-ttl, whole seconds
service=my-service
srv_name=_$service._tcp.service.consul
deadline_s=${DEMO_DEADLINE:-60} # generous: the machine may be busy

bin=$root/bin
logs=$bin/demo
pids=()
names=()

say() { printf '\n==> %s\n' "$*"; }
die() {
	printf 'demo: %s\n' "$*" >&2
	exit 1
}

[[ $ttl =~ ^[1-9][0-9]*$ ]] || die "DEMO_TTL=$ttl: want a whole number of seconds, at least 1"
((${#backends[@]} >= 2)) || die "DEMO_BACKENDS: want at least two, one of them fails in the walkthrough"

# now_ms prints the wall clock in milliseconds, without a fork.
now_ms() {
	local t=${EPOCHREALTIME/[.,]/}
	echo $((t / 1000))
}

# tcp_busy HOST PORT succeeds when something accepts connections there.
tcp_busy() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# udp_busy PORT succeeds when a socket is bound to that UDP port (needs ss; without it,
# it reports free).
udp_busy() { command -v ss >/dev/null && [[ -n $(ss -Hlun "sport = :$1" 2>/dev/null) ]]; }

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

# --- make smoke: run the demo in the background, then Ctrl-C it ----------------------

# smoke runs this script as the interactive demo (in a session of its own, so that
# every process it starts can be found afterwards), waits for its walkthrough to pass,
# sends it SIGINT and checks that nothing is left running or listening.
smoke() {
	local state=$bin/demo-smoke
	rm -rf "$state"
	mkdir -p "$state"
	# Job control (set -m) for the launch: a non-interactive shell starts background
	# commands with SIGINT ignored, and a script cannot trap a signal ignored since its
	# start, so without it the demo would not see the Ctrl-C this test sends.
	# setsid -w gives the demo a new session and waits for it (its status is ours).
	local launcher=()
	command -v setsid >/dev/null && launcher=(setsid -w)
	set -m
	DEMO_EXIT=0 DEMO_CHECKS=1 DEMO_STATE_DIR=$state "${launcher[@]}" "$0" &
	local waiter=$!
	set +m
	local demo=
	# A Ctrl-C of `make smoke` itself reaches only this script: pass it on, so that the
	# demo cleans up after itself (it writes its pid first thing).
	trap 'demo=$(cat "$state/pid" 2>/dev/null) && kill -INT "$demo" 2>/dev/null; wait "$waiter"; exit 130' INT TERM

	until [[ -s $state/ready ]]; do
		if ! kill -0 "$waiter" 2>/dev/null; then
			local rc=0
			wait "$waiter" || rc=$?
			die "smoke: the demo exited with status $rc before its walkthrough passed"
		fi
		sleep 0.2
	done
	demo=$(<"$state/pid")
	local demo_pids
	demo_pids=$(<"$state/ready")

	say "smoke: Ctrl-C (SIGINT to run.sh, pid $demo)"
	local t0 t1 rc=0 end=$((SECONDS + deadline_s))
	t0=$(now_ms)
	kill -INT "$demo"
	while kill -0 "$waiter" 2>/dev/null; do
		if ((SECONDS >= end)); then
			kill -TERM "$demo" 2>/dev/null || true
			die "smoke: the demo was still running ${deadline_s}s after SIGINT (sent it SIGTERM)"
		fi
		sleep 0.1
	done
	wait "$waiter" || rc=$?
	t1=$(now_ms)
	trap - INT TERM
	((rc == 130)) || die "smoke: the demo exited with status $rc on SIGINT, want 130"

	local pid left=()
	for pid in $demo_pids; do
		! kill -0 "$pid" 2>/dev/null || left+=("$pid")
	done
	if ((${#launcher[@]})); then
		# Anything still in the demo's session: a process the demo started but lost track of.
		mapfile -t -O "${#left[@]}" left < <(ps -e -o pid=,sid= | awk -v s="$demo" '$2 == s {print $1}')
	fi
	if ((${#left[@]})); then
		mapfile -t left < <(printf '%s\n' "${left[@]}" | sort -un)
		ps -o pid,sid,args -p "$(
			IFS=,
			echo "${left[*]}"
		)" >&2 || true
		die "smoke: demo processes still running after Ctrl-C: ${left[*]}"
	fi

	local busy=() hp
	for hp in "127.0.0.1:$consul_http" "127.0.0.1:$consul_server" "127.0.0.1:$consul_serf_lan" \
		"127.0.0.1:$consul_serf_wan" "127.0.0.1:$dns_port" "127.0.0.1:$admin_port" \
		"127.0.0.1:$gateway_port" "${backends[@]}"; do
		! tcp_busy "${hp%:*}" "${hp##*:}" || busy+=("tcp $hp")
	done
	local p
	for p in "$dns_port" "$consul_serf_lan" "$consul_serf_wan"; do
		! udp_busy "$p" || busy+=("udp $p")
	done
	((${#busy[@]} == 0)) || die "smoke: still listening after Ctrl-C: ${busy[*]}"
	local how="its pids"
	((${#launcher[@]})) && how="its pids and its session"
	echo "ok: Ctrl-C stopped the demo in $((t1 - t0)) ms (exit 130); no process of it left ($how checked), none of its ports listening"
	say "demo smoke test passed"
	exit 0
}

if [[ ${DEMO_EXIT:-0} == 1 ]]; then
	mkdir -p "$bin"
	smoke
fi
if [[ -n ${DEMO_STATE_DIR:-} ]]; then
	echo "$$" >"$DEMO_STATE_DIR/pid"
fi

# --- the demo -----------------------------------------------------------------------

# show_logs prints the end of every log, for a failure that needs explaining.
show_logs() {
	local f
	for f in "$logs"/*.log; do
		[[ -e $f ]] || continue
		printf '\n--- last lines of %s ---\n' "${f#"$root"/}" >&2
		tail -n 20 "$f" >&2
	done
}

# The script's own stdout and stderr, for cleanup: a signal can arrive while a command
# runs with its output sent elsewhere (wait_for's checks go to /dev/null), and the
# traps run in that command's context.
exec 8>&1 9>&2

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	exec 1>&8 2>&9
	if ((rc != 0)) && ((rc != 130)) && ((rc != 143)); then
		show_logs
	fi
	# Stop one at a time in reverse start order: the gateway first, so that no request
	# is in flight when the backends go, then srvbridge, the backends, Consul.
	local i pid st stopped=()
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		stopped+=("${names[i]}")
		pid=${pids[i]}
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		st=0
		wait "$pid" 2>/dev/null || st=$?
		# srvbridge must shut down cleanly on SIGTERM (127: already reaped, it had died).
		if [[ ${names[i]} == srvbridge && ${DEMO_CHECKS:-0} == 1 ]] && ((st != 0 && st != 127)); then
			printf 'demo: srvbridge exited with status %s on SIGTERM, want 0 (137: killed after 10s)\n' "$st" >&2
			((rc != 130 && rc != 143)) || rc=1
		fi
	done
	if ((rc == 130 || rc == 143)) && ((${#stopped[@]})); then
		local list
		list=$(
			IFS=,
			echo "${stopped[*]}"
		)
		printf '\ndemo: stopped %s\n' "${list//,/, }"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME CMD... runs CMD in the background with its output in $logs/NAME.log, in a
# process group of its own, so that a Ctrl-C in the terminal reaches only this script,
# which then stops the components one by one in order (each one gets one SIGTERM).
start() {
	local name=$1
	shift
	set -m
	"$@" </dev/null >"$logs/$name.log" 2>&1 8>&- 9>&- &
	pids+=($!)
	set +m
	names+=("$name")
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
missing=()
for tool in dig curl haproxy; do
	command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
	say "installing ${missing[*]} (Debian packages, as make test does)"
	scripts/install-test-deps.sh "${missing[@]}" || die "could not install ${missing[*]}"
fi

for port in "$consul_http" "$consul_server" "$consul_serf_lan" "$dns_port" "$admin_port" "$gateway_port"; do
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

n=${#backends[@]}
for ((i = 1; i <= n; i++)); do
	start "web-$i" "$bin/demo-backend" --addr "${backends[i - 1]}" --name "web-$i"
done
for ((i = 1; i <= n; i++)); do
	wait_for "backend web-$i on ${backends[i - 1]}" curl -fsS "http://${backends[i - 1]}/health"
done

# register I WEIGHT registers backend I (1-based) with its HTTP check and WEIGHT as its
# SRV weight while passing. Registering an ID again replaces the registration and
# keeps the check's status.
register() {
	local i=$1 weight=$2 b=${backends[$1 - 1]} tag=v1
	((i < n)) || tag=v2 # the last one is the "canary", to show tag queries
	curl -fsS -X PUT "$consul_url/v1/agent/service/register" --data @- <<EOF
{
  "ID": "$service-$i",
  "Name": "$service",
  "Address": "${b%:*}",
  "Port": ${b##*:},
  "Tags": ["$tag"],
  "Meta": {"instance": "web-$i"},
  "Weights": {"Passing": $weight, "Warning": 1},
  "Check": {
    "Name": "web-$i /health",
    "HTTP": "http://$b/health",
    "Interval": "1s",
    "Timeout": "1s"
  }
}
EOF
}

say "registering $service with $n instances, each with an HTTP check every 1s; web-1 with weight 2"
register 1 2
for ((i = 2; i <= n; i++)); do
	register "$i" 1
done

# --- srvbridge ----------------------------------------------------------------------

say "starting srvbridge: DNS on 127.0.0.1:$dns_port (TTL ${ttl}s), admin on 127.0.0.1:$admin_port"
start srvbridge "$bin/srvbridge" \
	--dns-addr "127.0.0.1:$dns_port" --http-addr "127.0.0.1:$admin_port" \
	--consul-addr "127.0.0.1:$consul_http" --service-ttl "$ttl" "${extra_flags[@]}"
ready() { curl -fsS "http://127.0.0.1:$admin_port/readyz"; }
wait_for "srvbridge to be ready (/readyz)" ready
wait_for "all $n instances to pass their checks and appear in SRV" srv_count_is "$n"

say "dig @127.0.0.1 -p $dns_port $service.service.consul SRV"
dig_q "$service.service.consul" SRV
say "dig @127.0.0.1 -p $dns_port $service.service.consul A"
dig_q "$service.service.consul" A

if [[ ${DEMO_CHECKS:-0} == 1 ]]; then
	say "checks: the answers' shape and the status page"
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
fi

# --- the gateway --------------------------------------------------------------------

say "starting the gateway: HAProxy on 127.0.0.1:$gateway_port, resolving $srv_name through srvbridge"
# HAProxy ignores DNS TTLs: it asks again every `timeout resolve`. Setting that to the
# TTL makes it react no faster than Kong, which keeps each answer for its TTL.
# `hold obsolete 0s` drops an instance as soon as an answer no longer lists it. The
# SRV answer's glue A records give each instance's address, so HAProxy needs no
# further query. /haproxy is HAProxy's own stats page: the weights it uses, and
# (show-legends) each server's address.
cat >"$logs/haproxy.cfg" <<EOF
global
    nbthread 1

defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s

resolvers srvbridge
    nameserver srvbridge 127.0.0.1:$dns_port
    accepted_payload_size 1232
    resolve_retries 3
    timeout resolve ${ttl}s
    timeout retry 1s
    hold valid ${ttl}s
    hold obsolete 0s

frontend gateway
    bind 127.0.0.1:$gateway_port
    use_backend haproxy-stats if { path_beg /haproxy }
    default_backend $service

backend $service
    balance roundrobin
    server-template web 6 $srv_name resolvers srvbridge resolve-prefer ipv4 init-addr none

backend haproxy-stats
    stats enable
    stats uri /haproxy
    stats show-legends
EOF
haproxy -q -c -f "$logs/haproxy.cfg" >/dev/null || die "haproxy rejects $logs/haproxy.cfg: $(haproxy -c -f "$logs/haproxy.cfg" 2>&1)"
start haproxy haproxy -db -f "$logs/haproxy.cfg"
gw=http://127.0.0.1:$gateway_port

# hits N sends N requests to the gateway's /api from one curl (one connection: HAProxy
# balances each request on its own) and prints the instance that answered each, one a
# line; a request that failed prints nothing.
hits() {
	local urls=() i
	for ((i = 0; i < $1; i++)); do urls+=("$gw/api"); done
	{ curl -sS --max-time 10 "${urls[@]}" 2>/dev/null || true; } |
		sed -n 's/.*"instance":"\([^"]*\)".*/\1/p'
}

# split LINES prints "web-1 4, web-2 3, ..." for instance names one a line.
split() { sort <<<"$1" | uniq -c | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1} END {print ""}'; }

# count NAME LINES prints how many lines are NAME.
count() { grep -cx "$1" <<<"$2" || true; }

# reaches NAME... succeeds when 12 requests reach every NAME.
reaches() {
	local out name
	out=$(hits 12)
	for name in "$@"; do
		[[ $(count "$name" "$out") -gt 0 ]] || return 1
	done
}

# avoids NAME succeeds when 12 requests all get an answer and none comes from NAME.
avoids() {
	local out
	out=$(hits 12)
	[[ $(wc -l <<<"$out") -eq 12 && $(count "$1" "$out") -eq 0 ]]
}

# gateway_weights prints "address weight" for each server HAProxy has from the SRV answer.
gateway_weights() {
	curl -fsS "$gw/haproxy;csv" | awk -F, -v px="$service" '
		NR == 1 { sub(/^# /, ""); for (i = 1; i <= NF; i++) col[$i] = i; next }
		$1 == px && $2 != "BACKEND" && $(col["addr"]) != "" && $(col["status"]) !~ /MAINT/ {
			print $(col["addr"]), $(col["weight"])
		}' | sort
}

# instance_of ADDR prints the instance name for a backend address.
instance_of() {
	local i
	for ((i = 1; i <= n; i++)); do
		[[ ${backends[i - 1]} != "$1" ]] || echo "web-$i"
	done
}

show_gateway_weights() {
	local addr w
	while read -r addr w; do
		printf '  %s (%s): HAProxy weight %s\n' "$(instance_of "$addr")" "$addr" "$w"
	done < <(gateway_weights)
}

all=()
for ((i = 1; i <= n; i++)); do all+=("web-$i"); done
wait_for "the gateway to route requests to all $n instances" reaches "${all[@]}"

say "HAProxy stands in for Kong here"
cat <<EOF
Kong is not a Debian package, so the demo cannot install it; HAProxy is, and it finds
the instances the way Kong does: SRV queries to srvbridge for each instance's address,
port and weight, asked again every TTL. deploy/compose runs real Kong (with Docker).
In Kong the same setup is two settings:
  KONG_DNS_RESOLVER=127.0.0.1:$dns_port
  service host: $service.service.consul          Kong's default DNS client (asks SRV for the bare name first)
                $srv_name    with new_dns_client=on (SRV only for the _service._proto form)
EOF

# --- the walkthrough: test the setup ------------------------------------------------

say "1. ten requests through the gateway: curl $gw/api"
out=$(hits 10)
echo "  $(tr '\n' ' ' <<<"$out")"
echo "  per instance: $(split "$out")"
for name in "${all[@]}"; do
	[[ $(count "$name" "$out") -gt 0 ]] || die "$name got none of the ten requests"
done

last=${backends[n - 1]}
victim=web-$n
say "2. fail $victim: curl -X POST http://$last/fail (its /health answers 503, but it keeps serving)"
t_fail=$(now_ms)
curl -fsS -X POST "http://$last/fail" | sed 's/^/  /'
wait_for "srvbridge to drop $victim from its SRV answer" srv_count_is $((n - 1))
t_dns=$(now_ms)
wait_for "the gateway to stop sending requests to $victim" avoids "$victim"
t_gw=$(now_ms)
echo "  $victim left srvbridge's SRV answer $((t_dns - t_fail)) ms after the fail (Consul checks every 1 s)"
echo "  the gateway stopped sending it requests $((t_gw - t_dns)) ms after that (it re-resolves every ${ttl} s, the TTL)"
echo "  fail -> no more requests: $((t_gw - t_fail)) ms"
limit=$(((ttl + 1) * 1000))
((t_gw - t_dns <= limit)) ||
	die "the gateway still sent requests to $victim $((t_gw - t_dns)) ms after the DNS change, more than TTL + 1 s"

say "3. within TTL + 1 s (${ttl} s + 1 s) of the DNS change, no request reaches $victim"
while (($(now_ms) < t_dns + limit)); do sleep 0.1; done
out=$(hits 30)
echo "  30 requests: $(split "$out")"
[[ $(count "$victim" "$out") -eq 0 ]] || die "$victim still got requests TTL + 1 s after leaving the answer"
[[ $(wc -l <<<"$out") -eq 30 ]] || die "only $(wc -l <<<"$out") of 30 requests were answered"

say "4. recover $victim: curl -X POST http://$last/recover"
t_rec=$(now_ms)
curl -fsS -X POST "http://$last/recover" | sed 's/^/  /'
wait_for "srvbridge to list $victim again" srv_count_is "$n"
t_dns2=$(now_ms)
wait_for "the gateway to send requests to $victim again" reaches "$victim"
t_gw2=$(now_ms)
out=$(hits 12)
echo "  back in srvbridge's answer after $((t_dns2 - t_rec)) ms; the gateway sends it requests $((t_gw2 - t_dns2)) ms after that"
echo "  recover -> requests again: $((t_gw2 - t_rec)) ms"
echo "  12 requests: $(split "$out")"

say "5. weights: web-1 is registered with weight 2, the others with 1"
echo "  dig @127.0.0.1 -p $dns_port $srv_name SRV +noall +answer"
dig_q +noall +answer "$srv_name" SRV | sed 's/^/  /'
echo "  (priority, weight, port, target; the port tells the instance apart:$(
	for ((i = 1; i <= n; i++)); do printf ' %s web-%s' "${backends[i - 1]##*:}" "$i"; done
))"
echo "  what HAProxy made of them (its stats page, $gw/haproxy):"
show_gateway_weights
out=$(hits 60)
echo "  60 requests: $(split "$out")"
cat <<EOF
  Kong's balancer uses the SRV weight as it is, so it would send web-1 half of the
  requests. HAProxy ($(haproxy -v | awk 'NR == 1 {print $3}')) scales SRV weights (0-65535) down to its own
  (0-256) as ceil(weight / 256): SRV weights 1 and 2 both become 1, an even split.
  Weights in multiples of 256 mean the same to both. Re-registering with 512 and 256:
EOF
register 1 512
for ((i = 2; i <= n; i++)); do
	register "$i" 256
done
first=${backends[0]}
web1_weight_is() { [[ $(gateway_weights | awk -v a="$first" '$1 == a {print $2}') == "$1" ]]; }
wait_for "HAProxy to give web-1 weight 2 from the new SRV answer" web1_weight_is 2
show_gateway_weights
out=$(hits 60)
echo "  60 requests: $(split "$out")"
w1=$(count web-1 "$out")
rest=$(($(wc -l <<<"$out") - w1))
# web-1 should get about twice the share of each other instance: twice their mean.
((n > 1 && w1 * (n - 1) * 10 >= rest * 2 * 8 && w1 * (n - 1) * 10 <= rest * 2 * 12)) ||
	die "web-1 got $w1 requests, the other $((n - 1)) instances $rest: not about twice each one's share"

if [[ -n ${DEMO_STATE_DIR:-} ]]; then
	echo "${pids[*]}" >"$DEMO_STATE_DIR/ready"
fi

cat <<EOF

The gateway is HAProxy on $gw (it stands in for Kong, see above); srvbridge answers DNS
on 127.0.0.1:$dns_port; Consul runs at $consul_url (UI: $consul_url/ui).
Try:
  curl $gw/api                      # a different instance each time
  curl -X POST http://$last/fail      # $victim leaves the answers in ~1 s, the gateway within ${ttl} s more
  curl -X POST http://$last/recover   # and comes back
  dig @127.0.0.1 -p $dns_port $service.service.consul SRV          # all healthy instances, with glue A records
  dig @127.0.0.1 -p $dns_port $srv_name SRV    # RFC 2782 form (what HAProxy and Kong's new DNS client ask)
  dig @127.0.0.1 -p $dns_port v2.$service.service.consul SRV       # only instances tagged v2
  curl -s http://127.0.0.1:$admin_port/metrics | grep ^srvbridge_
The SRV weights are now 512 (web-1) and 256: HAProxy's 2 and 1.
Status page (reloads itself): http://127.0.0.1:$admin_port/   HAProxy's: $gw/haproxy
Logs: ${logs#"$root"/}/*.log. Ctrl-C stops everything.
EOF

# Stay up until Ctrl-C, but not past a component that died.
st=0
wait -n "${pids[@]}" || st=$?
die "a demo process exited (status $st); see the logs"
