#!/usr/bin/env bash
# demo.sh - what `make demo` runs: the examples doing their job, in about ten seconds.
#   1. fringe and generators (coro.h alone: generators, same-fringe)
#   2. httpd on a free loopback port, then fetch against it: a few URLs with their per-URL
#      lines, then a load run of 200 concurrent workers over kept-alive connections, summarised
#   3. httpd stopped with SIGTERM, showing its exit line
# Needs only bash and coreutils (no curl or nc). Exits by itself: every wait has a time limit.
#
#   usage: tools/demo.sh build/default/examples      (DEMO_REQUESTS=N to change the load)
set -u

dir=${1:?usage: $0 DIR_OF_BUILT_EXAMPLES}
requests=${DEMO_REQUESTS:-50000}
status=0
hpid=
out=$(mktemp "${TMPDIR:-/tmp}/demo-httpd.XXXXXX")
trap '[ -n "$hpid" ] && kill -KILL "$hpid" 2>/dev/null; rm -f "$out"' EXIT

# alive PID: the process runs (an exited child that was not waited for yet, a zombie, does not)
alive() {
    local st=
    kill -0 "$1" 2>/dev/null || return 1
    [ -r "/proc/$1/stat" ] || return 0
    read -r _ _ st _ <"/proc/$1/stat" 2>/dev/null
    [ "$st" != Z ]
}
section() { printf '\n=== %s\n' "$*"; }
limit() { if command -v timeout >/dev/null 2>&1; then timeout "$@"; else shift; "$@"; fi; }

for prog in fringe generators; do
    section "$prog"
    if [ -x "$dir/$prog" ]; then
        limit 10 "$dir/$prog" || { echo "($prog failed)"; status=1; }
    else
        echo "($dir/$prog is not built)"
    fi
done

for prog in httpd fetch; do
    if [ ! -x "$dir/$prog" ]; then
        echo "demo: $dir/$prog is not built" >&2
        exit 1
    fi
done

section "httpd: one coroutine per connection, on one thread"
"$dir/httpd" -p 0 >"$out" 2>&1 &
hpid=$!
port=
for _ in $(seq 1 50); do
    port=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$out")
    [ -n "$port" ] && break
    alive "$hpid" || break
    sleep 0.1
done
if [ -z "$port" ]; then
    echo "demo: httpd did not start:" >&2
    cat "$out" >&2
    exit 1
fi
base=http://127.0.0.1:$port
echo "\$ httpd -p 0"
cat "$out"

section "fetch: a few URLs (status, body bytes, milliseconds)"
echo "\$ fetch $base/ $base/hello $base/missing"
limit 20 "$dir/fetch" "$base/" "$base/hello" "$base/missing"
echo "(exit status $? : the 404 counts as an error)"

section "fetch: $requests requests, 200 workers pulling URLs from a channel"
echo "\$ fetch -q -c 200 -n $requests $base/"
summary=$(limit 60 "$dir/fetch" -q -c 200 -n "$requests" "$base/")
rc=$?
echo "$summary"
[ "$rc" -eq 0 ] || status=1
set -- $summary
if [ "${1:-}" = requests ] && [ $# -ge 10 ]; then
    printf '  %-28s %s\n' "requests:" "$2" "errors:" "$4" "requests per second:" "$6" \
        "peak coroutines (fetch):" "$8" "peak RSS of fetch:" "${10} kB"
fi
hwm=$(sed -n 's/^VmHWM:[[:space:]]*//p' "/proc/$hpid/status" 2>/dev/null)
[ -n "$hwm" ] && printf '  %-28s %s\n' "peak RSS of httpd:" "$hwm"

section "httpd: SIGTERM"
kill -TERM "$hpid"
for _ in $(seq 1 100); do
    alive "$hpid" || break
    sleep 0.1
done
if alive "$hpid"; then
    echo "demo: httpd still running 10 s after SIGTERM" >&2
    kill -KILL "$hpid"
    status=1
fi
wait "$hpid"
rc=$?
hpid=
tail -n 2 "$out"
echo "(httpd exit status $rc)"
[ "$rc" -eq 0 ] || status=1
exit $status
