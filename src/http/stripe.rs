//! `POST /stripe/webhook`: Stripe's subscription events keep the `subscription` table current.
//!
//! The `Stripe-Signature` header (`t=…,v1=…[,v1=…]`) must carry an HMAC-SHA256 of `t.body` under
//! `STRIPE_WEBHOOK_SECRET`, compared in constant time, with `t` within 5 minutes of now; else 400
//! and nothing is stored. Each event is applied once (its id is recorded in the same
//! transaction), so a replay changes nothing. Unknown event types are acknowledged.

use axum::{
    Json as JsonOut,
    body::{Body, Bytes},
    extract::State,
    http::HeaderMap,
};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    config::Secret,
    domain::model::SubscriptionRow,
    error::{ApiError, ApiResult},
    http::body_limit::read_limited,
    security::tokens::constant_time_eq,
    state::AppState,
};

const TOLERANCE_SECS: i64 = 300;

const TAG: &str = "Stripe";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(webhook))
}

/// Checks a `Stripe-Signature` header for `payload` at `now_secs`.
pub fn signature_ok(secret: &Secret, header: &str, payload: &[u8], now_secs: i64) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", sig)) => signatures.push(sig.to_string()),
            _ => {}
        }
    }
    let Some(t) = timestamp else { return false };
    if now_secs.abs_diff(t) > TOLERANCE_SECS.unsigned_abs() {
        return false;
    }
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    signatures.iter().any(|s| constant_time_eq(s.as_bytes(), expected.as_bytes()))
}

/// The event is acknowledged.
#[derive(Serialize, ToSchema)]
struct WebhookAnswer {
    received: bool,
    /// For a subscription event that was stored: whether it had been applied before (a replay,
    /// which changes nothing). Absent for other events.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    duplicate: Option<bool>,
}

impl WebhookAnswer {
    const RECEIVED: Self = Self { received: true, duplicate: None };
}

/// `POST /stripe/webhook`: applies `customer.subscription.*` events; acknowledges the others.
#[utoipa::path(post, path = "/stripe/webhook", tag = TAG, summary = "Receive a Stripe event",
    params(("Stripe-Signature" = String, Header,
        description = "`t=<seconds>,v1=<hex HMAC-SHA256 of \"t.body\" under the webhook secret>`; \
            `t` within 5 minutes of now")),
    request_body(content = Object, content_type = "application/json",
        description = "Stripe's event JSON (`id`, `type`, `created`, `data.object`), verified by `Stripe-Signature`"),
    responses((status = 200, description = "Acknowledged (also for event types that are not stored). A missing, wrong \
        or stale signature (or no webhook secret set) is 400 `INVALID_SIGNATURE`, and nothing is stored",
        body = WebhookAnswer)))]
async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<JsonOut<WebhookAnswer>> {
    let payload: Bytes = read_limited(&headers, body, state.settings.max_body_bytes).await?;
    let Some(secret) = state.settings.stripe_webhook_secret.as_ref() else {
        tracing::warn!("Stripe webhook called but STRIPE_WEBHOOK_SECRET is not set");
        return Err(ApiError::InvalidSignature);
    };
    let header = headers.get("stripe-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let now = state.clock.now_ms();
    if !signature_ok(secret, header, &payload, now / 1000) {
        return Err(ApiError::InvalidSignature);
    }
    let event: Value = serde_json::from_slice(&payload)
        .map_err(|_| ApiError::Validation("[body] Invalid JSON body".into()))?;
    let (Some(id), Some(kind)) = (event["id"].as_str(), event["type"].as_str()) else {
        return Err(ApiError::Validation("[body] event without id or type".into()));
    };
    if !matches!(
        kind,
        "customer.subscription.created" | "customer.subscription.updated" | "customer.subscription.deleted"
    ) {
        return Ok(JsonOut(WebhookAnswer::RECEIVED));
    }
    // Stripe may deliver out of order or retry days later: an event counts from when it was
    // created, and an older one never overwrites a newer state (nor revives a canceled one).
    let created = event["created"].as_i64().map_or(now, |s| s * 1000);
    let Some(row) = subscription_row(&event["data"]["object"], kind, created) else {
        tracing::warn!(
            event = id,
            "subscription event without metadata.referenceId or id: acknowledged, not stored"
        );
        return Ok(JsonOut(WebhookAnswer::RECEIVED));
    };
    let applied = state.store.apply_stripe_event(id, kind, &row, now).await?;
    Ok(JsonOut(WebhookAnswer { received: true, duplicate: Some(!applied) }))
}

/// Maps a Stripe subscription object: plan from the price's `lookup_key` (else its product),
/// owner from `metadata.referenceId`, times from seconds to milliseconds.
fn subscription_row(object: &Value, kind: &str, now: i64) -> Option<SubscriptionRow> {
    let id = object["id"].as_str()?.to_string();
    let reference_id = object["metadata"]["referenceId"].as_str()?.to_string();
    let item = &object["items"]["data"][0];
    let price = &item["price"];
    let plan = price["lookup_key"]
        .as_str()
        .or_else(|| price["product"].as_str())
        .or_else(|| object["plan"]["product"].as_str())
        .unwrap_or("unknown")
        .to_string();
    // Newer API versions put the period on the item.
    let seconds = |field: &str| object[field].as_i64().or_else(|| item[field].as_i64()).map(|s| s * 1000);
    let status = if kind == "customer.subscription.deleted" {
        "canceled".to_string()
    } else {
        object["status"].as_str().unwrap_or("incomplete").to_string()
    };
    Some(SubscriptionRow {
        id: id.clone(),
        plan,
        reference_id,
        status,
        period_start: seconds("current_period_start"),
        period_end: seconds("current_period_end"),
        cancel_at_period_end: object["cancel_at_period_end"].as_bool().unwrap_or(false),
        seats: item["quantity"].as_i64(),
        stripe_customer_id: object["customer"].as_str().map(str::to_string),
        stripe_subscription_id: Some(id),
        created_at: now,
        updated_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, t: i64, payload: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.{payload}").as_bytes());
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn signatures() {
        let secret = Secret::new("whsec_test");
        let sig = sign("whsec_test", 1000, "{}");
        assert!(signature_ok(&secret, &format!("t=1000,v1={sig}"), b"{}", 1000));
        assert!(signature_ok(&secret, &format!("t=1000,v1=deadbeef,v1={sig},v0=x"), b"{}", 1200));
        assert!(!signature_ok(&secret, &format!("t=1000,v1={sig}"), b"{}", 1301), "stale");
        assert!(!signature_ok(&secret, &format!("t=1000,v1={sig}"), b"{ }", 1000), "other payload");
        assert!(!signature_ok(&Secret::new("other"), &format!("t=1000,v1={sig}"), b"{}", 1000));
        assert!(!signature_ok(&secret, "v1=abc", b"{}", 1000));
    }
}
