//! (Just over 400 lines: the settings that belong to no one concern, and the one test table that
//! checks every setting's parsing, live together.)
//!
//! Settings from the environment (and `.env`), validated once at start-up: one struct per
//! concern (database, sessions, passwords, JWT, mail, limits, clients), each with its defaults and its
//! parsing in its own file; where the server is (URL, bind address, origins, proxies, cookies,
//! the secret) here.
//!
//! Every setting is listed in `.env.example` and the README. A value that does not parse stops
//! start-up with an error naming the setting; secrets never appear in `Debug` output or logs.
//!
//! (Over 400 lines: the parsing is under 250; the rest are the tests of every setting's
//! defaults and refusals, kept next to the one entry point they exercise.)

mod admin;
mod clients;
mod database;
pub mod env;
mod jwt;
mod limits;
mod mail;
mod passkeys;
mod passwords;
mod secret;
mod sessions;
pub mod social;
mod two_factor;
pub mod webhooks;

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context;
use url::Url;

use self::env::{Env, at_least};

/// The cores this process may use (2 when that cannot be told): what the defaults that scale
/// with the machine (pool size, hashing concurrency, batch readers) are sized from.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}
pub use self::secret::Secret;
use self::secret::secrets;
pub use self::{
    admin::AdminSettings,
    clients::ClientSettings,
    database::DatabaseSettings,
    jwt::JwtSettings,
    limits::LimitSettings,
    mail::MailSettings,
    passkeys::PasskeySettings,
    passwords::{Argon2Params, PasswordSettings},
    sessions::SessionSettings,
    social::SocialSettings,
    two_factor::TwoFactorSettings,
    webhooks::WebhookSettings,
};
use crate::{
    domain::fields::{FieldSpec, parse_specs},
    security::{client_ip::TrustedProxies, origin::OriginPattern},
};

