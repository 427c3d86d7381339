//! The audit log: `GET /admin/audit-log` (permission `audit:read`: the app's events, by user,
//! action and time) and `GET /audit-log` (the caller's own security events: sign-ins, password
//! and email changes, …), newest first, a page at a time (`cursor` from the last page's
//! `nextCursor`).

use axum::{
    Json as JsonOut, Router,
    extract::{RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    domain::{
        admin,
        audit::{AuditEvent, OWN_ACTIONS},
        time::parse_ms,
    },
    error::{ApiError, ApiResult},
    http::{
        extract::{Authenticated, lenient_query},
        layers::no_store,
    },
    state::AppState,
    store::audit::AuditQuery,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/audit-log", get(admin_log)).route("/audit-log", get(own_log))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct LogQuery {
    user_id: Option<String>,
    action: Option<String>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

const MAX_PAGE: u32 = 200;

/// A time given as an RFC 3339 date-time or Unix milliseconds.
fn time(raw: Option<&str>, name: &str) -> ApiResult<Option<i64>> {
    match raw.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .or_else(|| parse_ms(v))
            .map(Some)
            .ok_or_else(|| ApiError::Validation(format!("[query.{name}] Expected a date-time"))),
    }
}

/// The query as a store query in `app`, and the page size.
fn parse(q: LogQuery, app: &str) -> ApiResult<AuditQuery> {
    let limit = match q.limit.as_deref().filter(|v| !v.is_empty()) {
        None => 50,
        Some(v) => {
            v.parse::<u32>().map_err(|_| ApiError::Validation("[query.limit] Expected a number".into()))?
        }
    };
    let before = match q.cursor.filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => {
            let bad = || ApiError::Validation("[query.cursor] Invalid cursor".into());
            let (at, id) = c.split_once(':').ok_or_else(bad)?;
            Some((at.parse().map_err(|_| bad())?, id.to_string()))
        }
    };
    Ok(AuditQuery {
        app: app.to_string(),
        as_impersonator: false,
        user_id: q.user_id.filter(|u| !u.is_empty()),
        actions: q
            .action
            .map(|a| a.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default(),
        since: time(q.since.as_deref(), "since")?,
        until: time(q.until.as_deref(), "until")?,
        before,
        limit: limit.clamp(1, MAX_PAGE),
    })
}

/// `{events, nextCursor}` (a cursor when the page is full).
fn answer(events: Vec<AuditEvent>, limit: u32) -> ApiResult<Response> {
    let next = (events.len() == limit as usize)
        .then(|| events.last().map(|e| format!("{}:{}", e.at, e.id)))
        .flatten();
    Ok(no_store(JsonOut(json!({ "events": events, "nextCursor": next })).into_response()))
}

/// `GET /admin/audit-log?userId&action&since&until&cursor&limit`: `{events, nextCursor}`.
async fn admin_log(
    State(state): State<AppState>,
    auth: Authenticated,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    if !admin::allows(&auth.user, &state.settings.admin.user_ids, "audit", "read") {
        return Err(ApiError::Coded(
            StatusCode::FORBIDDEN,
            "YOU_ARE_NOT_ALLOWED_TO_READ_THE_AUDIT_LOG",
            "You are not allowed to read the audit log",
        ));
    }
    let query = AuditQuery { as_impersonator: true, ..parse(lenient_query(raw), auth.user.app_key())? };
    answer(state.store.audit_events(&query).await?, query.limit)
}

/// `GET /audit-log?cursor&limit`: the caller's own security events.
async fn own_log(
    State(state): State<AppState>,
    auth: Authenticated,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let mut query = parse(lenient_query(raw), auth.user.app_key())?;
    query.user_id = Some(auth.user.id.clone());
    query.actions = OWN_ACTIONS.iter().map(|a| a.to_string()).collect();
    let mut events = state.store.audit_events(&query).await?;
    // Where an admin acted as the user, the admin's address and browser are the admin's.
    for e in events.iter_mut().filter(|e| e.impersonator_id.is_some()) {
        (e.actor_ip, e.user_agent) = (None, None);
    }
    answer(events, query.limit)
}
