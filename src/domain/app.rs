//! Apps: several applications on one server, each with its own users, keys, origins and
//! settings; and the [`Scope`] a request belongs to (an app, or the default space that behaves
//! as a server without apps).

use std::{borrow::Cow, sync::Arc};

use serde::{Deserialize, Serialize};

use super::{
    input::{CharClass, PasswordPolicy},
    model::User,
};

/// An app as stored (`allowedOrigins` and `settings` are JSON text in the row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct App {
    pub id: String,
    pub name: String,
    pub slug: String,
    /// Browser origins (`scheme://host[:port]`) whose requests belong to this app.
    pub allowed_origins: Vec<String>,
    pub settings: AppSettings,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What an app may set for itself; `None` keeps the server's setting. Token lifetimes may only
/// shorten the server's (a longer one is cut to it), so a retired signing key is always
/// published for as long as the tokens it signed live.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AppSettings {
    pub require_email_verification: Option<bool>,
    pub password_min_length: Option<usize>,
    pub password_max_length: Option<usize>,
    pub password_require: Option<Vec<String>>,
    /// `aud` of the app's JWTs (default: the app's id).
    pub jwt_audience: Option<String>,
    /// Seconds.
    pub jwt_expiration: Option<u64>,
    /// Seconds.
    pub access_token_expiration: Option<u64>,
    /// Seconds.
    pub refresh_token_idle: Option<u64>,
    /// The app's own webhook endpoints (its events go there, not to the server's).
    pub webhook_urls: Option<Vec<String>>,
    /// Signs deliveries to the app's own endpoints (required with them).
    pub webhook_secret: Option<Concealed>,
}

/// A secret in an app's settings: stored as a plain string, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Concealed(pub String);

impl std::fmt::Debug for Concealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl AppSettings {
    /// As shown to operators: the webhook secret masked.
    pub fn shown(&self) -> Self {
        Self { webhook_secret: self.webhook_secret.as_ref().map(|_| Concealed("***".into())), ..self.clone() }
    }
}

/// The names `apps set` takes (the server's setting of the same name is the default).
pub const SETTING_NAMES: &[&str] = &[
    "REQUIRE_EMAIL_VERIFICATION",
    "PASSWORD_MIN_LENGTH",
    "PASSWORD_MAX_LENGTH",
    "PASSWORD_REQUIRE",
    "JWT_AUDIENCE",
    "JWT_EXPIRATION",
    "ACCESS_TOKEN_EXPIRATION",
    "REFRESH_TOKEN_IDLE",
    "WEBHOOK_URLS",
    "WEBHOOK_SECRET",
    "ORIGINS",
    "NAME",
];

impl App {
    /// Applies `NAME=VALUE` (see [`SETTING_NAMES`]; an empty value goes back to the server's
    /// setting), in the server's own syntax for durations (`15m`, `3600`) and yes/no values.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        use crate::config::env::{parse_bool, parse_duration};
        let value = value.trim();
        let s = &mut self.settings;
        let unset = value.is_empty();
        let bad = || format!("{name}: invalid value {value:?}");
        let duration = |v: &str| parse_duration(v).map(|d| d.as_secs()).filter(|s| *s > 0).ok_or_else(bad);
        match name.to_ascii_uppercase().as_str() {
            "NAME" if !unset => self.name = value.to_string(),
            "ORIGINS" => {
                self.allowed_origins = if unset {
                    Vec::new()
                } else {
                    value.split(',').map(normalize_origin).collect::<Option<Vec<_>>>().ok_or_else(bad)?
                }
            }
            "REQUIRE_EMAIL_VERIFICATION" if unset => s.require_email_verification = None,
            "REQUIRE_EMAIL_VERIFICATION" => {
                s.require_email_verification = Some(parse_bool(value).ok_or_else(bad)?)
            }
            "PASSWORD_MIN_LENGTH" if unset => s.password_min_length = None,
            "PASSWORD_MIN_LENGTH" => {
                s.password_min_length = Some(value.parse().ok().filter(|n| *n >= 1).ok_or_else(bad)?)
            }
            "PASSWORD_MAX_LENGTH" if unset => s.password_max_length = None,
            "PASSWORD_MAX_LENGTH" => {
                s.password_max_length = Some(value.parse().ok().filter(|n| *n >= 1).ok_or_else(bad)?)
            }
            "PASSWORD_REQUIRE" if unset => s.password_require = None,
            "PASSWORD_REQUIRE" => {
                let classes: Option<Vec<_>> = value.split(',').map(CharClass::parse).collect();
                classes.ok_or_else(bad)?;
                s.password_require = Some(value.split(',').map(|c| c.trim().to_ascii_lowercase()).collect());
            }
            "JWT_AUDIENCE" if unset => s.jwt_audience = None,
            "JWT_AUDIENCE" => s.jwt_audience = Some(value.to_string()),
            "JWT_EXPIRATION" if unset => s.jwt_expiration = None,
            "JWT_EXPIRATION" => s.jwt_expiration = Some(duration(value)?),
            "ACCESS_TOKEN_EXPIRATION" if unset => s.access_token_expiration = None,
            "ACCESS_TOKEN_EXPIRATION" => s.access_token_expiration = Some(duration(value)?),
            "REFRESH_TOKEN_IDLE" if unset => s.refresh_token_idle = None,
            "REFRESH_TOKEN_IDLE" => s.refresh_token_idle = Some(duration(value)?),
            "WEBHOOK_URLS" if unset => s.webhook_urls = None,
            "WEBHOOK_URLS" => {
                let urls = crate::config::webhooks::parse_urls(value).map_err(|e| format!("{name}: {e}"))?;
                s.webhook_urls = Some(urls).filter(|u| !u.is_empty());
            }
            "WEBHOOK_SECRET" if unset => s.webhook_secret = None,
            "WEBHOOK_SECRET" => {
                crate::config::webhooks::check_secret(value).map_err(|e| format!("{name}: {e}"))?;
                s.webhook_secret = Some(Concealed(value.to_string()));
            }
            _ => return Err(format!("{name}: not an app setting (one of {})", SETTING_NAMES.join(", "))),
        }
        Ok(())
    }

    /// The app's password policy over the server's.
    pub fn password_policy(&self, server: &PasswordPolicy) -> PasswordPolicy {
        let s = &self.settings;
        PasswordPolicy {
            min: s.password_min_length.unwrap_or(server.min),
            max: s.password_max_length.unwrap_or(server.max),
            require: match &s.password_require {
                Some(words) => words.iter().filter_map(|w| CharClass::parse(w)).collect(),
                None => server.require.clone(),
            },
        }
    }

    /// The `aud` of this app's JWTs.
    pub fn jwt_audience(&self) -> &str {
        self.settings.jwt_audience.as_deref().unwrap_or(&self.id)
    }
}

