//! The SQL both backends share, written once. (Over 500 lines, in one macro, until issue 11's
//! store split gives each table's SQL a file of its own, as `lockouts.rs` and `email_changes.rs`
//! already have.) Placeholders are `$N` (SQLite accepts them too),
//! identifiers are quoted (camelCase columns, and `user` is reserved in PostgreSQL), timestamps
//! are Unix milliseconds, so the same statements run unchanged on either database.

use crate::domain::model::{SessionRow, User};

macro_rules! subscription_columns {
    () => {
        r#""id", "plan", "referenceId", "status", "periodStart", "periodEnd", "cancelAtPeriodEnd", "seats", "stripeCustomerId", "stripeSubscriptionId", "createdAt", "updatedAt""#
    };
}

macro_rules! organization_columns {
    () => {
        r#""id", "name", "slug", "logo", "metadata", "createdAt""#
    };
}

macro_rules! invitation_columns {
    () => {
        r#""id", "organizationId", "email", "role", "status", "expiresAt", "inviterId", "createdAt""#
    };
}

macro_rules! session_columns {
    () => {
        r#""id", "token", "userId", "expiresAt", "createdAt", "updatedAt", "ipAddress", "userAgent", "activeOrganizationId", "rememberMe""#
    };
}

/// A session joined with its user: one row, one round trip.
#[derive(sqlx::FromRow)]
pub(super) struct SessionUserRow {
    #[sqlx(flatten)]
    pub session: SessionRow,
    pub u_name: String,
    pub u_email: String,
    pub u_email_verified: bool,
    pub u_image: Option<String>,
    pub u_created_at: i64,
    pub u_updated_at: i64,
}

impl SessionUserRow {
    pub fn split(self) -> (SessionRow, User) {
        let user = User {
            id: self.session.user_id.clone(),
            name: self.u_name,
            email: self.u_email,
            email_verified: self.u_email_verified,
            image: self.u_image,
            created_at: self.u_created_at,
            updated_at: self.u_updated_at,
        };
        (self.session, user)
    }
}

/// A member joined with their user.
#[derive(sqlx::FromRow)]
pub(super) struct MemberUserRow {
    #[sqlx(flatten)]
    pub member: crate::domain::model::MemberRow,
    pub u_name: String,
    pub u_email: String,
    pub u_email_verified: bool,
    pub u_image: Option<String>,
    pub u_created_at: i64,
    pub u_updated_at: i64,
}

impl MemberUserRow {
    pub fn split(self) -> (crate::domain::model::MemberRow, User) {
        let user = User {
            id: self.member.user_id.clone(),
            name: self.u_name,
            email: self.u_email,
            email_verified: self.u_email_verified,
            image: self.u_image,
            created_at: self.u_created_at,
            updated_at: self.u_updated_at,
        };
        (self.member, user)
    }
}

/// A member with their user's email (to find a member by email).
#[derive(sqlx::FromRow)]
pub(super) struct MemberEmailRow {
    #[sqlx(flatten)]
    pub member: crate::domain::model::MemberRow,
    pub email: String,
}

/// A user and their credential account's hash (if any): one row, one round trip.
#[derive(sqlx::FromRow)]
pub(super) struct CredentialRow {
    #[sqlx(flatten)]
    pub user: User,
    pub password: Option<String>,
}

pub(super) const CREDENTIAL_BY_EMAIL: &str = r#"SELECT u."id", u."name", u."email", u."emailVerified", u."image", u."createdAt", u."updatedAt",
       a."password"
  FROM "user" u LEFT JOIN "account" a ON a."userId" = u."id" AND a."providerId" = 'credential'
 WHERE u."email" = $1"#;

macro_rules! session_with_user {
    ($key:literal) => {
        concat!(
            r#"SELECT s."id", s."token", s."userId", s."expiresAt", s."createdAt", s."updatedAt",
       s."ipAddress", s."userAgent", s."activeOrganizationId", s."rememberMe",
       u."name" AS u_name, u."email" AS u_email, u."emailVerified" AS u_email_verified,
       u."image" AS u_image, u."createdAt" AS u_created_at, u."updatedAt" AS u_updated_at
  FROM "session" s JOIN "user" u ON u."id" = s."userId"
 WHERE s.""#,
            $key,
            r#"" = $1"#
        )
    };
}

pub(super) const SESSION_WITH_USER: &str = session_with_user!("token");
pub(super) const SESSION_BY_ID: &str = session_with_user!("id");

