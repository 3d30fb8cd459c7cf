#!/usr/bin/env bash
# tests/probe_test.sh - tests/probe.sh decides native or emulated as it should. A fake compiler
# makes an ELF file for a machine no kernel runs (so the kernel refuses it: "Exec format error")
# and a fake emulator "runs" it, so both paths are tried on any machine.
# Prints "ok ..." / "FAIL ..." and "N passed, M failed".
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/probe_test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { echo "ok $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }
# expect NAME WANT-STATUS WANT-LINE-REGEX PROBE-ARGS...: the probe's status and its line
expect() {
    local name=$1 want_rc=$2 want=$3 out rc
    shift 3
    out=$(bash "$ROOT/tests/probe.sh" "$tmp/out/env" "$@" 2>&1)
    rc=$?
    if [ $rc -eq "$want_rc" ] && printf '%s\n' "$out" | grep -Eq -- "$want"; then ok "$name"; else
        bad "$name: status $rc, output '$out' (want $want_rc, /$want/)"
    fi
}
# has NAME REGEX: the env file written last has a matching line
has() { if grep -Eq -- "$2" "$tmp/out/env"; then ok "$1"; else bad "$1: $(cat "$tmp/out/env")"; fi; }

mkdir -p "$tmp/bin"
# a 64-bit ELF header for e_machine 0x4242, which no kernel runs
cat >"$tmp/bin/fakecc" <<'SH'
#!/bin/sh
while [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done
printf '\177ELF\002\001\001\000\000\000\000\000\000\000\000\000\002\000\102\102\001\000\000\000' >"$out"
head -c 100 /dev/zero >>"$out"
chmod +x "$out"
SH
# an emulator that runs nothing but says what the probe prints, and what it was given
cat >"$tmp/bin/fakeemu" <<'SH'
#!/bin/sh
echo "$*" >"$(dirname "$0")/fakeemu.args"
echo "probe ok"
SH
cat >"$tmp/bin/brokenemu" <<'SH'
#!/bin/sh
exit 3
SH
chmod +x "$tmp/bin/"*
export PATH=$tmp/bin:$PATH
cc=${CC:-cc}
unset CORO_EMULATE

expect "a native build runs natively" 0 '^native$' "fakeemu" -- $cc -O2
has "natively: no emulator for the tests" '^unset CORO_TEST_EMULATOR$'
expect "a refused binary runs under the emulator, which is named with the reason" 0 \
    '^under fakeemu -L /sys/root: this kernel cannot run machine-16962 binaries$' "fakeemu -L /sys/root" -- fakecc
has "emulated: CORO_TEST_EMULATOR" '^export CORO_TEST_EMULATOR=fakeemu$'
has "emulated: CORO_TEST_EXEC_WRAPPER" '^export CORO_TEST_EXEC_WRAPPER=fakeemu\\ -L\\ /sys/root$'
has "emulated: QEMU_LD_PREFIX from -L" '^export QEMU_LD_PREFIX=/sys/root$'
if grep -q -- "-L /sys/root $tmp/out/probe" "$tmp/bin/fakeemu.args" 2>/dev/null; then
    ok "the emulator is given its options and the probe"
else bad "the emulator was given '$(cat "$tmp/bin/fakeemu.args" 2>/dev/null)'"; fi
expect "VAR=value words are settings, not the command" 0 '^under fakeemu: ' "WINEDEBUG=-all fakeemu" -- fakecc
has "VAR=value exported" '^export WINEDEBUG=-all$'
expect "refused, no emulator declared: an error saying so" 1 'cannot run machine-16962 binaries, and no emulator is declared' "" -- fakecc
expect "refused, emulator missing: an error naming it" 1 'qemu-nonesuch is not installed' "qemu-nonesuch" -- fakecc
expect "refused, the emulator fails too: an error" 1 'under brokenemu it fails too \(status 3' "brokenemu" -- fakecc
expect "a compiler that cannot build: an error" 1 'cannot build a program with these flags' "" -- $cc -fno-such-flag-zz
CORO_EMULATE=yes expect "CORO_EMULATE=yes forces the emulator" 0 '^under fakeemu: forced by CORO_EMULATE=yes$' "fakeemu" -- $cc
CORO_EMULATE=no expect "CORO_EMULATE=no forces native" 0 '^native: forced by CORO_EMULATE=no$' "fakeemu" -- fakecc
CORO_EMULATE=maybe expect "CORO_EMULATE=maybe: an error" 1 'must be auto, yes or no' "fakeemu" -- $cc
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
