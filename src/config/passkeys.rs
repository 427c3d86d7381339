//! Passkeys (WebAuthn): `PASSKEY_RP_ID`, `PASSKEY_RP_NAME`.
//!
//! The relying party id is a domain: `PASSKEY_RP_ID`, else the base URL's host. A base URL whose
//! host is an IP address (the default `http://127.0.0.1:3000`) has none, and browsers refuse IP
//! addresses as relying party ids: there passkeys are off (one warning at start-up) and nothing
//! else changes.

use url::{Host, Url};

use super::env::*;

#[derive(Debug, Clone, Default)]
pub struct PasskeySettings {
    /// `None`: passkeys are off (the passkey routes answer 400 `PASSKEY_NOT_CONFIGURED`).
    pub rp_id: Option<String>,
    /// The name authenticators show (default: `APP_NAME`).
    pub rp_name: Option<String>,
}

impl PasskeySettings {
    /// The defaults for `base_url`: its host as the relying party id, when it is a domain.
    pub fn for_base_url(base_url: &Url) -> Self {
        let rp_id = match base_url.host() {
            Some(Host::Domain(domain)) => Some(domain.to_ascii_lowercase()),
            _ => None,
        };
        Self { rp_id, rp_name: None }
    }

    pub fn read(env: &Env, base_url: &Url) -> anyhow::Result<Self> {
        let from_base = Self::for_base_url(base_url).rp_id;
        let rp_id = env.optional("PASSKEY_RP_ID", |v| {
            let v = v.trim().to_ascii_lowercase();
            let is_domain = matches!(Host::parse(&v), Ok(Host::Domain(_)));
            (is_domain && !v.is_empty()).then_some(v)
        })?;
        Ok(Self { rp_id: rp_id.or(from_base), rp_name: env.get("PASSKEY_RP_NAME") })
    }

    /// Why passkeys are off, for the start-up warning.
    pub fn off_reason(&self, base_url: &Url) -> Option<String> {
        self.rp_id.is_none().then(|| {
            format!(
                "passkeys are off: the base URL {base_url} has an IP address, which cannot be a relying party id; \
                 use http://localhost:<port> or set PASSKEY_RP_ID"
            )
        })
    }
}
