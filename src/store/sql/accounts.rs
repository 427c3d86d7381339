//! Table `account`: provider identities (and the credential account, whose hash `users.rs`
//! handles). Provider tokens arrive here already sealed.

use async_trait::async_trait;

use super::{
    Backend, Db, passkeys, sessions, users,
    verifications::{self, Drop},
};
use crate::{
    domain::model::{AccountRow, User},
    store::{Accounts, EndSessions, StoreResult, Unlinked, cache::Invalidation, classify},
};

/// The `account` table's columns but the password, in `AccountRow`'s order.
macro_rules! account_columns {
    () => {
        r#""id", "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", "scope", "createdAt", "updatedAt""#
    };
}

/// The account's app is its user's (an identity is unique per app).
const INSERT: &str = concat!(
    r#"INSERT INTO "account" ("#,
    account_columns!(),
    r#", "appId") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
    (SELECT "appId" FROM "user" WHERE "id" = $4))"#
);

/// A provider identity within the app `$3` (`''`: the default space).
const BY_IDENTITY: &str = concat!(
    "SELECT ",
    account_columns!(),
    r#" FROM "account" WHERE "providerId" = $1 AND "accountId" = $2 AND COALESCE("appId", '') = $3"#
);

const OF_USER: &str = concat!(
    "SELECT ",
    account_columns!(),
    r#" FROM "account" WHERE "userId" = $1 ORDER BY "createdAt", "id""#
);

const BY_USER_AND_ID: &str =
    concat!("SELECT ", account_columns!(), r#" FROM "account" WHERE "userId" = $1 AND "id" = $2"#);

const UPDATE_TOKENS: &str = r#"
UPDATE "account" SET "accessToken" = COALESCE($2, "accessToken"), "refreshToken" = COALESCE($3, "refreshToken"),
       "idToken" = COALESCE($4, "idToken"),
       "accessTokenExpiresAt" = CASE WHEN $2 IS NULL THEN "accessTokenExpiresAt" ELSE $5 END,
       "refreshTokenExpiresAt" = COALESCE($6, "refreshTokenExpiresAt"),
       "scope" = COALESCE($7, "scope"), "updatedAt" = $8
 WHERE "id" = $1"#;

/// A write first (SQLite's write lock), counting the user's accounts.
const TOUCH_ACCOUNTS: &str = r#"UPDATE "account" SET "updatedAt" = "updatedAt" WHERE "userId" = $1"#;

const DELETE: &str = r#"DELETE FROM "account" WHERE "userId" = $1 AND "id" = $2"#;

async fn insert<'e, E>(executor: E, a: &AccountRow) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    sqlx::query(INSERT)
        .bind(&a.id)
        .bind(&a.account_id)
        .bind(&a.provider_id)
        .bind(&a.user_id)
        .bind(&a.access_token)
        .bind(&a.refresh_token)
        .bind(&a.id_token)
        .bind(a.access_token_expires_at)
        .bind(a.refresh_token_expires_at)
        .bind(&a.scope)
        .bind(a.created_at)
        .bind(a.updated_at)
        .execute(executor)
        .await
        .map_err(classify)?;
    Ok(())
}

#[async_trait]
impl Accounts for Backend {
    async fn account(
        &self,
        provider_id: &str,
        account_id: &str,
        app: &str,
    ) -> StoreResult<Option<AccountRow>> {
        Ok(sqlx::query_as(BY_IDENTITY)
            .bind(provider_id)
            .bind(account_id)
            .bind(app)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn accounts_of(&self, user_id: &str) -> StoreResult<Vec<AccountRow>> {
        Ok(sqlx::query_as(OF_USER).bind(user_id).fetch_all(&self.pool).await?)
    }

    async fn create_user_with_account(&self, user: &User, account: &AccountRow) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        users::insert_new(&mut tx, user).await?;
        insert(&mut *tx, account).await?;
        super::commit(tx).await?;
        Ok(())
    }

    async fn insert_account(&self, account: &AccountRow) -> StoreResult<()> {
        insert(&self.pool, account).await
    }

    async fn update_account_tokens(&self, a: &AccountRow) -> StoreResult<()> {
        sqlx::query(UPDATE_TOKENS)
            .bind(&a.id)
            .bind(&a.access_token)
            .bind(&a.refresh_token)
            .bind(&a.id_token)
            .bind(a.access_token_expires_at)
            .bind(a.refresh_token_expires_at)
            .bind(&a.scope)
            .bind(a.updated_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn link_proven(&self, account: &AccountRow, email: &str, now: i64) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let user_id = account.user_id.as_str();
        // A write first (SQLite's write lock), then the checks it protects.
        if users::touch(&mut *tx, user_id, now).await?.as_deref() != Some(email)
            || users::is_verified(&mut *tx, user_id).await?
        {
            return Ok(false);
        }
        // Identities attached while the address was unproven go; the one proven now comes in.
        users::mailbox_proven(&mut tx, user_id, now).await?;
        insert(&mut *tx, account).await?;
        users::set_password(&mut *tx, user_id, None, now).await?;
        sessions::end(&mut *tx, user_id, EndSessions::All).await?;
        verifications::drop_tokens(&mut *tx, user_id, email, Drop::OnNewPassword).await?;
        self.commit_announcing(tx, &[Invalidation::User(user_id.to_string())]).await?;
        Ok(true)
    }

    async fn unlink_account(&self, user_id: &str, id: &str, now: i64) -> StoreResult<Unlinked> {
        let mut tx = self.pool.begin().await?;
        // The user's row first: removals of ways in (remove-password, delete-passkey) take turns.
        users::touch(&mut *tx, user_id, now).await?;
        sqlx::query(TOUCH_ACCOUNTS).bind(user_id).execute(&mut *tx).await?;
        let mine: Option<AccountRow> =
            sqlx::query_as(BY_USER_AND_ID).bind(user_id).bind(id).fetch_optional(&mut *tx).await?;
        if mine.is_none() {
            return Ok(Unlinked::NotFound);
        }
        if passkeys::ways_in(&mut *tx, user_id).await? <= 1 {
            return Ok(Unlinked::Last);
        }
        sqlx::query(DELETE).bind(user_id).bind(id).execute(&mut *tx).await?;
        super::commit(tx).await?;
        Ok(Unlinked::Done)
    }
}
