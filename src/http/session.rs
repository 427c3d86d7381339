//! Sessions: creating one (shared by sign-in and sign-up), `get-session` with its sliding
//! refresh, listing and revocation.

use axum::{
    Json as JsonOut,
    extract::{RawQuery, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    domain::{
        app::Scope,
        model::{SessionRow, Subscription, User},
    },
    error::ApiResult,
    http::{
        answers::Status,
        extract::{Authenticated, Json, MaybeAuthenticated, NoBody, lenient_query},
        layers::no_store,
    },
    service::{
        apps::audience,
        audit::{Record, recorded},
        sessions::{ensure_fresh, slide, store_session},
    },
    state::AppState,
};

const TAG: &str = "Sessions";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_session))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(revoke_sessions))
        .routes(routes!(revoke_other_sessions))
}

/// The current session, its user and their subscription.
#[derive(Serialize, ToSchema)]
struct GetSessionAnswer<'a> {
    session: CurrentSession<'a>,
    user: &'a User,
    subscription: Subscription,
}

/// The session row, and whether it is restricted.
#[derive(Serialize, ToSchema)]
struct CurrentSession<'a> {
    #[serde(flatten)]
    row: &'a SessionRow,
    /// `true` when the server requires a second factor the user has not set up yet: the session
    /// may only enroll one (and no JWT comes with it). Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    restricted: Option<bool>,
}

#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct GetSessionQuery {
    /// `true`, `1` or empty: do not extend the session on this call. Any other value: extend it
    /// as usual.
    #[serde(default, deserialize_with = "lenient_bool")]
    #[param(value_type = String)]
    disable_refresh: bool,
    /// Accepted for compatibility (there is no cookie cache to bypass); same values as
    /// `disableRefresh`.
    #[serde(default, deserialize_with = "lenient_bool")]
    #[param(value_type = String)]
    #[allow(dead_code)]
    disable_cookie_cache: bool,
}

fn lenient_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let s = String::deserialize(d)?;
    Ok(matches!(s.as_str(), "true" | "1" | ""))
}

/// `GET /get-session`: `{session, user, subscription}` or `null`, always 200 (a restricted
/// session says `session.restricted: true`). A session last
/// refreshed more than `SESSION_UPDATE_AGE` ago is pushed out (never past the absolute cap) and
/// its cookie re-set; `rememberMe: false` sessions are never extended.
#[utoipa::path(get, path = "/get-session", tag = TAG, summary = "The current session and its user",
    params(GetSessionQuery),
    responses((status = 200, description = "The session, its user and subscription; `null` without a (live) session",
        body = Option<GetSessionAnswer>,
        headers(("set-auth-jwt" = String, description = "A JWT for services, when the server hands one out with the session (not for a restricted session)")))))]
async fn get_session(
    State(state): State<AppState>,
    scope: Scope,
    RawQuery(query): RawQuery,
    current: MaybeAuthenticated,
) -> ApiResult<Response> {
    let Some(Authenticated { mut session, user, subscription, handle, restricted }) = current.0 else {
        return Ok(no_store(JsonOut(serde_json::Value::Null).into_response()));
    };
    let query: GetSessionQuery = lenient_query(query);
    let now = state.clock.now_ms();
    let settings = &state.settings;
    if !query.disable_refresh
        && slide(&state, &mut session, now)
        && !store_session(&state, &handle, &session).await?
    {
        // Ended while this request was under way.
        return Ok(no_store(JsonOut(serde_json::Value::Null).into_response()));
    }
    let subscription = Subscription::of(subscription.as_ref(), now);
    let plan = subscription.is_subscribed.then(|| subscription.product_id.clone()).flatten();
    let current = CurrentSession { row: &session, restricted: restricted.then_some(true) };
    let answer = GetSessionAnswer { session: current, user: &user, subscription };
    let mut res = no_store(JsonOut(answer).into_response());
    if restricted {
        // Only enrolling a second factor is allowed: said on the session, and no JWT.
        return Ok(res);
    }
    if settings.jwt.on_get_session {
        // A JWT for services rides along; failing to mint one must not fail get-session.
        match state.jwt.session_jwt(state.store.as_ref(), &session, &user, plan, audience(&scope), now).await
        {
            Ok(jwt) => {
                if let Ok(v) = HeaderValue::from_str(&jwt) {
                    res.headers_mut().insert("set-auth-jwt", v);
                    res.headers_mut().append(
                        header::ACCESS_CONTROL_EXPOSE_HEADERS,
                        HeaderValue::from_static("set-auth-jwt"),
                    );
                }
            }
            Err(e) => tracing::error!(error = %e, "could not mint the get-session JWT"),
        }
    }
    Ok(res)
}

