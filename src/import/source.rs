//! Reading a Better Auth database (PostgreSQL or SQLite) as text: every column is cast to text
//! by the database itself (`timestamptz`, ISO strings, booleans, 0/1 alike), so one reader serves
//! both, and `convert` turns the text into what Gatehouse stores.

use anyhow::Context;
use sqlx::{AnyPool, AssertSqlSafe, Row, any::AnyPoolOptions};

/// Rows are read in pages of this many, by id.
pub const PAGE: i64 = 500;

pub struct Source {
    pool: AnyPool,
    postgres: bool,
}

impl Source {
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
        if !postgres && !url.starts_with("sqlite:") {
            anyhow::bail!("--from: {url:?} is neither a postgres:// nor a sqlite: URL");
        }
        // Read only: nothing is ever written to the database being left.
        let url = match (postgres, url.contains('?')) {
            (true, _) => url.to_string(),
            (false, true) => format!("{url}&mode=ro"),
            (false, false) => format!("{url}?mode=ro"),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(2)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if postgres {
                        // Timestamps as text in one known form, and nothing written by mistake.
                        sqlx::raw_sql(
                            "SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; \
                             SET default_transaction_read_only = on",
                        )
                        .execute(conn)
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .with_context(|| "--from: cannot open the Better Auth database".to_string())?;
        Ok(Self { pool, postgres })
    }

    /// The columns `table` has (none: no such table).
    pub async fn columns(&self, table: &str) -> anyhow::Result<Vec<String>> {
        let sql = if self.postgres {
            "SELECT CAST(column_name AS TEXT) FROM information_schema.columns \
             WHERE table_name = $1 AND table_schema = current_schema()"
        } else {
            "SELECT name FROM pragma_table_info($1)"
        };
        let rows = sqlx::query(sql).bind(table).fetch_all(&self.pool).await?;
        rows.iter().map(|r| r.try_get::<String, _>(0).map_err(Into::into)).collect()
    }

    pub async fn count(&self, table: &str) -> anyhow::Result<i64> {
        let sql = format!("SELECT CAST(COUNT(*) AS BIGINT) FROM \"{table}\"");
        Ok(sqlx::query(AssertSqlSafe(sql)).fetch_one(&self.pool).await?.try_get::<i64, _>(0)?)
    }

    /// Up to [`PAGE`] rows of `table` with ids after `after`, by id: `wanted` columns as text,
    /// `None` for a NULL or a column the table lacks (`has`: the columns it has).
    pub async fn page(
        &self,
        table: &str,
        wanted: &[&str],
        has: &[String],
        after: &str,
    ) -> anyhow::Result<Vec<Vec<Option<String>>>> {
        let select: Vec<String> = wanted
            .iter()
            .map(|c| match has.iter().any(|h| h == c) {
                true => format!("CAST(\"{c}\" AS TEXT)"),
                false => "CAST(NULL AS TEXT)".into(),
            })
            .collect();
        let sql = format!(
            "SELECT {} FROM \"{table}\" WHERE \"id\" > $1 ORDER BY \"id\" LIMIT {PAGE}",
            select.join(", ")
        );
        let rows = sqlx::query(AssertSqlSafe(sql)).bind(after).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                (0..wanted.len()).map(|i| r.try_get::<Option<String>, _>(i).map_err(Into::into)).collect()
            })
            .collect()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A timestamp as either database writes it: PostgreSQL's `2026-11-30 19:10:23.596+00` (or, for
/// a `timestamp` without time zone, as Prisma and Drizzle make them, without the offset: read as
/// UTC), an ISO string (`2026-11-30T19:10:23.596Z`), or Unix seconds or milliseconds.
pub fn time(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(n) = text.parse::<i64>() {
        // Before 5138 in seconds, after 1973 in milliseconds.
        return Some(if n.abs() < 100_000_000_000 { n * 1000 } else { n });
    }
    let mut iso = text.replacen(' ', "T", 1);
    // A bare hour offset (`+00`, `-05`) gets its minutes.
    let b = iso.as_bytes();
    if b.len() > 3
        && matches!(b[b.len() - 3], b'+' | b'-')
        && b[b.len() - 3..].iter().skip(1).all(u8::is_ascii_digit)
    {
        iso.push_str(":00");
    }
    let has_offset = iso.ends_with('Z')
        || iso.get(10..).is_some_and(|time_part| time_part.contains('+') || time_part.contains('-'));
    if !has_offset && iso.len() >= 19 {
        iso.push('Z');
    }
    crate::domain::time::parse_ms(&iso)
}

/// A boolean as either database writes it (`true`/`t`/`1`).
pub fn boolean(text: &str) -> bool {
    matches!(text.trim(), "true" | "t" | "1" | "TRUE")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_of_both_databases() {
        let ms = 1_796_065_823_596;
        assert_eq!(time("2026-11-30 19:10:23.596+00"), Some(ms));
        assert_eq!(time("2026-11-30 20:10:23.596+01"), Some(ms));
        assert_eq!(time("2026-11-30 19:10:23.596+00:00"), Some(ms));
        assert_eq!(time("2026-11-30T19:10:23.596Z"), Some(ms));
        assert_eq!(time(&ms.to_string()), Some(ms));
        assert_eq!(time("1796065823"), Some(1_796_065_823_000));
        assert_eq!(time("2026-11-30 19:10:23+00"), Some(1_796_065_823_000));
        assert_eq!(time("2026-11-30 19:10:23.596"), Some(ms), "without time zone: UTC");
        assert_eq!(time("2026-11-30T19:10:23.596"), Some(ms));
        assert_eq!(time("yesterday"), None);
        assert!(boolean("t") && boolean("1") && boolean("true") && !boolean("f") && !boolean("0"));
    }
}
