//! Settings from the environment (and `.env`), validated once at start-up.
//!
//! Every setting is listed in `.env.example`. A value that does not parse stops start-up with an
//! error naming the setting; secrets never appear in `Debug` output or logs.

use std::{fmt, net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::{Context, bail};
use url::Url;

pub use crate::security::password::Argon2Params;
use crate::{
    jwt::keys::SigningAlg,
    security::{
        client_ip::TrustedProxies,
        origin::OriginPattern,
        ratelimit::{Rule, Rules},
    },
};

/// A secret string whose `Debug` and `Display` never show the value.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: Secret,
    /// `None` until resolved by [`Settings::resolve_secret`].
    pub secret: Option<Secret>,
    pub secret_file: PathBuf,
    pub base_url: Url,
    pub base_path: String,
    pub bind: SocketAddr,
    pub trusted_origins: Vec<OriginPattern>,
    pub cookie_prefix: String,
    pub session_expires_in: Duration,
    pub session_update_age: Duration,
    pub session_absolute_lifetime: Duration,
    pub session_fresh_age: Duration,
    pub require_email_verification: bool,
    pub send_verification_on_sign_up: bool,
    pub argon2: Argon2Params,
    pub hash_concurrency: usize,
    pub max_body_bytes: usize,
    pub db_max_connections: u32,
    /// Cache live sessions in process (invalidated on every change; see `store/cache.rs`).
    pub session_cache: bool,
    pub jwt_expiration: Duration,
    pub jwt_algorithm: SigningAlg,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub jwt_on_get_session: bool,
    /// `smtp://user:pass@host:587` (STARTTLS) or `smtps://…` (TLS); `None`: the outbox.
    pub smtp_url: Option<Secret>,
    pub email_from: String,
    pub outbox_path: PathBuf,
    pub email_templates_dir: PathBuf,
    /// Whether `EMAIL_TEMPLATES_DIR` was set (then the folder must exist).
    pub email_templates_explicit: bool,
    /// The product name mail and pages show.
    pub app_name: String,
    pub rate_limit_enabled: bool,
    pub rate_limit_window: Duration,
    pub rate_limit_max_attempts: u64,
    pub rate_limit_rules: Vec<(String, Rule)>,
    pub lockout_max_failed_attempts: u64,
    pub lockout_duration: Duration,
    /// Redis for shared counters (`REDIS_URL`, unless `REDIS_ENABLED=false`).
    pub redis_url: Option<Secret>,
    pub trusted_proxies: TrustedProxies,
    /// Prefix of every Redis key (`REDIS_KEY_PREFIX`), so deployments can share a Redis.
    pub redis_key_prefix: String,
    pub stripe_webhook_secret: Option<Secret>,
    /// Invitations one organization may send per hour (`INVITATIONS_PER_HOUR`).
    pub invitations_per_hour: u64,
}

impl Settings {
    /// Defaults for tests and embedding: SQLite in memory is *not* assumed; callers set the URL.
    pub fn for_base_url(base_url: &str) -> Self {
        let base_url = Url::parse(base_url).expect("valid base URL");
        let origin = base_url.origin().ascii_serialization();
        Self {
            database_url: Secret::new("sqlite://gatehouse.db"),
            secret: None,
            secret_file: PathBuf::from(".gatehouse-secret"),
            base_url,
            base_path: "/api/auth".into(),
            bind: "127.0.0.1:3000".parse().expect("valid address"),
            trusted_origins: Vec::new(),
            cookie_prefix: "better-auth".into(),
            session_expires_in: Duration::from_secs(7 * 86_400),
            session_update_age: Duration::from_secs(86_400),
            session_absolute_lifetime: Duration::from_secs(30 * 86_400),
            session_fresh_age: Duration::from_secs(86_400),
            require_email_verification: false,
            send_verification_on_sign_up: true,
            argon2: Argon2Params::default(),
            hash_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_body_bytes: 64 * 1024,
            db_max_connections: 16,
            session_cache: true,
            jwt_expiration: Duration::from_secs(3600),
            jwt_algorithm: SigningAlg::EdDsa,
            jwt_issuer: origin.clone(),
            jwt_audience: origin,
            jwt_on_get_session: true,
            smtp_url: None,
            email_from: "Gatehouse <no-reply@localhost>".into(),
            outbox_path: PathBuf::from("outbox.jsonl"),
            email_templates_dir: PathBuf::from("email-templates"),
            email_templates_explicit: false,
            app_name: "Gatehouse".into(),
            rate_limit_enabled: true,
            rate_limit_window: Duration::from_secs(15 * 60),
            rate_limit_max_attempts: 20,
            rate_limit_rules: Vec::new(),
            lockout_max_failed_attempts: 10,
            lockout_duration: Duration::from_secs(30 * 60),
            redis_url: None,
            trusted_proxies: TrustedProxies::default(),
            redis_key_prefix: "gatehouse:".into(),
            stripe_webhook_secret: None,
            invitations_per_hour: 20,
        }
    }

