#!/usr/bin/env bash
# srvbridge benchmark: srvbridge vs Consul's own DNS vs Knot DNS serving the same
# records, on this machine, over loopback. `make bench` runs it; bench/README.md explains
# the method and its limits.
#
#   bench/run.sh [--services N] [--instances M] [--rounds R] [--quick] [--keep]
#
# Every setting is also an environment variable (flags win); the defaults take about
# 5 minutes on 2 cores (longer on a busy machine), QUICK=1 1-2 minutes.
#
#   BENCH_SERVICES=200 BENCH_INSTANCES=3   synthetic catalog: N services x M instances
#   BENCH_ROUNDS=4                         rounds; each runs every server, order rotated
#                                          (4: each of the four servers takes every place)
#   BENCH_MAX_SECS=15                      seconds of the unthrottled (capacity) run
#   BENCH_FIXED_SECS=8 BENCH_FIXED_QPS=2000  seconds and rate of the latency run
#   BENCH_CLIENTS=4 BENCH_OUTSTANDING=100  dnsperf -c and -q
#   BENCH_FLIPS=100 BENCH_FLIP_GAP=200ms   health flips for the propagation measurement
#   BENCH_SERVER_CPUS=0 BENCH_LOAD_CPUS=1  taskset CPU lists; BENCH_PIN=0 disables pinning
#   BENCH_QUIET_WAIT=10 BENCH_QUIET_PCT=15 before each run, wait up to 10 s for both CPUs
#                                          to be under 15% busy (a shared machine)
#   BENCH_DISTURBED_PCT=20 BENCH_RETRIES=6 repeat a run in which other work took more than
#                                          20% of the server's or dnsperf's CPU (6 repeats
#                                          in all at most; every attempt is reported)
#   BENCH_CONSUL_USE_CACHE=false           Consul dns_config.use_cache
#   BENCH_GOBENCH_N=200000                 go test -benchtime Nx for BenchmarkRespond
#   BENCH_UDP_READER=                      srvbridge --udp-reader (thread or poller); empty
#                                          leaves srvbridge's default (thread)
#   BENCH_POLLER=1                         on Linux, when srvbridge runs its thread reader,
#                                          also bench the same binary with --udp-reader
#                                          poller (the portable path) as a fourth server in
#                                          the same rounds, so the two readers are compared
#                                          under the same conditions; 0 skips it
#   BENCH_OUT=bench/results                where the Markdown and SVG go
#   BENCH_SRC=worktree                     build srvbridge from the working tree, or "head":
#                                          from a clean export of the last commit
#   BENCH_KEEP=1                           keep the work directory (logs, raw dnsperf output)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
export PATH=$PATH:/usr/local/go/bin

quick=${QUICK:-0}
services=${BENCH_SERVICES:-200}
instances=${BENCH_INSTANCES:-3}
rounds=${BENCH_ROUNDS:-4}
max_secs=${BENCH_MAX_SECS:-15}
fixed_secs=${BENCH_FIXED_SECS:-8}
fixed_qps=${BENCH_FIXED_QPS:-2000}
clients=${BENCH_CLIENTS:-4}
outstanding=${BENCH_OUTSTANDING:-100}
flips=${BENCH_FLIPS:-100}
flip_gap=${BENCH_FLIP_GAP:-200ms}
pin=${BENCH_PIN:-1}
server_cpus=${BENCH_SERVER_CPUS:-0}
load_cpus=${BENCH_LOAD_CPUS:-1}
use_cache=${BENCH_CONSUL_USE_CACHE:-false}
gobench_n=${BENCH_GOBENCH_N:-200000}
udp_reader=${BENCH_UDP_READER:-}
poller=${BENCH_POLLER:-1}
out_dir=${BENCH_OUT:-bench/results}
keep=${BENCH_KEEP:-0}
src=${BENCH_SRC:-worktree}
quiet_wait=${BENCH_QUIET_WAIT:-10}
disturbed_pct=${BENCH_DISTURBED_PCT:-20}
retries=${BENCH_RETRIES:-6}
idle_secs=5
quiet_pct=${BENCH_QUIET_PCT:-15}
# The exact command, for the results: the settings given in the environment, then the flags.
invocation=$(
	for v in QUICK ${!BENCH_*}; do [[ -n ${!v:-} && $v != BENCH_COMMAND ]] && printf '%s=%q ' "$v" "${!v}"; done
	printf 'bench/run.sh'
	(($#)) && printf ' %q' "$@"
	true
)

while (($#)); do
	case $1 in
	--services) services=$2; shift 2 ;;
	--instances) instances=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--quick) quick=1; shift ;;
	--keep) keep=1; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench: unknown argument $1 (try --help)" >&2; exit 2 ;;
	esac
