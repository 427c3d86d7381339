//! Table `session`.

use async_trait::async_trait;

use super::{
    Backend, Db, organizations,
    subscriptions::{
        JoinedSubscription, counting_first, join_counting_subscription, joined_subscription_columns,
    },
    users::{JoinedUser, joined_user_columns},
};
use crate::{
    domain::model::{SessionRow, User},
    store::{EndSessions, SessionBundle, Sessions, StoreResult, cache::Invalidation, classify},
};

/// The `session` table's columns, in `SessionRow`'s order.
macro_rules! session_columns {
    () => {
        r#""id", "token", "userId", "expiresAt", "createdAt", "updatedAt", "ipAddress", "userAgent", "activeOrganizationId", "rememberMe", "impersonatedBy""#
    };
}

const INSERT: &str = concat!(
    r#"INSERT INTO "session" ("#,
    session_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
);

/// Only the lifetime: the active organization has its own statement, so a refresh racing a
/// set-active cannot write back a stale organization.
const UPDATE_LIFETIME: &str = r#"UPDATE "session" SET "expiresAt" = $2, "updatedAt" = $3 WHERE "token" = $1"#;

const SET_ACTIVE_ORGANIZATION: &str =
    r#"UPDATE "session" SET "activeOrganizationId" = $2 WHERE "token" = $1"#;

