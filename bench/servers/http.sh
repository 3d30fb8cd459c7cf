#!/usr/bin/env bash
# bench/servers/http.sh - examples/httpd against nginx and lighttpd serving the same files.
#
#   bench/servers/http.sh HTTPD_BINARY [--quick] [--out FILE.tsv] [--reps N] [--dur SECONDS]
#                         [--servers "httpd nginx lighttpd"] [--points "wrk:1k:100 ab:100k:100 ..."]
#                         [--alt HTTPD_BINARY_B]     (A/B: a second httpd, as server "alt")
#
# Every server gets one core (taskset CPU 0) and one process/thread of its own: nginx with one
# worker (master_process off), sendfile and tcp_nopush on, access log off; lighttpd with its
# defaults (sendfile where the kernel has it), access log off; httpd as built. The load
# generators run on CPU 1: wrk keep-alive at 10, 100 and 1,000 connections, and ab without
# keep-alive at 100 concurrent requests, for a 1 KB and a 100 KB file. The measure is the
# server's CPU per request: utime+stime of its /proc/PID/stat (all threads) from the client's
# start until the server is idle again after it (bench/servers/cpu.sh), divided by the requests
# the client completed. Runs are interleaved (each point runs every
# server in turn, the order rotating) and repeated; the table gives the median per point and
# the ratio to nginx. A missing server or client is reported as SKIPPED and left out.
# Loopback only, ports picked free by the kernel, every run bounded in time.
set -u

HTTPD=${1:?usage: $0 HTTPD_BINARY [--quick] [--out FILE.tsv]}
shift
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=$ROOT/build/bench/http.tsv
DUR=3 REPS=3 AB_N=20000 ONLY_SERVERS= ONLY_POINTS= ALT=
while [ $# -gt 0 ]; do
    case $1 in
    --quick) DUR=1 REPS=1 AB_N=5000 ;;
    --out) OUT=$2; shift ;;
    --reps) REPS=$2; shift ;;
    --dur) DUR=$2; shift ;;
    --servers) ONLY_SERVERS=$2; shift ;;
    --points) ONLY_POINTS=$2; shift ;;
    --alt) ALT=$2; shift ;;
    *) echo "http.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done
