#!/usr/bin/env bash
# list-users.sh DATABASE_URL: 100,000 users in a fresh database (SQLite file or empty PostgreSQL
# database), then GET /admin/list-users timings (median of 5, ms) for a few queries, from a
# release build (cargo build --release --locked --bin gatehouse) serving on port 3400.
set -euo pipefail
DB="$1"; BIN="$(cd "$(dirname "$0")/../.." && pwd)/target/release/gatehouse"; DIR=$(mktemp -d); PORT=3400
cd "$DIR"
env -i PATH="$PATH" DATABASE_URL="$DB" RUST_LOG=warn "$BIN" migrate >/dev/null 2>&1
SQL="INSERT INTO \"user\" (\"id\",\"name\",\"email\",\"emailVerified\",\"createdAt\",\"updatedAt\")
SELECT 'u' || i, 'Name ' || i || ' ' || substr('abcdefghijklmnopqrstuvwxyz', (i % 26) + 1, 1), 'user' || i || '@bench.example', FALSE, 1700000000000 + i, 1700000000000 + i FROM"
case "$DB" in
  sqlite*) sqlite3 "${DB#sqlite://}" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 100000) $SQL n;" ;;
  postgres*) psql -q "$DB" -c "$SQL generate_series(1, 100000) AS i;" -c "ANALYZE \"user\"" ;;
esac
env -i PATH="$PATH" DATABASE_URL="$DB" RUST_LOG=warn "$BIN" users create --email admin@bench.example --name Admin --password admin-bench-pass-1 --role admin >/dev/null
env -i PATH="$PATH" HOME="$HOME" BIND=127.0.0.1:$PORT DATABASE_URL="$DB" RATE_LIMIT_ENABLED=false RUST_LOG=warn "$BIN" serve >server.log 2>&1 &
PID=$!; sleep 2
A=http://127.0.0.1:$PORT/api/auth
curl -s -c jar -o /dev/null -X POST $A/sign-in/email -H 'content-type: application/json' -H "origin: http://127.0.0.1:$PORT" -d '{"email":"admin@bench.example","password":"admin-bench-pass-1"}'
for q in "limit=100" "searchValue=name%205&limit=100" "searchValue=user99&searchOperator=starts_with" "filterField=role&filterValue=admin" "limit=100&offset=50000" "sortBy=email&limit=100"; do
  times=$(for _ in 1 2 3 4 5; do curl -s -b jar -o /dev/null -w "%{time_total}\n" "$A/admin/list-users?$q"; done | sort -n | sed -n 3p)
  total=$(curl -s -b jar "$A/admin/list-users?$q" | python3 -c "import sys,json; print(json.load(sys.stdin)['total'])")
  echo "$q  median_ms=$(python3 -c "print(round($times*1000,1))")  total=$total"
done
kill $PID
