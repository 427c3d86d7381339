-- Two-factor authentication (Better Auth's two-factor plugin tables, plus "lastUsedStep" so a
-- TOTP code is accepted once).
ALTER TABLE "user" ADD COLUMN "twoFactorEnabled" BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE "twoFactor" (
    "id"                      TEXT PRIMARY KEY NOT NULL,
    "secret"                  TEXT NOT NULL,
    "backupCodes"             TEXT NOT NULL,
    "userId"                  TEXT NOT NULL REFERENCES "user"("id") ON DELETE CASCADE,
    "verified"                BOOLEAN NOT NULL DEFAULT TRUE,
    "failedVerificationCount" BIGINT NOT NULL DEFAULT 0,
    "lockedUntil"             BIGINT,
    "lastUsedStep"            BIGINT
);
CREATE UNIQUE INDEX "twoFactor_userId_idx" ON "twoFactor"("userId");

-- Devices a user chose to trust after a second factor (30 days, rotated on each use).
CREATE TABLE "trustedDevice" (
    "id"        TEXT PRIMARY KEY NOT NULL,
    "userId"    TEXT NOT NULL REFERENCES "user"("id") ON DELETE CASCADE,
    "userAgent" TEXT,
    "createdAt" BIGINT NOT NULL,
    "expiresAt" BIGINT NOT NULL
);
CREATE INDEX "trustedDevice_userId_idx" ON "trustedDevice"("userId");

-- Organizations whose members need a second factor to have them active.
ALTER TABLE "organization" ADD COLUMN "requireTwoFactor" BOOLEAN NOT NULL DEFAULT FALSE;