. "$ROOT/bench/servers/cpu.sh"
cpu_pin
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench_http.XXXXXX")
pids=()
cleanup() {
    local p
    for p in "${pids[@]+"${pids[@]}"}"; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
have() { command -v "$1" >/dev/null 2>&1; }

mkdir -p "$tmp/www"
head -c 1024 /dev/urandom >"$tmp/www/1k.bin"
head -c 102400 /dev/urandom >"$tmp/www/100k.bin"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # PORT: until something accepts on it (5 s)
    local i
    for ((i = 0; i < 50; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# start_SERVER: sets spid and sport, or returns 1
start_httpd() {
    local bin=${1:-$HTTPD} i
    : >"$tmp/httpd.out"
    taskset -c $SERVER_CPU "$bin" -p 0 -d "$tmp/www" -T 30 >"$tmp/httpd.out" 2>"$tmp/httpd.err" &
    spid=$!
    for ((i = 0; i < 50; i++)); do
        sport=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/httpd.out")
        [ -n "$sport" ] && return 0
        sleep 0.1
    done
    return 1
}
start_alt() { start_httpd "$ALT"; }
start_nginx() {
    sport=$(free_port)
    mkdir -p "$tmp/nginx"
    cat >"$tmp/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 8192;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path $tmp/nginx;
    proxy_temp_path $tmp/nginx;
    fastcgi_temp_path $tmp/nginx;
    uwsgi_temp_path $tmp/nginx;
    scgi_temp_path $tmp/nginx;
    types { application/octet-stream bin; }
    server { listen 127.0.0.1:$sport backlog=4096; root $tmp/www; }
}
EOF
    taskset -c $SERVER_CPU nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" 2>"$tmp/nginx.err" &
    spid=$!
    wait_port "$sport"
}
start_lighttpd() {
    sport=$(free_port)
    cat >"$tmp/lighttpd.conf" <<EOF
server.document-root = "$tmp/www"
server.bind = "127.0.0.1"
server.port = $sport
server.max-fds = 8192
server.max-connections = 4096
server.max-keep-alive-requests = 1000000
server.errorlog = "$tmp/lighttpd.log"
server.modules = ()
EOF
    taskset -c $SERVER_CPU lighttpd -D -f "$tmp/lighttpd.conf" 2>"$tmp/lighttpd.err" &
    spid=$!
    wait_port "$sport"
}

servers=()
[ -x "$HTTPD" ] && servers+=(httpd) || echo "SKIPPED httpd: $HTTPD not built"
have nginx && servers+=(nginx) || echo "SKIPPED nginx: not installed (Debian: nginx-light)"
have lighttpd && servers+=(lighttpd) || echo "SKIPPED lighttpd: not installed"
[ -n "$ALT" ] && servers+=(alt)
points=()
if have wrk; then
    for f in 1k 100k; do for c in 10 100 1000; do points+=("wrk:$f:$c"); done; done
else
    echo "SKIPPED wrk runs: wrk not installed"
fi
if have ab; then
    for f in 1k 100k; do points+=("ab:$f:100"); done
else
    echo "SKIPPED ab runs: ab not installed (Debian: apache2-utils)"
fi
if [ -n "$ONLY_SERVERS" ]; then
    keep=()
    for s in "${servers[@]}"; do [[ " $ONLY_SERVERS " == *" $s "* ]] && keep+=("$s"); done
    servers=("${keep[@]}")
fi
[ -n "$ONLY_POINTS" ] && read -r -a points <<<"$ONLY_POINTS"
have python3 || { echo "SKIPPED http bench: python3 (for a free port) not installed"; exit 0; }
have taskset || { echo "SKIPPED http bench: taskset not installed"; exit 0; }

# run POINT: one client run against 127.0.0.1:$sport; prints "REQUESTS ERRORS"
run_client() {
    local tool=${1%%:*} rest=${1#*:} f c
    f=${rest%%:*}
    c=${rest#*:}
    local url=http://127.0.0.1:$sport/$f.bin
    if [ "$tool" = wrk ]; then
        timeout $((DUR + 20)) taskset -c $CLIENT_CPU wrk -t1 -c"$c" -d"${DUR}s" "$url" >"$tmp/client.out" 2>&1
        awk '/requests in/ { r = $1 } /Socket errors|Non-2xx/ { e = 1 } END { print r + 0, e + 0 }' "$tmp/client.out"
    else
        timeout $((DUR * 10 + 30)) taskset -c $CLIENT_CPU ab -q -n "$AB_N" -c "$c" "$url" >"$tmp/client.out" 2>&1
        awk '/^Complete requests/ { r = $3 } /^Failed requests/ { e = $3 } /^Non-2xx/ { e += $3 } END { print r + 0, e + 0 }' "$tmp/client.out"
    fi
}

mkdir -p "$(dirname "$OUT")"
echo -e "rep\tpoint\tserver\trequests\terrors\tcpu_us_per_req" >"$OUT"
echo "load before: $(uptime)"
for ((rep = 0; rep < REPS; rep++)); do
    for p in "${points[@]}"; do
        n=${#servers[@]}
        for ((k = 0; k < n; k++)); do
            s=${servers[$(((k + rep) % n))]}
            spid= sport=
            if ! "start_$s"; then
                echo "SKIPPED $s at $p: did not start ($(tail -n 1 "$tmp/$s.err" 2>/dev/null))"
                [ -n "$spid" ] && kill -KILL "$spid" 2>/dev/null
                continue
            fi
            pids=("$spid")
            t0=$(cpu_ticks "$spid")
            read -r req err < <(run_client "$p")
            t1=$(cpu_settled "$spid")
            kill -TERM "$spid" 2>/dev/null
            for ((i = 0; i < 50; i++)); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$spid" 2>/dev/null
            wait "$spid" 2>/dev/null
            pids=()
            us=$(cpu_us "$t0" "$t1" "${req:-0}")
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$p" "$s" "${req:-0}" "${err:-0}" "$us" >>"$OUT"
        done
    done
done
echo "load after: $(uptime)"

# median per (point, server), ratio to nginx
awk -F'\t' -v servers="${servers[*]}" '
NR > 1 && $6 != "NA" { k = $2 SUBSEP $3; v[k, ++n[k]] = $6; if ($5 > 0) errs[k] += $5; if (!($2 in seen)) { seen[$2] = 1; order[++np] = $2 } }
function median(k,   i, j, t, m, a) {
    m = n[k]; if (!m) return ""
    for (i = 1; i <= m; i++) a[i] = v[k, i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
END {
    ns = split(servers, S, " ")
    printf "%-22s", "CPU us/request"
    for (i = 1; i <= ns; i++) printf " %10s", S[i]
    printf " %14s\n", "httpd/nginx"
    for (q = 1; q <= np; q++) {
        p = order[q]; split(p, P, ":")
        label = (P[1] == "wrk" ? "wrk keep-alive" : "ab close") " " P[2] " c" P[3]
        printf "%-22s", label
        for (i = 1; i <= ns; i++) {
            m = median(p SUBSEP S[i])
            printf " %10s", m == "" ? "-" : sprintf("%.1f", m) (errs[p SUBSEP S[i]] ? "!" : "")
            med[S[i]] = m
        }
        if (med["httpd"] != "" && med["nginx"] != "" && med["nginx"] > 0) printf " %13.2fx", med["httpd"] / med["nginx"]
        printf "\n"
    }
    print "(median of the repetitions; ! = the client reported errors or non-2xx answers)"
}' "$OUT"
