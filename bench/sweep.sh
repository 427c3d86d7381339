#!/usr/bin/env bash
# sweep.sh BIN [DURATION]: scale.sh at 10,000 / 100,000 / 1,000,000 sessions (one user per five
# sessions) on PostgreSQL and SQLite; the results go to docs/scale.txt and the chart to
# docs/scale.svg (bench/chart.py). About 10 minutes on 2 cores with 8 s per mode.
set -euo pipefail
BIN=$1; DUR=${2:-8s}
HERE=$(cd "$(dirname "$0")" && pwd); DOCS="$HERE/../docs"
mkdir -p "$DOCS"
out="$DOCS/scale.txt"
{
  echo "# $(date -u +%Y-%m-%d) $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), wrk -t2 -c32 -d$DUR on the same machine; $("$BIN" --version 2>/dev/null || echo gatehouse)"
  for db in postgres sqlite; do
    for n in 10000 100000 1000000; do
      "$HERE/scale.sh" "$BIN" "$db" $((n / 5)) "$n" "$DUR"
    done
  done
} | tee "$out"
python3 "$HERE/chart.py" "$out" "$DOCS/scale.svg"
