//! Sealed columns (`store::sealed`): read in pages by row id, replaced only if unchanged.

use async_trait::async_trait;

use super::Backend;
use crate::store::{
    StoreResult,
    sealed::{FactorField, Sealed, SealedColumn, SealedValue, TokenKind},
};

/// The table, the column, and what a value is bound to (SQL).
fn parts(column: SealedColumn) -> (&'static str, &'static str, &'static str) {
    match column {
        SealedColumn::JwkPrivateKey => ("jwks", "privateKey", r#""id""#),
        SealedColumn::AccountToken(kind) => (
            "account",
            match kind {
                TokenKind::Access => "accessToken",
                TokenKind::Refresh => "refreshToken",
                TokenKind::Id => "idToken",
            },
            r#""providerId" || ':' || "accountId""#,
        ),
        SealedColumn::TwoFactor(field) => (
            "twoFactor",
            match field {
                FactorField::Secret => "secret",
                FactorField::BackupCodes => "backupCodes",
            },
            r#""userId""#,
        ),
    }
}

#[async_trait]
impl Sealed for Backend {
    async fn sealed_values(
        &self,
        column: SealedColumn,
        after: &str,
        limit: u32,
    ) -> StoreResult<Vec<SealedValue>> {
        let (table, col, owner) = parts(column);
        let sql = format!(
            r#"SELECT "id", {owner} AS "owner", "{col}" AS "value" FROM "{table}"
                WHERE "{col}" IS NOT NULL AND "id" > $1 ORDER BY "id" LIMIT $2"#
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?)
    }

    async fn replace_sealed(
        &self,
        column: SealedColumn,
        id: &str,
        old: &str,
        new: &str,
    ) -> StoreResult<bool> {
        let (table, col, _) = parts(column);
        let sql = format!(r#"UPDATE "{table}" SET "{col}" = $3 WHERE "id" = $1 AND "{col}" = $2"#);
        let done =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).bind(old).bind(new).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }
}
