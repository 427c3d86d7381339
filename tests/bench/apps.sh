#!/usr/bin/env bash
# apps.sh BASE_URL KEY [ROUNDS] [DURATION]: get-session with an app key against without one.
#
# Signs up a user in the default space and one in the app of KEY (curl), then runs wrk on
# GET /api/auth/get-session in turns: the default user's cookie alone, then the app user's cookie
# with `x-api-key: KEY` (which also counts against the key's own limit), ROUNDS times each, and
# prints every run's requests/sec, the best of each, and their ratio (with key / without). Every
# answer must be a 200 carrying the user (apps.lua counts any other); exits 1 otherwise.
# Needs wrk and curl. Defaults: ROUNDS 3, DURATION 10s, CONNECTIONS 32, THREADS 2.
#
# The server must run with rate limiting off (RATE_LIMIT_ENABLED=false; the key's own limit is
# part of what is measured only when it is on) and have the app. From the repository root:
#
#   cargo build --release --locked --bin gatehouse
#   BIN="$PWD/target/release/gatehouse"; RUN="$(mktemp -d)"
#   KEY=$(cd "$RUN" && env -i PATH="$PATH" DATABASE_URL="sqlite://$RUN/bench.db" "$BIN" apps create Bench --json \
#         | sed 's/.*"key":"\([^"]*\)".*/\1/')
#   (cd "$RUN" && env -i PATH="$PATH" HOME="$HOME" BIND=127.0.0.1:3100 DATABASE_URL="sqlite://$RUN/bench.db" \
#      RATE_LIMIT_ENABLED=false RUST_LOG=warn "$BIN" serve >"$RUN/server.log" 2>&1 & echo $! >"$RUN/pid")
#   tests/bench/apps.sh http://127.0.0.1:3100 "$KEY" 3 10s
#   kill "$(cat "$RUN/pid")"
set -euo pipefail

BASE="${1:?usage: apps.sh BASE_URL KEY [ROUNDS] [DURATION]}"
BASE="${BASE%/}"
KEY="${2:?usage: apps.sh BASE_URL KEY [ROUNDS] [DURATION]}"
ROUNDS="${3:-3}"
DURATION="${4:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-2}"
HERE="$(cd "$(dirname "$0")" && pwd)"
A="$BASE/api/auth"
RUNID="$(date +%s)-$$"

# The session cookie of a new user (extra curl arguments: the app's key).
cookie_of() {
  local jar; jar="$(mktemp)"
  curl -sS -o /dev/null -c "$jar" -X POST "$A/sign-up/email" -H 'Content-Type: application/json' "$@" \
    --data-raw "{\"name\":\"Bench\",\"email\":\"bench-$RUNID@example.com\",\"password\":\"correct-horse-battery\"}"
  awk '$6 ~ /session_token$/ { print $6 "=" $7 }' "$jar"
  rm -f "$jar"
}

PLAIN="$(cookie_of -H "Origin: $BASE")"
KEYED="$(cookie_of -H "x-api-key: $KEY")"
[ -n "$PLAIN" ] && [ -n "$KEYED" ] || { echo "could not sign up the bench users" >&2; exit 1; }

run() { # label, then extra wrk arguments; prints rps and counts bad answers
  local label="$1"; shift
  local out; out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$HERE/apps.lua" "$@" "$A/get-session")"
  local rps bad; rps="$(awk '/Requests\/sec/ { print $2 }' <<<"$out")"; bad="$(awk '/^bad / { print $2 }' <<<"$out")"
  echo "$label rps=$rps bad=$bad" >&2
  [ "$bad" = "0" ] || { echo "$out" >&2; exit 1; }
  echo "$rps"
}

best_plain=0; best_keyed=0
for _ in $(seq "$ROUNDS"); do
  p="$(run without-key -H "Cookie: $PLAIN")"
  k="$(run with-key -H "Cookie: $KEYED" -H "x-api-key: $KEY")"
  best_plain="$(awk -v a="$best_plain" -v b="$p" 'BEGIN { print (b > a ? b : a) }')"
  best_keyed="$(awk -v a="$best_keyed" -v b="$k" 'BEGIN { print (b > a ? b : a) }')"
done
awk -v p="$best_plain" -v k="$best_keyed" \
  'BEGIN { printf "get_session best: without key %.0f/s, with key %.0f/s, ratio %.3f\n", p, k, k / p }'
