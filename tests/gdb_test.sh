#!/usr/bin/env bash
# tests/gdb_test.sh [CONFIG...] - tools/coro-gdb.py against tests/gdb_demo.c in gdb batch mode.
#
# CONFIG is one of gcc-O0 gcc-O2 clang-O0 clang-O2 m32-O0 m32-O2 (gcc -m32) aarch64-O0
# aarch64-O2 (aarch64-linux-gnu-gcc-12, debugged with gdb-multiarch); default: every one whose
# tools are installed here. Whether a build runs natively or under an emulator (qemu-i386 where
# the kernel refuses i386 binaries, qemu-aarch64 on other machines) is decided as for the
# variants, by tests/probe.sh (CORO_EMULATE=yes/no forces it); under an emulator gdb debugs the
# program through the emulator's gdb stub. For each, the demo is built with -g and gdb runs it to its
# gdb_stop_here() breakpoint, where the coro commands must list the coroutines with their names
# and states, show their stacks (the walker's recursion, the call chain, the resumers, main),
# report errors cleanly, and leave every register as it was: "finish" and "continue" must then
# let the program end with status 0 (it checks its own results). A second run inspects the
# coroutines while the thread is stopped at a system call's entry, and a third the coro_sched.h
# tasks; a fourth reads a core file when the kernel writes one here.
# Prints "ok ..." / "FAIL ..." lines and ends with "N passed, M failed"; exits 1 on a failure.
# Without gdb: "SKIPPED gdb: not installed" and "0 passed, 0 failed".
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${GDB_TEST_BUILD:-$ROOT/build/gdb-test}
SCRIPT=$ROOT/tools/coro-gdb.py
pass=0
fail=0

if ! command -v gdb >/dev/null 2>&1; then
    echo "SKIPPED gdb: not installed"
    echo "0 passed, 0 failed"
    exit 0
fi
if ! gdb -nx -batch -ex 'python print("py-ok")' 2>/dev/null | grep -q py-ok; then
    echo "SKIPPED gdb: built without Python"
    echo "0 passed, 0 failed"
    exit 0
fi
mkdir -p "$OUT"

# ---- helpers ------------------------------------------------------------------------------------