done
if [[ $quick == 1 ]]; then
	rounds=${BENCH_ROUNDS:-1}
	max_secs=${BENCH_MAX_SECS:-5}
	fixed_secs=${BENCH_FIXED_SECS:-3}
	flips=${BENCH_FLIPS:-20}
	gobench_n=${BENCH_GOBENCH_N:-20000}
	idle_secs=3
	quiet_wait=${BENCH_QUIET_WAIT:-3}
	retries=${BENCH_RETRIES:-1}
fi
if ! [[ $quiet_wait =~ ^[0-9]+$ && $quiet_pct =~ ^[0-9]+$ ]] || ((quiet_wait > 60)); then
	echo "bench: BENCH_QUIET_WAIT (0..60) and BENCH_QUIET_PCT want whole numbers" >&2
	exit 2
fi
for v in disturbed_pct retries; do
	if ! [[ ${!v} =~ ^[0-9]+$ ]] || ((retries > 20)); then
		echo "bench: $v=${!v}: want a whole number (retries <= 20)" >&2
		exit 2
	fi
done
for v in services instances rounds max_secs fixed_secs fixed_qps clients outstanding flips gobench_n; do
	if ! [[ ${!v} =~ ^[1-9][0-9]*$ ]]; then
		echo "bench: $v=${!v}: want a positive integer" >&2
		exit 2
	fi
done
if ((rounds > 20 || max_secs > 120 || fixed_secs > 120 || flips > 2000)); then
	echo "bench: rounds <= 20, max/fixed seconds <= 120 and flips <= 2000 keep the run bounded" >&2
	exit 2
fi

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }
t_start=$SECONDS

