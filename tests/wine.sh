#!/usr/bin/env bash
# tests/wine.sh PROGRAM.exe [ARGS...] - run a Windows test binary under Wine: quiet, without a
# display, with the prefix made non-interactively the first time (about 30 s; no Mono or Gecko
# installer), and one wineserver kept between the tests (starting it costs seconds per run).
# stdout and stderr come out together, with the CRs of Windows line ends dropped.
set -u
wine=$(command -v wine || command -v wine64 || echo /usr/lib/wine/wine64)
server=$(command -v wineserver || echo /usr/lib/wine/wineserver)
export WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree,mshtml="
unset DISPLAY WAYLAND_DISPLAY
# -p 15: the server stays 15 s after the last program ends, then leaves by itself
"$server" -p 15 >/dev/null 2>&1 || true
"$wine" "$@" 2>&1 | tr -d '\r'
exit "${PIPESTATUS[0]}"
