//! Signing in with another provider: OpenID Connect providers (the Google and Microsoft presets,
//! or any by configuration), GitHub and Facebook; the authorization-code flow with PKCE (S256), a
//! nonce and a state; the profile from the verified ID token or the provider's API. The `oauth2`
//! crate builds the authorization URL and makes the token requests; `jsonwebtoken` (the server's
//! JWT crate already) checks ID tokens.
//! Handlers reach this through `service::social`.
//!
//! (Just over 400 lines: one provider's whole flow — endpoints, authorization, code exchange,
//! profile, refresh — reads best in one place; discovery and ID tokens are in `oidc.rs`.)

pub mod facebook;
pub mod github;
pub mod http;
pub mod oidc;

use std::fmt;

use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenResponse, TokenUrl,
    basic::{
        BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
    },
};
use serde::{Deserialize, Serialize};

use self::{http::Http, oidc::Discovery};

/// Why a provider step failed; [`OAuthError::code`] is the `?error=` the browser is sent with.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("provider call failed: {0}")]
    Http(String),
    #[error("the provider's issuer is not the one configured")]
    IssuerMismatch,
    #[error("the ID token is not valid")]
    InvalidIdToken,
    #[error("the code was refused: {0}")]
    InvalidCode(String),
}

impl OAuthError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Http(_) | Self::InvalidIdToken => "unable_to_get_user_info",
            Self::IssuerMismatch => "issuer_mismatch",
            Self::InvalidCode(_) => "invalid_code",
        }
    }
}

/// Which preset a provider follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Google,
    /// Any OpenID Connect provider (`OIDC_PROVIDERS`).
    Oidc,
    /// OAuth 2 with GitHub's API for the profile (not OpenID Connect).
    GitHub,
    /// OAuth 2 with the Graph API's `/me` for the profile; Facebook does not say whether the
    /// address is verified, so it counts as unverified unless Facebook is trusted.
    Facebook,
    /// Microsoft Entra ID: `accountId` is the `oid` claim; `xms_edov` vouches for the address
    /// when `email_verified` is absent (work accounts).
    Microsoft,
}

/// Where a provider's endpoints come from.
#[derive(Debug, Clone)]
pub enum Endpoints {
    /// OpenID Connect discovery at this issuer.
    Discovery { issuer: String },
    /// Fixed URLs (GitHub, Facebook): authorization, token, and the API the profile comes from.
    Fixed { authorization: String, token: String, api: String },
}

/// A configured provider.
#[derive(Clone)]
pub struct ProviderConfig {
    /// Its id in routes (`/callback/<id>`) and in `account.providerId`.
    pub id: String,
    pub kind: Kind,
    pub endpoints: Endpoints,
    pub client_id: String,
    pub client_secret: String,
    pub scopes: Vec<String>,
    /// No new accounts through this provider.
    pub disable_sign_up: bool,
}

impl ProviderConfig {
    /// The provider's name for people (mail, pages).
    pub fn display_name(&self) -> String {
        match self.kind {
            Kind::Google => "Google".into(),
            Kind::GitHub => "GitHub".into(),
            Kind::Microsoft => "Microsoft".into(),
            Kind::Facebook => "Facebook".into(),
            Kind::Oidc => self.id.clone(),
        }
    }
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("endpoints", &self.endpoints)
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// Who the provider says signed in.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The provider's subject: `account.accountId`.
    pub account_id: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub image: Option<String>,
}

/// The provider's tokens from a sign-in (plaintext; sealed before they are stored; no `Debug`).
#[derive(Clone)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub access_token_expires_at: Option<i64>,
    pub scope: Option<String>,
}

/// The start of a sign-in: where to send the browser, and what the callback needs back.
pub struct Authorization {
    pub url: String,
    pub verifier: String,
    pub nonce: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
struct IdTokenField {
    id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenField {}

type TokenAnswer = StandardTokenResponse<IdTokenField, BasicTokenType>;

type CodeClient = Client<
    BasicErrorResponse,
    TokenAnswer,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

pub struct Provider {
    pub config: ProviderConfig,
    cache: oidc::Cache,
}

impl Provider {
    pub fn new(config: ProviderConfig) -> Self {
        Self { config, cache: oidc::Cache::default() }
    }

    /// The issuer a callback's `iss` must equal (RFC 9207), and whether the provider says it
    /// always sends one; `None` for providers without an issuer.
    pub async fn issuer(&self, http: &Http, now: i64) -> Result<Option<(String, bool)>, OAuthError> {
        Ok(self
            .discovery(http, now)
            .await?
            .map(|d| (d.issuer, d.authorization_response_iss_parameter_supported)))
    }

