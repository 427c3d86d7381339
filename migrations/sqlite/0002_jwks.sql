-- JWT signing keys. publicKey: the public JWK (JSON); privateKey: the private key, encrypted
-- (ChaCha20-Poly1305, key derived from the server secret). expiresAt is NULL for the current
-- signing key; a retired key keeps a time after which no token it signed is valid.
CREATE TABLE "jwks" (
    "id"         TEXT PRIMARY KEY NOT NULL,
    "publicKey"  TEXT NOT NULL,
    "privateKey" TEXT NOT NULL,
    "alg"        TEXT NOT NULL,
    "createdAt"  INTEGER NOT NULL,
    "expiresAt"  INTEGER
);
-- At most one current key: instances racing to create the first one let this decide.
CREATE UNIQUE INDEX "jwks_one_current" ON "jwks" (("expiresAt" IS NULL)) WHERE "expiresAt" IS NULL;
