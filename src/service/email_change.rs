//! Following a link from `verify-email`: verifying the address, or completing an email change
//! (with its undo link and the notice to the old address).

use axum::http::StatusCode;
use serde_json::json;

use crate::{
    domain::model::{SessionRow, User},
    error::{ApiError, ApiResult},
    security::tokens::random_hex,
    service::{
        audit::{Record, recorded},
        links::{Purpose, consume, identifier, link, mail_vars},
    },
    state::AppState,
    store::{EndSessions, StoreError},
};

/// Applies the link's token: verifies the address, or completes an email change. `current`: the
/// session that follows the link, if any (kept when it is the user's; every other one ends).
pub async fn apply_link(state: &AppState, raw: &str, current: Option<&SessionRow>) -> ApiResult<()> {
    let unauthorized = StatusCode::UNAUTHORIZED;
    match consume(state, Purpose::Verify, raw, unauthorized).await {
        Ok(user_id) => {
            let user = state.store.user_by_id(&user_id).await?;
            return match user {
                Some(user) => mark_verified(state, &user).await,
                None => Err(ApiError::InvalidToken(unauthorized)),
            };
        }
        Err(ApiError::InvalidToken(_)) => {}
        Err(e) => return Err(e),
    }
    let value = consume(state, Purpose::ChangeEmail, raw, unauthorized).await?;
    let (user_id, new_email) = value.split_once('|').ok_or(ApiError::InvalidToken(unauthorized))?;
    // The session that follows the link (if it is the user's) stays; every other one ends.
    let keep = current.filter(|s| s.user_id == user_id).map(|s| s.token.clone());
    // The change and its notice run to the end even if the client hangs up: a change never goes
    // without its undo link and mail.
    let (st, user_id, new_email) = (state.clone(), user_id.to_string(), new_email.to_string());
    tokio::spawn(async move { change_email(&st, &user_id, &new_email, keep.as_deref()).await })
        .await
        .map_err(ApiError::internal)?
}

/// Marks `user`'s address verified, recording it (`email-verified`, reported as `user.updated`).
pub async fn mark_verified(state: &AppState, user: &User) -> ApiResult<()> {
    let event = Record::own("email-verified", user).with(json!({ "email": user.email }));
    recorded(state, event, None, state.store.set_email_verified(&user.id, state.clock.now_ms())).await?;
    Ok(())
}

/// Moves the user to `new_email` (ending every session but `keep`) with a new undo link stored in
/// the same transaction, then tells the old address, with that link (valid a week).
async fn change_email(state: &AppState, user_id: &str, new_email: &str, keep: Option<&str>) -> ApiResult<()> {
    let end = keep.map_or(EndSessions::All, EndSessions::AllBut);
    let undo = random_hex(32);
    let now = state.clock.now_ms();
    let undo_link =
        (identifier(state, Purpose::UndoEmailChange, &undo), now + Purpose::UndoEmailChange.ttl_ms());
    let Some(mut user) = state.store.user_by_id(user_id).await? else {
        return Err(ApiError::InvalidToken(StatusCode::UNAUTHORIZED));
    };
    let event = Record::own("email-changed", &user).with(json!({ "from": user.email, "to": new_email }));
    let change = state.store.change_email(user_id, new_email, end, (&undo_link.0, undo_link.1), now);
    let old = match recorded(state, event, None, change).await {
        Ok(Some(old)) => old,
        Ok(None) => return Err(ApiError::InvalidToken(StatusCode::UNAUTHORIZED)),
        Err(StoreError::Conflict) => return Err(ApiError::UserExists),
        Err(e) => return Err(e.into()),
    };
    user.email = new_email.to_string();
    let vars = minijinja::context! {
        new_email => new_email, old_email => old.clone(), expires_in => "7 days", ..mail_vars(state, &user)
    };
    let url = link(state, "/undo-email-change", &[("token", &undo)]);
    state.mailer.send_template("email-changed", "email-changed", &old, Some(url), Some(undo), vars, now);
    Ok(())
}
