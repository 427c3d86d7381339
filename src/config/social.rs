//! Sign-in with other providers: `GOOGLE_*`, `GITHUB_*`, `MICROSOFT_*`, `FACEBOOK_*`, `OIDC_PROVIDERS` and `OIDC_<ID>_*`,
//! `TRUSTED_PROVIDERS`, `DISABLE_SIGN_UP`. A provider is on when its client id and secret are set.

use anyhow::bail;

use super::env::*;
pub use crate::oauth::{Endpoints, Kind, ProviderConfig};

#[derive(Debug, Clone, Default)]
pub struct SocialSettings {
    pub providers: Vec<ProviderConfig>,
    /// Providers whose email addresses count as verified for linking to a local account.
    pub trusted_providers: Vec<String>,
    /// No new accounts through any provider.
    pub disable_sign_up: bool,
}

const GOOGLE_ISSUER: &str = "https://accounts.google.com";
const OIDC_SCOPES: &str = "openid email profile";
const GITHUB_SCOPES: &str = "read:user user:email";
const FACEBOOK_SCOPES: &str = "email public_profile";
const MICROSOFT_SCOPES: &str = "openid profile email offline_access User.Read";

impl SocialSettings {
    pub fn read(env: &Env) -> anyhow::Result<Self> {
        let mut providers = Vec::new();
        if let Some(google) = provider(env, "GOOGLE", "google", Kind::Google, Some(GOOGLE_ISSUER))? {
            providers.push(google);
        }
        if let Some(github) = github(env)? {
            providers.push(github);
        }
        if let Some(facebook) = facebook(env)? {
            providers.push(facebook);
        }
        let tenant = env.get("MICROSOFT_TENANT_ID").unwrap_or_else(|| "common".into());
        if !tenant.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') {
            bail!("MICROSOFT_TENANT_ID: {tenant:?} is not a tenant id or domain");
        }
        let microsoft_issuer = format!("https://login.microsoftonline.com/{tenant}/v2.0");
        if let Some(microsoft) =
            provider(env, "MICROSOFT", "microsoft", Kind::Microsoft, Some(&microsoft_issuer))?
        {
            providers.push(microsoft);
        }
        for id in list(env.get("OIDC_PROVIDERS")) {
            if !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') || id.is_empty()
            {
                bail!("OIDC_PROVIDERS: {id:?} is not an id (lower-case letters, digits and -)");
            }
            if providers.iter().any(|p| p.id == id)
                || ["credential", "github", "microsoft", "facebook"].contains(&id.as_str())
            {
                bail!("OIDC_PROVIDERS: {id:?} is taken by a built-in provider or listed twice");
            }
            let prefix = format!("OIDC_{}", id.to_ascii_uppercase().replace('-', "_"));
            match provider(env, &prefix, &id, Kind::Oidc, None)? {
                Some(p) => providers.push(p),
                None => bail!("{prefix}_CLIENT_ID and {prefix}_CLIENT_SECRET: both are needed for {id:?}"),
            }
        }
        Ok(Self {
            providers,
            trusted_providers: list(env.get("TRUSTED_PROVIDERS")),
            disable_sign_up: env.or("DISABLE_SIGN_UP", false, parse_bool)?,
        })
    }
}

/// `<PREFIX>_CLIENT_ID`, `_CLIENT_SECRET`, `_ISSUER` (required without a default), `_SCOPES`,
/// `_DISABLE_SIGN_UP`; `None` when the client id and secret are not both set.
fn provider(
    env: &Env,
    prefix: &str,
    id: &str,
    kind: Kind,
    default_issuer: Option<&str>,
) -> anyhow::Result<Option<ProviderConfig>> {
    let key = format!("{prefix}_ISSUER");
    let issuer = env.get(&key).or(default_issuer.map(str::to_string));
    let scopes = if kind == Kind::Microsoft { MICROSOFT_SCOPES } else { OIDC_SCOPES };
    client(env, prefix, id, kind, scopes, || {
        let Some(issuer) = issuer else { bail!("{key}: required for the provider {id:?}") };
        let issuer = http_url(&key, &issuer)?;
        Ok(Endpoints::Discovery { issuer: issuer.trim_end_matches('/').to_string() })
    })
}

