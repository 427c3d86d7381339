//! The admin API: `ADMIN_USER_IDS`, `IMPERSONATION_SESSION_DURATION`.

use std::time::Duration;

use super::env::*;

#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// Users who may do everything in the admin API, whatever their role (the first admins).
    pub user_ids: Vec<String>,
    /// How long a session an admin opens as another user lasts.
    pub impersonation_lifetime: Duration,
    /// Audit events older than this are deleted (`AUDIT_RETENTION_DAYS`).
    pub audit_retention: Duration,
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            user_ids: Vec::new(),
            impersonation_lifetime: Duration::from_secs(3600),
            audit_retention: Duration::from_secs(365 * 86_400),
        }
    }
}

impl AdminSettings {
    pub fn read(env: &Env) -> anyhow::Result<Self> {
        let d = Self::default();
        Ok(Self {
            user_ids: env
                .get("ADMIN_USER_IDS")
                .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
                .unwrap_or(d.user_ids),
            impersonation_lifetime: env.or(
                "IMPERSONATION_SESSION_DURATION",
                d.impersonation_lifetime,
                |v| parse_duration(v).filter(|d| !d.is_zero()),
            )?,
            audit_retention: env.or("AUDIT_RETENTION_DAYS", d.audit_retention, |v| {
                v.parse::<u64>().ok().filter(|d| *d >= 1).map(|d| Duration::from_secs(d * 86_400))
            })?,
        })
    }
}
