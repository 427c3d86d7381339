-- Outbound webhooks: one row per event and endpoint, written in the transaction of the change the
-- event reports (so none is lost if the process dies), delivered in "seq" order per endpoint and
-- user, retried with backoff until "state" is 'delivered' or 'failed'.
CREATE TABLE "webhook_delivery" (
    "seq"           INTEGER PRIMARY KEY AUTOINCREMENT,
    "id"            TEXT NOT NULL UNIQUE,
    "eventId"       TEXT NOT NULL,
    "appId"         TEXT,
    "type"          TEXT NOT NULL,
    "userId"        TEXT NOT NULL DEFAULT '',
    "url"           TEXT NOT NULL,
    "body"          TEXT NOT NULL,
    "state"         TEXT NOT NULL DEFAULT 'pending',
    "attempts"      INTEGER NOT NULL DEFAULT 0,
    "nextAttemptAt" INTEGER NOT NULL,
    "leaseUntil"    INTEGER NOT NULL DEFAULT 0,
    "lastStatus"    INTEGER,
    "lastError"     TEXT,
    "createdAt"     INTEGER NOT NULL,
    "deliveredAt"   INTEGER
);
CREATE INDEX "webhook_delivery_due_idx" ON "webhook_delivery"("nextAttemptAt") WHERE "state" = 'pending';
CREATE INDEX "webhook_delivery_order_idx" ON "webhook_delivery"("url", "userId", "seq") WHERE "state" = 'pending';
CREATE INDEX "webhook_delivery_eventId_idx" ON "webhook_delivery"("eventId");
CREATE INDEX "webhook_delivery_createdAt_idx" ON "webhook_delivery"("createdAt");
