//! The admin API's statements on `user` (role, ban, changes) and the user search.

use async_trait::async_trait;

use super::{Backend, sessions, users};
use crate::{
    domain::model::User,
    store::{
        EndSessions, StoreResult,
        admin::{Admin, AdminChanges, Ban, Match, UserField, UserQuery},
        cache::Invalidation,
    },
};

const UPDATE: &str = concat!(
    r#"
UPDATE "user" SET "name" = COALESCE($2, "name"), "image" = CASE WHEN $3 THEN $4 ELSE "image" END,
       "emailVerified" = COALESCE($5, "emailVerified"), "role" = COALESCE($6, "role"), "updatedAt" = $7,
       "fields" = COALESCE("#,
    merge_fields!("$8"),
    r#", "fields")
 WHERE "id" = $1"#
);

const BAN: &str = r#"
UPDATE "user" SET "banned" = TRUE, "banReason" = $2, "banExpires" = $3, "updatedAt" = $4 WHERE "id" = $1"#;

const UNBAN: &str = r#"
UPDATE "user" SET "banned" = FALSE, "banReason" = NULL, "banExpires" = NULL, "updatedAt" = $2 WHERE "id" = $1"#;

const SESSION_USER: &str =
    r#"SELECT "userId", "token" FROM "session" WHERE ("token" = $1 OR "id" = $1) AND "expiresAt" > $2"#;

const LIFT_EXPIRED: &str = r#"
UPDATE "user" SET "banned" = FALSE, "banReason" = NULL, "banExpires" = NULL, "updatedAt" = $2
 WHERE "id" = $1 AND "banned" AND "banExpires" <= $2"#;

/// `WHERE` for a text match of `column` against the bound parameter `$n` (LIKE patterns are
/// built in Rust, with `\` escaping `%`, `_` and itself).
fn text_match(column: &str, how: Match, n: usize) -> String {
    match how {
        Match::Eq => format!("{column} = ${n}"),
        Match::Ne => format!("{column} <> ${n}"),
        _ => format!("{column} LIKE ${n} ESCAPE '\\'"),
    }
}

/// The bound value for a text match.
fn pattern(value: &str, how: Match) -> String {
    let escaped: String = value
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    match how {
        Match::Eq | Match::Ne => value.to_string(),
        Match::Contains => format!("%{escaped}%"),
        Match::StartsWith => format!("{escaped}%"),
        Match::EndsWith => format!("%{escaped}"),
    }
}

/// The `WHERE` clause and its bound values (`$1` is the app).
fn conditions(q: &UserQuery) -> (String, Vec<Bound>) {
    let mut sql = r#" WHERE COALESCE("appId", '') = $1"#.to_string();
    let mut values = vec![Bound::Text(q.app.clone())];
    if let Some((value, how)) = &q.search {
        let n = values.len() + 1;
        // SQLite's LIKE ignores ASCII case already (and its LOWER knows no other letters);
        // PostgreSQL's trigram index is on LOWER("name").
        let name =
            if <super::Db as sqlx::Database>::NAME == "SQLite" { r#""name""# } else { r#"LOWER("name")"# };
        sql.push_str(&format!(
            " AND ({} OR {})",
            text_match(r#""email""#, *how, n),
            text_match(name, *how, n + 1)
        ));
        values.push(Bound::Text(pattern(&value.to_lowercase(), *how)));
        values.push(Bound::Text(pattern(&value.to_lowercase(), *how)));
    }
    if let Some((field, how, value)) = &q.filter {
        let n = values.len() + 1;
        match field {
            UserField::Banned | UserField::EmailVerified => {
                let op = if *how == Match::Ne { "<>" } else { "=" };
                sql.push_str(&format!(" AND {} {op} ${n}", field.column()));
                values.push(Bound::Bool(value == "true"));
            }
            UserField::CreatedAt => {
                let op = if *how == Match::Ne { "<>" } else { "=" };
                sql.push_str(&format!(" AND {} {op} ${n}", field.column()));
                values.push(Bound::Int(value.parse().unwrap_or(i64::MIN)));
            }
            _ => {
                sql.push_str(&format!(" AND {}", text_match(field.column(), *how, n)));
                values.push(Bound::Text(pattern(value, *how)));
            }
        }
    }
    (sql, values)
}

enum Bound {
    Text(String),
    Bool(bool),
    Int(i64),
}

macro_rules! bind_all {
    ($query:expr, $values:expr) => {{
        let mut query = $query;
        for v in $values {
            query = match v {
                Bound::Text(s) => query.bind(s.clone()),
                Bound::Bool(b) => query.bind(*b),
                Bound::Int(i) => query.bind(*i),
            };
        }
        query
    }};
}

impl Backend {
    /// Ends an admin change to `user_id`: the commit with `what`
    /// announced, and the user as they are now.
    async fn commit_reading_back(
        &self,
        tx: sqlx::Transaction<'_, super::Db>,
        what: &[Invalidation],
        user_id: &str,
    ) -> StoreResult<Option<User>> {
        self.commit_announcing(tx, what).await?;
        users::by_id(&self.pool, user_id).await
    }
}

#[async_trait]
impl Admin for Backend {
    async fn list_users(&self, q: &UserQuery) -> StoreResult<(Vec<User>, u64)> {
        let (filter, values) = conditions(q);
        let direction = if q.sort.1 { "DESC" } else { "ASC" };
        let page = format!(
            r#"SELECT * FROM "user"{filter} ORDER BY {} {direction}, "id" {direction} LIMIT {} OFFSET {}"#,
            q.sort.0.column(),
            q.limit,
            q.offset
        );
        let count = format!(r#"SELECT COUNT(*) FROM "user"{filter}"#);
        // The page and the count on two connections at once: the count (a scan, for a text
        // search) sets the pace.
        let users = bind_all!(sqlx::query_as(sqlx::AssertSqlSafe(page)), &values).fetch_all(&self.pool);
        let total = bind_all!(sqlx::query_scalar(sqlx::AssertSqlSafe(count)), &values).fetch_one(&self.pool);
        let (users, total): (Vec<User>, i64) = tokio::try_join!(users, total)?;
        Ok((users, total as u64))
    }

    async fn admin_update_user(
        &self,
        user_id: &str,
        c: &AdminChanges,
        now: i64,
    ) -> StoreResult<Option<User>> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(UPDATE)
            .bind(user_id)
            .bind(&c.name)
            .bind(c.image.is_some())
            .bind(c.image.clone().flatten())
            .bind(c.email_verified)
            .bind(&c.role)
            .bind(now)
            .bind(c.fields.as_ref().map(crate::domain::fields::Fields::to_text))
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        // A role taken away is a revocation: announced with the commit.
        self.commit_reading_back(tx, &[Invalidation::User(user_id.to_string())], user_id).await
    }

    async fn ban_user(&self, user_id: &str, ban: &Ban, now: i64) -> StoreResult<Option<User>> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(BAN)
            .bind(user_id)
            .bind(&ban.reason)
            .bind(ban.expires)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        // A banned admin's sessions as other users end too.
        sessions::end(&mut *tx, user_id, EndSessions::All).await?;
        self.commit_reading_back(tx, &[Invalidation::User(user_id.to_string())], user_id).await
    }

    async fn unban_user(&self, user_id: &str, now: i64) -> StoreResult<Option<User>> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(UNBAN).bind(user_id).bind(now).execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.commit_reading_back(tx, &[Invalidation::User(user_id.to_string())], user_id).await
    }

    async fn insert_user(&self, user: &User) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        users::insert_new(&mut tx, user).await?;
        super::commit(tx).await?;
        Ok(())
    }

    async fn user_of_session(&self, token_or_id: &str, now: i64) -> StoreResult<Option<(String, String)>> {
        Ok(sqlx::query_as(SESSION_USER).bind(token_or_id).bind(now).fetch_optional(&self.pool).await?)
    }

    async fn lift_expired_ban(&self, user_id: &str, now: i64) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(LIFT_EXPIRED).bind(user_id).bind(now).execute(&mut *tx).await?;
        let lifted = done.rows_affected() == 1;
        if lifted {
            self.commit_announcing(tx, &[Invalidation::User(user_id.to_string())]).await?;
        }
        Ok(lifted)
    }
}
