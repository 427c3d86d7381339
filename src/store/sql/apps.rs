//! Tables `app` and `apikey` (app keys: `configId` = `app`).

use async_trait::async_trait;

use super::Backend;
use crate::{
    domain::app::App,
    store::{
        StoreError, StoreResult,
        apps::{AppDeleted, AppKeyRow, Apps},
        classify,
    },
};

/// The `app` table's columns, in `AppRow`'s order.
macro_rules! app_columns {
    () => {
        r#""id", "name", "slug", "allowedOrigins", "settings", "createdAt", "updatedAt""#
    };
}

/// The `apikey` columns an app key uses, in `AppKeyRow`'s order.
macro_rules! key_columns {
    () => {
        r#""id", "referenceId", "name", "start", "prefix", "key", "enabled", "expiresAt", "createdAt", "updatedAt""#
    };
}

const ALL_APPS: &str = concat!("SELECT ", app_columns!(), r#" FROM "app" ORDER BY "createdAt""#);

const APP_BY_ID_OR_SLUG: &str =
    concat!("SELECT ", app_columns!(), r#" FROM "app" WHERE "id" = $1 OR "slug" = $1"#);

const ENABLED_KEYS: &str =
    concat!("SELECT ", key_columns!(), r#" FROM "apikey" WHERE "configId" = 'app' AND "enabled""#);

const KEYS_OF: &str = concat!(
    "SELECT ",
    key_columns!(),
    r#" FROM "apikey" WHERE "configId" = 'app' AND "referenceId" = $1 ORDER BY "createdAt""#
);

const INSERT_APP: &str = r#"
INSERT INTO "app" ("id", "name", "slug", "allowedOrigins", "settings", "createdAt", "updatedAt")
VALUES ($1, $2, $3, $4, $5, $6, $7)"#;

const UPDATE_APP: &str = r#"
UPDATE "app" SET "name" = $2, "allowedOrigins" = $3, "settings" = $4, "updatedAt" = $5 WHERE "id" = $1"#;

const INSERT_KEY: &str = r#"
INSERT INTO "apikey" ("id", "configId", "referenceId", "name", "start", "prefix", "key", "enabled", "expiresAt",
                      "createdAt", "updatedAt", "rateLimitEnabled")
VALUES ($1, 'app', $2, $3, $4, $5, $6, $7, $8, $9, $10, FALSE)"#;

const REVOKE_KEY: &str = r#"
UPDATE "apikey" SET "enabled" = FALSE, "updatedAt" = $2 WHERE "id" = $1 AND "configId" = 'app' AND "enabled""#;

const USER_COUNT: &str = r#"SELECT COUNT(*) FROM "user" WHERE "appId" = $1"#;

const DELETE_USERS: &str = r#"DELETE FROM "user" WHERE "appId" = $1"#;

const DELETE_ORGANIZATIONS: &str = r#"DELETE FROM "organization" WHERE "appId" = $1"#;

const DELETE_KEYS: &str = r#"DELETE FROM "apikey" WHERE "configId" = 'app' AND "referenceId" = $1"#;

const DELETE_APP: &str = r#"DELETE FROM "app" WHERE "id" = $1"#;

/// A write that changes nothing: the app's row lock (on SQLite, the database's write lock).
const LOCK_APP: &str = r#"UPDATE "app" SET "updatedAt" = "updatedAt" WHERE "id" = $1"#;

/// An `app` row; origins and settings are JSON text.
#[derive(sqlx::FromRow)]
#[sqlx(rename_all = "camelCase")]
struct AppRow {
    id: String,
    name: String,
    slug: String,
    allowed_origins: String,
    settings: String,
    created_at: i64,
    updated_at: i64,
}

impl AppRow {
    fn into_app(self) -> StoreResult<App> {
        let bad = |e: serde_json::Error| StoreError::Db(sqlx::Error::Decode(Box::new(e)));
        Ok(App {
            allowed_origins: serde_json::from_str(&self.allowed_origins).map_err(bad)?,
            settings: serde_json::from_str(&self.settings).map_err(bad)?,
            id: self.id,
            name: self.name,
            slug: self.slug,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

#[async_trait]
impl Apps for Backend {
    async fn create_app(&self, app: &App, key: &AppKeyRow) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(INSERT_APP)
            .bind(&app.id)
            .bind(&app.name)
            .bind(&app.slug)
            .bind(json(&app.allowed_origins))
            .bind(json(&app.settings))
            .bind(app.created_at)
            .bind(app.updated_at)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        insert_key(&mut *tx, key).await?;
        super::commit(tx).await?;
        Ok(())
    }

    async fn apps_and_keys(&self) -> StoreResult<(Vec<App>, Vec<AppKeyRow>)> {
        let rows: Vec<AppRow> = sqlx::query_as(ALL_APPS).fetch_all(&self.pool).await?;
        let apps = rows.into_iter().map(AppRow::into_app).collect::<StoreResult<_>>()?;
        let keys = sqlx::query_as(ENABLED_KEYS).fetch_all(&self.pool).await?;
        Ok((apps, keys))
    }

    async fn app(&self, id_or_slug: &str) -> StoreResult<Option<App>> {
        let row: Option<AppRow> =
            sqlx::query_as(APP_BY_ID_OR_SLUG).bind(id_or_slug).fetch_optional(&self.pool).await?;
        row.map(AppRow::into_app).transpose()
    }

    async fn update_app(&self, app: &App) -> StoreResult<()> {
        sqlx::query(UPDATE_APP)
            .bind(&app.id)
            .bind(&app.name)
            .bind(json(&app.allowed_origins))
            .bind(json(&app.settings))
            .bind(app.updated_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn insert_app_key(&self, key: &AppKeyRow) -> StoreResult<()> {
        insert_key(&self.pool, key).await
    }

    async fn app_keys(&self, app_id: &str) -> StoreResult<Vec<AppKeyRow>> {
        Ok(sqlx::query_as(KEYS_OF).bind(app_id).fetch_all(&self.pool).await?)
    }

    async fn revoke_app_key(&self, key_id: &str, now: i64) -> StoreResult<bool> {
        Ok(sqlx::query(REVOKE_KEY).bind(key_id).bind(now).execute(&self.pool).await?.rows_affected() == 1)
    }

    async fn app_user_count(&self, app_id: &str) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(USER_COUNT).bind(app_id).fetch_one(&self.pool).await?;
        Ok(n as u64)
    }

    async fn delete_app(&self, app_id: &str, with_users: bool) -> StoreResult<AppDeleted> {
        let mut tx = self.pool.begin().await?;
        // A write first (SQLite's write lock), then the count it protects. A user signing up
        // meanwhile (through a server that has not reloaded yet) makes the app's deletion fail
        // on its foreign key, and nothing is deleted.
        let found = sqlx::query(LOCK_APP).bind(app_id).execute(&mut *tx).await?.rows_affected();
        if found == 0 {
            return Ok(AppDeleted::NotFound);
        }
        let users: i64 = sqlx::query_scalar(USER_COUNT).bind(app_id).fetch_one(&mut *tx).await?;
        if users > 0 && !with_users {
            return Ok(AppDeleted::HasUsers(users as u64));
        }
        sqlx::query(DELETE_USERS).bind(app_id).execute(&mut *tx).await?;
        sqlx::query(DELETE_ORGANIZATIONS).bind(app_id).execute(&mut *tx).await?;
        sqlx::query(DELETE_KEYS).bind(app_id).execute(&mut *tx).await?;
        sqlx::query(DELETE_APP).bind(app_id).execute(&mut *tx).await.map_err(classify)?;
        super::commit(tx).await?;
        // Cached sessions of deleted users expire with the cache's short lifetime; the running
        // servers also stop admitting the app's requests once they reload their apps.
        Ok(AppDeleted::Done { users: users as u64 })
    }
}

async fn insert_key<'e, E>(executor: E, key: &AppKeyRow) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = super::Db>,
{
    sqlx::query(INSERT_KEY)
        .bind(&key.id)
        .bind(&key.reference_id)
        .bind(&key.name)
        .bind(&key.start)
        .bind(&key.prefix)
        .bind(&key.key)
        .bind(key.enabled)
        .bind(key.expires_at)
        .bind(key.created_at)
        .bind(key.updated_at)
        .execute(executor)
        .await
        .map_err(classify)?;
    Ok(())
}
