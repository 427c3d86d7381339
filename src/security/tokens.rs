//! Random identifiers and tokens, and constant-time comparison.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use subtle::ConstantTimeEq;

/// A random URL-safe identifier with 144 bits of entropy (24 characters), never starting with
/// `-` (a command line would take it for an option: `-h…` even prints the help and succeeds).
pub fn random_id() -> String {
    loop {
        let mut bytes = [0u8; 18];
        rand::thread_rng().fill_bytes(&mut bytes);
        let id = URL_SAFE_NO_PAD.encode(bytes);
        if !id.starts_with('-') {
            return id;
        }
    }
}

/// `bytes` random bytes as lowercase hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// How verification tokens and codes are stored: HMAC-SHA256 under a key derived from the
/// secret, hex. A leaked table reveals no usable token, and even 6-digit codes cannot be
/// brute-forced offline without the secret.
pub fn token_hash(key: &[u8; 32], token: &str) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(token.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// One purpose's HMAC keys, one per listed secret (`BETTER_AUTH_SECRETS`, newest first): the
/// current secret's makes new hashes; the older ones' still find what they made.
pub struct HmacKeys(Vec<[u8; 32]>);

impl HmacKeys {
    /// The keys for `purpose` from `secrets` (the current one first; at least one).
    pub fn new(secrets: &[&str], purpose: &[u8]) -> Self {
        assert!(!secrets.is_empty(), "a secret is resolved before the keys are derived");
        Self(secrets.iter().map(|s| crate::security::keys::derive(s, purpose)).collect())
    }

    /// `raw`'s hash under the current secret's key.
    pub fn hash(&self, raw: &str) -> String {
        token_hash(&self.0[0], raw)
    }

    /// `raw`'s hash under each secret's key, the current one first.
    pub fn hashes<'a>(&'a self, raw: &'a str) -> impl Iterator<Item = String> + 'a {
        self.0.iter().map(move |key| token_hash(key, raw))
    }
}

/// A random numeric code of `digits` digits (OTPs).
pub fn random_digits(digits: u32) -> String {
    use rand::Rng;
    let n = rand::thread_rng().gen_range(0..10u64.pow(digits));
    format!("{n:0width$}", width = digits as usize)
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_url_safe() {
        let a = random_id();
        assert_eq!(a.len(), 24);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a, random_id());
        assert_eq!(random_hex(32).len(), 64);
        // One in 64 would start with `-` otherwise: a command line takes that for an option.
        assert!((0..5_000).all(|_| !random_id().starts_with('-')));
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
