//! Everything a handler needs, built once at start-up and shared.

use std::sync::Arc;

use tower_cookies::Key;

use crate::{
    config::{Secret, Settings},
    domain::app::{Scope, normalize_origin},
    domain::time::{Clock, duration_ms},
    jwt::JwtService,
    mail::{Mailer, Templates},
    oauth::Providers,
    security::{
        counters::Counters,
        keys,
        lockout::Lockout,
        origin::TrustedOrigins,
        password::PasswordHasher,
        ratelimit::{Rule, Rules},
        sealing::{FactorSealer, TokenSealer},
        tokens::HmacKeys,
    },
    service::apps::AppRegistry,
    store::Store,
};

#[derive(Clone)]
pub struct AppState(Arc<Services>);

pub struct Services {
    pub settings: Settings,
    pub store: Arc<dyn Store>,
    pub hasher: PasswordHasher,
    pub clock: Clock,
    /// Signs cookies (the current secret's); the older secrets' keys still verify.
    pub cookie_key: Key,
    pub previous_cookie_keys: Vec<Key>,
    pub origins: TrustedOrigins,
    pub session_cookie: String,
    pub jwt: JwtService,
    pub mailer: Mailer,
    /// Key the HMAC that stores verification tokens, codes and refresh tokens; tokens stored
    /// under an older secret's key are still found.
    pub token_keys: HmacKeys,
    /// Key the HMAC that turns a refresh token into the one it is rotated into.
    pub refresh_keys: HmacKeys,
    pub counters: Arc<Counters>,
    pub rules: Rules,
    pub lockout: Lockout,
    /// Sign-in with other providers.
    pub providers: Providers,
    /// Seals provider tokens at rest.
    pub token_sealer: TokenSealer,
    /// Seals two-factor secrets and backup codes at rest.
    pub factor_sealer: FactorSealer,
    /// The apps and their keys, as last loaded.
    pub apps: AppRegistry,
    /// What `/metrics` reports.
    pub metrics: crate::metrics::Metrics,
}

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

impl AppState {
    /// Builds the state; `settings.secret` must be resolved first.
    pub fn new(settings: Settings, store: Arc<dyn Store>, clock: Clock) -> anyhow::Result<Self> {
        let secret =
            settings.secret.as_ref().ok_or_else(|| anyhow::anyhow!("BETTER_AUTH_SECRET: not resolved"))?;
        let cookie_key = keys::cookie_key(secret.expose());
        let secrets = settings.secrets();
        let older = &secrets[1..];
        let previous_cookie_keys = older.iter().map(|s| keys::cookie_key(s)).collect();
        let hasher = PasswordHasher::new(settings.passwords.argon2, settings.passwords.hash_concurrency)?;
        let origins = TrustedOrigins::new(&settings.base_url, &settings.trusted_origins);
        let session_cookie = settings.session_cookie_name();
        let jwt =
            JwtService::new(settings.jwt.clone(), &secrets).reusing(settings.database.jwt_reuse_bytes());
        let templates =
            Templates::load_or_builtin(&settings.mail.templates_dir, settings.mail.templates_explicit)?;
        let mailer = Mailer::new(
            templates,
            settings.mail.smtp_url.as_ref().map(Secret::expose),
            &settings.mail.from,
            &settings.mail.outbox_path,
            settings.base_url_is_loopback(),
        )?;
        let token_keys = HmacKeys::new(&secrets, b"gatehouse/verification-token/v1");
        let refresh_keys = HmacKeys::new(&secrets, b"gatehouse/refresh-token-child/v1");
        let counters = match &settings.limits.redis_url {
            Some(url) => Counters::redis(url.expose(), &settings.limits.redis_key_prefix)?,
            None => Arc::new(Counters::memory()),
        };
        let login =
            Rule { max: settings.limits.max_attempts, window_ms: duration_ms(settings.limits.window) };
        let mut rules = Rules::new(login);
        rules.custom = settings.limits.rules.clone();
        let lockout = Lockout {
            max_failures: settings.limits.lockout_max_failed_attempts,
            duration_ms: duration_ms(settings.limits.lockout_duration),
            gates: Default::default(),
        };
        let providers = Providers::new(settings.social.providers.clone())?;
        let token_sealer = TokenSealer::new(&secrets);
        let factor_sealer = FactorSealer::new(&secrets);
        let metrics = crate::metrics::Metrics::new(hasher.waits());
        Ok(Self(Arc::new(Services {
            settings,
            store,
            hasher,
            clock,
            cookie_key,
            previous_cookie_keys,
            origins,
            session_cookie,
            jwt,
            mailer,
            token_keys,
            refresh_keys,
            counters,
            rules,
            lockout,
            providers,
            token_sealer,
            factor_sealer,
            apps: AppRegistry::default(),
            metrics,
        })))
    }

