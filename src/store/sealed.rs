//! Values sealed under the server secret, read and replaced one by one by
//! `gatehouse secrets reseal` (its SQL: `sql/sealed.rs`).

use async_trait::async_trait;

use super::StoreResult;

/// A column that holds sealed values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedColumn {
    /// `jwks.privateKey`, bound to the key id.
    JwkPrivateKey,
    /// `account.accessToken`, `refreshToken`, `idToken`, bound to `providerId:accountId` and the
    /// token's kind.
    AccountToken(TokenKind),
    /// `twoFactor.secret` and `backupCodes`, bound to the user and the field.
    TwoFactor(FactorField),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
    Id,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorField {
    Secret,
    BackupCodes,
}

impl SealedColumn {
    pub const ALL: [SealedColumn; 6] = [
        Self::JwkPrivateKey,
        Self::AccountToken(TokenKind::Access),
        Self::AccountToken(TokenKind::Refresh),
        Self::AccountToken(TokenKind::Id),
        Self::TwoFactor(FactorField::Secret),
        Self::TwoFactor(FactorField::BackupCodes),
    ];

    /// `table.column`, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::JwkPrivateKey => "jwks.privateKey",
            Self::AccountToken(TokenKind::Access) => "account.accessToken",
            Self::AccountToken(TokenKind::Refresh) => "account.refreshToken",
            Self::AccountToken(TokenKind::Id) => "account.idToken",
            Self::TwoFactor(FactorField::Secret) => "twoFactor.secret",
            Self::TwoFactor(FactorField::BackupCodes) => "twoFactor.backupCodes",
        }
    }
}

impl TokenKind {
    /// The name a sealed provider token is bound to (`service::social`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Refresh => "refresh",
            Self::Id => "id",
        }
    }
}

impl FactorField {
    /// The field name a sealed second factor is bound to (`service::two_factor`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::BackupCodes => "backupCodes",
        }
    }
}

/// One sealed value: its row, what it is bound to, and the value as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SealedValue {
    pub id: String,
    pub owner: String,
    pub value: String,
}

#[async_trait]
pub trait Sealed: Send + Sync {
    /// The values of `column` (rows where it is set), by row id, after `after`, at most `limit`.
    async fn sealed_values(
        &self,
        column: SealedColumn,
        after: &str,
        limit: u32,
    ) -> StoreResult<Vec<SealedValue>>;
    /// Replaces row `id`'s value of `column` with `new`, if it is still `old`; whether it did.
    async fn replace_sealed(&self, column: SealedColumn, id: &str, old: &str, new: &str)
    -> StoreResult<bool>;
}