/// A session (by `$key`) joined with its user, and whether its active organization requires a
/// second factor: one row, one round trip. More columns and joins can be added:
/// `with_user_by!(key, ", more columns", " LEFT JOIN …")`.
macro_rules! with_user_by {
    ($key:literal) => {
        with_user_by!($key, "", "")
    };
    ($key:literal, $columns:expr, $joins:expr) => {
        with_user_by!(@where concat!(r#"s.""#, $key, r#"" = $1"#), $columns, $joins)
    };
    (@where $condition:expr, $columns:expr, $joins:expr) => {
        concat!(
            "SELECT s.*, ",
            joined_user_columns!(),
            r#", COALESCE(o."requireTwoFactor", FALSE) AS "orgRequiresTwoFactor""#,
            $columns,
            r#" FROM "session" s JOIN "user" u ON u."id" = s."userId"
 LEFT JOIN "organization" o ON o."id" = s."activeOrganizationId""#,
            $joins,
            " WHERE ",
            $condition
        )
    };
}

/// Sessions (those `$condition` picks), each with its user, whether its active organization
/// requires a second factor, and the subscription that counts for it (its active organization's,
/// else its user's): what `get-session` needs, in one statement. One definition for the single
/// and the batched read, so their rows cannot drift apart.
macro_rules! for_get_session_where {
    ($condition:literal) => {
        with_user_by!(
            @where $condition,
            concat!(", ", joined_subscription_columns!()),
            join_counting_subscription!(r#"COALESCE(s."activeOrganizationId", s."userId")"#)
        )
    };
}

/// What `get-session` needs for one token.
#[allow(dead_code, reason = "SQLite only: PostgreSQL batches these reads (FOR_GET_SESSIONS)")]
pub(in crate::store) const FOR_GET_SESSION: &str = for_get_session_where!(r#"s."token" = $1"#);

/// [`FOR_GET_SESSION`] for many tokens at once (`$1`: an array of them; PostgreSQL's batched
/// reads, see `store/batch.rs`).
#[allow(dead_code, reason = "PostgreSQL only: SQLite has no arrays and reads in process")]
pub(in crate::store) const FOR_GET_SESSIONS: &str = for_get_session_where!(r#"s."token" = ANY($1)"#);

const WITH_USER_BY_ID: &str = with_user_by!("id");

const DELETE: &str = r#"DELETE FROM "session" WHERE "token" = $1"#;

const DELETE_OF_USER: &str = r#"DELETE FROM "session" WHERE "userId" = $1 AND "token" = $2"#;

/// A user's sessions, or all but `$2`.
/// A user's sessions (but `$2`), and the sessions they opened as others (an admin's
/// impersonations end with the admin's own sessions).
const DELETE_ALL_OF_USER: &str = r#"
DELETE FROM "session" WHERE ("userId" = $1 OR "impersonatedBy" = $1) AND ($2 IS NULL OR "token" <> $2)"#;

const LIVE_OF_USER: &str = concat!(
    "SELECT ",
    session_columns!(),
    r#" FROM "session" WHERE "userId" = $1 AND "expiresAt" > $2 ORDER BY "createdAt""#
);

/// Up to `$2` expired sessions (a batch: a long delete would hold SQLite's write lock).
const DELETE_EXPIRED: &str = r#"
DELETE FROM "session" WHERE "id" IN (SELECT "id" FROM "session" WHERE "expiresAt" <= $1 LIMIT $2)"#;

const CLEAR_ORGANIZATION: &str =
    r#"UPDATE "session" SET "activeOrganizationId" = NULL WHERE "activeOrganizationId" = $1"#;

const CLEAR_ORGANIZATION_OF_USER: &str = r#"
UPDATE "session" SET "activeOrganizationId" = NULL WHERE "userId" = $1 AND "activeOrganizationId" = $2"#;

/// A session joined with its user.
#[derive(Clone, sqlx::FromRow)]
struct WithUser {
    #[sqlx(flatten)]
    session: SessionRow,
    #[sqlx(flatten)]
    user: JoinedUser,
    #[sqlx(rename = "orgRequiresTwoFactor")]
    org_requires_two_factor: bool,
}

/// [`FOR_GET_SESSION`]'s row.
#[derive(Clone, sqlx::FromRow)]
pub(in crate::store) struct ForGetSession {
    #[sqlx(flatten)]
    with_user: WithUser,
    #[sqlx(flatten)]
    subscription: JoinedSubscription,
}

impl ForGetSession {
    #[allow(dead_code, reason = "PostgreSQL only (batched reads)")]
    pub(in crate::store) fn token(&self) -> &str {
        &self.with_user.session.token
    }
}

impl WithUser {
    fn split(self) -> (SessionRow, User) {
        let user = self.user.with_id(&self.session.user_id);
        (self.session, user)
    }
}

/// Ends the sessions `end` names.
pub(super) async fn end<'e, E>(executor: E, user_id: &str, end: EndSessions<'_>) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    match end {
        EndSessions::None => {}
        EndSessions::All => {
            delete_all_of_user(executor, user_id, None).await?;
        }
        EndSessions::AllBut(token) => {
            delete_all_of_user(executor, user_id, Some(token)).await?;
        }
    }
    Ok(())
}

/// Deletes a user's sessions, or all but `keep`; how many went.
async fn delete_all_of_user<'e, E>(executor: E, user_id: &str, keep: Option<&str>) -> StoreResult<u64>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    let done = sqlx::query(DELETE_ALL_OF_USER).bind(user_id).bind(keep).execute(executor).await?;
    Ok(done.rows_affected())
}

/// Points a session at an organization (no check: callers hold the organization's lock and
/// checked the membership).
pub(super) async fn set_active<'e, E>(
    executor: E,
    token: &str,
    organization_id: Option<&str>,
) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    sqlx::query(SET_ACTIVE_ORGANIZATION).bind(token).bind(organization_id).execute(executor).await?;
    Ok(())
}

/// No session has the organization active any more (`user_id`: only that user's sessions).
pub(super) async fn clear_organization<'e, E>(
    executor: E,
    organization_id: &str,
    user_id: Option<&str>,
) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    match user_id {
        None => sqlx::query(CLEAR_ORGANIZATION).bind(organization_id).execute(executor).await?,
        Some(user) => {
            sqlx::query(CLEAR_ORGANIZATION_OF_USER).bind(user).bind(organization_id).execute(executor).await?
        }
    };
    Ok(())
}