/// Implements `Store` for a backend struct with a `pool` field.
macro_rules! impl_store {
    ($store:ty, $db:ty, $migrations:literal) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            async fn migrate(&self) -> anyhow::Result<()> {
                sqlx::migrate!($migrations).run(&self.pool).await.map_err(|e| anyhow::anyhow!("migrations: {e}"))
            }

            async fn ping(&self) -> $crate::store::StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn close(&self) {
                self.pool.close().await;
            }

            async fn create_user(
                &self,
                user: &$crate::domain::model::User,
                password_hash: &str,
            ) -> $crate::store::StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    r#"INSERT INTO "user" ("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt")
                       VALUES ($1, $2, $3, $4, $5, $6, $7)"#,
                )
                .bind(&user.id)
                .bind(&user.name)
                .bind(&user.email)
                .bind(user.email_verified)
                .bind(&user.image)
                .bind(user.created_at)
                .bind(user.updated_at)
                .execute(&mut *tx)
                .await
                .map_err($crate::store::classify)?;
                // An address an undo link may still restore is taken (see `email_changes.rs`).
                if email_held_for_undo(&mut *tx, &user.email, None, user.created_at).await? {
                    return Err($crate::store::StoreError::Conflict);
                }
                sqlx::query(
                    r#"INSERT INTO "account" ("id", "accountId", "providerId", "userId", "password", "createdAt", "updatedAt")
                       VALUES ($1, $2, 'credential', $2, $3, $4, $4)"#,
                )
                .bind($crate::security::tokens::random_id())
                .bind(&user.id)
                .bind(password_hash)
                .bind(user.created_at)
                .execute(&mut *tx)
                .await
                .map_err($crate::store::classify)?;
                tx.commit().await?;
                Ok(())
            }

            async fn credential_by_email(
                &self,
                email: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::Credential>> {
                let row: Option<$crate::store::sql::CredentialRow> =
                    sqlx::query_as($crate::store::sql::CREDENTIAL_BY_EMAIL)
                        .bind(email)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(|r| $crate::store::Credential { user: r.user, password_hash: r.password }))
            }

            async fn set_password_hash(&self, user_id: &str, hash: &str, now: i64) -> $crate::store::StoreResult<()> {
                sqlx::query(
                    r#"UPDATE "account" SET "password" = $2, "updatedAt" = $3
                        WHERE "userId" = $1 AND "providerId" = 'credential'"#,
                )
                .bind(user_id)
                .bind(hash)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn replace_credentials(
                &self,
                user_id: &str,
                email: &str,
                hash: &str,
                end: $crate::store::EndSessions<'_>,
                now: i64,
            ) -> $crate::store::StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    r#"UPDATE "account" SET "password" = $2, "updatedAt" = $3
                        WHERE "userId" = $1 AND "providerId" = 'credential'"#,
                )
                .bind(user_id)
                .bind(hash)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                end_sessions(&mut *tx, user_id, end).await?;
                sqlx::query(
                    r#"DELETE FROM "verification"
                        WHERE substr("identifier", 1, 7) <> 'verify:'
                          AND substr("identifier", 1, 11) <> 'undo-email:'
                          AND ("value" = $1
                               OR substr("value", 1, length($1) + 1) = $1 || '|'
                               OR "identifier" IN ('otp:email-verification:' || $2, 'otp:sign-in:' || $2,
                                                   'otp:forget-password:' || $2))"#,
                )
                .bind(user_id)
                .bind(email)
                .execute(&mut *tx)
                .await?;
                self.commit_announcing(tx, &[$crate::store::cache::Invalidation::User(user_id.to_string())]).await
            }

            async fn update_user(
                &self,
                user_id: &str,
                name: Option<&str>,
                image: Option<Option<&str>>,
                now: i64,
            ) -> $crate::store::StoreResult<()> {
                sqlx::query(
                    r#"UPDATE "user" SET "name" = COALESCE($2, "name"),
                              "image" = CASE WHEN $3 THEN $4 ELSE "image" END,
                              "updatedAt" = $5
                        WHERE "id" = $1"#,
                )
                .bind(user_id)
                .bind(name)
                .bind(image.is_some())
                .bind(image.flatten())
                .bind(now)
                .execute(&self.pool)
                .await?;
                self.invalidate($crate::store::cache::Invalidation::User(user_id.to_string())).await;
                Ok(())
            }

            async fn insert_session(&self, s: &$crate::domain::model::SessionRow) -> $crate::store::StoreResult<()> {
                sqlx::query(concat!(
                    r#"INSERT INTO "session" ("#,
                    session_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                ))
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
                .execute(&self.pool)
                .await
                .map_err($crate::store::classify)?;
                Ok(())
            }

            async fn update_session(&self, s: &$crate::domain::model::SessionRow) -> $crate::store::StoreResult<()> {
                // Only the lifetime: the active organization has its own statement, so a refresh
                // racing a set-active cannot write back a stale organization.
                sqlx::query(r#"UPDATE "session" SET "expiresAt" = $2, "updatedAt" = $3 WHERE "token" = $1"#)
                    .bind(&s.token)
                    .bind(s.expires_at)
                    .bind(s.updated_at)
                    .execute(&self.pool)
                    .await?;
                self.invalidate($crate::store::cache::Invalidation::token(&s.token)).await;
                Ok(())
            }

            async fn set_active_organization(
                &self,
                token: &str,
                user_id: &str,
                organization_id: Option<&str>,
            ) -> $crate::store::StoreResult<bool> {
                let mut tx = self.pool.begin().await?;
                if let Some(org) = organization_id
                    && !(lock_organization(&mut *tx, org).await? && membership_in(&mut *tx, org, user_id).await?.is_some())
                {
                    return Ok(false);
                }
                sqlx::query(r#"UPDATE "session" SET "activeOrganizationId" = $2 WHERE "token" = $1"#)
                    .bind(token)
                    .bind(organization_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                self.invalidate($crate::store::cache::Invalidation::token(token)).await;
                Ok(true)
            }

            async fn session_with_user(
                &self,
                token: &str,
                now: i64,
            ) -> $crate::store::StoreResult<Option<$crate::store::SessionBundle>> {
                if let Some(hit) = self.cache.get(token, now) {
                    return Ok(Some(hit));
                }
                let epoch = self.cache.epoch();
                let row: Option<$crate::store::sql::SessionUserRow> =
                    sqlx::query_as($crate::store::sql::SESSION_WITH_USER)
                        .bind(token)
                        .fetch_optional(&self.pool)
                        .await?;
                match row {
                    Some(row) if row.session.expires_at > now => {
                        let (session, user) = row.split();
                        let reference = session.active_organization_id.as_deref().unwrap_or(&user.id);
                        let subscription = self.subscription_for(reference).await?;
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

            async fn delete_session(&self, token: &str) -> $crate::store::StoreResult<()> {
                let what = $crate::store::cache::Invalidation::token(token);
                let mut tx = self.pool.begin().await?;
                sqlx::query(r#"DELETE FROM "session" WHERE "token" = $1"#).bind(token).execute(&mut *tx).await?;
                self.commit_announcing(tx, &[what]).await
            }

            async fn delete_user_session(&self, user_id: &str, token: &str) -> $crate::store::StoreResult<bool> {
                let mut tx = self.pool.begin().await?;
                let done = sqlx::query(r#"DELETE FROM "session" WHERE "userId" = $1 AND "token" = $2"#)
                    .bind(user_id)
                    .bind(token)
                    .execute(&mut *tx)
                    .await?;
                self.commit_announcing(tx, &[$crate::store::cache::Invalidation::token(token)]).await?;
                Ok(done.rows_affected() > 0)
            }

            async fn delete_user_sessions(&self, user_id: &str, keep: Option<&str>) -> $crate::store::StoreResult<u64> {
                let mut tx = self.pool.begin().await?;
                let deleted = delete_sessions(&mut *tx, user_id, keep).await?;
                self.commit_announcing(tx, &[$crate::store::cache::Invalidation::User(user_id.to_string())]).await?;
                Ok(deleted)
            }

            async fn list_sessions(
                &self,
                user_id: &str,
                now: i64,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::model::SessionRow>> {
                Ok(sqlx::query_as(concat!(
                    "SELECT ",
                    session_columns!(),
                    r#" FROM "session" WHERE "userId" = $1 AND "expiresAt" > $2 ORDER BY "createdAt""#
                ))
                .bind(user_id)
                .bind(now)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn session_by_id(
                &self,
                id: &str,
                now: i64,
            ) -> $crate::store::StoreResult<
                Option<($crate::domain::model::SessionRow, $crate::domain::model::User)>,
            > {
                let row: Option<$crate::store::sql::SessionUserRow> =
                    sqlx::query_as($crate::store::sql::SESSION_BY_ID).bind(id).fetch_optional(&self.pool).await?;
                Ok(row.filter(|r| r.session.expires_at > now).map($crate::store::sql::SessionUserRow::split))
            }

            async fn user_by_id(&self, id: &str) -> $crate::store::StoreResult<Option<$crate::domain::model::User>> {
                Ok(sqlx::query_as(
                    r#"SELECT "id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt"
                         FROM "user" WHERE "id" = $1"#,
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn set_email_verified(&self, user_id: &str, now: i64) -> $crate::store::StoreResult<()> {
                sqlx::query(r#"UPDATE "user" SET "emailVerified" = TRUE, "updatedAt" = $2 WHERE "id" = $1"#)
                    .bind(user_id)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                self.invalidate($crate::store::cache::Invalidation::User(user_id.to_string())).await;
                Ok(())
            }

            async fn change_email(
                &self,
                user_id: &str,
                email: &str,
                end: $crate::store::EndSessions<'_>,
                undo_link: (&str, i64),
                now: i64,
            ) -> $crate::store::StoreResult<Option<String>> {
                let mut tx = self.pool.begin().await?;
                let Some(old) = touch_user(&mut *tx, user_id, now).await? else { return Ok(None) };
                if email_held_for_undo(&mut *tx, email, Some(user_id), now).await? {
                    return Err($crate::store::StoreError::Conflict);
                }
                set_verified_email(&mut *tx, user_id, email).await?;
                end_sessions(&mut *tx, user_id, end).await?;
                sqlx::query(
                    r#"DELETE FROM "verification"
                        WHERE substr("identifier", 1, 11) <> 'undo-email:'
                          AND ("value" = $1
                               OR substr("value", 1, length($1) + 1) = $1 || '|'
                               OR "identifier" IN ('otp:email-verification:' || $2, 'otp:sign-in:' || $2,
                                                   'otp:forget-password:' || $2))"#,
                )
                .bind(user_id)
                .bind(&old)
                .execute(&mut *tx)
                .await?;
                // The undo link is stored with the change: from the commit on it holds the old
                // address, and no change goes without one.
                sqlx::query(
                    r#"INSERT INTO "verification" ("id", "identifier", "value", "expiresAt", "createdAt", "updatedAt")
                       VALUES ($1, $2, $3, $4, $5, $5)"#,
                )
                .bind($crate::security::tokens::random_id())
                .bind(undo_link.0)
                .bind(format!("{user_id}|{old}"))
                .bind(undo_link.1)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                self.commit_announcing(tx, &[$crate::store::cache::Invalidation::User(user_id.to_string())]).await?;
                Ok(Some(old))
            }

            async fn delete_user(
                &self,
                user_id: &str,
            ) -> $crate::store::StoreResult<Result<(), $crate::domain::roles::Denied>> {
                use $crate::domain::roles::{Denied, Role};
                let mut tx = self.pool.begin().await?;
                // A write first, so SQLite takes its write lock before anything is read.
                sqlx::query(
                    r#"DELETE FROM "verification"
                        WHERE "value" = $1 OR substr("value", 1, length($1) + 1) = $1 || '|'
                           OR "identifier" IN (SELECT k || u."email" FROM "user" u,
                                (SELECT 'otp:email-verification:' AS k UNION ALL SELECT 'otp:sign-in:'
                                 UNION ALL SELECT 'otp:forget-password:') kinds
                                WHERE u."id" = $1)"#,
                )
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                // Lock every organization the user is in, in one order (no deadlocks between
                // two such deletions), then count what the locks protect.
                let orgs: Vec<String> = sqlx::query_scalar(
                    r#"SELECT "organizationId" FROM "member" WHERE "userId" = $1 ORDER BY "organizationId""#,
                )
                .bind(user_id)
                .fetch_all(&mut *tx)
                .await?;
                for org in &orgs {
                    lock_organization(&mut *tx, org).await?;
                }
                let counts: Vec<(String, String, i64)> = sqlx::query_as(
                    r#"SELECT m."organizationId", m."role", COUNT(*) FROM "member" m
                        WHERE m."organizationId" IN (SELECT "organizationId" FROM "member" WHERE "userId" = $1)
                        GROUP BY m."organizationId", m."role""#,
                )
                .bind(user_id)
                .fetch_all(&mut *tx)
                .await?;
                let mine: Vec<(String, String)> =
                    sqlx::query_as(r#"SELECT "organizationId", "role" FROM "member" WHERE "userId" = $1"#)
                        .bind(user_id)
                        .fetch_all(&mut *tx)
                        .await?;
                let mut alone = Vec::new();
                for (org, role) in mine {
                    let of_org = counts.iter().filter(|(o, _, _)| *o == org);
                    let members: i64 = of_org.clone().map(|(_, _, n)| n).sum();
                    let owners: i64 =
                        of_org.filter(|(_, r, _)| Role::of_stored(r) == Role::Owner).map(|(_, _, n)| n).sum();
                    if members <= 1 {
                        alone.push(org);
                    } else if Role::of_stored(&role) == Role::Owner && owners <= 1 {
                        return Ok(Err(Denied::LastOwner));
                    }
                }
                for org in &alone {
                    delete_organization(&mut *tx, org).await?;
                }
                sqlx::query(r#"DELETE FROM "user" WHERE "id" = $1"#).bind(user_id).execute(&mut *tx).await?;
                let mut what = vec![$crate::store::cache::Invalidation::User(user_id.to_string())];
                what.extend(alone.into_iter().map($crate::store::cache::Invalidation::User));
                self.commit_announcing(tx, &what).await?;
                Ok(Ok(()))
            }

            async fn insert_verification(
                &self,
                identifier: &str,
                value: &str,
                expires_at: i64,
                now: i64,
            ) -> $crate::store::StoreResult<()> {
                sqlx::query(
                    r#"INSERT INTO "verification" ("id", "identifier", "value", "expiresAt", "createdAt", "updatedAt")
                       VALUES ($1, $2, $3, $4, $5, $5)"#,
                )
                .bind($crate::security::tokens::random_id())
                .bind(identifier)
                .bind(value)
                .bind(expires_at)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err($crate::store::classify)?;
                Ok(())
            }

            async fn take_verification(&self, identifier: &str) -> $crate::store::StoreResult<Option<(String, i64)>> {
                Ok(sqlx::query_as(
                    r#"DELETE FROM "verification" WHERE "identifier" = $1 RETURNING "value", "expiresAt""#,
                )
                .bind(identifier)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn peek_verification(&self, identifier: &str) -> $crate::store::StoreResult<Option<(String, i64)>> {
                Ok(sqlx::query_as(r#"SELECT "value", "expiresAt" FROM "verification" WHERE "identifier" = $1"#)
                    .bind(identifier)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn swap_verification(
                &self,
                identifier: &str,
                old: &str,
                new: &str,
                now: i64,
            ) -> $crate::store::StoreResult<bool> {
                let done = sqlx::query(
                    r#"UPDATE "verification" SET "value" = $3, "updatedAt" = $4 WHERE "identifier" = $1 AND "value" = $2"#,
                )
                .bind(identifier)
                .bind(old)
                .bind(new)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn delete_verifications(&self, prefix: &str, value: &str) -> $crate::store::StoreResult<u64> {
                let done = sqlx::query(r#"DELETE FROM "verification" WHERE "identifier" LIKE $1 || '%' AND "value" = $2"#)
                    .bind(prefix)
                    .bind(value)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn verification_created_since(
                &self,
                prefix: &str,
                value: &str,
                since: i64,
            ) -> $crate::store::StoreResult<bool> {
                let found: Option<i32> = sqlx::query_scalar(
                    r#"SELECT 1 FROM "verification" WHERE "identifier" LIKE $1 || '%' AND "value" = $2 AND "createdAt" > $3 LIMIT 1"#,
                )
                .bind(prefix)
                .bind(value)
                .bind(since)
                .fetch_optional(&self.pool)
                .await?;
                Ok(found.is_some())
            }

            async fn subscription_for(
                &self,
                reference_id: &str,
            ) -> $crate::store::StoreResult<Option<$crate::domain::model::SubscriptionRow>> {
                Ok(sqlx::query_as(concat!(
                    "SELECT ",
                    subscription_columns!(),
                    r#" FROM "subscription" WHERE "referenceId" = $1
                        ORDER BY CASE WHEN "status" IN ('active', 'trialing') THEN 0 ELSE 1 END,
                                 COALESCE("periodEnd", 9223372036854775807) DESC, "updatedAt" DESC
                        LIMIT 1"#
                ))
                .bind(reference_id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn put_subscription(&self, row: &$crate::domain::model::SubscriptionRow) -> $crate::store::StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                let previous = previous_reference(&mut *tx, &row.id).await?;
                put_subscription(&mut *tx, row).await?;
                tx.commit().await?;
                self.invalidate_references(row, previous).await;
                Ok(())
            }

            async fn apply_stripe_event(
                &self,
                event_id: &str,
                kind: &str,
                row: &$crate::domain::model::SubscriptionRow,
                now: i64,
            ) -> $crate::store::StoreResult<bool> {
                let mut tx = self.pool.begin().await?;
                let fresh = sqlx::query(
                    r#"INSERT INTO "stripe_event" ("id", "type", "receivedAt") VALUES ($1, $2, $3)
                       ON CONFLICT ("id") DO NOTHING"#,
                )
                .bind(event_id)
                .bind(kind)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                let previous = if fresh { previous_reference(&mut *tx, &row.id).await? } else { None };
                if fresh {
                    put_subscription(&mut *tx, row).await?;
                }
                tx.commit().await?;
                if fresh {
                    self.invalidate_references(row, previous).await;
                }
                Ok(fresh)
            }

            async fn create_organization(
                &self,
                org: &$crate::domain::model::OrganizationRow,
                owner: &$crate::domain::model::MemberRow,
            ) -> $crate::store::StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(concat!(
                    r#"INSERT INTO "organization" ("#,
                    organization_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6)"
                ))
                .bind(&org.id)
                .bind(&org.name)
                .bind(&org.slug)
                .bind(&org.logo)
                .bind(&org.metadata)
                .bind(org.created_at)
                .execute(&mut *tx)
                .await
                .map_err($crate::store::classify)?;
                insert_member(&mut *tx, owner).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn update_organization(
                &self,
                id: &str,
                actor_user_id: &str,
                changes: &$crate::domain::model::OrganizationChanges,
            ) -> $crate::store::StoreResult<
                Result<$crate::domain::model::OrganizationRow, $crate::domain::roles::Denied>,
            > {
                use $crate::domain::roles::Permission;
                let mut tx = self.pool.begin().await?;
                if let Err(denied) = authorize(&mut *tx, id, actor_user_id, Permission::UpdateOrganization).await? {
                    return Ok(Err(denied));
                }
                let org = sqlx::query_as(concat!(
                    r#"UPDATE "organization" SET "name" = COALESCE($2, "name"), "slug" = COALESCE($3, "slug"),
                              "logo" = CASE WHEN $4 THEN $5 ELSE "logo" END,
                              "metadata" = CASE WHEN $6 THEN $7 ELSE "metadata" END
                        WHERE "id" = $1 RETURNING "#,
                    organization_columns!()
                ))
                .bind(id)
                .bind(&changes.name)
                .bind(&changes.slug)
                .bind(changes.logo.is_some())
                .bind(changes.logo.clone().flatten())
                .bind(changes.metadata.is_some())
                .bind(changes.metadata.clone().flatten())
                .fetch_one(&mut *tx)
                .await
                .map_err($crate::store::classify)?;
                tx.commit().await?;
                Ok(Ok(org))
            }

            async fn delete_organization(
                &self,
                id: &str,
                actor_user_id: &str,
            ) -> $crate::store::StoreResult<
                Result<$crate::domain::model::OrganizationRow, $crate::domain::roles::Denied>,
            > {
                use $crate::domain::roles::Permission;
                let mut tx = self.pool.begin().await?;
                if let Err(denied) = authorize(&mut *tx, id, actor_user_id, Permission::DeleteOrganization).await? {
                    return Ok(Err(denied));
                }
                let org = delete_organization(&mut *tx, id).await?;
                tx.commit().await?;
                // Sessions whose active organization it was.
                self.invalidate($crate::store::cache::Invalidation::User(id.to_string())).await;
                Ok(org.ok_or($crate::domain::roles::Denied::OrganizationNotFound))
            }

            async fn change_member(
                &self,
                organization_id: &str,
                actor_user_id: &str,
                target: $crate::store::MemberTarget<'_>,
                change: $crate::domain::roles::MemberChange,
            ) -> $crate::store::StoreResult<Result<$crate::domain::model::MemberRow, $crate::domain::roles::Denied>> {
                use $crate::domain::roles::{Denied, MemberChange, Role, check_member_change};
                use $crate::store::MemberTarget;
                let mut tx = self.pool.begin().await?;
                if !lock_organization(&mut *tx, organization_id).await? {
                    return Ok(Err(Denied::OrganizationNotFound));
                }
                let key = match target {
                    MemberTarget::Id(key) | MemberTarget::Email(key) => key,
                    MemberTarget::Caller => "",
                };
                // The caller, the target and every owner (a superset: roles are parsed below).
                let rows: Vec<$crate::store::sql::MemberEmailRow> = sqlx::query_as(
                    r#"SELECT m."id", m."organizationId", m."userId", m."role", m."createdAt", u."email"
                         FROM "member" m JOIN "user" u ON u."id" = m."userId"
                        WHERE m."organizationId" = $1
                          AND (m."userId" = $2 OR m."id" = $3 OR u."email" = $3 OR LOWER(m."role") LIKE '%owner%')"#,
                )
                .bind(organization_id)
                .bind(actor_user_id)
                .bind(key)
                .fetch_all(&mut *tx)
                .await?;
                let owners = rows.iter().filter(|r| Role::of_stored(&r.member.role) == Role::Owner).count();
                let Some(actor) = rows.iter().find(|r| r.member.user_id == actor_user_id) else {
                    return Ok(Err(Denied::NotAMember));
                };
                let found = match target {
                    MemberTarget::Id(id) => rows.iter().find(|r| r.member.id == id),
                    MemberTarget::Email(email) => rows.iter().find(|r| r.email == email),
                    MemberTarget::Caller => Some(actor),
                };
                let Some(found) = found else {
                    return Ok(Err(Denied::MemberNotFound));
                };
                if let Err(denied) = check_member_change(&actor.member, &found.member, change, owners) {
                    return Ok(Err(denied));
                }
                let mut member = found.member.clone();
                match change {
                    MemberChange::SetRole(role) => {
                        sqlx::query(r#"UPDATE "member" SET "role" = $2 WHERE "id" = $1"#)
                            .bind(&member.id)
                            .bind(role.as_str())
                            .execute(&mut *tx)
                            .await?;
                        member.role = role.as_str().to_string();
                    }
                    MemberChange::Remove | MemberChange::Leave => {
                        sqlx::query(r#"DELETE FROM "member" WHERE "id" = $1"#)
                            .bind(&member.id)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query(
                            r#"UPDATE "session" SET "activeOrganizationId" = NULL
                                WHERE "userId" = $1 AND "activeOrganizationId" = $2"#,
                        )
                        .bind(&member.user_id)
                        .bind(organization_id)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                tx.commit().await?;
                if !matches!(change, MemberChange::SetRole(_)) {
                    self.invalidate($crate::store::cache::Invalidation::User(member.user_id.clone())).await;
                }
                Ok(Ok(member))
            }

            async fn organization(
                &self,
                id_or_slug: &str,
            ) -> $crate::store::StoreResult<Option<$crate::domain::model::OrganizationRow>> {
                Ok(sqlx::query_as(concat!(
                    "SELECT ",
                    organization_columns!(),
                    r#" FROM "organization"
                        WHERE "id" = $1 OR "slug" = $1 ORDER BY CASE WHEN "id" = $1 THEN 0 ELSE 1 END LIMIT 1"#
                ))
                .bind(id_or_slug)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn organizations_of(
                &self,
                user_id: &str,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::model::OrganizationRow>> {
                Ok(sqlx::query_as(
                    r#"SELECT o."id", o."name", o."slug", o."logo", o."metadata", o."createdAt"
                         FROM "organization" o JOIN "member" m ON m."organizationId" = o."id"
                        WHERE m."userId" = $1 ORDER BY o."createdAt""#,
                )
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn membership(
                &self,
                organization_id: &str,
                user_id: &str,
            ) -> $crate::store::StoreResult<Option<$crate::domain::model::MemberRow>> {
                membership_in(&self.pool, organization_id, user_id).await
            }

            async fn members(
                &self,
                organization_id: &str,
            ) -> $crate::store::StoreResult<Vec<($crate::domain::model::MemberRow, $crate::domain::model::User)>> {
                let rows: Vec<$crate::store::sql::MemberUserRow> = sqlx::query_as(
                    r#"SELECT m."id", m."organizationId", m."userId", m."role", m."createdAt",
                              u."name" AS u_name, u."email" AS u_email, u."emailVerified" AS u_email_verified,
                              u."image" AS u_image, u."createdAt" AS u_created_at, u."updatedAt" AS u_updated_at
                         FROM "member" m JOIN "user" u ON u."id" = m."userId"
                        WHERE m."organizationId" = $1 ORDER BY m."createdAt""#,
                )
                .bind(organization_id)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map($crate::store::sql::MemberUserRow::split).collect())
            }

            async fn insert_invitation(&self, i: &$crate::domain::model::InvitationRow) -> $crate::store::StoreResult<()> {
                sqlx::query(concat!(
                    r#"INSERT INTO "invitation" ("#,
                    invitation_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                ))
                .bind(&i.id)
                .bind(&i.organization_id)
                .bind(&i.email)
                .bind(&i.role)
                .bind(&i.status)
                .bind(i.expires_at)
                .bind(&i.inviter_id)
                .bind(i.created_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn invitation(&self, id: &str) -> $crate::store::StoreResult<Option<$crate::domain::model::InvitationRow>> {
                Ok(sqlx::query_as(concat!("SELECT ", invitation_columns!(), r#" FROM "invitation" WHERE "id" = $1"#))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn invitations_of(
                &self,
                organization_id: &str,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::model::InvitationRow>> {
                Ok(sqlx::query_as(concat!(
                    "SELECT ",
                    invitation_columns!(),
                    r#" FROM "invitation" WHERE "organizationId" = $1 ORDER BY "createdAt" DESC"#
                ))
                .bind(organization_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn settle_invitation(
                &self,
                id: &str,
                status: &str,
                expires_at: Option<i64>,
            ) -> $crate::store::StoreResult<bool> {
                let done = sqlx::query(
                    r#"UPDATE "invitation" SET "status" = $2, "expiresAt" = COALESCE($3, "expiresAt")
                        WHERE "id" = $1 AND "status" = 'pending'"#,
                )
                .bind(id)
                .bind(status)
                .bind(expires_at)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn accept_invitation(
                &self,
                id: &str,
                member: &$crate::domain::model::MemberRow,
                token: &str,
            ) -> $crate::store::StoreResult<bool> {
                let mut tx = self.pool.begin().await?;
                if !lock_organization(&mut *tx, &member.organization_id).await? {
                    return Ok(false);
                }
                let done = sqlx::query(r#"UPDATE "invitation" SET "status" = 'accepted' WHERE "id" = $1 AND "status" = 'pending'"#)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                insert_member(&mut *tx, member).await?;
                sqlx::query(r#"UPDATE "session" SET "activeOrganizationId" = $2 WHERE "token" = $1"#)
                    .bind(token)
                    .bind(&member.organization_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                self.invalidate($crate::store::cache::Invalidation::token(token)).await;
                Ok(true)
            }

            async fn current_jwk(&self) -> $crate::store::StoreResult<Option<$crate::store::JwkRow>> {
                Ok(sqlx::query_as(
                    r#"SELECT "id", "publicKey", "privateKey", "alg", "createdAt", "expiresAt"
                         FROM "jwks" WHERE "expiresAt" IS NULL"#,
                )
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn insert_jwk(&self, key: &$crate::store::JwkRow) -> $crate::store::StoreResult<()> {
                insert_jwk(&self.pool, key).await
            }

            async fn rotate_jwk(&self, key: &$crate::store::JwkRow, retire_at: i64) -> $crate::store::StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(r#"UPDATE "jwks" SET "expiresAt" = $1 WHERE "expiresAt" IS NULL"#)
                    .bind(retire_at)
                    .execute(&mut *tx)
                    .await?;
                insert_jwk(&mut *tx, key).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn jwks_valid_after(&self, now: i64) -> $crate::store::StoreResult<Vec<$crate::store::JwkRow>> {
                Ok(sqlx::query_as(
                    r#"SELECT "id", "publicKey", "privateKey", "alg", "createdAt", "expiresAt"
                         FROM "jwks" WHERE "expiresAt" IS NULL OR "expiresAt" > $1
                        ORDER BY "createdAt" DESC"#,
                )
                .bind(now)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn delete_expired_sessions(&self, now: i64) -> $crate::store::StoreResult<u64> {
                let done = sqlx::query(r#"DELETE FROM "session" WHERE "expiresAt" <= $1"#)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }
        }

        /// Marks the user changed and answers their email (`None`: no such user). A write first,
        /// so SQLite takes its write lock before the transaction reads anything.
        async fn touch_user<'e, E>(executor: E, user_id: &str, now: i64) -> $crate::store::StoreResult<Option<String>>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            Ok(sqlx::query_scalar(r#"UPDATE "user" SET "updatedAt" = $2 WHERE "id" = $1 RETURNING "email""#)
                .bind(user_id)
                .bind(now)
                .fetch_optional(executor)
                .await?)
        }

        /// Gives the user `email`, verified; `Conflict` when another account has it.
        async fn set_verified_email<'e, E>(executor: E, user_id: &str, email: &str) -> $crate::store::StoreResult<()>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            sqlx::query(r#"UPDATE "user" SET "email" = $2, "emailVerified" = TRUE WHERE "id" = $1"#)
                .bind(user_id)
                .bind(email)
                .execute(executor)
                .await
                .map_err($crate::store::classify)?;
            Ok(())
        }

        /// Whether a live undo link of another user than `user_id` names `email`.
        async fn email_held_for_undo<'e, E>(executor: E, email: &str, user_id: Option<&str>, now: i64) -> $crate::store::StoreResult<bool>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            let held: i64 = sqlx::query_scalar($crate::store::email_changes::HELD_FOR_UNDO)
                .bind(email)
                .bind(now)
                .bind(user_id)
                .fetch_one(executor)
                .await?;
            Ok(held > 0)
        }

        /// Ends the sessions `end` names.
        async fn end_sessions<'e, E>(executor: E, user_id: &str, end: $crate::store::EndSessions<'_>) -> $crate::store::StoreResult<()>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            match end {
                $crate::store::EndSessions::None => {}
                $crate::store::EndSessions::All => {
                    delete_sessions(executor, user_id, None).await?;
                }
                $crate::store::EndSessions::AllBut(token) => {
                    delete_sessions(executor, user_id, Some(token)).await?;
                }
            }
            Ok(())
        }

        /// Deletes a user's sessions, or all but `keep`; how many went.
        async fn delete_sessions<'e, E>(executor: E, user_id: &str, keep: Option<&str>) -> $crate::store::StoreResult<u64>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            let done = sqlx::query(r#"DELETE FROM "session" WHERE "userId" = $1 AND ($2 IS NULL OR "token" <> $2)"#)
                .bind(user_id)
                .bind(keep)
                .execute(executor)
                .await?;
            Ok(done.rows_affected())
        }

        /// `Conflict` when the user already is a member.
        async fn insert_member<'e, E>(executor: E, m: &$crate::domain::model::MemberRow) -> $crate::store::StoreResult<()>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            sqlx::query(
                r#"INSERT INTO "member" ("id", "organizationId", "userId", "role", "createdAt")
                   VALUES ($1, $2, $3, $4, $5)"#,
            )
            .bind(&m.id)
            .bind(&m.organization_id)
            .bind(&m.user_id)
            .bind(&m.role)
            .bind(m.created_at)
            .execute(executor)
            .await
            .map_err($crate::store::classify)?;
            Ok(())
        }

        /// Takes the organization's row lock, which serialises every change to it and its
        /// memberships (on SQLite, a write: the database's write lock, taken before anything is
        /// read). False when there is no such organization.
        async fn lock_organization(
            conn: &mut <$db as sqlx::Database>::Connection,
            id: &str,
        ) -> $crate::store::StoreResult<bool> {
            let done = sqlx::query(r#"UPDATE "organization" SET "name" = "name" WHERE "id" = $1"#)
                .bind(id)
                .execute(&mut *conn)
                .await?;
            Ok(done.rows_affected() == 1)
        }

        async fn membership_in<'e, E>(
            executor: E,
            organization_id: &str,
            user_id: &str,
        ) -> $crate::store::StoreResult<Option<$crate::domain::model::MemberRow>>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            Ok(sqlx::query_as(
                r#"SELECT "id", "organizationId", "userId", "role", "createdAt" FROM "member"
                    WHERE "organizationId" = $1 AND "userId" = $2"#,
            )
            .bind(organization_id)
            .bind(user_id)
            .fetch_optional(executor)
            .await?)
        }

        /// Locks the organization and checks that `user_id`'s role grants `permission`.
        async fn authorize(
            conn: &mut <$db as sqlx::Database>::Connection,
            organization_id: &str,
            user_id: &str,
            permission: $crate::domain::roles::Permission,
        ) -> $crate::store::StoreResult<Result<(), $crate::domain::roles::Denied>> {
            use $crate::domain::roles::{Denied, Role};
            if !lock_organization(&mut *conn, organization_id).await? {
                return Ok(Err(Denied::OrganizationNotFound));
            }
            Ok(match membership_in(&mut *conn, organization_id, user_id).await? {
                None => Err(Denied::NotAMember),
                Some(m) if !Role::of_stored(&m.role).can(permission) => Err(Denied::NotAllowed),
                Some(_) => Ok(()),
            })
        }

        /// Deletes the organization (members and invitations cascade) after clearing it from the
        /// sessions that have it active; the row as it was. Callers hold its lock first.
        async fn delete_organization(
            conn: &mut <$db as sqlx::Database>::Connection,
            id: &str,
        ) -> $crate::store::StoreResult<Option<$crate::domain::model::OrganizationRow>> {
            sqlx::query(r#"UPDATE "session" SET "activeOrganizationId" = NULL WHERE "activeOrganizationId" = $1"#)
                .bind(id)
                .execute(&mut *conn)
                .await?;
            Ok(sqlx::query_as(concat!(
                r#"DELETE FROM "organization" WHERE "id" = $1 RETURNING "#,
                organization_columns!()
            ))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?)
        }

        /// The owner a subscription had before an update (it may move to another owner).
        async fn previous_reference<'e, E>(executor: E, id: &str) -> $crate::store::StoreResult<Option<String>>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            // A write (that changes nothing), so SQLite takes its write lock before this read and
            // a concurrent writer cannot turn the upsert that follows into SQLITE_BUSY.
            Ok(sqlx::query_scalar(
                r#"UPDATE "subscription" SET "updatedAt" = "updatedAt" WHERE "id" = $1 RETURNING "referenceId""#,
            )
            .bind(id)
            .fetch_optional(executor)
            .await?)
        }

        async fn put_subscription<'e, E>(executor: E, row: &$crate::domain::model::SubscriptionRow) -> $crate::store::StoreResult<()>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            sqlx::query(concat!(
                r#"INSERT INTO "subscription" ("#,
                subscription_columns!(),
                r#") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                   ON CONFLICT ("id") DO UPDATE SET "plan" = excluded."plan", "referenceId" = excluded."referenceId",
                       "status" = excluded."status", "periodStart" = excluded."periodStart",
                       "periodEnd" = excluded."periodEnd", "cancelAtPeriodEnd" = excluded."cancelAtPeriodEnd",
                       "seats" = excluded."seats", "stripeCustomerId" = excluded."stripeCustomerId",
                       "stripeSubscriptionId" = excluded."stripeSubscriptionId", "updatedAt" = excluded."updatedAt"
                   WHERE "subscription"."updatedAt" <= excluded."updatedAt"
                     AND (excluded."stripeSubscriptionId" IS NULL OR "subscription"."status" <> 'canceled')"#
            ))
            .bind(&row.id)
            .bind(&row.plan)
            .bind(&row.reference_id)
            .bind(&row.status)
            .bind(row.period_start)
            .bind(row.period_end)
            .bind(row.cancel_at_period_end)
            .bind(row.seats)
            .bind(&row.stripe_customer_id)
            .bind(&row.stripe_subscription_id)
            .bind(row.created_at)
            .bind(row.updated_at)
            .execute(executor)
            .await?;
            Ok(())
        }

        async fn insert_jwk<'e, E>(executor: E, key: &$crate::store::JwkRow) -> $crate::store::StoreResult<()>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            sqlx::query(
                r#"INSERT INTO "jwks" ("id", "publicKey", "privateKey", "alg", "createdAt", "expiresAt")
                   VALUES ($1, $2, $3, $4, $5, $6)"#,
            )
            .bind(&key.id)
            .bind(&key.public_key)
            .bind(&key.private_key)
            .bind(&key.alg)
            .bind(key.created_at)
            .bind(key.expires_at)
            .execute(executor)
            .await
            .map_err($crate::store::classify)?;
            Ok(())
        }

        impl $store {
            /// Sessions of the subscription's owner, and of its previous owner, look it up afresh.
            async fn invalidate_references(&self, row: &$crate::domain::model::SubscriptionRow, previous: Option<String>) {
                self.invalidate($crate::store::cache::Invalidation::User(row.reference_id.clone())).await;
                if let Some(old) = previous.filter(|old| *old != row.reference_id) {
                    self.invalidate($crate::store::cache::Invalidation::User(old)).await;
                }
            }

            /// Drops the affected cache entries here and tells the other instances (after the
            /// change committed; for changes that end sessions use `commit_announcing`).
            async fn invalidate(&self, what: $crate::store::cache::Invalidation) {
                self.cache.invalidate(&what);
                self.publish(&what).await;
            }

            /// Commits `tx` with the announcement of `what` inside it (PostgreSQL delivers a
            /// NOTIFY on commit, so a committed revocation always reaches the other instances;
            /// nothing is committed if it cannot be announced), then drops the entries here.
            async fn commit_announcing(
                &self,
                mut tx: sqlx::Transaction<'_, $db>,
                what: &[$crate::store::cache::Invalidation],
            ) -> $crate::store::StoreResult<()> {
                for w in what {
                    Self::announce(&mut *tx, w).await?;
                }
                tx.commit().await?;
                for w in what {
                    self.cache.invalidate(w);
                }
                Ok(())
            }
        }

        // Keep the backend's database type named in one place for readers.
        const _: fn(&sqlx::Pool<$db>) = |_| {};
    };
}

pub(super) use {
    impl_store, invitation_columns, organization_columns, session_columns, subscription_columns,
};
