//! Validated request values: once parsed, the rest of the code cannot hold an invalid one.
//!
//! (Just over 400 lines: email, password (with its policy), username, names and ids, each small;
//! a third is their unit tests.)

use unicode_normalization::UnicodeNormalization;

use crate::error::ApiError;

/// No password policy may allow more characters than this, and a password longer than this is
/// wrong without being hashed (a lowered `PASSWORD_MAX_LENGTH` must not lock out passwords set
/// before).
pub const PASSWORD_HARD_MAX: usize = 4096;
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

/// A kind of character a password policy can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharClass {
    Upper,
    Lower,
    Digit,
    Symbol,
}

impl CharClass {
    /// `upper`, `lower`, `digit`, `symbol` (`PASSWORD_REQUIRE`).
    pub fn parse(word: &str) -> Option<Self> {
        match word.trim().to_ascii_lowercase().as_str() {
            "upper" => Some(Self::Upper),
            "lower" => Some(Self::Lower),
            "digit" => Some(Self::Digit),
            "symbol" => Some(Self::Symbol),
            _ => None,
        }
    }

    fn matches(self, c: char) -> bool {
        match self {
            Self::Upper => c.is_uppercase(),
            Self::Lower => c.is_lowercase(),
            Self::Digit => c.is_numeric(),
            Self::Symbol => !c.is_alphanumeric() && !c.is_whitespace(),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Upper => "an uppercase letter",
            Self::Lower => "a lowercase letter",
            Self::Digit => "a digit",
            Self::Symbol => "a symbol",
        }
    }
}

/// What a new password must be: `min..=max` characters, with at least one of each required
/// class (`PASSWORD_MIN_LENGTH`, `PASSWORD_MAX_LENGTH`, `PASSWORD_REQUIRE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min: usize,
    pub max: usize,
    pub require: Vec<CharClass>,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self { min: 8, max: 128, require: Vec::new() }
    }
}

impl PasswordPolicy {
    /// The rule in words, for forms: "8 to 128 characters, with a digit".
    pub fn describe(&self) -> String {
        let mut text = format!("{} to {} characters", self.min, self.max);
        if !self.require.is_empty() {
            text.push_str(", with ");
            text.push_str(&list(self.require.iter().map(|c| c.describe())));
        }
        text
    }
}

