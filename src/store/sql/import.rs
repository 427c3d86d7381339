//! Rows copied from another server's database, each written only if absent.

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Row};

use super::{Backend, Db};
use crate::store::{
    StoreResult,
    import::{Cell, Import, Imported, Target},
};

/// `INSERT … SELECT $1… WHERE <parents exist> ON CONFLICT DO NOTHING`: built from a `Target`, whose
/// names are the importer's constants, never input.
fn insert_sql(t: &Target) -> String {
    let columns: Vec<String> = t.columns.iter().map(|c| format!("\"{c}\"")).collect();
    let values: Vec<String> = (1..=t.columns.len()).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO \"{}\" ({}) SELECT {} WHERE {} ON CONFLICT DO NOTHING",
        t.table,
        columns.join(", "),
        values.join(", "),
        parents_exist(t)
    )
}

/// Each parent's existence in the app (by its column's placeholder; the app's key is
/// the placeholder after the row's cells).
fn parents_exist(t: &Target) -> String {
    let app = t.columns.len() + 1;
    let checks: Vec<String> = t
        .parents
        .iter()
        .map(|(column, table)| {
            let at = t.columns.iter().position(|c| c == column).expect("a parent column is a column") + 1;
            format!(
                "EXISTS (SELECT 1 FROM \"{table}\" WHERE \"id\" = ${at} AND COALESCE(\"appId\", '') = ${app})"
            )
        })
        .collect();
    // (Without parents the app's placeholder is still used: a statement takes every bound value.)
    if checks.is_empty() { format!("CAST(${app} AS TEXT) IS NOT NULL") } else { checks.join(" AND ") }
}

fn bind<'q>(
    mut query: sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments>,
    cells: &'q [Cell],
) -> sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments> {
    for cell in cells {
        query = match cell {
            Cell::Text(v) => query.bind(v.as_deref()),
            Cell::Int(v) => query.bind(*v),
            Cell::Bool(v) => query.bind(*v),
        };
    }
    query
}

#[async_trait]
impl Import for Backend {
    async fn import_rows(
        &self,
        target: &Target,
        app: &str,
        rows: &[Vec<Cell>],
    ) -> StoreResult<Vec<Imported>> {
        let insert = insert_sql(target);
        let in_app = target.columns.contains(&"appId");
        // The app a row with this id is in (`''` for tables without one: their parents' app).
        let app_of = match in_app {
            true => format!("SELECT COALESCE(\"appId\", '') FROM \"{}\" WHERE \"id\" = $1", target.table),
            false => format!("SELECT CAST('' AS TEXT) FROM \"{}\" WHERE \"id\" = $1", target.table),
        };
        let orphan = format!("SELECT 1 WHERE {}", parents_exist(target));
        let mut tx = self.pool.begin().await?;
        let mut done = Vec::with_capacity(rows.len());
        for row in rows {
            let written =
                bind(sqlx::query(AssertSqlSafe(insert.clone())), row).bind(app).execute(&mut *tx).await?;
            if written.rows_affected() == 1 {
                done.push(Imported::New);
                continue;
            }
            let found =
                bind(sqlx::query(AssertSqlSafe(app_of.clone())), &row[..1]).fetch_optional(&mut *tx).await?;
            let there: Option<String> = found.map(|r| r.try_get(0)).transpose()?;
            let orphaned = bind(sqlx::query(AssertSqlSafe(orphan.clone())), row).bind(app);
            done.push(match there {
                Some(a) if a == app || !in_app => Imported::Present,
                Some(_) => Imported::OtherApp,
                None if orphaned.fetch_optional(&mut *tx).await?.is_none() => Imported::Orphan,
                None => Imported::Conflict,
            });
        }
        tx.commit().await?;
        Ok(done)
    }
}
