//! Sessions: creating one (shared by sign-in and sign-up), `get-session` with its sliding
//! refresh, listing and revocation.

use axum::{
    Json as JsonOut, Router,
    extract::{RawQuery, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{
    domain::{
        app::Scope,
        model::{SessionRow, Subscription, User},
    },
    error::{ApiError, ApiResult},
    http::{
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

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/get-session", get(get_session))
        .route("/list-sessions", get(list_sessions))
        .route("/revoke-session", post(revoke_session))
        .route("/revoke-sessions", post(revoke_sessions))
        .route("/revoke-other-sessions", post(revoke_other_sessions))
}

#[derive(Serialize)]
struct SessionAnswer<'a> {
    session: &'a SessionRow,
    user: &'a User,
    subscription: Subscription,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct GetSessionQuery {
    #[serde(default, deserialize_with = "lenient_bool")]
    disable_refresh: bool,
    // Accepted for compatibility; there is no cookie cache to bypass yet.
    #[serde(default, deserialize_with = "lenient_bool")]
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
    let answer = SessionAnswer { session: &session, user: &user, subscription };
    if restricted {
        // Only enrolling a second factor is allowed: said on the session, and no JWT.
        let mut answer = serde_json::to_value(&answer).map_err(ApiError::internal)?;
        answer["session"]["restricted"] = serde_json::Value::Bool(true);
        return Ok(no_store(JsonOut(answer).into_response()));
    }
    let mut res = no_store(JsonOut(answer).into_response());
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
async fn list_sessions(State(state): State<AppState>, auth: Authenticated) -> ApiResult<Response> {
    ensure_fresh(&state, &auth.session)?;
    let now = state.clock.now_ms();
    // Sessions an admin opened as this user are not the user's to see (as in Better Auth).
    let mut sessions = state.store.list_sessions(&auth.user.id, now).await?;
    sessions.retain(|s| s.impersonated_by.is_none());
    Ok(no_store(JsonOut(sessions).into_response()))
}

#[derive(Deserialize)]
struct RevokeBody {
    token: String,
}

/// `POST /revoke-session {token}`: ends one of the caller's own sessions (raw or signed token).
async fn revoke_session(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<RevokeBody>,
) -> ApiResult<JsonOut<serde_json::Value>> {
    let token =
        state.verify_signed(&state.session_cookie, &body.token).map_or(body.token, |(token, _)| token);
    let event = Record::own("session-revoked", &auth.user).through(&auth.session);
    if token == auth.session.token {
        recorded(&state, event, None, auth.handle.flush()).await?;
    } else {
        recorded(&state, event, None, state.store.delete_user_session(&auth.user.id, &token)).await?;
    }
    Ok(JsonOut(json!({ "status": true })))
}

/// `POST /revoke-sessions`: ends every session of the caller, this one included.
async fn revoke_sessions(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(_): Json<NoBody>,
) -> ApiResult<JsonOut<serde_json::Value>> {
    let event = Record::own("sessions-revoked", &auth.user).through(&auth.session);
    recorded(&state, event, None, state.store.delete_user_sessions(&auth.user.id, None)).await?;
    auth.handle.flush().await?;
    Ok(JsonOut(json!({ "status": true })))
}

/// `POST /revoke-other-sessions`: ends every session of the caller but this one.
async fn revoke_other_sessions(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(_): Json<NoBody>,
) -> ApiResult<JsonOut<serde_json::Value>> {
    let event =
        Record::own("sessions-revoked", &auth.user).through(&auth.session).with(json!({ "others": true }));
    let change = state.store.delete_user_sessions(&auth.user.id, Some(&auth.session.token));
    recorded(&state, event, None, change).await?;
    Ok(JsonOut(json!({ "status": true })))
}
