//! The storage of apps and their keys (its SQL: `sql/apps.rs`).

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::app::App;

/// An app key as stored, in the shape of Better Auth's `apikey` row (`referenceId` = the app,
/// `configId` = `app`; `key` is the SHA-256 of the key, base64url; `start` its first characters,
/// for telling keys apart).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
#[sqlx(rename_all = "camelCase")]
pub struct AppKeyRow {
    pub id: String,
    pub reference_id: String,
    pub name: Option<String>,
    pub start: Option<String>,
    pub prefix: Option<String>,
    pub key: String,
    pub enabled: bool,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What deleting an app did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppDeleted {
    Done {
        users: u64,
    },
    /// It has users and they were not to be deleted.
    HasUsers(u64),
    NotFound,
}

#[async_trait]
pub trait Apps: Send + Sync {
    /// A new app with its first key; `Conflict` when the slug is taken.
    async fn create_app(&self, app: &App, key: &AppKeyRow) -> StoreResult<()>;
    /// Every app and every enabled key (what a running server holds in memory).
    async fn apps_and_keys(&self) -> StoreResult<(Vec<App>, Vec<AppKeyRow>)>;
    /// By id or slug.
    async fn app(&self, id_or_slug: &str) -> StoreResult<Option<App>>;
    /// Name, origins and settings.
    async fn update_app(&self, app: &App) -> StoreResult<()>;
    async fn insert_app_key(&self, key: &AppKeyRow) -> StoreResult<()>;
    /// All keys of an app, revoked ones too, oldest first.
    async fn app_keys(&self, app_id: &str) -> StoreResult<Vec<AppKeyRow>>;
    /// Disables a key; false when there is no such enabled app key.
    async fn revoke_app_key(&self, key_id: &str, now: i64) -> StoreResult<bool>;
    async fn app_user_count(&self, app_id: &str) -> StoreResult<u64>;
    /// Deletes the app, its keys and organizations, and (only `with_users`) its users with all
    /// they own.
    async fn delete_app(&self, app_id: &str, with_users: bool) -> StoreResult<AppDeleted>;
}
