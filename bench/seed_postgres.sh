#!/usr/bin/env bash
# seed_postgres.sh DB USERS SESSIONS NOW EXPIRES TOKENS_OUT: fills the migrated Gatehouse database
# DB (on 127.0.0.1:5432) with USERS users and SESSIONS live sessions (ids and tokens as
# seed_sqlite.py makes them), leaves it vacuumed and checkpointed (no bulk-load debt to pay during
# a measurement), and writes the tokens, shuffled, to TOKENS_OUT.
set -euo pipefail
DB=$1; USERS=$2; SESSIONS=$3; NOW=$4; EXP=$5; OUT=$6
psql -h 127.0.0.1 -U postgres -q "$DB" <<SQL
INSERT INTO "user"("id","name","email","emailVerified","createdAt","updatedAt")
  SELECT 'u'||i, 'User '||i, 'user'||i||'@example.com', true, $NOW, $NOW FROM generate_series(1,$USERS) i;
INSERT INTO "session"("id","token","userId","expiresAt","createdAt","updatedAt")
  SELECT 's'||i, rtrim(translate(encode(int8send(i::bigint) || int8send(i::bigint * 7919 + 12345), 'base64'), '+/', '-_'), '='),
         'u'||(1 + (i % $USERS)), $EXP, $NOW, $NOW FROM generate_series(1,$SESSIONS) i;
VACUUM (FREEZE, ANALYZE);
CHECKPOINT;
SQL
psql -h 127.0.0.1 -U postgres -qtAc 'select "token" from "session" order by random()' "$DB" >"$OUT"
