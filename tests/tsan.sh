#!/usr/bin/env bash
# tsan.sh - builds tests/tsan_first_use.c with clang -fsanitize=thread and runs it a few times:
# threads that use coro.h and coro_sched.h for the first time at once must cause no report.
# Prints "N passed, M failed" (one check per run, plus the program's own checks); a SKIPPED line
# when clang or its ThreadSanitizer runtime is missing. Takes a few seconds.
#   usage: tests/tsan.sh BUILD_DIR
set -u
out=${1:?usage: $0 BUILD_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
cc=${TSAN_CC:-clang}
bin=$out/tsan_first_use
mkdir -p "$out"
if ! command -v "$cc" >/dev/null 2>&1; then
    echo "SKIPPED tsan: $cc not installed"
    echo "0 passed, 0 failed"
    exit 0
fi
if ! echo 'int main(void){return 0;}' | "$cc" -fsanitize=thread -x c - -o "$out/tsan_probe" \
        >/dev/null 2>&1 || ! "$out/tsan_probe" >/dev/null 2>&1; then
    echo "SKIPPED tsan: $cc -fsanitize=thread does not build or run here"
    echo "0 passed, 0 failed"
    exit 0
fi
"$cc" -std=c99 -Wall -Wextra -Werror -g -O1 -fsanitize=thread -I"$root" \
    "$root/tests/tsan_first_use.c" -o "$bin" -pthread || { echo "0 passed, 1 failed"; exit 1; }
passed=0
failed=0
for run in 1 2 3; do
    log=$(TSAN_OPTIONS=halt_on_error=0:exitcode=66 "$bin" 2>&1)
    rc=$?
    summary=$(printf '%s\n' "$log" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
    if [ $rc -eq 0 ] && ! printf '%s\n' "$log" | grep -q 'ThreadSanitizer'; then
        passed=$((passed + 1 + ${summary%% passed*}))
    else
        printf '%s\n' "$log" | head -n 40
        echo "FAIL run $run (exit $rc)"
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
