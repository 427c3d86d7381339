//! PostgreSQL: for production and for several instances sharing one database.

use std::{str::FromStr, time::Duration};

use anyhow::Context;
use sqlx::{
    PgPool, Postgres,
    postgres::{PgConnectOptions, PgPoolOptions},
};

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(url).context("DATABASE_URL: not a valid PostgreSQL URL")?;
        Self::connect_with(options, max_connections).await
    }

    pub async fn connect_with(options: PgConnectOptions, max_connections: u32) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .context("connecting to PostgreSQL")?;
        Ok(Self { pool })
    }
}

use super::sql::{session_columns, user_columns};

super::sql::impl_store!(PostgresStore, Postgres, "migrations/postgres");
