//! The audit log: `GET /admin/audit-log` (permission `audit:read`: the app's events, by user,
//! action and time) and `GET /audit-log` (the caller's own security events: sign-ins, password
//! and email changes, …), newest first, a page at a time (`cursor` from the last page's
//! `nextCursor`).

use axum::{
    Json as JsonOut,
    extract::{RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    domain::{
        admin,
        audit::{AuditEvent, OWN_ACTIONS},
        time::parse_ms,
    },
    error::{ApiError, ApiResult, ErrorBody},
    http::{
        extract::{Authenticated, strict_query},
        layers::no_store,
    },
    state::AppState,
    store::audit::AuditQuery,
};

const TAG: &str = "Audit log";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(admin_log)).routes(routes!(own_log))
}

/// Which events, and which page. Empty values count as absent.
#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct LogQuery {
    /// Only the events of this user.
    user_id: Option<String>,
    /// Only these actions, comma-separated (`sign-in,password-changed`).
    action: Option<String>,
    /// From this time on: an RFC 3339 date-time or Unix milliseconds.
    since: Option<String>,
    /// Up to this time: an RFC 3339 date-time or Unix milliseconds.
    until: Option<String>,
    /// The previous page's `nextCursor`.
    cursor: Option<String>,
    /// Events per page: 50 by default, at most 200 (more is read as 200, 0 as 1).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4_294_967_295.0)]
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

/// A page of events, newest first.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct AuditLogPage {
    events: Vec<AuditEvent>,
    /// The `cursor` of the next page; `null` when this page is the last (not full).
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// `{events, nextCursor}` (a cursor when the page is full).
fn answer(events: Vec<AuditEvent>, limit: u32) -> ApiResult<Response> {
    let next_cursor = (events.len() == limit as usize)
        .then(|| events.last().map(|e| format!("{}:{}", e.at, e.id)))
        .flatten();
    Ok(no_store(JsonOut(AuditLogPage { events, next_cursor }).into_response()))
}

/// `GET /admin/audit-log?userId&action&since&until&cursor&limit`: `{events, nextCursor}`.
#[utoipa::path(get, path = "/admin/audit-log", tag = TAG, summary = "Read the app's audit log (admins)",
    params(LogQuery),
    responses((status = 200, description = "A page of the app's events, newest first", body = AuditLogPage),
        (status = 403,
            description = "`YOU_ARE_NOT_ALLOWED_TO_READ_THE_AUDIT_LOG`: no `audit:read` permission",
            body = ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
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
    let query = AuditQuery { as_impersonator: true, ..parse(strict_query(raw)?, auth.user.app_key())? };
    answer(state.store.audit_events(&query).await?, query.limit)
}

/// `GET /audit-log?cursor&limit`: the caller's own security events.
#[utoipa::path(get, path = "/audit-log", tag = TAG, summary = "Read the caller's own security events",
    params(
        ("since" = Option<String>, Query,
            description = "From this time on: an RFC 3339 date-time or Unix milliseconds"),
        ("until" = Option<String>, Query,
            description = "Up to this time: an RFC 3339 date-time or Unix milliseconds"),
        ("cursor" = Option<String>, Query, description = "The previous page's `nextCursor`"),
        ("limit" = Option<i64>, Query, minimum = 0, maximum = 4_294_967_295.0,
            description = "Events per page: 50 by default, at most 200 (more is read as 200, 0 as 1)"),
    ),
    responses((status = 200,
        description = "A page of the caller's sign-ins, password and email changes and such, newest first",
        body = AuditLogPage)),
    security(("session" = []), ("bearer" = [])))]
async fn own_log(
    State(state): State<AppState>,
    auth: Authenticated,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let mut query = parse(strict_query(raw)?, auth.user.app_key())?;
    query.user_id = Some(auth.user.id.clone());
    query.actions = OWN_ACTIONS.iter().map(|a| a.to_string()).collect();
    let mut events = state.store.audit_events(&query).await?;
    // Where an admin acted as the user, the admin's address and browser are the admin's.
    for e in events.iter_mut().filter(|e| e.impersonator_id.is_some()) {
        (e.actor_ip, e.user_agent) = (None, None);
    }
    answer(events, query.limit)
}
