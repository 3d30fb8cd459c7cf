#!/usr/bin/env bash
# examples_core.sh - smoke test of the core examples: runs fringe, generators and taskos from
# the directory given as $1 (e.g. build/examples) and checks the key lines of their output.
# Prints "ok <name>" or "FAIL <name>: reason" per check, then "N passed, M failed"; exits
# nonzero if any check failed.
#
#   usage: tests/examples_core.sh build/examples
# If CORO_TEST_EXEC_WRAPPER is set (e.g. "qemu-aarch64" or "valgrind -q --error-exitcode=99"),
# each binary runs under it.
set -u

dir=${1:?usage: $0 DIR_OF_BUILT_EXAMPLES}
passed=0
failed=0
out=

ok() { echo "ok $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }

# run NAME: run $dir/NAME (with a time limit when timeout(1) exists), keep its output in $out;
# one check for "it exists and exits 0". Returns nonzero if it could not be run at all.
run() {
    local name=$1 bin=$dir/$1 status
    local -a cmd
    out=
    if [ ! -x "$bin" ]; then
        fail "$name" "$bin is missing or not executable"
        return 1
    fi
    read -r -a cmd <<<"${CORO_TEST_EXEC_WRAPPER:-}"
    cmd+=("$bin")
    if command -v timeout >/dev/null 2>&1; then cmd=(timeout 120 "${cmd[@]}"); fi
    out=$("${cmd[@]}" 2>&1)
    status=$?
    if [ "$status" -eq 0 ]; then ok "$name exits 0"; else fail "$name" "exit status $status"; fi
    return 0
}

# expect NAME WHAT LINE: the output holds LINE, a whole line, exactly
expect() {
    if printf '%s\n' "$out" | grep -qxF -- "$3"; then
        ok "$1 $2"
    else
        fail "$1" "$2: no line '$3'"
    fi
}

# expect_re NAME WHAT REGEX: some line of the output matches the extended REGEX
expect_re() {
    if printf '%s\n' "$out" | grep -qE -- "$3"; then
        ok "$1 $2"
    else
        fail "$1" "$2: nothing matches /$3/"
    fi
}

if run generators; then
    expect generators "my_coro(34) yields 44" "my_coro: coro_resume(c, 34) returned 44"
    expect generators "counter counts 1 2 3 4" "counter: 1 2 3 4"
    expect generators "averager answers each send" "averager: sent 40, got back 25"
    expect generators "pipeline prints upper-cased matches" \
        "printer: COMPLETE SYMMETRY BETWEEN COROUTINES, WHICH CALL ON EACH OTHER."
    expect generators "pipeline counter totals" "counter: 4 lines, 33 words, 250 characters"
    expect generators "grep's count flows back to the source" \
        "source: sent 9 lines, grep let 4 through"
    expect_re generators "a cycle fails with EINVAL" "^pong: .*returned NULL, errno EINVAL"
    expect generators "every coroutine freed" "coroutines still alive: 0"
fi

if run fringe; then
    expect fringe "A and B are the same" "A and B: same fringe (5 leaves compared)"
    expect fringe "C and D differ at the first difference" \
        "C and D: fringes differ at leaf 4 (4 vs 9); C visited 4 of 8 leaves, D visited 4 of 8"
    expect fringe "unfinished walker killed, cleanup ran" \
        "  walker D: cleanup: killed after 4 of 8 leaves"
    expect fringe "finished walker cleanup ran" "  walker A: cleanup: walk finished after 5 leaves"
    expect_re fringe "E and B differ in length" "^E and B: fringes differ: E ran out after 3 leaves"
    expect fringe "every coroutine freed" "coroutines still alive: 0"
fi

if run taskos; then
    expect taskos "get_tid" "parent[2]: my tid is 2"
    expect taskos "wait_task returns the exit status" "parent[2]: task 3 exited with 42"
    expect taskos "kill runs the victim's cleanup" \
        "spinner[4]: cleanup after 3 rounds: freeing its buffer"
    expect taskos "kill_task returns 0" "parent[2]: kill_task(4) returned 0"
    for line in "yield is a kind of trap" "tasks do not see the scheduler" \
        "tasks do not see other tasks" "yield is the only external interface" \
        "multitasking using nothing but coroutines"; do
        expect taskos "pipe line received: $line" "reader[5]: got \"$line\""
    done
    expect taskos "write_wait waited on a full pipe" \
        "writer[6]: the pipe was full: write_wait waited for the reader"
    expect taskos "every record arrived in order" \
        "reader[5]: end of file after 5 lines and 16384 records, all in order"
    expect taskos "every task finished" "os: all tasks finished"
    expect taskos "every coroutine freed" "os: coroutines still alive: 0"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
