//! Sealing secrets at rest (JWT private keys, provider tokens): ChaCha20-Poly1305 under a key
//! derived from the server secret for one purpose (HKDF-SHA256), a random nonce per value, and
//! associated data naming what the value belongs to, so a sealed value cannot be moved to
//! another row. With several secrets (`BETTER_AUTH_SECRETS`, newest first) values are sealed under
//! the newest and opened under any.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use chacha20poly1305::{
    ChaCha20Poly1305, Nonce, XChaCha20Poly1305, XNonce,
    aead::{Aead, AeadCore, KeyInit, OsRng, Payload},
};
use zeroize::Zeroizing;

pub struct Sealer {
    /// One per secret, the newest (the one that seals) first.
    ciphers: Vec<ChaCha20Poly1305>,
}

impl Sealer {
    /// A sealer for `purpose` (e.g. `b"gatehouse/jwks-private-key/v1"`) under `secrets`, the
    /// newest first (at least one).
    pub fn new(secrets: &[&str], purpose: &[u8]) -> Self {
        let cipher = |secret: &&str| {
            let hk = hkdf::Hkdf::<sha2::Sha256>::new(None, secret.as_bytes());
            let mut key = Zeroizing::new([0u8; 32]);
            hk.expand(purpose, key.as_mut()).expect("32 bytes is a valid HKDF length");
            ChaCha20Poly1305::new(key.as_ref().into())
        };
        assert!(!secrets.is_empty(), "a sealer needs a secret");
        Self { ciphers: secrets.iter().map(cipher).collect() }
    }

    /// `base64(nonce || ciphertext)`, bound to `aad`.
    pub fn seal(&self, aad: &str, plaintext: &[u8]) -> anyhow::Result<String> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self.ciphers[0]
            .encrypt(&nonce, Payload { msg: plaintext, aad: aad.as_bytes() })
            .map_err(|_| anyhow::anyhow!("sealing a value failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    /// The plaintext of a value sealed for `aad`; an error when it was sealed for something else
    /// or under none of the secrets.
    pub fn open(&self, aad: &str, sealed: &str) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        self.open_with_age(aad, sealed).map(|(plain, _)| plain)
    }

    /// As [`Self::open`], and whether it was sealed under an older secret (to seal again).
    pub fn open_with_age(&self, aad: &str, sealed: &str) -> anyhow::Result<(Zeroizing<Vec<u8>>, bool)> {
        let raw = STANDARD.decode(sealed)?;
        if raw.len() < 12 {
            anyhow::bail!("sealed value for {aad} is truncated");
        }
        let (nonce, ciphertext) = raw.split_at(12);
        let payload = || Payload { msg: ciphertext, aad: aad.as_bytes() };
        self.ciphers
            .iter()
            .enumerate()
            .find_map(|(i, c)| {
                c.decrypt(Nonce::from_slice(nonce), payload()).ok().map(|p| (Zeroizing::new(p), i > 0))
            })
            .ok_or_else(|| {
                anyhow::anyhow!("sealed value for {aad} does not open: was BETTER_AUTH_SECRET changed?")
            })
    }
}

/// What a value found under `mark` needs: sealed again under the current secret (`Some`), or
/// nothing (`None`: already under it). An error when it opens under none of the secrets.
fn reseal_marked(sealer: &Sealer, mark: &str, aad: &str, sealed: &str) -> anyhow::Result<Option<String>> {
    let (plain, old) = sealer.open_with_age(aad, sealed)?;
    if !old {
        return Ok(None);
    }
    Ok(Some(format!("{mark}{}", sealer.seal(aad, &plain)?)))
}

/// Provider tokens (access, refresh, id) in `account` rows: sealed with a marker, so rows a
/// Better Auth database brings along in plaintext still read.
pub struct TokenSealer(Sealer);

const TOKEN_MARK: &str = "gh1:";

impl TokenSealer {
    pub fn new(secrets: &[&str]) -> Self {
        Self(Sealer::new(secrets, b"gatehouse/account-tokens/v1"))
    }

    /// Seals a token of the identity `provider:account` (`kind` names which token).
    pub fn seal(&self, identity: &str, kind: &str, token: &str) -> anyhow::Result<String> {
        Ok(format!("{TOKEN_MARK}{}", self.0.seal(&format!("{identity}:{kind}"), token.as_bytes())?))
    }

