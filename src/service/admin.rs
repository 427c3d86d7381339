//! Admin work that the HTTP routes (`http::admin`) and the CLI (`users_cli`) share.

use crate::{
    domain::{audit::AuditEvent, input::NewPassword, model::User},
    error::ApiResult,
    security::password::PasswordHasher,
    store::{Store, StoreError, audit::with_event_to},
};

/// Creates `user`, with a credential account when given a password, and `event` (with its
/// deliveries to `webhooks`) in the same transaction; `false` (and nothing written) when the email is taken in the user's app.
pub async fn create_user(
    store: &dyn Store,
    hasher: &PasswordHasher,
    user: &User,
    password: Option<&NewPassword>,
    event: AuditEvent,
    webhooks: Vec<String>,
) -> ApiResult<bool> {
    let hash = match password {
        Some(p) => Some(hasher.hash(p.as_str()).await?),
        None => None,
    };
    let create = async {
        match &hash {
            Some(hash) => store.create_user(user, hash).await,
            None => store.insert_user(user).await,
        }
    };
    match with_event_to(event, webhooks, create).await.0 {
        Err(StoreError::Conflict) => Ok(false),
        done => Ok(done.map(|()| true)?),
    }
}
