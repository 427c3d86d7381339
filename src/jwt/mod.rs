//! JWTs for services: minting from a session, the published key set, verification, rotation.
//!
//! Keys live in the `jwks` table (private halves encrypted). The database decides which key is
//! current (a unique index admits one), so instances racing on first use end up with the same
//! key; each instance re-reads the current key every minute, so a rotation made elsewhere (the
//! CLI, another instance) is picked up without a restart.

pub mod keys;
mod reuse;
mod signer;

use std::sync::{Arc, RwLock};

use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation, jwk::Jwk};
use serde::{Deserialize, Serialize};

use crate::{
    domain::{
        model::{SessionRow, User},
        time::duration_ms,
    },
    error::{ApiError, ApiResult},
    security::tokens::random_id,
    store::{JwkRow, Store, StoreError},
};
use keys::{KeyVault, SigningAlg};
use reuse::{REUSE_DEFAULT_BYTES, Recent, RecentCache, recent_cache};

/// How long an instance trusts its idea of the current key before asking the database again.
const RECHECK_MS: i64 = 60_000;
/// `get-session` hands out the same JWT for this long (at most a tenth of the lifetime) while
/// nothing in it but the times would change; `/token` always mints afresh.
const REUSE_MS: i64 = 60_000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub sub: String,
    pub email: String,
    pub name: String,
    #[serde(rename = "emailVerified")]
    pub email_verified: bool,
    pub sid: String,
    pub org: Option<String>,
    pub plan: Option<String>,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    /// Only on access tokens (`/token/pair`, `/token/refresh`): each one's own id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The app whose user the token speaks for (absent for the default space).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// RFC 8693's actor: the admin acting as `sub` (a token minted from an impersonation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
}

/// The `act` claim (RFC 8693 §4.1).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Actor {
    pub sub: String,
}

/// Whom tokens are minted for, or checked as: the default space (all `None`: the server's
/// `JWT_AUDIENCE` and lifetimes, no `app` claim) or an app.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Audience<'a> {
    /// The `app` claim.
    pub app: Option<&'a str>,
    /// `aud`, instead of the server's.
    pub aud: Option<&'a str>,
    /// Lifetimes (ms), cut to the server's (a retired key is published only that long).
    pub lifetime_ms: Option<i64>,
    pub access_lifetime_ms: Option<i64>,
}

/// What a JWT is minted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Minted {
    /// `GET /token`: `JWT_EXPIRATION`.
    Service,
    /// An API client's access token: `ACCESS_TOKEN_EXPIRATION`, with a `jti`.
    Access,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Invalid,
    Expired,
}

impl Claims {
    /// A digest of everything but the times: two claims with the same digest differ at most in
    /// `iat`, `nbf`, `exp` and `jti`. Each field is length-prefixed, so none can run into the next.
    fn content_digest(&self) -> [u8; 16] {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        let mut field = |v: Option<&str>| match v {
            Some(v) => {
                h.update((v.len() as u64 + 1).to_le_bytes());
                h.update(v.as_bytes());
            }
            None => h.update(0u64.to_le_bytes()),
        };
        for v in [&self.sub, &self.email, &self.name, &self.sid, &self.iss, &self.aud] {
            field(Some(v));
        }
        for v in [&self.org, &self.plan, &self.app] {
            field(v.as_deref());
        }
        field(self.act.as_ref().map(|a| a.sub.as_str()));
        field(Some(if self.email_verified { "1" } else { "0" }));
        let digest = h.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        out
    }
}

struct CurrentKey {
    kid: String,
    alg: SigningAlg,
    key: EncodingKey,
    checked_at: i64,
}

pub struct JwtService {
    alg: SigningAlg,
    lifetime_ms: i64,
    access_lifetime_ms: i64,
    issuer: String,
    audience: String,
    vault: KeyVault,
    current: RwLock<Option<Arc<CurrentKey>>>,
    refresh: tokio::sync::Mutex<()>,
    /// The JWTs get-session handed out lately, by session id (bounded by weight).
    recent: RecentCache,
}

/// What the JWT service needs to know (from `JWT_*` settings).
#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub algorithm: SigningAlg,
    pub lifetime: std::time::Duration,
    /// Access tokens' lifetime (`ACCESS_TOKEN_EXPIRATION`).
    pub access_lifetime: std::time::Duration,
    pub issuer: String,
    pub audience: String,
    /// Whether get-session answers carry a JWT (`set-auth-jwt`); read by that route.
    pub on_get_session: bool,
}

