//! Second factors: `TWO_FACTOR_REQUIRED`, `TWO_FACTOR_PAGE_URL`, `TWO_FACTOR_ISSUER`.

use super::env::*;

#[derive(Debug, Clone, Default)]
pub struct TwoFactorSettings {
    /// Every user needs a second factor: one without gets a restricted session until enrolled.
    pub required: bool,
    /// Where a sign-in with a provider sends the browser when a second factor is needed (else the
    /// error URL with `?error=two_factor_required`): a path, or an absolute http(s) URL.
    pub page_url: Option<String>,
    /// The issuer authenticator apps show (default: `APP_NAME`).
    pub issuer: Option<String>,
}

impl TwoFactorSettings {
    pub fn read(env: &Env) -> anyhow::Result<Self> {
        let d = Self::default();
        Ok(Self {
            required: env.or("TWO_FACTOR_REQUIRED", d.required, parse_bool)?,
            page_url: env.or("TWO_FACTOR_PAGE_URL", d.page_url, |v| {
                let absolute = url::Url::parse(v).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
                (absolute || (v.starts_with('/') && !v.starts_with("//"))).then(|| Some(v.to_string()))
            })?,
            issuer: env.get("TWO_FACTOR_ISSUER"),
        })
    }
}
