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

/// The token inside a cookie value Better Auth signed with `secret` (`<token>.<base64 of
/// HMAC-SHA256(secret, token)>`, percent-encoded as browsers send it back), if the signature is
/// valid: sessions imported from Better Auth keep their cookies.
pub fn verify_better_auth_value(secret: &str, value: &str) -> Option<String> {
    use base64::Engine as _;
    let decoded = value.replace("%2B", "+").replace("%2F", "/").replace("%3D", "=");
    let decoded = decoded.replace("%2b", "+").replace("%2f", "/").replace("%3d", "=");
    let (token, signature) = decoded.rsplit_once('.')?;
    let lenient = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let signature = lenient.decode(signature).ok()?;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(token.as_bytes());
    mac.verify_slice(&signature).ok()?;
    Some(token.to_string())
}

/// The token a session imported from Better Auth has here. Better Auth's tokens (32 letters and
/// digits) are not session ids this server can carry (16 bytes, base64url), so an imported
/// session is stored under one derived from its Better Auth token, and a Better Auth cookie
/// (or bearer value) is turned into it.
pub fn imported_session_token(better_auth_token: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest =
        sha2::Sha256::digest(format!("gatehouse/better-auth-session:{better_auth_token}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn better_auth_signed_values() {
        // Better Auth's own cookie for token `tok` under secret `s` (printf tok | openssl dgst
        // -sha256 -hmac s -binary | base64), percent-encoded as it sends it.
        let value = "tok.NS%2F7rilwWvL7sGKCXo%2FQncm0JxEIba2Bnz82RHY%2Fe30%3D";
        assert_eq!(verify_better_auth_value("s", value).as_deref(), Some("tok"));
        assert_eq!(verify_better_auth_value("other", value), None);
        assert_eq!(verify_better_auth_value("s", &value.replace("tok.", "tak.")), None);
        assert_eq!(verify_better_auth_value("s", "tok"), None);
        let unpadded = value.trim_end_matches("%3D");
        assert_eq!(verify_better_auth_value("s", unpadded).as_deref(), Some("tok"), "padding optional");
        let id = imported_session_token("MChYPCxRDa706PolLj1CWtdIF0qOBFwQ");
        assert_eq!(id.len(), 22);
        assert!(id.parse::<tower_sessions::session::Id>().is_ok(), "a session id this server carries");
    }

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