LOG= # the gdb output being checked
CFG=
ok() {
    echo "ok $CFG: $1"
    pass=$((pass + 1))
}
bad() {
    echo "FAIL $CFG: $1"
    fail=$((fail + 1))
    if [ -n "${2:-}" ]; then
        printf '%s\n' "$2" | head -n 40 | sed 's/^/    | /'
    fi
}
# the lines between "@@NAME" and the next "@@" marker
section() { awk -v s="@@$1" '$0 == s { on = 1; next } /^@@/ { on = 0 } on' "$LOG"; }
# the function names of the backtrace lines of a section, space separated
frames() {
    section "$1" | sed -nE 's/^#[0-9]+ +(0x[0-9a-f]+ in )?([A-Za-z_][A-Za-z0-9_.]*) \(.*/\2/p' |
        tr '\n' ' '
}
# check NAME SECTION EGREP: the section has a line matching EGREP
has() {
    local s
    s=$(section "$2")
    if printf '%s\n' "$s" | grep -Eq -- "$3"; then ok "$1"; else bad "$1 (no line matches /$3/)" "$s"; fi
}
# check NAME EGREP: some line of the whole log matches (the program's own output, which under
# qemu is appended at the end)
inlog() {
    if grep -Eq -- "$2" "$LOG"; then ok "$1"; else bad "$1 (no line matches /$2/)" "$(tail -n 15 "$LOG")"; fi
}
# check NAME SECTION EGREP: the section's frame names, joined by spaces, match EGREP
order() {
    local f
    f=$(frames "$2")
    if printf '%s\n' "$f" | grep -Eq -- "$3"; then ok "$1"; else
        bad "$1 (frames '$f' do not match /$3/)" "$(section "$2")"
    fi
}
# gdb in batch mode with the script loaded; the output goes to $LOG
GDB=gdb
GDB_INIT=()
EMU=() # the emulator command running the demo, empty when it runs natively
HOW=
QEMU_PID=
run_gdb() {
    LOG=$1
    shift
    timeout 180 $GDB -nx -batch -iex 'set debuginfod enabled off' -iex 'set pagination off' \
        -iex 'set width 0' -iex 'set confirm off' -iex 'set style enabled off' "${GDB_INIT[@]}" \
        -x "$SCRIPT" "$@" >"$LOG" 2>&1
    if [ -n "$QEMU_PID" ]; then # the program's output, which went to qemu's
        kill "$QEMU_PID" 2>/dev/null
        wait "$QEMU_PID" 2>/dev/null
        QEMU_PID=
        { echo "@@PROGRAM-OUTPUT"; cat "$OUT/qemu.out"; } >>"$LOG"
    fi
}
# START: the gdb commands that run DEMO [ARGS] to its gdb_stop_here breakpoint
starting() {
    local demo=$1
    shift
    if [ ${#EMU[@]} -gt 0 ]; then
        # a random port may be taken (qemu then exits): try others; wait until it listens
        local port tries hex
        for tries in 1 2 3 4 5; do
            port=$((20000 + RANDOM % 20000))
            hex=$(printf ':%04X ' "$port")
            "${EMU[@]}" -g $port "$demo" "$@" >"$OUT/qemu.out" 2>&1 &
            QEMU_PID=$!
            for _ in $(seq 50); do
                kill -0 "$QEMU_PID" 2>/dev/null || break
                grep -q "$hex[0-9A-F:]* 0A " /proc/net/tcp /proc/net/tcp6 2>/dev/null && break
                sleep 0.1
            done
            kill -0 "$QEMU_PID" 2>/dev/null && break
            wait "$QEMU_PID" 2>/dev/null
        done
        START=(-ex "target remote :$port" -ex 'break gdb_stop_here' -ex continue)
    else
        START=(-ex 'break gdb_stop_here' -ex "run $*")
    fi
}

# ---- the configurations -------------------------------------------------------------------------

build() { # CONFIG -> $OUT/demo-CONFIG, or nonzero; EMU: the emulator that runs it, if any
    local cc opt extra=() emulator=
    case $1 in
    gcc-O0) cc=gcc opt=-O0 ;;
    gcc-O2) cc=gcc opt=-O2 ;;
    clang-O0) cc=clang opt=-O0 ;;
    clang-O2) cc=clang opt=-O2 ;;
    m32-O0 | m32-O2)
        cc=gcc opt=-${1#m32-}
        # gcc-multilib provides /usr/include/asm; without it, the same symlink under build/
        mkdir -p "$ROOT/build/m32-include"
        [ -e /usr/include/asm ] || [ -e "$ROOT/build/m32-include/asm" ] ||
            ln -sfn /usr/include/x86_64-linux-gnu/asm "$ROOT/build/m32-include/asm"
        extra=(-m32 -idirafter "$ROOT/build/m32-include")
        emulator=qemu-i386
        ;;
    aarch64-O0 | aarch64-O2)
        cc=aarch64-linux-gnu-gcc-12 opt=-${1#aarch64-}
        emulator="qemu-aarch64 -L /usr/aarch64-linux-gnu"
        command -v gdb-multiarch >/dev/null 2>&1 || { echo "gdb-multiarch not installed" >"$OUT/build-$1.log"; return 1; }
        ;;
    *) return 2 ;;
    esac
    command -v $cc >/dev/null 2>&1 || { echo "$cc not installed" >"$OUT/build-$1.log"; return 1; }
    $cc -std=c99 -Wall -Wextra $opt -g "${extra[@]}" -I"$ROOT" "$ROOT/tests/gdb_demo.c" \
        -o "$OUT/demo-$1" -pthread >"$OUT/build-$1.log" 2>&1 || return 1
    # natively, or under the emulator: the same decision as the variants'
    EMU=()
    HOW=$(bash "$ROOT/tests/probe.sh" "$OUT/probe-$1/exec.env" "$emulator" -- $cc $opt "${extra[@]}") ||
        { echo "$HOW" >"$OUT/build-$1.log"; return 1; }
    read -r -a EMU <<<"$(. "$OUT/probe-$1/exec.env" && echo "$CORO_EXEC_WRAP")"
    # qemu's gdb stub reports no shared libraries (so gdb cannot call pthread_getspecific to find
    # the thread's coroutines): under an emulator the demo is linked statically
    if [ ${#EMU[@]} -gt 0 ]; then
        $cc -std=c99 -Wall -Wextra $opt -g "${extra[@]}" -I"$ROOT" "$ROOT/tests/gdb_demo.c" \
            -o "$OUT/demo-$1" -pthread -static >"$OUT/build-$1.log" 2>&1 || return 1
    fi
    return 0
}

test_plain() { # the main scenario: list, backtraces, errors, registers, finish, continue
    local demo=$1 log=$OUT/plain-$CFG.log
    starting "$demo"
    run_gdb "$log" "${START[@]}" \
        -ex 'echo @@REGS0\n' -ex 'info registers' \
        -ex 'echo @@LIST\n' -ex 'coro list' \
        -ex 'echo @@INFO\n' -ex 'info coros' \
        -ex 'echo @@WALKER\n' -ex 'coro bt walker' \
        -ex 'echo @@CHAIN\n' -ex 'coro bt chain' \
        -ex 'echo @@BYADDR\n' -ex 'coro bt demo_chain' \
        -ex 'echo @@BYID\n' -ex 'coro bt demo_chain_id' \
        -ex 'echo @@PARENT\n' -ex 'coro bt parent' \
        -ex 'echo @@MAIN\n' -ex 'coro bt main' \
        -ex 'echo @@FRESH\n' -ex 'coro bt fresh' \
        -ex 'echo @@DONE\n' -ex 'coro bt done' \
        -ex 'echo @@CHAINBT\n' -ex 'coro bt' \
        -ex 'echo @@ALL\n' -ex 'coro bt all' \
        -ex 'echo @@APPLYALL\n' -ex 'coro apply-all bt 1' \
        -ex 'echo @@WHERE\n' -ex 'coro list -w' \
        -ex 'echo @@FULL\n' -ex 'coro bt walker full' \
        -ex 'echo @@APPLY\n' -ex 'coro apply walker frame 5' \
        -ex 'echo @@BADARG\n' -ex 'coro bt walker no_such_symbol_zz' \
        -ex 'echo @@BADWHO\n' -ex 'coro bt no_such_coro_zz' \
        -ex 'echo @@UNWINDER\n' -ex 'set coro-method unwinder' -ex 'coro bt walker' \
        -ex 'set coro-method auto' \
        -ex 'echo @@REGS1\n' -ex 'info registers' \
        -ex 'echo @@SEL0\n' -ex 'frame 1' -ex 'echo @@SEL\n' -ex 'coro bt chain 1' -ex 'echo @@SEL2\n' -ex 'frame' \
        -ex 'frame 0' -ex 'echo @@FINISH\n' -ex 'finish' \
        -ex 'echo @@CONT\n' -ex 'continue' \
        -ex 'echo @@END\n' "$demo"

    if ! grep -q '^Breakpoint 1, gdb_stop_here' "$log"; then
        bad "plain: the demo did not reach gdb_stop_here" "$(tail -n 20 "$log")"
        return
    fi
    has "coro list: 7 coroutines alive, runner running" LIST '^Thread [0-9]+: 7 coroutines alive, running: runner'
    has "coro list: walker suspended" LIST '^ +0x[0-9a-f]+ +[0-9]+ +walker +suspended +[0-9.]+[BKM]/[0-9.]+K +walker$'
    has "coro list: chain suspended" LIST '^ +0x[0-9a-f]+ +[0-9]+ +chain +suspended .* chain_entry$'
    has "coro list: parent normal" LIST '^ +0x[0-9a-f]+ +[0-9]+ +parent +normal .* parent_fn$'
    has "coro list: runner running, marked *" LIST '^\* 0x[0-9a-f]+ +[0-9]+ +runner +running .* runner_fn$'
    has "coro list: fresh not started" LIST '^ +0x[0-9a-f]+ +[0-9]+ +fresh +not started .* never_run$'
    has "coro list: done dead" LIST '^ +0x[0-9a-f]+ +[0-9]+ +done +dead .* finishes$'
    has "coro list: the unnamed one suspended" LIST '^ +0x[0-9a-f]+ +[0-9]+ +- +suspended .* transferrer$'
    has "coro list: main normal" LIST '^ +- +- +main +normal'
    if [ "$(section LIST)" = "$(section INFO)" ] && [ -n "$(section LIST)" ]; then
        ok "info coros = coro list"
    else bad "info coros differs from coro list" "$(section INFO)"; fi

    # the innermost frames are the library's switch (coro__swap, or the inline switch in
    # coro_yield; which of coro_yield's frames remain depends on tail calls), then the walk
    order "coro bt walker: the switch, walk x5, walker, coro__start" WALKER \
        '^coro[A-Za-z0-9_.]* ([A-Za-z0-9_.]+ )*walk walk walk walk walk walker coro__start $'
    has "coro bt walker: the leaf's depth" WALKER ' walk \(.*depth=(depth@entry=)?4'
    order "coro bt chain: chain_c, chain_b, chain_a, chain_entry" CHAIN \
        '^coro[A-Za-z0-9_.]* ([A-Za-z0-9_.]+ )*chain_c chain_b chain_a chain_entry coro__start $'
    order "coro bt ADDRESS-EXPRESSION" BYADDR '^coro[A-Za-z0-9_.]* ([A-Za-z0-9_.]+ )*chain_c chain_b chain_a chain_entry coro__start $'
    order "coro bt ID-EXPRESSION" BYID '^coro[A-Za-z0-9_.]* ([A-Za-z0-9_.]+ )*chain_c chain_b chain_a chain_entry coro__start $'
    order "coro bt parent (normal): waits in its switch" PARENT '^coro[A-Za-z0-9_.]* ([A-Za-z0-9_.]+ )*parent_fn coro__start $'
    order "coro bt main: plain_demo, main" MAIN '^coro[A-Za-z0-9_.]* ([A-Za-z0-9_.]+ )*plain_demo main $'
    has "coro bt fresh: not started" FRESH 'not started: its first resume will call never_run'
    has "coro bt done: dead" DONE 'dead: its stack has no frames left'
    local chainbt
    chainbt=$(section CHAINBT | grep -E '^(coroutine 0x|main \()' | sed -E 's/.*"(.*)".*/\1/; s/^main .*/main/' | tr '\n' ' ')
    if [ "$chainbt" = "runner parent main " ]; then ok "coro bt: runner -> parent -> main"; else
        bad "coro bt: resumer chain is '$chainbt'" "$(section CHAINBT)"; fi
    local n
    n=$(section ALL | grep -cE '^(coroutine 0x[0-9a-f]+ id [0-9]+.*\((running|normal|suspended)|main \(normal\))')
    if [ "$n" = 6 ]; then ok "coro bt all: 6 stacks"; else bad "coro bt all: $n stacks, want 6" "$(section ALL)"; fi
    order "coro bt all: includes the walker" ALL 'walk walk walk walk walk walker coro__start'
    n=$(section APPLYALL | grep -cE '^(coroutine 0x|main \()')
    if [ "$n" = 6 ]; then ok "coro apply-all bt 1: 6 stacks"; else bad "coro apply-all bt 1: $n stacks" "$(section APPLYALL)"; fi
    has "coro list -w: walker in walk()" WHERE ' walker +suspended .* walk \(gdb_demo\.c:[0-9]+\)$'
    has "coro list -w: chain in chain_c()" WHERE ' chain +suspended .* chain_c \(gdb_demo\.c:[0-9]+\)$'
    has "coro list -w: main in plain_demo()" WHERE ' main +normal .* plain_demo \(gdb_demo\.c:[0-9]+\)$'
    has "coro bt walker full: locals" FULL '^ +here = [0-4]$'
    has "coro apply walker frame 5" APPLY '^#5 .* walk \('
    has "coro bt with a bad backtrace argument: gdb's error" BADARG 'No symbol "no_such_symbol_zz"'
    has "coro bt of an unknown coroutine: an error" BADWHO 'no coroutine named .no_such_coro_zz'
    order "set coro-method unwinder: same walker frames" UNWINDER \
        '(^| )walk walk walk walk walk walker coro__start $'
    if [ -n "$(section REGS0)" ] && [ "$(section REGS0)" = "$(section REGS1)" ]; then
        ok "every register as before after the coro commands"
    else
        bad "registers changed" "$(diff <(section REGS0) <(section REGS1))"
    fi
    if ! grep -q 'WARNING: registers not restored' "$log"; then ok "no restore warning"; else
        bad "restore warning" "$(grep 'WARNING' "$log")"; fi
    has "the selected frame is kept" SEL2 '^#1 '
    has "finish returns gdb_stop_here's value" FINISH 'Value returned is \$[0-9]+ = 42'
    inlog "continue: the program checks its results" '^gdb_demo: ok$'
    has "continue: exit status 0" CONT 'exited normally'
}

test_syscall() { # the thread stopped at a system call's entry: the call must still happen
    local demo=$1 log=$OUT/syscall-$CFG.log
    run_gdb "$log" -ex 'break gdb_stop_here' -ex run -ex 'catch syscall pipe2' -ex continue \
        -ex 'echo @@SYS\n' -ex 'coro bt walker' -ex 'coro list -w' \
        -ex 'echo @@SYSCONT\n' -ex continue -ex continue -ex 'echo @@END\n' "$demo"
    has "at a syscall entry: coro bt walker" SYS 'walk \(.*depth=(depth@entry=)?4'
    if grep -q 'Catchpoint 2 (call to syscall' "$log" && grep -q 'Catchpoint 2 (returned from syscall' "$log"; then
        ok "at a syscall entry: the syscall runs after the commands"
    else bad "syscall catchpoints not both hit" "$(section SYSCONT)"; fi
    has "at a syscall entry: the program ends well" SYSCONT '^gdb_demo: ok$'
}

test_sched() { # coro_sched.h tasks and what they wait on
    local demo=$1 log=$OUT/sched-$CFG.log
    starting "$demo" sched
    run_gdb "$log" "${START[@]}" \
        -ex 'echo @@SLIST\n' -ex 'coro list' \
        -ex 'echo @@READER\n' -ex 'coro bt reader' \
        -ex 'echo @@SCONT\n' -ex continue -ex 'echo @@END\n' "$demo"
    has "sched: 7 coroutines, boss running" SLIST '^Thread [0-9]+: 7 coroutines alive, running: boss'
    has "sched: reader waits on read fd" SLIST ' reader +suspended .* reader +waiting: read fd [0-9]+$'
    has "sched: sleeper waits on sleep" SLIST ' sleeper +suspended .* sleeper +waiting: sleep \(([0-9]+ms|deadline [0-9]+)\)$'
    has "sched: consumer waits on chan recv" SLIST ' consumer +suspended .* waiting: chan recv$'
    has "sched: joiner waits on join" SLIST ' joiner +suspended .* waiting: join [0-9]+$'
    has "sched: locked waits on mutex" SLIST ' locked +suspended .* waiting: mutex$'
    has "sched: late ready, not started" SLIST ' late +not started .* ready \(not started\)$'
    order "sched: coro bt reader" READER '^coro[A-Za-z0-9_.]* ([A-Za-z0-9_.]+ )*reader coro__task_main coro__start $'
    inlog "sched: the program ends well" '^gdb_demo: ok$'
}

test_core() { # a core file: coro list, and coro bt through the unwinder
    local demo=$1 dir=$OUT/core-$CFG core
    rm -rf "$dir"
    mkdir -p "$dir"
    (
        cd "$dir" && ulimit -c unlimited 2>/dev/null
        run_gdb "$dir/make.log" -ex 'break gdb_stop_here' -ex run -ex 'signal SIGABRT' "$demo"
    )
    core=$(ls "$dir"/core* 2>/dev/null | head -n 1)
    if [ -z "$core" ]; then
        echo "SKIPPED $CFG core: the kernel wrote no core file here ($(cat /proc/sys/kernel/core_pattern 2>/dev/null))"
        return
    fi
    run_gdb "$dir/core.log" -ex 'echo @@CLIST\n' -ex 'coro list' -ex 'echo @@CBT\n' -ex 'coro bt walker' \
        -ex 'echo @@END\n' "$demo" "$core"
    LOG=$dir/core.log
    has "core: coro list" CLIST '^ +0x[0-9a-f]+ +[0-9]+ +walker +suspended'
    order "core: coro bt walker (unwinder)" CBT '(^| )walk walk walk walk walk walker coro__start $'
    rm -f "$core"
}

configs=("$@")
[ ${#configs[@]} -eq 0 ] && configs=(gcc-O0 gcc-O2 clang-O0 clang-O2 m32-O0 m32-O2 aarch64-O0 aarch64-O2)
for CFG in "${configs[@]}"; do
    build "$CFG"
    rc=$?
    if [ $rc -eq 2 ]; then
        bad "unknown configuration (use gcc-O0 gcc-O2 clang-O0 clang-O2 m32-O0 m32-O2 aarch64-O0 aarch64-O2)"
        continue
    elif [ $rc -ne 0 ]; then
        case $CFG in
        m32-* | clang-* | aarch64-*)
            echo "SKIPPED $CFG: cannot build or run ($(head -n 1 "$OUT/build-$CFG.log" 2>/dev/null || echo 'no compiler'))"
            continue
            ;;
        esac
        bad "build" "$(cat "$OUT/build-$CFG.log" 2>/dev/null)"
        continue
    fi
    demo=$OUT/demo-$CFG
    echo "=== $CFG runs $HOW"
    GDB=gdb
    GDB_INIT=()
    case $CFG in
    aarch64-*)
        GDB=gdb-multiarch
        GDB_INIT=(-iex 'set sysroot /usr/aarch64-linux-gnu')
        ;;
    esac
    # the demo alone first: if it fails without gdb, the problem is not the script's
    plain_ok=1 sched_ok=1
    for mode in plain sched; do
        arg=$mode
        [ $mode = plain ] && arg=
        out=$(timeout 60 "${EMU[@]}" "$demo" $arg 2>&1)
        rc=$?
        if [ $rc -ne 0 ] || [ "$out" != "gdb_demo: ok" ]; then
            bad "the demo ($mode) fails without gdb (exit $rc): a coro.h problem; its gdb tests skipped" "$out"
            eval ${mode}_ok=
        fi
    done
    [ -n "$plain_ok" ] && test_plain "$demo"
    [ -n "$sched_ok" ] && test_sched "$demo"
    [ -n "$plain_ok" ] || continue
    if [ ${#EMU[@]} -gt 0 ]; then
        echo "SKIPPED $CFG syscall, core: ${EMU[0]}'s gdb stub has neither syscall catchpoints nor cores"
    else
        test_syscall "$demo"
        test_core "$demo"
    fi
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
