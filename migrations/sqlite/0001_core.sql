-- Core tables, with Better Auth's column names. Timestamps are Unix milliseconds (INTEGER).
CREATE TABLE "user" (
    "id"            TEXT PRIMARY KEY NOT NULL,
    "name"          TEXT NOT NULL,
    "email"         TEXT NOT NULL UNIQUE,
    "emailVerified" INTEGER NOT NULL DEFAULT 0,
    "image"         TEXT,
    "createdAt"     INTEGER NOT NULL,
    "updatedAt"     INTEGER NOT NULL
);

CREATE TABLE "session" (
    "id"                   TEXT PRIMARY KEY NOT NULL,
    "token"                TEXT NOT NULL UNIQUE,
    "userId"               TEXT NOT NULL REFERENCES "user"("id") ON DELETE CASCADE,
    "expiresAt"            INTEGER NOT NULL,
    "createdAt"            INTEGER NOT NULL,
    "updatedAt"            INTEGER NOT NULL,
    "ipAddress"            TEXT,
    "userAgent"            TEXT,
    "activeOrganizationId" TEXT
);
CREATE INDEX "session_userId_idx" ON "session"("userId");
CREATE INDEX "session_expiresAt_idx" ON "session"("expiresAt");

CREATE TABLE "account" (
    "id"                    TEXT PRIMARY KEY NOT NULL,
    "accountId"             TEXT NOT NULL,
    "providerId"            TEXT NOT NULL,
    "userId"                TEXT NOT NULL REFERENCES "user"("id") ON DELETE CASCADE,
    "accessToken"           TEXT,
    "refreshToken"          TEXT,
    "idToken"               TEXT,
    "accessTokenExpiresAt"  INTEGER,
    "refreshTokenExpiresAt" INTEGER,
    "scope"                 TEXT,
    "password"              TEXT,
    "createdAt"             INTEGER NOT NULL,
    "updatedAt"             INTEGER NOT NULL,
    UNIQUE ("providerId", "accountId")
);
CREATE INDEX "account_userId_idx" ON "account"("userId");

CREATE TABLE "verification" (
    "id"         TEXT PRIMARY KEY NOT NULL,
    "identifier" TEXT NOT NULL,
    "value"      TEXT NOT NULL,
    "expiresAt"  INTEGER NOT NULL,
    "createdAt"  INTEGER NOT NULL,
    "updatedAt"  INTEGER NOT NULL
);
CREATE INDEX "verification_identifier_idx" ON "verification"("identifier");
