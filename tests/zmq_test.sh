#!/usr/bin/env bash
# zmq_test.sh - coro_zmq.h: tests/test_zmq.c and tests/test_zmq_wake.c (one process each; the
# latter with each backend of the scheduler), then examples/zmq_demo's coroutines in two
# processes on loopback (request/reply and publish/subscribe): our server with our client, our
# server with a pyzmq client (tests/zmq_peer.py), a pyzmq server with our client. Prints
# "ok"/"FAIL" per check and "N passed, M failed" (the C tests' counts added in); SKIPPED where
# libzmq (not built) or pyzmq (python3-zmq) is missing. Every wait is bounded.
#   usage: tests/zmq_test.sh BUILD_DIR   (BUILD_DIR/tests/test_zmq*, BUILD_DIR/examples/zmq_demo)
set -u
out=${1:?usage: $0 BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/ext_lib.sh"
suites="test_zmq test_zmq_wake test_zmq_wake_poll"
ext_need_built "coro_zmq tests" "pkg-config finds no libzmq: install libzmq3-dev" \
    $(for b in $suites; do echo "tests/$b"; done) examples/zmq_demo
ext_init zmq_test
for b in $suites; do ext_suite "$b" 60 "$out/tests/$b"; done

# start NAME CMD...: a server in the background; sets pid, rep, pub from its first two lines
start() {
    local name=$1 i
    shift
    : >"$tmp/$name.out"
    "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    pid=$!
    rep=
    pub=
    for ((i = 0; i < 100 * slow; i++)); do
        rep=$(sed -n 's/^rep //p' "$tmp/$name.out")
        pub=$(sed -n 's/^pub //p' "$tmp/$name.out")
        [ -n "$rep" ] && [ -n "$pub" ] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    fail "$name starts" "no endpoints printed: $(tail -n 2 "$tmp/$name.err")"
    return 1
}
# stop: SIGTERM the server started last and wait for it (bounded); sets rc
stop() {
    local i
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 50 * slow; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rc=$?
}
client_check() { # NAME EXPECT-PATTERN CMD...
    local name=$1 pat=$2 res rc
    shift 2
    res=$(timeout $((40 * slow)) "$@" 2>&1)
    rc=$?
    if [ $rc -eq 0 ] && printf '%s' "$res" | grep -q -E "$pat"; then ok "$name"; else
        fail "$name" "exit $rc: $(printf '%s' "$res" | tail -n 2)"; fi
}

have_pyzmq=0
py=
for p in python3 /usr/bin/python3; do # (a python3 earlier in PATH may lack Debian's modules)
    if "$p" -c 'import zmq' 2>/dev/null; then py=$p; have_pyzmq=1; break; fi
done
[ $have_pyzmq = 1 ] || echo "SKIPPED coro_zmq against pyzmq: python3-zmq not installed"

# our server: our client, then pyzmq's
if start ours ${wrap[@]+"${wrap[@]}"} "$out/examples/zmq_demo" serve; then
    ok "zmq_demo serve starts ($rep, $pub)"
    client_check "our client (10 coroutines, 2000 requests, ticks) against our server" \
        '2000 right, 0 wrong, 0 failed; [0-9]+ ticks' \
        ${wrap[@]+"${wrap[@]}"} "$out/examples/zmq_demo" client "$rep" "$pub" -c 10 -n 2000
    if [ $have_pyzmq = 1 ]; then
        client_check "pyzmq client (8 REQ sockets, 1000 requests, SUB) against our server" \
            '1000 right, 0 wrong; [0-9]+ ticks' "$py" "$here/zmq_peer.py" client "$rep" "$pub" 1000 8
    fi
    stop
    if [ $rc -eq 0 ]; then ok "zmq_demo serve exits 0 on SIGTERM"; else
        fail "zmq_demo serve exit" "status $rc: $(tail -n 3 "$tmp/ours.err")"; fi
fi

# pyzmq's server: our client
if [ $have_pyzmq = 1 ] && start py "$py" "$here/zmq_peer.py" serve; then
    client_check "our client (10 coroutines, 2000 requests, ticks) against a pyzmq server" \
        '2000 right, 0 wrong, 0 failed; [0-9]+ ticks' \
        ${wrap[@]+"${wrap[@]}"} "$out/examples/zmq_demo" client "$rep" "$pub" -c 10 -n 2000
    stop
fi
ext_done
