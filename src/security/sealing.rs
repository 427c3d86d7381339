//! Sealing secrets at rest (JWT private keys, provider tokens): ChaCha20-Poly1305 under a key
//! derived from the server secret for one purpose (HKDF-SHA256), a random nonce per value, and
//! associated data naming what the value belongs to, so a sealed value cannot be moved to
//! another row.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use chacha20poly1305::{
    ChaCha20Poly1305, Nonce,
    aead::{Aead, AeadCore, KeyInit, OsRng, Payload},
};
use zeroize::Zeroizing;

pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl Sealer {
    /// A sealer for `purpose` (e.g. `b"gatehouse/jwks-private-key/v1"`).
    pub fn new(secret: &str, purpose: &[u8]) -> Self {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(None, secret.as_bytes());
        let mut key = Zeroizing::new([0u8; 32]);
        hk.expand(purpose, key.as_mut()).expect("32 bytes is a valid HKDF length");
        Self { cipher: ChaCha20Poly1305::new(key.as_ref().into()) }
    }

    /// `base64(nonce || ciphertext)`, bound to `aad`.
    pub fn seal(&self, aad: &str, plaintext: &[u8]) -> anyhow::Result<String> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(&nonce, Payload { msg: plaintext, aad: aad.as_bytes() })
            .map_err(|_| anyhow::anyhow!("sealing a value failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    /// The plaintext of a value sealed for `aad`; an error when it was sealed for something else
    /// or under another secret.
    pub fn open(&self, aad: &str, sealed: &str) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        let raw = STANDARD.decode(sealed)?;
        if raw.len() < 12 {
            anyhow::bail!("sealed value for {aad} is truncated");
        }
        let (nonce, ciphertext) = raw.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: aad.as_bytes() })
            .map_err(|_| {
                anyhow::anyhow!("sealed value for {aad} does not open: was BETTER_AUTH_SECRET changed?")
            })?;
        Ok(Zeroizing::new(plain))
    }
}

/// Provider tokens (access, refresh, id) in `account` rows: sealed with a marker, so rows a
/// Better Auth database brings along in plaintext still read.
pub struct TokenSealer(Sealer);

const TOKEN_MARK: &str = "gh1:";

impl TokenSealer {
    pub fn new(secret: &str) -> Self {
        Self(Sealer::new(secret, b"gatehouse/account-tokens/v1"))
    }

    /// Seals a token of the identity `provider:account` (`kind` names which token).
    pub fn seal(&self, identity: &str, kind: &str, token: &str) -> anyhow::Result<String> {
        Ok(format!("{TOKEN_MARK}{}", self.0.seal(&format!("{identity}:{kind}"), token.as_bytes())?))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_seal_and_plaintext_reads() {
        let s = TokenSealer::new("0123456789abcdef0123456789abcdef");
        let sealed = s.seal("google:1", "access", "ya29.token").unwrap();
        assert!(sealed.starts_with(TOKEN_MARK) && !sealed.contains("ya29"));
        assert_eq!(s.open("google:1", "access", &sealed).unwrap(), "ya29.token");
        assert!(s.open("google:2", "access", &sealed).is_err(), "bound to its identity");
        assert!(s.open("google:1", "refresh", &sealed).is_err(), "bound to its kind");
        assert_eq!(s.open("google:1", "access", "plain").unwrap(), "plain");
        let other = TokenSealer::new("fedcba9876543210fedcba9876543210");
        assert!(other.open("google:1", "access", &sealed).is_err());
    }
}
