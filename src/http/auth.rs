//! Email + password: `sign-up/email`, `sign-in/email`, `sign-out`.

use axum::{
    Json as JsonOut, Router,
    extract::{FromRequestParts, State},
    http::request::Parts,
    response::{IntoResponse, Response},
    routing::post,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_cookies::Cookies;

use crate::{
    domain::{
        input::{Email, MAX_PASSWORD_LEN, NewPassword, parse_image, parse_name},
        model::{SessionRow, Subscription, User},
    },
    error::{ApiError, ApiResult},
    http::{
        extract::{ClientInfo, Json, JsonOrForm, NoBody, session_handle},
        layers::no_store,
        session::{base_cookie, start_session},
        verification::{
            Purpose, check_callback, in_background, link, mail_vars, send_link, send_verification,
        },
    },
    security::{password::Verified, tokens::random_id},
    state::AppState,
    store::StoreError,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sign-up/email", post(sign_up))
        .route("/sign-in/email", post(sign_in))
        .route("/sign-out", post(sign_out))
}

/// The parts of a request that sign-in and sign-up share: the session handle, cookies, and
/// who is asking.
pub struct SignInContext {
    handle: tower_sessions::Session,
    cookies: Cookies,
    client: ClientInfo,
}

impl FromRequestParts<AppState> for SignInContext {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let handle = session_handle(parts)?;
        let cookies =
            Cookies::from_request_parts(parts, state).await.map_err(|(_, msg)| ApiError::internal(msg))?;
        let Ok(client) = ClientInfo::from_request_parts(parts, state).await;
        Ok(Self { handle, cookies, client })
    }
}

