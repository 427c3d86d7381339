//! The storage of API clients' refresh tokens (its SQL: `sql/refresh_tokens.rs`).

use async_trait::async_trait;

use super::StoreResult;

/// A refresh token as stored (its value only as an HMAC).
#[derive(Debug, Clone, sqlx::FromRow)]
#[sqlx(rename_all = "camelCase")]
pub struct RefreshRow {
    pub id: String,
    /// The id of the family's first token.
    pub family_id: String,
    pub token_hash: String,
    pub session_id: String,
    pub user_id: String,
    /// The family came with its session (`issueTokens`): revoking it ends the session.
    pub owns_session: bool,
    pub created_at: i64,
    /// Unused for `REFRESH_TOKEN_IDLE`, it expires (its session may end sooner).
    pub expires_at: i64,
    /// Spent: it was rotated into a child.
    pub rotated_at: Option<i64>,
}

/// A refresh token found by its hash.
#[derive(Debug, Clone)]
pub struct RefreshFound {
    pub row: RefreshRow,
    /// Its session's cookie token (to read the session through the cache).
    pub session_token: String,
    /// Its user's app (`""`: the default space).
    pub app_key: String,
}

/// API clients' refresh tokens (`sql/refresh_tokens.rs`). Each dies with its session (cascade).
#[async_trait]
pub trait RefreshTokens: Send + Sync {
    /// `Gone` when its session has ended.
    async fn insert_refresh_token(&self, row: &RefreshRow) -> StoreResult<()>;
    /// A token by its hash, with its session's cookie token and its user's app; `None` when
    /// unknown (its session has ended, or it was revoked or swept).
    async fn refresh_token(&self, token_hash: &str) -> StoreResult<Option<RefreshFound>>;
    /// Spends `parent_id` and stores `child`, in one transaction: only if the parent is unspent
    /// and unexpired at `now` (of racing rotations exactly one wins); false, with nothing
    /// changed, otherwise.
    async fn rotate_refresh_token(&self, parent_id: &str, child: &RefreshRow, now: i64) -> StoreResult<bool>;
    /// Revokes a family (every token of it).
    async fn delete_refresh_family(&self, family_id: &str) -> StoreResult<()>;
    /// Ends a session by id, announced to every instance; its families go with it.
    async fn end_refresh_session(&self, session_id: &str) -> StoreResult<()>;
    async fn delete_expired_refresh_tokens(&self, now: i64) -> StoreResult<u64>;
}
