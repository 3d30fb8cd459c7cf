#!/usr/bin/env bash
# bench/chan/run.sh - channel benchmark, ratios measured in one run, interleaved, REPS times
# (median): same-thread rendezvous and capacity-1 traffic against the coro_sched.h of git
# revision BASE (default main; skipped when it is this tree's own), and cross-thread ping-pong
# and buffered throughput against Go's channels between two goroutines (GOMAXPROCS=2; skipped
# with a SKIPPED line if go is not installed), and the floor of the cross-thread ping-pong: two
# plain threads handing one cache line back and forth, set beside Go's ping-pong (Go runs both
# goroutines on one thread; coroutines here never leave theirs, so every message crosses cores).
# Row xbusy is the ping-pong again (N/100 messages) while twice as many busy loops as cores
# run beside it, killed after the row: how both fare when others want every core.
# Usage: bench/chan/run.sh [BIN_DIR]
set -eu
BIN=${1:-build/bench}
REPS=${REPS:-7}
N=${N:-1000000}
BASE=${BASE:-main}
mkdir -p "$BIN/chan-base"
cc="${CC:-cc} -std=c99 -O2 -g -Wall -Wextra -Werror"
$cc -I. bench/chan/bench_chan.c -o "$BIN/bench_chan" -pthread
have_base=0
if git show "$BASE:coro_sched.h" > "$BIN/chan-base/coro_sched.h" 2>/dev/null &&
   ! cmp -s coro_sched.h "$BIN/chan-base/coro_sched.h"; then
    git show "$BASE:coro.h" > "$BIN/chan-base/coro.h"
    $cc -DCORO_BENCH_SAME_ONLY -I"$BIN/chan-base" bench/chan/bench_chan.c -o "$BIN/bench_chan_base" -pthread
    have_base=1
else
    echo "SKIPPED same-thread before/after: no different coro_sched.h at $BASE"
fi
have_go=0
if command -v go >/dev/null; then
    (cd bench/chan && GO111MODULE=off go build -o "$OLDPWD/$BIN/go_chan" go_chan.go) && have_go=1
else
    echo "SKIPPED Go baseline: go not installed"
fi
echo "# bench/chan $(date -u +%FT%TZ) $(nproc) cpus, N=$N, REPS=$REPS; load: $(uptime | sed 's/.*load/load/')"
tmp=$(mktemp -d)
for r in $(seq "$REPS"); do
    for row in same0 same1 xpong xbuf xfloor; do
        "$BIN/bench_chan" $row "$N" >> "$tmp/coro"
        case $row in same*) [ $have_base = 1 ] && "$BIN/bench_chan_base" $row "$N" >> "$tmp/base" ;; esac
        case $row in xpong|xbuf) [ $have_go = 1 ] && GOMAXPROCS=2 "$BIN/go_chan" $row "$N" >> "$tmp/go" ;; esac
        true
    done
    hogs=
    for i in $(seq $((2 * $(nproc)))); do
        timeout 600 sh -c 'while :; do :; done' & hogs="$hogs $!"
    done
    "$BIN/bench_chan" xpong $((N / 100)) | sed 's/^xpong/xbusy/' >> "$tmp/coro"
    [ $have_go = 1 ] && GOMAXPROCS=2 "$BIN/go_chan" xpong $((N / 100)) | sed 's/^xpong/xbusy/' >> "$tmp/go"
    # shellcheck disable=SC2086
    kill $hogs 2>/dev/null; wait $hogs 2>/dev/null || true
done
med() { grep "^$2 " "$tmp/$1" 2>/dev/null | awk '{print $2}' | sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "-"}'; }
printf '%-8s %-54s %10s %10s %8s\n' row what coro.h peer ratio
for row in same0 same1 xpong xbuf xfloor xbusy; do
    peerrow=$row
    case $row in
    same0) what="same thread, rendezvous, ns/msg (peer: $BASE)"; peer=base ;;
    same1) what="same thread, capacity 1, ns/msg (peer: $BASE)"; peer=base ;;
    xpong) what="2 threads, rendezvous ping-pong, ns/msg (peer: Go)"; peer=go ;;
    xbuf)  what="2 threads, capacity 1024, ns/msg (peer: Go)"; peer=go ;;
    xfloor) what="no library: 1 cache line, ns/hand-off (peer: Go xpong)"; peer=go; peerrow=xpong ;;
    xbusy) what="xpong beside 2 busy loops per core, ns/msg (peer: Go)"; peer=go ;;
    esac
    c=$(med coro $row); p=$(med $peer $peerrow)
    ratio=$(awk -v c="$c" -v p="$p" 'BEGIN { if (p == "-" || p == 0) print "-"; else printf "x%.2f", c / p }')
    printf '%-8s %-54s %10s %10s %8s\n' $row "$what" "$c" "$p" "$ratio"
done
echo "# ratio = coro.h / peer (below 1: coro.h faster); load at end: $(uptime | sed 's/.*load/load/')"
rm -rf "$tmp"
