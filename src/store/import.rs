//! The storage side of importing another server's database (`gatehouse import better-auth`):
//! rows copied with their ids, each only if absent (its SQL: `sql/import.rs`).

use async_trait::async_trait;

use super::StoreResult;

/// One value to write.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
}

/// Where rows go: a table, its columns (in the order of each row's cells), and the columns that
/// reference another table's `id` (a row whose parent is absent is not written).
#[derive(Debug, Clone)]
pub struct Target {
    pub table: &'static str,
    pub columns: Vec<&'static str>,
    pub parents: &'static [(&'static str, &'static str)],
}

/// What became of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    New,
    /// A row with its id is there already (an earlier run).
    Present,
    /// Another row holds one of its unique values (an email, a slug, a provider account).
    Conflict,
    /// A row it references (its user, its organization) is absent, or in another app.
    Orphan,
    /// A row with its id is here, in another app.
    OtherApp,
}

#[async_trait]
pub trait Import: Send + Sync {
    /// Writes each of `rows` (cells in `target.columns`' order; the first column is `id`) into app
    /// `app` (`""`: the default space) unless present or conflicting, in one transaction; what
    /// became of each.
    async fn import_rows(&self, target: &Target, app: &str, rows: &[Vec<Cell>])
    -> StoreResult<Vec<Imported>>;
}
