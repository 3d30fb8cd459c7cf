#!/usr/bin/env bash
# tests/probe.sh ENVFILE EMULATOR -- CC FLAGS... : can this machine run what CC FLAGS builds?
#
# Builds a tiny program with CC FLAGS (next to ENVFILE) and runs it. If it runs, the suite runs
# natively. If the kernel refuses it (status 126, "Exec format error": an i386 binary on a kernel
# without 32-bit support, an aarch64 binary on x86-64, a Windows .exe), the suite runs under
# EMULATOR ("qemu-i386", "qemu-aarch64 -L /usr/aarch64-linux-gnu", "wine", ...; words of the form
# VAR=value are set in the environment instead). CORO_EMULATE=yes or no forces the decision
# (default auto), so both paths can be tried on any machine.
#
# Prints one line saying how the suite runs: "native" or "under qemu-i386: this kernel cannot run
# i386 binaries". Writes ENVFILE for bash to source: CORO_EXEC_HOW (that line), CORO_EXEC_WRAP
# (the emulator command, empty when native) and, under an emulator, the variables the tests read:
# CORO_TEST_EMULATOR (the program a test execs itself with), CORO_TEST_EXEC_WRAPPER (the whole
# command scripts prefix), and the emulator's own settings (QEMU_LD_PREFIX from -L).
# Exits 1, saying why on stdout, if the program cannot be built or run either way.
set -u
envfile=$1
emulator=$2
shift 3
dir=$(dirname "$envfile")
mkdir -p "$dir"
probe=$dir/probe
src=$dir/probe.c
mode=${CORO_EMULATE:-auto}

printf '#include <stdio.h>\nint main(void) { puts("probe ok"); return 0; }\n' >"$src"
rm -f "$probe" "$probe.exe"
if ! out=$("$@" "$src" -o "$probe" -pthread -lm 2>&1); then
    echo "$1 cannot build a program with these flags: $(printf '%s\n' "$out" | grep -m1 -E 'error|cannot' || printf '%s\n' "$out" | head -n 1)"
    exit 1
fi
[ -e "$probe" ] || probe=$probe.exe # mingw adds .exe

# what the binary is, from its first bytes: "i386", "aarch64", ..., "Windows"
machine() {
    local magic m
    magic=$(od -An -c -N2 "$1" | tr -d ' ')
    if [ "$magic" = MZ ]; then echo Windows; return; fi
    m=$(od -An -tu2 -j18 -N2 "$1" | tr -d ' ')
    case $m in
    3) echo i386 ;; 62) echo x86-64 ;; 40) echo arm ;; 183) echo aarch64 ;; 243) echo riscv ;;
    21) echo ppc64 ;; 22) echo s390 ;; *) echo "machine-$m" ;;
    esac
}

# split the emulator into its environment settings and its command
emu_env=()
emu_cmd=()
for w in $emulator; do
    if [ ${#emu_cmd[@]} -eq 0 ] && [[ $w == [A-Za-z_]*=* ]]; then emu_env+=("$w"); else emu_cmd+=("$w"); fi
done
run_native() { "$probe" 2>&1; }
run_emulated() { env "${emu_env[@]}" "${emu_cmd[@]}" "$probe" 2>&1; }

native_rc=
why=
case $mode in
no) why="forced by CORO_EMULATE=no" ;;
yes) why="forced by CORO_EMULATE=yes" ;;
auto)
    out=$(run_native)
    native_rc=$?
    if [ $native_rc -eq 0 ] && [ "$out" = "probe ok" ]; then mode=no; else
        mode=yes
        if [ $native_rc -eq 126 ] || printf '%s\n' "$out" | grep -q 'Exec format error'; then
            why="this kernel cannot run $(machine "$probe") binaries"
        else
            why="the probe fails natively (status $native_rc: $(printf '%s\n' "$out" | head -n 1))"
        fi
    fi
    ;;
*)
    echo "CORO_EMULATE must be auto, yes or no (not '$mode')"
    exit 1
    ;;
esac

if [ $mode = no ]; then
    how=native
    [ -n "$why" ] && how="native: $why"
    {
        printf 'CORO_EXEC_HOW=%q\n' "$how"
        echo "CORO_EXEC_WRAP="
        echo "unset CORO_TEST_EMULATOR"
    } >"$envfile"
    echo "$how"
    exit 0
fi

if [ ${#emu_cmd[@]} -eq 0 ]; then
    echo "$why, and no emulator is declared for it"
    exit 1
fi
if ! command -v "${emu_cmd[0]}" >/dev/null 2>&1; then
    echo "$why, and ${emu_cmd[0]} is not installed"
    exit 1
fi
out=$(run_emulated)
rc=$?
if [ $rc -ne 0 ] || [ "$(printf '%s\n' "$out" | tail -n 1)" != "probe ok" ]; then
    echo "$why, and under $emulator it fails too (status $rc: $(printf '%s\n' "$out" | head -n 1))"
    exit 1
fi
how="under ${emu_cmd[*]}: $why"
ldprefix=
for ((i = 0; i < ${#emu_cmd[@]}; i++)); do
    [ "${emu_cmd[$i]}" = -L ] && ldprefix=${emu_cmd[$((i + 1))]:-}
done
{
    printf 'CORO_EXEC_HOW=%q\n' "$how"
    printf 'CORO_EXEC_WRAP=%q\n' "${emu_cmd[*]}"
    printf 'export CORO_TEST_EMULATOR=%q\n' "${emu_cmd[0]}"
    printf 'export CORO_TEST_EXEC_WRAPPER=%q\n' "${emu_cmd[*]}"
    [ -n "$ldprefix" ] && printf 'export QEMU_LD_PREFIX=%q\n' "$ldprefix"
    for w in "${emu_env[@]}"; do printf 'export %q=%q\n' "${w%%=*}" "${w#*=}"; done
} >"$envfile"
echo "$how"
