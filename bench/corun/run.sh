#!/bin/bash
# bench/corun/run.sh - the three corun programs (bench/corun/corun.c) with coro_sched.h, median
# of REPS runs each (default 3), printed beside the seconds corun's own README publishes for
# corun, gevent and Python threads (Python 2, its author's machine; not re-measured here).
#   BIN=build/bench bash bench/corun/run.sh
set -u
BIN=${BIN:-build/bench}
REPS=${REPS:-3}
[ -x "$BIN/corun" ] || { echo "run.sh: $BIN/corun missing (make bench-bins)"; exit 1; }
echo "# corun programs, $(date -u +%F' '%H:%M) UTC, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs, REPS=$REPS"
echo "# load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-44s| %-9s| %-9s| %-9s| %s\n' "program (seconds)" corun gevent threads "coro.h (median, this machine)"
printf -- '--------------------------------------------+----------+----------+----------+------------------------------\n'
for row in "tasks|10,000 concurrent tasks (each sleeps 1 s)|0.269580|0.497005|1.338474" \
           "io|100 I/O tasks (100 x 32 KiB writes each)|0.289584|3.748089|1.230650" \
           "fetch|1,000 URL fetches, local server|0.450275|0.489684|4.171722"; do
    IFS='|' read -r mode label corun gevent threads <<< "$row"
    vals=""
    for ((r = 0; r < REPS; r++)); do
        out=$(timeout 120 "$BIN/corun" "$mode" 2>&1 | tail -1)
        case $out in s=*) v=${out#s=}; vals="$vals ${v%% *}" ;; *) vals="$vals FAIL:$out" ;; esac
    done
    med=$(echo $vals | tr ' ' '\n' | grep -v FAIL | sort -g | awk '{a[NR]=$1} END{if (NR) printf "%.3f", a[int((NR+1)/2)]; else print "failed"}')
    printf '%-44s| %-9s| %-9s| %-9s| %s\n' "$label" "$corun" "$gevent" "$threads" "$med  (runs:$vals)"
done
echo "# load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