    /// A stored token sealed under an older secret, sealed under the current one (`None`: nothing
    /// to do, including a token stored in plaintext).
    pub fn reseal(&self, identity: &str, kind: &str, stored: &str) -> anyhow::Result<Option<String>> {
        match stored.strip_prefix(TOKEN_MARK) {
            None => Ok(None),
            Some(sealed) => reseal_marked(&self.0, TOKEN_MARK, &format!("{identity}:{kind}"), sealed),
        }
    }

    /// A stored token: opened when sealed here, as it is when stored in plaintext.
    pub fn open(&self, identity: &str, kind: &str, stored: &str) -> anyhow::Result<String> {
        match stored.strip_prefix(TOKEN_MARK) {
            None => Ok(stored.to_string()),
            Some(sealed) => {
                let plain = self.0.open(&format!("{identity}:{kind}"), sealed)?;
                Ok(String::from_utf8(plain.to_vec())?)
            }
        }
    }
}

/// Two-factor secrets and backup codes: sealed here with a marker, bound to the user and the
/// field. Rows a Better Auth database brings along open too: its `symmetricEncrypt` is the hex of
/// a 24-byte nonce and the XChaCha20-Poly1305 ciphertext (no associated data) under SHA-256 of
/// the secret, bare or in a `$ba$<version>$` envelope (read with this server's secret).
pub struct FactorSealer {
    ours: Sealer,
    /// Better Auth's key under each secret, the newest first.
    theirs: Vec<XChaCha20Poly1305>,
}

const FACTOR_MARK: &str = "gh1:";

impl FactorSealer {
    pub fn new(secrets: &[&str]) -> Self {
        let theirs = secrets
            .iter()
            .map(|s| XChaCha20Poly1305::new(&<sha2::Sha256 as sha2::Digest>::digest(s.as_bytes())))
            .collect();
        Self { ours: Sealer::new(secrets, b"gatehouse/two-factor/v1"), theirs }
    }

    /// Seals `field` (`secret`, `backupCodes`) of user `user_id`'s second factor.
    pub fn seal(&self, user_id: &str, field: &str, plaintext: &str) -> anyhow::Result<String> {
        let sealed = self.ours.seal(&format!("{user_id}:{field}"), plaintext.as_bytes())?;
        Ok(format!("{FACTOR_MARK}{sealed}"))
    }

    /// A stored value sealed under an older secret, sealed under the current one (`None`: nothing
    /// to do). A Better Auth value that only an older secret opens is sealed here from then on.
    pub fn reseal(&self, user_id: &str, field: &str, stored: &str) -> anyhow::Result<Option<String>> {
        let aad = format!("{user_id}:{field}");
        match stored.strip_prefix(FACTOR_MARK) {
            Some(sealed) => reseal_marked(&self.ours, FACTOR_MARK, &aad, sealed),
            None if self.theirs.len() > 1
                && self.open_better_auth_with(&self.theirs[..1], stored).is_err() =>
            {
                let plain = self.open_better_auth(stored)?;
                Ok(Some(format!("{FACTOR_MARK}{}", self.ours.seal(&aad, &plain)?)))
            }
            None => Ok(None),
        }
    }

    /// A stored value, sealed here or by Better Auth.
    pub fn open(&self, user_id: &str, field: &str, stored: &str) -> anyhow::Result<Zeroizing<String>> {
        let plain = match stored.strip_prefix(FACTOR_MARK) {
            Some(sealed) => self.ours.open(&format!("{user_id}:{field}"), sealed)?,
            None => self.open_better_auth(stored)?,
        };
        Ok(Zeroizing::new(String::from_utf8(plain.to_vec())?))
    }

    fn open_better_auth(&self, stored: &str) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        self.open_better_auth_with(&self.theirs, stored)
    }

