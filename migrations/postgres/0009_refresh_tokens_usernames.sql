-- Refresh tokens for API and mobile clients: one row per token, stored by its HMAC only. A
-- family is the chain of tokens one pair started ("familyId" = its first token's id); rotating
-- marks the parent spent ("rotatedAt") and inserts the child. Every token dies with its session
-- (cascade), so every way a session ends also ends its families. "ownsSession": the family was
-- issued with the session at sign-in ("issueTokens"), so revoking it ends the session too.
CREATE TABLE "refreshToken" (
    "id"          TEXT PRIMARY KEY NOT NULL,
    "familyId"    TEXT NOT NULL,
    "tokenHash"   TEXT NOT NULL,
    "sessionId"   TEXT NOT NULL REFERENCES "session"("id") ON DELETE CASCADE,
    "userId"      TEXT NOT NULL REFERENCES "user"("id") ON DELETE CASCADE,
    "ownsSession" BOOLEAN NOT NULL DEFAULT FALSE,
    "createdAt"   BIGINT NOT NULL,
    "expiresAt"   BIGINT NOT NULL,
    "rotatedAt"   BIGINT
);
CREATE UNIQUE INDEX "refreshToken_tokenHash_idx" ON "refreshToken"("tokenHash");
CREATE INDEX "refreshToken_familyId_idx" ON "refreshToken"("familyId");
CREATE INDEX "refreshToken_sessionId_idx" ON "refreshToken"("sessionId");
CREATE INDEX "refreshToken_userId_idx" ON "refreshToken"("userId");
CREATE INDEX "refreshToken_expiresAt_idx" ON "refreshToken"("expiresAt");

-- Usernames (Better Auth's username plugin): "username" stored lowercased and unique (many
-- NULLs allowed), "displayUsername" as the user typed it.
ALTER TABLE "user" ADD COLUMN "username" TEXT;
ALTER TABLE "user" ADD COLUMN "displayUsername" TEXT;
CREATE UNIQUE INDEX "user_username_idx" ON "user"("username");
