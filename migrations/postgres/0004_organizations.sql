-- Organizations (Better Auth's organization plugin): members with roles, invitations.
CREATE TABLE "organization" (
    "id"        TEXT PRIMARY KEY NOT NULL,
    "name"      TEXT NOT NULL,
    "slug"      TEXT NOT NULL UNIQUE,
    "logo"      TEXT,
    "metadata"  TEXT,
    "createdAt" BIGINT NOT NULL
);

CREATE TABLE "member" (
    "id"             TEXT PRIMARY KEY NOT NULL,
    "organizationId" TEXT NOT NULL REFERENCES "organization"("id") ON DELETE CASCADE,
    "userId"         TEXT NOT NULL REFERENCES "user"("id") ON DELETE CASCADE,
    "role"           TEXT NOT NULL,
    "createdAt"      BIGINT NOT NULL,
    UNIQUE ("organizationId", "userId")
);
CREATE INDEX "member_userId_idx" ON "member"("userId");

CREATE TABLE "invitation" (
    "id"             TEXT PRIMARY KEY NOT NULL,
    "organizationId" TEXT NOT NULL REFERENCES "organization"("id") ON DELETE CASCADE,
    "email"          TEXT NOT NULL,
    "role"           TEXT NOT NULL,
    "status"         TEXT NOT NULL,
    "expiresAt"      BIGINT NOT NULL,
    "inviterId"      TEXT NOT NULL REFERENCES "user"("id") ON DELETE CASCADE,
    "createdAt"      BIGINT NOT NULL
);
CREATE INDEX "invitation_organizationId_idx" ON "invitation"("organizationId");
CREATE INDEX "invitation_email_idx" ON "invitation"("email");
