//! Keys derived from the server secret, one per purpose, so no two uses share key material.

use hmac::{Hmac, Mac};
use sha2::Sha512;
use tower_cookies::{
    Key,
    cookie::{Cookie, CookieJar},
};

/// The key that signs session cookies (HMAC-SHA256 in tower-cookies' signed format).
pub fn cookie_key(secret: &str) -> Key {
    let mut mac = Hmac::<Sha512>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(b"gatehouse/session-cookie/v1");
    Key::from(&mac.finalize().into_bytes())
}

/// A 32-byte key for one purpose, derived from the secret (HMAC-SHA512, first half).
pub fn derive(secret: &str, purpose: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha512>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(purpose);
    let mut out = [0u8; 32];
    out.copy_from_slice(&mac.finalize().into_bytes()[..32]);
    out
}

/// The value a signed cookie `name=token` carries: what `set-auth-token` sends and Bearer accepts.
pub fn sign_cookie_value(key: &Key, name: &str, value: &str) -> String {
    let mut jar = CookieJar::new();
    jar.signed_mut(key).add(Cookie::new(name.to_string(), value.to_string()));
    jar.get(name).map(|c| c.value().to_string()).unwrap_or_default()
}

/// The token inside a signed cookie value, if the signature is valid.
pub fn verify_cookie_value(key: &Key, name: &str, signed: &str) -> Option<String> {
    let mut jar = CookieJar::new();
    jar.add_original(Cookie::new(name.to_string(), signed.to_string()));
    jar.signed(key).get(name).map(|c| c.value().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies() {
        let key = cookie_key("0123456789abcdef0123456789abcdef");
        let signed = sign_cookie_value(&key, "n", "tok");
        assert_ne!(signed, "tok");
        assert_eq!(verify_cookie_value(&key, "n", &signed).as_deref(), Some("tok"));
        let other = cookie_key("fedcba9876543210fedcba9876543210");
        assert_eq!(verify_cookie_value(&other, "n", &signed), None);
    }
}
