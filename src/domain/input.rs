//! Validated request values: once parsed, the rest of the code cannot hold an invalid one.

use unicode_normalization::UnicodeNormalization;

use crate::error::ApiError;

pub const MIN_PASSWORD_LEN: usize = 8;
pub const MAX_PASSWORD_LEN: usize = 128;
const MAX_EMAIL_LEN: usize = 254;
const MAX_NAME_LEN: usize = 256;
const MAX_IMAGE_LEN: usize = 2048;

/// An email address as it is stored and compared: NFKC-normalised (fullwidth and other
/// compatibility forms become their plain letters) and trimmed; the local part lowercased letter
/// by letter, the domain in its ASCII form (IDNA / UTS-46: lowercased, `。` read as `.`, Unicode
/// labels as `xn--` punycode, so `bücher.de` and `xn--bcher-kva.de` are one domain); then
/// validated as a bare `local@domain` of at most 254 bytes. Display names (`Name <a@b.c>`),
/// comments (`a(x)@b.c`), quoted local parts, whitespace, domain literals (`a@[127.0.0.1]`) and IP
/// addresses as domains are refused: each is a way to write one mailbox several ways, or one that
/// looks like another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let normalised = raw.nfkc().collect::<String>();
        let (local, domain) = normalised.trim().rsplit_once('@').ok_or(ApiError::InvalidEmail)?;
        let forbidden = |c: char| c.is_control() || c.is_whitespace() || "\"()<>[]\\@|".contains(c);
        if local.chars().any(forbidden) || domain.chars().any(forbidden) {
            return Err(ApiError::InvalidEmail);
        }
        let Ok(url::Host::Domain(domain)) = url::Host::parse(domain) else {
            return Err(ApiError::InvalidEmail);
        };
        if !is_hostname(&domain) {
            return Err(ApiError::InvalidEmail);
        }
        let local: String = local.chars().flat_map(char::to_lowercase).collect();
        let email = format!("{local}@{domain}");
        let options = email_address::Options::default().without_display_text().without_domain_literal();
        if email.len() > MAX_EMAIL_LEN
            || email_address::EmailAddress::parse_with_options(&email, options).is_err()
        {
            return Err(ApiError::InvalidEmail);
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A DNS host name of two or more labels: letters, digits and inner hyphens only (the ASCII form
/// of any domain a mailbox can have).
fn is_hostname(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// A new password within the length rules (counted in characters).
#[derive(Clone)]
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let len = raw.chars().count();
        if len < MIN_PASSWORD_LEN {
            return Err(ApiError::PasswordTooShort);
        }
        if len > MAX_PASSWORD_LEN {
            return Err(ApiError::PasswordTooLong);
        }
        Ok(Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

/// A display name: trimmed, at most 256 characters, no control characters.
pub fn parse_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    if name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(ApiError::Validation("[body.name] Invalid name".into()));
    }
    Ok(name.to_string())
}

/// An image URL or data reference: at most 2048 characters, no control characters.
pub fn parse_image(raw: &str) -> Result<String, ApiError> {
    if raw.len() > MAX_IMAGE_LEN || raw.chars().any(char::is_control) {
        return Err(ApiError::Validation("[body.image] Invalid image".into()));
    }
    Ok(raw.to_string())
}

/// An id a client sends back (organization, member, invitation): 1 to 255 characters, no
/// control characters. Nothing else can name a row (and PostgreSQL refuses a NUL), so anything
/// else is a 400 at the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Id(String);

impl Id {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl<'de> serde::Deserialize<'de> for Id {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <String as serde::Deserialize>::deserialize(d)?;
        if raw.is_empty() || raw.len() > 255 || raw.chars().any(char::is_control) {
            return Err(serde::de::Error::custom("invalid id"));
        }
        Ok(Self(raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(Email::parse("  Alice@Example.COM ").unwrap().as_str(), "alice@example.com");
        for bad in ["", "nope", "a@", "@b.c", "a\0b@c.d", "a b@c.d"] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn email_look_alikes_are_one_address_or_refused() {
        for (raw, plain) in [
            ("ｓｅｃ@example.com", "sec@example.com"),
            ("a@ｅｘａｍｐｌｅ.com", "a@example.com"),
            ("ＳＥＣ＠ＥＸＡＭＰＬＥ．ＣＯＭ", "sec@example.com"),
            ("\u{3000}sec@example.com\u{a0}", "sec@example.com"),
            // One domain, however it is written (IDNA).
            ("a@bücher.de", "a@xn--bcher-kva.de"),
            ("a@XN--BCHER-KVA.de", "a@xn--bcher-kva.de"),
            ("a@BÜCHER.de", "a@xn--bcher-kva.de"),
            ("user@example。com", "user@example.com"),
            // Lowercased letter by letter: a capital sigma is always σ.
            ("ΑΣ@example.com", "ασ@example.com"),
        ] {
            assert_eq!(Email::parse(raw).unwrap().as_str(), plain, "{raw:?}");
        }
        for bad in [
            "Victim <vic@example.com>",
            "<vic@example.com>",
            "a(x)@b.c",
            "a@b.c(x)",
            "\"a\"@b.c",
            "\"a b\"@b.c",
            "a@[127.0.0.1]",
            "a@127.0.0.1",
            "x|victim@example.com",
            "a@localhost",
            "a@ex'ample.com",
            "a@ex*ample.com",
            "a@ex_ample.com",
            "a@-example.com",
            "a@0x7f.1",
            "a@[IPv6:::1]",
            "a\tb@c.d",
            "a@b\u{3000}c.d",
            "a@b.c d",
        ] {
            assert!(matches!(Email::parse(bad), Err(ApiError::InvalidEmail)), "{bad:?}");
        }
        // The limit counts the normalised address (fullwidth letters are 3 bytes each raw).
        let label = "ｂ".repeat(60);
        let fullwidth = format!("{}@{label}.{label}.{label}.cccccc", "ａ".repeat(64));
        assert_eq!(Email::parse(&fullwidth).unwrap().as_str().len(), 254);
        assert!(Email::parse(&format!("{fullwidth}c")).is_err());
    }

    #[test]
    fn passwords() {
        assert!(matches!(NewPassword::parse("short"), Err(ApiError::PasswordTooShort)));
        assert!(matches!(NewPassword::parse(&"x".repeat(129)), Err(ApiError::PasswordTooLong)));
        assert!(NewPassword::parse(&"é".repeat(128)).is_ok());
        assert_eq!(format!("{:?}", NewPassword::parse("secret-password").unwrap()), "NewPassword(***)");
    }

    #[test]
    fn names_and_images() {
        assert_eq!(parse_name("  Ann ").unwrap(), "Ann");
        assert!(parse_name("a\0b").is_err());
        assert!(parse_image(&"x".repeat(3000)).is_err());
    }
}
