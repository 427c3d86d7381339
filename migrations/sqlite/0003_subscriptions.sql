-- Subscriptions (kept current by the Stripe webhook and the CLI) and the Stripe events already
-- applied (so a replayed event changes nothing).
CREATE TABLE "subscription" (
    "id"                   TEXT PRIMARY KEY NOT NULL,
    "plan"                 TEXT NOT NULL,
    "referenceId"          TEXT NOT NULL,
    "status"               TEXT NOT NULL,
    "periodStart"          INTEGER,
    "periodEnd"            INTEGER,
    "cancelAtPeriodEnd"    INTEGER NOT NULL DEFAULT 0,
    "seats"                INTEGER,
    "stripeCustomerId"     TEXT,
    "stripeSubscriptionId" TEXT,
    "createdAt"            INTEGER NOT NULL,
    "updatedAt"            INTEGER NOT NULL
);
CREATE INDEX "subscription_referenceId_idx" ON "subscription"("referenceId");

CREATE TABLE "stripe_event" (
    "id"         TEXT PRIMARY KEY NOT NULL,
    "type"       TEXT NOT NULL,
    "receivedAt" INTEGER NOT NULL
);
