//! (Over 400 lines: the user table's statements and the helpers other tables' transactions call
//! into; splitting them would scatter one table's SQL.)
//!
//! Tables `user` and `account` (the credential account holds the password hash).

use async_trait::async_trait;

use super::{
    Backend, Db, commit,
    email_changes::held_for_undo,
    organizations, passkeys, sessions, two_factor,
    verifications::{self, Drop},
};
use crate::{
    domain::{
        fields::Fields,
        model::User,
        roles::{Denied, organizations_deleted_with},
    },
    store::{
        Credential, EndSessions, ProfileChanges, StoreError, StoreResult, Users, cache::Invalidation,
        classify,
    },
};

/// The `user` table's columns, in `User`'s order.
macro_rules! user_columns {
    () => {
        r#""id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt", "twoFactorEnabled", "username", "displayUsername", "appId", "role", "banned", "banReason", "banExpires", "fields""#
    };
}

/// A user joined to another table's row as `u` (all but the id, which the other row carries),
/// read back by [`JoinedUser`].
macro_rules! joined_user_columns {
    () => {
        r#"u."name" AS u_name, u."email" AS u_email, u."emailVerified" AS u_email_verified,
       u."image" AS u_image, u."createdAt" AS u_created_at, u."updatedAt" AS u_updated_at,
       u."twoFactorEnabled" AS u_two_factor_enabled, u."username" AS u_username,
       u."displayUsername" AS u_display_username, u."appId" AS u_app_id, u."role" AS u_role,
       u."banned" AS u_banned, u."banReason" AS u_ban_reason, u."banExpires" AS u_ban_expires,
       u."fields" AS u_fields"#
    };
}

pub(super) use joined_user_columns;

const INSERT_USER: &str = concat!(
    r#"INSERT INTO "user" ("#,
    user_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
);

const INSERT_CREDENTIAL: &str = r#"
INSERT INTO "account" ("id", "accountId", "providerId", "userId", "password", "createdAt", "updatedAt", "appId")
VALUES ($1, $2, 'credential', $2, $3, $4, $4, (SELECT "appId" FROM "user" WHERE "id" = $2))"#;

