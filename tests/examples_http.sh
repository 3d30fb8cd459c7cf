#!/usr/bin/env bash
# examples_http.sh - what real HTTP clients rely on, checked with curl against examples/httpd
# (ranges, validators and 304, the directory redirect, absolute-form targets, MIME types, the
# access log, a graceful drain on SIGTERM), examples/fetch against a misbehaving server
# (tests/canned_http: interim responses, very long header lines), and examples/kv against
# redis-cli and redis-benchmark, and byte for byte against redis-server's own replies (normal
# and malformed input) when it is installed.
# Every server starts on a free port; every wait has a time limit. Prints "ok NAME",
# "FAIL NAME: why", "SKIPPED what: why", then "N passed, M failed".
#
#   usage: tests/examples_http.sh build/default        (the variant's build directory)
# Under CORO_TEST_EXEC_WRAPPER (valgrind, qemu) the servers run under it and the time limits
# are multiplied by CORO_TEST_SLOW (default 5 then).
set -u

out=${1:?usage: $0 BUILD_DIR_OF_THE_VARIANT}
dir=$out/examples
passed=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/examples_http.XXXXXX")
wrap=()
read -r -a wrap <<<"${CORO_TEST_EXEC_WRAPPER:-}"
if [ ${#wrap[@]} -gt 0 ]; then slow=${CORO_TEST_SLOW:-5}; else slow=${CORO_TEST_SLOW:-1}; fi

cleanup() {
    local p
    for p in $(jobs -p); do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT

alive() {
    local st=
    kill -0 "$1" 2>/dev/null || return 1
    [ -r "/proc/$1/stat" ] || return 0
    read -r _ _ st _ <"/proc/$1/stat" 2>/dev/null
    [ "$st" != Z ]
}
ok() { echo "ok $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
have() { command -v "$1" >/dev/null 2>&1; }
secs() { echo $(($1 * slow)); }
nap() { sleep "$(awk "BEGIN { print $1 * $slow }")"; }
# is NAME GOT WANT
is() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1" "got '$2', want '$3'"; fi; }
expect() {
    if grep -qE -- "$3" "$2" 2>/dev/null; then ok "$1"; else fail "$1" "no line matching /$3/ in $(basename "$2")"; fi
}

# start LABEL PROGRAM ARGS...: run it in the background (under the wrapper), wait for its
# "listening on ADDR:PORT" line; sets pid and port. Output in $tmp/LABEL.out and .err.
start() {
    local label=$1 prog=$2 i
    shift 2
    port= pid=
    if [ ! -x "$prog" ]; then
        fail "$label starts" "$prog is missing"
        return 1
    fi
    : >"$tmp/$label.out"
    : >"$tmp/$label.err"
    ${wrap[@]+"${wrap[@]}"} "$prog" "$@" >"$tmp/$label.out" 2>"$tmp/$label.err" &
    pid=$!
    for ((i = 0; i < 100 * slow; i++)); do
        port=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$tmp/$label.out" 2>/dev/null)
        [ -n "$port" ] && return 0
        alive "$pid" || break
        sleep 0.1
    done
    fail "$label starts" "no 'listening on' line; stderr: $(tail -n 2 "$tmp/$label.err")"
    kill -KILL "$pid" 2>/dev/null
    return 1
}
# stop LABEL PID [threaded]: SIGTERM; it must exit 0 within 10 s (times the slowdown). A
# threaded program (httpd's offload workers) is killed instead under qemu-i386, which mishandles
# a signal in a threaded process, and a SKIPPED line says so
stop() {
    local i status
    if [[ ${3:-} == threaded && ${CORO_TEST_EMULATOR:-} == *qemu-i386* ]]; then
        echo "SKIPPED $1 exits 0 on SIGTERM: under qemu-i386, SIGTERM to a threaded program is unreliable"
        kill -KILL "$2" 2>/dev/null
        wait "$2" 2>/dev/null
        return
    fi
    kill -TERM "$2" 2>/dev/null
    for ((i = 0; i < 100 * slow; i++)); do
        alive "$2" || break
        sleep 0.1
    done
    if alive "$2"; then
        kill -KILL "$2" 2>/dev/null
        wait "$2" 2>/dev/null
        fail "$1 exits 0 on SIGTERM" "still running (killed)"
        return
    fi
    wait "$2"
    status=$?
    if [ $status -eq 0 ]; then ok "$1 exits 0 on SIGTERM"; else fail "$1 exits 0 on SIGTERM" "status $status"; fi
}

# ---------------------------------------------------------------------------------------- httpd
www=$tmp/www
mkdir -p "$www/sub" "$www/mime"
printf '<h1>index</h1>\n' >"$www/index.html"
printf '<h1>sub</h1>\n' >"$www/sub/index.html"
printf 'hello from a file\n' >"$www/sub/a.txt"
head -c 300000 /dev/urandom >"$www/big.bin"
for f in x.wasm x.mjs x.woff2 x.webp x.mp4 x.pdf x.xml x.svg x.json X.JSON y.Html z.CSS; do printf 'x' >"$www/mime/$f"; done
if ! have curl; then
    echo "SKIPPED httpd checks with curl: curl not installed"
elif start httpd "$dir/httpd" -p 0 -d "$www" -T 2 -l "$tmp/access.log"; then
    hpid=$pid
    base=http://127.0.0.1:$port
    c() { curl -s --max-time "$(secs 5)" "$@"; }

    # Range
    got=$(c -r 100-199 -o "$tmp/r1" -w '%{http_code}' "$base/big.bin")
    is "httpd: Range 100-199 is a 206" "$got" 206
    if cmp -s "$tmp/r1" <(head -c 200 "$www/big.bin" | tail -c 100); then ok "httpd: Range 100-199 carries those bytes"; else fail "httpd: Range bytes" "differ ($(wc -c <"$tmp/r1") bytes)"; fi
    c -r 100-199 -D "$tmp/r1.h" -o /dev/null "$base/big.bin"
    expect "httpd: 206 carries Content-Range" "$tmp/r1.h" '^Content-Range: bytes 100-199/300000'
    expect "httpd: 206 Content-Length is the range's" "$tmp/r1.h" '^Content-Length: 100'
    c -r -1000 -o "$tmp/r2" "$base/big.bin"
    if cmp -s "$tmp/r2" <(tail -c 1000 "$www/big.bin"); then ok "httpd: suffix Range -1000"; else fail "httpd: suffix Range" "differ"; fi
    c -r 250000- -o "$tmp/r3" "$base/big.bin"
    if cmp -s "$tmp/r3" <(tail -c 50000 "$www/big.bin"); then ok "httpd: open Range 250000- (past the memory prefix, by sendfile)"; else fail "httpd: open Range" "differ"; fi
    c -r 300000- -D "$tmp/r4.h" -o /dev/null "$base/big.bin"
    expect "httpd: unsatisfiable Range is a 416" "$tmp/r4.h" '^HTTP/1.1 416 '
    expect "httpd: 416 carries Content-Range bytes */size" "$tmp/r4.h" '^Content-Range: bytes \*/300000'
    got=$(c -r 0-9,20-29 -o "$tmp/r5" -w '%{http_code}' "$base/big.bin")
    if [ "$got" = 200 ] && cmp -s "$tmp/r5" "$www/big.bin"; then ok "httpd: several ranges: the whole file, 200"; else fail "httpd: several ranges" "status $got"; fi
    got=$(c -r 0-9 -H 'If-Range: "nope"' -o /dev/null -w '%{http_code}' "$base/big.bin")
    is "httpd: If-Range that does not match: 200" "$got" 200

    # heads longer than the part of the buffer kept on the coroutine's stack (1 KiB) but under
    # the 8 KiB limit: answered, on a kept connection, before and after a short one
    long=$(head -c 6000 /dev/zero | tr '\0' b)
    got=$(c -H "X-Long: $long" -o "$tmp/l1" -w '%{num_connects} ' "$base/sub/a.txt" \
        --next -s --max-time "$(secs 5)" -o "$tmp/l2" -w '%{num_connects} ' "$base/sub/a.txt" \
        --next -s --max-time "$(secs 5)" -H "X-Long: $long" -o "$tmp/l3" -w '%{num_connects}' "$base/big.bin")
    if [ "$got" = "1 0 0" ] && [ "$(cat "$tmp/l1" "$tmp/l2")" = "hello from a file
hello from a file" ] && cmp -s "$tmp/l3" "$www/big.bin"; then
        ok "httpd: 6 KB heads, three requests on one connection"
    else
        fail "httpd: 6 KB heads" "num_connects '$got', bodies $(wc -c <"$tmp/l1" 2>/dev/null) $(wc -c <"$tmp/l2" 2>/dev/null) $(wc -c <"$tmp/l3" 2>/dev/null)"
    fi
    # pipelined: a long head, then a short one in the same segment, then a long one again
    if exec 5<>"/dev/tcp/127.0.0.1/$port"; then
        printf 'GET /sub/a.txt HTTP/1.1\r\nHost: x\r\nX-Long: %s\r\n\r\nGET /sub/a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /sub/a.txt HTTP/1.1\r\nHost: x\r\nX-Long: %s\r\nConnection: close\r\n\r\n' \
            "$long" "$long" >&5
        timeout "$(secs 5)" cat <&5 >"$tmp/pipe3.txt"
        exec 5<&-
        is "httpd: three pipelined requests with 6 KB heads, three answers" \
            "$(grep -c '^hello from a file' "$tmp/pipe3.txt")" 3
    else
        fail "httpd: pipelined 6 KB heads" "cannot connect"
    fi

    # validators
    c -I "$base/sub/a.txt" >"$tmp/v.h"
    expect "httpd: ETag" "$tmp/v.h" '^ETag: "[0-9a-f]+-[0-9a-f]+"'
    expect "httpd: Last-Modified" "$tmp/v.h" '^Last-Modified: [A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} GMT'
    expect "httpd: Accept-Ranges" "$tmp/v.h" '^Accept-Ranges: bytes'
    etag=$(sed -n 's/^ETag: //p' "$tmp/v.h" | tr -d '\r')
    lm=$(sed -n 's/^Last-Modified: //p' "$tmp/v.h" | tr -d '\r')
    got=$(c -H "If-None-Match: $etag" -D "$tmp/v2.h" -o "$tmp/v2" -w '%{http_code}' "$base/sub/a.txt")
    if [ "$got" = 304 ] && [ ! -s "$tmp/v2" ]; then ok "httpd: If-None-Match with the ETag: 304, no body"; else fail "httpd: If-None-Match" "status $got, $(wc -c <"$tmp/v2") body bytes"; fi
    if grep -qi '^Content-Length' "$tmp/v2.h"; then fail "httpd: 304 has no Content-Length" "it has"; else ok "httpd: 304 has no Content-Length"; fi
    got=$(c -H "If-None-Match: \"x\", W/$etag" -o /dev/null -w '%{http_code}' "$base/sub/a.txt")
    is "httpd: If-None-Match list with a weak match: 304" "$got" 304
    got=$(c -H 'If-None-Match: "other"' -o /dev/null -w '%{http_code}' "$base/sub/a.txt")
    is "httpd: If-None-Match without a match: 200" "$got" 200
    got=$(c -H "If-Modified-Since: $lm" -o /dev/null -w '%{http_code}' "$base/sub/a.txt")
    is "httpd: If-Modified-Since = Last-Modified: 304" "$got" 304
    got=$(c -H "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT" -o /dev/null -w '%{http_code}' "$base/sub/a.txt")
    is "httpd: If-Modified-Since older: 200" "$got" 200
    got=$(c -H 'If-None-Match: "other"' -H "If-Modified-Since: $lm" -o /dev/null -w '%{http_code}' "$base/sub/a.txt")
    is "httpd: If-None-Match wins over If-Modified-Since" "$got" 200

    # directories
    c -D "$tmp/d.h" -o /dev/null "$base/sub"
    expect "httpd: a directory without its slash: 301" "$tmp/d.h" '^HTTP/1.1 301 '
    expect "httpd: 301 Location is the slash form" "$tmp/d.h" '^Location: /sub/'
    c -D "$tmp/d2.h" -o /dev/null "$base/sub?x=1"
    expect "httpd: 301 keeps the query" "$tmp/d2.h" '^Location: /sub/\?x=1'
    is "httpd: curl -L follows it to the index" "$(c -L "$base/sub")" "<h1>sub</h1>"

    # absolute-form
    is "httpd: absolute-form target" "$(c --request-target "http://127.0.0.1:$port/sub/a.txt" "$base/")" "hello from a file"
    is "httpd: absolute-form without a path is /" "$(c --request-target "http://127.0.0.1:$port" "$base/")" "<h1>index</h1>"
    got=$(c --request-target "ftp://x/y" -o /dev/null -w '%{http_code}' "$base/")
    is "httpd: another scheme is a 400" "$got" 400

    # MIME types
    bad=
    for pair in x.wasm=application/wasm x.mjs=text/javascript x.woff2=font/woff2 x.webp=image/webp \
        x.mp4=video/mp4 x.pdf=application/pdf x.xml=application/xml x.svg=image/svg+xml \
        x.json=application/json X.JSON=application/json y.Html=text/html z.CSS=text/css; do
        f=${pair%%=*}
        want=${pair#*=}
        got=$(c -o /dev/null -w '%{content_type}' "$base/mime/$f")
        case $got in "$want" | "$want;"*) ;; *) bad="$bad $f:$got" ;; esac
    done
    if [ -z "$bad" ]; then ok "httpd: MIME types (wasm mjs woff2 webp mp4 pdf xml svg json, any case)"; else fail "httpd: MIME types" "$bad"; fi

    # many files requested at once for the first time (each open is a job; requests for a path
    # being opened wait for that job): every response is its own file's
    mkdir -p "$www/many" "$tmp/many"
    args=()
    for ((i = 0; i < 40; i++)); do
        printf 'file %d\n' "$i" >"$www/many/f$i.txt"
        for k in 1 2 3; do args+=(-o "$tmp/many/f$i.$k" "$base/many/f$i.txt"); done
    done
    curl -s --max-time "$(secs 20)" --parallel --parallel-max 60 "${args[@]}" 2>/dev/null
    bad=
    for ((i = 0; i < 40; i++)); do
        for k in 1 2 3; do [ "$(cat "$tmp/many/f$i.$k" 2>/dev/null)" = "file $i" ] || bad="$bad f$i.$k"; done
    done
    if [ -z "$bad" ]; then ok "httpd: 120 concurrent first requests for 40 files: each gets its own"; else fail "httpd: concurrent opens" "wrong or missing:$bad"; fi

    stop httpd "$hpid" threaded
    expect "httpd: access log in the common log format" "$tmp/access.log" \
        '^127\.0\.0\.1 - - \[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}\] "GET /sub/a.txt HTTP/1.1" 200 18$'
    expect "httpd: access log: a 206 with its byte count" "$tmp/access.log" '"GET /big.bin HTTP/1.1" 206 100$'
    expect "httpd: access log: a 304" "$tmp/access.log" '"GET /sub/a.txt HTTP/1.1" 304 0$'
fi

# graceful drain. The client asks for a 16 MB file, reads its first bytes and then stops
# reading: the response outlasts the socket buffers, so however fast or slow the machine, the
# server is still sending it when SIGTERM comes. Then the client reads on: with a drain
# deadline well past that, the download completes intact and the server exits 0.
head -c 16000000 /dev/urandom >"$www/huge.bin"
drain=1
if [ -n "${CORO_TEST_EMULATOR:-}" ]; then
    # qemu-user ends a process whose worker threads have started on SIGTERM without running
    # its handler (exit 0, nothing drained): the same for httpd before graceful drain existed
    echo "SKIPPED httpd drain checks: SIGTERM is not handled by the program under $CORO_TEST_EMULATOR once threads exist"
    drain=0
fi
# get_stalled FD PORT PATH HEADFILE: send a GET on FD (opened to PORT), keep the first bytes
get_stalled() {
    printf 'GET %s HTTP/1.1\r\nHost: t\r\n\r\n' "$3" >&"$1"
    timeout "$(secs 20)" head -c 4096 <&"$1" >"$4"
    if [ "$(head -n 1 "$4" | tr -d '\r')" = "HTTP/1.1 200 OK" ]; then return 0; fi
    echo "$(head -c 80 "$4" | tr '\r\n' '  ')"
    return 1
}
if [ $drain = 1 ] && have curl && start httpd-drain "$dir/httpd" -p 0 -d "$www" -g "$(secs 20)"; then
    dpid=$pid
    dport=$port
    exec {dl}<>"/dev/tcp/127.0.0.1/$dport"
    if why=$(get_stalled "$dl" "$dport" /huge.bin "$tmp/huge.got"); then ok "httpd drain: a download has started"; else fail "httpd drain: download start" "$why"; fi
    # an idle keep-alive connection: closed at once by the drain
    exec {idle}<>"/dev/tcp/127.0.0.1/$dport"
    nap 0.2
    kill -TERM "$dpid"
    nap 0.5
    rc=0
    curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$dport/sub/a.txt" || rc=$?
    if [ "$rc" = 7 ]; then ok "httpd drain: new connections refused after SIGTERM"; else fail "httpd drain: new connections" "curl status $rc, want 7 (refused)"; fi
    line=x
    read -r -t 2 line <&"$idle"
    exec {idle}>&-
    if [ -z "$line" ]; then ok "httpd drain: an idle connection is closed"; else fail "httpd drain: idle connection" "read '$line'"; fi
    if alive "$dpid"; then ok "httpd drain: still running while a download is in flight"; else fail "httpd drain" "exited with a download in flight"; fi
    timeout "$(secs 30)" cat <&"$dl" >>"$tmp/huge.got"
    exec {dl}>&-
    if tail -c 16000000 "$tmp/huge.got" | cmp -s - "$www/huge.bin"; then ok "httpd drain: the download in flight completes intact"; else
        fail "httpd drain: download" "$(wc -c <"$tmp/huge.got") bytes with the head, the last 16000000 differ"; fi
    for ((i = 0; i < 50 * slow; i++)); do alive "$dpid" || break; sleep 0.1; done
    if alive "$dpid"; then kill -KILL "$dpid"; fail "httpd drain: exits once it is done" "still running"; else
        wait "$dpid"
        is "httpd drain: exit status" "$?" 0
    fi
fi
# ... and one that cannot finish within -g: cut at the deadline. The client asks for the 16 MB
# file, reads the first bytes and then stops reading, so however fast or slow the machine, the
# response outlasts the socket buffers and is still in flight when the signal comes.
if [ $drain = 1 ] && start httpd-drain2 "$dir/httpd" -p 0 -d "$www" -g 1; then
    dpid=$pid
    exec {dl}<>"/dev/tcp/127.0.0.1/$port"
    if why=$(get_stalled "$dl" "$port" /huge.bin "$tmp/huge2.head"); then ok "httpd drain -g 1: the download has started"; else fail "httpd drain -g 1: download start" "$why"; fi
    t0=$(date +%s%N)
    kill -TERM "$dpid"
    for ((i = 0; i < 100 * slow; i++)); do alive "$dpid" || break; sleep 0.05; done
    ms=$((($(date +%s%N) - t0) / 1000000))
    if alive "$dpid"; then kill -KILL "$dpid"; fail "httpd drain -g 1: exits at the deadline" "still running after $ms ms"; else
        wait "$dpid"
        rc=$?
        if [ $rc -eq 0 ] && [ $ms -ge 900 ] && [ $ms -lt $((4000 * slow)) ]; then ok "httpd drain -g 1: exits 0 at the deadline ($ms ms)"; else
            fail "httpd drain -g 1" "status $rc after $ms ms"; fi
    fi
    rest=$(timeout "$(secs 20)" cat <&"$dl" | wc -c)
    exec {dl}>&-
    got=$(($(wc -c <"$tmp/huge2.head") + rest))
    if [ "$got" -lt 16000000 ]; then ok "httpd drain -g 1: the unfinished download is cut ($got bytes)"; else fail "httpd drain -g 1" "download completed ($got bytes)"; fi
fi

# ---------------------------------------------------------------------------------------- fetch
canned=$out/tests/canned_http
# fetch_canned NAME RESPONSE-FILE REGEX: fetch one URL from canned_http serving that file
fetch_canned() {
    local name=$1 file=$2 re=$3
    if start canned "$canned" "$file" 1; then
        ${wrap[@]+"${wrap[@]}"} "$dir/fetch" -T "$(secs 5000)" "http://127.0.0.1:$port/" >"$tmp/fetch.out" 2>&1
        expect "$name" "$tmp/fetch.out" "$re"
        for ((i = 0; i < 50 * slow; i++)); do alive "$pid" || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
}
printf 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello' >"$tmp/c1"
fetch_canned "fetch: 100 Continue is not the answer: the 200 after it is" "$tmp/c1" "^200 bytes=5 ms=[0-9]+ http://127.0.0.1:[0-9]+/\$"
printf 'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno\n' >"$tmp/c2"
fetch_canned "fetch: 103 then 100 then the final 404" "$tmp/c2" "^404 bytes=3 ms=[0-9]+ "
{
    printf 'HTTP/1.1 200 OK\r\nSet-Cookie: a='
    head -c 20000 /dev/zero | tr '\0' b
    printf '\r\nContent-Security-Policy: '
    head -c 16000 /dev/zero | tr '\0' c
    printf '\r\nContent-Length: 2\r\n\r\nok'
} >"$tmp/c3"
fetch_canned "fetch: header lines of 20 KB and 16 KB are accepted" "$tmp/c3" "^200 bytes=2 ms=[0-9]+ "
{
    printf 'HTTP/1.1 200 OK\r\nSet-Cookie: a='
    head -c 40000 /dev/zero | tr '\0' b
    printf '\r\nContent-Length: 2\r\n\r\nok'
} >"$tmp/c4"
fetch_canned "fetch: a 40 KB header line is refused clearly" "$tmp/c4" "^ERR ms=[0-9]+ http://127.0.0.1:[0-9]+/ \\(response line too long\\)\$"
printf 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n' >"$tmp/c5"
fetch_canned "fetch: an unasked-for 101 is an error" "$tmp/c5" "^ERR ms=[0-9]+ .*101"

# ------------------------------------------------------------------------------------------- kv
# raw RESP bytes to PORT, the answer until the server closes (or 3 s)
resp() { timeout "$(secs 5)" nc -q 3 127.0.0.1 "$1"; }
kv_session() { # the command script used for byte comparisons (inline and multibulk forms)
    printf 'PING\r\nPING hello\r\nping a b\r\nECHO "a b\\x41\\n"\r\nSET k1 v1\r\nGET k1\r\nGET nokey\r\n'
    printf 'SET k1 v2 NX\r\nSET k1 v3 XX GET\r\nSET k2 v EX 100\r\nTTL k2\r\nPTTL nokey\r\nTTL k1\r\n'
    printf 'SET k3 v PX 0\r\nSET k3 v EX abc\r\nSET k3 v EX 10 PX 10\r\nSET k3 v KEEPTTL EX 10\r\n'
    printf 'SET k3 v FOO\r\nSET k2 v4 KEEPTTL\r\nTTL k2\r\nINCR n\r\nINCR n\r\nINCRBY n 10\r\nDECR n\r\n'
    printf 'INCR k1\r\nSET big 9223372036854775807\r\nINCR big\r\nINCRBY n abc\r\nEXPIRE k1 100\r\n'
    printf 'EXPIRE k1 100 NX\r\nEXPIRE k1 200 GT\r\nEXPIRE k1 50 LT\r\nEXPIRE k1 50 FOO\r\n'
    printf 'EXPIRE k1 50 NX XX\r\nEXPIRE nokey 10\r\nEXPIRE k1 abc\r\nTTL k1\r\nPERSIST k1\r\nTTL k1\r\n'
    printf 'MSET a 1 b 2 c 3\r\nMSET a 1 b\r\nMGET a b nokey c\r\nDEL a b nokey\r\nEXISTS a c c\r\n'
    printf 'GET\r\nSET x\r\nFOO bar baz\r\nfoo\r\nDBSIZE\r\nEXPIRE c -1\r\nEXISTS c\r\n'
    printf '*3\r\n$3\r\nSET\r\n$4\r\nbin\000\r\n$6\r\na\r\nb\000c\r\n*2\r\n$3\r\nGET\r\n$4\r\nbin\000\r\n'
    printf '*0\r\n*-1\r\n\r\n   \r\nSET q "unterminated\r\nSELECT 0\r\nQUIT\r\nPING\r\n'
}
# malformed inputs, each on a fresh connection: Redis answers an error and closes (a PING
# after it shows whether the connection stayed)
bad_inputs=('*abc\r\nPING\r\n' '*2147483648\r\nPING\r\n' '*1\r\nx\r\nPING\r\n' '*1\r\n$-1\r\nPING\r\n'
    '*1\r\n$536870913\r\nPING\r\n' '*1\r\n$3\r\nfoo\r\nPING\r\n' "set a \"b\"c\r\nPING\r\n" "set a 'b\r\nPING\r\n"
    '*1\r\n\n\r\nPING\r\n' '*2\r\n$3\r\nGET\r\n:1\r\nPING\r\n' '+PING\r\nPING\r\n' '*01\r\n$4\r\nPING\r\n')
if [ ! -x "$dir/kv" ]; then
    fail "kv" "$dir/kv is missing"
elif ! have nc; then
    echo "SKIPPED kv checks: nc not installed"
elif start kv "$dir/kv" -p 0; then
    kpid=$pid
    kport=$port
    printf 'PING\r\n' | resp "$kport" >"$tmp/kv.ping"
    is "kv: PING" "$(tr -d '\r' <"$tmp/kv.ping")" "+PONG"
    printf '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\nGET k\r\n' | resp "$kport" >"$tmp/kv.pipe"
    is "kv: pipelined SET, GET (multibulk and inline)" "$(tr -d '\r' <"$tmp/kv.pipe" | tr '\n' ' ')" "+OK \$5 hello \$5 hello "
    # 100 kB of random bytes as one value, read back intact
    head -c 100000 /dev/urandom >"$tmp/kv.blob"
    { printf '*3\r\n$3\r\nSET\r\n$4\r\nblob\r\n$100000\r\n'; cat "$tmp/kv.blob"; printf '\r\n*2\r\n$3\r\nGET\r\n$4\r\nblob\r\n'; } | resp "$kport" >"$tmp/kv.blob.out"
    if cmp -s <(tail -c +15 "$tmp/kv.blob.out" | head -c 100000) "$tmp/kv.blob" && [ "$(head -c 13 "$tmp/kv.blob.out")" = $'+OK\r\n$100000\r' ]; then
        ok "kv: a 100 kB binary value round-trips"; else fail "kv: binary value" "$(head -c 20 "$tmp/kv.blob.out" | od -c | head -n 1)"; fi
    if have redis-cli; then
        is "kv: redis-cli SET" "$(timeout 5 redis-cli -p "$kport" set greeting 'hi there')" "OK"
        is "kv: redis-cli GET" "$(timeout 5 redis-cli -p "$kport" get greeting)" "hi there"
        is "kv: redis-cli INCR" "$(timeout 5 redis-cli -p "$kport" incr counter)" "1"
        ttl=$(timeout 5 redis-cli -p "$kport" set t v ex 100 >/dev/null; timeout 5 redis-cli -p "$kport" ttl t)
        case $ttl in 100 | 99) ok "kv: redis-cli SET EX 100, TTL ($ttl)" ;; *) fail "kv: redis-cli SET EX, TTL" "got '$ttl'" ;; esac
        is "kv: redis-cli MSET/MGET" "$(timeout 5 redis-cli -p "$kport" mset x 1 y 2 >/dev/null; timeout 5 redis-cli -p "$kport" mget x nokey y | tr '\n' ' ')" "1  2 "
        is "kv: redis-cli wrong type of use" "$(timeout 5 redis-cli -p "$kport" incr greeting)" "ERR value is not an integer or out of range"
        timeout 5 redis-cli -p "$kport" set short v px 100 >/dev/null
        nap 0.3
        is "kv: a key with PX 100 is gone 300 ms later" "$(timeout 5 redis-cli -p "$kport" exists short)" "0"
    else
        echo "SKIPPED kv checks with redis-cli: redis-cli not installed (Debian: redis-tools)"
    fi
    if have redis-benchmark; then
        for P in 1 16; do
            timeout "$(secs 60)" redis-benchmark -p "$kport" -t get,set -n 5000 -c 20 -P $P -q 2>&1 |
                tr '\r' '\n' | grep -v -e '^ *$' -e 'rps=' >"$tmp/kv.bench"
            rc=${PIPESTATUS[0]}
            if [ $rc -eq 0 ] && grep -qE '^SET: [0-9.]+ requests per second' "$tmp/kv.bench" && grep -qE '^GET: [0-9.]+ requests per second' "$tmp/kv.bench" &&
                ! grep -qi -e 'error' -e 'warning' "$tmp/kv.bench"; then
                ok "kv: redis-benchmark -t get,set -n 5000 -c 20 -P $P"
            else
                fail "kv: redis-benchmark -P $P" "status $rc: $(tail -n 3 "$tmp/kv.bench" | tr '\n' ' ')"
            fi
        done
    else
        echo "SKIPPED kv redis-benchmark run: redis-benchmark not installed (Debian: redis-tools)"
    fi
    # replies byte for byte as redis-server's (on a port kv just had: free, most likely)
    if have redis-server; then
        rport=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$tmp/kv.out")
        stop kv "$kpid"
        redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --io-threads 1 \
            --daemonize no --dir "$tmp" >"$tmp/redis.log" 2>&1 &
        rpid=$!
        for ((i = 0; i < 50 * slow; i++)); do grep -q 'Ready to accept' "$tmp/redis.log" && break; sleep 0.1; done
        if start kv "$dir/kv" -p 0 && grep -q 'Ready to accept' "$tmp/redis.log"; then
            kpid=$pid
            kport=$port
            kv_session | resp "$kport" >"$tmp/kv.sess"
            kv_session | resp "$rport" >"$tmp/redis.sess"
            if cmp -s "$tmp/kv.sess" "$tmp/redis.sess" && [ -s "$tmp/kv.sess" ]; then
                ok "kv: $(grep -c '' "$tmp/kv.sess") reply lines byte-identical to redis-server's"
            else
                fail "kv: replies as redis-server's" "$(diff <(cat -A "$tmp/kv.sess") <(cat -A "$tmp/redis.sess") | head -n 4 | tr '\n' ' ')"
            fi
            bad=
            for inp in "${bad_inputs[@]}"; do
                printf "$inp" | resp "$kport" >"$tmp/kv.bad"
                printf "$inp" | resp "$rport" >"$tmp/redis.bad"
                cmp -s "$tmp/kv.bad" "$tmp/redis.bad" || bad="$bad [$inp: kv '$(tr -d '\r\n' <"$tmp/kv.bad")' redis '$(tr -d '\r\n' <"$tmp/redis.bad")']"
            done
            if [ -z "$bad" ]; then ok "kv: ${#bad_inputs[@]} malformed inputs answered (and the connection closed) as redis-server does"; else fail "kv: malformed input" "$bad"; fi
        else
            fail "kv: comparison with redis-server" "a server did not start: $(tail -n 2 "$tmp/redis.log")"
        fi
        kill -TERM "$rpid" 2>/dev/null
        wait "$rpid" 2>/dev/null
    else
        echo "SKIPPED kv byte comparison with redis-server: redis-server not installed"
    fi
    stop kv "$kpid"
    expect "kv: exit summary" "$tmp/kv.out" '^kv: [0-9]+ commands on [0-9]+ connections, [0-9]+ keys$'
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
