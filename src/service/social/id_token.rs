//! Native sign-in with an ID token the client got from the provider itself.

use axum::http::StatusCode;

use super::{provider, resolve_user};
use crate::{
    domain::model::{SessionRow, User},
    error::{ApiError, ApiResult},
    oauth::{OAuthError, Tokens},
    service::{
        sessions::SignInContext,
        sign_in::{Admission, Proof, admit},
    },
    state::AppState,
};

/// A native sign-in: the client obtained an ID token from the provider itself.
pub struct IdTokenSignIn<'a> {
    pub provider: &'a str,
    pub token: &'a str,
    pub nonce: Option<&'a str>,
    pub access_token: Option<&'a str>,
    pub refresh_token: Option<&'a str>,
    /// When the access token expires (Unix ms).
    pub expires_at: Option<i64>,
    pub callback_url: Option<&'a str>,
}

/// Signs in with an ID token: checked against the provider's keys, issuer and this client as
/// audience; then the same user resolution (linking, sign-up) and the same gate as the callback.
pub async fn sign_in_with_id_token(
    state: &AppState,
    req: IdTokenSignIn<'_>,
    ctx: SignInContext,
) -> ApiResult<(SessionRow, User)> {
    let provider = provider(state, req.provider)?;
    if !provider.takes_id_tokens() {
        return Err(ApiError::IdTokenNotSupported);
    }
    let now = state.clock.now_ms();
    let profile = provider
        .profile_from_id_token(&state.providers.http, req.token, req.nonce, now)
        .await
        .map_err(|e| match e {
            OAuthError::InvalidIdToken | OAuthError::IssuerMismatch => {
                ApiError::InvalidToken(StatusCode::UNAUTHORIZED)
            }
            other => {
                tracing::warn!(provider = req.provider, error = %other, "an ID token sign-in failed");
                ApiError::Coded(
                    StatusCode::UNAUTHORIZED,
                    "FAILED_TO_GET_USER_INFO",
                    "Failed to get user info",
                )
            }
        })?;
    let tokens = Tokens {
        access_token: req.access_token.unwrap_or_default().to_string(),
        refresh_token: req.refresh_token.map(str::to_string),
        id_token: Some(req.token.to_string()),
        access_token_expires_at: req.expires_at,
        scope: None,
    };
    let callback = req.callback_url.unwrap_or("/");
    let (user, _) =
        resolve_user(state, &ctx.scope, provider, &profile, &tokens, callback).await.map_err(|r| {
            let link = |message| ApiError::Coded(StatusCode::UNAUTHORIZED, "OAUTH_LINK_ERROR", message);
            match r.code.as_str() {
                "email_not_found" => {
                    ApiError::Coded(StatusCode::UNAUTHORIZED, "USER_EMAIL_NOT_FOUND", "User email not found")
                }
                "email_not_verified" => ApiError::EmailNotVerified,
                "signup_disabled" => {
                    ApiError::Coded(StatusCode::FORBIDDEN, "SIGNUP_DISABLED", "Sign-up is disabled")
                }
                "account_not_linked" if r.link_mailed => {
                    link("Account not linked: a link was mailed to the address")
                }
                "account_not_linked" => link("Account not linked"),
                "account_already_linked_to_different_user" => {
                    link("Account already linked to a different user")
                }
                _ => ApiError::internal(format!("ID token sign-in: {}", r.code)),
            }
        })?;
    let admission = Admission { proof: Proof::Provider, remember_me: true, callback: Some(callback) };
    let session = admit(state, ctx, &user, admission).await?;
    Ok((session, user))
}
