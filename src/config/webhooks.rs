//! Outbound webhooks: `WEBHOOK_URLS`, `WEBHOOK_SECRET`, `WEBHOOK_RETRY_FOR` (apps may set their
//! own endpoints and secret: `apps set APP WEBHOOK_URLS=… WEBHOOK_SECRET=…`).

use std::time::Duration;

use anyhow::bail;

use super::{Secret, env::*};

/// The shortest secret a receiver is given to check signatures with.
pub const MIN_SECRET_LEN: usize = 24;

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Endpoints every event is sent to (each `http(s)://…`).
    pub urls: Vec<String>,
    /// Signs every delivery (`Gatehouse-Signature`); required with `urls`.
    pub secret: Option<Secret>,
    /// How long a delivery is retried before it counts as failed.
    pub retry_for: Duration,
    /// How long one attempt may take.
    pub timeout: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            urls: Vec::new(),
            secret: None,
            retry_for: Duration::from_secs(86_400),
            timeout: Duration::from_secs(10),
        }
    }
}

/// `raw` as a list of endpoint URLs (comma-separated), or why not.
pub fn parse_urls(raw: &str) -> Result<Vec<String>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match url::Url::parse(s) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(u.to_string()),
            _ => Err(format!("{s:?} is not an http(s) URL")),
        })
        .collect()
}

/// Why `secret` cannot sign webhooks, if it cannot.
pub fn check_secret(secret: &str) -> Result<(), String> {
    if secret.len() < MIN_SECRET_LEN {
        return Err(format!("must be at least {MIN_SECRET_LEN} characters (e.g. `openssl rand -hex 32`)"));
    }
    Ok(())
}

impl WebhookSettings {
    pub fn read(env: &Env) -> anyhow::Result<Self> {
        let d = Self::default();
        let urls = match env.get("WEBHOOK_URLS") {
            Some(raw) => parse_urls(&raw).map_err(|e| anyhow::anyhow!("WEBHOOK_URLS: {e}"))?,
            None => d.urls,
        };
        let secret = env.get("WEBHOOK_SECRET");
        if let Some(s) = &secret {
            check_secret(s).map_err(|e| anyhow::anyhow!("WEBHOOK_SECRET: {e}"))?;
        }
        if !urls.is_empty() && secret.is_none() {
            bail!(
                "WEBHOOK_SECRET: required with WEBHOOK_URLS (receivers check each delivery's signature with it)"
            );
        }
        Ok(Self {
            urls,
            secret: secret.map(Secret::new),
            retry_for: env
                .or("WEBHOOK_RETRY_FOR", d.retry_for, |v| parse_duration(v).filter(|d| !d.is_zero()))?,
            timeout: d.timeout,
        })
    }
}
