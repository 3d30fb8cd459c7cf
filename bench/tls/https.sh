#!/usr/bin/env bash
# bench/tls/https.sh - examples/httpd built with TLS (httpd_tls) against nginx with the same
# certificate, key, protocol and cipher.
#
#   bench/tls/https.sh HTTPD_TLS_BINARY [--quick] [--reps N] [--out FILE.tsv]
#
# Two measures, each the server's CPU per request (utime+stime of /proc/PID/stat from the
# client's start until the server is idle again, bench/servers/cpu.sh, divided by the requests
# the client completed) and the client's rate:
#   handshakes  ab without keep-alive, 20 concurrent: one full TLS 1.3 handshake per request
#               (ECDSA P-256 certificate, X25519, TLS_AES_128_GCM_SHA256), a 1 KB file
#   bulk        wrk with keep-alive, 10 connections, a 1 MB file: throughput of the record layer
# Both servers get one core (taskset CPU 0) and one process: nginx with one worker
# (master_process off), access log off, no session cache or tickets (ab does not resume
# sessions anyway); the clients run on CPU 1. Runs alternate between the servers (the order
# rotating) and repeat; the table gives the median per point and httpd's ratio to nginx. Prints
# `uptime` first: the machine is shared, compare only numbers from one run.
set -u

HTTPD=${1:?usage: $0 HTTPD_TLS_BINARY [--quick] [--reps N] [--out FILE.tsv]}
shift
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=$ROOT/build/bench/https.tsv
REPS=5 DUR=3 AB_N=3000
while [ $# -gt 0 ]; do
    case $1 in
    --quick) REPS=1 DUR=1 AB_N=500 ;;
    --reps) REPS=$2; shift ;;
    --out) OUT=$2; shift ;;
    *) echo "https.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done
have() { command -v "$1" >/dev/null 2>&1; }
for t in openssl nginx ab wrk taskset python3; do
    have $t || { echo "SKIPPED https bench: $t not installed"; exit 0; }
