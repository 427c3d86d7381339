-- The admin plugin's columns (Better Auth's names): a user's role (comma-separated when several)
-- and ban; the admin a session impersonates a user for. And the audit log: one row per security
-- event, written with the change it records.
ALTER TABLE "user" ADD COLUMN "role" TEXT NOT NULL DEFAULT 'user';
ALTER TABLE "user" ADD COLUMN "banned" BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE "user" ADD COLUMN "banReason" TEXT;
ALTER TABLE "user" ADD COLUMN "banExpires" BIGINT;
ALTER TABLE "session" ADD COLUMN "impersonatedBy" TEXT;
CREATE INDEX "user_createdAt_idx" ON "user"("createdAt", "id");
CREATE INDEX "user_name_idx" ON "user"("name");

CREATE TABLE "audit_event" (
    "id"             TEXT PRIMARY KEY NOT NULL,
    "at"             BIGINT NOT NULL,
    "appId"          TEXT,
    "actorId"        TEXT,
    "impersonatorId" TEXT,
    "actorIp"        TEXT,
    "userAgent"      TEXT,
    "action"         TEXT NOT NULL,
    "targetType"     TEXT,
    "targetId"       TEXT,
    "outcome"        TEXT NOT NULL,
    "details"        TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX "audit_event_at_idx" ON "audit_event"("at");
CREATE INDEX "audit_event_targetId_idx" ON "audit_event"("targetId", "at");
CREATE INDEX "audit_event_actorId_idx" ON "audit_event"("actorId", "at");
CREATE INDEX "audit_event_action_idx" ON "audit_event"("action", "at");
CREATE INDEX "audit_event_impersonatorId_idx" ON "audit_event"("impersonatorId", "at");
CREATE INDEX "session_impersonatedBy_idx" ON "session"("impersonatedBy") WHERE "impersonatedBy" IS NOT NULL;

-- list-users looks for a text inside emails and names: trigram indexes make that an index scan.
-- pg_trgm ships with PostgreSQL but a role may not be allowed to create extensions: the search
-- then scans the table, and nothing else changes.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX "user_email_trgm_idx" ON "user" USING gin ("email" gin_trgm_ops);
    CREATE INDEX "user_name_trgm_idx" ON "user" USING gin (LOWER("name") gin_trgm_ops);
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm is not available (%): user search scans the table', SQLERRM;
END $$;
