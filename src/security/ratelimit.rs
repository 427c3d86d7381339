//! Rate-limit rules per route: a general rule (100 requests per 10 s), a stricter one for
//! sign-in and sign-up, a strict one for routes that send mail, Better Auth's for second factors
//! (3 per 10 s on every `/two-factor/` route), one for the availability checks (10 a minute), and
//! custom rules from settings.
//! The middleware that applies them is `http::limits`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub max: u64,
    pub window_ms: i64,
}

impl Rule {
    /// `MAX/SECONDS` (a window of at least a second).
    pub fn parse(limit: &str) -> Option<Self> {
        let (max, secs) = limit.split_once('/')?;
        let rule = Rule {
            max: max.trim().parse().ok()?,
            window_ms: secs.trim().parse::<i64>().ok()?.checked_mul(1000)?,
        };
        (rule.window_ms > 0).then_some(rule)
    }
}

/// Routes that check a password or a one-time code: the strict sign-in rule.
const LOGIN_PATHS: &[&str] = &[
    "/sign-in/email",
    "/sign-in/username",
    "/sign-up/email",
    "/sign-in/email-otp",
    "/email-otp/verify-email",
    "/email-otp/reset-password",
    "/sign-in/social",
    "/callback/{id}",
    "/passkey/verify-authentication",
    "/passkey/sign-up/finish",
];
const MAIL_PATHS: &[&str] = &[
    "/send-verification-email",
    "/request-password-reset",
    "/forget-password",
    "/email-otp/send-verification-otp",
    "/change-email",
    "/organization/invite-member",
    "/passkey/sign-up/start",
];
/// Routes that tell whether an account exists: a strict rule of their own.
const AVAILABILITY_PATHS: &[&str] = &["/is-email-available", "/is-username-available"];
/// Second-factor routes: each a strict rule of its own.
const TWO_FACTOR_PREFIX: &str = "/two-factor/";
/// The bucket every path that matches no route shares (per client).
pub const UNKNOWN_ROUTE: &str = "(unknown)";

#[derive(Debug, Clone)]
pub struct Rules {
    pub general: Rule,
    pub login: Rule,
    pub mail: Rule,
    pub two_factor: Rule,
    /// `is-email-available`, `is-username-available`: 10 a minute.
    pub availability: Rule,
    /// Exact (normalised) paths under the base path, e.g. `/get-session`.
    pub custom: Vec<(String, Rule)>,
}

impl Rules {
    pub fn new(login: Rule) -> Self {
        Self {
            general: Rule { max: 100, window_ms: 10_000 },
            login,
            mail: Rule { max: 3, window_ms: 60_000 },
            two_factor: Rule { max: 3, window_ms: 10_000 },
            availability: Rule { max: 10, window_ms: 60_000 },
            custom: Vec::new(),
        }
    }

    /// `/path=MAX/SECONDS, …` (`RATE_LIMIT_RULES`).
    pub fn parse_custom(list: &str) -> Option<Vec<(String, Rule)>> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|item| {
                let (path, limit) = item.split_once('=')?;
                let rule = Rule::parse(limit)?;
                path.trim().starts_with('/').then(|| (normalize(path.trim(), ""), rule))
            })
            .collect()
    }

    pub fn for_path(&self, path: &str) -> Rule {
        if let Some((_, rule)) = self.custom.iter().find(|(p, _)| p == path) {
            return *rule;
        }
        if LOGIN_PATHS.contains(&path) {
            self.login
        } else if MAIL_PATHS.contains(&path) {
            self.mail
        } else if AVAILABILITY_PATHS.contains(&path) {
            self.availability
        } else if path.starts_with(TWO_FACTOR_PREFIX) {
            self.two_factor
        } else {
            self.general
        }
    }
}

/// The path a rule is looked up by (a matched route, or a custom rule's path): percent-decoded,
/// lowercased, repeated slashes collapsed, no trailing slash, relative to the base path.
pub fn normalize(path: &str, base_path: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy().to_lowercase();
    let mut out = String::with_capacity(decoded.len());
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        out.push_str(segment);
    }
    let base = base_path.to_lowercase();
    match out.strip_prefix(base.as_str()) {
        Some(rest) if !base.is_empty() && (rest.is_empty() || rest.starts_with('/')) => {
            if rest.is_empty() {
                "/".into()
            } else {
                rest.to_string()
            }
        }
        _ if out.is_empty() => "/".into(),
        _ => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_normalise_to_one_path() {
        for p in [
            "/api/auth/sign-in/email",
            "/api/auth//sign-in/email",
            "/api/auth/sign-in/email/",
            "/API/AUTH/Sign-In/Email",
            "/api/auth/sign-in%2Femail",
            "/api/auth/%73ign-in/email",
            "//api/auth/sign-in/email",
        ] {
            assert_eq!(normalize(p, "/api/auth"), "/sign-in/email", "{p}");
        }
        assert_eq!(normalize("/health", "/api/auth"), "/health");
        assert_eq!(normalize("/api/authx/ok", "/api/auth"), "/api/authx/ok");
    }

    #[test]
    fn rules() {
        let mut rules = Rules::new(Rule { max: 20, window_ms: 900_000 });
        rules.custom = Rules::parse_custom("/get-session=1000/10, /OK/=5/1").unwrap();
        assert_eq!(rules.for_path("/sign-in/email").max, 20);
        assert_eq!(rules.for_path("/forget-password").max, 3);
        assert_eq!(rules.for_path("/get-session"), Rule { max: 1000, window_ms: 10_000 });
        assert_eq!(rules.for_path("/ok"), Rule { max: 5, window_ms: 1000 });
        assert_eq!(rules.for_path("/list-sessions").max, 100);
        assert_eq!(rules.for_path("/sign-in/username").max, 20);
        assert_eq!(rules.for_path("/is-email-available"), Rule { max: 10, window_ms: 60_000 });
        assert_eq!(rules.for_path("/is-username-available"), Rule { max: 10, window_ms: 60_000 });
        assert_eq!(rules.for_path("/token/refresh").max, 100);
        assert!(Rules::parse_custom("/x=1").is_none());
        assert!(Rules::parse_custom("x=1/1").is_none());
    }
}