/// `COOKIE_DOMAIN` as cookies take it: a domain name (a leading dot dropped) that the base URL's
/// host is, or is a subdomain of (a browser drops cookies for any other domain).
fn cookie_domain(raw: &str, base_url: &Url) -> Option<String> {
    let domain = raw.trim().trim_start_matches('.').to_ascii_lowercase();
    let valid = domain.contains('.') || domain == "localhost";
    let valid = valid
        && domain
            .split('.')
            .all(|label| !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    // Browsers take no Domain for an IP address; nor for a public suffix (`co.uk`, `github.io`),
    // which this does not know: the README says so.
    let url::Host::Domain(host) = base_url.host()? else { return None };
    let host = host.to_ascii_lowercase();
    let valid = valid
        && domain
            .split('.')
            .all(|label| label.len() <= 63 && !label.starts_with('-') && !label.ends_with('-'));
    (valid && (host == domain || host.ends_with(&format!(".{domain}")))).then_some(domain)
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// `None` until resolved by [`Settings::resolve_secret`]: the secret that signs and seals.
    pub secret: Option<Secret>,
    /// Older secrets (`BETTER_AUTH_SECRETS` after the first, newest first): still accepted when
    /// verifying cookies, finding stored tokens and opening sealed data, never used to sign or
    /// seal. Drop one after `gatehouse secrets reseal` (and once cookies signed with it are gone).
    pub previous_secrets: Vec<Secret>,
    pub secret_file: PathBuf,
    pub base_url: Url,
    pub base_path: String,
    pub bind: SocketAddr,
    pub trusted_origins: Vec<OriginPattern>,
    pub trusted_proxies: TrustedProxies,
    pub cookie_prefix: String,
    /// `COOKIE_DOMAIN`: cookies go to this domain and its subdomains (an auth server on
    /// `auth.example.com` for an app on `app.example.com`); `None`: the host only.
    pub cookie_domain: Option<String>,
    pub max_body_bytes: usize,
    /// The product name mail and pages show.
    pub app_name: String,
    pub stripe_webhook_secret: Option<Secret>,
    /// `METRICS_TOKEN`: `GET /metrics` answers only with `Authorization: Bearer <it>` (unset: no
    /// `/metrics` at all).
    pub metrics_token: Option<Secret>,
    /// `USER_FIELDS`: the custom fields of the user object (see `domain::fields`).
    pub user_fields: Vec<FieldSpec>,
    pub database: DatabaseSettings,
    pub sessions: SessionSettings,
    pub passwords: PasswordSettings,
    pub jwt: JwtSettings,
    pub mail: MailSettings,
    pub limits: LimitSettings,
    pub social: SocialSettings,
    pub two_factor: TwoFactorSettings,
    pub passkeys: PasskeySettings,
    pub clients: ClientSettings,
    pub admin: AdminSettings,
    pub webhooks: WebhookSettings,
}

const DEFAULT_BIND: &str = "127.0.0.1:3000";

impl Settings {
    /// The defaults, for a server at `base_url` (tests and embedding).
    pub fn for_base_url(base_url: &str) -> Self {
        let base_url = Url::parse(base_url).expect("valid base URL");
        let origin = base_url.origin().ascii_serialization();
        Self {
            secret: None,
            previous_secrets: Vec::new(),
            secret_file: PathBuf::from(".gatehouse-secret"),
            base_path: "/api/auth".into(),
            bind: DEFAULT_BIND.parse().expect("valid address"),
            trusted_origins: Vec::new(),
            trusted_proxies: TrustedProxies::default(),
            cookie_prefix: "better-auth".into(),
            cookie_domain: None,
            max_body_bytes: 64 * 1024,
            app_name: "Gatehouse".into(),
            stripe_webhook_secret: None,
            metrics_token: None,
            user_fields: Vec::new(),
            database: DatabaseSettings::default(),
            sessions: SessionSettings::default(),
            passwords: PasswordSettings::default(),
            jwt: jwt::defaults(&origin),
            mail: MailSettings::default(),
            limits: LimitSettings::default(),
            social: SocialSettings::default(),
            two_factor: TwoFactorSettings::default(),
            passkeys: PasskeySettings::for_base_url(&base_url),
            clients: ClientSettings::default(),
            admin: AdminSettings::default(),
            webhooks: WebhookSettings::default(),
            base_url,
        }
    }

    /// Reads every setting from the process environment (after loading `.env` if present).
    pub fn from_env() -> anyhow::Result<Self> {
        let _ = dotenvy::dotenv();
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads settings through `get`, so tests can feed a map instead of the environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let lookup = |key: &str| get(key).filter(|v| !v.trim().is_empty());
        let env = Env(&lookup);
        let bind: SocketAddr = env.or("BIND", DEFAULT_BIND.parse()?, |v| v.parse().ok())?;
        let default_base = if bind.ip().is_unspecified() {
            format!("http://127.0.0.1:{}", bind.port())
        } else {
            format!("http://{bind}")
        };
        let base_url_raw = env.get("BASE_URL").or_else(|| env.get("BETTER_AUTH_URL")).unwrap_or(default_base);
        let base_url = Url::parse(&base_url_raw)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .with_context(|| format!("BASE_URL: {base_url_raw:?} is not an http(s) URL"))?;
        let d = Self::for_base_url(base_url.as_str());
        let public = !d.base_url_is_loopback();
        let (secret, previous_secrets) = secrets(
            env.get("BETTER_AUTH_SECRET").or_else(|| env.get("AUTH_SECRET")),
            env.get("BETTER_AUTH_SECRETS"),
        )?;
        let trusted_origins = match env.get("TRUSTED_ORIGINS") {
            None => d.trusted_origins,
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    OriginPattern::parse(s)
                        .with_context(|| format!("TRUSTED_ORIGINS: {s:?} is not an origin"))
                })
                .collect::<anyhow::Result<_>>()?,
        };
        let origin = base_url.origin().ascii_serialization();
        Ok(Self {
            secret,
            previous_secrets,
            secret_file: env.get("SECRET_FILE").map_or(d.secret_file, PathBuf::from),
            base_path: env.or("BASE_PATH", d.base_path, |v| {
                let v = v.trim_end_matches('/');
                (v.starts_with('/') && !v.contains("//")).then(|| v.to_string())
            })?,
            bind,
            trusted_origins,
            trusted_proxies: env.or("TRUSTED_PROXIES", d.trusted_proxies, TrustedProxies::parse)?,
            cookie_prefix: env.or("COOKIE_PREFIX", d.cookie_prefix, |v| {
                v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
                    .then(|| v.to_string())
            })?,
            cookie_domain: env.optional("COOKIE_DOMAIN", |v| cookie_domain(v, &base_url))?,
            max_body_bytes: env.or("MAX_BODY_BYTES", d.max_body_bytes, at_least(1024))?,
            app_name: env.get("APP_NAME").unwrap_or(d.app_name),
            stripe_webhook_secret: env.get("STRIPE_WEBHOOK_SECRET").map(Secret::new),
            metrics_token: env.get("METRICS_TOKEN").map(Secret::new),
            user_fields: match env.get("USER_FIELDS") {
                Some(raw) => parse_specs(&raw).map_err(|e| anyhow::anyhow!("USER_FIELDS: {e}"))?,
                None => Vec::new(),
            },
            database: DatabaseSettings::read(&env)?,
            sessions: SessionSettings::read(&env)?,
            passwords: PasswordSettings::read(&env)?,
            jwt: jwt::read(&env, &origin)?,
            mail: MailSettings::read(&env, &base_url, public)?,
            limits: LimitSettings::read(&env)?,
            social: SocialSettings::read(&env)?,
            two_factor: TwoFactorSettings::read(&env)?,
            passkeys: PasskeySettings::read(&env, &base_url)?,
            clients: ClientSettings::read(&env)?,
            admin: AdminSettings::read(&env)?,
            webhooks: WebhookSettings::read(&env)?,
            base_url,
        })
    }

    /// Whether cookies get `Secure` and the `__Secure-` prefix.
    pub fn secure_cookies(&self) -> bool {
        self.base_url.scheme() == "https"
    }

    /// The session cookie's name, e.g. `better-auth.session_token`.
    pub fn session_cookie_name(&self) -> String {
        let prefix = if self.secure_cookies() { "__Secure-" } else { "" };
        format!("{prefix}{}.session_token", self.cookie_prefix)
    }

    /// Whether the base URL points at this machine (development).
    pub fn base_url_is_loopback(&self) -> bool {
        match self.base_url.host() {
            Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{env::parse_duration, *};
    use crate::jwt::keys::SigningAlg;
    use std::{collections::HashMap, time::Duration};

    fn load(pairs: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let map: HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_development_friendly() {
        let s = load(&[]).unwrap();
        assert_eq!(s.base_url.as_str(), "http://127.0.0.1:3000/");
        assert_eq!(s.session_cookie_name(), "better-auth.session_token");
        assert_eq!(s.passwords.argon2, Argon2Params::default());
        assert!(s.base_url_is_loopback());
        assert!(s.database.session_cache);
        assert_eq!(s.jwt.issuer, "http://127.0.0.1:3000");
        assert_eq!(s.jwt.lifetime, Duration::from_secs(3600));
        assert_eq!(s.jwt.algorithm, SigningAlg::EdDsa);
        assert!(!load(&[("SESSION_CACHE", "false")]).unwrap().database.session_cache);
    }

    #[test]
    fn secrets_list_the_current_one_first() {
        let (a, b) = ("a".repeat(32), "b".repeat(32));
        let s = load(&[("BETTER_AUTH_SECRETS", &format!("{a}, {b}"))]).unwrap();
        assert_eq!(s.secrets(), vec![a.as_str(), b.as_str()]);
        assert_eq!(s.secret.unwrap().expose(), a);
        let s = load(&[("BETTER_AUTH_SECRET", &a)]).unwrap();
        assert_eq!((s.secrets(), s.previous_secrets.len()), (vec![a.as_str()], 0));
        for (pairs, says) in [
            (vec![("BETTER_AUTH_SECRET", a.as_str()), ("BETTER_AUTH_SECRETS", b.as_str())], "both set"),
            (vec![("BETTER_AUTH_SECRETS", "short")], "secret 1 must be at least 32"),
            (vec![("BETTER_AUTH_SECRETS", &format!("{a},short"))], "secret 2 must be at least 32"),
            (vec![("BETTER_AUTH_SECRETS", &format!("{a},{a}"))], "secret 2 is listed twice"),
        ] {
            let err = load(&pairs).unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
        }
    }

    #[test]
    fn passkeys_need_a_domain() {
        let ip = load(&[]).unwrap();
        assert_eq!(ip.passkeys.rp_id, None);
        assert!(ip.passkeys.off_reason(&ip.base_url).unwrap().contains("http://localhost"));
        let local = load(&[("BASE_URL", "http://localhost:3000")]).unwrap();
        assert_eq!(local.passkeys.rp_id.as_deref(), Some("localhost"));
        assert!(local.passkeys.off_reason(&local.base_url).is_none());
        let public = [("BASE_URL", "https://auth.example.com"), ("MAIL_TRANSPORT", "outbox")];
        let set = load(&[public[0], public[1], ("PASSKEY_RP_ID", "Example.COM")]).unwrap();
        assert_eq!(set.passkeys.rp_id.as_deref(), Some("example.com"));
        assert!(load(&[("PASSKEY_RP_ID", "10.0.0.1")]).is_err(), "an IP address is no relying party id");
    }

    #[test]
    fn bad_values_name_the_setting() {
        for (key, value) in [
            ("SESSION_EXPIRES_IN", "forever"),
            ("BIND", "nowhere"),
            ("REQUIRE_EMAIL_VERIFICATION", "maybe"),
            ("BASE_URL", "ftp://x"),
            ("BETTER_AUTH_SECRET", "short"),
            ("DATABASE_URL", "mysql://x"),
            ("TRUSTED_ORIGINS", "not a url"),
            ("SESSION_CACHE", "sometimes"),
            ("JWT_ALGORITHM", "HS256"),
            ("JWT_EXPIRATION", "soon"),
            ("SMTP_URL", "http://mail"),
            ("EMAIL_FROM", "not an address"),
            ("RATE_LIMIT_MAX_ATTEMPTS", "0"),
            ("RATE_LIMIT_RULES", "/x=oops"),
            ("TRUSTED_PROXIES", "proxy.example"),
            ("REDIS_URL", "http://redis"),
            ("LOCKOUT_DURATION_MINUTES", "-1"),
            ("INVITATIONS_PER_HOUR", "0"),
            ("APP_KEY_RATE_LIMIT", "lots"),
            ("APP_KEY_RATE_LIMIT", "0/60"),
            ("IMPERSONATION_SESSION_DURATION", "0"),
            ("AUDIT_RETENTION_DAYS", "0"),
            ("MAIL_TRANSPORT", "pigeon"),
            ("ACCESS_TOKEN_EXPIRATION", "0"),
            ("REFRESH_TOKEN_IDLE", "often"),
            ("REFRESH_REUSE_GRACE", "11s"),
            ("EMAIL_AVAILABILITY_CHECK", "perhaps"),
            ("PASSWORD_MIN_LENGTH", "0"),
            ("PASSWORD_MAX_LENGTH", "5000"),
            ("PASSWORD_REQUIRE", "upper,emoji"),
            ("WEBHOOK_URLS", "ftp://hooks.example"),
            ("WEBHOOK_URLS", "https://hooks.example"),
            ("WEBHOOK_SECRET", "short"),
            ("WEBHOOK_RETRY_FOR", "0"),
            ("COOKIE_DOMAIN", "other.example"),
            ("COOKIE_DOMAIN", "https://example.com"),
        ] {
            let err = load(&[(key, value)]).unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
        let err = load(&[("PASSWORD_MIN_LENGTH", "20"), ("PASSWORD_MAX_LENGTH", "10")]).unwrap_err();
        assert!(err.to_string().contains("PASSWORD_MIN_LENGTH"), "{err}");
        let hooks = load(&[
            ("WEBHOOK_URLS", "https://a.example/hook, http://127.0.0.1:9/x"),
            ("WEBHOOK_SECRET", "whsec-0123456789abcdef01234567"),
            ("WEBHOOK_RETRY_FOR", "2h"),
        ])
        .unwrap()
        .webhooks;
        assert_eq!(hooks.urls, ["https://a.example/hook", "http://127.0.0.1:9/x"]);
        assert_eq!(hooks.retry_for, Duration::from_secs(7200));
        let auth = Url::parse("https://auth.example.com").unwrap();
        assert_eq!(cookie_domain(".Example.com", &auth).as_deref(), Some("example.com"));
        assert_eq!(cookie_domain("auth.example.com", &auth).as_deref(), Some("auth.example.com"));
        for refused in ["com", "other.com", "xample.com", "exa mple.com", "example.com/x", "-example.com"] {
            assert_eq!(cookie_domain(refused, &auth), None, "{refused}");
        }
        let ip = Url::parse("http://10.0.0.5:3000").unwrap();
        assert_eq!(cookie_domain("0.0.5", &ip), None, "no Domain for an IP address");
        assert_eq!(cookie_domain("10.0.0.5", &ip), None);
    }

    #[test]
    fn client_and_password_settings() {
        use crate::domain::input::CharClass::*;
        let d = load(&[]).unwrap();
        assert_eq!(d.jwt.access_lifetime, Duration::from_secs(900));
        assert_eq!(d.clients.refresh_idle, Duration::from_secs(14 * 86_400));
        assert_eq!(d.clients.reuse_grace, Duration::ZERO);
        assert!(d.clients.email_availability_check);
        assert_eq!((d.passwords.policy.min, d.passwords.policy.max), (8, 128));
        assert!(d.passwords.policy.require.is_empty());
        let s = load(&[
            ("ACCESS_TOKEN_EXPIRATION", "5m"),
            ("REFRESH_REUSE_GRACE", "10s"),
            ("PASSWORD_REQUIRE", " Digit, upper,digit "),
            ("PASSWORD_MAX_LENGTH", "4096"),
        ])
        .unwrap();
        assert_eq!(s.jwt.access_lifetime, Duration::from_secs(300));
        assert_eq!(s.clients.reuse_grace, Duration::from_secs(10));
        assert_eq!(s.passwords.policy.require, vec![Digit, Upper]);
        assert_eq!(load(&[("REFRESH_REUSE_GRACE", "0")]).unwrap().clients.reuse_grace, Duration::ZERO);
    }

    #[test]
    fn https_base_url_uses_secure_prefix_and_needs_a_secret() {
        let mut s = load(&[("BASE_URL", "https://auth.example.com"), ("MAIL_TRANSPORT", "outbox")]).unwrap();
        assert_eq!(s.session_cookie_name(), "__Secure-better-auth.session_token");
        let err = s.resolve_secret().unwrap_err().to_string();
        assert!(err.contains("BETTER_AUTH_SECRET"), "{err}");
    }

    #[test]
    fn a_public_server_needs_smtp_or_says_outbox() {
        let err = load(&[("BASE_URL", "https://auth.example.com")]).unwrap_err().to_string();
        assert!(err.contains("SMTP_URL"), "{err}");
        let public = ("BASE_URL", "https://auth.example.com");
        assert!(load(&[public, ("SMTP_URL", "smtps://mail.example.com")]).is_ok());
        assert!(load(&[public, ("MAIL_TRANSPORT", "outbox")]).unwrap().mail.smtp_url.is_none());
        assert!(load(&[("MAIL_TRANSPORT", "smtp")]).is_err());
        assert!(load(&[]).is_ok(), "loopback development needs nothing");
    }

    #[test]
    fn social_providers() {
        let s = load(&[("GOOGLE_CLIENT_ID", "g"), ("GOOGLE_CLIENT_SECRET", "gs")]).unwrap();
        let google = &s.social.providers[0];
        assert_eq!(google.id, "google");
        assert!(
            matches!(&google.endpoints, social::Endpoints::Discovery { issuer } if issuer == "https://accounts.google.com")
        );
        assert_eq!(google.scopes, ["openid", "email", "profile"]);
        assert!(load(&[("GOOGLE_CLIENT_ID", "g")]).unwrap().social.providers.is_empty(), "needs both");
        let ms = load(&[("MICROSOFT_CLIENT_ID", "m"), ("MICROSOFT_CLIENT_SECRET", "ms")]).unwrap();
        let ms = &ms.social.providers[0];
        let common = "https://login.microsoftonline.com/common/v2.0";
        assert!(matches!(&ms.endpoints, social::Endpoints::Discovery { issuer } if issuer == common));
        assert!(ms.scopes.contains(&"User.Read".to_string()));
        let gh = load(&[("GITHUB_CLIENT_ID", "h"), ("GITHUB_CLIENT_SECRET", "hs")]).unwrap();
        let gh = &gh.social.providers[0];
        assert_eq!((gh.id.as_str(), gh.scopes.join(" ")), ("github", "read:user user:email".to_string()));
        assert!(
            matches!(&gh.endpoints, social::Endpoints::Fixed { api, .. } if api == "https://api.github.com")
        );
        let acme = [
            ("OIDC_PROVIDERS", "acme"),
            ("OIDC_ACME_ISSUER", "https://id.acme.example/"),
            ("OIDC_ACME_CLIENT_ID", "a"),
            ("OIDC_ACME_CLIENT_SECRET", "as"),
            ("OIDC_ACME_SCOPES", "openid email"),
            ("TRUSTED_PROVIDERS", "Acme"),
        ];
        let s = load(&acme).unwrap();
        assert!(
            matches!(&s.social.providers[0].endpoints, social::Endpoints::Discovery { issuer } if issuer == "https://id.acme.example")
        );
        assert_eq!(s.social.providers[0].scopes, ["openid", "email"]);
        assert_eq!(s.social.trusted_providers, ["acme"]);
        for (pairs, named) in [
            (&[("OIDC_PROVIDERS", "Acme Corp")][..], "OIDC_PROVIDERS"),
            (&[("OIDC_PROVIDERS", "github")][..], "OIDC_PROVIDERS"),
            (&[("OIDC_PROVIDERS", "acme")][..], "OIDC_ACME_CLIENT_ID"),
            (&acme[..3], "OIDC_ACME_CLIENT_ID"),
            (
                &[("OIDC_PROVIDERS", "acme"), ("OIDC_ACME_CLIENT_ID", "a"), ("OIDC_ACME_CLIENT_SECRET", "s")]
                    [..],
                "OIDC_ACME_ISSUER",
            ),
            (
                &[("GOOGLE_CLIENT_ID", "g"), ("GOOGLE_CLIENT_SECRET", "s"), ("GOOGLE_ISSUER", "ftp://x")][..],
                "GOOGLE_ISSUER",
            ),
        ] {
            let err = load(pairs).unwrap_err().to_string();
            assert!(err.contains(named), "{pairs:?}: {err}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("3600"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0"), None);
        assert_eq!(parse_duration("1y"), None);
    }
}
