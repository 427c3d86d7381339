-- Subscriptions (kept current by the Stripe webhook and the CLI) and the Stripe events already
-- applied (so a replayed event changes nothing).
CREATE TABLE "subscription" (
    "id"                   TEXT PRIMARY KEY NOT NULL,
    "plan"                 TEXT NOT NULL,
    "referenceId"          TEXT NOT NULL,
    "status"               TEXT NOT NULL,
    "periodStart"          BIGINT,
    "periodEnd"            BIGINT,
    "cancelAtPeriodEnd"    BOOLEAN NOT NULL DEFAULT FALSE,
    "seats"                BIGINT,
    "stripeCustomerId"     TEXT,
    "stripeSubscriptionId" TEXT,
    "createdAt"            BIGINT NOT NULL,
    "updatedAt"            BIGINT NOT NULL
);
CREATE INDEX "subscription_referenceId_idx" ON "subscription"("referenceId");

CREATE TABLE "stripe_event" (
    "id"         TEXT PRIMARY KEY NOT NULL,
    "type"       TEXT NOT NULL,
    "receivedAt" BIGINT NOT NULL
);