    async fn discovery(&self, http: &Http, now: i64) -> Result<Option<Discovery>, OAuthError> {
        match &self.config.endpoints {
            Endpoints::Discovery { issuer } => {
                let tenants = self.config.kind == Kind::Microsoft;
                Ok(Some(self.cache.discovery(http, issuer, tenants, now).await?))
            }
            Endpoints::Fixed { .. } => Ok(None),
        }
    }

    fn client(&self, d: Option<&Discovery>, redirect_uri: &str) -> Result<CodeClient, OAuthError> {
        let bad = |e: url::ParseError| OAuthError::Http(format!("provider endpoint: {e}"));
        let (authorization, token) = match (&self.config.endpoints, d) {
            (_, Some(d)) => (&d.authorization_endpoint, &d.token_endpoint),
            (Endpoints::Fixed { authorization, token, .. }, None) => (authorization, token),
            (Endpoints::Discovery { .. }, None) => {
                return Err(OAuthError::Http("no discovery document".into()));
            }
        };
        // Facebook takes the client's credentials in the request body, the others by Basic auth.
        let auth_type =
            if self.config.kind == Kind::Facebook { AuthType::RequestBody } else { AuthType::BasicAuth };
        Ok(Client::new(ClientId::new(self.config.client_id.clone()))
            .set_client_secret(ClientSecret::new(self.config.client_secret.clone()))
            .set_auth_type(auth_type)
            .set_auth_uri(AuthUrl::new(authorization.clone()).map_err(bad)?)
            .set_token_uri(TokenUrl::new(token.clone()).map_err(bad)?)
            .set_redirect_uri(RedirectUrl::new(redirect_uri.to_string()).map_err(bad)?))
    }

    /// The authorization URL for a sign-in carrying `state`, with the provider's scopes plus
    /// `extra_scopes`; always with PKCE (S256), and a nonce for OpenID providers.
    pub async fn authorize(
        &self,
        http: &Http,
        redirect_uri: &str,
        state: &str,
        extra_scopes: &[String],
        login_hint: Option<&str>,
        now: i64,
    ) -> Result<Authorization, OAuthError> {
        let d = self.discovery(http, now).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = crate::security::tokens::random_hex(16);
        let scopes = self.config.scopes.iter().chain(extra_scopes).map(|s| Scope::new(s.clone()));
        let client = self.client(d.as_ref(), redirect_uri)?;
        let mut request = client
            .authorize_url(|| CsrfToken::new(state.to_string()))
            .add_scopes(scopes)
            .set_pkce_challenge(challenge);
        if d.is_some() {
            request = request.add_extra_param("nonce", nonce.clone());
        }
        if self.config.kind == Kind::Google {
            request = request.add_extra_param("include_granted_scopes", "true");
        }
        if let Some(hint) = login_hint {
            let key = if self.config.kind == Kind::GitHub { "login" } else { "login_hint" };
            request = request.add_extra_param(key, hint.to_string());
        }
        let (url, _) = request.url();
        Ok(Authorization { url: url.to_string(), verifier: verifier.secret().clone(), nonce })
    }

    /// Exchanges the code (with the PKCE verifier) and reads the profile: from the ID token
    /// (which must carry the sign-in's nonce) for OpenID providers, from the API otherwise.
    pub async fn finish(
        &self,
        http: &Http,
        code: &str,
        verifier: &str,
        nonce: &str,
        redirect_uri: &str,
        now: i64,
    ) -> Result<(Profile, Tokens), OAuthError> {
        let d = self.discovery(http, now).await?;
        let answer = self
            .client(d.as_ref(), redirect_uri)?
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()))
            .request_async(http)
            .await
            .map_err(|e| OAuthError::InvalidCode(e.to_string()))?;
        let mut tokens = Tokens { id_token: None, ..tokens_of(&answer, now) };
        let profile = match (&self.config.endpoints, d) {
            (Endpoints::Fixed { api, .. }, _) if self.config.kind == Kind::Facebook => {
                facebook::profile(http, api, &tokens.access_token).await?
            }
            (Endpoints::Fixed { api, .. }, _) => github::profile(http, api, &tokens.access_token).await?,
            (Endpoints::Discovery { .. }, Some(d)) => {
                let id_token = answer.extra_fields().id_token.clone().ok_or(OAuthError::InvalidIdToken)?;
                let claims = self
                    .cache
                    .verify_id_token(http, &d, &self.config.client_id, &id_token, Some(nonce), now)
                    .await?;
                tokens.id_token = Some(id_token);
                self.profile_of(claims)?
            }
            (Endpoints::Discovery { .. }, None) => {
                return Err(OAuthError::Http("no discovery document".into()));
            }
        };
        Ok((profile, tokens))
    }
}

impl Provider {
    /// Whether ID tokens from this provider can be checked (an OpenID provider).
    pub fn takes_id_tokens(&self) -> bool {
        matches!(self.config.endpoints, Endpoints::Discovery { .. })
    }

