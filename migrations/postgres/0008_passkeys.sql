-- Passkeys (Better Auth's passkey plugin table): the COSE public key (standard base64), the
-- credential id (base64url), the signature counter, and what the authenticator said of itself.
CREATE TABLE "passkey" (
    "id"           TEXT PRIMARY KEY NOT NULL,
    "name"         TEXT,
    "publicKey"    TEXT NOT NULL,
    "userId"       TEXT NOT NULL REFERENCES "user"("id") ON DELETE CASCADE,
    "credentialID" TEXT NOT NULL,
    "counter"      BIGINT NOT NULL DEFAULT 0,
    "deviceType"   TEXT NOT NULL,
    "backedUp"     BOOLEAN NOT NULL DEFAULT FALSE,
    "transports"   TEXT,
    "createdAt"    BIGINT,
    "aaguid"       TEXT
);
CREATE INDEX "passkey_userId_idx" ON "passkey"("userId");
CREATE UNIQUE INDEX "passkey_credentialID_idx" ON "passkey"("credentialID");
