//! `POST /update-user`: name, image, username and display username (email changes go through
//! `change-email`).

use axum::{Json as JsonOut, Router, extract::State, routing::post};
use serde::{Deserialize, Deserializer};
use serde_json::json;

use crate::{
    domain::input::{parse_image, parse_name},
    error::{ApiError, ApiResult},
    http::extract::{Authenticated, Json},
    service::usernames,
    state::AppState,
    store::{ProfileChanges, StoreError},
};

pub fn router() -> Router<AppState> {
    Router::new().route("/update-user", post(update_user))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateUserBody {
    name: Option<String>,
    /// Absent: keep; `null`: clear; a string: set.
    #[serde(default, deserialize_with = "present")]
    image: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    email: Option<Option<serde_json::Value>>,
    username: Option<String>,
    display_username: Option<String>,
}

/// Wraps a present field (even `null`) in `Some`, so absent and `null` differ.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

async fn update_user(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<UpdateUserBody>,
) -> ApiResult<JsonOut<serde_json::Value>> {
    if body.email.is_some() {
        return Err(ApiError::EmailCanNotBeUpdated);
    }
    if body.name.is_none()
        && body.image.is_none()
        && body.username.is_none()
        && body.display_username.is_none()
    {
        return Err(ApiError::Validation("[body] No fields to update".into()));
    }
    let name = body.name.as_deref().map(parse_name).transpose()?;
    let image = match &body.image {
        Some(Some(raw)) => Some(Some(parse_image(raw)?)),
        Some(None) => Some(None),
        None => None,
    };
    let chosen = usernames::choose(
        &state,
        body.username.as_deref(),
        body.display_username.as_deref(),
        auth.user.app_key(),
        Some(&auth.user.id),
    )
    .await?;
    let changes = ProfileChanges {
        name: name.as_deref(),
        image: image.as_ref().map(Option::as_deref),
        username: chosen.username.as_deref(),
        display_username: chosen.display_username.as_deref(),
    };
    match state.store.update_user(&auth.user.id, &changes, state.clock.now_ms()).await {
        Err(StoreError::Conflict) => return Err(usernames::TAKEN),
        done => done?,
    }
    Ok(JsonOut(json!({ "status": true })))
}