impl JwtService {
    pub fn new(settings: JwtSettings, secrets: &[&str]) -> Self {
        signer::install();
        Self {
            alg: settings.algorithm,
            lifetime_ms: duration_ms(settings.lifetime),
            access_lifetime_ms: duration_ms(settings.access_lifetime),
            issuer: settings.issuer,
            audience: settings.audience,
            vault: KeyVault::new(secrets),
            current: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
            recent: recent_cache(REUSE_DEFAULT_BYTES),
        }
    }

    /// Keeps at most `max_bytes` of JWTs for get-session to hand out again.
    pub fn reusing(mut self, max_bytes: u64) -> Self {
        self.recent = recent_cache(max_bytes.max(64 << 10));
        self
    }

    pub fn lifetime_ms(&self) -> i64 {
        self.lifetime_ms
    }

    /// How long a retired key stays published: instances may sign with it for up to
    /// `RECHECK_MS` after a rotation, and those tokens live `JWT_EXPIRATION` (access tokens
    /// `ACCESS_TOKEN_EXPIRATION`).
    fn retire_after_ms(&self) -> i64 {
        self.lifetime_ms.max(self.access_lifetime_ms) + RECHECK_MS
    }

    /// Access tokens' lifetime (ms) for `audience`.
    pub fn access_lifetime_ms(&self, audience: Audience<'_>) -> i64 {
        audience.access_lifetime_ms.map_or(self.access_lifetime_ms, |ms| ms.min(self.access_lifetime_ms))
    }

