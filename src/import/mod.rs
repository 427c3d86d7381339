//! `gatehouse import better-auth --from URL`: copies a Better Auth 1.x database (PostgreSQL or
//! SQLite) into Gatehouse's. Gatehouse keeps Better Auth's tables and column names, so rows are
//! copied with their ids and converted (timestamps to Unix milliseconds, booleans); a row whose
//! id is already here is left alone, so a second run adds only what is new.
//!
//! What carries over as is: passwords (Better Auth's scrypt hashes: checked at sign-in, then
//! re-hashed with argon2id), two-factor secrets and backup codes (sealed by Better Auth under its
//! secret, which Gatehouse opens when `BETTER_AUTH_SECRET` is the same), and sessions with
//! `--with-sessions` (their cookies stay valid under the same secret). Provider tokens are sealed
//! on the way in. Passkeys and pending verification links are not copied, and are counted.

pub mod cli;
pub mod source;
mod tables;

use std::collections::BTreeMap;

use serde::Serialize;

use self::{
    source::{Source, boolean, time},
    tables::{Kind::*, TABLES, Table},
};
use crate::{
    security::sealing::TokenSealer,
    store::{
        Store,
        import::{Cell, Imported},
    },
};

/// What to copy, and where.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Live sessions too (users stay signed in across the cut-over).
    pub with_sessions: bool,
    /// Into this app (its id) rather than the default space.
    pub app_id: Option<String>,
}

/// What became of one table's rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tally {
    pub table: &'static str,
    pub read: u64,
    pub imported: u64,
    /// Already here (an earlier run).
    pub present: u64,
    /// Not copied, by why.
    pub skipped: BTreeMap<String, u64>,
}

impl Tally {
    fn skip(&mut self, why: impl Into<String>, n: u64) {
        *self.skipped.entry(why.into()).or_default() += n;
    }
}

/// Every table's tally, in the order copied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub tables: Vec<Tally>,
}

