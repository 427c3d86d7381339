//! Usernames (Better Auth's username plugin): choosing one on sign-up or update-user, and the
//! availability check.

use axum::http::StatusCode;

use crate::{
    domain::input::{Username, parse_display_username},
    error::{ApiError, ApiResult},
    state::AppState,
};

pub const TAKEN: ApiError = ApiError::Coded(
    StatusCode::BAD_REQUEST,
    "USERNAME_IS_ALREADY_TAKEN",
    "Username is already taken. Please try another.",
);

/// A username and display username to store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chosen {
    pub username: Option<String>,
    pub display_username: Option<String>,
}

/// Checks what a client sent: a `username` must be valid (400 `USERNAME_TOO_SHORT`,
/// `USERNAME_TOO_LONG`, `INVALID_USERNAME`) and free, unless `user_id` (the caller) already has
/// it (400 `USERNAME_IS_ALREADY_TAKEN`); the display username defaults to the username as typed.
/// A display username sent alone becomes the username too when it is a valid one. Usernames
/// are unique within an app (`app`, see `Scope::key`).
pub async fn choose(
    state: &AppState,
    username: Option<&str>,
    display_username: Option<&str>,
    app: &str,
    user_id: Option<&str>,
) -> ApiResult<Chosen> {
    let display = display_username.map(parse_display_username).transpose()?;
    let username = match (username, display_username) {
        (Some(raw), _) => Some((Username::parse(raw).map_err(|p| p.at(StatusCode::BAD_REQUEST))?, raw)),
        (None, Some(shown)) => Username::parse(shown).ok().map(|u| (u, shown)),
        (None, None) => None,
    };
    let Some((username, typed)) = username else {
        return Ok(Chosen { username: None, display_username: display });
    };
    if let Some(owner) = state.store.username_owner(username.as_str(), app).await?
        && Some(owner.as_str()) != user_id
    {
        return Err(TAKEN);
    }
    Ok(Chosen {
        display_username: Some(display.unwrap_or_else(|| typed.to_string())),
        username: Some(username.as_str().to_string()),
    })
}

/// Whether `raw` is a valid username no one has (422 for an invalid one, as Better Auth).
pub async fn available(state: &AppState, raw: &str, app: &str) -> ApiResult<bool> {
    let username = Username::parse(raw).map_err(|p| p.at(StatusCode::UNPROCESSABLE_ENTITY))?;
    Ok(state.store.username_owner(username.as_str(), app).await?.is_none())
}
