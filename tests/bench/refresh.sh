#!/usr/bin/env bash
# refresh.sh BASE_URL [THREADS] [DURATION]: refresh-token rotation under load.
#
# Signs up THREADS users and signs each in with `issueTokens: true` (curl), then runs wrk with
# one connection per thread (`-t THREADS -c THREADS`) against POST /api/auth/token/refresh:
# each thread walks its own refresh chain (refresh.lua), sending the refresh_token each answer
# gives. Prints requests/sec and the count of non-200 answers; exits 1 if there were any.
# Needs wrk (apt-get install -y wrk) and curl. Defaults: THREADS 2, DURATION 10s.
#
# The server must run with rate limiting off (RATE_LIMIT_ENABLED=false): the seeding signs in
# THREADS times, past the sign-in rule. Against a release build, from the repository root:
#
#   cargo build --release --locked --bin gatehouse
#   BIN="$PWD/target/release/gatehouse"; RUN="$(mktemp -d)"
#
#   # SQLite (a new database file, migrated at start):
#   (cd "$RUN" && env -i PATH="$PATH" HOME="$HOME" BIND=127.0.0.1:3100 DATABASE_URL="sqlite://$RUN/bench.db" \
#      RATE_LIMIT_ENABLED=false RUST_LOG=warn "$BIN" serve >"$RUN/server.log" 2>&1 & echo $! >"$RUN/pid")
#   tests/bench/refresh.sh http://127.0.0.1:3100 2 10s
#   kill "$(cat "$RUN/pid")"
#
#   # PostgreSQL (the database must exist; the server migrates it at start):
#   psql -h 127.0.0.1 -U postgres -qc 'create database test' postgres 2>/dev/null || true
#   (cd "$RUN" && env -i PATH="$PATH" HOME="$HOME" BIND=127.0.0.1:3100 \
#      DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
#      RATE_LIMIT_ENABLED=false RUST_LOG=warn "$BIN" serve >"$RUN/server.log" 2>&1 & echo $! >"$RUN/pid")
#   tests/bench/refresh.sh http://127.0.0.1:3100 2 10s
#   kill "$(cat "$RUN/pid")"
#
# On a 2-core machine wrk shares the cores with the server (and PostgreSQL): compare figures
# taken the same way, run each at least twice (see /work/shared/bench/README.md).
# Env: TIMEOUT (10s) wrk's per-request timeout; a timed-out refresh breaks that thread's chain.
set -euo pipefail

BASE="${1:?usage: refresh.sh BASE_URL [THREADS] [DURATION]}"
BASE="${BASE%/}"
THREADS="${2:-2}"
DURATION="${3:-10s}"
TIMEOUT="${TIMEOUT:-10s}"
HERE="$(cd "$(dirname "$0")" && pwd)"
A="$BASE/api/auth"

command -v wrk >/dev/null || { echo "refresh: wrk not found (apt-get install -y wrk)" >&2; exit 2; }
command -v curl >/dev/null || { echo "refresh: curl not found" >&2; exit 2; }

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
RUNID="$(date +%s)-$$-$RANDOM"
PASSWORD="bench-password-$RUNID"

post() { # path json -> body on stdout; fails unless HTTP 200
  local code
  code=$(curl -sS -o "$WORK/body" -w '%{http_code}' -X POST "$A$1" -H 'Content-Type: application/json' \
    --data-raw "$2") || code=000
  if [ "$code" != 200 ]; then
    echo "refresh: POST $1 gave HTTP $code: $(head -c 300 "$WORK/body" 2>/dev/null)" >&2
    return 1
  fi
  cat "$WORK/body"
}

# One user per thread, so the chains share no rows.
for i in $(seq 1 "$THREADS"); do
  email="refresh-$RUNID-$i@bench.example"
  post /sign-up/email "{\"name\":\"Refresh Bench $i\",\"email\":\"$email\",\"password\":\"$PASSWORD\"}" >/dev/null
  body=$(post /sign-in/email "{\"email\":\"$email\",\"password\":\"$PASSWORD\",\"issueTokens\":true}")
  token=$(grep -o '"refreshToken":"[^"]*"' <<<"$body" | head -1 | cut -d'"' -f4 || true)
  [ -n "$token" ] || { echo "refresh: sign-in gave no refreshToken (issueTokens): ${body:0:300}" >&2; exit 1; }
  echo "$token" >>"$WORK/seeds"
done
echo "refresh: $THREADS chains seeded; wrk -t$THREADS -c$THREADS -d$DURATION on $A/token/refresh" >&2

REFRESH_SEEDS="$WORK/seeds" wrk -t"$THREADS" -c"$THREADS" -d"$DURATION" --timeout "$TIMEOUT" --latency \
  -s "$HERE/refresh.lua" "$A/token/refresh" >"$WORK/wrk.out" 2>&1 || { cat "$WORK/wrk.out" >&2; exit 1; }
line=$(grep -m1 '^refresh ' "$WORK/wrk.out") || { cat "$WORK/wrk.out" >&2; exit 1; }
grep -m1 '^first_failure: ' "$WORK/wrk.out" >&2 || true
rps=$(grep -o 'rps=[0-9.]*' <<<"$line" | cut -d= -f2)
non200=$(grep -o 'non200=[0-9]*' <<<"$line" | cut -d= -f2)
echo "requests/sec: $rps"
echo "non-200 answers: $non200"
echo "$line"
problems=$(grep -o 'non200=[0-9]*\|bad_body=[0-9]*\|broken_chains=[0-9]*\|socket_errors=[0-9]*' <<<"$line" \
  | awk -F= '{ s += $2 } END { print s + 0 }')
[ "$problems" = 0 ]
