//! Table `jwks`: JWT signing keys (private keys sealed).

use async_trait::async_trait;

use super::{Backend, Db};
use crate::store::{JwkRow, Keys, StoreResult, classify};

/// The `jwks` table's columns, in `JwkRow`'s order.
macro_rules! jwk_columns {
    () => {
        r#""id", "publicKey", "privateKey", "alg", "createdAt", "expiresAt""#
    };
}

const INSERT: &str = concat!(r#"INSERT INTO "jwks" ("#, jwk_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6)");

const CURRENT: &str = concat!("SELECT ", jwk_columns!(), r#" FROM "jwks" WHERE "expiresAt" IS NULL"#);

const RETIRE_CURRENT: &str = r#"UPDATE "jwks" SET "expiresAt" = $1 WHERE "expiresAt" IS NULL"#;

const VALID_AFTER: &str = concat!(
    "SELECT ",
    jwk_columns!(),
    r#" FROM "jwks" WHERE "expiresAt" IS NULL OR "expiresAt" > $1 ORDER BY "createdAt" DESC"#
);

async fn insert<'e, E>(executor: E, key: &JwkRow) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    sqlx::query(INSERT)
        .bind(&key.id)
        .bind(&key.public_key)
        .bind(&key.private_key)
        .bind(&key.alg)
        .bind(key.created_at)
        .bind(key.expires_at)
        .execute(executor)
        .await
        .map_err(classify)?;
    Ok(())
}

#[async_trait]
impl Keys for Backend {
    async fn current_jwk(&self) -> StoreResult<Option<JwkRow>> {
        Ok(sqlx::query_as(CURRENT).fetch_optional(&self.pool).await?)
    }

    async fn insert_jwk(&self, key: &JwkRow) -> StoreResult<()> {
        insert(&self.pool, key).await
    }

    async fn rotate_jwk(&self, key: &JwkRow, retire_at: i64) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(RETIRE_CURRENT).bind(retire_at).execute(&mut *tx).await?;
        insert(&mut *tx, key).await?;
        super::commit(tx).await?;
        Ok(())
    }

    async fn jwks_valid_after(&self, now: i64) -> StoreResult<Vec<JwkRow>> {
        Ok(sqlx::query_as(VALID_AFTER).bind(now).fetch_all(&self.pool).await?)
    }
}
