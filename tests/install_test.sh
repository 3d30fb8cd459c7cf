#!/usr/bin/env bash
# tests/install_test.sh - the headers as a user gets them: `make install` into a temporary
# prefix, then the README's two quickstarts (extracted from README.md between its
# "<!-- quickstart NAME -->" markers, so the README and this test cannot drift) built against
# the installed copy with `pkg-config --cflags --libs coro` and run; then `make uninstall`.
# Then CMake and Meson: a tiny consumer built with find_package(coro) after `cmake --install`
# to a temporary prefix, with add_subdirectory, as a Meson subproject, and with the pkg-config
# file `meson install` writes. Nothing is written into the repository.
# Prints "ok ..." / "FAIL ..." ("SKIPPED ..." where pkg-config, cmake or meson is missing) and
# "N passed, M failed".
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MAKE=${MAKE:-make}
CC=${CC:-cc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/install_test.XXXXXX")
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
pass=0
fail=0
ok() { echo "ok $1"; pass=$((pass + 1)); }
bad() {
    echo "FAIL $1"
    fail=$((fail + 1))
    [ -n "${2:-}" ] && printf '%s\n' "$2" | head -n 30 | sed 's/^/    | /'
}
prefix=$tmp/prefix

# quickstart NAME: the code block under README.md's "<!-- quickstart NAME" marker
quickstart() {
    awk -v m="<!-- quickstart $1" 'index($0, m) == 1 { on = 1; next }
        on && /^<!-- \/quickstart -->/ { exit } on && !/^```/' "$ROOT/README.md"
}

# ---- make install: every public header and coro.pc
out=$(cd "$ROOT" && $MAKE -s --no-print-directory install PREFIX="$prefix" 2>&1)
if [ $? -eq 0 ]; then ok "make install PREFIX=..."; else bad "make install" "$out"; fi
headers=$(cd "$ROOT" && ls coro*.h)
for h in $headers; do
    if cmp -s "$ROOT/$h" "$prefix/include/$h"; then ok "installed $h"; else bad "$h not installed"; fi
done
if grep -qx "prefix=$prefix" "$prefix/share/pkgconfig/coro.pc" 2>/dev/null; then
    ok "coro.pc names the prefix"
else bad "coro.pc" "$(cat "$prefix/share/pkgconfig/coro.pc" 2>&1)"; fi

# ---- the quickstarts, built against the installed headers only
for q in gen.c echo.c; do
    quickstart $q >"$tmp/$q"
    if [ -s "$tmp/$q" ]; then ok "README quickstart $q found"; else bad "README has no quickstart $q"; fi
done
if ! command -v pkg-config >/dev/null 2>&1; then
    echo "SKIPPED quickstarts with pkg-config: pkg-config not installed"
else
    export PKG_CONFIG_PATH=$prefix/share/pkgconfig
    flags=$(pkg-config --cflags --libs coro 2>&1)
    if [ $? -eq 0 ] && [[ $flags == *"-I$prefix/include"* ]]; then ok "pkg-config --cflags --libs coro: $flags"; else
        bad "pkg-config --cflags --libs coro" "$flags"; fi
    # in a directory of their own, so only the installed headers can be found
    for q in gen echo; do
        out=$(cd "$tmp" && $CC -std=c99 -Wall -Wextra -Werror -O2 $q.c -o $q $flags 2>&1)
        if [ $? -eq 0 ]; then ok "quickstart $q.c builds with pkg-config"; else bad "quickstart $q.c build" "$out"; fi
    done
    if [ -x "$tmp/gen" ]; then
        out=$(timeout 20 "$tmp/gen" 2>&1)
        if [ "$out" = "$(printf '1\n2\n3')" ]; then ok "gen prints 1 2 3"; else bad "gen printed" "$out"; fi
    fi
    if [ -x "$tmp/echo" ]; then
        "$tmp/echo" 0 >"$tmp/echo.out" 2>&1 &
        server=$!
        port=
        for _ in $(seq 100); do
            port=$(sed -n 's/^listening on port \([0-9]*\)$/\1/p' "$tmp/echo.out")
            [ -n "$port" ] && break
            sleep 0.05
        done
        line=
        if [ -n "$port" ] && exec 3<>"/dev/tcp/127.0.0.1/$port"; then
            echo "hello coro" >&3
            read -r -t 10 line <&3
            exec 3>&-
        fi
        if [ "$line" = "hello coro" ]; then ok "echo echoes a line"; else
            bad "echo: port '$port', got '$line'" "$(cat "$tmp/echo.out")"; fi
        kill "$server" 2>/dev/null
        wait "$server" 2>/dev/null
        server=
    fi
fi

# ---- CMake and Meson consumers: a coroutine that sleeps, so Threads must be linked too
mkdir -p "$tmp/app"
cat >"$tmp/app/main.c" <<'C'
#define CORO_IMPLEMENTATION
#define CORO_SCHED_IMPLEMENTATION
#include <coro_sched.h>
#include <stdio.h>
static void *nap(void *arg) { coro_sleep(1); return arg; }
int main(void) {
    coro_spawn(nap, NULL, 0);
    if (coro_run() != 0) return 1;
    puts("consumer ok");
    return 0;
}
C
# runs APP NAME: the consumer built as APP prints "consumer ok"
runs() {
    local out
    out=$(timeout 20 "$1" 2>&1)
    if [ "$out" = "consumer ok" ]; then ok "$2: the consumer runs"; else bad "$2: the consumer printed" "$out"; fi
}
# step NAME LOG COMMAND...: run COMMAND, its output to LOG; ok, or FAIL with the log's tail
step() {
    local name=$1 log=$2
    shift 2
    if "$@" >"$log" 2>&1; then ok "$name"; return 0; fi
    bad "$name" "$(tail -n 20 "$log")"
    return 1
}
# every coro*.h of the repository is under DIR
all_headers() {
    local h missing=
    for h in $headers; do cmp -s "$ROOT/$h" "$1/$h" || missing="$missing $h"; done
    if [ -z "$missing" ]; then ok "$2 installs every header ($(echo $headers))"; else bad "$2 did not install$missing"; fi
}

if ! command -v cmake >/dev/null 2>&1; then
    echo "SKIPPED cmake consumers: cmake not installed"
else
    cp=$tmp/cmake-prefix
    if step "cmake: configure, build, install to a prefix" "$tmp/cmake-install.log" \
        bash -c "cmake -S '$ROOT' -B '$tmp/cmake-coro' -DCMAKE_INSTALL_PREFIX='$cp' &&
                 cmake --build '$tmp/cmake-coro' && cmake --install '$tmp/cmake-coro'"; then
        all_headers "$cp/include" "cmake --install"
        for f in share/cmake/coro/coroConfig.cmake share/cmake/coro/coroConfigVersion.cmake share/pkgconfig/coro.pc; do
            if [ -f "$cp/$f" ]; then ok "cmake --install: $f"; else bad "cmake --install: no $f"; fi
        done
        mkdir -p "$tmp/app-find"
        cat >"$tmp/app-find/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.14)
project(app C)
find_package(coro 0.1 REQUIRED)
add_executable(app ../app/main.c)
target_link_libraries(app PRIVATE coro::coro)
CM
        step "cmake: find_package(coro) and coro::coro" "$tmp/cmake-find.log" \
            bash -c "cmake -S '$tmp/app-find' -B '$tmp/app-find/build' -DCMAKE_PREFIX_PATH='$cp' &&
                     cmake --build '$tmp/app-find/build'" && runs "$tmp/app-find/build/app" "find_package"
        # a version the package does not claim is refused
        sed -i 's/find_package(coro 0.1 REQUIRED)/find_package(coro 99 REQUIRED)/' "$tmp/app-find/CMakeLists.txt"
        if cmake -S "$tmp/app-find" -B "$tmp/app-find/build99" -DCMAKE_PREFIX_PATH="$cp" >"$tmp/cmake-99.log" 2>&1; then
            bad "cmake: find_package(coro 99) should fail"
        else ok "cmake: find_package(coro 99) is refused (version file)"; fi
    fi
    mkdir -p "$tmp/app-sub"
    cat >"$tmp/app-sub/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.14)
project(app C)
add_subdirectory(${CORO_DIR} coro)
add_executable(app ../app/main.c)
target_link_libraries(app PRIVATE coro::coro)
CM
    step "cmake: add_subdirectory and coro::coro" "$tmp/cmake-sub.log" \
        bash -c "cmake -S '$tmp/app-sub' -B '$tmp/app-sub/build' -DCORO_DIR='$ROOT' &&
                 cmake --build '$tmp/app-sub/build'" && runs "$tmp/app-sub/build/app" "add_subdirectory"
fi

if ! command -v meson >/dev/null 2>&1 || ! command -v ninja >/dev/null 2>&1; then
    echo "SKIPPED meson consumers: meson or ninja not installed"
else
    # the header list in meson.build is every coro*.h
    listed=$(sed -n 's/^coro_headers = files(\(.*\))$/\1/p' "$ROOT/meson.build" | grep -o "[^', ]*\.h" | sort | tr '\n' ' ')
    if [ "$listed" = "$(printf '%s\n' $headers | sort | tr '\n' ' ')" ]; then ok "meson.build lists every coro*.h"; else
        bad "meson.build lists '$listed', the repository has '$(echo $headers)'"; fi
    mp=$tmp/meson-prefix
    if step "meson: setup, install to a prefix" "$tmp/meson-install.log" \
        bash -c "meson setup '$tmp/meson-coro' '$ROOT' --prefix='$mp' && meson install -C '$tmp/meson-coro'"; then
        all_headers "$mp/include" "meson install"
        pc=$mp/share/pkgconfig/coro.pc
        if [ -f "$pc" ] && command -v pkg-config >/dev/null 2>&1; then
            flags=$(PKG_CONFIG_PATH=$mp/share/pkgconfig pkg-config --cflags --libs coro)
            step "meson's coro.pc builds the consumer ($flags)" "$tmp/meson-pc.log" \
                $CC -std=c99 -O2 "$tmp/app/main.c" -o "$tmp/app-mpc" $flags && runs "$tmp/app-mpc" "meson's coro.pc"
        else bad "meson install: no $pc (or no pkg-config)"; fi
    fi
    # the repository as a subproject, found through meson.override_dependency
    mkdir -p "$tmp/app-meson/subprojects/coro"
    cp "$ROOT"/coro*.h "$ROOT/meson.build" "$tmp/app-meson/subprojects/coro/"
    cat >"$tmp/app-meson/meson.build" <<'MB'
project('app', 'c')
executable('app', 'main.c', dependencies : dependency('coro', fallback : ['coro', 'coro_dep']))
MB
    cp "$tmp/app/main.c" "$tmp/app-meson/"
    step "meson: subproject dependency('coro')" "$tmp/meson-sub.log" \
        bash -c "cd '$tmp/app-meson' && meson setup build && meson compile -C build" &&
        runs "$tmp/app-meson/build/app" "meson subproject"
fi

# ---- make uninstall removes what install put there
out=$(cd "$ROOT" && $MAKE -s --no-print-directory uninstall PREFIX="$prefix" 2>&1)
left=$(cd "$prefix" && find . -type f | sort)
if [ -z "$left" ]; then ok "make uninstall removes every file"; else bad "make uninstall left" "$left $out"; fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
