//! Outbound webhooks: which audit actions are reported as which event types, the body an event is
//! sent with, how deliveries back off, and the `Gatehouse-Signature` header.

use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::Sha256;

use super::{audit::AuditEvent, model::User, time::format_ms};

/// The event types, as receivers see them.
pub const TYPES: &[&str] = &[
    "user.created",
    "user.updated",
    "user.deleted",
    "user.banned",
    "session.created",
    "session.revoked",
    "email.changed",
    "password.changed",
    "organization.member.added",
    "organization.member.removed",
];

/// The event type a successful audit action is reported as (`None`: not reported).
pub fn type_of(action: &str) -> Option<&'static str> {
    Some(match action {
        "sign-up" | "user-created" => "user.created",
        "user-updated" | "profile-updated" | "email-verified" | "role-changed" | "user-unbanned" => {
            "user.updated"
        }
        "user-deleted" | "user-removed" => "user.deleted",
        "user-banned" => "user.banned",
        "sign-in" | "impersonation-started" => "session.created",
        "sign-out" | "session-revoked" | "sessions-revoked" | "impersonation-stopped" => "session.revoked",
        "email-changed" | "email-change-undone" => "email.changed",
        "password-changed" | "password-reset" | "password-set" => "password.changed",
        // Creating an organization makes its creator its owner.
        "member-added" | "organization-created" => "organization.member.added",
        "member-removed" | "member-left" => "organization.member.removed",
        _ => return None,
    })
}

/// The event `e` reports, if any: a success whose action has a type.
pub fn reported(e: &AuditEvent) -> Option<&'static str> {
    (e.outcome == "success").then(|| type_of(&e.action)).flatten()
}

/// The user an event is about: its `details.userId` (a member added or removed by someone else),
/// else its target user, else who acted. Deliveries to one endpoint about one user keep their order.
pub fn user_of(e: &AuditEvent) -> Option<String> {
    let details: Value = serde_json::from_str(&e.details).unwrap_or_default();
    if let Some(id) = details.get("userId").and_then(Value::as_str) {
        return Some(id.to_string());
    }
    match e.target_type.as_deref() {
        Some("user") => e.target_id.clone(),
        _ => e.actor_id.clone(),
    }
}

/// The body sent for `e` (`{id, type, createdAt, data}`): `data` names the user and what else the
/// event touched, carries the audit event's details, and the user as they are after the change
/// (`user`, absent when the change deleted them).
pub fn body(e: &AuditEvent, kind: &str, user: Option<&User>) -> String {
    let mut data = json!({
        "userId": user_of(e),
        "action": e.action,
        "actorId": e.actor_id,
        "details": serde_json::from_str::<Value>(&e.details).unwrap_or_else(|_| json!({})),
    });
    if let Some(app) = &e.app_id {
        data["appId"] = json!(app);
    }
    if let Some(impersonator) = &e.impersonator_id {
        data["impersonatorId"] = json!(impersonator);
    }
    if let (Some(t), Some(id)) = (e.target_type.as_deref(), e.target_id.as_deref())
        && t != "user"
    {
        data[format!("{t}Id")] = json!(id);
    }
    if let Some(user) = user {
        data["user"] = serde_json::to_value(user).unwrap_or(Value::Null);
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Body<'a> {
        id: &'a str,
        #[serde(rename = "type")]
        kind: &'a str,
        created_at: String,
        data: Value,
    }
    let body = Body { id: &e.id, kind, created_at: format_ms(e.at), data };
    serde_json::to_string(&body).unwrap_or_default()
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, as Stripe signs its webhooks:
/// a receiver recomputes `v1` and refuses a `t` too far from its own clock (a replay).
pub fn signature(secret: &str, unix_secs: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{unix_secs}.").as_bytes());
    mac.update(body.as_bytes());
    format!("t={unix_secs},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The first retry waits this long; each later one twice the one before, up to [`MAX_DELAY_MS`].
pub const FIRST_DELAY_MS: i64 = 10_000;
pub const MAX_DELAY_MS: i64 = 3_600_000;

/// When to try again after `attempts` failed attempts of a delivery made at `created_at`, or
/// `None` when that would be past `retry_for_ms` after it (the delivery has failed for good).
pub fn next_attempt(created_at: i64, attempts: i32, now: i64, retry_for_ms: i64) -> Option<i64> {
    let doublings = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(20);
    let delay = FIRST_DELAY_MS.saturating_mul(1 << doublings).min(MAX_DELAY_MS);
    let at = now + delay;
    (at <= created_at + retry_for_ms).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour_and_stops_after_the_window() {
        let day = 86_400_000;
        assert_eq!(next_attempt(0, 1, 0, day), Some(10_000));
        assert_eq!(next_attempt(0, 2, 0, day), Some(20_000));
        assert_eq!(next_attempt(0, 5, 0, day), Some(160_000));
        assert_eq!(next_attempt(0, 30, 0, day), Some(MAX_DELAY_MS));
        assert_eq!(next_attempt(0, 3, day - 1000, day), None);
    }

    #[test]
    fn every_type_has_an_action() {
        let actions = [
            "sign-up",
            "user-updated",
            "user-deleted",
            "user-banned",
            "sign-in",
            "sign-out",
            "email-changed",
            "password-changed",
            "member-added",
            "member-removed",
        ];
        let types: Vec<_> = actions.iter().filter_map(|a| type_of(a)).collect();
        assert_eq!(types, TYPES);
        assert_eq!(type_of("two-factor-changed"), None);
    }

    #[test]
    fn signature_is_stripes_scheme() {
        // `printf '1.{}' | openssl dgst -sha256 -hmac secret`
        let expected = "t=1,v1=1122767b193110cfec322b6f199b599edbf608ed087f2d27afb0b97d99523908";
        assert_eq!(signature("secret", 1, "{}"), expected);
    }
}
