//! Access and refresh tokens for API and mobile clients. A session stays the root of trust: a
//! pair is issued for a live session, each refresh token belongs to one (and dies with it), and a
//! refresh counts as the session's activity.
//!
//! Refresh tokens rotate on every use (RFC 9700 §4.14): the spent one is kept, marked, so that
//! presenting it again is recognised as theft and ends the whole family and its session. A
//! child's value is an HMAC of its parent's (under a key of its own), so within the grace window a
//! retried refresh can be answered with the same child without storing any token.

use crate::{
    domain::{
        app::Scope,
        model::{SessionRow, Subscription, SubscriptionRow, User},
        time::duration_ms,
    },
    error::{ApiError, ApiResult},
    jwt::Minted,
    security::tokens::{random_hex, random_id},
    service::{
        apps::audience,
        sessions::slide,
        sign_in::{Proof, check_account, second_factor_setup_pending},
    },
    state::AppState,
    store::{RefreshFound, RefreshRow, StoreError},
};

/// A new access token and refresh token; lifetimes in seconds. (Serialized camelCase, as a
/// sign-in answer carries it; the token routes use RFC 6749's names.)
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pair {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub refresh_token_expires_in: i64,
}

/// An access token and a refresh token, in a sign-in answer only when asked for
/// (`issueTokens: true`); lifetimes in seconds.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code, reason = "describes the flattened Option<Pair>; the answer serializes Pair")]
pub struct PairIfAsked {
    access_token: Option<String>,
    expires_in: Option<i64>,
    refresh_token: Option<String>,
    refresh_token_expires_in: Option<i64>,
}

/// The refresh errors.
const REUSED: ApiError = ApiError::Coded(
    axum::http::StatusCode::UNAUTHORIZED,
    "REFRESH_TOKEN_REUSED",
    "This refresh token was already used: its session has been ended. Sign in again.",
);
const EXPIRED: ApiError =
    ApiError::Coded(axum::http::StatusCode::UNAUTHORIZED, "REFRESH_TOKEN_EXPIRED", "Refresh token expired");

/// A pair for `session`, starting a new family. `owns_session`: the session was started for
/// these tokens (sign-in with `issueTokens`), so revoking them ends it.
pub async fn issue(
    state: &AppState,
    session: &SessionRow,
    user: &User,
    subscription: Option<&SubscriptionRow>,
    owns_session: bool,
) -> ApiResult<Pair> {
    let now = state.clock.now_ms();
    let raw = random_hex(32);
    let id = random_id();
    let row = RefreshRow {
        family_id: id.clone(),
        id,
        token_hash: state.token_keys.hash(&raw),
        session_id: session.id.clone(),
        user_id: user.id.clone(),
        owns_session,
        created_at: now,
        expires_at: now + idle_ms(state, user).await?,
        rotated_at: None,
    };
    match state.store.insert_refresh_token(&row).await {
        // The session ended while this request ran.
        Err(StoreError::Gone) => return Err(ApiError::Unauthorized),
        done => done?,
    }
    answer(state, session, user, subscription, raw, row.expires_at, now).await
}

/// Swaps a refresh token for a new pair, spending it:
/// - unknown (never issued, revoked, or its session ended): 401 `INVALID_TOKEN`;
/// - spent: within `REFRESH_REUSE_GRACE` of its rotation and while its child is unused, that same
///   child again; otherwise theft: its session ends (and every family of it) and 401
///   `REFRESH_TOKEN_REUSED`;
/// - expired, or its session is: 401 `REFRESH_TOKEN_EXPIRED`, nothing revoked;
/// - the account checks of the sign-in gate (403 `ACCOUNT_LOCKED`), and 403
///   `TWO_FACTOR_REQUIRED` while the server requires a second factor the user lacks.
pub async fn refresh(state: &AppState, scope: &Scope, raw: &str) -> ApiResult<Pair> {
    // A lost race to rotate reads the token again: it is spent then (the grace, or reuse).
    for _ in 0..2 {
        let now = state.clock.now_ms();
        // Another app's token is unknown here: nothing is rotated or revoked.
        let Some(RefreshFound { row, session_token, .. }) =
            find(state, raw).await?.filter(|f| f.app_key == scope.key())
        else {
            return Err(ApiError::InvalidToken(axum::http::StatusCode::UNAUTHORIZED));
        };
        if let Some(rotated_at) = row.rotated_at {
            return replay(state, raw, &row, rotated_at, &session_token, now).await;
        }
        if row.expires_at <= now {
            return Err(EXPIRED);
        }
        let Some((mut session, user, subscription)) =
            state.store.session_with_user(&session_token, now).await?
        else {
            return Err(EXPIRED);
        };
        account_checks(state, &user).await?;
        let child_raw = child_of(state, raw);
        let child = RefreshRow {
            id: random_id(),
            token_hash: state.token_keys.hash(&child_raw),
            created_at: now,
            expires_at: now + idle_ms(state, &user).await?,
            rotated_at: None,
            ..row.clone()
        };
        if !state.store.rotate_refresh_token(&row.id, &child, now).await? {
            continue;
        }
        if slide(state, &mut session, now) {
            state.store.update_session(&session).await?;
        }
        return answer(state, &session, &user, subscription.as_ref(), child_raw, child.expires_at, now).await;
    }
    // Two lost rotations of a token read as unspent both times: it expired meanwhile.
    Err(EXPIRED)
}