    fn open_better_auth_with(
        &self,
        keys: &[XChaCha20Poly1305],
        stored: &str,
    ) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        let hex_text = match stored.strip_prefix("$ba$") {
            Some(rest) => rest.split_once('$').map(|(_, data)| data).unwrap_or(""),
            None => stored,
        };
        let raw = hex::decode(hex_text)?;
        if raw.len() < 24 {
            anyhow::bail!("a Better Auth sealed value is truncated");
        }
        let (nonce, ciphertext) = raw.split_at(24);
        let plain = keys.iter().find_map(|c| c.decrypt(XNonce::from_slice(nonce), ciphertext).ok());
        let plain = plain.ok_or_else(|| {
            anyhow::anyhow!("a Better Auth sealed value does not open: is BETTER_AUTH_SECRET the same?")
        })?;
        Ok(Zeroizing::new(plain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_seal_bound_to_user_and_field() {
        let s = FactorSealer::new(&["0123456789abcdef0123456789abcdef"]);
        let sealed = s.seal("u1", "secret", "JBSWY3DPEHPK3PXP").unwrap();
        assert!(sealed.starts_with(FACTOR_MARK) && !sealed.contains("JBSW"));
        assert_eq!(s.open("u1", "secret", &sealed).unwrap().as_str(), "JBSWY3DPEHPK3PXP");
        assert!(s.open("u2", "secret", &sealed).is_err(), "bound to its user");
        assert!(s.open("u1", "backupCodes", &sealed).is_err(), "bound to its field");
        assert!(s.open("u1", "secret", "not hex").is_err());
    }

    /// Values sealed by Better Auth 1.7.25's `symmetricEncrypt` under this key (made with its
    /// own code), bare and in a versioned envelope.
    #[test]
    fn better_auth_values_open() {
        let s = FactorSealer::new(&["test-secret-test-secret-test-secret-0123"]);
        let secret = "c108588407f316ee9aafaa6845a7a51b33defbc07d2b658d9730744ac92c81abb486e4419de5322d5073faeeefa846882688e95a6a28d607ae1477045d2c11c8201006fb917a0465";
        assert_eq!(s.open("any", "secret", secret).unwrap().as_str(), "AbCdEfGhIjKlMnOpQrStUvWxYz012345");
        let codes = "$ba$1$7aeeeb353b81d1dbd3a77acde91a27bae3ae9c6ec6b71d854a94d173882b5b2ef2aa9d9a86007de4f5357ee3aacaec10420ab8ea0ceacee5fe515419a7c01a0c90fc39f8d6";
        assert_eq!(s.open("any", "backupCodes", codes).unwrap().as_str(), r#"["abcde-12345","fghij-67890"]"#);
        let other = FactorSealer::new(&["another-secret-another-secret-000000"]);
        assert!(other.open("any", "secret", secret).is_err());
    }

    #[test]
    fn older_secrets_open_and_reseal_moves_to_the_newest() {
        let (old, new) = ("0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210");
        let sealed = TokenSealer::new(&[old]).seal("github:1", "access", "gho_x").unwrap();
        let both = TokenSealer::new(&[new, old]);
        assert_eq!(both.open("github:1", "access", &sealed).unwrap(), "gho_x");
        let moved = both.reseal("github:1", "access", &sealed).unwrap().expect("sealed again");
        assert_eq!(both.reseal("github:1", "access", &moved).unwrap(), None, "already current");
        assert_eq!(TokenSealer::new(&[new]).open("github:1", "access", &moved).unwrap(), "gho_x");
        assert!(TokenSealer::new(&[new]).open("github:1", "access", &sealed).is_err());
        assert_eq!(both.reseal("github:1", "access", "plain").unwrap(), None);
    }

    #[test]
    fn tokens_seal_and_plaintext_reads() {
        let s = TokenSealer::new(&["0123456789abcdef0123456789abcdef"]);
        let sealed = s.seal("google:1", "access", "ya29.token").unwrap();
        assert!(sealed.starts_with(TOKEN_MARK) && !sealed.contains("ya29"));
        assert_eq!(s.open("google:1", "access", &sealed).unwrap(), "ya29.token");
        assert!(s.open("google:2", "access", &sealed).is_err(), "bound to its identity");
        assert!(s.open("google:1", "refresh", &sealed).is_err(), "bound to its kind");
        assert_eq!(s.open("google:1", "access", "plain").unwrap(), "plain");
        let other = TokenSealer::new(&["fedcba9876543210fedcba9876543210"]);
        assert!(other.open("google:1", "access", &sealed).is_err());
    }
}