    /// Reads every setting from the process environment (after loading `.env` if present).
    pub fn from_env() -> anyhow::Result<Self> {
        let _ = dotenvy::dotenv();
        Self::from_lookup(|key| std::env::var(key).ok().filter(|v| !v.trim().is_empty()))
    }

    /// Reads settings through `get`, so tests can feed a map instead of the environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let bind: SocketAddr = parse(&get, "BIND", "127.0.0.1:3000", |v| v.parse().ok())?;
        let default_base = if bind.ip().is_unspecified() {
            format!("http://127.0.0.1:{}", bind.port())
        } else {
            format!("http://{bind}")
        };
        let base_url_raw = get("BASE_URL").or_else(|| get("BETTER_AUTH_URL")).unwrap_or(default_base);
        let base_url = Url::parse(&base_url_raw)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .with_context(|| format!("BASE_URL: {base_url_raw:?} is not an http(s) URL"))?;
        let mut settings = Self::for_base_url(base_url.as_str());
        settings.bind = bind;

        settings.database_url =
            Secret::new(get("DATABASE_URL").unwrap_or_else(|| "sqlite://gatehouse.db".into()));
        let db = settings.database_url.expose();
        if !(db.starts_with("sqlite:") || db.starts_with("postgres://") || db.starts_with("postgresql://")) {
            bail!("DATABASE_URL: must start with sqlite:, postgres:// or postgresql://");
        }
        if let Some(secret) = get("BETTER_AUTH_SECRET").or_else(|| get("AUTH_SECRET")) {
            if secret.len() < 32 {
                bail!("BETTER_AUTH_SECRET: must be at least 32 bytes long (e.g. `openssl rand -hex 32`)");
            }
            settings.secret = Some(Secret::new(secret));
        }
        if let Some(file) = get("SECRET_FILE") {
            settings.secret_file = PathBuf::from(file);
        }
        settings.base_path = parse(&get, "BASE_PATH", "/api/auth", |v| {
            let v = v.trim_end_matches('/');
            (v.starts_with('/') && !v.contains("//")).then(|| v.to_string())
        })?;
        settings.trusted_origins = match get("TRUSTED_ORIGINS") {
            None => Vec::new(),
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
        settings.cookie_prefix = parse(&get, "COOKIE_PREFIX", "better-auth", |v| {
            v.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
                .then(|| v.to_string())
        })?;
        settings.session_expires_in = parse(&get, "SESSION_EXPIRES_IN", "7d", parse_duration)?;
        settings.session_update_age = parse(&get, "SESSION_UPDATE_AGE", "1d", parse_duration)?;
        settings.session_absolute_lifetime = parse(&get, "SESSION_ABSOLUTE_LIFETIME", "30d", parse_duration)?;
        settings.session_fresh_age = parse(&get, "SESSION_FRESH_AGE", "1d", parse_duration)?;
        if settings.session_absolute_lifetime < settings.session_expires_in {
            bail!("SESSION_ABSOLUTE_LIFETIME: must not be shorter than SESSION_EXPIRES_IN");
        }
        settings.require_email_verification = parse(&get, "REQUIRE_EMAIL_VERIFICATION", "false", parse_bool)?;
        settings.send_verification_on_sign_up =
            parse(&get, "SEND_VERIFICATION_ON_SIGN_UP", "true", parse_bool)?;
        settings.argon2 = Argon2Params {
            memory_kib: parse(&get, "ARGON2_MEMORY_KIB", "19456", |v| v.parse().ok().filter(|m| *m >= 8))?,
            iterations: parse(&get, "ARGON2_ITERATIONS", "2", |v| v.parse().ok().filter(|t| *t >= 1))?,
            parallelism: parse(&get, "ARGON2_PARALLELISM", "1", |v| v.parse().ok().filter(|p| *p >= 1))?,
        };
        let cores = settings.hash_concurrency.to_string();
        settings.hash_concurrency =
            parse(&get, "HASH_CONCURRENCY", &cores, |v| v.parse().ok().filter(|n| *n >= 1))?;
        settings.max_body_bytes =
            parse(&get, "MAX_BODY_BYTES", "65536", |v| v.parse().ok().filter(|n| *n >= 1024))?;
        settings.session_cache = parse(&get, "SESSION_CACHE", "true", parse_bool)?;
        settings.jwt_expiration = parse(&get, "JWT_EXPIRATION", "1h", parse_duration)?;
        settings.jwt_algorithm = parse(&get, "JWT_ALGORITHM", "EdDSA", SigningAlg::parse)?;
        let origin = settings.base_url.origin().ascii_serialization();
        settings.jwt_issuer = get("JWT_ISSUER").unwrap_or_else(|| origin.clone());
        settings.jwt_audience = get("JWT_AUDIENCE").unwrap_or(origin);
        settings.jwt_on_get_session = parse(&get, "JWT_ON_GET_SESSION", "true", parse_bool)?;
        if let Some(url) = get("SMTP_URL") {
            if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                bail!("SMTP_URL: must start with smtp:// or smtps://");
            }
            settings.smtp_url = Some(Secret::new(url));
        }
        match get("MAIL_TRANSPORT").as_deref() {
            None | Some("smtp") if settings.smtp_url.is_none() && !settings.base_url_is_loopback() => bail!(
                "SMTP_URL is not set: a server with a public BASE_URL ({}) must send real mail. Set SMTP_URL, \
                 or MAIL_TRANSPORT=outbox to keep mail in the development outbox on purpose.",
                settings.base_url
            ),
            Some("smtp") if settings.smtp_url.is_none() => bail!("MAIL_TRANSPORT=smtp needs SMTP_URL"),
            Some("outbox") if settings.smtp_url.is_some() => {
                bail!("MAIL_TRANSPORT=outbox and SMTP_URL contradict each other: unset one")
            }
            None | Some("smtp" | "outbox") => {}
            Some(other) => bail!("MAIL_TRANSPORT: {other:?} is not smtp or outbox"),
        }
        let host = settings.base_url.host_str().unwrap_or("localhost").to_string();
        settings.email_from = get("EMAIL_FROM").unwrap_or_else(|| format!("Gatehouse <no-reply@{host}>"));
        if settings.email_from.parse::<lettre::message::Mailbox>().is_err() {
            bail!(
                "EMAIL_FROM: {:?} is not an email address (e.g. `Acme <no-reply@acme.com>`)",
                settings.email_from
            );
        }
        if let Some(p) = get("OUTBOX_PATH") {
            settings.outbox_path = PathBuf::from(p);
        }
        if let Some(p) = get("EMAIL_TEMPLATES_DIR") {
            settings.email_templates_dir = PathBuf::from(p);
            settings.email_templates_explicit = true;
        }
        if let Some(name) = get("APP_NAME") {
            settings.app_name = name;
        }
        settings.rate_limit_enabled = parse(&get, "RATE_LIMIT_ENABLED", "true", parse_bool)?;
        let minutes = |v: &str| v.parse::<u64>().ok().filter(|m| *m > 0).map(|m| Duration::from_secs(m * 60));
        settings.rate_limit_window = parse(&get, "RATE_LIMIT_WINDOW_MINUTES", "15", minutes)?;
        settings.rate_limit_max_attempts =
            parse(&get, "RATE_LIMIT_MAX_ATTEMPTS", "20", |v| v.parse().ok().filter(|n| *n > 0))?;
        settings.rate_limit_rules = parse(&get, "RATE_LIMIT_RULES", "", Rules::parse_custom)?;
        settings.lockout_max_failed_attempts =
            parse(&get, "LOCKOUT_MAX_FAILED_ATTEMPTS", "10", |v| v.parse().ok().filter(|n| *n > 0))?;
        settings.lockout_duration = parse(&get, "LOCKOUT_DURATION_MINUTES", "30", minutes)?;
        let redis_enabled = parse(&get, "REDIS_ENABLED", "true", parse_bool)?;
        if let Some(url) = get("REDIS_URL").filter(|_| redis_enabled) {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                bail!("REDIS_URL: must start with redis:// or rediss://");
            }
            settings.redis_url = Some(Secret::new(url));
        }
        settings.trusted_proxies = parse(&get, "TRUSTED_PROXIES", "", TrustedProxies::parse)?;
        if let Some(prefix) = get("REDIS_KEY_PREFIX") {
            settings.redis_key_prefix = prefix;
        }
        settings.stripe_webhook_secret = get("STRIPE_WEBHOOK_SECRET").map(Secret::new);
        settings.invitations_per_hour =
            parse(&get, "INVITATIONS_PER_HOUR", "20", |v| v.parse().ok().filter(|n| *n > 0))?;
        settings.db_max_connections =
            parse(&get, "DB_MAX_CONNECTIONS", "16", |v| v.parse().ok().filter(|n| *n >= 1))?;
        Ok(settings)
    }

    /// The JWT service's settings.
    pub fn jwt(&self) -> crate::jwt::JwtSettings {
        crate::jwt::JwtSettings {
            algorithm: self.jwt_algorithm,
            lifetime: self.jwt_expiration,
            issuer: self.jwt_issuer.clone(),
            audience: self.jwt_audience.clone(),
        }
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

    /// Uses the configured secret or, for a loopback base URL only, one generated once and kept
    /// in `secret_file`. Anything else without a secret refuses to start.
    pub fn resolve_secret(&mut self) -> anyhow::Result<()> {
        if self.secret.is_some() {
            return Ok(());
        }
        if !self.base_url_is_loopback() {
            bail!(
                "BETTER_AUTH_SECRET is not set: it is required when BASE_URL ({}) is not a loopback address. \
                 Generate one with `openssl rand -hex 32`.",
                self.base_url
            );
        }
        let secret = match std::fs::read_to_string(&self.secret_file) {
            Ok(s) if s.trim().len() >= 32 => s.trim().to_string(),
            _ => {
                let fresh = crate::security::tokens::random_hex(32);
                write_private_file(&self.secret_file, &fresh).with_context(|| {
                    format!("writing the development secret to {}", self.secret_file.display())
                })?;
                fresh
            }
        };
        tracing::warn!(
            file = %self.secret_file.display(),
            "BETTER_AUTH_SECRET is not set: using a development secret kept in a local file; set BETTER_AUTH_SECRET in production"
        );
        self.secret = Some(Secret::new(secret));
        Ok(())
    }
}

