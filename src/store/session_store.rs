//! tower-sessions' `SessionStore` over our `session` table, so sessions stay rows that can be
//! listed and revoked per user.
//!
//! A record's id is the session token (the cookie carries it, signed); its data is the row
//! (`session`), loaded only when a handler starts, changes or ends a session. Reads go to the
//! store directly for the typed row (`http::extract::MaybeAuthenticated`), so the hot path never
//! turns the row into JSON and back.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use tower_sessions::{
    SessionStore,
    session::{Id, Record},
    session_store,
};

use crate::{
    domain::model::SessionRow,
    store::{Store, StoreError},
};

use crate::domain::time::Clock;

pub const SESSION_KEY: &str = "session";

tokio::task_local! {
    /// Set while a session id is cycled without ending the old session (see below).
    static KEEP_OLD_SESSION: ();
}

/// Gives the handle a new id (the next save creates a new row) without deleting the session it
/// had: a sign-in that arrives with another user's session must not end it.
pub async fn cycle_keeping_old(
    handle: &tower_sessions::Session,
) -> Result<(), tower_sessions::session::Error> {
    KEEP_OLD_SESSION.scope((), handle.cycle_id()).await
}

#[derive(Debug, Clone)]
pub struct RowSessionStore {
    store: Arc<dyn Store>,
    clock: Clock,
}

impl RowSessionStore {
    pub fn new(store: Arc<dyn Store>, clock: Clock) -> Self {
        Self { store, clock }
    }
}

fn row_of(record: &Record) -> session_store::Result<SessionRow> {
    let value = record
        .data
        .get(SESSION_KEY)
        .cloned()
        .ok_or_else(|| session_store::Error::Encode("session record without a session row".into()))?;
    let mut row: SessionRow =
        serde_json::from_value(value).map_err(|e| session_store::Error::Encode(e.to_string()))?;
    row.token = record.id.to_string();
    Ok(row)
}

fn backend(err: StoreError) -> session_store::Error {
    if let StoreError::Db(db) = &err {
        crate::error::note_store_failure(db);
    }
    session_store::Error::Backend(err.to_string())
}

/// The record the session layer keeps for a session row (written back when a handler changes
/// it). Handlers read the typed row from the store instead (`http::extract`).
pub fn record_of(session: &SessionRow, id: Id) -> session_store::Result<Record> {
    let row = serde_json::to_value(session).map_err(|e| session_store::Error::Encode(e.to_string()))?;
    let data = std::collections::HashMap::from([(SESSION_KEY.to_string(), row)]);
    let expiry_date =
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(session.expires_at) * 1_000_000)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
    Ok(Record { id, data, expiry_date })
}

#[async_trait]
impl SessionStore for RowSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A 128-bit random id colliding is astronomically unlikely; still, let the unique
        // constraint decide and draw again rather than overwrite someone else's session.
        for _ in 0..3 {
            let row = row_of(record)?;
            match self.store.insert_session(&row).await {
                Ok(()) => {
                    if let Some(Value::Object(map)) = record.data.get_mut(SESSION_KEY) {
                        map.insert("token".into(), Value::String(row.token));
                    }
                    return Ok(());
                }
                Err(StoreError::Conflict) => record.id = Id::default(),
                Err(e) => return Err(backend(e)),
            }
        }
        Err(session_store::Error::Backend("could not draw a unique session token".into()))
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.store.update_session(&row_of(record)?).await.map_err(backend)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let found =
            self.store.session_with_user(&id.to_string(), self.clock.now_ms()).await.map_err(backend)?;
        found.map(|(session, _, _)| record_of(&session, *id)).transpose()
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        if KEEP_OLD_SESSION.try_with(|_| ()).is_ok() {
            return Ok(());
        }
        self.store.delete_session(&id.to_string()).await.map_err(backend)
    }
}