const BY_ID: &str = concat!("SELECT ", user_columns!(), r#" FROM "user" WHERE "id" = $1"#);

/// A user (by `$column`, in the app `$2`, `''` for the default space) with their credential
/// account's hash.
macro_rules! credential_by {
    ($column:literal) => {
        concat!(
            r#"SELECT u.*, a."password"
  FROM "user" u LEFT JOIN "account" a ON a."userId" = u."id" AND a."providerId" = 'credential'
 WHERE u.""#,
            $column,
            r#"" = $1 AND COALESCE(u."appId", '') = $2"#
        )
    };
}

const CREDENTIAL_BY_EMAIL: &str = credential_by!("email");

const CREDENTIAL_BY_USERNAME: &str = credential_by!("username");

const SET_PASSWORD: &str = r#"
UPDATE "account" SET "password" = $2, "updatedAt" = $3 WHERE "userId" = $1 AND "providerId" = 'credential'"#;

/// A new password for a user who signed up by provider: their credential account, now (run
/// when `SET_PASSWORD` found none, under the user's row lock).
const ADD_PASSWORD: &str = r#"
INSERT INTO "account" ("id", "accountId", "providerId", "userId", "password", "createdAt", "updatedAt", "appId")
VALUES ($4, $1, 'credential', $1, $2, $3, $3, (SELECT "appId" FROM "user" WHERE "id" = $1))"#;

/// The provider identities of a user whose address nobody had proved (see
/// `Users::replace_credentials`).
const DROP_PROVIDER_IDENTITIES: &str = r#"
DELETE FROM "account" WHERE "userId" = $1 AND "providerId" <> 'credential'"#;

/// Custom fields change by a merge patch, in the database: concurrent changes of different
/// fields both hold.
const UPDATE_PROFILE: &str = concat!(
    r#"
UPDATE "user" SET "name" = COALESCE($2, "name"), "image" = CASE WHEN $3 THEN $4 ELSE "image" END, "updatedAt" = $5,
       "username" = COALESCE($6, "username"), "displayUsername" = COALESCE($7, "displayUsername"),
       "fields" = COALESCE("#,
    merge_fields!("$8"),
    r#", "fields")
 WHERE "id" = $1"#
);

const USERNAME_OWNER: &str =
    r#"SELECT "id" FROM "user" WHERE "username" = $1 AND COALESCE("appId", '') = $2"#;

const EMAIL_OWNER: &str = r#"SELECT "id" FROM "user" WHERE "email" = $1 AND COALESCE("appId", '') = $2"#;

const SET_VERIFIED: &str = r#"UPDATE "user" SET "emailVerified" = TRUE, "updatedAt" = $2 WHERE "id" = $1"#;

const IS_VERIFIED: &str = r#"SELECT "emailVerified" FROM "user" WHERE "id" = $1"#;

const TOUCH: &str = r#"UPDATE "user" SET "updatedAt" = $2 WHERE "id" = $1 RETURNING "email""#;

const SET_VERIFIED_EMAIL: &str = r#"UPDATE "user" SET "email" = $2, "emailVerified" = TRUE WHERE "id" = $1"#;

const DELETE: &str = r#"DELETE FROM "user" WHERE "id" = $1"#;

/// Sessions an admin opened as other users: their users.
/// The user's app, `''` for the default space.
const APP_OF: &str = r#"SELECT COALESCE("appId", '') FROM "user" WHERE "id" = $1"#;

/// A user read as a join's `u_*` columns (see `joined_user_columns!`).
#[derive(Clone, sqlx::FromRow)]
pub(super) struct JoinedUser {
    u_name: String,
    u_email: String,
    u_email_verified: bool,
    u_image: Option<String>,
    u_created_at: i64,
    u_updated_at: i64,
    u_two_factor_enabled: bool,
    u_username: Option<String>,
    u_display_username: Option<String>,
    u_app_id: Option<String>,
    u_role: String,
    u_banned: bool,
    u_ban_reason: Option<String>,
    u_ban_expires: Option<i64>,
    #[sqlx(try_from = "String")]
    u_fields: Fields,
}

impl JoinedUser {
    pub(super) fn two_factor_enabled(&self) -> bool {
        self.u_two_factor_enabled
    }

    pub(super) fn with_id(self, id: &str) -> User {
        User {
            id: id.to_string(),
            name: self.u_name,
            email: self.u_email,
            email_verified: self.u_email_verified,
            image: self.u_image,
            created_at: self.u_created_at,
            updated_at: self.u_updated_at,
            two_factor_enabled: self.u_two_factor_enabled,
            username: self.u_username,
            display_username: self.u_display_username,
            app_id: self.u_app_id,
            role: self.u_role,
            banned: self.u_banned,
            ban_reason: self.u_ban_reason,
            ban_expires: self.u_ban_expires,
            fields: self.u_fields,
        }
    }
}

/// A user and their credential account's hash (if any): one row, one round trip.
#[derive(sqlx::FromRow)]
struct CredentialRow {
    #[sqlx(flatten)]
    user: User,
    password: Option<String>,
}

/// A user by id.
pub(super) async fn by_id<'e, E>(executor: E, id: &str) -> StoreResult<Option<User>>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    Ok(sqlx::query_as(BY_ID).bind(id).fetch_optional(executor).await?)
}

/// Marks the user changed and answers their email (`None`: no such user). A write, so it can
/// open a transaction.
pub(super) async fn touch<'e, E>(executor: E, user_id: &str, now: i64) -> StoreResult<Option<String>>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    Ok(sqlx::query_scalar(TOUCH).bind(user_id).bind(now).fetch_optional(executor).await?)
}

/// The user's mailbox proved itself (a link or code mailed to the address was used): an
/// unverified address becomes verified, and the provider identities attached to it while nobody
/// had proved it are removed, with every session (they may have opened some). Callers have
/// written the user's row first (`touch`).
pub(super) async fn mailbox_proven(
    conn: &mut <Db as sqlx::Database>::Connection,
    user_id: &str,
    now: i64,
) -> StoreResult<()> {
    if !is_verified(&mut *conn, user_id).await? {
        let dropped = sqlx::query(DROP_PROVIDER_IDENTITIES).bind(user_id).execute(&mut *conn).await?;
        // Passkeys added while the address was unproven go the same way.
        let passkeys = passkeys::forget_all(&mut *conn, user_id).await?;
        if dropped.rows_affected() + passkeys > 0 {
            sessions::end(&mut *conn, user_id, EndSessions::All).await?;
        }
        sqlx::query(SET_VERIFIED).bind(user_id).bind(now).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Whether the user's address is verified.
pub(super) async fn is_verified<'e, E>(executor: E, user_id: &str) -> StoreResult<bool>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    let verified: Option<bool> =
        sqlx::query_scalar(IS_VERIFIED).bind(user_id).fetch_optional(executor).await?;
    Ok(verified == Some(true))
}

/// Gives the user `email`, verified; `Conflict` when another account has it.
pub(super) async fn set_verified_email<'e, E>(executor: E, user_id: &str, email: &str) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    sqlx::query(SET_VERIFIED_EMAIL).bind(user_id).bind(email).execute(executor).await.map_err(classify)?;
    Ok(())
}