/// `GET /list-sessions` (fresh session required): the user's live sessions.
#[utoipa::path(get, path = "/list-sessions", tag = TAG, summary = "List the user's live sessions",
    responses((status = 200, description = "The user's live sessions (not those an admin opened as the user); needs a fresh session",
        body = Vec<SessionRow>)),
    security(("session" = []), ("bearer" = [])))]
async fn list_sessions(State(state): State<AppState>, auth: Authenticated) -> ApiResult<Response> {
    ensure_fresh(&state, &auth.session)?;
    let now = state.clock.now_ms();
    // Sessions an admin opened as this user are not the user's to see (as in Better Auth).
    let mut sessions = state.store.list_sessions(&auth.user.id, now).await?;
    sessions.retain(|s| s.impersonated_by.is_none());
    Ok(no_store(JsonOut(sessions).into_response()))
}

/// Which session to end.
#[derive(Deserialize, ToSchema)]
struct RevokeSessionBody {
    /// The session's token (raw, or signed as in the cookie).
    token: String,
}

/// `POST /revoke-session {token}`: ends one of the caller's own sessions (raw or signed token).
#[utoipa::path(post, path = "/revoke-session", tag = TAG, summary = "End one of the user's sessions",
    request_body = RevokeSessionBody,
    responses((status = 200, description = "Ended (also when no session of the user has this token)", body = Status)),
    security(("session" = []), ("bearer" = [])))]
async fn revoke_session(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<RevokeSessionBody>,
) -> ApiResult<JsonOut<Status>> {
    let token =
        state.verify_signed(&state.session_cookie, &body.token).map_or(body.token, |(token, _)| token);
    let event = Record::own("session-revoked", &auth.user).through(&auth.session);
    if token == auth.session.token {
        recorded(&state, event, None, auth.handle.flush()).await?;
    } else {
        recorded(&state, event, None, state.store.delete_user_session(&auth.user.id, &token)).await?;
    }
    Ok(JsonOut(Status::YES))
}

/// `POST /revoke-sessions`: ends every session of the caller, this one included.
#[utoipa::path(post, path = "/revoke-sessions", tag = TAG, summary = "End every session of the user, this one included",
    request_body(content = NoBody, description = "An empty object"),
    responses((status = 200, description = "Every session ended", body = Status)),
    security(("session" = []), ("bearer" = [])))]
async fn revoke_sessions(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(_empty): Json<NoBody>,
) -> ApiResult<JsonOut<Status>> {
    let event = Record::own("sessions-revoked", &auth.user).through(&auth.session);
    recorded(&state, event, None, state.store.delete_user_sessions(&auth.user.id, None)).await?;
    auth.handle.flush().await?;
    Ok(JsonOut(Status::YES))
}

/// `POST /revoke-other-sessions`: ends every session of the caller but this one.
#[utoipa::path(post, path = "/revoke-other-sessions", tag = TAG, summary = "End every other session of the user",
    request_body(content = NoBody, description = "An empty object"),
    responses((status = 200, description = "Every session but this one ended", body = Status)),
    security(("session" = []), ("bearer" = [])))]
async fn revoke_other_sessions(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(_empty): Json<NoBody>,
) -> ApiResult<JsonOut<Status>> {
    let event =
        Record::own("sessions-revoked", &auth.user).through(&auth.session).with(json!({ "others": true }));
    let change = state.store.delete_user_sessions(&auth.user.id, Some(&auth.session.token));
    recorded(&state, event, None, change).await?;
    Ok(JsonOut(Status::YES))
}
