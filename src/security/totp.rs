//! TOTP (RFC 6238) as Better Auth's two-factor plugin keeps it, so migrated rows keep working:
//! the secret is 32 random ASCII characters used as raw key bytes, HMAC-SHA-1, 6 digits, 30 s
//! steps, one step of skew either way. `check` answers the matched step, so a caller can accept
//! each step once (RFC 6238 §5.2).

use rand::{Rng, distributions::Alphanumeric};
use totp_rs::{Algorithm, Builder, Secret};

const STEP_S: u64 = 30;

/// A new secret: 32 random alphanumeric characters.
pub fn new_secret() -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(32).map(char::from).collect()
}

fn totp(secret: &str) -> Option<totp_rs::Totp> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(STEP_S)
        .with_skew(1)
        .with_secret(Secret::from(secret.as_bytes().to_vec()))
        .build()
        .ok()
}

/// The time step a 6-digit `code` matches at `now_ms` (±1 step), if any.
pub fn check(secret: &str, code: &str, now_ms: i64) -> Option<i64> {
    let now_s = u64::try_from(now_ms.div_euclid(1000)).ok()?;
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    totp(secret)?.check(code, now_s).and_then(|step| i64::try_from(step).ok())
}

/// The code for `now_ms` (tests, and the email fallback never uses it).
pub fn code_at(secret: &str, now_ms: i64) -> String {
    let now_s = u64::try_from(now_ms.div_euclid(1000)).unwrap_or(0);
    totp(secret).map(|t| t.generate(now_s).to_string()).unwrap_or_default()
}

/// The `otpauth://` URI authenticator apps scan.
pub fn uri(secret: &str, issuer: &str, account: &str) -> String {
    let label = percent_encoding::utf8_percent_encode(
        &format!("{issuer}:{account}"),
        percent_encoding::NON_ALPHANUMERIC,
    )
    .to_string();
    let query = serde_urlencoded::to_string([
        ("secret", Secret::from(secret.as_bytes().to_vec()).to_base32().as_str()),
        ("issuer", issuer),
        ("digits", "6"),
        ("period", "30"),
    ])
    .unwrap_or_default();
    format!("otpauth://totp/{label}?{query}")
}

/// The URI as a QR code: an SVG image in a `data:` URL, for an `<img src>`.
pub fn qr_svg_data_url(uri: &str) -> String {
    use base64::{Engine as _, engine::general_purpose::STANDARD};
    let svg = qrcode::QrCode::new(uri.as_bytes())
        .map(|code| code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(200, 200).build())
        .unwrap_or_default();
    format!("data:image/svg+xml;base64,{}", STANDARD.encode(svg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_sha1_vectors() {
        // RFC 6238 appendix B, SHA-1 key "12345678901234567890", last 6 of the 8 digits.
        let key = "12345678901234567890";
        assert_eq!(code_at(key, 59_000), "287082");
        assert_eq!(code_at(key, 1_111_111_109_000), "081804");
        assert_eq!(check(key, "287082", 59_000), Some(1));
        assert_eq!(check(key, "287082", 59_000 + 30_000), Some(1), "one step late is fine");
        assert_eq!(check(key, "287082", 59_000 + 60_000), None, "two steps late is not");
        assert_eq!(check(key, "28708", 59_000), None);
        assert_eq!(check(key, "abcdef", 59_000), None);
    }

    #[test]
    fn secrets_and_uris() {
        let s = new_secret();
        assert_eq!(s.len(), 32);
        let uri = uri(&s, "Acme", "a@example.com");
        assert!(uri.starts_with("otpauth://totp/Acme%3Aa%40example%2Ecom?secret="), "{uri}");
        assert!(uri.ends_with("&issuer=Acme&digits=6&period=30"), "{uri}");
    }
}