    /// A signed JWT for this session, valid from `now`: for `JWT_EXPIRATION` (`/token`), or an
    /// API client's access token with its own id (`jti`) for `ACCESS_TOKEN_EXPIRATION`.
    pub async fn mint(
        &self,
        store: &dyn Store,
        (session, user): (&SessionRow, &User),
        plan: Option<String>,
        (kind, audience): (Minted, Audience<'_>),
        now_ms: i64,
    ) -> ApiResult<String> {
        let key = self.current_key(store, now_ms).await?;
        let mut claims = self.claims(session, user, plan, audience, now_ms);
        if kind == Minted::Access {
            claims.exp = claims.iat + self.access_lifetime_ms(audience) / 1000;
            claims.jti = Some(random_id());
        }
        self.sign(&key, &claims)
    }

    /// The JWT `get-session` hands out: the one it gave this session less than a minute ago if
    /// its content would not change, else a new one. Signing is the costly part of the hot path.
    pub async fn session_jwt(
        &self,
        store: &dyn Store,
        session: &SessionRow,
        user: &User,
        plan: Option<String>,
        audience: Audience<'_>,
        now_ms: i64,
    ) -> ApiResult<String> {
        let key = self.current_key(store, now_ms).await?;
        let claims = self.claims(session, user, plan, audience, now_ms);
        let reuse_ms = REUSE_MS.min((claims.exp - claims.iat) * 100);
        let content = claims.content_digest();
        if let Some(r) = self.recent.get(&session.id)
            && r.kid == key.kid
            && now_ms - r.minted_at < reuse_ms
            && r.content == content
        {
            return Ok(r.token.clone());
        }
        let token = self.sign(&key, &claims)?;
        let entry = Recent { kid: key.kid.clone(), content, token: token.clone(), minted_at: now_ms };
        self.recent.insert(session.id.clone(), Arc::new(entry));
        Ok(token)
    }

    fn sign(&self, key: &CurrentKey, claims: &Claims) -> ApiResult<String> {
        let mut header = Header::new(key.alg.jwt_algorithm());
        header.kid = Some(key.kid.clone());
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(&header, claims, &key.key).map_err(ApiError::internal)
    }

    fn claims(
        &self,
        session: &SessionRow,
        user: &User,
        plan: Option<String>,
        audience: Audience<'_>,
        now_ms: i64,
    ) -> Claims {
        let iat = now_ms / 1000;
        let lifetime_ms = audience.lifetime_ms.map_or(self.lifetime_ms, |ms| ms.min(self.lifetime_ms));
        Claims {
            sub: user.id.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
            email_verified: user.email_verified,
            sid: session.id.clone(),
            org: session.active_organization_id.clone(),
            plan,
            iat,
            nbf: iat,
            exp: iat + lifetime_ms / 1000,
            iss: self.issuer.clone(),
            aud: audience.aud.unwrap_or(&self.audience).to_string(),
            jti: None,
            app: audience.app.map(str::to_string),
            act: session.impersonated_by.clone().map(|sub| Actor { sub }),
        }
    }

    /// The public keys verifiers may meet: the current one and retired ones whose tokens may
    /// still be valid.
    pub async fn published(&self, store: &dyn Store, now_ms: i64) -> ApiResult<Vec<Jwk>> {
        self.current_key(store, now_ms).await?;
        let rows = store.jwks_valid_after(now_ms).await?;
        rows.iter().map(|r| serde_json::from_str(&r.public_key).map_err(ApiError::internal)).collect()
    }

    /// Checks a token's signature (against our published keys only, with the key's own
    /// algorithm), issuer, audience and app (`audience`'s), `nbf` and `exp`.
    pub async fn verify(
        &self,
        store: &dyn Store,
        token: &str,
        audience: Audience<'_>,
        now_ms: i64,
    ) -> Result<Claims, Refusal> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| Refusal::Invalid)?;
        let kid = header.kid.ok_or(Refusal::Invalid)?;
        let keys = store.jwks_valid_after(now_ms).await.map_err(|_| Refusal::Invalid)?;
        let row = keys.iter().find(|r| r.id == kid).ok_or(Refusal::Invalid)?;
        let alg = SigningAlg::parse(&row.alg).ok_or(Refusal::Invalid)?;
        if header.alg != alg.jwt_algorithm() {
            return Err(Refusal::Invalid);
        }
        let jwk: Jwk = serde_json::from_str(&row.public_key).map_err(|_| Refusal::Invalid)?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| Refusal::Invalid)?;
        let mut validation = Validation::new(alg.jwt_algorithm());
        validation.algorithms = vec![alg.jwt_algorithm()];
        // Time is checked below against the server's clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims = ["exp", "nbf", "iat", "iss", "aud", "sub"].map(String::from).into();
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[audience.aud.unwrap_or(&self.audience)]);
        let claims =
            jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|_| Refusal::Invalid)?.claims;
        if claims.app.as_deref() != audience.app {
            return Err(Refusal::Invalid);
        }
        let now = now_ms / 1000;
        if claims.nbf > now {
            return Err(Refusal::Invalid);
        }
        if claims.exp <= now {
            return Err(Refusal::Expired);
        }
        Ok(claims)
    }

    /// Makes a new signing key current; the old one stays published until its tokens expire.
    pub async fn rotate(&self, store: &dyn Store, now_ms: i64) -> anyhow::Result<String> {
        let row = self.new_key_row(now_ms)?;
        self.make_current(store, &row, now_ms).await?;
        Ok(row.id)
    }

    /// Stores `row` (from [`Self::new_key_row`]) as the current signing key.
    pub async fn make_current(&self, store: &dyn Store, row: &JwkRow, now_ms: i64) -> anyhow::Result<()> {
        store.rotate_jwk(row, now_ms + self.retire_after_ms()).await?;
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        Ok(())
    }

    /// A new signing key, its private half sealed (not stored yet).
    pub fn new_key_row(&self, now_ms: i64) -> anyhow::Result<JwkRow> {
        let kid = random_id();
        let der = self.alg.generate()?;
        let public = serde_json::to_string(&self.alg.public_jwk(&der, &kid)?)?;
        let private = self.vault.seal(&kid, &der)?;
        Ok(JwkRow {
            id: kid,
            public_key: public,
            private_key: private,
            alg: self.alg.name().to_string(),
            created_at: now_ms,
            expires_at: None,
        })
    }

    /// The current signing key: cached for a minute, created on first use (the database
    /// decides between racing instances), rotated when `JWT_ALGORITHM` changed.
    async fn current_key(&self, store: &dyn Store, now_ms: i64) -> ApiResult<Arc<CurrentKey>> {
        let fresh = |k: &Arc<CurrentKey>| now_ms - k.checked_at < RECHECK_MS;
        if let Some(k) = self.cached().filter(fresh) {
            return Ok(k);
        }
        let _guard = self.refresh.lock().await;
        if let Some(k) = self.cached().filter(fresh) {
            return Ok(k);
        }
        let row = match store.current_jwk().await? {
            Some(row) if SigningAlg::parse(&row.alg) == Some(self.alg) => row,
            existing => {
                let row = self.new_key_row(now_ms).map_err(ApiError::internal)?;
                let created = match existing {
                    None => store.insert_jwk(&row).await,
                    Some(_) => store.rotate_jwk(&row, now_ms + self.retire_after_ms()).await,
                };
                match created {
                    Ok(()) => row,
                    // Another instance won the race: use its key.
                    Err(StoreError::Conflict) => {
                        store.current_jwk().await?.ok_or_else(|| ApiError::internal("no current key"))?
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let alg = SigningAlg::parse(&row.alg).ok_or_else(|| ApiError::internal("unknown key algorithm"))?;
        let der = self.vault.open(&row.id, &row.private_key).map_err(ApiError::internal)?;
        let key = Arc::new(CurrentKey { kid: row.id, alg, key: alg.encoding_key(&der), checked_at: now_ms });
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(key.clone());
        Ok(key)
    }

    fn cached(&self) -> Option<Arc<CurrentKey>> {
        self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}