fn write_private_file(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

fn parse<T>(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    default: &str,
    f: impl Fn(&str) -> Option<T>,
) -> anyhow::Result<T> {
    let raw = get(key).unwrap_or_else(|| default.to_string());
    f(raw.trim()).with_context(|| format!("{key}: invalid value {raw:?}"))
}

pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// `30s`, `15m`, `24h`, `7d`, `1w`, or a bare number of seconds.
pub fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(mult).filter(|s| *s > 0).map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

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
        assert_eq!(s.argon2, Argon2Params::default());
        assert!(s.base_url_is_loopback());
        assert!(s.session_cache);
        assert_eq!(s.jwt_issuer, "http://127.0.0.1:3000");
        assert_eq!(s.jwt_expiration, Duration::from_secs(3600));
        assert_eq!(s.jwt_algorithm, SigningAlg::EdDsa);
        assert!(!load(&[("SESSION_CACHE", "false")]).unwrap().session_cache);
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
            ("MAIL_TRANSPORT", "pigeon"),
        ] {
            let err = load(&[(key, value)]).unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
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
        assert!(load(&[public, ("MAIL_TRANSPORT", "outbox")]).unwrap().smtp_url.is_none());
        assert!(load(&[("MAIL_TRANSPORT", "smtp")]).is_err());
        assert!(load(&[]).is_ok(), "loopback development needs nothing");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("3600"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0"), None);
        assert_eq!(parse_duration("1y"), None);
    }
}
