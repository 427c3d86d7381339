//! Email + password: `sign-up/email`, `sign-in/email`, `sign-out`.

use axum::{
    Json as JsonOut,
    extract::State,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    domain::{
        fields,
        input::{Email, NewPassword, parse_image, parse_name},
        model::{SessionRow, Subscription, User},
    },
    error::{ApiError, ApiResult, OrChallenge},
    http::{
        answers::Success,
        extract::{BodyFields, Json, JsonOrForm, NoBody, WithExtras, required},
        layers::no_store,
        redirect::check_callback,
    },
    security::tokens::random_id,
    service::{
        audit::{Record, record_later, recorded},
        credentials::{Checked, check_password},
        links::{in_background, mail_vars, return_to, send_verification},
        sessions::{SignInContext, expire_cookie},
        sign_in::{Admission, Proof, admit},
        tokens, usernames,
    },
    state::AppState,
    store::{Credential, StoreError},
};

const TAG: &str = "Email and password";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(sign_up)).routes(routes!(sign_in)).routes(routes!(sign_out))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct SignUpBody {
    name: String,
    email: String,
    password: String,
    image: Option<String>,
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
    remember_me: Option<bool>,
    username: Option<String>,
    display_username: Option<String>,
}

impl BodyFields for SignUpBody {
    const FIELDS: &'static [&'static str] =
        &["name", "email", "password", "image", "callbackURL", "rememberMe", "username", "displayUsername"];
    const FORMS: bool = true;
}

/// Whether the username `user` asked for belongs to someone else (in their app).
async fn username_taken(state: &AppState, user: &User) -> ApiResult<bool> {
    let Some(username) = &user.username else { return Ok(false) };
    Ok(state.store.username_owner(username, user.app_key()).await?.is_some_and(|owner| owner != user.id))
}

#[derive(Serialize, ToSchema)]
struct SignUpAnswer {
    #[schema(required = true)]
    token: Option<String>,
    user: User,
    #[schema(required = true)]
    session: Option<SessionRow>,
}

/// `POST /sign-up/email`. A taken email is 409 `USER_EXISTS`, decided by the unique constraint;
/// with verification required the answer looks like a new sign-up (no enumeration) and carries
/// no session.
#[utoipa::path(post, path = "/sign-up/email", tag = TAG, summary = "Create an account with email and password",
    request_body(content((SignUpBody = "application/json"), (SignUpBody = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "Signed up; `token` and `session` are null when the email must be verified first",
        body = OrChallenge<SignUpAnswer>)))]