/// GitHub: `GITHUB_CLIENT_ID`, `_CLIENT_SECRET`, and its endpoints (overridable for GitHub
/// Enterprise and tests): `GITHUB_AUTHORIZATION_URL`, `GITHUB_TOKEN_URL`, `GITHUB_API_URL`.
fn github(env: &Env) -> anyhow::Result<Option<ProviderConfig>> {
    client(env, "GITHUB", "github", Kind::GitHub, GITHUB_SCOPES, || {
        let url =
            |key: &str, default: &str| http_url(key, &env.get(key).unwrap_or_else(|| default.to_string()));
        Ok(Endpoints::Fixed {
            authorization: url("GITHUB_AUTHORIZATION_URL", "https://github.com/login/oauth/authorize")?,
            token: url("GITHUB_TOKEN_URL", "https://github.com/login/oauth/access_token")?,
            api: url("GITHUB_API_URL", "https://api.github.com")?,
        })
    })
}

/// Facebook: `FACEBOOK_CLIENT_ID`, `_CLIENT_SECRET`, and its endpoints (overridable for tests):
/// `FACEBOOK_AUTHORIZATION_URL`, `FACEBOOK_TOKEN_URL`, `FACEBOOK_GRAPH_URL`.
fn facebook(env: &Env) -> anyhow::Result<Option<ProviderConfig>> {
    client(env, "FACEBOOK", "facebook", Kind::Facebook, FACEBOOK_SCOPES, || {
        let url =
            |key: &str, default: &str| http_url(key, &env.get(key).unwrap_or_else(|| default.to_string()));
        Ok(Endpoints::Fixed {
            authorization: url("FACEBOOK_AUTHORIZATION_URL", "https://www.facebook.com/v24.0/dialog/oauth")?,
            token: url("FACEBOOK_TOKEN_URL", "https://graph.facebook.com/v24.0/oauth/access_token")?,
            api: url("FACEBOOK_GRAPH_URL", "https://graph.facebook.com/v24.0")?,
        })
    })
}

/// A provider's client settings (`<PREFIX>_CLIENT_ID`, `_CLIENT_SECRET`, `_SCOPES`,
/// `_DISABLE_SIGN_UP`) with the endpoints `endpoints` reads; `None` unless id and secret are set.
fn client(
    env: &Env,
    prefix: &str,
    id: &str,
    kind: Kind,
    default_scopes: &str,
    endpoints: impl FnOnce() -> anyhow::Result<Endpoints>,
) -> anyhow::Result<Option<ProviderConfig>> {
    let (Some(client_id), Some(client_secret)) =
        (env.get(&format!("{prefix}_CLIENT_ID")), env.get(&format!("{prefix}_CLIENT_SECRET")))
    else {
        return Ok(None);
    };
    let scopes = env.get(&format!("{prefix}_SCOPES")).unwrap_or_else(|| default_scopes.to_string());
    Ok(Some(ProviderConfig {
        id: id.to_string(),
        kind,
        endpoints: endpoints()?,
        client_id,
        client_secret,
        scopes: scopes.split([' ', ',']).filter(|s| !s.is_empty()).map(str::to_string).collect(),
        disable_sign_up: env.or(&format!("{prefix}_DISABLE_SIGN_UP"), false, parse_bool)?,
    }))
}

/// `value` if it is an `https` URL (or `http` to a loopback host); else an error naming `key`.
fn http_url(key: &str, value: &str) -> anyhow::Result<String> {
    if crate::oauth::oidc::secure_url(value) {
        Ok(value.to_string())
    } else {
        bail!("{key}: {value:?} is not an https URL (http only for loopback hosts)")
    }
}

/// A comma-separated list, trimmed, lower-cased.
fn list(raw: Option<String>) -> Vec<String> {
    raw.unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}
