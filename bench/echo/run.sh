#!/usr/bin/env bash
# bench/echo/run.sh - runs the echo-server benchmark and prints/writes the comparison table.
#
#   BIN=build/bench bench/echo/run.sh [--quick] [--out FILE.tsv] [--servers "coro epoll ..."]
#                                     [--nice N]
#
# Builds nothing: `make echo-bench-bins` (bench/echo/Makefile.inc) builds the baselines into
# $BIN, the coro server is $BIN/echo_coro. A missing server binary is reported as SKIPPED.
# For each scenario (busy100 busy1000 busy10000: that many ping-pong connections; idle90 idle990
# idle9990: 10 ping-pong connections plus that many idle ones) and each server:
#   1. start the server pinned to CPU 0, read its "PORT n" line;
#   2. timing run: echo_loadgen pinned to CPU 1 -> round trips/s, p99, server CPU time per round
#      trip (utime+stime over the measured window only), server VmRSS at the end of the window;
#   3. syscall run on the same server: perf stat -e raw_syscalls:sys_enter -p PID, switched on
#      and off by the load generator at the edges of a quiesced window (see loadgen.c), so only
#      the server's syscalls for counted round trips are counted. Counting syscalls slows every
#      syscall down, so it is never done during the timing run. Without perf: strace -c -f,
#      driven the same way; with neither: NA.
# Scenarios run in the outer loop so that each server is measured close in time to the epoll
# baseline it is compared with.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${BIN:-$ROOT/build/bench}
OUT=$ROOT/build/bench/echo.tsv
SERVERS="coro epoll poll thread libevent go"
QUICK=0
NICE=()   # --nice N: run server and load generator at that nice level
SYSCALLS=${ECHO_SYSCALLS:-auto}   # auto | perf | strace | none
SERVER_CPU=0
CLIENT_CPU=1

usage() {
	sed -n '2,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--out) [ $# -ge 2 ] || usage; OUT=$2; shift ;;
	--out=*) OUT=${1#--out=} ;;
	--servers) [ $# -ge 2 ] || usage; SERVERS=$2; shift ;;
	--servers=*) SERVERS=${1#--servers=} ;;
	--nice) [ $# -ge 2 ] || usage; NICE=(nice -n "$2"); shift ;;
	-h|--help) usage ;;
	*) echo "run.sh: unknown argument '$1'" >&2; usage ;;
	esac
	shift
done

if [ $QUICK = 1 ]; then
	SCENARIOS="busy100 busy1000 idle90 idle990"
	WARMUP=0.5 DURATION=1 SC_WARMUP=0.3 SC_DURATION=0.5 BUDGET=90
	WARMUP_INT=1 DURATION_INT=1
else
	SCENARIOS="busy100 busy1000 busy10000 idle90 idle990 idle9990"
	WARMUP=1 DURATION=4 SC_WARMUP=0.5 SC_DURATION=1 BUDGET=330
	WARMUP_INT=1 DURATION_INT=4
fi
# Timing runs during which other work used more than NOISY_PCT % of a CPU are repeated (at most
# MAX_TRIES runs in all) as long as the whole run stays within BUDGET seconds.
NOISY_PCT=${ECHO_NOISY_PCT:-20}
MAX_TRIES=${ECHO_MAX_TRIES:-3}
SETUP_TIMEOUT=15   # connection setup bound per run; loadgen's own hard limit follows from it

LOADGEN=$BIN/echo_loadgen
if [ ! -x "$LOADGEN" ]; then
	echo "run.sh: $LOADGEN not found; build it first: make echo-bench-bins" >&2
	exit 1
