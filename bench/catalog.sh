#!/usr/bin/env bash
# srvbridge with a large catalog against a Consul agent whose limits are LEFT AT THEIR
# DEFAULTS (200 HTTP connections per client address): the benchmark scenarios of issue
# 11, target by target. `make bench-catalog` runs it; bench/README.md explains it. Not a
# timed test: it writes bench/results/<date>-<commit>-catalog.md with the command, the
# machine, and per target the measured figure and pass or fail.
#
#   bench/catalog.sh [--quick] [--keep] [--heavy] [--services N] [--instances M]
#
# Targets (numbers of issue 11):
#   1  N services x M instances, srvbridge on demand (default flags), then --prefetch:
#      time to /readyz 200; SERVFAIL/NXDOMAIN after ready; p99 latency once every name
#      was asked, at rest under load and while the catalog changes; most TCP connections to Consul at any moment (sampled every 100 ms);
#      Consul requests/s at rest (srvbridge's counter and the agent's own count)
#   2  inside each run of 1: a check status change, a registration, a deregistration, a
#      new service, a port and an address change, each timed to the DNS answer; and a
#      check change on services nobody asked for BENCH_COLD_SECS
#   3  two replicas on one host, one agent: both ready, identical answers for every name
#   4  (--heavy) 10 000 x 10 on a new agent: RSS, sync time, Consul requests under 1 %/s
#      check churn against at rest
#   5  target 1 again over HTTPS (agent with TLS, CA and certificate made in the work
#      directory by `consul tls`): connections (<= 8) and whether HTTP/2 was negotiated
#   7  recovery from a Consul freeze (SIGSTOP, SIGCONT) under load
#   floor  inside each run of 1 and 5, right before the load at rest: the same load (same
#      arguments, length and names) against Knot DNS serving the same names from a static
#      zone (`benchctl gen` from the catalog; one UDP worker, as bench/run.sh runs it), so
#      that the report shows what this machine and load generator cost without srvbridge
#
# Every setting is an environment variable (flags win). Defaults; QUICK=1 in brackets.
#   BENCH_SERVICES=2000 BENCH_INSTANCES=5 [200 x 3]   the catalog, one fake node per service
#   BENCH_CHECKS=0.9              share of instances with a catalog check (the rest: none)
#   BENCH_CLIENTS=16 BENCH_INTERVAL=5 BENCH_SWEEP_QPS=1000
#                                 the load: 16 UDP sockets each asking every name once per
#                                 5 s, plus one socket sweeping all names at 1000 q/s
#   BENCH_READY_SECS=120 [30]     longest wait for /readyz 200 (the target is 30 s); the
#                                 load starts after it either way
#   BENCH_STEADY_SECS=90 [10]     at rest under load: no catalog change, the load running
#   BENCH_IDLE_SECS=90 [10]       at rest, idle: no change, no query (90 s: longer than
#                                 today's 60 s blocking wait)
#   BENCH_COLD=20 [10]            the last services are the cold set: asked once after
#                                 ready, then by nobody, not even the load
#   BENCH_COLD_SECS=600 [30]      the cold wait ("nobody asked for 10 minutes")
#   BENCH_PROP_SAMPLES=30 [5]     changes per kind; BENCH_PROP_BUDGET=300 [60]: no new
#                                 change after that many seconds (10 s deadline each)
#   BENCH_FLOOR=1                 the Knot floor (0 skips it); without knotd it is installed
#                                 when running as root (apt-get, as bench/run.sh does),
#                                 else skipped with a message
#   BENCH_MODES="ondemand prefetch"   the runs of target 1 (ondemand: no extra flag)
#   BENCH_TLS_MODES="ondemand prefetch"   the runs of target 5 ("" skips target 5)
#   BENCH_SB_FLAGS=""             extra flags for every srvbridge (e.g. --consul-max-conns 16)
#   BENCH_REPLICAS=1 BENCH_REPLICA_FLAGS=--prefetch      target 3 (0 skips)
#   BENCH_FREEZE=1 BENCH_FREEZE_SECS=60 [10] BENCH_FREEZE_PRE=10 [3] BENCH_FREEZE_POST=30 [10]
#   BENCH_FREEZE_QPS=2000 BENCH_FREEZE_FLAGS=--prefetch  target 7 on the target-1 catalog,
#                                 or on the heavy one with --heavy
#   BENCH_HEAVY=0 BENCH_HEAVY_SERVICES=10000 BENCH_HEAVY_INSTANCES=10 BENCH_HEAVY_FLAGS=--prefetch
#   BENCH_HEAVY_REST=90 BENCH_HEAVY_CHURN=60               target 4 (about 10 more minutes)
#   BENCH_OUT=bench/results BENCH_SRC=worktree|head BENCH_KEEP=1 (keep the work directory)
#
# Runtime on 2 shared cores: against the design of one blocking query per service, whose
# failing phases run into their time budgets, QUICK=1 about 12 minutes, the defaults about
# 80 (each run of target 1 or 5 lasts the cold wait plus about 7 minutes), and
# BENCH_TLS_MODES=prefetch BENCH_PROP_BUDGET=180 52; against the change feed QUICK=1
# about 4 minutes, the defaults about 45 (the cold waits). The Knot floor adds the length
# of the load at rest to each run: about 20 s with QUICK=1, 100 s with the defaults.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
export PATH=$PATH:/usr/local/go/bin