/// Sets (or, with `None`, clears) the credential account's password hash.
pub(super) async fn set_password<'e, E>(
    executor: E,
    user_id: &str,
    hash: Option<&str>,
    now: i64,
) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    sqlx::query(SET_PASSWORD).bind(user_id).bind(hash).bind(now).execute(executor).await?;
    Ok(())
}

/// Inserts a new user inside the caller's transaction; `Conflict` when the email is taken, or
/// held by an undo link that may still restore it (see `email_changes.rs`).
pub(super) async fn insert_new(
    conn: &mut <Db as sqlx::Database>::Connection,
    user: &User,
) -> StoreResult<()> {
    insert(&mut *conn, user).await?;
    let app = user.app_id.as_deref().unwrap_or("");
    if held_for_undo(&mut *conn, &user.email, app, None, user.created_at).await? {
        return Err(StoreError::Conflict);
    }
    Ok(())
}

/// Inserts a user; `Conflict` when the email is taken.
async fn insert<'e, E>(executor: E, user: &User) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    sqlx::query(INSERT_USER)
        .bind(&user.id)
        .bind(&user.name)
        .bind(&user.email)
        .bind(user.email_verified)
        .bind(&user.image)
        .bind(user.created_at)
        .bind(user.updated_at)
        .bind(user.two_factor_enabled)
        .bind(&user.username)
        .bind(&user.display_username)
        .bind(&user.app_id)
        .bind(&user.role)
        .bind(user.banned)
        .bind(&user.ban_reason)
        .bind(user.ban_expires)
        .bind(user.fields.to_text())
        .execute(executor)
        .await
        .map_err(classify)?;
    Ok(())
}

impl Backend {
    async fn credential(&self, query: &'static str, key: &str, app: &str) -> StoreResult<Option<Credential>> {
        let row: Option<CredentialRow> =
            sqlx::query_as(query).bind(key).bind(app).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| Credential { user: r.user, password_hash: r.password }))
    }
}

#[async_trait]
impl Users for Backend {
    async fn create_user(&self, user: &User, password_hash: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        insert_new(&mut tx, user).await?;
        sqlx::query(INSERT_CREDENTIAL)
            .bind(crate::security::tokens::random_id())
            .bind(&user.id)
            .bind(password_hash)
            .bind(user.created_at)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        super::commit(tx).await?;
        Ok(())
    }

    async fn credential_by_email(&self, email: &str, app: &str) -> StoreResult<Option<Credential>> {
        self.credential(CREDENTIAL_BY_EMAIL, email, app).await
    }

    async fn set_password_hash(&self, user_id: &str, hash: &str, now: i64) -> StoreResult<()> {
        set_password(&self.pool, user_id, Some(hash), now).await
    }

    async fn replace_credentials(
        &self,
        user_id: &str,
        hash: &str,
        end: EndSessions<'_>,
        proven_by_mail: bool,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        // A write first (SQLite's write lock), then what it protects; the address as it is now.
        let Some(current) = touch(&mut *tx, user_id, now).await? else { return Ok(()) };
        if proven_by_mail {
            mailbox_proven(&mut tx, user_id, now).await?;
        }
        let set = sqlx::query(SET_PASSWORD).bind(user_id).bind(hash).bind(now).execute(&mut *tx).await?;
        if set.rows_affected() == 0 {
            // Nothing committed on a failure: no password set means no identities dropped either.
            sqlx::query(ADD_PASSWORD)
                .bind(user_id)
                .bind(hash)
                .bind(now)
                .bind(crate::security::tokens::random_id())
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
        }
        sessions::end(&mut *tx, user_id, end).await?;
        // Pending sign-in challenges go with the other tokens; trusted browsers are forgotten.
        verifications::drop_tokens(&mut *tx, user_id, &current, Drop::OnNewPassword).await?;
        two_factor::forget_devices(&mut *tx, user_id).await?;
        self.commit_announcing(tx, &[Invalidation::User(user_id.to_string())]).await
    }

