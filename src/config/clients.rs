//! API and mobile clients: `REFRESH_TOKEN_IDLE`, `REFRESH_REUSE_GRACE`,
//! `EMAIL_AVAILABILITY_CHECK` (the access tokens' `ACCESS_TOKEN_EXPIRATION` is with the JWT
//! settings).

use std::time::Duration;

use anyhow::bail;

use super::env::*;

/// The longest grace window a spent refresh token may have.
const MAX_REUSE_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// A refresh token not used for this long expires (its session may end sooner).
    pub refresh_idle: Duration,
    /// For this long after a refresh, the spent token gives the same new pair again (a retry of
    /// a request whose answer was lost); after that, using it again is theft. Zero: never.
    pub reuse_grace: Duration,
    /// `POST /is-email-available` is served.
    pub email_availability_check: bool,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            refresh_idle: Duration::from_secs(14 * 86_400),
            reuse_grace: Duration::ZERO,
            email_availability_check: true,
        }
    }
}

impl ClientSettings {
    pub fn read(env: &Env) -> anyhow::Result<Self> {
        let d = Self::default();
        let s = Self {
            refresh_idle: env.or("REFRESH_TOKEN_IDLE", d.refresh_idle, parse_duration)?,
            reuse_grace: env.or("REFRESH_REUSE_GRACE", d.reuse_grace, |v| match v.trim() {
                "0" | "0s" => Some(Duration::ZERO),
                v => parse_duration(v),
            })?,
            email_availability_check: env.or(
                "EMAIL_AVAILABILITY_CHECK",
                d.email_availability_check,
                parse_bool,
            )?,
        };
        if s.reuse_grace > MAX_REUSE_GRACE {
            bail!("REFRESH_REUSE_GRACE: at most 10s (a longer window lets a stolen token in)");
        }
        Ok(s)
    }
}
