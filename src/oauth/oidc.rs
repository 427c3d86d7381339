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
/// Keys are kept an hour like the endpoints (a key the provider withdrew stops counting), and
/// fetched again at most once a minute when a token names an unknown one (rotation).
const JWKS_REFRESH_MS: i64 = 60_000;

#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// RFC 9207: the provider puts `iss` in its redirects back.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
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
    exp: i64,
    iss: String,
    /// Microsoft: the tenant, and the user's object id (stable across apps, unlike `sub`).
    tid: Option<String>,
    pub oid: Option<String>,
    /// Microsoft: "email domain owner verified" (an optional claim), when `email_verified` is absent.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub xms_edov: Option<bool>,
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
    Many(Vec<String>),
    One(serde::de::IgnoredAny),
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
    /// `tenants`: Microsoft's multi-tenant document may name `{tenantid}` in its issuer.
    pub async fn discovery(
        &self,
        http: &Http,
        issuer: &str,
        tenants: bool,
        now: i64,
    ) -> Result<Discovery, OAuthError> {
        if let Some((d, at)) = lock(&self.discovery).clone()
            && now - at < DISCOVERY_TTL_MS
        {
            return Ok(d);
        }
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let d: Discovery = http.get_json(&url, None).await?;
        let template = tenants && is_tenant_template(&d.issuer);
        if d.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') && !template {
            return Err(OAuthError::IssuerMismatch);
        }
        for endpoint in [&d.authorization_endpoint, &d.token_endpoint, &d.jwks_uri]
            .into_iter()
            .chain(&d.userinfo_endpoint)
        {
            if !secure_url(endpoint) {
                return Err(OAuthError::Http(format!("{endpoint}: not https (only loopback may use http)")));
            }
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
        // The issuer is compared below (it may name the token's tenant).
        validation.set_audience(&[client_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Expiry is checked below against the server's clock (the injected one), not the system's.
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<IdClaims>(token, &key, &validation).map_err(|e| {
            tracing::warn!(error = %e, "an ID token was refused");
            OAuthError::InvalidIdToken
        })?;
        let claims = data.claims;
        if claims.exp.saturating_add(LEEWAY_S) <= now.div_euclid(1000) {
            return Err(OAuthError::InvalidIdToken);
        }
        let expected = match &claims.tid {
            Some(tid) if is_tenant_template(&discovery.issuer) => discovery.issuer.replace("{tenantid}", tid),
            _ => discovery.issuer.clone(),
        };
        if claims.iss.trim_end_matches('/') != expected.trim_end_matches('/') {
            return Err(OAuthError::InvalidIdToken);
        }
        // With several audiences the token must have been issued to this client (`azp`), and an
        // `azp` naming another client is refused in any case.
        let several = matches!(&claims.aud, Audience::Many(all) if all.len() > 1);
        if claims.azp.as_deref().is_some_and(|azp| azp != client_id) || (several && claims.azp.is_none()) {
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
        let cached = lock(&self.jwks).clone().filter(|(_, at)| now - at < DISCOVERY_TTL_MS);
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

/// Clock skew tolerated on an ID token's expiry, in seconds.
const LEEWAY_S: i64 = 60;

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

/// Whether an issuer is Microsoft's template for several tenants.
pub fn is_tenant_template(issuer: &str) -> bool {
    issuer.contains("{tenantid}")
}

/// `https`, or `http` to a loopback host (development and test providers).
pub fn secure_url(url: &str) -> bool {
    match url::Url::parse(url) {
        Ok(u) if u.scheme() == "https" => u.host().is_some(),
        Ok(u) if u.scheme() == "http" => match u.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::{Value, json};

    use super::*;
    use crate::jwt::keys::SigningAlg;

    const ISSUER: &str = "https://id.example";
    const CLIENT: &str = "client-1";
    const NOW: i64 = 1_800_000_000_000;

    /// A cache that already holds the provider's key set, so nothing is fetched.
    fn provider() -> (Cache, Discovery, EncodingKey) {
        let der = SigningAlg::Es256.generate().unwrap();
        let jwk = SigningAlg::Es256.public_jwk(&der, "k1").unwrap();
        let cache = Cache::default();
        *lock(&cache.jwks) = Some((JwkSet { keys: vec![jwk] }, NOW));
        let discovery = Discovery {
            issuer: ISSUER.into(),
            authorization_endpoint: format!("{ISSUER}/auth"),
            token_endpoint: format!("{ISSUER}/token"),
            jwks_uri: format!("{ISSUER}/jwks"),
            userinfo_endpoint: None,
            authorization_response_iss_parameter_supported: false,
        };
        (cache, discovery, SigningAlg::Es256.encoding_key(&der))
    }

    fn token(key: &EncodingKey, changes: Value) -> String {
        let mut claims = json!({
            "iss": ISSUER, "aud": CLIENT, "sub": "s1", "exp": NOW / 1000 + 600, "iat": NOW / 1000,
            "nonce": "n1", "email": "a@example.com", "email_verified": "true",
        });
        for (k, v) in changes.as_object().unwrap() {
            claims[k] = v.clone();
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("k1".into());
        jsonwebtoken::encode(&header, &claims, key).unwrap()
    }

    async fn check(cache: &Cache, d: &Discovery, token: &str) -> Result<IdClaims, OAuthError> {
        let http = Http::new().unwrap();
        cache.verify_id_token(&http, d, CLIENT, token, Some("n1"), NOW).await
    }

    #[tokio::test]
    async fn id_tokens() {
        let (cache, d, key) = provider();
        let ok = check(&cache, &d, &token(&key, json!({}))).await.unwrap();
        assert_eq!((ok.sub.as_str(), ok.email_verified), ("s1", Some(true)), "\"true\" counts as true");
        let several = json!({"aud": [CLIENT, "other"], "azp": CLIENT});
        assert!(check(&cache, &d, &token(&key, several)).await.is_ok());
        for (what, changes) in [
            ("another audience", json!({"aud": "other"})),
            ("several audiences, no azp", json!({"aud": [CLIENT, "other"]})),
            ("azp of another client", json!({"azp": "other"})),
            ("another issuer", json!({"iss": "https://evil.example"})),
            ("another nonce", json!({"nonce": "n2"})),
            ("no nonce", json!({"nonce": null})),
            ("expired", json!({"exp": NOW / 1000 - 3600})),
        ] {
            assert!(check(&cache, &d, &token(&key, changes)).await.is_err(), "{what} was accepted");
        }
        // A shared-secret token, even with the right claims, is never accepted.
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k1".into());
        let claims =
            json!({"iss": ISSUER, "aud": CLIENT, "sub": "s1", "exp": NOW / 1000 + 600, "nonce": "n1"});
        let hs = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(b"secret")).unwrap();
        assert!(check(&cache, &d, &hs).await.is_err());
    }

    #[tokio::test]
    async fn a_tenant_template_issuer_takes_the_tokens_tenant() {
        let (cache, mut d, key) = provider();
        d.issuer = "https://login.example/{tenantid}/v2.0".into();
        let ok = json!({"iss": "https://login.example/t1/v2.0", "tid": "t1"});
        assert!(check(&cache, &d, &token(&key, ok)).await.is_ok());
        let other = json!({"iss": "https://login.example/t2/v2.0", "tid": "t1"});
        assert!(check(&cache, &d, &token(&key, other)).await.is_err());
        assert!(
            check(&cache, &d, &token(&key, json!({"iss": "https://login.example/t1/v2.0"}))).await.is_err()
        );
    }

    #[test]
    fn only_https_or_loopback() {
        assert!(secure_url("https://accounts.google.com"));
        assert!(secure_url("http://127.0.0.1:4000/x") && secure_url("http://localhost/x"));
        assert!(!secure_url("http://id.example") && !secure_url("ftp://id.example") && !secure_url("nope"));
    }
}