/// `scheme://host[:port]`, lowercased, of a URL or origin; `None` if it is neither.
pub fn normalize_origin(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    Some(url.origin().ascii_serialization())
}

/// `key` made distinct for the app `app_id` (see [`Scope::qualify`]).
pub fn qualify<'a>(app_id: Option<&str>, key: &'a str) -> Cow<'a, str> {
    match app_id {
        None => Cow::Borrowed(key),
        Some(id) => Cow::Owned(format!("app {id} {key}")),
    }
}

/// The app key (`""` for the default space) and the key of a [`qualify`]d key.
pub fn unqualify(key: &str) -> (&str, &str) {
    key.strip_prefix("app ").and_then(|rest| rest.split_once(' ')).unwrap_or(("", key))
}

impl User {
    /// The key the store scopes this user's rows by (see [`Scope::key`]).
    pub fn app_key(&self) -> &str {
        self.app_id.as_deref().unwrap_or("")
    }

    /// What the lockout counts this user's failures under: their address, within their app.
    pub fn lockout_key(&self) -> Cow<'_, str> {
        qualify(self.app_id.as_deref(), &self.email)
    }
}

/// Which app a request belongs to: `None` is the default space (users with no app).
#[derive(Debug, Clone, Default)]
pub struct Scope(pub Option<Arc<App>>);

impl Scope {
    pub fn app(&self) -> Option<&App> {
        self.0.as_deref()
    }

    pub fn app_id(&self) -> Option<&str> {
        self.app().map(|a| a.id.as_str())
    }

    /// The key the store scopes rows by: the app's id, `""` for the default space.
    pub fn key(&self) -> &str {
        self.app_id().unwrap_or("")
    }

    /// Whether `user` lives in this scope.
    pub fn admits(&self, user: &User) -> bool {
        user.app_id.as_deref() == self.app_id()
    }

    /// A counter or lookup key (an email, a rate-limit key) made distinct per app: unchanged in
    /// the default space, so its keys stay as they were before apps existed. (No address
    /// contains a space.)
    pub fn qualify<'a>(&self, key: &'a str) -> Cow<'a, str> {
        qualify(self.app_id(), key)
    }

    /// Whether this scope's app lists the origin of `url`.
    pub fn lists_origin_of(&self, url: &str) -> bool {
        self.app().is_some_and(|app| normalize_origin(url).is_some_and(|o| app.allowed_origins.contains(&o)))
    }

    /// Whether users of this scope must verify their address before signing in.
    pub fn require_email_verification(&self, server: bool) -> bool {
        self.app().and_then(|a| a.settings.require_email_verification).unwrap_or(server)
    }

    /// The password policy of this scope.
    pub fn password_policy<'a>(&self, server: &'a PasswordPolicy) -> Cow<'a, PasswordPolicy> {
        match self.app() {
            None => Cow::Borrowed(server),
            Some(app) => Cow::Owned(app.password_policy(server)),
        }
    }

    /// Refresh tokens' idle lifetime (ms) in this scope, cut to the server's.
    pub fn refresh_idle_ms(&self, server_ms: i64) -> i64 {
        match self.app().and_then(|a| a.settings.refresh_token_idle) {
            Some(secs) => (secs as i64).saturating_mul(1000).min(server_ms),
            None => server_ms,
        }
    }
}
