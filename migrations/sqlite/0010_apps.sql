-- no-transaction
-- Several apps on one server. An app has its own users: "user"."appId" (NULL = the default
-- space, as before), and an email, a username, a provider identity and an organization slug are
-- unique per app, not globally ('' stands for the default space in those indexes).
--
-- SQLite cannot drop a UNIQUE written into a table, so "user", "account" and "organization" are
-- rebuilt (new table, copy, drop, rename). That runs with foreign keys off, which SQLite only
-- honours outside a transaction (inside one, "DROP TABLE user" would cascade to every session
-- and account): hence "no-transaction" above and the explicit BEGIN/COMMIT below.
PRAGMA foreign_keys = OFF;

BEGIN;

CREATE TABLE "user_new" (
    "id"               TEXT PRIMARY KEY NOT NULL,
    "name"             TEXT NOT NULL,
    "email"            TEXT NOT NULL,
    "emailVerified"    INTEGER NOT NULL DEFAULT 0,
    "image"            TEXT,
    "createdAt"        INTEGER NOT NULL,
    "updatedAt"        INTEGER NOT NULL,
    "twoFactorEnabled" INTEGER NOT NULL DEFAULT 0,
    "username"         TEXT,
    "displayUsername"  TEXT,
    "appId"            TEXT REFERENCES "app"("id")
);
INSERT INTO "user_new" ("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt",
                        "twoFactorEnabled", "username", "displayUsername")
SELECT "id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt",
       "twoFactorEnabled", "username", "displayUsername" FROM "user";
DROP TABLE "user";
ALTER TABLE "user_new" RENAME TO "user";
CREATE UNIQUE INDEX "user_app_email_idx" ON "user" (COALESCE("appId", ''), "email");
CREATE UNIQUE INDEX "user_app_username_idx" ON "user" (COALESCE("appId", ''), "username");
CREATE INDEX "user_appId_idx" ON "user"("appId");

CREATE TABLE "account_new" (
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
    "appId"                 TEXT REFERENCES "app"("id")
);
INSERT INTO "account_new" ("id", "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken",
                           "accessTokenExpiresAt", "refreshTokenExpiresAt", "scope", "password", "createdAt", "updatedAt")
SELECT "id", "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken",
       "accessTokenExpiresAt", "refreshTokenExpiresAt", "scope", "password", "createdAt", "updatedAt" FROM "account";
DROP TABLE "account";
ALTER TABLE "account_new" RENAME TO "account";
CREATE INDEX "account_userId_idx" ON "account"("userId");
CREATE UNIQUE INDEX "account_app_provider_idx" ON "account" (COALESCE("appId", ''), "providerId", "accountId");

CREATE TABLE "organization_new" (
    "id"               TEXT PRIMARY KEY NOT NULL,
    "name"             TEXT NOT NULL,
    "slug"             TEXT NOT NULL,
    "logo"             TEXT,
    "metadata"         TEXT,
    "createdAt"        INTEGER NOT NULL,
    "requireTwoFactor" INTEGER NOT NULL DEFAULT 0,
    "appId"            TEXT REFERENCES "app"("id")
);
INSERT INTO "organization_new" ("id", "name", "slug", "logo", "metadata", "createdAt", "requireTwoFactor")
SELECT "id", "name", "slug", "logo", "metadata", "createdAt", "requireTwoFactor" FROM "organization";
DROP TABLE "organization";
ALTER TABLE "organization_new" RENAME TO "organization";
CREATE UNIQUE INDEX "organization_app_slug_idx" ON "organization" (COALESCE("appId", ''), "slug");

-- Apps, and their keys in the shape of Better Auth's "apikey" table ("referenceId" = the app,
-- "configId" = 'app'; "key" is SHA-256, base64url; "start" its first characters, for display).
CREATE TABLE "app" (
    "id"             TEXT PRIMARY KEY NOT NULL,
    "name"           TEXT NOT NULL,
    "slug"           TEXT NOT NULL UNIQUE,
    "allowedOrigins" TEXT NOT NULL DEFAULT '[]',
    "settings"       TEXT NOT NULL DEFAULT '{}',
    "createdAt"      INTEGER NOT NULL,
    "updatedAt"      INTEGER NOT NULL
);

CREATE TABLE "apikey" (
    "id"                  TEXT PRIMARY KEY NOT NULL,
    "configId"            TEXT NOT NULL DEFAULT 'default',
    "name"                TEXT,
    "start"               TEXT,
    "referenceId"         TEXT NOT NULL,
    "prefix"              TEXT,
    "key"                 TEXT NOT NULL,
    "refillInterval"      INTEGER,
    "refillAmount"        INTEGER,
    "lastRefillAt"        INTEGER,
    "enabled"             INTEGER NOT NULL DEFAULT 1,
    "rateLimitEnabled"    INTEGER NOT NULL DEFAULT 1,
    "rateLimitTimeWindow" INTEGER,
    "rateLimitMax"        INTEGER,
    "requestCount"        INTEGER NOT NULL DEFAULT 0,
    "remaining"           INTEGER,
    "lastRequest"         INTEGER,
    "expiresAt"           INTEGER,
    "createdAt"           INTEGER NOT NULL,
    "updatedAt"           INTEGER NOT NULL,
    "permissions"         TEXT,
    "metadata"            TEXT
);
CREATE UNIQUE INDEX "apikey_key_idx" ON "apikey"("key");
CREATE INDEX "apikey_referenceId_idx" ON "apikey"("referenceId");
CREATE INDEX "apikey_configId_idx" ON "apikey"("configId");

COMMIT;

PRAGMA foreign_keys = ON;