fi
mkdir -p "$(dirname "$OUT")"
LOG=${OUT%.tsv}.log
TMP=$(mktemp -d "${TMPDIR:-/tmp}/echo-bench.XXXXXX")
SERVER_PID=""
cleanup() {
	[ -n "$SERVER_PID" ] && kill -KILL "$SERVER_PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

T_START=$(date +%s)
note() { echo "$*"; echo "# $*" >>"$LOG"; }
: >"$LOG"

# ---- environment checks: report, never change system settings ------------------------------
max_conns() { local m=0 s n; for s in $SCENARIOS; do n=${s#busy}; n=${n#idle}; [ "${s#idle}" != "$s" ] && n=$((n + 10)); [ "$n" -gt "$m" ] && m=$n; done; echo $m; }
NEED=$(max_conns)

hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt $((NEED + 64)) ]; then
	note "WARNING: RLIMIT_NOFILE hard limit is $hard, below the $NEED connections needed; the" \
	     "largest scenarios will fail. Raise it (e.g. /etc/security/limits.conf, or ulimit -Hn as root)."
fi
ulimit -n "$hard" 2>/dev/null
note "ulimit -n $(ulimit -n) (hard $hard), scenarios need $NEED connections per process"

read -r plo phi </proc/sys/net/ipv4/ip_local_port_range
if [ $((phi - plo + 1)) -lt $((NEED + 100)) ]; then
	note "WARNING: net.ipv4.ip_local_port_range ($plo-$phi) has fewer than $NEED ephemeral ports;" \
	     "widen it (sysctl net.ipv4.ip_local_port_range='1024 65535') for the largest scenarios."
fi
somax=$(cat /proc/sys/net/core/somaxconn)
note "net.core.somaxconn=$somax (listen backlog cap; loadgen keeps at most min(256, somaxconn/2) connects in flight)"
note "ephemeral ports $plo-$phi ($((phi - plo + 1))); loadgen closes with RST (SO_LINGER 0) so runs leave no TIME_WAIT behind"
if [[ " $SERVERS " == *" thread "* ]]; then
	pidmax=$(cat /proc/sys/kernel/pid_max) thrmax=$(cat /proc/sys/kernel/threads-max)
	maps=$(cat /proc/sys/vm/max_map_count)
	if [ "$pidmax" -lt $((NEED + 500)) ] || [ "$thrmax" -lt $((NEED + 500)) ] || [ "$maps" -lt $((2 * NEED + 1000)) ]; then
		note "WARNING: kernel.pid_max=$pidmax kernel.threads-max=$thrmax vm.max_map_count=$maps" \
		     "may be too small for $NEED threads (thread server)"
	fi
fi

ncpu=$(nproc)
if [ "$ncpu" -lt 2 ]; then
	note "WARNING: only $ncpu CPU: server and load generator share CPU 0; numbers mean little"
	CLIENT_CPU=0
fi
if ! command -v taskset >/dev/null; then
	echo "run.sh: taskset not found (util-linux)" >&2
	exit 1
fi

if [ "$SYSCALLS" = auto ]; then
	if command -v perf >/dev/null && perf stat -e raw_syscalls:sys_enter -x, true >/dev/null 2>&1; then
		SYSCALLS=perf
	elif command -v strace >/dev/null; then
		SYSCALLS=strace
		note "perf cannot count raw_syscalls:sys_enter here (perf_event_paranoid / tracefs); using strace -c"
	else
		SYSCALLS=none
		note "neither perf nor strace usable: syscalls per round trip will be NA"
	fi
fi
note "syscall counting: $SYSCALLS; load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min)"
[ ${#NICE[@]} -gt 0 ] && note "server and load generator run under: ${NICE[*]} (other work on this machine is slowed down meanwhile)"
note "timing run: warmup ${WARMUP}s + ${DURATION}s measured; syscall run: ${SC_WARMUP}s + ${SC_DURATION}s"

# ---- helpers ------------------------------------------------------------------------------------
field() { # field NAME "RESULT line" -> value or NA
	local v
	v=$(printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n1)
	echo "${v:-NA}"
}

start_server() { # start_server NAME -> sets SERVER_PID, PORT (returns 1 on failure)
	local name=$1 i
	: >"$TMP/port"
	if [ "$name" = go ]; then
		GOMAXPROCS=1 ${NICE[@]+"${NICE[@]}"} taskset -c $SERVER_CPU "$BIN/echo_$name" 0 >"$TMP/port" 2>"$TMP/server.err" &
	else
		${NICE[@]+"${NICE[@]}"} taskset -c $SERVER_CPU "$BIN/echo_$name" 0 >"$TMP/port" 2>"$TMP/server.err" &
	fi
	SERVER_PID=$!
	PORT=""
	for i in $(seq 100); do
		PORT=$(sed -n 's/^PORT \([0-9][0-9]*\)$/\1/p' "$TMP/port")
		[ -n "$PORT" ] && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "  $name: no PORT line within 5 s; stderr: $(head -c 300 "$TMP/server.err")"
	stop_server "$name" >/dev/null
	return 1
}

stop_server() { # stop_server NAME: SIGTERM, then SIGKILL after 5 s; complain if not clean
	local name=$1 i rc
	[ -n "$SERVER_PID" ] || return 0
	kill -TERM "$SERVER_PID" 2>/dev/null
	for i in $(seq 100); do
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$SERVER_PID" 2>/dev/null; then
		echo "  $name: did not exit within 5 s of SIGTERM; killed"
		kill -KILL "$SERVER_PID" 2>/dev/null
	fi
	wait "$SERVER_PID" 2>/dev/null
	rc=$?
	[ $rc -ne 0 ] && echo "  $name: exit status $rc after SIGTERM (expected 0)"
	SERVER_PID=""
	return 0
}

run_loadgen() { # run_loadgen BUSY IDLE WARMUP DURATION [extra args...] -> RESULT line on stdout
	local busy=$1 idle=$2 w=$3 d=$4
	shift 4
	${NICE[@]+"${NICE[@]}"} "$LOADGEN" -p "$PORT" -c "$busy" -i "$idle" -w "$w" -d "$d" -C $CLIENT_CPU -T $SETUP_TIMEOUT \
		-P "$SERVER_PID" "$@" >"$TMP/lg.out" 2>"$TMP/lg.err"
	cat "$TMP/lg.out" "$TMP/lg.err" >>"$LOG"
	grep '^RESULT ' "$TMP/lg.out" | tail -n1
}

# Emulates `perf stat --control` with strace: attach on "enable", detach on "disable".
strace_ctl() { # strace_ctl PID CTL ACK OUT
	local pid=$1 ctl=$2 ack=$3 out=$4 cmd st="" i
	exec 3<"$ctl" 4>"$ack"
	while read -r cmd <&3; do
		if [ "$cmd" = enable ] && [ -z "$st" ]; then
			strace -c -f -o "$out" -p "$pid" 2>"$out.err" &
			st=$!
			for i in $(seq 36); do   # loadgen waits 2 s for the ack
				grep -q attached "$out.err" 2>/dev/null && break
				sleep 0.05
			done
		elif [ "$cmd" = disable ] && [ -n "$st" ]; then
			kill -INT "$st" 2>/dev/null
			wait "$st" 2>/dev/null
			st=""
		fi
		echo ack >&4
	done
	exec 3<&- 4>&-
}

count_syscalls() { # count_syscalls BUSY IDLE -> "syscalls rt" or "NA NA"
	local busy=$1 idle=$2 ctl=$TMP/ctl ack=$TMP/ack helper res n rt
	rm -f "$ctl" "$ack" "$TMP/sc.out" "$TMP/sc.out.err"
	mkfifo "$ctl" "$ack"
	if [ "$SYSCALLS" = perf ]; then
		taskset -c $CLIENT_CPU perf stat -e raw_syscalls:sys_enter -p "$SERVER_PID" -x, \
			-o "$TMP/sc.out" -D -1 --control "fifo:$ctl,$ack" >/dev/null 2>"$TMP/sc.out.err" &
	else
		strace_ctl "$SERVER_PID" "$ctl" "$ack" "$TMP/sc.out" &
	fi
	helper=$!
	res=$(run_loadgen "$busy" "$idle" $SC_WARMUP $SC_DURATION -F "$ctl" -A "$ack")
	kill -INT $helper 2>/dev/null
	wait $helper 2>/dev/null
	rt=$(field rt "$res")
	if [ "$SYSCALLS" = perf ]; then
		n=$(awk -F, '/raw_syscalls:sys_enter/ { print $1 }' "$TMP/sc.out" 2>/dev/null)
	else
		n=$(awk '$NF == "total" { print $4 }' "$TMP/sc.out" 2>/dev/null)
	fi
	case $n in ''|*[!0-9]*) n=NA ;; esac
	[ "$(field errors "$res")" != 0 ] && echo "  (syscall run: errors=$(field errors "$res"))" >&2
	echo "$n $rt"
}

# A timing run is noisy when something else used more than NOISY_PCT % of a CPU during it.
noisy() { awk -v o="$(field other_cpu_pct "$1")" -v t="$NOISY_PCT" 'BEGIN { exit !(o != "NA" && o + 0 > t) }'; }

# Is there time for one more timing run, given the average cost of a (server, scenario) so far?
budget_allows_retry() {
	local now=$(($(date +%s) - T_START)) avg=10 left
	[ "$DONE" -gt 0 ] && avg=$((now / DONE + 1))
	left=$((TOTAL - DONE))
	[ $((now + avg * left + WARMUP_INT + DURATION_INT + 2)) -le "$BUDGET" ]
}

# ---- the runs -----------------------------------------------------------------------------------
RAW=$TMP/raw.tsv   # extended rows, formatted at the end
: >"$RAW"
declare -A SKIP
for s in $SERVERS; do
	if [ ! -x "$BIN/echo_$s" ]; then
		echo "SKIPPED $s: $BIN/echo_$s not found (not built?)"
		echo "# SKIPPED $s: $BIN/echo_$s not found" >>"$LOG"
		SKIP[$s]=1
	fi
done

TOTAL=0 DONE=0
for s in $SERVERS; do [ -z "${SKIP[$s]:-}" ] && TOTAL=$((TOTAL + $(echo $SCENARIOS | wc -w))); done
for sc in $SCENARIOS; do
	case $sc in
	busy*) busy=${sc#busy} idle=0 ;;
	idle*) busy=10 idle=${sc#idle} ;;
	esac
	conns=$((busy + idle))
	for s in $SERVERS; do
		[ -n "${SKIP[$s]:-}" ] && continue
		echo "# $s $sc" >>"$LOG"
		if ! start_server "$s"; then
			printf '%s\t%s\t%s\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tserver did not start\n' \
				"$s" "$sc" "$conns" >>"$RAW"
			DONE=$((DONE + 1))
			continue
		fi
		# Timing run; on a shared machine repeat a noisy one (fresh server) while the time budget
		# allows, and keep the quietest.
		res="" tries=0
		while :; do
			r=$(run_loadgen $busy $idle $WARMUP $DURATION)
			tries=$((tries + 1))
			if [ -n "$r" ] && { [ -z "$res" ] || awk -v a="$(field other_cpu_pct "$r")" \
				-v b="$(field other_cpu_pct "$res")" 'BEGIN { exit !(a + 0 < b + 0) }'; }; then
				res=$r
			fi
			[ -n "$r" ] || break
			noisy "$res" || break
			[ $tries -lt $MAX_TRIES ] && budget_allows_retry || break
			echo "  $s $sc: other work used $(field other_cpu_pct "$r")% CPU during the window; repeating"
			echo "# retry: noisy" >>"$LOG"
			stop_server "$s"
			start_server "$s" || break
		done
		if [ -z "$res" ]; then
			echo "  $s $sc: no RESULT from loadgen: $(tail -c 300 "$TMP/lg.err")"
			stop_server "$s"
			printf '%s\t%s\t%s\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tloadgen failed\n' \
				"$s" "$sc" "$conns" >>"$RAW"
			DONE=$((DONE + 1))
			continue
		fi
		sys="NA NA"
		alive=1
		if [ -n "$SERVER_PID" ]; then
			if [ "$SYSCALLS" != none ] && kill -0 "$SERVER_PID" 2>/dev/null; then
				sys=$(count_syscalls $busy $idle)
			fi
			kill -0 "$SERVER_PID" 2>/dev/null || alive=0
		fi
		stop_server "$s"
		read -r nsys sysrt <<<"$sys"
		spr=$(awk -v n="$nsys" -v r="$sysrt" 'BEGIN { if (n ~ /^[0-9]+$/ && r > 0) printf "%.2f", n / r; else print "NA" }')
		rss=$(field server_rss_kb "$res") cpu=$(field server_cpu_ns_per_rt "$res")
		notes=""
		if [ "$(field errors "$res")" != 0 ]; then
			notes="errors=$(field errors "$res")"
			[ "$(field stalled "$res")" != 0 ] && notes="$notes(stalled=$(field stalled "$res"))"
		fi
		[ $alive = 0 ] && notes="$notes server-died"
		noisy "$res" && notes="$notes noisy"
		[ $tries -gt 1 ] && notes="$notes tries=$tries"
		DONE=$((DONE + 1))
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$sc" "$conns" \
			"$(field rtt_per_sec "$res")" "$(field p99_us "$res")" "$rss" "$cpu" "$spr" \
			"$(field p50_us "$res")" "$(field server_cpu_pct "$res")" \
			"$(field client_cpu_pct "$res")" "$(field other_cpu_pct "$res")" "${notes# }" >>"$RAW"
		printf '  %-8s %-10s %9s rt/s  p99 %8s us  cpu %7s ns/rt  sys %5s/rt  rss %7s kB  (server %s%% client %s%% other %s%% cpu)%s\n' \
			"$s" "$sc" "$(field rtt_per_sec "$res")" "$(field p99_us "$res")" "$cpu" "$spr" "$rss" \
			"$(field server_cpu_pct "$res")" "$(field client_cpu_pct "$res")" \
			"$(field other_cpu_pct "$res")" "${notes:+  $notes}"
	done
done

# ---- table and TSV ------------------------------------------------------------------------------
printf 'server\tscenario\tconns\trtt_per_sec\tp99_us\trss_kb\tcpu_ns_per_rt\tsyscalls_per_rt\n' >"$OUT"
cut -f1-8 "$RAW" >>"$OUT"

echo
echo "Ratios in parentheses are server / epoll in the same scenario of this run (rt/s: higher is"
echo "better; the others: lower is better). other%: CPU used during the window by anything but the"
echo "server and the load generator (other processes, unattributed interrupt time); large = noisy."
awk -F'\t' '
function r(v, b) { return (v == "NA" || b == "NA" || b + 0 == 0) ? "" : sprintf("(%.2f)", v / b) }
function n(v, f) { return v == "NA" ? "NA" : sprintf(f, v) }
{ row[NR] = $0; if ($1 == "epoll") { brt[$2] = $4; bp99[$2] = $5; brss[$2] = $6; bcpu[$2] = $7; bsys[$2] = $8 } }
END {
	printf "%-9s %-10s %6s %17s %16s %14s %16s %13s %7s %s\n", "server", "scenario", "conns",
	       "rt/s", "p99 us", "RSS MB", "CPU ns/rt", "syscalls/rt", "other%", "notes"
	for (i = 1; i <= NR; i++) {
		split(row[i], f, "\t"); sc = f[2]
		rss = f[6] == "NA" ? "NA" : f[6] / 1024
		printf "%-9s %-10s %6s %9s %7s %8s %7s %7s %6s %8s %7s %6s %6s %7s %s\n", f[1], sc, f[3],
		       n(f[4], "%.0f"), r(f[4], brt[sc]), n(f[5], "%.0f"), r(f[5], bp99[sc]),
		       n(rss, "%.1f"), r(f[6], brss[sc]), n(f[7], "%.0f"), r(f[7], bcpu[sc]),
		       n(f[8], "%.2f"), r(f[8], bsys[sc]), f[12], f[13]
	}
}' "$RAW"
echo
echo "TSV: $OUT   raw loadgen output: $LOG"
echo "total time: $(($(date +%s) - T_START)) s; load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
