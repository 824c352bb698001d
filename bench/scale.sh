#!/usr/bin/env bash
# srvbridge at scale: a large catalog in a real Consul agent, health churn, and Consul
# outages under load, on this machine, over loopback. `make bench-scale` runs it;
# bench/README.md explains what it measures. Not a timed test: a scenario that writes
# bench/results/<date>-<commit>-scale.md.
#
#   bench/scale.sh [--services N] [--instances M] [--quick] [--keep]
#
# Every setting is also an environment variable (flags win). The defaults take about
# 10 minutes on 2 cores; QUICK=1 (500 x 4, short phases) about 2.
#
#   BENCH_SERVICES=10000 BENCH_INSTANCES=10  catalog: N services x M instances, one fake
#                                            node per service (benchctl register)
#   BENCH_REST_SECS=90                       window without changes or queries: Consul
#                                            requests/s and CPU at rest (longer than
#                                            srvbridge's 60 s blocking wait, so that every
#                                            idle watch's request ends once inside it)
#   BENCH_CHURN_RATE=N*M/100                 check changes per second (1% of instances)
#   BENCH_CHURN_SECS=60                      how long the churn lasts
#   BENCH_CHURN_SAMPLE=20                    changes per second timed to the DNS answer
#   BENCH_CHURN_DEADLINE=10s                 a timed change not seen by then: "not seen"
#   BENCH_OUTAGE_SECS=60                     how long Consul is unreachable, per outage
#   BENCH_OUTAGE_QPS=2000                    query rate of the client during the outages
#   BENCH_OUTAGE_PRE=10 BENCH_OUTAGE_POST=30 seconds of load before and after each outage
#   BENCH_RESTART=1                          also kill -9 and restart a non-dev Consul
#                                            server with a persistent -data-dir (0: skip)
#   BENCH_QUIET_WAIT=10 BENCH_QUIET_PCT=15   before each measured phase, wait up to 10 s
#                                            for the CPUs to be under 15% busy
#   BENCH_OUT=bench/results                  where the Markdown goes
#   BENCH_SRC=worktree                       build srvbridge from the working tree, or
#                                            "head": from a clean export of the last commit
#   BENCH_KEEP=1                             keep the work directory (logs, JSON)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
export PATH=$PATH:/usr/local/go/bin

