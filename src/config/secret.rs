//! The server secret: `BETTER_AUTH_SECRET`, or `BETTER_AUTH_SECRETS` (the current one first, then
//! older ones still accepted), and the development secret kept in a local file.

use std::fmt;

use anyhow::{Context, bail};

use super::Settings;

/// A secret string whose `Debug` and `Display` never show the value.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The current secret and the older ones, from `BETTER_AUTH_SECRET` (one) or
/// `BETTER_AUTH_SECRETS` (a comma list, newest first); each at least 32 bytes.
pub(super) fn secrets(
    one: Option<String>,
    list: Option<String>,
) -> anyhow::Result<(Option<Secret>, Vec<Secret>)> {
    let all: Vec<String> = match (one, list) {
        (Some(_), Some(_)) => bail!(
            "BETTER_AUTH_SECRET and BETTER_AUTH_SECRETS are both set: set one (BETTER_AUTH_SECRETS lists the current secret first)"
        ),
        (None, None) => return Ok((None, Vec::new())),
        (Some(one), None) => vec![one],
        (None, Some(list)) => list.split(',').map(|s| s.trim().to_string()).collect(),
    };
    for (i, s) in all.iter().enumerate() {
        if s.len() < 32 {
            bail!(
                "BETTER_AUTH_SECRET(S): secret {} must be at least 32 bytes long (e.g. `openssl rand -hex 32`)",
                i + 1
            );
        }
        if all[..i].contains(s) {
            bail!("BETTER_AUTH_SECRETS: secret {} is listed twice", i + 1);
        }
    }
    let mut all = all.into_iter().map(Secret::new);
    Ok((all.next(), all.collect()))
}

impl Settings {
    /// Every secret, the current one first (empty until [`Self::resolve_secret`]).
    pub fn secrets(&self) -> Vec<&str> {
        self.secret.iter().chain(&self.previous_secrets).map(Secret::expose).collect()
    }

    /// Uses the configured secret or, for a loopback base URL only, one generated once and kept
    /// in `secret_file`. Anything else without a secret refuses to start.
    pub fn resolve_secret(&mut self) -> anyhow::Result<()> {
        if self.secret.is_some() {
            return Ok(());
        }
        if !self.base_url_is_loopback() {
            bail!(
                "BETTER_AUTH_SECRET is not set: it is required when BASE_URL ({}) is not a loopback address. \
                 Generate one with `openssl rand -hex 32`.",
                self.base_url
            );
        }
        let secret = match std::fs::read_to_string(&self.secret_file) {
            Ok(s) if s.trim().len() >= 32 => s.trim().to_string(),
            _ => {
                let fresh = crate::security::tokens::random_hex(32);
                write_private_file(&self.secret_file, &fresh).with_context(|| {
                    format!("writing the development secret to {}", self.secret_file.display())
                })?;
                fresh
            }
        };
        tracing::warn!(
            file = %self.secret_file.display(),
            "BETTER_AUTH_SECRET is not set: using a development secret kept in a local file; set BETTER_AUTH_SECRET in production"
        );
        self.secret = Some(Secret::new(secret));
        Ok(())
    }
}

fn write_private_file(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}
