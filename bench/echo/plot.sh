#!/usr/bin/env bash
# bench/echo/plot.sh - chart of round trips per second against connections, one line per server.
#
#   bench/echo/plot.sh [IN.tsv] OUT.png      (IN defaults to build/bench/echo.tsv)
#
# Left panel: all connections busy (busy100/1000/10000). Right panel: 10 busy connections plus
# idle ones (idle90/990/9990), plotted at the total connection count. Log x axis. Needs gnuplot
# (Debian: gnuplot-nox). Rows with NA are left out.
set -eu

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
case $# in
1) IN=$ROOT/build/bench/echo.tsv OUT=$1 ;;
2) IN=$1 OUT=$2 ;;
*) sed -n '4p' "${BASH_SOURCE[0]}" | sed 's/^# *//' >&2; exit 2 ;;
esac
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot not found (Debian: gnuplot-nox)" >&2; exit 1; }
[ -r "$IN" ] || { echo "plot.sh: cannot read $IN" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/echo-plot.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# One data file per (family, server): "conns rtt_per_sec", sorted by conns.
awk -F'\t' -v dir="$TMP" '
NR == 1 { next }
$4 == "NA" { next }
{
	fam = ($2 ~ /^idle/) ? "idle" : "busy"
	f = dir "/" fam "." $1
	print $3, $4 | "sort -n > \"" f "\""
	if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }
}
END { for (i = 1; i <= n; i++) print order[i] > (dir "/servers") }' "$IN"
[ -s "$TMP/servers" ] || { echo "plot.sh: no data rows in $IN" >&2; exit 1; }
SERVERS=$(tr '\n' ' ' <"$TMP/servers")

gnuplot <<EOF
set terminal pngcairo size 1400,560 font "sans,11"
set output "$OUT"
set datafile missing "NA"
set logscale x 10
set xrange [70:14000]
set xtics ("100" 100, "1000" 1000, "10000" 10000)
set format y "%.0s%c"
set yrange [0:*]
set grid
set key top right
set xlabel "connections"
set ylabel "round trips / s"
servers = "$SERVERS"
set multiplot layout 1,2 title "echo servers, 64-byte ping-pong on loopback (server on CPU 0, load generator on CPU 1)"
set title "all connections busy"
plot for [s in servers] "$TMP/busy.".s using 1:2 with linespoints lw 2 pt 7 title s
set title "10 busy + idle connections"
plot for [s in servers] "$TMP/idle.".s using 1:2 with linespoints lw 2 pt 7 title s
unset multiplot
EOF
echo "wrote $OUT"