# The exact command for the results: the settings from the environment, then the flags.
given=$(for v in QUICK ${!BENCH_*}; do [[ -z ${!v:-} ]] || printf '%s=%q ' "$v" "${!v}"; done)
flags=$( (($# == 0)) || printf ' %q' "$@")
invocation="${given}bench/scale.sh$flags"
# Each flag is its BENCH_* variable under another name: --services 500 is BENCH_SERVICES=500.
while (($#)); do
	case $1 in
	-h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	--quick) QUICK=1; shift ;;
	--keep) BENCH_KEEP=1; shift ;;
	--services | --instances)
		(($# >= 2)) || { echo "scale: $1 wants a value" >&2; exit 2; }
		name=${1#--}
		printf -v "BENCH_${name^^}" '%s' "$2"
		shift 2
		;;
	*) echo "scale: unknown argument $1 (try --help)" >&2; exit 2 ;;
	esac
done
quick=${QUICK:-0}
services=${BENCH_SERVICES:-10000}
instances=${BENCH_INSTANCES:-10}
if [[ $quick == 1 ]]; then
	services=${BENCH_SERVICES:-500} instances=${BENCH_INSTANCES:-4}
	rest_secs=${BENCH_REST_SECS:-5} churn_secs=${BENCH_CHURN_SECS:-10}
	outage_secs=${BENCH_OUTAGE_SECS:-10} outage_pre=${BENCH_OUTAGE_PRE:-3} outage_post=${BENCH_OUTAGE_POST:-7}
fi
rest_secs=${rest_secs:-${BENCH_REST_SECS:-90}}
churn_secs=${churn_secs:-${BENCH_CHURN_SECS:-60}}
churn_rate=${BENCH_CHURN_RATE:-$(((services * instances + 99) / 100))}
churn_sample=${BENCH_CHURN_SAMPLE:-20}
churn_deadline=${BENCH_CHURN_DEADLINE:-10s}
churn_conc=4
outage_secs=${outage_secs:-${BENCH_OUTAGE_SECS:-60}}
outage_pre=${outage_pre:-${BENCH_OUTAGE_PRE:-10}}
outage_post=${outage_post:-${BENCH_OUTAGE_POST:-30}}
outage_qps=${BENCH_OUTAGE_QPS:-2000}
restart=${BENCH_RESTART:-1}
quiet_wait=${BENCH_QUIET_WAIT:-10}
quiet_pct=${BENCH_QUIET_PCT:-15}
out_dir=${BENCH_OUT:-bench/results}
src=${BENCH_SRC:-worktree}
keep=${BENCH_KEEP:-0}
for v in services instances rest_secs churn_secs churn_rate churn_sample outage_secs outage_pre outage_post outage_qps quiet_pct; do
	[[ ${!v} =~ ^[0-9]+$ ]] || { echo "scale: $v=${!v}: want a whole number" >&2; exit 2; }
done
if ((services < 1 || services > 50000 || instances < 1 || instances > 63 || rest_secs > 600 || churn_secs > 600 ||
	outage_secs > 600 || outage_pre > 120 || outage_post > 300 || quiet_wait > 60)); then
	echo "scale: want 1 <= services <= 50000, 1 <= instances <= 63, phases <= 600 s, quiet wait <= 60 s" >&2
	exit 2
fi

log() {
	printf '[scale %(%H:%M:%S)T] %s\n' -1 "$*" >&2
	[[ -z ${work:-} ]] || printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >>"$work/setup.txt"
}
die() { log "error: $*"; exit 1; }
now_ns() { date +%s%N; }
secs_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }
t_start=$SECONDS

# --- processes and cleanup -----------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/srvscale.XXXXXX")
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
# On exit, also on failure or Ctrl-C: stop everything still running; after a failure
# show the end of each log (tail names the files) and keep the work directory.
cleanup() {
	local rc=$? pid
	for pid in "${!procs[@]}"; do stop "$pid"; done
	((rc == 0)) || tail -n 20 "$work"/*.log >&2 || true
	if [[ $keep == 1 || $rc != 0 ]]; then echo "scale: work directory kept: $work" >&2; else rm -rf "$work"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
alive() { kill -0 "$1" 2>/dev/null || die "${procs[$1]:-process} (pid $1) is not running"; }

# --- build ------------------------------------------------------------------------------
consul=$(deploy/consul/build.sh)
log "building srvbridge ($src) and benchctl"
ctl=$work/benchctl
go build -o "$ctl" ./bench/cmd/benchctl
# srvbridge from the working tree, or (BENCH_SRC=head) from a clean export of the last
# commit, so that the results name exactly what they measured.
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

read -r p_http p_cdns p_server p_serf_lan p_serf_wan p_grpc p_sb_dns p_sb_admin <<<"$("$ctl" ports -n 8)"
consul_addr=127.0.0.1:$p_http sb_dns=127.0.0.1:$p_sb_dns sb_admin=127.0.0.1:$p_sb_admin
total=$((services * instances))
# srvbridge holds one blocking query per watched service, each its own connection.
cat >"$work/consul.json" <<EOF
{
  "datacenter": "dc1", "node_name": "bench",
  "bind_addr": "127.0.0.1", "client_addr": "127.0.0.1", "advertise_addr": "127.0.0.1",
  "ports": {"http": $p_http, "https": -1, "dns": $p_cdns, "server": $p_server,
            "serf_lan": $p_serf_lan, "serf_wan": $p_serf_wan, "grpc": $p_grpc, "grpc_tls": -1},
  "disable_update_check": true, "log_level": "warn"
}
EOF
# start_consul dev|server: the dev agent (in-memory) or a single server that keeps its
# state in $work/consul-data across restarts.
start_consul() {
	local -a mode=(-dev)
	[[ $1 == server ]] && mode=(-server -bootstrap-expect 1 -data-dir "$work/consul-data")
	"$consul" agent "${mode[@]}" -config-file "$work/consul.json" >>"$work/consul.log" 2>&1 &
	consul_pid=$!
	procs[$consul_pid]=consul
	echo "$consul_pid" >"$work/consul.pid"
}
sb_flags=(--prefetch --upstream none --log-level warn)
start_srvbridge() {
	"$work/srvbridge" --consul-addr "$consul_addr" --dns-addr "$sb_dns" --http-addr "$sb_admin" "${sb_flags[@]}" \
		>>"$work/srvbridge.log" 2>&1 &
	sb_pid=$!
	procs[$sb_pid]=srvbridge
}
sb_wait() { # timeout: until /metrics show every service and instance (+ bench-flip, 3 instances)
	"$ctl" wait -admin "$sb_admin" -services $((services + 1)) -instances $((total + 3)) -timeout "$1" | tee -a "$work/setup.txt"
}
quiet() { "$ctl" quiet -wait "${quiet_wait}s" -pct "$quiet_pct" | sed 's/^/quiet: /' | tee -a "$work/setup.txt" >&2; }
observe() { # label secs [label=pid...]
	local label=$1 secs=$2
	shift 2
	alive "$sb_pid"
	"$ctl" observe -admin "$sb_admin" -pid "srvbridge=$sb_pid" -pid "consul=$consul_pid" "${@/#/-pid=}" -consul-port "$p_http" \
		-secs "${secs}s" -label "$label" -clk-tck "$(getconf CLK_TCK)" -out "$work/observe.jsonl" | tee -a "$work/setup.txt" >&2
}
meta() { printf '%s=%s\n' "$1" "$2" >>"$work/meta.env"; }
: >"$work/meta.env"

# --- 1. scale: registration and initial sync -------------------------------------------
log "consul dev agent on $consul_addr; registering $services services x $instances instances"
start_consul dev
t0=$(now_ns)
"$ctl" register -consul "$consul_addr" -services "$services" -instances "$instances" -timeout 15m | tee -a "$work/setup.txt"
meta register_s "$(secs_since "$t0")"
alive "$consul_pid"

quiet
log "starting srvbridge: ${sb_flags[*]}"
t0=$(now_ns)
start_srvbridge
"$ctl" firstanswer -addr "$sb_dns" -since "$t0" -timeout 15m >"$work/first.txt" 2>>"$work/setup.txt" &
first_pid=$!
sb_wait $((120 + services / 20))s
meta sync_s "$(secs_since "$t0")"
wait "$first_pid" || die "no first answer"
meta first_answer_s "$(<"$work/first.txt")"
observe after-sync 0

quiet
log "at rest for ${rest_secs}s"
observe rest "$rest_secs"

# --- 2. churn ---------------------------------------------------------------------------
quiet
log "churn: $churn_rate check changes/s for ${churn_secs}s, $churn_sample/s timed"
"$ctl" churn -consul "$consul_addr" -dns "$sb_dns" -services "$services" -instances "$instances" -rate "$churn_rate" \
	-secs "${churn_secs}s" -sample "$churn_sample" -deadline "$churn_deadline" -concurrency "$churn_conc" \
	-out "$work/churn.json" > >(tee -a "$work/setup.txt") 2>&1 &
churn_pid=$!
procs[$churn_pid]=churn
observe churn "$churn_secs" "churn=$churn_pid"
wait "$churn_pid" || die "churn failed"
unset "procs[$churn_pid]"
sb_wait 5m
observe after-churn 0

# --- 3. outages under load --------------------------------------------------------------
# outage NAME DESCRIPTION FAULT RECOVER: load for pre + outage + post seconds; FAULT at
# pre, RECOVER after the outage, then one change timed to the DNS answer.
outage() {
	local name=$1 desc=$2 fault=$3 recover=$4 up
	quiet
	log "outage $name: $desc"
	meta "${name}_desc" "$desc"
	"$ctl" load -addr "$sb_dns" -admin "$sb_admin" -services "$services" -qps "$outage_qps" \
		-secs $((outage_pre + outage_secs + outage_post))s -pid "srvbridge=$sb_pid" -pidfile "consul=$work/consul.pid" \
		-clk-tck "$(getconf CLK_TCK)" -out "$work/load-$name.json" > >(tee -a "$work/setup.txt") 2>&1 &
	local load_pid=$!
	procs[$load_pid]=load
	sleep "$outage_pre"
	meta "${name}_down_ms" $(($(now_ns) / 1000000))
	$fault
	sleep "$outage_secs"
	up=$(now_ns)
	$recover
	meta "${name}_up_ms" $((up / 1000000))
	"$ctl" change -consul "$consul_addr" -dns "$sb_dns" -instances "$instances" -instance $((total / 2 + 1)) \
		-since "$up" -label "change after $name" -out "$work/change-$name.json" 2>&1 | tee -a "$work/setup.txt" ||
		log "change after $name failed"
	wait "$load_pid" || die "load failed"
	unset "procs[$load_pid]"
	alive "$sb_pid"
}
freeze() { kill -STOP "$consul_pid"; }
thaw() { kill -CONT "$consul_pid"; }
outage sigstop "The dev agent frozen with SIGSTOP for ${outage_secs} s, then SIGCONT: connections stay open and hang (a stalled agent or a network black hole). Catalog: the full ${services} × ${instances}." freeze thaw
sb_wait 5m
observe after-outage 0
outages=(-outage "sigstop:$work/load-sigstop.json:$work/change-sigstop.json")

if [[ $restart == 1 ]]; then
	log "restart phase: a single non-dev Consul server with -data-dir, same catalog"
	stop "$sb_pid"
	stop "$consul_pid"
	start_consul server
	"$ctl" register -consul "$consul_addr" -services "$services" -instances "$instances" -timeout 15m | tee -a "$work/setup.txt"
	start_srvbridge
	sb_wait $((120 + services / 20))s
	kill9() {
		kill -KILL "$consul_pid"
		wait "$consul_pid" 2>/dev/null || true
		unset "procs[$consul_pid]"
	}
	restart_consul() {
		start_consul server
		log "consul restarted (pid $consul_pid)"
	}
	outage restart "A single Consul server (not dev: \`-server -bootstrap-expect 1 -data-dir\`) killed with SIGKILL, started again ${outage_secs} s later on the same -data-dir, so the catalog survives; meanwhile connections are refused. Catalog: the full ${services} × ${instances}; *after* counts from the start of the new process, which must first elect itself leader and restore its state." kill9 restart_consul
	sb_wait 5m
	observe after-restart 0
	outages+=(-outage "restart:$work/load-restart.json:$work/change-restart.json")
fi

# --- report ------------------------------------------------------------------------------
date_utc=$(date -u +%Y-%m-%d)
mkdir -p "$out_dir"
base=$out_dir/$date_utc-$commit-scale
{
	"$ctl" machine
	echo "date=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "commit=$commit"
	echo "describe=$version"
	echo "source=$src_note"
	echo "go=$(go env GOVERSION)"
	echo "consul=$("$consul" version | head -n1)"
	echo "srvbridge=$("$work/srvbridge" --version 2>&1 | head -n1)"
	echo "command=${BENCH_COMMAND:-$invocation}"
	echo "services=$services"
	echo "instances=$instances"
	echo "total_instances=$total"
	echo "churn_sample=$churn_sample"
	echo "churn_concurrency=$churn_conc"
	echo "consul_desc=dev agent (server, in-memory Raft) for the scale, churn and SIGSTOP parts, \`log_level warn\`, Consul's limits at their defaults (200 HTTP connections per client address)"
	echo "srvbridge_flags=${sb_flags[*]}"
	echo "elapsed_s=$((SECONDS - t_start))"
} >>"$work/meta.env"
"$ctl" scale-report -meta "$work/meta.env" -obs "$work/observe.jsonl" -churn "$work/churn.json" "${outages[@]}" \
	-setup "$work/setup.txt" -md "$base.md" >/dev/null
log "results: $base.md ($((SECONDS - t_start)) s)"