    /// The value inside the signed cookie value `signed` of cookie `name`, and whether it must be
    /// signed again with the current key (an older secret, or Better Auth, signed it).
    pub fn verify_signed(&self, name: &str, signed: &str) -> Option<(String, bool)> {
        std::iter::once(&self.cookie_key)
            .chain(&self.previous_cookie_keys)
            .enumerate()
            .find_map(|(i, key)| keys::verify_cookie_value(key, name, signed).map(|v| (v, i > 0)))
            .or_else(|| {
                // A session cookie Better Auth signed (a session imported with `--with-sessions`):
                // accepted under the same secrets, and signed here from then on.
                (name == self.session_cookie)
                    .then(|| {
                        self.settings
                            .secrets()
                            .into_iter()
                            .find_map(|s| keys::verify_better_auth_value(s, signed))
                    })
                    .flatten()
                    .map(|token| (keys::imported_session_token(&token), true))
            })
    }

    /// What a metrics scrape reads from the store, the hasher and the counters now.
    pub async fn readings(&self) -> crate::metrics::Readings {
        let now = self.clock.now_ms();
        let newest_key = match self.store.jwks_valid_after(now).await {
            Ok(keys) => keys.iter().map(|k| k.created_at).max(),
            Err(_) => None,
        };
        crate::metrics::Readings {
            pool: self.store.pool_usage(),
            cache: self.store.cache_counts(),
            hash_queue: self.hasher.queued(),
            counters: self.counters.mode(),
            signing_key_age: newest_key.map(|at| (now - at) / 1000),
            webhooks: self.store.webhook_counts().await.unwrap_or_default(),
        }
    }

    /// Whether a request of `scope` from `value` (an origin or URL) is trusted: an origin the
    /// request's own app lists, or `TRUSTED_ORIGINS` (and the base URL) unless another app lists
    /// it (a wildcard there must not reach into another app's origins).
    pub fn trusts_origin(&self, value: &str, scope: &Scope) -> bool {
        scope.lists_origin_of(value)
            || (self.origins.is_trusted(value) && !self.another_app_lists(value, scope))
    }

    /// Whether a page on `origin` may read answers to requests of `scope` with credentials (CORS):
    /// an origin the scope's app lists, or one `TRUSTED_ORIGINS` (or the base URL) names exactly
    /// and no other app lists; never through a `*.` pattern, and never a cleartext origin for an
    /// `https` server (a page anyone on the network can change would read sessions).
    pub fn cors_allows(&self, origin: &str, scope: &Scope) -> bool {
        if self.settings.secure_cookies() && !origin.starts_with("https://") {
            return false;
        }
        scope.lists_origin_of(origin)
            || (self.origins.is_listed(origin) && !self.another_app_lists(origin, scope))
    }

    /// Whether a callback URL of a request of `scope` may be redirected to: a safe relative path,
    /// or a URL on an origin [`Self::trusts_origin`] trusts.
    pub fn safe_callback(&self, value: &str, scope: &Scope) -> bool {
        if value.chars().any(|c| c.is_control() || c == '\\') {
            return false;
        }
        if value.starts_with('/') {
            return self.origins.is_safe_callback(value);
        }
        self.trusts_origin(value, scope)
    }

    fn another_app_lists(&self, value: &str, scope: &Scope) -> bool {
        normalize_origin(value).is_some_and(|o| self.apps.lists_origin_except(&o, scope.app_id()))
    }

    /// The scope `user` lives in. A user whose app is gone has none (401 `UNAUTHORIZED`).
    pub async fn scope_of(&self, user: &crate::domain::model::User) -> crate::error::ApiResult<Scope> {
        let Some(id) = user.app_id.as_deref() else { return Ok(Scope::default()) };
        match self.apps.app(self.store.as_ref(), id, self.clock.now_ms()).await? {
            Some(app) => Ok(Scope(Some(app))),
            None => Err(crate::error::ApiError::Unauthorized),
        }
    }

    /// Name of the cookie that marks a `rememberMe: false` session (never refreshed).
    pub fn dont_remember_cookie(&self) -> String {
        self.session_cookie.replace(".session_token", ".dont_remember")
    }

    /// Name of the short-lived cookie that lets Gatehouse's own `/` page say "email verified"
    /// after a verification link redirected there.
    pub fn email_verified_cookie(&self) -> String {
        self.session_cookie.replace(".session_token", ".email_verified")
    }

    /// Name of the signed cookie that binds a sign-in with another provider to this browser.
    pub fn oauth_state_cookie(&self) -> String {
        self.session_cookie.replace(".session_token", ".state")
    }

    /// Name of the signed cookie that holds a sign-in waiting for its second factor.
    pub fn two_factor_cookie(&self) -> String {
        self.session_cookie.replace(".session_token", ".two_factor")
    }

    /// Name of the signed cookie that names a passkey ceremony under way (Better Auth's name).
    pub fn passkey_cookie(&self) -> String {
        self.session_cookie.replace(".session_token", ".better-auth-passkey")
    }

    /// Name of the signed cookie that marks a browser the user trusts (no second factor asked).
    pub fn trust_device_cookie(&self) -> String {
        self.session_cookie.replace(".session_token", ".trust_device")
    }

    /// Name of the signed cookie that holds an admin's session while they impersonate a user.
    pub fn admin_session_cookie(&self) -> String {
        self.session_cookie.replace(".session_token", ".admin_session")
    }

    /// Name of the optional cookie cache (cleared on sign-out).
    pub fn session_data_cookie(&self) -> String {
        self.session_cookie.replace(".session_token", ".session_data")
    }
}