/// `a`, `a and b`, `a, b and c`.
fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<&str> = items.collect();
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// A new password the policy accepts: length first (counted in characters), then the required
/// classes; a weak one is refused with a message naming each missing class.
#[derive(Clone)]
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(raw: &str, policy: &PasswordPolicy) -> Result<Self, ApiError> {
        let len = raw.chars().count();
        if len < policy.min {
            return Err(ApiError::PasswordTooShort);
        }
        if len > policy.max {
            return Err(ApiError::PasswordTooLong);
        }
        let missing: Vec<&str> = policy
            .require
            .iter()
            .filter(|c| !raw.chars().any(|ch| c.matches(ch)))
            .map(|c| c.describe())
            .collect();
        if !missing.is_empty() {
            let what = list(missing.into_iter());
            return Err(ApiError::PasswordTooWeak(format!("Password must contain {what}")));
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

/// A username as Better Auth's username plugin takes it: 3 to 30 characters, each a letter,
/// digit, `_` or `.` (checked as typed, nothing trimmed); stored and compared lowercased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

/// Why a username was refused (the status depends on the route; see [`UsernameProblem::at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsernameProblem {
    TooShort,
    TooLong,
    Invalid,
}

impl UsernameProblem {
    /// The error, with `status` (Better Auth answers 422 on some routes, 400 on others).
    pub fn at(self, status: axum::http::StatusCode) -> ApiError {
        match self {
            Self::TooShort => ApiError::Coded(status, "USERNAME_TOO_SHORT", "Username is too short"),
            Self::TooLong => ApiError::Coded(status, "USERNAME_TOO_LONG", "Username is too long"),
            Self::Invalid => ApiError::Coded(status, "INVALID_USERNAME", "Username is invalid"),
        }
    }
}

const MIN_USERNAME_LEN: usize = 3;
const MAX_USERNAME_LEN: usize = 30;
const MAX_DISPLAY_USERNAME_LEN: usize = 256;

impl Username {
    pub fn parse(raw: &str) -> Result<Self, UsernameProblem> {
        let len = raw.chars().count();
        if len < MIN_USERNAME_LEN {
            return Err(UsernameProblem::TooShort);
        }
        if len > MAX_USERNAME_LEN {
            return Err(UsernameProblem::TooLong);
        }
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.') {
            return Err(UsernameProblem::Invalid);
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A display username: 1 to 256 characters, none of them control or bidirectional-override
/// characters (which make one name look like another); 400 `INVALID_DISPLAY_USERNAME`.
pub fn parse_display_username(raw: &str) -> Result<String, ApiError> {
    let bidi =
        |c: char| matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}');
    let len = raw.chars().count();
    if len == 0 || len > MAX_DISPLAY_USERNAME_LEN || raw.chars().any(|c| c.is_control() || bidi(c)) {
        return Err(ApiError::Coded(
            axum::http::StatusCode::BAD_REQUEST,
            "INVALID_DISPLAY_USERNAME",
            "Display username is invalid",
        ));
    }
    Ok(raw.to_string())
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
        let policy = PasswordPolicy::default();
        assert!(matches!(NewPassword::parse("short", &policy), Err(ApiError::PasswordTooShort)));
        assert!(matches!(NewPassword::parse(&"x".repeat(129), &policy), Err(ApiError::PasswordTooLong)));
        assert!(NewPassword::parse(&"é".repeat(128), &policy).is_ok());
        let shown = format!("{:?}", NewPassword::parse("secret-password", &policy).unwrap());
        assert_eq!(shown, "NewPassword(***)");
    }

    #[test]
    fn password_policy_names_what_is_missing() {
        use CharClass::*;
        let policy = PasswordPolicy { min: 10, max: 12, require: vec![Upper, Lower, Digit, Symbol] };
        let weak = |raw: &str| match NewPassword::parse(raw, &policy) {
            Err(ApiError::PasswordTooWeak(m)) => m,
            other => panic!("{raw:?}: {:?}", other.map(|_| ())),
        };
        assert_eq!(weak("abcdefghijk"), "Password must contain an uppercase letter, a digit and a symbol");
        assert_eq!(weak("Abcdefghij1"), "Password must contain a symbol");
        assert_eq!(weak("ABCDEFGHIJ 1"), "Password must contain a lowercase letter and a symbol");
        // Length is checked first; classes are Unicode-aware (a space is no symbol).
        assert!(matches!(NewPassword::parse("Ab1!", &policy), Err(ApiError::PasswordTooShort)));
        assert!(matches!(NewPassword::parse("Ab1!Ab1!Ab1!x", &policy), Err(ApiError::PasswordTooLong)));
        assert!(NewPassword::parse("Ébène-été-9", &policy).is_ok());
        assert_eq!(
            policy.describe(),
            "10 to 12 characters, with an uppercase letter, a lowercase letter, a digit and a symbol"
        );
        assert_eq!(CharClass::parse(" Digit "), Some(Digit));
        assert_eq!(CharClass::parse("emoji"), None);
    }

    #[test]
    fn usernames() {
        assert_eq!(Username::parse("Ann_B.9").unwrap().as_str(), "ann_b.9");
        assert_eq!(Username::parse("ab"), Err(UsernameProblem::TooShort));
        assert_eq!(Username::parse(&"a".repeat(31)), Err(UsernameProblem::TooLong));
        assert!(Username::parse(&"a".repeat(30)).is_ok());
        // Checked as typed: no trimming, ASCII only, no look-alikes.
        for bad in [" bob", "bob ", "bo b", "bób", "bob@x", "ｂｏｂ", "bob\u{0}", "bo-b"] {
            assert_eq!(Username::parse(bad), Err(UsernameProblem::Invalid), "{bad:?}");
        }
        assert!(parse_display_username("Ann B. 🎉").is_ok());
        for bad in ["", "a\u{202e}b", "a\nb", &"x".repeat(257)] {
            assert!(parse_display_username(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_and_images() {
        assert_eq!(parse_name("  Ann ").unwrap(), "Ann");
        assert!(parse_name("a\0b").is_err());
        assert!(parse_image(&"x".repeat(3000)).is_err());
    }
}
