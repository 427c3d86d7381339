//! Table `passkey`: a user's passkeys, by credential id (unique) for sign-in and by user for the
//! list. The signature counter only moves forward, in one guarded statement.

use async_trait::async_trait;

use super::{Backend, Db, users};
use crate::{
    domain::model::{PasskeyRow, User},
    store::{Passkeys, Removed, StoreResult, classify},
};

/// The `passkey` table's columns, in `PasskeyRow`'s order.
macro_rules! passkey_columns {
    () => {
        r#""id", "name", "publicKey", "userId", "credentialID", "counter", "deviceType", "backedUp", "transports", "createdAt", "aaguid""#
    };
}

const INSERT: &str = concat!(
    r#"INSERT INTO "passkey" ("#,
    passkey_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
);

const OF_USER: &str =
    concat!("SELECT ", passkey_columns!(), r#" FROM "passkey" WHERE "userId" = $1 ORDER BY "createdAt""#);

/// A passkey by credential id, of a user of the app `$2` (`''`: the default space).
const BY_CREDENTIAL: &str = concat!(
    "SELECT ",
    passkey_columns!(),
    r#" FROM "passkey" WHERE "credentialID" = $1
   AND COALESCE((SELECT u."appId" FROM "user" u WHERE u."id" = "passkey"."userId"), '') = $2"#
);

const BY_ID: &str = concat!("SELECT ", passkey_columns!(), r#" FROM "passkey" WHERE "id" = $1"#);

const DELETE: &str = r#"DELETE FROM "passkey" WHERE "id" = $1 AND "userId" = $2"#;

/// How many ways the user `$1` has to sign in: passkeys, provider accounts, a password.
const WAYS_IN: &str = r#"
SELECT (SELECT COUNT(*) FROM "passkey" WHERE "userId" = $1)
     + (SELECT COUNT(*) FROM "account"
         WHERE "userId" = $1 AND ("providerId" <> 'credential' OR "password" IS NOT NULL))"#;

const HAS_PASSWORD: &str = r#"
SELECT COUNT(*) FROM "account" WHERE "userId" = $1 AND "providerId" = 'credential' AND "password" IS NOT NULL"#;

const DELETE_PASSWORD: &str = r#"DELETE FROM "account" WHERE "userId" = $1 AND "providerId" = 'credential'"#;

const DELETE_ALL_OF_USER: &str = r#"DELETE FROM "passkey" WHERE "userId" = $1"#;

/// How many ways the user has to sign in (inside the caller's transaction, after it wrote the
/// user's row).
pub(super) async fn ways_in<'e, E>(executor: E, user_id: &str) -> StoreResult<i64>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    Ok(sqlx::query_scalar(WAYS_IN).bind(user_id).fetch_one(executor).await?)
}

/// Deletes every passkey of the user (whoever added them may not be the address's owner); how
/// many.
pub(super) async fn forget_all<'e, E>(executor: E, user_id: &str) -> StoreResult<u64>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    Ok(sqlx::query(DELETE_ALL_OF_USER).bind(user_id).execute(executor).await?.rows_affected())
}

const RENAME: &str = concat!(
    r#"UPDATE "passkey" SET "name" = $3 WHERE "id" = $1 AND "userId" = $2 RETURNING "#,
    passkey_columns!()
);

/// A sign-in's counter and backup state: only forward (or both zero, as synced passkeys report),
/// so of two sign-ins racing with one counter value, one moves it.
const USED: &str = r#"
UPDATE "passkey" SET "counter" = $2, "backedUp" = $4,
       "deviceType" = CASE WHEN $3 THEN 'multiDevice' ELSE "deviceType" END
 WHERE "id" = $1 AND ("counter" < $2 OR ("counter" = 0 AND $2 = 0))"#;

/// Inserts a passkey (inside the caller's transaction, or not); `Conflict` when its credential is
/// registered already.
async fn insert<'e, E>(executor: E, p: &PasskeyRow) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    sqlx::query(INSERT)
        .bind(&p.id)
        .bind(&p.name)
        .bind(&p.public_key)
        .bind(&p.user_id)
        .bind(&p.credential_id)
        .bind(p.counter)
        .bind(&p.device_type)
        .bind(p.backed_up)
        .bind(&p.transports)
        .bind(p.created_at)
        .bind(&p.aaguid)
        .execute(executor)
        .await
        .map_err(classify)?;
    Ok(())
}

#[async_trait]
impl Passkeys for Backend {
    async fn insert_passkey(&self, p: &PasskeyRow) -> StoreResult<()> {
        insert(&self.pool, p).await
    }

    async fn create_user_with_passkey(&self, user: &User, passkey: &PasskeyRow) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        users::insert_new(&mut tx, user).await?;
        insert(&mut *tx, passkey).await?;
        super::commit(tx).await?;
        Ok(())
    }

    async fn passkeys_of(&self, user_id: &str) -> StoreResult<Vec<PasskeyRow>> {
        Ok(sqlx::query_as(OF_USER).bind(user_id).fetch_all(&self.pool).await?)
    }

    async fn passkey_by_credential(&self, credential_id: &str, app: &str) -> StoreResult<Option<PasskeyRow>> {
        Ok(sqlx::query_as(BY_CREDENTIAL).bind(credential_id).bind(app).fetch_optional(&self.pool).await?)
    }

    async fn passkey(&self, id: &str) -> StoreResult<Option<PasskeyRow>> {
        Ok(sqlx::query_as(BY_ID).bind(id).fetch_optional(&self.pool).await?)
    }

    async fn delete_passkey(&self, id: &str, user_id: &str, now: i64) -> StoreResult<Removed> {
        let mut tx = self.pool.begin().await?;
        // The user's row first: removals of two ways in take turns, so the last always stays.
        users::touch(&mut *tx, user_id, now).await?;
        let ways = ways_in(&mut *tx, user_id).await?;
        let theirs: Option<PasskeyRow> = sqlx::query_as(BY_ID).bind(id).fetch_optional(&mut *tx).await?;
        if theirs.is_none_or(|p| p.user_id != user_id) {
            return Ok(Removed::NotFound);
        }
        if ways <= 1 {
            return Ok(Removed::LastWayIn);
        }
        sqlx::query(DELETE).bind(id).bind(user_id).execute(&mut *tx).await?;
        super::commit(tx).await?;
        Ok(Removed::Done)
    }

    async fn remove_password(&self, user_id: &str, now: i64) -> StoreResult<Removed> {
        let mut tx = self.pool.begin().await?;
        users::touch(&mut *tx, user_id, now).await?;
        let ways = ways_in(&mut *tx, user_id).await?;
        let has: i64 = sqlx::query_scalar(HAS_PASSWORD).bind(user_id).fetch_one(&mut *tx).await?;
        if has == 0 {
            return Ok(Removed::NotFound);
        }
        if ways <= 1 {
            return Ok(Removed::LastWayIn);
        }
        sqlx::query(DELETE_PASSWORD).bind(user_id).execute(&mut *tx).await?;
        super::commit(tx).await?;
        Ok(Removed::Done)
    }

    async fn rename_passkey(&self, id: &str, user_id: &str, name: &str) -> StoreResult<Option<PasskeyRow>> {
        Ok(sqlx::query_as(RENAME).bind(id).bind(user_id).bind(name).fetch_optional(&self.pool).await?)
    }

    async fn passkey_used(
        &self,
        id: &str,
        counter: i64,
        eligible: bool,
        backed_up: bool,
    ) -> StoreResult<bool> {
        let done = sqlx::query(USED)
            .bind(id)
            .bind(counter)
            .bind(eligible)
            .bind(backed_up)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