    /// The profile in an ID token a client obtained itself (native sign-in): checked like the
    /// callback's (keys, issuer, audience = this client, expiry), with the nonce when given.
    pub async fn profile_from_id_token(
        &self,
        http: &Http,
        token: &str,
        nonce: Option<&str>,
        now: i64,
    ) -> Result<Profile, OAuthError> {
        let Some(d) = self.discovery(http, now).await? else { return Err(OAuthError::InvalidIdToken) };
        let claims = self.cache.verify_id_token(http, &d, &self.config.client_id, token, nonce, now).await?;
        self.profile_of(claims)
    }

    fn profile_of(&self, claims: oidc::IdClaims) -> Result<Profile, OAuthError> {
        let (account_id, email_verified) = match self.config.kind {
            Kind::Microsoft => (
                claims.oid.ok_or(OAuthError::InvalidIdToken)?,
                claims.email_verified.or(claims.xms_edov).unwrap_or(false),
            ),
            _ => (claims.sub, claims.email_verified.unwrap_or(false)),
        };
        Ok(Profile {
            account_id,
            email: claims.email,
            email_verified,
            name: claims.name,
            image: claims.picture,
        })
    }

    /// What the provider says about the account now (its userinfo endpoint, GitHub's `/user`,
    /// Facebook's `/me`), as it says it.
    pub async fn user_info(
        &self,
        http: &Http,
        access_token: &str,
        now: i64,
    ) -> Result<serde_json::Value, OAuthError> {
        let url = match (&self.config.endpoints, self.discovery(http, now).await?) {
            (_, Some(d)) => {
                d.userinfo_endpoint.ok_or(OAuthError::Http("the provider has no userinfo endpoint".into()))?
            }
            (Endpoints::Fixed { api, .. }, None) if self.config.kind == Kind::Facebook => {
                format!("{}/me?fields=id,name,email,picture", api.trim_end_matches('/'))
            }
            (Endpoints::Fixed { api, .. }, None) => format!("{}/user", api.trim_end_matches('/')),
            (Endpoints::Discovery { .. }, None) => {
                return Err(OAuthError::Http("no discovery document".into()));
            }
        };
        http.get_json(&url, Some(access_token)).await
    }

    /// New tokens for a refresh token (the provider may rotate it, or keep it: then `None`).
    pub async fn refresh(&self, http: &Http, refresh_token: &str, now: i64) -> Result<Tokens, OAuthError> {
        let d = self.discovery(http, now).await?;
        // Any registered redirect URI: the token endpoint does not use it for a refresh.
        let client = self.client(d.as_ref(), "http://127.0.0.1/")?;
        let answer = client
            .exchange_refresh_token(&RefreshToken::new(refresh_token.to_string()))
            .request_async(http)
            .await
            .map_err(|e| OAuthError::InvalidCode(e.to_string()))?;
        Ok(tokens_of(&answer, now))
    }
}

fn tokens_of(answer: &TokenAnswer, now: i64) -> Tokens {
    Tokens {
        access_token: answer.access_token().secret().clone(),
        refresh_token: answer.refresh_token().map(|t| t.secret().clone()),
        access_token_expires_at: answer
            .expires_in()
            .map(|d| now.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))),
        scope: answer.scopes().map(|s| s.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(",")),
        id_token: answer.extra_fields().id_token.clone(),
    }
}

/// The configured providers and the HTTP client they share.
pub struct Providers {
    pub http: Http,
    list: Vec<Provider>,
    /// Refreshes take turns per account, so a rotating refresh token is spent once: one lock
    /// per account row while anyone holds or waits for it.
    refreshes: std::sync::Mutex<std::collections::HashMap<String, std::sync::Weak<tokio::sync::Mutex<()>>>>,
}

impl Providers {
    pub fn new(configs: Vec<ProviderConfig>) -> anyhow::Result<Self> {
        Ok(Self {
            http: Http::new()?,
            list: configs.into_iter().map(Provider::new).collect(),
            refreshes: Default::default(),
        })
    }

    /// The turn to refresh the tokens of the account with this row id (on this instance).
    pub async fn refresh_turn(&self, account_row_id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut map = self.refreshes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            map.retain(|_, weak| weak.strong_count() > 0);
            match map.get(account_row_id).and_then(std::sync::Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = std::sync::Arc::new(tokio::sync::Mutex::new(()));
                    map.insert(account_row_id.to_string(), std::sync::Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }

    pub fn get(&self, id: &str) -> Option<&Provider> {
        self.list.iter().find(|p| p.config.id == id)
    }

    /// The configured providers' ids, in the order configured.
    pub fn ids(&self) -> Vec<String> {
        self.list.iter().map(|p| p.config.id.clone()).collect()
    }
}
