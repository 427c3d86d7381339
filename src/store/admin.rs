//! The storage behind the admin API (its SQL: `sql/admin.rs`).

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::model::User;

/// A field users are searched, filtered or sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserField {
    Id,
    Email,
    Name,
    Role,
    Banned,
    EmailVerified,
    CreatedAt,
}

impl UserField {
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "id" => Self::Id,
            "email" => Self::Email,
            "name" => Self::Name,
            "role" => Self::Role,
            "banned" => Self::Banned,
            "emailVerified" => Self::EmailVerified,
            "createdAt" => Self::CreatedAt,
            _ => return None,
        })
    }

    /// The column (quoted).
    pub fn column(self) -> &'static str {
        match self {
            Self::Id => r#""id""#,
            Self::Email => r#""email""#,
            Self::Name => r#""name""#,
            Self::Role => r#""role""#,
            Self::Banned => r#""banned""#,
            Self::EmailVerified => r#""emailVerified""#,
            Self::CreatedAt => r#""createdAt""#,
        }
    }
}

/// How a text is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    Eq,
    Ne,
    Contains,
    StartsWith,
    EndsWith,
}

/// What `list-users` asks for (all within one app).
#[derive(Debug, Clone)]
pub struct UserQuery {
    /// `""`: the default space.
    pub app: String,
    /// Matched against email **and** name.
    pub search: Option<(String, Match)>,
    pub filter: Option<(UserField, Match, String)>,
    pub sort: (UserField, bool),
    pub limit: u32,
    pub offset: u32,
}

/// A user's ban.
#[derive(Debug, Clone)]
pub struct Ban {
    pub reason: String,
    pub expires: Option<i64>,
}

/// What an admin changes on a user (`None`: keep).
#[derive(Debug, Clone, Default)]
pub struct AdminChanges {
    pub name: Option<String>,
    pub image: Option<Option<String>>,
    pub email_verified: Option<bool>,
    pub role: Option<String>,
    /// The custom fields' merge patch (see `domain::fields::patch`).
    pub fields: Option<crate::domain::fields::Fields>,
}

#[async_trait]
pub trait Admin: Send + Sync {
    /// A page of users and how many match in all.
    async fn list_users(&self, query: &UserQuery) -> StoreResult<(Vec<User>, u64)>;
    /// Changes a user; `None` when there is no such user. (These three write the pending audit
    /// event, `store::audit::with_event`, in their transaction.)
    async fn admin_update_user(
        &self,
        user_id: &str,
        changes: &AdminChanges,
        now: i64,
    ) -> StoreResult<Option<User>>;
    /// Bans a user and ends every session of theirs (on every instance); `None`: no such user.
    async fn ban_user(&self, user_id: &str, ban: &Ban, now: i64) -> StoreResult<Option<User>>;
    /// Lifts a ban; `None`: no such user.
    async fn unban_user(&self, user_id: &str, now: i64) -> StoreResult<Option<User>>;
    /// A user without a credential (no password): `Conflict` when the email is taken.
    async fn insert_user(&self, user: &User) -> StoreResult<()>;
    /// A live session by its token or its id: its user's id and its token.
    async fn user_of_session(&self, token_or_id: &str, now: i64) -> StoreResult<Option<(String, String)>>;
    /// Lifts a ban whose end has passed (and only such a ban); whether it did.
    async fn lift_expired_ban(&self, user_id: &str, now: i64) -> StoreResult<bool>;
}
