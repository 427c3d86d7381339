-- Several apps on one server. An app has its own users: "user"."appId" (NULL = the default
-- space, as before), and an email, a username, a provider identity and an organization slug are
-- unique per app, not globally ('' stands for the default space in those indexes).
-- Apps, and their keys in the shape of Better Auth's "apikey" table ("referenceId" = the app,
-- "configId" = 'app'; "key" is SHA-256, base64url; "start" its first characters, for display).
CREATE TABLE "app" (
    "id"             TEXT PRIMARY KEY NOT NULL,
    "name"           TEXT NOT NULL,
    "slug"           TEXT NOT NULL UNIQUE,
    "allowedOrigins" TEXT NOT NULL DEFAULT '[]',
    "settings"       TEXT NOT NULL DEFAULT '{}',
    "createdAt"      BIGINT NOT NULL,
    "updatedAt"      BIGINT NOT NULL
);

CREATE TABLE "apikey" (
    "id"                  TEXT PRIMARY KEY NOT NULL,
    "configId"            TEXT NOT NULL DEFAULT 'default',
    "name"                TEXT,
    "start"               TEXT,
    "referenceId"         TEXT NOT NULL,
    "prefix"              TEXT,
    "key"                 TEXT NOT NULL,
    "refillInterval"      BIGINT,
    "refillAmount"        BIGINT,
    "lastRefillAt"        BIGINT,
    "enabled"             BOOLEAN NOT NULL DEFAULT TRUE,
    "rateLimitEnabled"    BOOLEAN NOT NULL DEFAULT TRUE,
    "rateLimitTimeWindow" BIGINT,
    "rateLimitMax"        BIGINT,
    "requestCount"        BIGINT NOT NULL DEFAULT 0,
    "remaining"           BIGINT,
    "lastRequest"         BIGINT,
    "expiresAt"           BIGINT,
    "createdAt"           BIGINT NOT NULL,
    "updatedAt"           BIGINT NOT NULL,
    "permissions"         TEXT,
    "metadata"            TEXT
);
CREATE UNIQUE INDEX "apikey_key_idx" ON "apikey"("key");
CREATE INDEX "apikey_referenceId_idx" ON "apikey"("referenceId");
CREATE INDEX "apikey_configId_idx" ON "apikey"("configId");

ALTER TABLE "user" ADD COLUMN "appId" TEXT REFERENCES "app"("id");
ALTER TABLE "user" DROP CONSTRAINT "user_email_key";
DROP INDEX "user_username_idx";
CREATE UNIQUE INDEX "user_app_email_idx" ON "user" (COALESCE("appId", ''), "email");
CREATE UNIQUE INDEX "user_app_username_idx" ON "user" (COALESCE("appId", ''), "username");
CREATE INDEX "user_appId_idx" ON "user"("appId");

ALTER TABLE "account" ADD COLUMN "appId" TEXT REFERENCES "app"("id");
ALTER TABLE "account" DROP CONSTRAINT "account_providerId_accountId_key";
CREATE UNIQUE INDEX "account_app_provider_idx" ON "account" (COALESCE("appId", ''), "providerId", "accountId");

ALTER TABLE "organization" ADD COLUMN "appId" TEXT REFERENCES "app"("id");
ALTER TABLE "organization" DROP CONSTRAINT "organization_slug_key";
CREATE UNIQUE INDEX "organization_app_slug_idx" ON "organization" (COALESCE("appId", ''), "slug");
