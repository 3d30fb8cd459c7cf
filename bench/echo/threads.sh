#!/usr/bin/env bash
# bench/echo/threads.sh - examples/echo_server with -t 2 against -t 1: the server's CPU time
# per round trip (utime+stime of all its threads from /proc, over loadgen's measured window
# only), with the server pinned to CPU 0 and the load generator on CPU 1.
#
#   bench/echo/threads.sh [REPS] [SECONDS] [BUSY]      (defaults: 5 runs of 3 s, 100 connections)
#
# Needs build/bench/echo_loadgen (make echo-bench-bins) and build/default/examples/echo_server
# (make examples-net); EXAMPLES=dir and BIN=dir override where they are looked for. The two
# servers run interleaved (which goes first alternates each repetition), so both see the same
# machine; prints each run, then the medians and their ratio (-t 2 / -t 1), and uptime's load.
# The ratio is what to read: this machine may be shared.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${BIN:-$ROOT/build/bench}
EXAMPLES=${EXAMPLES:-$ROOT/build/default/examples}
REPS=${1:-5}
SECS=${2:-3}
BUSY=${3:-100}
LOADGEN=$BIN/echo_loadgen
SERVER=$EXAMPLES/echo_server
for f in "$LOADGEN" "$SERVER"; do
	[ -x "$f" ] || { echo "threads.sh: $f missing (make echo-bench-bins examples-net)"; exit 2; }
done
TMP=$(mktemp -d "${TMPDIR:-/tmp}/echo_threads.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# run T: one measured run of echo_server -t T; prints "cpu_ns_per_rt rtt_per_sec" or "NA NA"
run() {
	local t=$1 pid port i r
	: >"$TMP/srv.out"
	taskset -c 0 "$SERVER" -p 0 -t "$t" >"$TMP/srv.out" 2>"$TMP/srv.err" &
	pid=$!
	port=
	for i in $(seq 100); do
		port=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$TMP/srv.out")
		[ -n "$port" ] && break
		sleep 0.05
	done
	r=
	if [ -n "$port" ]; then
		r=$("$LOADGEN" -p "$port" -c "$BUSY" -w 1 -d "$SECS" -C 1 -P "$pid" 2>/dev/null | grep '^RESULT')
	fi
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	if [ -z "$r" ]; then echo "NA NA"; return; fi
	echo "$(sed -n 's/.* server_cpu_ns_per_rt=\([0-9.]*\).*/\1/p' <<<"$r") $(sed -n 's/.*rtt_per_sec=\([0-9.]*\).*/\1/p' <<<"$r")"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "NA"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "echo_server -t 1 vs -t 2: $REPS x $SECS s, $BUSY ping-pong connections of 64 bytes, server on CPU 0, loadgen on CPU 1"
printf '%-4s %-6s %16s %14s\n' rep server cpu_ns_per_rt rt_per_s
: >"$TMP/t1"
: >"$TMP/t2"
for rep in $(seq "$REPS"); do
	if [ $((rep % 2)) = 1 ]; then order="1 2"; else order="2 1"; fi
	for t in $order; do
		read -r cpu rate < <(run "$t")
		printf '%-4s %-6s %16s %14s\n' "$rep" "-t $t" "$cpu" "$rate"
		[ "$cpu" != NA ] && echo "$cpu" >>"$TMP/t$t"
	done
done
m1=$(median <"$TMP/t1")
m2=$(median <"$TMP/t2")
echo "median server CPU ns per round trip: -t 1 $m1, -t 2 $m2, ratio -t 2 / -t 1: $(awk -v a="$m2" -v b="$m1" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "x%.2f", a / b; else print "NA" }')"
echo "load: $(uptime | sed 's/.*load average/load average/')"
