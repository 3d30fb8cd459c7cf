#!/usr/bin/env bash
# tests/run.sh one LABEL RUNNER ENVFILE RESULT TEST
# tests/run.sh sum RESULT...
#
# "one" runs one suite: a binary, or a script given as "sh:path@arg@arg". Binaries run under
# RUNNER (e.g. "valgrind ...", "" for none) and under the emulator tests/probe.sh chose and wrote
# to ENVFILE (which also sets what the tests read: CORO_TEST_EMULATOR, CORO_TEST_EXEC_WRAPPER).
# It reads the "N passed, M failed" line the suite prints last, writes "N M NAME" to RESULT,
# and prints the suite's SKIPPED lines and "[LABEL] NAME: N passed, M failed" - or, when the
# suite fails, its whole output first. A suite that crashes or prints no summary counts as one
# failure, and so does one still running after CORO_TEST_TIMEOUT seconds (default 1500: the
# slowest suite takes a few minutes under valgrind on a loaded machine), which is then killed
# with whatever it started, so that a hang names its suite instead of stalling the whole run.
# It exits 0 either way: make -j runs the suites side by side and "sum" decides.
#
# "sum" adds the RESULT files up and ends with "N passed, M failed" (a missing file is a failed
# suite); exits 1 if anything failed.
set -u
mode=$1
shift

if [ "$mode" = sum ]; then
    total_pass=0
    total_fail=0
    failed=
    for r in "$@"; do
        if read -r p f name <"$r" 2>/dev/null && [ -n "${name:-}" ]; then
            total_pass=$((total_pass + p))
            total_fail=$((total_fail + f))
            [ "$f" -eq 0 ] || failed="$failed $name"
        else
            total_fail=$((total_fail + 1))
            failed="$failed $r(no-result)"
        fi
    done
    [ -n "$failed" ] && echo "failed suites:$failed"
    echo "$total_pass passed, $total_fail failed"
    [ $total_fail -eq 0 ]
    exit
fi

label=$1
runner=$2
envfile=$3
result=$4
t=$5
CORO_EXEC_WRAP=
# shellcheck disable=SC1090
[ -n "$envfile" ] && . "$envfile"
read -r -a wrapper <<<"$runner $CORO_EXEC_WRAP"
case $t in
sh:*) script=${t#sh:}; cmd=(bash ${script//@/ }); name=${script//@/ } ;;
*) cmd=("${wrapper[@]}" "$t"); name=$t ;;
esac
rm -f "$result"
limit=${CORO_TEST_TIMEOUT:-1500}
out=$(timeout -k 30 "$limit" "${cmd[@]}" 2>&1)
rc=$?
summary=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    p=${summary%% passed*}
    [ -n "$summary" ] || p=0
    f=1
    block=$(printf '%s\n' "$out"; echo "[$label] $name: still running after ${limit} s: killed (exit $rc)")
elif [ -z "$summary" ]; then
    p=0 f=1
    block=$(printf '%s\n' "$out"; echo "[$label] $name: crashed or printed no summary (exit $rc)")
else
    p=${summary%% passed*}
    f=${summary#*passed, }
    f=${f%% failed}
    if [ "$f" -ne 0 ] || [ $rc -ne 0 ]; then
        [ "$f" -eq 0 ] && f=1 # a nonzero exit with no failed check is still a failure
        block=$(printf '%s\n' "$out" | grep -v -E '^[0-9]+ passed, [0-9]+ failed$'
            echo "[$label] $name: $p passed, $f failed (exit $rc)")
    else
        block=$(printf '%s\n' "$out" | grep -E '^SKIPPED'; echo "[$label] $name: $p passed, $f failed")
    fi
fi
echo "$p $f $name" >"$result"
printf '%s\n' "$block"
exit 0