async fn sign_up(
    State(state): State<AppState>,
    ctx: SignInContext,
    WithExtras { body, extras, source }: WithExtras<SignUpBody>,
) -> ApiResult<Response> {
    check_callback(&state, &ctx.scope, body.callback_url.as_deref())?;
    let email = Email::parse(&body.email)?;
    let password =
        NewPassword::parse(&body.password, &ctx.scope.password_policy(&state.settings.passwords.policy))?;
    let name = parse_name(&body.name)?;
    let image = body.image.as_deref().map(parse_image).transpose()?;
    let (username, display) = (body.username.as_deref(), body.display_username.as_deref());
    let chosen = usernames::choose(&state, username, display, ctx.scope.key(), None).await?;
    let fields = fields::for_new_user(&state.settings.user_fields, extras, source, fields::By::User)?;

    let hash = state.hasher.hash(password.as_str()).await?;
    let now = state.clock.now_ms();
    let app_id = ctx.scope.app_id().map(String::from);
    let user = User {
        image,
        username: chosen.username,
        display_username: chosen.display_username,
        fields,
        ..User::new(random_id(), name, email.as_str().to_string(), app_id, now)
    };
    let require_verification =
        ctx.scope.require_email_verification(state.settings.sessions.require_email_verification);
    let callback = return_to(body.callback_url.as_deref());
    let signed_up = Record::own("sign-up", &user).from(&ctx.client).with(json!({ "method": "Password" }));
    match recorded(&state, signed_up, None, state.store.create_user(&user, &hash)).await {
        Ok(()) if state.settings.sessions.send_verification_on_sign_up || require_verification => {
            let (st, new_user) = (state.clone(), user.clone());
            in_background(async move { send_verification(&st, &new_user, Some(&callback)).await });
        }
        Ok(()) => {}
        // Taken since it was checked.
        Err(StoreError::Conflict) if username_taken(&state, &user).await? => return Err(usernames::TAKEN),
        Err(StoreError::Conflict) if require_verification => {
            // Looks like a new sign-up to the client; the owner is told.
            let (st, email, app) = (state.clone(), user.email.clone(), ctx.scope.key().to_string());
            in_background(async move {
                let Some(owner) = st.store.credential_by_email(&email, &app).await? else { return Ok(()) };
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
    let remember_me = body.remember_me.unwrap_or(true);
    let admission =
        Admission { proof: Proof::NewAccount, remember_me, callback: body.callback_url.as_deref() };
    let session = admit(&state, ctx, &user, admission).await?;
    let answer = SignUpAnswer { token: Some(session.token.clone()), user, session: Some(session) };
    Ok(no_store(JsonOut(answer).into_response()))
}

/// A password sign-in's body: `email` or `username` (whichever the route takes), and the rest.
// (Not `serde(flatten)`: form bodies would lose their booleans.)
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordSignIn {
    pub email: Option<String>,
    pub username: Option<String>,
    password: String,
    remember_me: Option<bool>,
    #[serde(rename = "callbackURL")]
    pub callback_url: Option<String>,
    /// Also answer an access token and a refresh token (API and mobile clients).
    #[serde(default)]
    issue_tokens: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignInAnswer {
    redirect: bool,
    token: String,
    #[schema(required = true)]
    url: Option<String>,
    user: User,
    session: SessionRow,
    subscription: Subscription,
    /// With `issueTokens`: named like the rest of the answer.
    #[serde(flatten)]
    #[schema(value_type = tokens::PairIfAsked)]
    tokens: Option<tokens::Pair>,
}

/// `POST /sign-in/email`. Unknown email and wrong password give the same answer after the same
/// work (a dummy hash is verified for unknown emails).
#[utoipa::path(post, path = "/sign-in/email", tag = TAG, summary = "Sign in with email and password",
    request_body(content((PasswordSignIn = "application/json"), (PasswordSignIn = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "Signed in (session cookie set), or a second factor is needed",
        body = OrChallenge<SignInAnswer>)))]
async fn sign_in(
    State(state): State<AppState>,
    ctx: SignInContext,
    JsonOrForm(mut body): JsonOrForm<PasswordSignIn>,
) -> ApiResult<Response> {
    check_callback(&state, &ctx.scope, body.callback_url.as_deref())?;
    let email = Email::parse(&required(body.email.take(), "email")?)?;
    let credential = state.store.credential_by_email(email.as_str(), ctx.scope.key()).await?;
    let lockout_key = ctx.scope.qualify(email.as_str()).into_owned();
    sign_in_with_password(&state, ctx, &lockout_key, credential, body).await
}

/// Checks the password of `credential` (found by `lockout_key`'s identifier; `None` when no
/// such account, which costs the same) under the lockout of `lockout_key`, then the sign-in
/// gate; the sign-in answer. Every failure is 401 `INVALID_EMAIL_OR_PASSWORD`.
pub async fn sign_in_with_password(
    state: &AppState,
    ctx: SignInContext,
    lockout_key: &str,
    credential: Option<Credential>,
    body: PasswordSignIn,
) -> ApiResult<Response> {
    let stored = credential.as_ref().and_then(|c| c.password_hash.as_deref());
    let checked = check_password(state, lockout_key, &body.password, stored).await;
    let (Ok(Checked::Correct { rehash }), Some(credential)) = (&checked, &credential) else {
        // A wrong password for an account is its event; an unknown account is nobody's.
        let reason = match &checked {
            Err(e) => e.code().unwrap_or("INTERNAL_SERVER_ERROR"),
            Ok(_) => "INVALID_EMAIL_OR_PASSWORD",
        };
        if let Some(found) = &credential {
            let event = Record::own("sign-in", &found.user).from(&ctx.client).failed();
            record_later(state, event.with(json!({ "method": "Password", "reason": reason })), None);
        }
        checked?;
        return Err(ApiError::InvalidCredentials);
    };
    let (rehash, credential) = (*rehash, credential.clone());
    let user = credential.user;
    let remember_me = body.remember_me.unwrap_or(true);
    let admission = Admission { proof: Proof::Password, remember_me, callback: body.callback_url.as_deref() };
    let session = admit(state, ctx, &user, admission).await?;
    if rehash {
        let fresh = state.hasher.hash(&body.password).await?;
        state.store.set_password_hash(&user.id, &fresh, state.clock.now_ms()).await?;
    }
    let subscription = state.store.subscription_for(&user.id).await?;
    let tokens = match body.issue_tokens {
        false => None,
        true => Some(tokens::issue(state, &session, &user, subscription.as_ref(), true).await?),
    };
    let answer = SignInAnswer {
        redirect: body.callback_url.is_some(),
        token: session.token.clone(),
        url: body.callback_url,
        user,
        session,
        subscription: Subscription::of(subscription.as_ref(), state.clock.now_ms()),
        tokens,
    };
    Ok(no_store(JsonOut(answer).into_response()))
}

/// `POST /sign-out`: deletes the session row and clears every auth cookie (a trusted browser
/// stays trusted). Without a session it still answers `{success: true}`; another app's session
/// is left alone (as if there were none).
#[utoipa::path(post, path = "/sign-out", tag = TAG, summary = "End the current session",
    request_body(content = NoBody, description = "An empty object"),
    responses((status = 200, description = "Signed out (also without a session)", body = Success)))]
async fn sign_out(
    State(state): State<AppState>,
    ctx: SignInContext,
    Json(_empty): Json<NoBody>,
) -> ApiResult<JsonOut<Success>> {
    if let Some(id) = ctx.handle.id() {
        let found = state.store.session_with_user(&id.to_string(), state.clock.now_ms()).await?;
        if found.as_ref().is_some_and(|(_, user, _)| !ctx.scope.admits(user)) {
            // Another app's: its cookies are its own too.
            return Ok(JsonOut(Success::YES));
        }
        match &found {
            Some((session, user, _)) => {
                let event = Record::own("sign-out", user).from(&ctx.client).through(session);
                recorded(&state, event, None, ctx.handle.flush()).await?;
            }
            None => ctx.handle.flush().await?,
        }
    }
    let cookies = [
        state.dont_remember_cookie(),
        state.session_data_cookie(),
        state.two_factor_cookie(),
        state.admin_session_cookie(),
    ];
    for name in cookies {
        expire_cookie(&state, &ctx.cookies, name);
    }
    Ok(JsonOut(Success::YES))
}