    async fn update_user(&self, user_id: &str, changes: &ProfileChanges<'_>, now: i64) -> StoreResult<()> {
        // A transaction, so the change's audit event (and webhook deliveries) go with it.
        let mut tx = self.pool.begin().await?;
        sqlx::query(UPDATE_PROFILE)
            .bind(user_id)
            .bind(changes.name)
            .bind(changes.image.is_some())
            .bind(changes.image.flatten())
            .bind(now)
            .bind(changes.username)
            .bind(changes.display_username)
            .bind(changes.fields.map(Fields::to_text))
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        commit(tx).await?;
        self.invalidate(Invalidation::User(user_id.to_string())).await;
        Ok(())
    }

    async fn credential_by_username(&self, username: &str, app: &str) -> StoreResult<Option<Credential>> {
        self.credential(CREDENTIAL_BY_USERNAME, username, app).await
    }

    async fn username_owner(&self, username: &str, app: &str) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar(USERNAME_OWNER).bind(username).bind(app).fetch_optional(&self.pool).await?)
    }

    async fn email_taken(&self, email: &str, app: &str, now: i64) -> StoreResult<bool> {
        let owner: Option<String> =
            sqlx::query_scalar(EMAIL_OWNER).bind(email).bind(app).fetch_optional(&self.pool).await?;
        Ok(owner.is_some() || held_for_undo(&self.pool, email, app, None, now).await?)
    }

    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        by_id(&self.pool, id).await
    }

    async fn set_email_verified(&self, user_id: &str, now: i64) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        touch(&mut *tx, user_id, now).await?;
        mailbox_proven(&mut tx, user_id, now).await?;
        self.commit_announcing(tx, &[Invalidation::User(user_id.to_string())]).await
    }

    async fn change_email(
        &self,
        user_id: &str,
        email: &str,
        end: EndSessions<'_>,
        undo_link: (&str, i64),
        now: i64,
    ) -> StoreResult<Option<String>> {
        let mut tx = self.pool.begin().await?;
        let Some(old) = touch(&mut *tx, user_id, now).await? else { return Ok(None) };
        let app: String = sqlx::query_scalar(APP_OF).bind(user_id).fetch_one(&mut *tx).await?;
        if held_for_undo(&mut *tx, email, &app, Some(user_id), now).await? {
            return Err(StoreError::Conflict);
        }
        set_verified_email(&mut *tx, user_id, email).await?;
        sessions::end(&mut *tx, user_id, end).await?;
        verifications::drop_tokens(&mut *tx, user_id, &old, Drop::OnNewEmail).await?;
        // The undo link is stored with the change: from the commit on it holds the old address,
        // and no change goes without one.
        let (identifier, expires_at) = undo_link;
        verifications::insert(&mut *tx, identifier, &format!("{user_id}|{old}"), expires_at, now).await?;
        self.commit_announcing(tx, &[Invalidation::User(user_id.to_string())]).await?;
        Ok(Some(old))
    }

    async fn delete_user(&self, user_id: &str) -> StoreResult<Result<(), Denied>> {
        let mut tx = self.pool.begin().await?;
        // A write first, so SQLite takes its write lock before anything is read.
        verifications::drop_tokens(&mut *tx, user_id, "", Drop::All).await?;
        // Lock every organization the user is in, in one order (no deadlocks between two such
        // deletions), then count what the locks protect.
        for org in organizations::of_user_in_order(&mut tx, user_id).await? {
            organizations::lock(&mut tx, &org).await?;
        }
        let memberships = organizations::leaving(&mut tx, user_id).await?;
        let alone = match organizations_deleted_with(memberships) {
            Ok(alone) => alone,
            Err(denied) => return Ok(Err(denied)),
        };
        for org in &alone {
            organizations::delete(&mut tx, org).await?;
        }
        // The sessions this user (an admin) opened as other users end with them.
        sessions::end(&mut *tx, user_id, EndSessions::All).await?;
        let mut what = vec![Invalidation::User(user_id.to_string())];
        sqlx::query(DELETE).bind(user_id).execute(&mut *tx).await?;
        // Sessions that had a deleted organization active.
        what.extend(alone.into_iter().map(Invalidation::User));
        self.commit_announcing(tx, &what).await?;
        Ok(Ok(()))
    }
}
