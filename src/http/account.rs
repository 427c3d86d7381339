//! Account changes that need a session: `change-email` and `delete-user`.

use axum::{
    Json as JsonOut,
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_cookies::Cookies;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    domain::input::Email,
    error::{ApiError, ApiResult, ErrorBody},
    http::{
        answers::Status,
        extract::{Authenticated, Json, JsonOrForm, is_form, lenient_query},
        pages,
        redirect::check_callback,
    },
    service::{
        audit::{Record, recorded},
        links::{self, Purpose, identifier, in_background, link, mail_vars, peek, send_link},
        passwords::{check_current_password, send_reset},
        sessions::{ensure_fresh, expire_cookie},
    },
    state::AppState,
    store::{StoreError, Undone},
};

const TAG: &str = "Account";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(change_email))
        .routes(routes!(undo_page, undo))
        .routes(routes!(delete_user))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ChangeEmailBody {
    /// The address to move the account to.
    new_email: String,
    /// Where the confirmation link leads after the change (a relative path, or a trusted origin).
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
}

/// `POST /change-email` (sensitive, and the session must be fresh: a stolen old session cannot
/// move the account): a confirmation link goes to the new address and a notice to the old one;
/// the email changes only when the link is followed. If the new address belongs to another
/// account nothing is sent, and the answer is the same.
#[utoipa::path(post, path = "/change-email", tag = TAG, summary = "Ask to change the account's email address",
    request_body = ChangeEmailBody,
    responses((status = 200, description = "A confirmation link is on its way to the new address (the same answer when the address is taken); needs a fresh session",
        body = Status)),
    security(("session" = []), ("bearer" = [])))]
async fn change_email(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<ChangeEmailBody>,
) -> ApiResult<JsonOut<Status>> {
    check_callback(&state, &state.scope_of(&auth.user).await?, body.callback_url.as_deref())?;
    ensure_fresh(&state, &auth.session)?;
    let new_email = Email::parse(&body.new_email)?;
    if new_email.as_str() == auth.user.email {
        return Err(ApiError::Validation("[body.newEmail] Email is the same".into()));
    }
    let st = state.clone();
    let user = auth.user;
    in_background(async move {
        if st.store.credential_by_email(new_email.as_str(), user.app_key()).await?.is_some() {
            return Ok(());
        }
        let value = format!("{}|{}", user.id, new_email.as_str());
        let vars = || minijinja::context! { new_email => new_email.as_str(), ..mail_vars(&st, &user) };
        let message = ("change-email", "change-email");
        send_link(&st, Purpose::ChangeEmail, &value, new_email.as_str(), message, vars(), |token| {
            let mut query = vec![("token", token)];
            query.extend(body.callback_url.as_deref().map(|cb| ("callbackURL", cb)));
            link(&st, "/verify-email", &query)
        })
        .await?;
        let now = st.clock.now_ms();
        st.mailer.send_template("change-email-notice", "change-email", &user.email, None, None, vars(), now);
        Ok(())
    });
    Ok(JsonOut(Status::YES))
}

#[derive(Deserialize, Default, ToSchema)]
struct DeleteUserBody {
    /// The current password; without it the session must be fresh.
    password: Option<String>,
}

/// The account is gone.
#[derive(Serialize, ToSchema)]
struct UserDeleted {
    success: bool,
    /// `User deleted`.
    message: &'static str,
}

/// `POST /delete-user` (sensitive): needs the password, or a fresh session; removes the user,
/// their sessions, accounts, memberships and pending tokens, and the organizations they are the
/// only member of, and clears the cookies. The only owner of an organization with other members
/// must hand it over (or delete it) first.
#[utoipa::path(post, path = "/delete-user", tag = TAG, summary = "Delete the user and everything of theirs",
    request_body = DeleteUserBody,
    responses((status = 200, description = "Deleted; the session cookies are cleared", body = UserDeleted),
        (status = 400, description = "Wrong password, or (`YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER`) the user is the only owner of an organization with other members",
            body = ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
async fn delete_user(
    State(state): State<AppState>,
    auth: Authenticated,
    cookies: Cookies,
    Json(body): Json<DeleteUserBody>,
) -> ApiResult<JsonOut<UserDeleted>> {
    match body.password.as_deref() {
        Some(password) => check_current_password(&state, &auth.user, password).await?,
        None => ensure_fresh(&state, &auth.session)?,
    }
    let deleted = Record::own("user-deleted", &auth.user).with(json!({ "email": auth.user.email }));
    if recorded(&state, deleted, None, state.store.delete_user(&auth.user.id)).await?.is_err() {
        return Err(ApiError::Coded(
            StatusCode::BAD_REQUEST,
            "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER",
            "You are the only owner of an organization with other members: make another member an owner, or delete the organization, first",
        ));
    }
    let now = state.clock.now_ms();
    state.lockout.clear(&state.counters, state.store.as_ref(), &auth.user.lockout_key(), now).await?;
    auth.handle.flush().await?;
    for name in [state.dont_remember_cookie(), state.session_data_cookie()] {
        expire_cookie(&state, &cookies, name);
    }
    Ok(JsonOut(UserDeleted { success: true, message: "User deleted" }))
}

/// The token of the undo link mailed to the old address.
#[derive(Deserialize, Default, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
#[schema(as = UndoEmailChangeBody)]
struct UndoInput {
    /// The token from the link (a missing or empty one is an invalid link).
    #[serde(default)]
    #[schema(required = true)]
    #[param(required = false)]
    token: String,
}

/// The user and the address an undo token restores.
async fn undo_target(state: &AppState, token: &str) -> ApiResult<(String, String)> {
    let value = peek(state, Purpose::UndoEmailChange, token, StatusCode::BAD_REQUEST).await?;
    let (user_id, old) = value.split_once('|').ok_or(ApiError::InvalidToken(StatusCode::BAD_REQUEST))?;
    Ok((user_id.to_string(), old.to_string()))
}

/// `GET /undo-email-change?token=`: a confirmation page; changes nothing.
#[utoipa::path(get, path = "/undo-email-change", tag = TAG, summary = "The page confirming an email change undo",
    params(UndoInput),
    responses((status = 200, description = "A page with a form that posts the undo (nothing changes yet)", content_type = "text/html", body = String),
        (status = 400, description = "A page saying the link is invalid, used or expired", content_type = "text/html", body = String)))]