given=$(for v in QUICK ${!BENCH_*}; do [[ -z ${!v:-} ]] || printf '%s=%q ' "$v" "${!v}"; done)
flags=$( (($# == 0)) || printf ' %q' "$@")
invocation="${given}bench/catalog.sh$flags"
while (($#)); do
	case $1 in
	-h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	--quick) QUICK=1; shift ;;
	--keep) BENCH_KEEP=1; shift ;;
	--heavy) BENCH_HEAVY=1; shift ;;
	--services | --instances)
		(($# >= 2)) || { echo "catalog: $1 wants a value" >&2; exit 2; }
		name=${1#--}
		printf -v "BENCH_${name^^}" '%s' "$2"
		shift 2
		;;
	*) echo "catalog: unknown argument $1 (try --help)" >&2; exit 2 ;;
	esac
done
quick=${QUICK:-0}
if [[ $quick == 1 ]]; then q() { printf '%s' "$1"; }; else q() { printf '%s' "$2"; }; fi
services=${BENCH_SERVICES:-$(q 200 2000)}
instances=${BENCH_INSTANCES:-$(q 3 5)}
checks=${BENCH_CHECKS:-0.9}
clients=${BENCH_CLIENTS:-16}
interval=${BENCH_INTERVAL:-5}
sweep=${BENCH_SWEEP_QPS:-1000}
ready_secs=${BENCH_READY_SECS:-$(q 30 120)}
steady_secs=${BENCH_STEADY_SECS:-$(q 10 90)}
idle_secs=${BENCH_IDLE_SECS:-$(q 10 90)}
cold=${BENCH_COLD:-$(q 10 20)}
cold_secs=${BENCH_COLD_SECS:-$(q 30 600)}
prop_samples=${BENCH_PROP_SAMPLES:-$(q 5 30)}
prop_budget=${BENCH_PROP_BUDGET:-$(q 60 300)}
modes=${BENCH_MODES-ondemand prefetch}
tls_modes=${BENCH_TLS_MODES-ondemand prefetch}
extra_flags=${BENCH_SB_FLAGS:-}
replicas=${BENCH_REPLICAS:-1}
replica_flags=${BENCH_REPLICA_FLAGS---prefetch}
freeze=${BENCH_FREEZE:-1}
freeze_secs=${BENCH_FREEZE_SECS:-$(q 10 60)}
freeze_pre=${BENCH_FREEZE_PRE:-$(q 3 10)}
freeze_post=${BENCH_FREEZE_POST:-$(q 10 30)}
freeze_qps=${BENCH_FREEZE_QPS:-2000}
freeze_flags=${BENCH_FREEZE_FLAGS---prefetch}
heavy=${BENCH_HEAVY:-0}
heavy_services=${BENCH_HEAVY_SERVICES:-10000}
heavy_instances=${BENCH_HEAVY_INSTANCES:-10}
heavy_flags=${BENCH_HEAVY_FLAGS---prefetch}
heavy_rest=${BENCH_HEAVY_REST:-$(q 10 90)}
heavy_churn=${BENCH_HEAVY_CHURN:-$(q 10 60)}
out_dir=${BENCH_OUT:-bench/results}
src=${BENCH_SRC:-worktree}
keep=${BENCH_KEEP:-0}
floor=${BENCH_FLOOR:-1}
[[ $floor == 0 || $floor == 1 ]] || { echo "catalog: BENCH_FLOOR=$floor: want 0 or 1" >&2; exit 2; }
for v in services instances clients interval sweep ready_secs steady_secs idle_secs cold cold_secs prop_samples prop_budget \
	freeze_secs freeze_pre freeze_post freeze_qps heavy_services heavy_instances heavy_rest heavy_churn; do
	[[ ${!v} =~ ^[0-9]+$ ]] || { echo "catalog: $v=${!v}: want a whole number" >&2; exit 2; }
done
for m in $modes $tls_modes; do
	[[ $m == ondemand || $m == prefetch ]] || { echo "catalog: mode $m: want ondemand or prefetch" >&2; exit 2; }
done
if ((services < 2 || services > 50000 || instances < 1 || instances > 63 || cold >= services || clients > 64 ||
	ready_secs > 600 || steady_secs > 600 || idle_secs > 600 || cold_secs > 1800 || prop_budget > 1800 ||
	freeze_secs > 600 || freeze_pre > 120 || freeze_post > 300 || heavy_services > 50000 || heavy_instances > 63 ||
	heavy_rest > 600 || heavy_churn > 600)); then
	echo "catalog: want 2 <= services <= 50000, 1 <= instances <= 63, cold < services, clients <= 64, phases <= 600 s (cold wait and prop budget <= 1800 s)" >&2
	exit 2
fi

log() {
	printf '[catalog %(%H:%M:%S)T] %s\n' -1 "$*" >&2
	[[ -z ${work:-} ]] || printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >>"$work/setup.txt"
}
die() { log "error: $*"; exit 1; }
now_ns() { date +%s%N; }
t_start=$SECONDS

# --- processes and cleanup -----------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/srvcatalog.XXXXXX")
: >"$work/setup.txt"
declare -A procs=() # pid -> name, every process still to stop
# stop PID: SIGCONT first (it may be the frozen agent), then SIGTERM, SIGKILL after 15 s.
stop() {
	local pid=$1
	kill -CONT "$pid" 2>/dev/null || true
	kill -TERM "$pid" 2>/dev/null || true
	for _ in {1..150}; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	unset "procs[$pid]"
}
cleanup() {
	local rc=$? pid
	for pid in "${!procs[@]}"; do stop "$pid"; done
	((rc == 0)) || tail -n 20 "$work"/*.log "$work"/*/*.log >&2 2>/dev/null || true
	if [[ $keep == 1 || $rc != 0 ]]; then echo "catalog: work directory kept: $work" >&2; else rm -rf "$work"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
bg() { # name command...: start in the background, output to $work/<name>.out; pid in $bg_pid
	local name=$1
	shift
	"$@" >"$work/$name.out" 2>&1 &
	bg_pid=$!
	procs[$bg_pid]=$name
}
# reap PID [term]: wait for a background measurement (first SIGTERM: it writes its
# results and exits) and log its output.
reap() {
	local name=${procs[$1]:-process}
	[[ ${2:-} != term ]] || kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || log "$name ($1) ended with an error"
	unset "procs[$1]"
	tee -a "$work/setup.txt" <"$work/$name.out" >&2 || true
}

# --- build ------------------------------------------------------------------------------
consul=$(deploy/consul/build.sh)
log "building srvbridge ($src) and benchctl"
ctl=$work/benchctl
go build -o "$ctl" ./bench/cmd/benchctl
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
src_dir=$repo version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
src_note="working tree at $commit, $(git status --porcelain --untracked-files=no | grep -vc ' bench/' || true) tracked files outside bench/ modified"
if [[ $src == head ]]; then
	src_dir=$work/src version=$commit src_note="clean export of commit $commit (git archive HEAD)"
	mkdir -p "$src_dir" && git archive --format=tar HEAD | tar -x -C "$src_dir"
elif [[ $src != worktree ]]; then
	die "BENCH_SRC=$src: want worktree or head"
fi
(cd "$src_dir" && go build -trimpath -ldflags "-X main.version=$version -X main.commit=$commit" -o "$work/srvbridge" ./cmd/srvbridge)

read -r p_http p_https p_cdns p_server p_serf_lan p_serf_wan p_dns p_admin p_dns2 p_admin2 p_knot <<<"$("$ctl" ports -n 11)"
consul_addr=127.0.0.1:$p_http
clk=$(getconf CLK_TCK)

# TLS material for target 5, made by Consul's own CLI: a CA and a server certificate
# (its names include localhost and 127.0.0.1).
mkdir -p "$work/tls"
(cd "$work/tls" && "$consul" tls ca create >/dev/null && "$consul" tls cert create -server -dc dc1 >/dev/null)
ca=$work/tls/consul-agent-ca.pem
# No "limits" block: the agent runs with its defaults. Telemetry keeps Prometheus
# series for an hour so that the agent's own request counts can be read (no limit).
cat >"$work/consul.json" <<EOF
{
  "datacenter": "dc1", "node_name": "bench",
  "bind_addr": "127.0.0.1", "client_addr": "127.0.0.1", "advertise_addr": "127.0.0.1",
  "ports": {"http": $p_http, "https": $p_https, "dns": $p_cdns, "server": $p_server,
            "serf_lan": $p_serf_lan, "serf_wan": $p_serf_wan, "grpc": -1, "grpc_tls": -1},
  "tls": {"defaults": {"ca_file": "$ca", "cert_file": "$work/tls/dc1-server-consul-0.pem",
          "key_file": "$work/tls/dc1-server-consul-0-key.pem", "verify_incoming": false, "verify_outgoing": false}},
  "telemetry": {"prometheus_retention_time": "1h", "disable_hostname": true},
  "disable_update_check": true, "log_level": "warn"
}
EOF
grep -q '"limits"' "$work/consul.json" && die "the agent's config must not set limits"
# A single server as production runs one (-server -bootstrap-expect 1, Raft on disk in
# the work directory), not -dev: a dev agent indents every JSON answer, which doubles
# what Consul writes and srvbridge reads on each service read. Each start is a new
# agent with an empty catalog.
start_consul() {
	rm -rf "$work/consul-data"
	"$consul" agent -server -bootstrap-expect 1 -data-dir "$work/consul-data" -config-file "$work/consul.json" >>"$work/consul.log" 2>&1 &
	consul_pid=$!
	procs[$consul_pid]=consul
	echo "$consul_pid" >"$work/consul.pid"
}
meta() { printf '%s=%s\n' "$1" "$2" >>"$work/meta.env"; }
: >"$work/meta.env"

# register N M: the catalog, with a passing catalog check on the BENCH_CHECKS share.
register() {
	"$ctl" register -consul "$consul_addr" -services "$1" -instances "$2" -checks "$checks" -timeout 15m | tee -a "$work/setup.txt"
}
# limits: what the running agent says its limits are (not what we think we set).
limits() {
	local self
	self=$(curl -sf --max-time 5 --interface 127.0.0.2 "http://$consul_addr/v1/agent/self") || die "cannot read /v1/agent/self"
	local h r
	h=$(grep -o '"HTTPMaxConnsPerClient": *[0-9]*' <<<"$self" | grep -o '[0-9]*$')
	r=$(grep -o '"RPCMaxConnsPerClient": *[0-9]*' <<<"$self" | grep -o '[0-9]*$')
	[[ $h == 200 ]] || die "the agent reports http_max_conns_per_client=$h, not the default 200"
	echo "the defaults: the config sets no limits; the agent reports limits.http_max_conns_per_client $h, limits.rpc_max_conns_per_client $r (/v1/agent/self)"
}

log "consul server agent on $consul_addr (HTTPS on $p_https)"
start_consul
register "$services" "$instances"
limits_line=$(limits)
log "Consul limits: $limits_line"
# The floor's Knot: knotd, installed the way bench/run.sh installs it; the zone from the
# catalog as registered (before any propagation sample changes it), every name the load
# asks answered NOERROR. floor_note says why there is no floor.
floor_note=
start_knot() {
	local knotd
	knotd=$(command -v knotd || echo /usr/sbin/knotd)
	if [[ ! -x $knotd ]]; then
		if ((EUID != 0)); then
			floor_note="knotd is not installed (sudo apt-get install -y knot)"
			return 1
		fi
		log "installing knot for the floor"
		if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq knot >/dev/null; }; then
			floor_note="knotd is not installed and apt-get install knot failed"
			return 1
		fi
		knotd=$(command -v knotd || echo /usr/sbin/knotd)
	fi
	"$ctl" gen -consul "$consul_addr" -zone "$work/consul.zone" -queries "$work/floor-queries.txt" -nx-share 0 \
		-knot-conf "$work/knot.conf" -knot-listen "127.0.0.1@$p_knot" | tee -a "$work/setup.txt" >&2 ||
		{ floor_note="benchctl gen failed"; return 1; }
	bg knot "$knotd" -c "$work/knot.conf"
	# Readiness, and the check that Knot answers the names the load asks (SRV and A of
	# <svc>.service.consul, the first and the last asked) with NOERROR and records.
	local last
	last=$(printf 'svc-%05d' $((services - cold - 1)))
	if ! "$ctl" probe -addr "127.0.0.1:$p_knot" -label knot -tries 100 "svc-00000.service.consul SRV" "svc-00000.service.consul A" \
		"$last.service.consul SRV" "$last.service.consul A" >"$work/knot-probe.txt" 2>&1; then
		floor_note="knotd did not answer: $(tail -n 1 "$work/knot-probe.txt")"
		stop "$bg_pid"
		return 1
	fi
	tee -a "$work/setup.txt" <"$work/knot-probe.txt" >&2
	if grep -v ' NOERROR answer=[1-9]' "$work/knot-probe.txt" | grep -q .; then
		floor_note="Knot does not answer the load's names with NOERROR and records (see the log)"
		return 1
	fi
	meta knot_desc "Knot DNS $("$knotd" -V | sed -n 's/.*version //p') (one UDP worker, as bench/run.sh runs it) serving the same names from a static zone that \`benchctl gen\` wrote from the catalog right after registration"
}
if [[ $floor == 1 ]]; then
	start_knot || { floor=0; log "no floor: $floor_note"; }
else
	floor_note="BENCH_FLOOR=0"
fi
meta floor_note "$floor_note"
agent_h2=$(curl -s -o /dev/null --max-time 5 --interface 127.0.0.2 --http2 --cacert "$ca" -w '%{http_version}' "https://127.0.0.1:$p_https/v1/status/leader" || echo "?")
log "the agent's HTTPS port answers curl --http2 with HTTP version $agent_h2"

sb_pids=()
# start_sb DIR DNS ADMIN SCHEME FLAGS...: one srvbridge, its log in DIR; pid in $sb_pid.
start_sb() {
	local dir=$1 dns=$2 admin=$3 scheme=$4
	shift 4
	local addr=$consul_addr
	local -a env=()
	if [[ $scheme == https ]]; then
		addr=https://127.0.0.1:$p_https
		env=(CONSUL_CACERT="$ca")
	fi
	# shellcheck disable=SC2086 # BENCH_SB_FLAGS is a list of flags
	env "${env[@]}" "$work/srvbridge" --consul-addr "$addr" --dns-addr "127.0.0.1:$dns" --http-addr "127.0.0.1:$admin" \
		--upstream none --log-level warn "$@" $extra_flags >>"$dir/srvbridge.log" 2>&1 &
	sb_pid=$!
	procs[$sb_pid]=srvbridge
}
mode_flags() { [[ $1 == prefetch ]] && echo --prefetch || true; }
sleep_until() { local d=$(($1 - $(now_ns))); ((d <= 0)) || sleep "$(awk -v d="$d" 'BEGIN { printf "%.3f", d / 1e9 }')"; }

# --- targets 1, 2 and 5: one run --------------------------------------------------------
# run SCHEME MODE: srvbridge alone against the catalog, under the gateway load.
run() {
	local scheme=$1 mode=$2 label="$1-$2"
	local dir=$work/run-$label port=$p_http
	[[ $scheme == https ]] && port=$p_https
	mkdir -p "$dir"
	local -a fl
	read -ra fl <<<"$(mode_flags "$mode")"
	meta "run_${label}_flags" "--consul-addr $scheme://127.0.0.1:<port> --upstream none --log-level warn ${fl[*]} $extra_flags"
	"$ctl" quiet -wait 10s | sed 's/^/quiet: /' | tee -a "$work/setup.txt" >&2
	log "run $label: srvbridge ${fl[*]} $extra_flags over $scheme"
	local t0
	t0=$(now_ns)
	start_sb "$dir" "$p_dns" "$p_admin" "$scheme" "${fl[@]}"
	local sb=$sb_pid
	bg conns "$ctl" conns -pid "srvbridge=$sb" -port "$port" -out "$dir/conns.json"
	local conns_pid=$bg_pid
	"$ctl" readyz -admin "127.0.0.1:$p_admin" -since "$t0" -timeout "${ready_secs}s" -out "$dir/ready.json" | tee -a "$work/setup.txt"
	kill -0 "$sb" 2>/dev/null || die "srvbridge ($label) exited; see $dir/srvbridge.log"
	local first_cold=$((services - cold))
	local -a load_args=(-services "$services" -exclude "$cold" -clients "$clients" -interval "${interval}s" -sweep "$sweep")
	local steady_len=$((interval + 2 + steady_secs))s
	if [[ $floor == 1 ]]; then
		# Not at the same time as srvbridge's load: right before it, srvbridge idle.
		log "run $label: the floor, the same load against Knot for $steady_len"
		"$ctl" catalog-load -addr "127.0.0.1:$p_knot" "${load_args[@]}" -secs "$steady_len" -out "$dir/load-floor.json" 2>&1 |
			sed 's/^/knot: /' | tee -a "$work/setup.txt" >&2 || log "the floor load ($label) failed"
	fi
	"$ctl" catalog-prop -touch -dns "127.0.0.1:$p_dns" -first "$first_cold" -count "$cold" -label "cold set touched" -out "$dir/touch.json" | tee -a "$work/setup.txt"
	local cold_due=$(($(now_ns) + cold_secs * 1000000000))
	# The same load in two parts, so that latency at rest and latency while the catalog
	# changes (each change a sweep of the held services) are reported apart.
	load_args+=(-addr "127.0.0.1:$p_dns")
	bg load "$ctl" catalog-load "${load_args[@]}" -secs "$steady_len" -out "$dir/load-steady.json"
	local load_pid=$bg_pid
	sleep $((interval + 2))
	log "run $label: at rest under load for ${steady_secs}s"
	bg agentreq "$ctl" consul-requests -consul "$consul_addr" -secs "${steady_secs}s" -label "steady $label" -out "$dir/steady-agent.json"
	local a_pid=$bg_pid
	"$ctl" observe -admin "127.0.0.1:$p_admin" -pid "srvbridge=$sb" -pid "consul=$consul_pid" -consul-port "$port" \
		-secs "${steady_secs}s" -label steady -clk-tck "$clk" -out "$dir/steady.jsonl" | tee -a "$work/setup.txt" >&2
	reap "$a_pid"
	reap "$load_pid"
	# Every name was asked in the first part: no warm-up left to skip.
	bg load "$ctl" catalog-load "${load_args[@]}" -warm 1ms -secs 1h -out "$dir/load.json"
	load_pid=$bg_pid
	log "run $label: propagation, $prop_samples changes per kind (at most ${prop_budget}s)"
	"$ctl" catalog-prop -consul "$consul_addr" -dns "127.0.0.1:$p_dns" -instances "$instances" -first 0 -count "$first_cold" \
		-samples "$prop_samples" -budget "${prop_budget}s" -label "propagation $label" -out "$dir/prop-hot.json" | tee -a "$work/setup.txt" ||
		log "propagation ($label) failed"
	log "run $label: waiting for the cold set's ${cold_secs}s"
	sleep_until "$cold_due"
	"$ctl" catalog-prop -consul "$consul_addr" -dns "127.0.0.1:$p_dns" -instances "$instances" -first "$first_cold" -count "$cold" \
		-each -kinds check -budget "${prop_budget}s" -label "cold $label" -seed 12 -out "$dir/prop-cold.json" | tee -a "$work/setup.txt" ||
		log "cold propagation ($label) failed"
	reap "$load_pid" term
	log "run $label: idle for ${idle_secs}s"
	bg agentreq "$ctl" consul-requests -consul "$consul_addr" -secs "${idle_secs}s" -label "idle $label" -out "$dir/idle-agent.json"
	a_pid=$bg_pid
	"$ctl" observe -admin "127.0.0.1:$p_admin" -pid "srvbridge=$sb" -pid "consul=$consul_pid" -consul-port "$port" \
		-secs "${idle_secs}s" -label idle -clk-tck "$clk" -out "$dir/idle.jsonl" | tee -a "$work/setup.txt" >&2
	reap "$a_pid"
	reap "$conns_pid" term
	if [[ $scheme == https ]]; then
		# Answers that came over HTTP/2, and requests made: srvbridge's own counters.
		curl -s --max-time 5 "http://127.0.0.1:$p_admin/metrics" |
			awk '/^srvbridge_consul_http2_responses_total /{h=$2} /^srvbridge_consul_requests_total\{/{n+=$2} END{printf "%d %d\n", h, n}' >"$dir/h2.txt" || true
	fi
	stop "$sb"
}

runs=""
for m in $modes; do run http "$m"; runs+=" http-$m"; done
for m in $tls_modes; do run https "$m"; runs+=" https-$m"; done
meta runs "$runs"

# --- target 3: two replicas ---------------------------------------------------------------
if [[ $replicas == 1 ]]; then
	dir=$work/replicas
	mkdir -p "$dir/a" "$dir/b"
	read -ra rfl <<<"$replica_flags"
	log "target 3: two replicas, srvbridge $replica_flags"
	t0=$(now_ns)
	start_sb "$dir/a" "$p_dns" "$p_admin" http "${rfl[@]}"
	sa=$sb_pid
	start_sb "$dir/b" "$p_dns2" "$p_admin2" http "${rfl[@]}"
	sb2=$sb_pid
	bg conns "$ctl" conns -pid "replica A=$sa" -pid "replica B=$sb2" -port "$p_http" -out "$dir/conns.json"
	conns_pid=$bg_pid
	bg readyz "$ctl" readyz -admin "127.0.0.1:$p_admin" -since "$t0" -timeout "${ready_secs}s" -out "$dir/ready-a.json"
	ra=$bg_pid
	"$ctl" readyz -admin "127.0.0.1:$p_admin2" -since "$t0" -timeout "${ready_secs}s" -out "$dir/ready-b.json" | tee -a "$work/setup.txt"
	reap "$ra"
	"$ctl" catalog-compare -a "127.0.0.1:$p_dns" -b "127.0.0.1:$p_dns2" -services "$services" -out "$dir/compare.json" | tee -a "$work/setup.txt"
	reap "$conns_pid" term
	stop "$sa"
	stop "$sb2"
	meta replica_flags "$replica_flags $extra_flags"
fi

# --- target 7: freeze -------------------------------------------------------------------
# freeze_run N M: under load, SIGSTOP the agent for freeze_secs, then time one change.
freeze_run() {
	local n=$1 m=$2 dir=$work/freeze
	mkdir -p "$dir"
	local -a ffl
	read -ra ffl <<<"$freeze_flags"
	log "target 7: ${freeze_secs}s freeze at $n x $m, srvbridge $freeze_flags"
	start_sb "$dir" "$p_dns" "$p_admin" http "${ffl[@]}"
	local sb=$sb_pid
	"$ctl" readyz -admin "127.0.0.1:$p_admin" -timeout "${ready_secs}s" -out "$dir/ready.json" | tee -a "$work/setup.txt"
	bg load "$ctl" load -addr "127.0.0.1:$p_dns" -admin "127.0.0.1:$p_admin" -services "$n" -qps "$freeze_qps" \
		-secs $((freeze_pre + freeze_secs + freeze_post))s -pid "srvbridge=$sb" -pidfile "consul=$work/consul.pid" \
		-clk-tck "$clk" -out "$dir/load.json"
	local load_pid=$bg_pid
	sleep "$freeze_pre"
	kill -STOP "$consul_pid"
	sleep "$freeze_secs"
	local up
	up=$(now_ns)
	kill -CONT "$consul_pid"
	meta freeze_up_ms $((up / 1000000))
	"$ctl" change -consul "$consul_addr" -dns "127.0.0.1:$p_dns" -instances "$m" -instance $((n * m / 2 + 1)) \
		-since "$up" -label "change after the freeze" -out "$dir/change.json" 2>&1 | tee -a "$work/setup.txt" || log "change after the freeze failed"
	reap "$load_pid"
	stop "$sb"
	meta freeze_secs "$freeze_secs"
	meta freeze_post "$freeze_post"
	meta freeze_services "$n"
	meta freeze_instances "$m"
	meta freeze_flags "$freeze_flags $extra_flags"
}
if [[ $freeze == 1 && $heavy != 1 ]]; then freeze_run "$services" "$instances"; fi

# --- target 4: heavy ----------------------------------------------------------------------
if [[ $heavy == 1 ]]; then
	dir=$work/heavy
	mkdir -p "$dir"
	log "target 4: a new agent with $heavy_services x $heavy_instances"
	stop "$consul_pid"
	start_consul
	register "$heavy_services" "$heavy_instances"
	limits >/dev/null
	read -ra hfl <<<"$heavy_flags"
	t0=$(now_ns)
	start_sb "$dir" "$p_dns" "$p_admin" http "${hfl[@]}"
	sb=$sb_pid
	bg conns "$ctl" conns -pid "srvbridge=$sb" -port "$p_http" -out "$dir/conns.json"
	conns_pid=$bg_pid
	total=$((heavy_services * heavy_instances))
	if "$ctl" wait -admin "127.0.0.1:$p_admin" -services $((heavy_services + 1)) -instances $((total + 3)) -timeout $((120 + heavy_services / 20))s | tee -a "$work/setup.txt"; then
		printf '{"ready": true, "secs": %s, "last": "synced"}\n' "$(awk -v a="$t0" -v b="$(now_ns)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')" >"$dir/sync.json"
	else
		printf '{"ready": false, "secs": %s, "last": "not every service and instance served"}\n' "$(awk -v a="$t0" -v b="$(now_ns)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')" >"$dir/sync.json"
	fi
	obs() { "$ctl" observe -admin "127.0.0.1:$p_admin" -pid "srvbridge=$sb" -pid "consul=$consul_pid" -consul-port "$p_http" \
		-secs "$2s" -label "$1" -clk-tck "$clk" -out "$dir/observe.jsonl" "${@:3}" | tee -a "$work/setup.txt" >&2; }
	obs after-sync 0
	log "target 4: at rest for ${heavy_rest}s"
	obs rest "$heavy_rest"
	rate=$(((total + 99) / 100))
	log "target 4: churn, $rate check changes/s for ${heavy_churn}s"
	bg churn "$ctl" churn -consul "$consul_addr" -dns "127.0.0.1:$p_dns" -services "$heavy_services" -instances "$heavy_instances" \
		-rate "$rate" -secs "${heavy_churn}s" -sample 20 -out "$dir/churn.json"
	churn_pid=$bg_pid
	obs churn "$heavy_churn" -pid "churn=$churn_pid"
	reap "$churn_pid"
	reap "$conns_pid" term
	stop "$sb"
	meta heavy_services "$heavy_services"
	meta heavy_instances "$heavy_instances"
	meta heavy_flags "$heavy_flags $extra_flags"
	if [[ $freeze == 1 ]]; then freeze_run "$heavy_services" "$heavy_instances"; fi
fi

# --- report ------------------------------------------------------------------------------
date_utc=$(date -u +%Y-%m-%d)
mkdir -p "$out_dir"
base=$out_dir/$date_utc-$commit-catalog
{
	"$ctl" machine
	echo "date=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "commit=$commit"
	echo "source=$src_note"
	echo "go=$(go env GOVERSION)"
	echo "consul=$("$consul" version | head -n1)"
	echo "srvbridge=$("$work/srvbridge" --version 2>&1 | head -n1)"
	echo "command=${BENCH_COMMAND:-$invocation}"
	echo "quick=$quick"
	echo "services=$services"
	echo "instances=$instances"
	echo "checks_share=$checks"
	echo "cold_secs=$cold_secs"
	echo "consul_desc=a single server agent (\`-server -bootstrap-expect 1\`, Raft on disk in the work directory; not \`-dev\`, which indents every JSON answer), HTTP and HTTPS (CA and server certificate from \`consul tls\`; the agent answers curl --http2 with HTTP/$agent_h2), \`log_level warn\`, telemetry \`prometheus_retention_time 1h\` for its own request counts"
	echo "consul_limits=$limits_line"
	echo "load_desc=$clients UDP sockets each asking every name once per $interval s (SRV and A in alternate rounds), plus one socket sweeping all names at $sweep q/s; the last $cold services (the cold set) excluded; a query unanswered after 1 s is lost (a reply up to 2 s after the last query is still counted as late, by rcode)"
	echo "elapsed_s=$((SECONDS - t_start))"
} >>"$work/meta.env"
"$ctl" catalog-report -work "$work" -md "$base.md" >/dev/null
log "results: $base.md ($((SECONDS - t_start)) s)"
