#!/usr/bin/env bash
# tests/wine.sh PROGRAM.exe [ARGS...] - run a Windows test binary under Wine: quiet, without a
# display, in the prefix WINEPREFIX names (the win64 variant's runner column gives it its own,
# under build/), made non-interactively the first time (about 30 s; no Mono or Gecko installer).
# stdout and stderr come out together, with the CRs of Windows line ends dropped.
# The first call starts a persistent wineserver, detached from our output, so later tests skip
# its start (seconds each); `tests/wine.sh --stop` ends it (make test
# does, after the last test). Only that prefix's server is touched.
set -u
wine=$(command -v wine || command -v wine64 || echo /usr/lib/wine/wine64)
server=$(command -v wineserver || echo /usr/lib/wine/wineserver)
export WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree,mshtml="
unset DISPLAY WAYLAND_DISPLAY
# how a Linux test re-executes itself under an emulator; a Windows test uses CreateProcess
unset CORO_TEST_EMULATOR CORO_TEST_EXEC_WRAPPER
if [ "${1:-}" = --stop ]; then
    "$server" -k >/dev/null 2>&1
    exit 0
fi
if [ -n "${WINEPREFIX:-}" ]; then mkdir -p "$WINEPREFIX"; fi
"$server" -p </dev/null >/dev/null 2>&1 || true # fails harmlessly when one already runs
# Through a file, not a pipe: Wine's own service processes, started by the first program, would
# inherit a pipe and hold it open (a reader would then wait for them).
out=$(mktemp)
"$wine" "$@" >"$out" 2>&1 </dev/null
rc=$?
tr -d '\r' <"$out"
rm -f "$out"
exit $rc
