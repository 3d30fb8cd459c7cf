# ext_lib.sh - what the tests of the optional integrations share (tls_test.sh, zmq_test.sh):
# sourced by them, after `set -u`, with out set to the BUILD_DIR argument.
#   ext_skip WHAT WHY              print "SKIPPED WHAT: WHY" and "0 passed, 0 failed"; exit 0
#   ext_need_built WHAT WHY FILE...  ext_skip WHAT "not built (WHY)" unless every FILE (under
#                                  $out) is an executable
#   ext_init NAME                  sets wrap (CORO_TEST_EXEC_WRAPPER as an array: valgrind ...),
#                                  slow (the factor for every bound: CORO_TEST_SLOW, else 5 under
#                                  a wrapper and 1 without), tmp (a fresh directory, removed on
#                                  exit after every background job is killed), passed, failed
#   ok NAME | fail NAME WHY        count one check and print "ok NAME" / "FAIL NAME: WHY"
#   ext_suite NAME SECONDS CMD...  run a C test binary (CMD, under the wrapper; bounded by
#                                  SECONDS * slow, 0 for no bound) and add in its
#                                  "N passed, M failed" (a nonzero exit counts as a failure)
#   ext_done                       print "N passed, M failed"; its status is 0 if none failed

ext_skip() {
    echo "SKIPPED $1: $2"
    echo "0 passed, 0 failed"
    exit 0
}

ext_need_built() {
    local what=$1 why=$2 f
    shift 2
    for f in "$@"; do
        [ -x "$out/$f" ] || ext_skip "$what" "not built ($why)"
    done
}

ext_init() {
    passed=0
    failed=0
    wrap=()
    read -r -a wrap <<<"${CORO_TEST_EXEC_WRAPPER:-}"
    if [ ${#wrap[@]} -gt 0 ]; then slow=${CORO_TEST_SLOW:-5}; else slow=${CORO_TEST_SLOW:-1}; fi
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    trap ext_cleanup EXIT
}

ext_cleanup() {
    local p
    for p in $(jobs -p); do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$tmp"
}

ok() { echo "ok $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }

ext_suite() {
    local name=$1 secs=$2 res rc sum p f
    shift 2
    if [ "$secs" -gt 0 ]; then
        res=$(timeout $((secs * slow)) ${wrap[@]+"${wrap[@]}"} "$@" 2>&1)
    else
        res=$(${wrap[@]+"${wrap[@]}"} "$@" 2>&1)
    fi
    rc=$?
    sum=$(printf '%s\n' "$res" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
    if [ -z "$sum" ]; then
        printf '%s\n' "$res" | tail -n 20
        fail "$name" "crashed, hung or printed no summary (exit $rc)"
        return
    fi
    p=${sum%% passed*}
    f=${sum#*passed, }
    f=${f%% failed}
    [ "$f" -ne 0 ] || [ $rc -eq 0 ] || f=1
    [ "$f" -eq 0 ] || printf '%s\n' "$res" | grep -v -E '^[0-9]+ passed' | tail -n 30
    echo "$name: $p passed, $f failed"
    passed=$((passed + p))
    failed=$((failed + f))
}

ext_done() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
