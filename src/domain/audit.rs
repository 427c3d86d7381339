//! The audit log's events: who did what to whom, when, from where, and how it went. No secrets
//! and no raw tokens ever go in `details`.

use serde::Serialize;

/// One event as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[sqlx(rename_all = "camelCase")]
pub struct AuditEvent {
    pub id: String,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::domain::time::iso")]
    pub at: i64,
    pub app_id: Option<String>,
    /// Who acted (`None`: nobody signed in, e.g. a failed sign-in).
    pub actor_id: Option<String>,
    /// The admin behind an impersonated session.
    pub impersonator_id: Option<String>,
    pub actor_ip: Option<String>,
    pub user_agent: Option<String>,
    /// `sign-in`, `sign-up`, `sign-out`, `password-changed`, `password-reset`, `user-banned`, …
    pub action: String,
    /// `user`, `session`, …
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// `success` or `failure`.
    pub outcome: String,
    /// What else helps to read the event (a reason, a method, a role), as an object.
    // Stored as JSON text.
    #[schema(value_type = Object)]
    #[serde(serialize_with = "as_json")]
    pub details: String,
}

impl AuditEvent {
    /// Adds `key: value` to `details`.
    pub fn detail(&mut self, key: &str, value: &str) {
        let mut details: serde_json::Value = serde_json::from_str(&self.details).unwrap_or_default();
        if !details.is_object() {
            details = serde_json::json!({});
        }
        details[key] = serde_json::Value::from(value);
        self.details = details.to_string();
    }
}

fn as_json<S: serde::Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
    let value: serde_json::Value = serde_json::from_str(text).unwrap_or(serde_json::Value::Null);
    value.serialize(s)
}

/// The actions a user sees among their own security events (`GET /audit-log`).
pub const OWN_ACTIONS: &[&str] = &[
    "sign-in",
    "sign-up",
    "sign-out",
    "password-changed",
    "password-reset",
    "email-changed",
    "two-factor-changed",
    "user-banned",
    "user-unbanned",
    "account-locked",
    "impersonation-started",
    "impersonation-stopped",
];