done
[ -x "$HTTPD" ] || { echo "SKIPPED https bench: $HTTPD not built (needs OpenSSL)"; exit 0; }
nginx -V 2>&1 | grep -q http_ssl_module || { echo "SKIPPED https bench: nginx without ssl"; exit 0; }
. "$ROOT/bench/servers/cpu.sh"
cpu_pin
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench_https.XXXXXX")
spid=
cleanup() {
    [ -n "$spid" ] && kill -KILL "$spid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/www" "$tmp/nginx" "$(dirname "$OUT")"
head -c 1024 /dev/urandom >"$tmp/www/1k.bin"
head -c 1048576 /dev/urandom >"$tmp/www/1m.bin"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$tmp/key.pem" -out "$tmp/cert.pem" \
    2>/dev/null
# the same protocol and cipher for both, through OpenSSL's own configuration file
cat >"$tmp/openssl.cnf" <<EOF
openssl_conf = conf
[conf]
ssl_conf = ssl
[ssl]
system_default = sys
[sys]
MinProtocol = TLSv1.3
Ciphersuites = TLS_AES_128_GCM_SHA256
Groups = X25519
EOF
export OPENSSL_CONF=$tmp/openssl.cnf

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    local i
    for ((i = 0; i < 50; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
start_httpd() {
    local i
    : >"$tmp/httpd.out"
    taskset -c $SERVER_CPU "$HTTPD" --tls "$tmp/cert.pem" "$tmp/key.pem" -p 0 -d "$tmp/www" -T 30 \
        >"$tmp/httpd.out" 2>"$tmp/httpd.err" &
    spid=$!
    for ((i = 0; i < 50; i++)); do
        sport=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/httpd.out")
        [ -n "$sport" ] && return 0
        sleep 0.1
    done
    return 1
}
start_nginx() {
    sport=$(free_port)
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
    keepalive_requests 1000000;
    client_body_temp_path $tmp/nginx;
    proxy_temp_path $tmp/nginx;
    fastcgi_temp_path $tmp/nginx;
    uwsgi_temp_path $tmp/nginx;
    scgi_temp_path $tmp/nginx;
    types { application/octet-stream bin; }
    ssl_certificate $tmp/cert.pem;
    ssl_certificate_key $tmp/key.pem;
    ssl_protocols TLSv1.3;
    ssl_session_cache off;
    ssl_session_tickets off;
    server { listen 127.0.0.1:$sport ssl backlog=4096; root $tmp/www; }
}
EOF
    taskset -c $SERVER_CPU nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" 2>"$tmp/nginx.err" &
    spid=$!
    wait_port "$sport"
}

# run SERVER POINT: one measurement; prints "requests rate cpu_us_per_request"
run() {
    local server=$1 point=$2 before after n rate out
    "start_$server" || { echo "0 0 0"; return; }
    before=$(cpu_ticks "$spid")
    case $point in
    handshakes)
        out=$(taskset -c $CLIENT_CPU ab -n $AB_N -c 20 -q "https://127.0.0.1:$sport/1k.bin" 2>&1)
        n=$(printf '%s\n' "$out" | awk '/^Complete requests:/ { c = $3 } /^Failed requests:/ { f = $3 } END { print c - f }')
        rate=$(printf '%s\n' "$out" | awk '/^Requests per second:/ { print $4 }')
        ;;
    bulk)
        out=$(taskset -c $CLIENT_CPU wrk -t 1 -c 10 -d "${DUR}s" "https://127.0.0.1:$sport/1m.bin" 2>&1)
        n=$(printf '%s\n' "$out" | awk '/requests in/ { print $1 }')
        rate=$(printf '%s\n' "$out" | awk '/^Transfer\/sec:/ { v = $2; u = substr(v, length(v) - 1); v += 0;
            if (u == "GB") v *= 1024; else if (u == "KB") v /= 1024; print v }')
        ;;
    esac
    after=$(cpu_settled "$spid")
    kill -TERM "$spid" 2>/dev/null
    wait "$spid" 2>/dev/null
    spid=
    if [ -z "$n" ] || [ "$n" -le 0 ] 2>/dev/null; then echo "0 0 0"; return; fi
    echo "$n ${rate:-0} $(cpu_us "$before" "$after" "$n")"
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'; }

echo "load: $(uptime)"
# the cipher each server agrees with a default client
for s in httpd nginx; do
    "start_$s" && echo "$s: $(printf '' | timeout 5 openssl s_client -connect "127.0.0.1:$sport" 2>/dev/null |
        sed -n 's/^New, \(.*\)$/\1/p' | head -n 1)"
    kill -TERM "$spid" 2>/dev/null
    wait "$spid" 2>/dev/null
    spid=
done
printf 'point\tserver\trate\tcpu_us_per_req\n' >"$OUT"
for point in handshakes bulk; do
    for ((r = 0; r < REPS; r++)); do
        if ((r % 2)); then order="nginx httpd"; else order="httpd nginx"; fi
        for s in $order; do
            read -r n rate cpu <<<"$(run "$s" "$point")"
            printf '%s\t%s\t%s\t%s\n' "$point" "$s" "$rate" "$cpu" >>"$OUT"
        done
    done
done
printf '%-11s %-6s %14s %16s %10s\n' point server "rate (median)" "CPU us/request" "vs nginx"
for point in handshakes bulk; do
    unit=$([ $point = bulk ] && echo MB/s || echo req/s)
    ng=$(awk -F'\t' -v p=$point '$1 == p && $2 == "nginx" { print $4 }' "$OUT" | median)
    for s in httpd nginx; do
        rate=$(awk -F'\t' -v p=$point -v s=$s '$1 == p && $2 == s { print $3 }' "$OUT" | median)
        cpu=$(awk -F'\t' -v p=$point -v s=$s '$1 == p && $2 == s { print $4 }' "$OUT" | median)
        printf '%-11s %-6s %9s %-5s %15s %10s\n' $point $s "$rate" "$unit" "$cpu" \
            "$(awk -v a="$cpu" -v b="$ng" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }')"
    done
done
echo "(all runs: $OUT)"
