# bench/servers/cpu.sh - the measure the server benchmarks share, sourced by bench/servers/http.sh,
# bench/servers/kv.sh and bench/tls/https.sh: a server's CPU time per request, read from
# /proc/PID/stat (utime + stime of all its threads) around a client run.
#
#   cpu_pin                 sets SERVER_CPU and CLIENT_CPU: the server gets CPU 0 and the client
#                           CPU 1 (both 0 on a single-CPU machine, with a note)
#   t0=$(cpu_ticks PID)     before the client starts
#   t1=$(cpu_settled PID)   after it has exited: waits until the server has stopped working
#                           (no tick for 0.3 s, at most 5 s), so that what the end of the run
#                           causes (closing a thousand connections) is charged to every server
#                           alike rather than to whichever reacts before the reading
#   cpu_us T0 T1 REQUESTS [DECIMALS]   microseconds of CPU per request, or NA without requests

CPU_TCK=$(getconf CLK_TCK)

cpu_pin() {
    SERVER_CPU=0 CLIENT_CPU=1
    if [ "$(nproc)" -lt 2 ]; then
        CLIENT_CPU=0
        echo "note: one CPU: server and client share it"
    fi
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

cpu_settled() {
    local t last i
    last=$(cpu_ticks "$1")
    for ((i = 0; i < 16; i++)); do
        sleep 0.3
        t=$(cpu_ticks "$1")
        [ "$t" = "$last" ] && break
        last=$t
    done
    echo "$last"
}

cpu_us() {
    if [ "${3:-0}" -gt 0 ] 2>/dev/null; then
        awk -v d=$(($2 - $1)) -v r="$3" -v t="$CPU_TCK" -v f="${4:-1}" 'BEGIN { printf "%.*f", f, d * 1e6 / t / r }'
    else
        echo NA
    fi
}
