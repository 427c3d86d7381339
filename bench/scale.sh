#!/usr/bin/env bash
# scale.sh BIN DB USERS SESSIONS [DURATION]: how get-session's cost grows with the data.
#   DB: postgres (a fresh database on 127.0.0.1:5432, dropped at the end) or sqlite (a temp file).
# Migrates with the Gatehouse binary BIN, inserts USERS users and SESSIONS live sessions straight
# into the tables, starts `BIN serve` (timing its cold start: process start to the first answered
# request), then drives get-session with wrk and `Authorization: Bearer` tokens:
#   uniform  drawn from all sessions (a bounded cache mostly misses)
#   mix      80% of requests on 1% of the sessions, 20% on all
#   hot      drawn from 1,000 sessions (the cache answers)
# One line per mode: `db=… sessions=… mode=… rps=… p50=… p99=… non2xx=… rss_max_kb=…`, after a
# line with `cold_start_ms`. SIGN_IN=1 adds ../shared/bench/authbench.sh's sign_in scenario
# against the same server (its own user, among USERS others). Adapted from
# ../shared/bench/scale.sh (PostgreSQL, uniform and hot).
set -euo pipefail
BIN=$(realpath "$1"); DB=$2; USERS=$3; SESSIONS=$4; DUR=${5:-8s}
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d)
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
now=$(date +%s%3N); exp=$((now + 6*24*3600*1000))
case $DB in
  postgres)
    name="scale_$(date +%s)_$RANDOM"; psql -h 127.0.0.1 -U postgres -qc "create database $name" postgres
    URL="postgres://postgres@127.0.0.1:5432/$name"
    cleanup_db() { psql -h 127.0.0.1 -U postgres -qc "drop database if exists $name" postgres; } ;;
  sqlite)
    URL="sqlite://$T/scale.db"; cleanup_db() { :; } ;;
  *) echo "DB: postgres or sqlite" >&2; exit 2 ;;
esac
# EXTRA_ENV: more settings for the server, e.g. "SESSION_CACHE=false DB_MAX_CONNECTIONS=16".
ENV=(env -i PATH="$PATH" HOME="$HOME" DATABASE_URL="$URL" BETTER_AUTH_SECRET=scale-secret-0123456789abcdef0123456789
  BASE_URL="http://127.0.0.1:$port" BIND="127.0.0.1:$port" RATE_LIMIT_ENABLED=false RUST_LOG=warn ${EXTRA_ENV:-})
(cd "$T" && "${ENV[@]}" "$BIN" migrate >/dev/null)
t0=$(date +%s)
if [ "$DB" = postgres ]; then
  "$HERE/seed_postgres.sh" "$name" "$USERS" "$SESSIONS" "$now" "$exp" "$T/tokens.txt"
else
  python3 "$HERE/seed_sqlite.py" "$T/scale.db" "$USERS" "$SESSIONS" "$now" "$exp" "$T/tokens.txt"
fi
echo "# loaded $USERS users, $SESSIONS sessions into $DB in $(( $(date +%s) - t0 )) s"
# Cold start: from starting the process to its first answer.
start_ns=$(date +%s%N)
(cd "$T" && exec "${ENV[@]}" "$BIN" serve >"$T/log" 2>&1) &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; cleanup_db; rm -rf "$T"' EXIT
until curl -fs -o /dev/null "http://127.0.0.1:$port/api/auth/ok"; do
  kill -0 $PID 2>/dev/null || { cat "$T/log"; exit 1; }
done
echo "db=$DB sessions=$SESSIONS cold_start_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))"
probe=$(curl -s -H "Authorization: Bearer $(sed -n 7p "$T/tokens.txt")" "http://127.0.0.1:$port/api/auth/get-session" | head -c 60)
case $probe in *'"session"'*) ;; *) echo "probe failed: $probe" >&2; exit 1 ;; esac
# A warm-up (not measured): PostgreSQL's and the OS's caches after the bulk load.
TOKENS="$T/tokens.txt" N=$SESSIONS wrk -t2 -c32 -d3s -s "$HERE/random-bearer.lua" \
  "http://127.0.0.1:$port/api/auth/get-session" >/dev/null 2>&1
for mode in ${MODES:-uniform mix hot}; do
  n=$SESSIONS; mix=
  [ $mode = hot ] && n=1000
  [ $mode = mix ] && mix=1
  rss_max=0
  ( while kill -0 $PID 2>/dev/null; do ps -o rss= -p $PID; sleep 0.25; done ) >"$T/rss.$mode" &
  SAMPLER=$!
  # PERF_DIR: a CPU profile of the server under each mode (perf record, 5 s, call graphs).
  if [ -n "${PERF_DIR:-}" ]; then
    (sleep 1; perf record -q -F 499 -g -p $PID -o "$PERF_DIR/$DB-$mode.perf" -- sleep 5 >/dev/null 2>&1) &
  fi
  out=$(TOKENS="$T/tokens.txt" N=$n MIX=$mix wrk -t2 -c32 -d"$DUR" --latency -s "$HERE/random-bearer.lua" \
    "http://127.0.0.1:$port/api/auth/get-session" 2>&1)
  kill $SAMPLER 2>/dev/null || true; wait $SAMPLER 2>/dev/null || true
  rss_max=$(sort -n "$T/rss.$mode" | tail -1 | tr -d ' ')
  rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
  p50=$(awk '$1=="50%"{print $2}' <<<"$out"); p99=$(awk '$1=="99%"{print $2}' <<<"$out")
  non=$(awk '/Non-2xx/{print $5}' <<<"$out")
  echo "db=$DB sessions=$SESSIONS mode=$mode rps=$rps p50=$p50 p99=$p99 non2xx=${non:-0} rss_max_kb=$rss_max"
done
if [ -n "${SIGN_IN:-}" ]; then
  SCENARIOS=sign_in QUIET_MAX=0 PAUSE=1 "$HERE/../../shared/bench/authbench.sh" "http://127.0.0.1:$port" "$DUR" |
    sed "s/^/db=$DB users=$USERS /"
fi
