"""seed_sqlite.py DB USERS SESSIONS NOW EXPIRES TOKENS_OUT: fills a migrated Gatehouse SQLite
database the way seed_postgres.sh fills PostgreSQL (same ids and tokens), and writes the tokens, shuffled."""
import base64
import random
import sqlite3
import struct
import sys

db, users, sessions, now, expires, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]


def token(i):
    raw = struct.pack(">qq", i, i * 7919 + 12345)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


con = sqlite3.connect(db)
con.execute("PRAGMA journal_mode=WAL")
con.execute("PRAGMA synchronous=OFF")
with con:
    con.executemany(
        'INSERT INTO "user"("id","name","email","emailVerified","createdAt","updatedAt") VALUES (?,?,?,1,?,?)',
        ((f"u{i}", f"User {i}", f"user{i}@example.com", now, now) for i in range(1, users + 1)),
    )
    con.executemany(
        'INSERT INTO "session"("id","token","userId","expiresAt","createdAt","updatedAt") VALUES (?,?,?,?,?,?)',
        ((f"s{i}", token(i), f"u{1 + i % users}", expires, now, now) for i in range(1, sessions + 1)),
    )
con.execute("ANALYZE")
con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
con.close()
tokens = [token(i) for i in range(1, sessions + 1)]
random.shuffle(tokens)
with open(out, "w") as f:
    f.write("\n".join(tokens) + "\n")
