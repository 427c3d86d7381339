//! OpenID Connect: discovery (`/.well-known/openid-configuration`), the provider's keys, and
//! ID token validation with `jsonwebtoken` (signature by the key the token names, issuer,
//! audience, `azp` when there are several audiences, expiry, and the nonce the sign-in sent).

use std::sync::Mutex;

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde::Deserialize;

use super::{OAuthError, http::Http};
use crate::security::tokens::constant_time_eq;

/// Discovered endpoints are used for an hour before being fetched again.
const DISCOVERY_TTL_MS: i64 = 3_600_000;
/// Keys are fetched again at most once a minute when a token names an unknown one (rotation).
const JWKS_REFRESH_MS: i64 = 60_000;

#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

/// What is cached per provider.
#[derive(Default)]
pub struct Cache {
    discovery: Mutex<Option<(Discovery, i64)>>,
    jwks: Mutex<Option<(JwkSet, i64)>>,
}

/// The claims of an ID token Gatehouse reads.
#[derive(Debug, Clone, Deserialize)]
pub struct IdClaims {
    pub sub: String,
    pub email: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    pub picture: Option<String>,
    pub nonce: Option<String>,
    pub azp: Option<String>,
    #[serde(default)]
    aud: Audience,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(untagged)]
enum Audience {
    #[default]
    None,
    One(serde::de::IgnoredAny),
    Many(Vec<String>),
}

/// `true`, or the string `"true"` some providers send.
fn lenient_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        Bool(bool),
        Text(String),
    }
    Ok(match Option::<B>::deserialize(d)? {
        Some(B::Bool(b)) => Some(b),
        Some(B::Text(t)) => Some(t.eq_ignore_ascii_case("true")),
        None => None,
    })
}

impl Cache {
    /// The provider's endpoints, from `issuer`'s discovery document (cached an hour). The
    /// document must name the same issuer (OpenID Connect Discovery §4.3).
    pub async fn discovery(&self, http: &Http, issuer: &str, now: i64) -> Result<Discovery, OAuthError> {
        if let Some((d, at)) = lock(&self.discovery).clone()
            && now - at < DISCOVERY_TTL_MS
        {
            return Ok(d);
        }
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let d: Discovery = http.get_json(&url, None).await?;
        if d.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(OAuthError::IssuerMismatch);
        }
        *lock(&self.discovery) = Some((d.clone(), now));
        Ok(d)
    }

    /// Validates an ID token from `discovery`'s issuer for `client_id`; `nonce`: the one this
    /// sign-in sent (required then).
    pub async fn verify_id_token(
        &self,
        http: &Http,
        discovery: &Discovery,
        client_id: &str,
        token: &str,
        nonce: Option<&str>,
        now: i64,
    ) -> Result<IdClaims, OAuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| OAuthError::InvalidIdToken)?;
        let key = self.key_for(http, discovery, header.kid.as_deref(), now).await?;
        let alg = header.alg;
        if !ALLOWED.contains(&alg) {
            return Err(OAuthError::InvalidIdToken);
        }
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[discovery.issuer.as_str()]);
        validation.set_audience(&[client_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 60;
        let data = jsonwebtoken::decode::<IdClaims>(token, &key, &validation).map_err(|e| {
            tracing::warn!(error = %e, "an ID token was refused");
            OAuthError::InvalidIdToken
        })?;
        let claims = data.claims;
        if let Audience::Many(all) = &claims.aud
            && all.len() > 1
            && claims.azp.as_deref() != Some(client_id)
        {
            return Err(OAuthError::InvalidIdToken);
        }
        match nonce {
            Some(sent)
                if !constant_time_eq(claims.nonce.as_deref().unwrap_or("").as_bytes(), sent.as_bytes()) =>
            {
                Err(OAuthError::InvalidIdToken)
            }
            _ => Ok(claims),
        }
    }

    /// The key `kid` names (or the only one), fetching the key set again when it is unknown.
    async fn key_for(
        &self,
        http: &Http,
        discovery: &Discovery,
        kid: Option<&str>,
        now: i64,
    ) -> Result<DecodingKey, OAuthError> {
        let cached = lock(&self.jwks).clone();
        if let Some((set, _)) = &cached
            && let Some(key) = pick(set, kid)
        {
            return key;
        }
        if let Some((_, at)) = &cached
            && now - at < JWKS_REFRESH_MS
        {
            return Err(OAuthError::InvalidIdToken);
        }
        let set: JwkSet = http.get_json(&discovery.jwks_uri, None).await?;
        *lock(&self.jwks) = Some((set.clone(), now));
        pick(&set, kid).unwrap_or(Err(OAuthError::InvalidIdToken))
    }
}

/// Signature algorithms accepted in ID tokens (never `none` or a shared-secret HMAC).
const ALLOWED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

fn pick(set: &JwkSet, kid: Option<&str>) -> Option<Result<DecodingKey, OAuthError>> {
    let jwk = match kid {
        Some(kid) => set.find(kid)?,
        None if set.keys.len() == 1 => &set.keys[0],
        None => return None,
    };
    Some(DecodingKey::from_jwk(jwk).map_err(|_| OAuthError::InvalidIdToken))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
