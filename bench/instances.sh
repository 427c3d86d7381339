#!/usr/bin/env bash
# instances.sh BIN [SESSIONS] [DURATION]: two Gatehouse processes on one PostgreSQL database (and
# Redis for limits) share a get-session load (wrk on each, the 80/20 mix over SESSIONS seeded
# sessions); meanwhile revocation.py signs a user in on one, warms the other's cache with that
# session, signs out on the first and times how long the second still answers the session.
# Prints the wrk lines (errors must be 0) and the propagation times.
set -euo pipefail
BIN=$(realpath "$1"); SESSIONS=${2:-100000}; DUR=${3:-20s}
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d)
free() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
A=$(free); B=$(free)
name="instances_$(date +%s)_$RANDOM"; psql -h 127.0.0.1 -U postgres -qc "create database $name" postgres
URL="postgres://postgres@127.0.0.1:5432/$name"
env_of() { echo env -i PATH="$PATH" HOME="$HOME" DATABASE_URL="$URL" REDIS_URL=redis://127.0.0.1:6379 \
  REDIS_KEY_PREFIX="$name:" BETTER_AUTH_SECRET=scale-secret-0123456789abcdef0123456789 \
  BASE_URL="http://127.0.0.1:$1" BIND="127.0.0.1:$1" RATE_LIMIT_ENABLED=false RUST_LOG=warn; }
$(env_of "$A") "$BIN" migrate >/dev/null
now=$(date +%s%3N); exp=$((now + 6*24*3600*1000)); users=$((SESSIONS / 5))
"$HERE/seed_postgres.sh" "$name" "$users" "$SESSIONS" "$now" "$exp" "$T/tokens.txt"
(cd "$T" && exec $(env_of "$A") "$BIN" serve >"$T/a.log" 2>&1) & PA=$!
(cd "$T" && exec $(env_of "$B") "$BIN" serve >"$T/b.log" 2>&1) & PB=$!
trap 'kill $PA $PB 2>/dev/null; wait $PA $PB 2>/dev/null; psql -h 127.0.0.1 -U postgres -qc "drop database if exists $name" postgres; rm -rf "$T"' EXIT
for p in $A $B; do until curl -fs -o /dev/null "http://127.0.0.1:$p/api/auth/ok"; do sleep 0.05; done; done
LOADS=()
for p in $A $B; do
  TOKENS="$T/tokens.txt" N=$SESSIONS MIX=1 wrk -t1 -c16 -d"$DUR" --latency -s "$HERE/random-bearer.lua" \
    "http://127.0.0.1:$p/api/auth/get-session" >"$T/wrk.$p" 2>&1 &
  LOADS+=($!)
done
sleep 2
python3 "$HERE/revocation.py" "http://127.0.0.1:$A" "http://127.0.0.1:$B" 30
wait "${LOADS[@]}"
for p in $A $B; do
  awk -v p="$p" '/Requests\/sec/{r=$2} $1=="99%"{q=$2} /Non-2xx/{n=$5} /Socket errors/{e=$0}
    END{printf "instance=%s rps=%s p99=%s non2xx=%s %s\n", p, r, q, n+0, e}' "$T/wrk.$p"
done
