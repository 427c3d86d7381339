//! `POST /update-user`: name, image, username and display username (email changes go through
//! `change-email`).

use axum::{Json as JsonOut, extract::State};
use serde::{Deserialize, Deserializer};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    domain::{
        fields,
        input::{parse_image, parse_name},
    },
    error::{ApiError, ApiResult},
    http::{
        answers::Status,
        extract::{Authenticated, BodyFields, WithExtras},
    },
    service::{
        audit::{Record, recorded},
        usernames,
    },
    state::AppState,
    store::{ProfileChanges, StoreError},
};

const TAG: &str = "User";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(update_user))
}

/// The profile fields to change: at least one of `name`, `image`, `username`,
/// `displayUsername` or a custom field (`USER_FIELDS`). An `email` field is refused (400 `EMAIL_CAN_NOT_BE_UPDATED`): the email
/// changes through `/change-email`.
#[derive(Deserialize, ToSchema)]
#[schema(min_properties = 1)]
#[serde(rename_all = "camelCase")]
struct UpdateUserBody {
    name: Option<String>,
    /// Absent: keep; `null`: clear; a string: set.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, required = false)]
    image: Option<Option<String>>,
    /// Refused whatever its value (see above).
    #[serde(default, deserialize_with = "present")]
    #[schema(ignore)]
    email: Option<Option<serde_json::Value>>,
    /// A new username (lowercased and unique in the user's app).
    username: Option<String>,
    /// The username as the user writes it.
    display_username: Option<String>,
}

impl BodyFields for UpdateUserBody {
    const FIELDS: &'static [&'static str] = &["name", "image", "email", "username", "displayUsername"];
    const FORMS: bool = false;
}

/// Wraps a present field (even `null`) in `Some`, so absent and `null` differ.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `POST /update-user`: changes the given profile fields of the signed-in user.
#[utoipa::path(post, path = "/update-user", tag = TAG, summary = "Change the user's name, image or username",
    request_body = UpdateUserBody,
    responses((status = 200, description = "Updated", body = Status)),
    security(("session" = []), ("bearer" = [])))]
async fn update_user(
    State(state): State<AppState>,
    auth: Authenticated,
    WithExtras { body, extras, source }: WithExtras<UpdateUserBody>,
) -> ApiResult<JsonOut<Status>> {
    if body.email.is_some() {
        return Err(ApiError::EmailCanNotBeUpdated);
    }
    if body.name.is_none()
        && body.image.is_none()
        && body.username.is_none()
        && body.display_username.is_none()
        && extras.is_empty()
    {
        return Err(ApiError::Validation("[body] No fields to update".into()));
    }
    let fields = fields::patch(&state.settings.user_fields, extras, source, fields::By::User)?;
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
        fields: fields.as_ref(),
    };
    let mut changed: Vec<&str> = [
        ("name", body.name.is_some()),
        ("image", body.image.is_some()),
        ("username", body.username.is_some()),
        ("displayUsername", body.display_username.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, given)| given.then_some(field))
    .collect();
    if let Some(fields) = &fields {
        changed.extend(fields.names());
    }
    let event =
        Record::own("profile-updated", &auth.user).through(&auth.session).with(json!({ "fields": changed }));
    let update = state.store.update_user(&auth.user.id, &changes, state.clock.now_ms());
    match recorded(&state, event, None, update).await {
        Err(StoreError::Conflict) => return Err(usernames::TAKEN),
        done => done?,
    }
    Ok(JsonOut(Status::YES))
}
