#!/usr/bin/env bash
# mysql_test.sh - coro_mysql.h against a real MariaDB server: makes a data directory in a
# temporary place (mariadb-install-db), starts mariadbd on a private unix socket with no TCP
# port, runs examples/mysql_pool (many concurrent queries over a few connections) and then
# tests/test_mysql.c, which ends by killing the server mid-query. Every wait is bounded; the
# server is killed on any exit. Prints "ok"/"FAIL" per check and "N passed, M failed" (the C
# test's counts added in); SKIPPED (and 0 passed, 0 failed) where MariaDB is not installed.
#   usage: tests/mysql_test.sh BUILD_DIR   (BUILD_DIR/tests/test_mysql, BUILD_DIR/examples/mysql_pool)
set -u
out=${1:?usage: $0 BUILD_DIR}
passed=0
failed=0
server=$(command -v mariadbd || command -v mysqld || ls /usr/sbin/mariadbd 2>/dev/null)
installdb=$(command -v mariadb-install-db || command -v mysql_install_db)
if [ -z "$server" ] || [ -z "$installdb" ]; then
    echo "SKIPPED coro_mysql tests: mariadb-server is not installed"
    echo "0 passed, 0 failed"
    exit 0
fi
if [ ! -x "$out/tests/test_mysql" ] || [ ! -x "$out/examples/mysql_pool" ]; then
    echo "SKIPPED coro_mysql tests: not built (pkg-config finds no libmariadb: install libmariadb-dev)"
    echo "0 passed, 0 failed"
    exit 0
fi
wrap=()
read -r -a wrap <<<"${CORO_TEST_EXEC_WRAPPER:-}"
# MariaDB's client runs each call on a stack of its own (malloc'd, unknown to valgrind); a jump
# between it and a coroutine's stack looks to valgrind like a frame pop that frees the heap in
# between unless it counts as a stack switch: smaller frames than that are all we use.
if [ "${wrap[0]:-}" = valgrind ]; then wrap=(valgrind --max-stackframe=32768 "${wrap[@]:1}"); fi
if [ ${#wrap[@]} -gt 0 ]; then slow=${CORO_TEST_SLOW:-5}; else slow=${CORO_TEST_SLOW:-1}; fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mysql_test.XXXXXX")
srv=
cleanup() {
    [ -n "$srv" ] && kill -KILL "$srv" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
ok() { echo "ok $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
alive() { # the process runs (a zombie not yet reaped does not count)
    local st=
    kill -0 "$1" 2>/dev/null || return 1
    read -r _ _ st _ <"/proc/$1/stat" 2>/dev/null
    [ "$st" != Z ]
}
summary() { echo "$passed passed, $failed failed"; [ $failed -eq 0 ]; exit; }

# small InnoDB files: the defaults would write ~100 MB per run
opts=(--no-defaults --user=root --innodb-log-file-size=4M --innodb-buffer-pool-size=16M
      --innodb-data-file-path=ibdata1:4M:autoextend)
if timeout 120 "$installdb" "${opts[@]}" --datadir="$tmp/data" --skip-test-db \
        --auth-root-authentication-method=normal >"$tmp/install.log" 2>&1; then
    ok "mariadb-install-db in a temporary directory"
else
    fail "mariadb-install-db" "$(tail -n 3 "$tmp/install.log")"
    summary
fi

start_server() {
    "$server" "${opts[@]}" --datadir="$tmp/data" --socket="$tmp/sock" --skip-networking \
        --pid-file="$tmp/pid" --log-error="$tmp/server.log" --skip-log-bin >/dev/null 2>&1 &
    srv=$!
    for ((i = 0; i < 300; i++)); do # up to 30 s
        [ -S "$tmp/sock" ] && grep -q "ready for connections" "$tmp/server.log" 2>/dev/null && return 0
        alive "$srv" || break
        sleep 0.1
    done
    return 1
}
if start_server; then ok "mariadbd started on a private socket"; else
    fail "mariadbd start" "$(tail -n 3 "$tmp/server.log" 2>/dev/null)"
    summary
fi

# the example: many coroutines, few connections
res=$(timeout $((60 * slow)) ${wrap[@]+"${wrap[@]}"} "$out/examples/mysql_pool" -S "$tmp/sock" \
    -u root -c 4 -n 2000 2>&1)
rc=$?
case $rc:$res in
0:*"2000 queries"*"0 wrong"*) ok "mysql_pool: 2000 queries over 4 connections, every answer checked" ;;
*) fail "mysql_pool" "exit $rc: $(printf '%s' "$res" | tail -n 2)" ;;
esac

# the C test; it kills the server at its end
res=$(timeout $((120 * slow)) ${wrap[@]+"${wrap[@]}"} "$out/tests/test_mysql" "$tmp/sock" "$srv" 2>&1)
rc=$?
sum=$(printf '%s\n' "$res" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
if [ -z "$sum" ]; then
    printf '%s\n' "$res" | tail -n 20
    fail "test_mysql" "crashed, hung or printed no summary (exit $rc)"
else
    p=${sum%% passed*}
    f=${sum#*passed, }
    f=${f%% failed}
    [ "$f" -ne 0 ] || [ $rc -eq 0 ] || f=1
    [ "$f" -eq 0 ] || printf '%s\n' "$res" | grep -v -E '^[0-9]+ passed' | tail -n 30
    printf '%s\n' "$res" | grep -E '^(query after|[0-9]+ of)' || true
    echo "test_mysql: $p passed, $f failed"
    passed=$((passed + p))
    failed=$((failed + f))
fi
for ((i = 0; i < 50; i++)); do alive "$srv" || break; sleep 0.1; done
if alive "$srv"; then
    fail "server killed mid-query" "mariadbd still runs"
else
    wait "$srv" 2>/dev/null
    srv=
    ok "the server was killed mid-query and is gone"
fi
summary