/// A spent token presented again: the same child within the grace window (a retry), else theft.
async fn replay(
    state: &AppState,
    raw: &str,
    row: &RefreshRow,
    rotated_at: i64,
    session_token: &str,
    now: i64,
) -> ApiResult<Pair> {
    let grace = duration_ms(state.settings.clients.reuse_grace);
    if grace > 0 && now - rotated_at <= grace {
        // The child as derived now, or under an older secret's key (rotated before a rotation).
        let mut child = None;
        for candidate in children_of(state, raw) {
            if let Some(found) = find(state, &candidate).await? {
                child = Some((candidate, found));
                break;
            }
        }
        let live = state.store.session_with_user(session_token, now).await?;
        if let (Some((child_raw, RefreshFound { row: child, .. })), Some((session, user, subscription))) =
            (child, live)
            && child.rotated_at.is_none()
            && child.expires_at > now
        {
            account_checks(state, &user).await?;
            return answer(state, &session, &user, subscription.as_ref(), child_raw, child.expires_at, now)
                .await;
        }
    }
    tracing::warn!(
        user_id = %row.user_id,
        session_id = %row.session_id,
        family_id = %row.family_id,
        "spent refresh token presented again: session and its refresh tokens revoked"
    );
    state.store.end_refresh_session(&row.session_id).await?;
    Err(REUSED)
}

/// Revokes a refresh token's family (RFC 7009): with its session when the family came with it.
/// Unknown tokens, and access tokens (which expire on their own), change nothing.
pub async fn revoke(state: &AppState, scope: &Scope, raw: &str) -> ApiResult<()> {
    let Some(RefreshFound { row, .. }) = find(state, raw).await?.filter(|f| f.app_key == scope.key()) else {
        return Ok(());
    };
    if row.owns_session {
        state.store.end_refresh_session(&row.session_id).await?;
    } else {
        state.store.delete_refresh_family(&row.family_id).await?;
    }
    Ok(())
}

/// The sign-in gate's account checks, and no pair while the server requires a second factor the
/// user has not set up (403 `TWO_FACTOR_REQUIRED`).
async fn account_checks(state: &AppState, user: &User) -> ApiResult<()> {
    check_account(state, user, Proof::RefreshToken).await?;
    if second_factor_setup_pending(state, user) {
        return Err(ApiError::TwoFactorRequired);
    }
    Ok(())
}

/// A stored refresh token by its raw value: kept under the current secret's key, or under an
/// older secret's (issued before a rotation of `BETTER_AUTH_SECRETS`).
async fn find(state: &AppState, raw: &str) -> ApiResult<Option<RefreshFound>> {
    for hash in state.token_keys.hashes(raw) {
        if let Some(found) = state.store.refresh_token(&hash).await? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// The token a refresh token is rotated into.
fn child_of(state: &AppState, raw: &str) -> String {
    state.refresh_keys.hash(raw)
}

/// What a refresh token was rotated into under each listed secret, the current one first.
fn children_of<'a>(state: &'a AppState, raw: &'a str) -> impl Iterator<Item = String> + 'a {
    state.refresh_keys.hashes(raw)
}

/// `REFRESH_TOKEN_IDLE`, or the user's app's shorter one.
async fn idle_ms(state: &AppState, user: &User) -> ApiResult<i64> {
    Ok(state.scope_of(user).await?.refresh_idle_ms(duration_ms(state.settings.clients.refresh_idle)))
}

/// The pair: a new access token, and `refresh` with what is left of it (never past its session).
async fn answer(
    state: &AppState,
    session: &SessionRow,
    user: &User,
    subscription: Option<&SubscriptionRow>,
    refresh: String,
    refresh_expires_at: i64,
    now: i64,
) -> ApiResult<Pair> {
    let plan = Subscription::plan_of(subscription, now);
    let scope = state.scope_of(user).await?;
    let audience = audience(&scope);
    let access_token =
        state.jwt.mint(state.store.as_ref(), (session, user), plan, (Minted::Access, audience), now).await?;
    let refresh_ends = refresh_expires_at.min(session.expires_at);
    Ok(Pair {
        access_token,
        expires_in: state.jwt.access_lifetime_ms(audience) / 1000,
        refresh_token: refresh,
        refresh_token_expires_in: (refresh_ends - now).max(0) / 1000,
    })
}
