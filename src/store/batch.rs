//! Reads by key, batched: concurrent lookups that miss the session cache are gathered and read in
//! one statement (`… WHERE "token" = ANY($1)` on PostgreSQL) instead of one round trip each.
//!
//! There is no waiting window: a worker takes whatever lookups are queued when it is free (at
//! least one, at most `max`), so an idle server answers a lone lookup at once, and a busy one
//! reads many keys per round trip. At a million sessions with uniform draws, PostgreSQL's own
//! per-statement work was about a third of the machine's CPU (see the README's Performance
//! section): batching is what frees it.
//!
//! Each lookup is queued after its caller noted the cache's epoch, and read after it is queued,
//! so the cache's guard against stale re-inserts holds as for a direct read.

use std::{collections::HashMap, future::Future, sync::Arc};

use tokio::sync::{Mutex, mpsc, oneshot};

type Reply<R> = oneshot::Sender<Result<Option<R>, sqlx::Error>>;

/// The queue's far end, shared by the workers (one drains it at a time).
type Queue<R> = Arc<Mutex<mpsc::Receiver<(String, Reply<R>)>>>;

/// The most lookups waiting: past it a lookup is refused at once (503, as with no free
/// connection), so an outage or overload cannot pile up work to do after it ends.
const QUEUE_MAX: usize = 4096;

/// A queue of lookups by key and the workers that answer them.
pub struct Batcher<R> {
    queue: mpsc::Sender<(String, Reply<R>)>,
    /// How long a lookup waits for its answer (then: the database is busy, 503), as a query
    /// waits for a free connection.
    wait: std::time::Duration,
}

impl<R> std::fmt::Debug for Batcher<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").finish_non_exhaustive()
    }
}

impl<R: Clone + Send + 'static> Batcher<R> {
    /// Starts `workers` workers, each reading up to `max` keys at a time with `read`, which
    /// answers the rows found, each with its key; a lookup waits at most `wait`. The workers stop
    /// when the batcher is dropped.
    pub fn start<F, Fut>(workers: usize, max: usize, wait: std::time::Duration, read: F) -> Self
    where
        F: Fn(Vec<String>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<(String, R)>, sqlx::Error>> + Send + 'static,
    {
        let (queue, receiver) = mpsc::channel(QUEUE_MAX);
        let receiver = Arc::new(Mutex::new(receiver));
        let read = Arc::new(read);
        for _ in 0..workers.max(1) {
            tokio::spawn(work(receiver.clone(), read.clone(), max.max(1)));
        }
        Self { queue, wait }
    }

    /// The row for `key`, if there is one.
    pub async fn get(&self, key: &str) -> Result<Option<R>, sqlx::Error> {
        let (reply, answer) = oneshot::channel();
        self.queue.try_send((key.to_string(), reply)).map_err(|err| match err {
            mpsc::error::TrySendError::Full(_) => sqlx::Error::PoolTimedOut,
            mpsc::error::TrySendError::Closed(_) => sqlx::Error::PoolClosed,
        })?;
        match tokio::time::timeout(self.wait, answer).await {
            Ok(answered) => answered.map_err(|_| sqlx::Error::PoolClosed)?,
            Err(_) => Err(sqlx::Error::PoolTimedOut),
        }
    }
}

async fn work<R, F, Fut>(receiver: Queue<R>, read: Arc<F>, max: usize)
where
    R: Clone + Send + 'static,
    F: Fn(Vec<String>) -> Fut,
    Fut: Future<Output = Result<Vec<(String, R)>, sqlx::Error>> + Send + 'static,
{
    let mut batch = Vec::with_capacity(max);
    loop {
        {
            let mut queue = receiver.lock().await;
            if queue.recv_many(&mut batch, max).await == 0 {
                return;
            }
        }
        // Waiters by key: the same key may be asked for twice in one batch. A caller that gave
        // up waiting is not read for.
        let mut waiting: HashMap<String, Vec<Reply<R>>> = HashMap::with_capacity(batch.len());
        for (key, reply) in batch.drain(..).filter(|(_, reply)| !reply.is_closed()) {
            waiting.entry(key).or_default().push(reply);
        }
        if waiting.is_empty() {
            continue;
        }
        // Read in a task of its own: a panic there fails this batch, not the worker.
        let reading = tokio::spawn(read(waiting.keys().cloned().collect()));
        let answer = reading
            .await
            .unwrap_or_else(|panic| Err(sqlx::Error::Protocol(format!("batched read: {panic}"))));
        match answer {
            Ok(rows) => {
                for (key, row) in rows {
                    if let Some(replies) = waiting.remove(&key) {
                        answer_all(replies, Some(row));
                    }
                }
                for replies in waiting.into_values() {
                    answer_all(replies, None);
                }
            }
            Err(err) => {
                // One failure for many callers: sqlx's errors cannot be copied, so each gets one
                // of the same kind (the database away, or not), and the log has the original.
                let away = crate::error::database_unavailable(&err);
                if away {
                    tracing::warn!(error = %err, "batched session read: database unavailable");
                } else {
                    tracing::error!(error = %err, "batched session read failed");
                }
                for reply in waiting.into_values().flatten() {
                    let _ = reply.send(Err(if away {
                        sqlx::Error::PoolTimedOut
                    } else {
                        sqlx::Error::Protocol("batched session read failed (logged)".into())
                    }));
                }
            }
        }
    }
}

fn answer_all<R: Clone>(replies: Vec<Reply<R>>, row: Option<R>) {
    for reply in replies {
        let _ = reply.send(Ok(row.clone()));
    }
}
