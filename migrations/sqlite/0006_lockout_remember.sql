-- Account lockout state, one row per (normalised) email, known or not. "attempts" counts the
-- password checks reserved in the current window (failures plus checks still running), so a
-- burst of parallel guesses cannot pass the limit. Rows whose window and lock have both passed
-- are swept with expired sessions.
CREATE TABLE "lockout" (
    "email"        TEXT PRIMARY KEY NOT NULL,
    "attempts"     INTEGER NOT NULL,
    "failures"     INTEGER NOT NULL,
    "windowEndsAt" INTEGER NOT NULL,
    "lockedUntil"  INTEGER NOT NULL
);
CREATE INDEX "lockout_windowEndsAt_idx" ON "lockout"("windowEndsAt");

-- A session signed in with rememberMe: false lasts one day and is never extended.
ALTER TABLE "session" ADD COLUMN "rememberMe" INTEGER NOT NULL DEFAULT 1;
