#!/usr/bin/env bash
# bench/servers/kv.sh - examples/kv against redis-server with the same redis-benchmark runs.
#
#   bench/servers/kv.sh KV_BINARY [--quick] [--out FILE.tsv] [--reps N] [--alt KV_BINARY_B]
#
# redis-server runs with persistence off (no RDB snapshots, no AOF) and one I/O thread; both
# servers are pinned to CPU 0 and redis-benchmark to CPU 1. Points: -t get,set at 50 and 1,000
# clients, without pipelining and with -P 16. The measure is the server's CPU per request:
# utime+stime of /proc/PID/stat from the benchmark's start until the server is idle again
# (bench/servers/cpu.sh), divided by the requests it made (GET and SET each -n). Each point runs every server in turn (order rotating), repeated; the table gives
# medians and the ratio to redis-server. Loopback only, free ports, bounded runs. A missing
# tool is reported as SKIPPED.
set -u

KV=${1:?usage: $0 KV_BINARY [--quick] [--out FILE.tsv] [--reps N] [--alt KV_BINARY_B]}
shift
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=$ROOT/build/bench/kv.tsv
N=50000 REPS=3 ALT=
while [ $# -gt 0 ]; do
    case $1 in
    --quick) N=20000 REPS=1 ;;
    --out) OUT=$2; shift ;;
    --reps) REPS=$2; shift ;;
    --alt) ALT=$2; shift ;;
    *) echo "kv.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done
have() { command -v "$1" >/dev/null 2>&1; }
have redis-benchmark || { echo "SKIPPED kv bench: redis-benchmark not installed (Debian: redis-tools)"; exit 0; }
have taskset || { echo "SKIPPED kv bench: taskset not installed"; exit 0; }
. "$ROOT/bench/servers/cpu.sh"
cpu_pin
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench_kv.XXXXXX")
spid=
cleanup() {
    [ -n "$spid" ] && kill -KILL "$spid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

start_kv() {
    local bin=${1:-$KV} i
    : >"$tmp/kv.out"
    taskset -c $SERVER_CPU "$bin" -p 0 >"$tmp/kv.out" 2>"$tmp/kv.err" &
    spid=$!
    for ((i = 0; i < 50; i++)); do
        sport=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/kv.out")
        [ -n "$sport" ] && return 0
        sleep 0.1
    done
    return 1
}
start_alt() { start_kv "$ALT"; }
start_redis() {
    local i
    # a port the kernel just gave kv, most likely still free
    start_kv || return 1
    kill -TERM "$spid"
    wait "$spid" 2>/dev/null
    : >"$tmp/redis.log"
    taskset -c $SERVER_CPU redis-server --port "$sport" --bind 127.0.0.1 --save '' --appendonly no \
        --io-threads 1 --daemonize no --dir "$tmp" >"$tmp/redis.log" 2>&1 &
    spid=$!
    for ((i = 0; i < 50; i++)); do
        grep -q 'Ready to accept' "$tmp/redis.log" && return 0
        sleep 0.1
    done
    return 1
}

servers=()
[ -x "$KV" ] && servers+=(kv) || echo "SKIPPED kv: $KV not built"
have redis-server && servers+=(redis) || echo "SKIPPED redis-server: not installed"
[ -n "$ALT" ] && servers+=(alt)
points=("50:1" "1000:1" "50:16" "1000:16")

mkdir -p "$(dirname "$OUT")"
echo -e "rep\tpoint\tserver\trequests\tcpu_us_per_req\trps" >"$OUT"
echo "load before: $(uptime)"
for ((rep = 0; rep < REPS; rep++)); do
    for p in "${points[@]}"; do
        c=${p%%:*} P=${p#*:}
        n=${#servers[@]}
        for ((k = 0; k < n; k++)); do
            s=${servers[$(((k + rep) % n))]}
            spid= sport=
            if ! "start_$s"; then
                echo "SKIPPED $s at c$c P$P: did not start"
                [ -n "$spid" ] && kill -KILL "$spid" 2>/dev/null
                spid=
                continue
            fi
            t0=$(cpu_ticks "$spid")
            timeout 300 taskset -c $CLIENT_CPU redis-benchmark -p "$sport" -t get,set -n "$N" -c "$c" -P "$P" \
                -r 100000 --csv >"$tmp/bench.csv" 2>"$tmp/bench.err"
            t1=$(cpu_settled "$spid")
            kill -TERM "$spid" 2>/dev/null
            wait "$spid" 2>/dev/null
            spid=
            rps=$(awk -F'"' '/^"(SET|GET)"/ { s += $4 } END { printf "%.0f", s / 2 }' "$tmp/bench.csv")
            ok=$(grep -cE '^"(SET|GET)"' "$tmp/bench.csv")
            us=NA
            [ "$ok" = 2 ] && us=$(cpu_us "$t0" "$t1" $((2 * N)) 2)
            printf '%s\tc%s P%s\t%s\t%s\t%s\t%s\n' "$rep" "$c" "$P" "$s" $((2 * N)) "$us" "$rps" >>"$OUT"
        done
    done
done
echo "load after: $(uptime)"
awk -F'\t' -v servers="${servers[*]}" '
NR > 1 && $5 != "NA" { k = $2 SUBSEP $3; v[k, ++n[k]] = $5; if (!($2 in seen)) { seen[$2] = 1; order[++np] = $2 } }
function median(k,   i, j, t, m, a) {
    m = n[k]; if (!m) return ""
    for (i = 1; i <= m; i++) a[i] = v[k, i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
END {
    ns = split(servers, S, " ")
    printf "%-34s", "CPU us/request (get+set)"
    for (i = 1; i <= ns; i++) printf " %8s", S[i]
    printf " %10s\n", "kv/redis"
    for (q = 1; q <= np; q++) {
        p = order[q]
        printf "%-34s", "redis-benchmark " p
        for (i = 1; i <= ns; i++) { m = median(p SUBSEP S[i]); med[S[i]] = m; printf " %8s", m == "" ? "-" : sprintf("%.2f", m) }
        if (med["kv"] != "" && med["redis"] != "" && med["redis"] > 0) printf " %9.2fx", med["kv"] / med["redis"]
        printf "\n"
    }
    print "(median of the repetitions; P = requests pipelined per client)"
}' "$OUT"