async fn undo_page(State(state): State<AppState>, RawQuery(query): RawQuery) -> ApiResult<Response> {
    let q: UndoInput = lenient_query(query);
    match undo_target(&state, &q.token).await {
        Ok((_, old)) => Ok(pages::undo_email_form(&state, &q.token, &old)),
        Err(e) if e.code().is_some() => Ok(pages::invalid_link(&state)),
        Err(e) => Err(e),
    }
}

/// `POST /undo-email-change {token}` (the confirmation page's form, or JSON): puts the old
/// address back, ends every session of the user, drops every pending link and code (and undo
/// links issued after this one), and clears the password: the restored address gets a reset
/// link to set a new one. 409 `USER_EXISTS`, with nothing changed, when another account has the
/// old address (only possible if it had it before the change).
#[utoipa::path(post, path = "/undo-email-change", tag = TAG, summary = "Undo an email change",
    request_body(content((UndoInput = "application/json"), (UndoInput = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "The old address is back, every session ended, and a password reset link is mailed to it: JSON for a JSON request, a page for the form",
            content((Status = "application/json"), (String = "text/html"))),
        (status = 400, description = "The token is invalid, used or expired (a page for the form)",
            content((ErrorBody = "application/json"), (String = "text/html"))),
        (status = 409, description = "Another account has the old address now; nothing changed (a page for the form)",
            content((ErrorBody = "application/json"), (String = "text/html")))))]
async fn undo(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonOrForm(body): JsonOrForm<UndoInput>,
) -> ApiResult<Response> {
    let from_form = is_form(&headers);
    let bad = StatusCode::BAD_REQUEST;
    let result = async {
        if body.token.is_empty() || body.token.len() > 256 {
            return Err(ApiError::InvalidToken(bad));
        }
        let stored = match links::stored(&state, Purpose::UndoEmailChange, &body.token).await? {
            Some((id, _)) => id,
            None => identifier(&state, Purpose::UndoEmailChange, &body.token),
        };
        // Its event names the user; a link past its time is spent by the store call alone.
        let owner = match undo_target(&state, &body.token).await {
            Ok((id, restored)) => state.store.user_by_id(&id).await?.map(|u| (u, restored)),
            Err(e) if e.code().is_none() => return Err(e),
            Err(_) => None,
        };
        let change = state.store.undo_email_change(&stored, state.clock.now_ms());
        let undone = match &owner {
            Some((user, restored)) => {
                let details = json!({ "from": user.email, "to": restored });
                recorded(&state, Record::own("email-change-undone", user).with(details), None, change).await
            }
            None => change.await,
        };
        match undone {
            Ok(Undone::Restored { user_id, email }) => {
                // The reset link goes to the address this undo restored, now (not whatever the
                // address is when a background task gets to it).
                let Some(mut user) = state.store.user_by_id(&user_id).await? else { return Ok(()) };
                user.email = email;
                send_reset(&state, &user, None).await
            }
            Ok(Undone::Invalid) => Err(ApiError::InvalidToken(bad)),
            Ok(Undone::Expired) => Err(ApiError::TokenExpired(bad)),
            Err(StoreError::Conflict) => Err(ApiError::UserExists),
            Err(e) => Err(e.into()),
        }
    }
    .await;
    match (result, from_form) {
        (Ok(()), false) => Ok(JsonOut(Status::YES).into_response()),
        (Ok(()), true) => Ok(pages::message(
            &state,
            "Email change undone",
            "Your old email address is back and every session is signed out. We sent it a link to set a new password.",
        )),
        (Err(ApiError::UserExists), true) => {
            let mut page = pages::message(
                &state,
                "Address taken",
                "Another account uses your old email address, so it cannot be restored. Contact support.",
            );
            *page.status_mut() = StatusCode::CONFLICT;
            Ok(page)
        }
        (Err(e), true) if e.code().is_some() => Ok(pages::invalid_link(&state)),
        (Err(e), _) => Err(e),
    }
}