#[async_trait]
impl Sessions for Backend {
    async fn insert_session(&self, s: &SessionRow) -> StoreResult<()> {
        // A transaction, for the sign-in's audit event (`commit`).
        let mut tx = self.pool.begin().await?;
        sqlx::query(INSERT)
            .bind(&s.id)
            .bind(&s.token)
            .bind(&s.user_id)
            .bind(s.expires_at)
            .bind(s.created_at)
            .bind(s.updated_at)
            .bind(&s.ip_address)
            .bind(&s.user_agent)
            .bind(&s.active_organization_id)
            .bind(s.remember_me)
            .bind(&s.impersonated_by)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        super::commit(tx).await
    }

    async fn update_session(&self, s: &SessionRow) -> StoreResult<()> {
        sqlx::query(UPDATE_LIFETIME)
            .bind(&s.token)
            .bind(s.expires_at)
            .bind(s.updated_at)
            .execute(&self.pool)
            .await?;
        self.invalidate(Invalidation::token(&s.token)).await;
        Ok(())
    }

    async fn set_active_organization(
        &self,
        token: &str,
        user_id: &str,
        organization_id: Option<&str>,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        if let Some(org) = organization_id
            && !(organizations::lock(&mut tx, org).await?
                && organizations::membership_in(&mut *tx, org, user_id).await?.is_some())
        {
            return Ok(false);
        }
        set_active(&mut *tx, token, organization_id).await?;
        super::commit(tx).await?;
        self.invalidate(Invalidation::token(token)).await;
        Ok(true)
    }

    async fn session_with_user(&self, token: &str, now: i64) -> StoreResult<Option<SessionBundle>> {
        if let Some(hit) = self.cache.get(token, now) {
            return Ok(Some(hit));
        }
        let epoch = self.cache.epoch();
        let row = self.for_get_session(token).await?;
        match row {
            Some(ForGetSession { with_user: row, subscription }) if row.session.expires_at > now => {
                let withheld = row.org_requires_two_factor && !row.user.two_factor_enabled();
                let (mut session, user) = row.split();
                let subscription = if withheld {
                    // Its organization requires a second factor the user lacks: not active (in
                    // what is read; the row keeps it) until they enroll, and no plan.
                    session.active_organization_id = None;
                    None
                } else {
                    subscription.row()
                };
                self.cache.put(epoch, &session, &user, subscription.as_ref(), now);
                Ok(Some((session, user, subscription)))
            }
            Some(_) => {
                self.delete_session(token).await?;
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn delete_session(&self, token: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(DELETE).bind(token).execute(&mut *tx).await?;
        self.commit_announcing(tx, &[Invalidation::token(token)]).await
    }

    async fn delete_user_session(&self, user_id: &str, token: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(DELETE_OF_USER).bind(user_id).bind(token).execute(&mut *tx).await?;
        // Nothing ended: nothing to commit (nor an audit event to write).
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        self.commit_announcing(tx, &[Invalidation::token(token)]).await?;
        Ok(true)
    }

    async fn delete_user_sessions(&self, user_id: &str, keep: Option<&str>) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        let deleted = delete_all_of_user(&mut *tx, user_id, keep).await?;
        self.commit_announcing(tx, &[Invalidation::User(user_id.to_string())]).await?;
        Ok(deleted)
    }

    async fn list_sessions(&self, user_id: &str, now: i64) -> StoreResult<Vec<SessionRow>> {
        Ok(sqlx::query_as(LIVE_OF_USER).bind(user_id).bind(now).fetch_all(&self.pool).await?)
    }

    async fn delete_expired_sessions(&self, now: i64, limit: u32) -> StoreResult<u64> {
        let done = sqlx::query(DELETE_EXPIRED).bind(now).bind(i64::from(limit)).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    async fn session_by_id(&self, id: &str, now: i64) -> StoreResult<Option<(SessionRow, User)>> {
        let row: Option<WithUser> =
            sqlx::query_as(WITH_USER_BY_ID).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.filter(|r| r.session.expires_at > now).map(WithUser::split))
    }
}
