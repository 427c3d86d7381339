-- The admin plugin's columns (Better Auth's names): a user's role (comma-separated when several)
-- and ban; the admin a session impersonates a user for. And the audit log: one row per security
-- event, written with the change it records.
ALTER TABLE "user" ADD COLUMN "role" TEXT NOT NULL DEFAULT 'user';
ALTER TABLE "user" ADD COLUMN "banned" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "user" ADD COLUMN "banReason" TEXT;
ALTER TABLE "user" ADD COLUMN "banExpires" INTEGER;
ALTER TABLE "session" ADD COLUMN "impersonatedBy" TEXT;
CREATE INDEX "user_createdAt_idx" ON "user"("createdAt", "id");
CREATE INDEX "user_name_idx" ON "user"("name");

CREATE TABLE "audit_event" (
    "id"             TEXT PRIMARY KEY NOT NULL,
    "at"             INTEGER NOT NULL,
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
