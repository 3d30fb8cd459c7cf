#!/bin/bash
# bench/sched/run.sh - the scheduler rows (sched_coro.c says what each measures) for coro.h,
# Go (GOMAXPROCS=1) and Boost.Fiber, interleaved: every rep runs every row of every
# implementation in a fresh process, in an order rotated per rep. Prints the median per cell and
# the ratio peer / coro.h (above 1: coro.h is ahead), with the date, the machine and the load.
#   BIN=build/bench bash bench/sched/run.sh [--quick]      (REPS=5 by default, 1 with --quick)
set -u
BIN=${BIN:-build/bench}
REPS=${REPS:-5}
ROWS=${ROWS:-"chan0 yield2 yield1000 spawn_b spawn sleep"}
[ "${1:-}" = --quick ] && REPS=1
export GOMAXPROCS=1
IMPLS=""
for i in coro go fiber; do
    if [ -x "$BIN/sched_$i" ]; then IMPLS="$IMPLS $i"
    else
        case $i in
        go) echo "SKIPPED Go rows: $BIN/sched_go not built (golang-go not installed)" ;;
        fiber) echo "SKIPPED Boost.Fiber rows: $BIN/sched_fiber not built (libboost-fiber-dev not installed)" ;;
        *) echo "run.sh: $BIN/sched_coro missing (make bench-bins)"; exit 1 ;;
        esac
    fi
done
read -r -a IM <<< "$IMPLS"
RAW=$(mktemp)
trap 'rm -f "$RAW"' EXIT
echo "# scheduler rows, $(date -u +%F' '%H:%M) UTC, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs, REPS=$REPS"
echo "# load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((rep = 0; rep < REPS; rep++)); do
    for row in $ROWS; do
        n=${#IM[@]}
        for ((k = 0; k < n; k++)); do
            i=${IM[$(((k + rep) % n))]}
            v=$(timeout 300 "$BIN/sched_$i" "$row" 2>/dev/null | tail -1)
            echo "$row $i ${v#*=}" >> "$RAW"
        done
    done
done
echo "# load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$RAW" $IMPLS <<'PY'
import sys, statistics
raw, impls = sys.argv[1], sys.argv[2:]
cells = {}
for line in open(raw):
    p = line.split()
    if len(p) == 3:
        try: cells.setdefault((p[0], p[1]), []).append(float(p[2]))
        except ValueError: pass
names = {"coro": "coro.h", "go": "Go", "fiber": "Boost.Fiber"}
rows = [("chan0", "channel ping-pong, ns/msg"), ("yield2", "yield, 2 tasks, ns"),
        ("yield1000", "yield, 1,000 tasks, ns"), ("spawn_b", "spawn+finish, ~100 alive, ns"),
        ("spawn", "spawn 100,000 then run, ns"), ("sleep", "100,000 sleepers, wall ms")]
print("%-30s" % "row" + "".join("| %-20s" % names[i] for i in impls))
print("-" * 30 + "+---------------------" * len(impls))
for r, label in rows:
    base = cells.get((r, "coro"))
    if not base: continue
    b = statistics.median(base)
    out = "%-30s" % label
    for i in impls:
        v = cells.get((r, i))
        if not v: out += "| %-20s" % "failed"; continue
        m = statistics.median(v)
        num = "%.0f" % m if m >= 1000 else "%.3g" % m
        out += "| %-20s" % (num if i == "coro" else "%s (x%.2f)" % (num, m / b))
    print(out)
print("(medians; peers: value (peer / coro.h), above 1 = coro.h ahead)")
PY
