//! Raw SQL on a test app's database, for what the server would never do itself.

use std::str::FromStr;

use super::TestApp;

impl TestApp {
    /// Runs `sql` (one or more statements) on this app's database, on a connection of the
    /// test's own: what the server would never do, such as a trigger that makes a table fail.
    pub async fn sql(&self, sql: &str) {
        use sqlx::Connection;
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        if let Some(file) = &self.sqlite_file {
            let url = format!("sqlite://{}", file.display());
            let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("sqlite");
            sqlx::raw_sql(sql).execute(&mut conn).await.expect("sql");
        } else {
            let (schema, url) = (self.pg_schema.as_deref().expect("a database"), pg_url());
            let options = sqlx::postgres::PgConnectOptions::from_str(&url)
                .expect("url")
                .options([("search_path", schema)]);
            let mut conn = sqlx::PgConnection::connect_with(&options).await.expect("postgres");
            sqlx::raw_sql(sql).execute(&mut conn).await.expect("sql");
        }
    }
}

fn pg_url() -> String {
    std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL")
}
