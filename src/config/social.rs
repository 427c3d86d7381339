//! Sign-in with other providers: `GOOGLE_*`, `OIDC_PROVIDERS` and `OIDC_<ID>_*`,
//! `TRUSTED_PROVIDERS`, `DISABLE_SIGN_UP`. A provider is on when its client id and secret are set.

use anyhow::bail;

use super::env::*;
pub use crate::oauth::{Kind, ProviderConfig};

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

impl SocialSettings {
    pub fn read(env: &Env) -> anyhow::Result<Self> {
        let mut providers = Vec::new();
        if let Some(google) = provider(env, "GOOGLE", "google", Kind::Google, Some(GOOGLE_ISSUER))? {
            providers.push(google);
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
    let (Some(client_id), Some(client_secret)) =
        (env.get(&format!("{prefix}_CLIENT_ID")), env.get(&format!("{prefix}_CLIENT_SECRET")))
    else {
        return Ok(None);
    };
    let key = format!("{prefix}_ISSUER");
    let issuer = match env.get(&key).or(default_issuer.map(str::to_string)) {
        Some(issuer) => issuer,
        None => bail!("{key}: required for the provider {id:?}"),
    };
    match url::Url::parse(&issuer) {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() => {}
        _ => bail!("{key}: {issuer:?} is not an http(s) URL"),
    }
    let scopes = env.get(&format!("{prefix}_SCOPES")).unwrap_or_else(|| OIDC_SCOPES.to_string());
    Ok(Some(ProviderConfig {
        id: id.to_string(),
        kind,
        issuer: issuer.trim_end_matches('/').to_string(),
        client_id,
        client_secret,
        scopes: scopes.split([' ', ',']).filter(|s| !s.is_empty()).map(str::to_string).collect(),
        disable_sign_up: env.or(&format!("{prefix}_DISABLE_SIGN_UP"), false, parse_bool)?,
    }))
}

/// A comma-separated list, trimmed, lower-cased.
fn list(raw: Option<String>) -> Vec<String> {
    raw.unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}
