-- Core tables, with Better Auth's column names. Timestamps are Unix milliseconds (BIGINT).
CREATE TABLE "user" (
    "id"            TEXT PRIMARY KEY NOT NULL,
    "name"          TEXT NOT NULL,
    "email"         TEXT NOT NULL UNIQUE,
    "emailVerified" BOOLEAN NOT NULL DEFAULT FALSE,
    "image"         TEXT,
    "createdAt"     BIGINT NOT NULL,
    "updatedAt"     BIGINT NOT NULL
);

CREATE TABLE "session" (
    "id"                   TEXT PRIMARY KEY NOT NULL,
    "token"                TEXT NOT NULL UNIQUE,
    "userId"               TEXT NOT NULL REFERENCES "user"("id") ON DELETE CASCADE,
    "expiresAt"            BIGINT NOT NULL,
    "createdAt"            BIGINT NOT NULL,
    "updatedAt"            BIGINT NOT NULL,
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
    "accessTokenExpiresAt"  BIGINT,
    "refreshTokenExpiresAt" BIGINT,
    "scope"                 TEXT,
    "password"              TEXT,
    "createdAt"             BIGINT NOT NULL,
    "updatedAt"             BIGINT NOT NULL,
    UNIQUE ("providerId", "accountId")
);
CREATE INDEX "account_userId_idx" ON "account"("userId");

CREATE TABLE "verification" (
    "id"         TEXT PRIMARY KEY NOT NULL,
    "identifier" TEXT NOT NULL,
    "value"      TEXT NOT NULL,
    "expiresAt"  BIGINT NOT NULL,
    "createdAt"  BIGINT NOT NULL,
    "updatedAt"  BIGINT NOT NULL
);
CREATE INDEX "verification_identifier_idx" ON "verification"("identifier");