impl Summary {
    /// The tally of `table` (its label: `users`, `two-factor`, …).
    pub fn table(&self, table: &str) -> Option<&Tally> {
        self.tables.iter().find(|t| t.table == table)
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for t in &self.tables {
            write!(
                f,
                "{:<14} read {:>7}  imported {:>7}  already here {:>7}",
                t.table, t.read, t.imported, t.present
            )?;
            for (why, n) in &t.skipped {
                write!(f, "\n{:<16}skipped {n}: {why}", "")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// Told as the copy goes: a table's label, rows done, rows in all.
pub type Progress<'a> = &'a mut (dyn FnMut(&str, u64, u64) + Send);

/// Copies the Better Auth database at `from` into `store` (see the module's notes).
pub async fn better_auth(
    store: &dyn Store,
    sealer: &TokenSealer,
    from: &str,
    options: &Options,
    now: i64,
    progress: Progress<'_>,
) -> anyhow::Result<Summary> {
    let source = Source::open(from).await?;
    let copied = copy(&source, store, sealer, options, now, progress).await;
    source.close().await;
    copied
}

async fn copy(
    source: &Source,
    store: &dyn Store,
    sealer: &TokenSealer,
    options: &Options,
    now: i64,
    progress: Progress<'_>,
) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    if source.columns("user").await?.is_empty() {
        anyhow::bail!("--from: no \"user\" table there: is it a Better Auth database?");
    }
    for table in TABLES {
        let mut tally = Tally { table: table.label, ..Tally::default() };
        let target = table.target();
        let has = source.columns(table.name).await?;
        let total = if has.is_empty() { 0 } else { u64::try_from(source.count(table.name).await?)? };
        if table.name == "session" && !options.with_sessions {
            tally.read = total;
            tally.skip("sessions are copied with --with-sessions only", total);
            summary.tables.push(tally);
            continue;
        }
        progress(table.label, 0, total);
        let wanted: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
        let mut after = String::new();
        loop {
            let page = source.page(table.name, &wanted, &has, &after).await?;
            let Some(last) = page.last() else { break };
            after = last[0].clone().unwrap_or_default();
            tally.read += page.len() as u64;
            let mut rows = Vec::with_capacity(page.len());
            for raw in &page {
                match convert(table, raw, options, sealer, now) {
                    Ok(row) => rows.push(row),
                    Err(why) => tally.skip(why, 1),
                }
            }
            let app = options.app_id.as_deref().unwrap_or("");
            for outcome in store.import_rows(&target, app, &rows).await? {
                match outcome {
                    Imported::New => tally.imported += 1,
                    Imported::Present => tally.present += 1,
                    Imported::Conflict => tally.skip(conflict_reason(table.name), 1),
                    Imported::Orphan => tally.skip("what it belongs to is not here (in this app)", 1),
                    Imported::OtherApp => tally.skip("a row with its id is here in another app", 1),
                }
            }
            progress(table.label, tally.read, total);
        }
        summary.tables.push(tally);
    }
    for (label, table, why) in [
        ("passkeys", "passkey", "passkeys are not copied: users register them again"),
        ("verifications", "verification", "pending links and codes are not copied: users ask again"),
    ] {
        if !source.columns(table).await?.is_empty() {
            let n = u64::try_from(source.count(table).await?)?;
            let mut tally = Tally { table: label, read: n, ..Tally::default() };
            if n > 0 {
                tally.skip(why, n);
            }
            summary.tables.push(tally);
        }
    }
    Ok(summary)
}

fn conflict_reason(table: &str) -> &'static str {
    match table {
        "user" => "another user here has the email or username",
        "account" => "the provider account is linked to another user here",
        "organization" => "another organization here has the slug",
        "member" => "the user is already a member here",
        "twoFactor" => "the user already has a second factor here",
        "session" => "another session here has the token",
        _ => "conflicts with a row here",
    }
}

/// One source row as the target's cells, or why it is skipped.
fn convert(
    table: &Table,
    raw: &[Option<String>],
    options: &Options,
    sealer: &TokenSealer,
    now: i64,
) -> Result<Vec<Cell>, String> {
    let mut cells = Vec::with_capacity(raw.len() + 1);
    for ((column, kind), value) in table.columns.iter().zip(raw) {
        let value = value.as_deref();
        let missing = || format!("no {column}");
        let when = |v: &str| time(v).ok_or_else(|| format!("unreadable {column} {v:?}"));
        cells.push(match *kind {
            Text => Cell::Text(value.map(str::to_string)),
            Required => Cell::Text(Some(value.filter(|v| !v.is_empty()).ok_or_else(missing)?.to_string())),
            Email => Cell::Text(Some(value.ok_or_else(missing)?.trim().to_lowercase())),
            TextOr(default) => Cell::Text(Some(value.unwrap_or(default).to_string())),
            Time => Cell::Int(value.map(when).transpose()?),
            RequiredTime => Cell::Int(Some(when(value.ok_or_else(missing)?)?)),
            TimeOrNow => Cell::Int(Some(value.map(when).transpose()?.unwrap_or(now))),
            Bool(default) => Cell::Bool(value.map_or(default, boolean)),
            Int(default) => Cell::Int(Some(value.and_then(|v| v.trim().parse().ok()).unwrap_or(default))),
        });
    }
    match table.name {
        "account" => seal_tokens(&mut cells, raw, sealer)?,
        "session" => {
            if let Cell::Text(Some(token)) = &cells[1] {
                cells[1] = Cell::Text(Some(crate::security::keys::imported_session_token(token)));
            }
            if matches!(cells[3], Cell::Int(Some(expires)) if expires <= now) {
                return Err("expired".into());
            }
        }
        _ => {}
    }
    if table.in_app {
        cells.push(Cell::Text(options.app_id.clone()));
    }
    Ok(cells)
}

/// Seals an account's provider tokens (cells 4, 5, 6) as Gatehouse stores them.
fn seal_tokens(cells: &mut [Cell], raw: &[Option<String>], sealer: &TokenSealer) -> Result<(), String> {
    let identity = format!("{}:{}", raw[2].as_deref().unwrap_or(""), raw[1].as_deref().unwrap_or(""));
    for (i, kind) in [(4, "access"), (5, "refresh"), (6, "id")] {
        if let Some(token) = raw[i].as_deref().filter(|t| !t.is_empty()) {
            let sealed =
                sealer.seal(&identity, kind, token).map_err(|e| format!("cannot seal a token: {e}"))?;
            cells[i] = Cell::Text(Some(sealed));
        }
    }
    Ok(())
}