impl SignInContext {
    /// Starts a new session for `user` on this request.
    pub async fn start(self, state: &AppState, user: &User, remember_me: bool) -> ApiResult<SessionRow> {
        start_session(state, &self.handle, &self.cookies, user, remember_me, self.client).await
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignUpBody {
    name: String,
    email: String,
    password: String,
    image: Option<String>,
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
    remember_me: Option<bool>,
}

#[derive(Serialize)]
struct SignUpAnswer {
    token: Option<String>,
    user: User,
    session: Option<SessionRow>,
}

/// `POST /sign-up/email`. A taken email is 409 `USER_EXISTS`, decided by the unique constraint;
/// with verification required the answer looks like a new sign-up (no enumeration) and carries
/// no session.
async fn sign_up(
    State(state): State<AppState>,
    ctx: SignInContext,
    JsonOrForm(body): JsonOrForm<SignUpBody>,
) -> ApiResult<Response> {
    check_callback(&state, body.callback_url.as_deref())?;
    let email = Email::parse(&body.email)?;
    let password = NewPassword::parse(&body.password)?;
    let name = parse_name(&body.name)?;
    let image = body.image.as_deref().map(parse_image).transpose()?;

    let hash = state.hasher.hash(password.as_str()).await?;
    let now = state.clock.now_ms();
    let user = User {
        id: random_id(),
        name,
        email: email.as_str().to_string(),
        email_verified: false,
        image,
        created_at: now,
        updated_at: now,
    };
    let require_verification = state.settings.require_email_verification;
    let callback = body.callback_url.clone();
    match state.store.create_user(&user, &hash).await {
        Ok(()) if state.settings.send_verification_on_sign_up || require_verification => {
            let (st, new_user) = (state.clone(), user.clone());
            in_background(async move { send_verification(&st, &new_user, callback.as_deref()).await });
        }
        Ok(()) => {}
        Err(StoreError::Conflict) if require_verification => {
            // Looks like a new sign-up to the client; the owner is told.
            let (st, email) = (state.clone(), user.email.clone());
            in_background(async move {
                let Some(owner) = st.store.credential_by_email(&email).await? else { return Ok(()) };
                let vars = mail_vars(&st, &owner.user);
                st.mailer.send_template(
                    "existing-account",
                    "verify",
                    &email,
                    None,
                    None,
                    vars,
                    st.clock.now_ms(),
                );
                Ok(())
            });
        }
        Err(StoreError::Conflict) => return Err(ApiError::UserExists),
        Err(e) => return Err(e.into()),
    }
    if require_verification {
        let answer = SignUpAnswer { token: None, user, session: None };
        return Ok(no_store(JsonOut(answer).into_response()));
    }
    let remember = body.remember_me.unwrap_or(true);
    let session = ctx.start(&state, &user, remember).await?;
    let answer = SignUpAnswer { token: Some(session.token.clone()), user, session: Some(session) };
    Ok(no_store(JsonOut(answer).into_response()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignInBody {
    email: String,
    password: String,
    remember_me: Option<bool>,
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
}

#[derive(Serialize)]
struct SignInAnswer {
    redirect: bool,
    token: String,
    url: Option<String>,
    user: User,
    session: SessionRow,
    subscription: Subscription,
}

/// `POST /sign-in/email`. Unknown email and wrong password give the same answer after the same
/// work (a dummy hash is verified for unknown emails).
async fn sign_in(
    State(state): State<AppState>,
    ctx: SignInContext,
    JsonOrForm(body): JsonOrForm<SignInBody>,
) -> ApiResult<Response> {
    check_callback(&state, body.callback_url.as_deref())?;
    let email = Email::parse(&body.email)?;
    if body.password.chars().count() > MAX_PASSWORD_LEN {
        return Err(ApiError::InvalidCredentials);
    }
    let now = state.clock.now_ms();
    if state.lockout.is_locked(&state.counters, email.as_str(), now).await {
        return Err(ApiError::AccountLocked);
    }
    let credential = state.store.credential_by_email(email.as_str()).await?;
    let stored = credential.as_ref().and_then(|c| c.password_hash.as_deref());
    let verified = state.hasher.verify(&body.password, stored).await?;
    let (Verified::Yes { rehash }, Some(credential)) = (verified, credential) else {
        if state.lockout.failed(&state.counters, email.as_str(), now).await {
            let st = state.clone();
            in_background(async move { send_lock_notice(&st, email.as_str()).await });
        }
        return Err(ApiError::InvalidCredentials);
    };
    let user = credential.user;
    state.lockout.clear(&state.counters, &user.email, now).await;
    if state.settings.require_email_verification && !user.email_verified {
        // A fresh link, at most one a minute per user.
        let since = state.clock.now_ms() - 60_000;
        if !state.store.verification_created_since(Purpose::Verify.prefix(), &user.id, since).await? {
            let (st, cb) = (state.clone(), body.callback_url.clone());
            in_background(async move { send_verification(&st, &user, cb.as_deref()).await });
        }
        return Err(ApiError::EmailNotVerified);
    }
    if rehash {
        let fresh = state.hasher.hash(&body.password).await?;
        state.store.set_password_hash(&user.id, &fresh, state.clock.now_ms()).await?;
    }
    let remember = body.remember_me.unwrap_or(true);
    let session = ctx.start(&state, &user, remember).await?;
    let subscription = state.store.subscription_for(&user.id).await?;
    let answer = SignInAnswer {
        redirect: body.callback_url.is_some(),
        token: session.token.clone(),
        url: body.callback_url,
        user,
        session,
        subscription: Subscription::of(subscription.as_ref(), state.clock.now_ms()),
    };
    Ok(no_store(JsonOut(answer).into_response()))
}

/// Tells the owner (if the email has an account) that it is locked, with a reset link.
async fn send_lock_notice(state: &AppState, email: &str) -> ApiResult<()> {
    let Some(found) = state.store.credential_by_email(email).await? else { return Ok(()) };
    let minutes = state.lockout.duration_ms / 60_000;
    let vars = minijinja::context! { lock_minutes => minutes, ..mail_vars(state, &found.user) };
    send_link(state, Purpose::Reset, &found.user.id, email, ("locked", "reset"), vars, |token| {
        link(state, &format!("/reset-password/{token}"), &[])
    })
    .await
}

/// `POST /sign-out`: deletes the session row and clears every auth cookie. Without a session
/// it still answers `{success: true}`.
async fn sign_out(
    State(state): State<AppState>,
    ctx: SignInContext,
    Json(_): Json<NoBody>,
) -> ApiResult<JsonOut<serde_json::Value>> {
    if ctx.handle.id().is_some() {
        ctx.handle.flush().await?;
    }
    for name in [state.dont_remember_cookie(), state.session_data_cookie()] {
        if ctx.cookies.get(&name).is_some() {
            ctx.cookies.remove(base_cookie(&state, name));
        }
    }
    Ok(JsonOut(json!({ "success": true })))
}