# --- 1. tools ----------------------------------------------------------------------
need=()
command -v dnsperf >/dev/null || need+=(dnsperf)
command -v knotd >/dev/null || [[ -x /usr/sbin/knotd ]] || need+=(knot)
command -v taskset >/dev/null || need+=(util-linux)
if ((${#need[@]})); then
	((EUID == 0)) || die "missing ${need[*]}: run as root or: sudo apt-get install -y ${need[*]}"
	log "installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
knotd=$(command -v knotd || echo /usr/sbin/knotd)
consul=$(deploy/consul/build.sh)

# --- processes and cleanup ---------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/srvbench.XXXXXX")
pids=()
cleanup() {
	local rc=$? pid
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do
		for _ in {1..100}; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if ((rc != 0)); then
		for f in "$work"/*.log; do
			[[ -s $f ]] || continue
			echo "---- last lines of $f" >&2
			tail -n 20 "$f" >&2
		done
	fi
	if [[ $keep == 1 || $rc != 0 ]]; then
		echo "bench: work directory kept: $work" >&2
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pinned() {
	local cpus=$1
	shift
	if [[ $pin == 1 ]]; then taskset -c "$cpus" "$@"; else "$@"; fi
}
# Starts a server in the background, pinned; $! is then the server's own pid (taskset
# execs it), which is the pid whose CPU time counts.
start_pinned() {
	local cpus=$1
	shift
	if [[ $pin == 1 ]]; then taskset -c "$cpus" "$@" & else "$@" & fi
}
alive() { kill -0 "$1" 2>/dev/null || die "$2 (pid $1) is not running"; }
# utime + stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15).
cpu_ticks() {
	local s
	s=$(<"/proc/$1/stat")
	s=${s##*) }
	local -a f
	read -r -a f <<<"$s"
	echo $((f[11] + f[12]))
}
# Busy and total clock ticks of a set of CPUs from /proc/stat ("cpu" alone: all CPUs),
# to show how much of the server's and dnsperf's CPUs went to other work during a run:
# this machine may be shared.
cpu_lines() { # taskset list -> /proc/stat line names
	local -a parts lines=()
	local p c
	IFS=, read -r -a parts <<<"$1"
	for p in "${parts[@]}"; do
		if [[ $p == *-* ]]; then
			for ((c = ${p%-*}; c <= ${p#*-}; c++)); do lines+=("cpu$c"); done
		else
			lines+=("cpu$p")
		fi
	done
	echo "${lines[@]}"
}
if [[ $pin == 1 ]]; then
	read -r -a server_cpu_lines <<<"$(cpu_lines "$server_cpus")"
	read -r -a load_cpu_lines <<<"$(cpu_lines "$load_cpus")"
else
	server_cpu_lines=(cpu) load_cpu_lines=(cpu)
fi
cpuset_ticks() { # line names... -> "busy total"
	local name user nice system idle iowait irq softirq steal rest busy=0 total=0 want
	while read -r name user nice system idle iowait irq softirq steal rest; do
		for want in "$@"; do
			[[ $name == "$want" ]] || continue
			busy=$((busy + user + nice + system + irq + softirq + steal))
			total=$((total + user + nice + system + idle + iowait + irq + softirq + steal))
		done
	done </proc/stat
	echo "$busy $total"
}
# Waits (at most quiet_wait seconds) until the server's and dnsperf's CPUs are both under
# quiet_pct % busy over half a second, so that a run does not start in the middle of
# someone else's build on a shared machine. The idle servers themselves count too, so
# the threshold cannot be 0.
wait_quiet() {
	local deadline=$((SECONDS + quiet_wait)) b0 a0 c0 d0 b1 a1 c1 d1 sp lp
	((quiet_wait > 0)) || return 0
	while :; do
		read -r b0 a0 <<<"$(cpuset_ticks "${server_cpu_lines[@]}")"
		read -r c0 d0 <<<"$(cpuset_ticks "${load_cpu_lines[@]}")"
		sleep 0.5
		read -r b1 a1 <<<"$(cpuset_ticks "${server_cpu_lines[@]}")"
		read -r c1 d1 <<<"$(cpuset_ticks "${load_cpu_lines[@]}")"
		sp=$(((b1 - b0) * 100 / (a1 - a0 > 0 ? a1 - a0 : 1)))
		lp=$(((c1 - c0) * 100 / (d1 - d0 > 0 ? d1 - d0 : 1)))
		((sp < quiet_pct && lp < quiet_pct)) && return 0
		if ((SECONDS >= deadline)); then
			log "CPUs still busy (server CPU ${sp}%, dnsperf CPU ${lp}%, idle servers included) after ${quiet_wait}s: running anyway"
			return 0
		fi
	done
}

# --- 2. build ----------------------------------------------------------------------
log "building srvbridge and benchctl"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
go build -o "$work/benchctl" ./bench/cmd/benchctl
ctl=$work/benchctl
# srvbridge itself comes from the working tree as it is, or (BENCH_SRC=head) from a
# clean export of the last commit, for results that name exactly what they measured.
case $src in
worktree)
	src_dir=$repo
	dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -vc ' bench/' || true)
	src_note="working tree at $commit, $dirty tracked files outside bench/ modified (diff sha256 $( (git diff HEAD -- . ':(exclude)bench' 2>/dev/null || true) | sha256sum | cut -c1-12))"
	;;
head)
	src_dir=$work/src
	mkdir -p "$src_dir"
	git archive --format=tar HEAD | tar -x -C "$src_dir"
	version=$commit
	src_note="clean export of commit $commit (git archive HEAD)"
	;;
*) die "BENCH_SRC=$src: want worktree or head" ;;
esac
(cd "$src_dir" && go build -trimpath -ldflags "-X main.version=$version -X main.commit=$commit" -o "$work/srvbridge" ./cmd/srvbridge)

# --- 8. Go micro-benchmark, while the machine is quiet -------------------------------
log "go test -bench Respond -benchtime ${gobench_n}x ./resolver/"
gobench=(go test -run XXX -bench Respond -benchtime "${gobench_n}x" ./resolver/)
wait_quiet
if ! (cd "$src_dir" && timeout 600 "${gobench[@]}") >"$work/gobench.txt" 2>&1; then
	log "go test -bench failed; its output goes into the results as it is"
fi

# --- 2. servers ---------------------------------------------------------------------
read -r p_http p_cdns p_server p_serf_lan p_serf_wan p_grpc p_sb_dns p_sb_admin p_knot p_pl_dns p_pl_admin \
	<<<"$("$ctl" ports -n 11)"
cat >"$work/consul.json" <<EOF
{
  "datacenter": "dc1",
  "node_name": "bench",
  "bind_addr": "127.0.0.1",
  "client_addr": "127.0.0.1",
  "advertise_addr": "127.0.0.1",
  "advertise_addr_wan": "127.0.0.1",
  "ports": {"http": $p_http, "https": -1, "dns": $p_cdns, "server": $p_server,
            "serf_lan": $p_serf_lan, "serf_wan": $p_serf_wan, "grpc": $p_grpc, "grpc_tls": -1},
  "dns_config": {"allow_stale": true, "use_cache": $use_cache},
  "disable_update_check": true,
  "log_level": "warn"
}
EOF
log "starting consul (dev agent) on 127.0.0.1:$p_http, DNS :$p_cdns"
start_pinned "$server_cpus" "$consul" agent -dev -config-file "$work/consul.json" >"$work/consul.log" 2>&1
consul_pid=$!
pids+=("$consul_pid")

log "registering $services services x $instances instances"
"$ctl" register -consul "127.0.0.1:$p_http" -services "$services" -instances "$instances" | tee -a "$work/setup.txt"
"$ctl" gen -consul "127.0.0.1:$p_http" -zone "$work/consul.zone" -queries "$work/queries.txt" \
	-knot-conf "$work/knot.conf" -knot-listen "127.0.0.1@$p_knot" | tee -a "$work/setup.txt"

log "starting srvbridge on 127.0.0.1:$p_sb_dns"
start_pinned "$server_cpus" "$work/srvbridge" --consul-addr "127.0.0.1:$p_http" --dns-addr "127.0.0.1:$p_sb_dns" \
	--http-addr "127.0.0.1:$p_sb_admin" --prefetch --log-level warn ${udp_reader:+--udp-reader "$udp_reader"} \
	>"$work/srvbridge.log" 2>&1
sb_pid=$!
pids+=("$sb_pid")
"$ctl" wait -admin "127.0.0.1:$p_sb_admin" -services $((services + 1)) -instances $((services * instances + 3)) \
	-timeout $((120 + services / 50))s | tee -a "$work/setup.txt"
# The poller row: only where the default reader is another one (the thread reader is
# Linux-only) and the run did not choose the poller for srvbridge itself.
if [[ $poller != 1 || $(uname -s) != Linux || ${udp_reader:-thread} != thread ]]; then
	poller=0
fi
if [[ $poller == 1 ]]; then
	log "starting srvbridge --udp-reader poller on 127.0.0.1:$p_pl_dns"
	start_pinned "$server_cpus" "$work/srvbridge" --consul-addr "127.0.0.1:$p_http" --dns-addr "127.0.0.1:$p_pl_dns" \
		--http-addr "127.0.0.1:$p_pl_admin" --prefetch --log-level warn --udp-reader poller \
		>"$work/srvbridge-poller.log" 2>&1
	pl_pid=$!
	pids+=("$pl_pid")
	"$ctl" wait -admin "127.0.0.1:$p_pl_admin" -services $((services + 1)) -instances $((services * instances + 3)) \
		-timeout $((120 + services / 50))s | tee -a "$work/setup.txt"
fi

log "starting knotd on 127.0.0.1:$p_knot"
start_pinned "$server_cpus" "$knotd" -c "$work/knot.conf" >"$work/knot.log" 2>&1
knot_pid=$!
pids+=("$knot_pid")

declare -A addr pid
addr[srvbridge]=127.0.0.1:$p_sb_dns pid[srvbridge]=$sb_pid
addr[consul]=127.0.0.1:$p_cdns pid[consul]=$consul_pid
addr[knot]=127.0.0.1:$p_knot pid[knot]=$knot_pid
names=(srvbridge consul knot)
if [[ $poller == 1 ]]; then
	addr[srvbridge-poller]=127.0.0.1:$p_pl_dns pid[srvbridge-poller]=$pl_pid
	names=(srvbridge srvbridge-poller consul knot)
fi
port_of() { echo "${addr[$1]##*:}"; }

# What each server answers for the same questions (also a readiness check for Knot).
for s in "${names[@]}"; do
	"$ctl" probe -addr "${addr[$s]}" -label "$s" "svc-00000.service.consul SRV" "svc-00000.service.consul A" \
		"_svc-00000._tcp.service.consul SRV" "nx-00000.service.consul A" >>"$work/probe.txt"
done
cat "$work/probe.txt" >&2

# What each server costs with no queries at all (watches, timers, Raft, Serf), and how
# many Consul requests srvbridge makes meanwhile.
log "idle for ${idle_secs}s: CPU of each server without queries"
declare -A i0
for s in "${names[@]}"; do i0[$s]=$(cpu_ticks "${pid[$s]}"); done
r0=$("$ctl" metric -admin "127.0.0.1:$p_sb_admin" -name srvbridge_consul_requests_total)
sleep "$idle_secs"
r1=$("$ctl" metric -admin "127.0.0.1:$p_sb_admin" -name srvbridge_consul_requests_total)
: >"$work/idle.tsv"
for s in "${names[@]}"; do
	printf '%s\t%s\t%s\n' "$s" $(($(cpu_ticks "${pid[$s]}") - i0[$s])) "$idle_secs" >>"$work/idle.tsv"
done
printf 'srvbridge_consul_requests\t%s\t%s\n' $((r1 - r0)) "$idle_secs" >>"$work/idle.tsv"

# --- 4. dnsperf runs ------------------------------------------------------------------
# One dnsperf run against one server; sets run_line (for runs.tsv) and run_other (the
# larger share, in %, of the server's or dnsperf's CPU that went to other work).
dnsperf_run() { # server phase round out-file
	local s=$1 phase=$2 round=$3 out=$4 t0 t1 w0 w1 b0 b1 a0 a1 c0 c1 d0 d1 lu ls
	local -a args=(-s 127.0.0.1 -p "$(port_of "$s")" -d "$work/queries.txt" -c "$clients" -T 1 -q "$outstanding" -t 2)
	case $phase in
	max) args+=(-l "$max_secs") ;;
	fixed) args+=(-l "$fixed_secs" -Q "$fixed_qps" -v) ;;
	warmup) args+=(-l 2) ;;
	esac
	alive "${pid[$s]}" "$s"
	[[ $phase == warmup ]] || wait_quiet
	read -r b0 a0 <<<"$(cpuset_ticks "${server_cpu_lines[@]}")"
	read -r c0 d0 <<<"$(cpuset_ticks "${load_cpu_lines[@]}")"
	t0=$(cpu_ticks "${pid[$s]}")
	w0=$(date +%s%N)
	# dnsperf's own user and system CPU seconds, from the shell's time keyword.
	local TIMEFORMAT='%3U %3S'
	{ time pinned "$load_cpus" dnsperf "${args[@]}" >"$out" 2>&1; } 2>"$out.cpu" ||
		die "dnsperf against $s failed: $(tail -n 5 "$out")"
	w1=$(date +%s%N)
	t1=$(cpu_ticks "${pid[$s]}")
	read -r b1 a1 <<<"$(cpuset_ticks "${server_cpu_lines[@]}")"
	read -r c1 d1 <<<"$(cpuset_ticks "${load_cpu_lines[@]}")"
	read -r lu ls <"$out.cpu"
	alive "${pid[$s]}" "$s"
	run_line=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$s" "$phase" "$round" "$out" $((t1 - t0)) \
		$(((w1 - w0) / 1000)) $((b1 - b0)) $((a1 - a0)) "$lu+$ls" $((c1 - c0)) $((d1 - d0)))
	run_other=$(awk -v sb=$((b1 - b0)) -v st=$((a1 - a0)) -v sv=$((t1 - t0)) -v lb=$((c1 - c0)) -v lt=$((d1 - d0)) \
		-v lv="$lu+$ls" -v hz="$clk_tck" 'BEGIN {
			split(lv, p, "+"); so = st > 0 ? (sb - sv) / st : 0; lo = lt > 0 ? (lb - (p[1] + p[2]) * hz) / lt : 0
			printf "%d", 100 * (so > lo ? so : lo) }')
}
# A measured run, repeated (at most twice, and at most `retries` times in all) while
# other work took more than disturbed_pct % of the server's or dnsperf's CPU. Every
# attempt is kept in runs.tsv; the report counts only the last one of each.
measured_run() { # server phase round
	local s=$1 phase=$2 round=$3 attempt
	for attempt in 1 2 3; do
		dnsperf_run "$s" "$phase" "$round" "$work/runs/$s-$phase-$round-$attempt.txt"
		if ((run_other <= disturbed_pct || retries == 0 || attempt == 3)); then
			printf '%s\tused\n' "$run_line" >>"$work/runs.tsv"
			return
		fi
		printf '%s\tdisturbed\n' "$run_line" >>"$work/runs.tsv"
		retries=$((retries - 1))
		log "$s $phase run disturbed (${run_other}% of a CPU went to other work): repeating it"
	done
}
clk_tck=$(getconf CLK_TCK)
mkdir -p "$work/runs"
: >"$work/runs.tsv"
log "warming up each server for 2 s"
for s in "${names[@]}"; do dnsperf_run "$s" warmup 0 "$work/runs/$s-warmup.txt"; done
for ((r = 1; r <= rounds; r++)); do
	order=("${names[@]:$(((r - 1) % ${#names[@]}))}" "${names[@]:0:$(((r - 1) % ${#names[@]}))}")
	for s in "${order[@]}"; do
		log "round $r/$rounds: $s, ${max_secs}s unthrottled, then ${fixed_secs}s at $fixed_qps q/s"
		measured_run "$s" max "$r"
		measured_run "$s" fixed "$r"
	done
done

# --- 6. propagation -----------------------------------------------------------------
log "propagation: $flips health flips, $flip_gap apart"
"$ctl" prop -consul "127.0.0.1:$p_http" -target "srvbridge=${addr[srvbridge]}" -target "consul=${addr[consul]}" \
	-flips "$flips" -gap "$flip_gap" -poll 1ms -timeout 5s -out "$work/prop.json"
alive "$sb_pid" srvbridge
alive "$consul_pid" consul

# --- 5, 7. report -------------------------------------------------------------------
date_utc=$(date -u +%Y-%m-%d)
mkdir -p "$out_dir"
# A run with a chosen UDP reader says so in its name: it must not overwrite the
# default run of the same commit.
base=$out_dir/$date_utc-$commit${udp_reader:+-$udp_reader}
{
	echo "date=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "commit=$commit"
	echo "udp_reader=$udp_reader"
	echo "poller=$poller"
	echo "describe=$version"
	echo "source=$src_note"
	echo "nproc=$(nproc)"
	echo "cpu=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "kernel=$(uname -sr)"
	echo "mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
	echo "clk_tck=$(getconf CLK_TCK)"
	echo "go=$(go env GOVERSION)"
	echo "dnsperf=$(dnsperf -h 2>&1 | sed -n 's/^Version //p' | head -n1)"
	echo "knot=$("$knotd" -V | sed -n 's/.*version //p')"
	echo "consul=$("$consul" version | head -n1)"
	echo "srvbridge=$("$work/srvbridge" --version 2>&1 | head -n1)"
	echo "command=${BENCH_COMMAND:-$invocation}"
	echo "services=$services"
	echo "instances=$instances"
	echo "rounds=$rounds"
	echo "max_secs=$max_secs"
	echo "fixed_secs=$fixed_secs"
	echo "fixed_qps=$fixed_qps"
	echo "clients=$clients"
	echo "outstanding=$outstanding"
	echo "pin=$pin"
	echo "server_cpus=$server_cpus"
	echo "load_cpus=$load_cpus"
	echo "quiet=$quiet_wait s, $quiet_pct %"
	echo "disturbed_pct=$disturbed_pct"
	echo "consul_dns_config={\"allow_stale\": true, \"use_cache\": $use_cache} (udp_answer_limit 3, TTL 0: defaults)"
	echo "queries=$(wc -l <"$work/queries.txt")"
	echo "flip_gap=$flip_gap"
	echo "gobench_cmd=${gobench[*]}"
	echo "elapsed_s=$((SECONDS - t_start))"
} >"$work/meta.env"
"$ctl" report -runs "$work/runs.tsv" -meta "$work/meta.env" -prop "$work/prop.json" -probe "$work/probe.txt" \
	-gobench "$work/gobench.txt" -idle "$work/idle.tsv" -setup "$work/setup.txt" -md "$base.md" -svg "$base.svg"
log "results: $base.md and $base.svg ($((SECONDS - t_start)) s)"
