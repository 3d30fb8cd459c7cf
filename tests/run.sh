#!/usr/bin/env bash
# tests/run.sh LABEL RUNNER ENVFILE -- TEST...
# Runs each test (a binary, or a script given as "sh:path args"), binaries under RUNNER (e.g.
# "valgrind ...", "" for none) and under the emulator tests/probe.sh chose and wrote to ENVFILE
# (which also sets what the tests read: CORO_TEST_EMULATOR, CORO_TEST_EXEC_WRAPPER), reads the
# "N passed, M failed" line each prints last, and ends with the sum as "N passed, M failed".
# A test that crashes or prints no summary counts as one failure.
set -u
label=$1
runner=$2
envfile=$3
shift 4
CORO_EXEC_WRAP=
# shellcheck disable=SC1090
[ -n "$envfile" ] && . "$envfile"
wrapper="$runner $CORO_EXEC_WRAP"
total_pass=0
total_fail=0
for t in "$@"; do
    case $t in
    sh:*) script=${t#sh:}; cmd=(bash ${script//@/ }); name=${script//@/ } ;;
    *) cmd=($wrapper "$t"); name=$t ;;
    esac
    out=$("${cmd[@]}" 2>&1)
    rc=$?
    summary=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
    printf '%s\n' "$out" | grep -E '^SKIPPED' || true
    if [ -z "$summary" ]; then
        printf '%s\n' "$out" | tail -n 20
        echo "[$label] $name: crashed or printed no summary (exit $rc)"
        total_fail=$((total_fail + 1))
        continue
    fi
    p=${summary%% passed*}
    f=${summary#*passed, }
    f=${f%% failed}
    if [ "$f" -ne 0 ] || [ $rc -ne 0 ]; then
        printf '%s\n' "$out" | grep -v -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 40
        [ "$f" -eq 0 ] && f=1 # a nonzero exit with no failed check is still a failure
    fi
    echo "[$label] $name: $p passed, $f failed"
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
done
echo "$total_pass passed, $total_fail failed"
[ $total_fail -eq 0 ]
