//! Domain events: an outbox written in the same transaction as the change.
//!
//! A module that changes state calls [`emit`] with its transaction; the
//! event commits or rolls back with the change. Consumers (notifications,
//! search indexing, statistics...) subscribe by name and receive every event
//! at least once, in order: each has a cursor in `event_cursors` that only
//! moves after the handler succeeded, so nothing is lost when the process
//! dies between the write and the delivery. Handlers must be idempotent.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use rusqlite::{params, Connection};
use serde_json::Value;

use crate::error::ApiResult;
use crate::ids::now_ms;
use crate::state::AppState;

/// One committed domain event.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: i64,
    pub kind: String,
    pub subject_id: Option<String>,
    pub actor_id: Option<String>,
    pub payload: Value,
    pub created_at: i64,
}

/// Records an event inside the caller's transaction.
pub fn emit(
    conn: &Connection,
    kind: &str,
    subject_id: Option<&str>,
    actor_id: Option<&str>,
    payload: &Value,
) -> ApiResult<i64> {
    conn.execute(
        "INSERT INTO events (kind, subject_id, actor_id, payload, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![kind, subject_id, actor_id, payload.to_string(), now_ms()],
    )?;
    Ok(conn.last_insert_rowid())
}

/// A consumer's handler; an `Err` makes the dispatcher retry the same event.
pub type Handler =
    Arc<dyn Fn(AppState, Event) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// A batch consumer's handler: receives up to 200 consecutive events in
/// order; `Ok` moves the cursor past all of them, an `Err` makes the
/// dispatcher retry the whole batch.
pub type BatchHandler =
    Arc<dyn Fn(AppState, Vec<Event>) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// How a consumer takes its events.
#[derive(Clone)]
enum Delivery {
    /// One call per event; the cursor moves past every event that succeeded.
    Each(Handler),
    /// One call per batch; the cursor moves only when the whole batch
    /// succeeded. After waking on a commit the dispatcher lingers this long
    /// first, so a burst of writes arrives as one batch.
    Batch(BatchHandler, Duration),
}

/// The set of consumers, registered once at start.
#[derive(Default, Clone)]
pub struct EventBus {
    consumers: Vec<(String, Delivery)>,
}

impl EventBus {
    /// Registers `handler` under a stable `name` (its cursor is kept under that name).
    /// A new consumer starts from the current end of the outbox, not its beginning.
    pub fn subscribe<F, Fut>(&mut self, name: &str, handler: F)
    where
        F: Fn(AppState, Event) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |s, e| Box::pin(handler(s, e)));
        self.consumers
            .push((name.to_string(), Delivery::Each(handler)));
    }

    /// Registers a consumer that takes whole batches (at most 200 events, in
    /// order), for consumers that make a batch durable at once (a search
    /// index commit): the cursor never moves past an event of a batch
    /// whose handler has not returned `Ok`. Same cursor rules as
    /// [`EventBus::subscribe`]. Once idle, the dispatcher waits `linger`
    /// after the first new commit before loading, so a burst of writes is
    /// delivered as one batch (one index commit instead of one per write).
    pub fn subscribe_batch<F, Fut>(&mut self, name: &str, linger: Duration, handler: F)
    where
        F: Fn(AppState, Vec<Event>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        let handler: BatchHandler = Arc::new(move |s, e| Box::pin(handler(s, e)));
        self.consumers
            .push((name.to_string(), Delivery::Batch(handler, linger)));
    }

    /// Names of the registered consumers: the retention prune keeps every
    /// event one of them has not read.
    pub fn consumer_names(&self) -> Vec<String> {
        self.consumers.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Starts one delivery task per consumer; they stop when `shutdown` fires.
    pub fn start(
        &self,
        state: AppState,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        self.consumers
            .iter()
            .map(|(name, delivery)| {
                tokio::spawn(deliver(
                    state.clone(),
                    name.clone(),
                    delivery.clone(),
                    shutdown.clone(),
                ))
            })
            .collect()
    }
}

fn load_batch(conn: &Connection, consumer: &str) -> ApiResult<Vec<Event>> {
    let cursor: i64 = match crate::db::optional(conn.query_row(
        "SELECT last_id FROM event_cursors WHERE consumer = ?1",
        [consumer],
        |r| r.get(0),
    ))? {
        Some(c) => c,
        None => {
            let end: i64 =
                conn.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))?;
            conn.execute(
                "INSERT OR IGNORE INTO event_cursors (consumer, last_id) VALUES (?1, ?2)",
                params![consumer, end],
            )?;
            end
        }
    };
    after(conn, cursor, 200)
}

/// Up to `limit` events after `after_id`, in order: what a consumer reads
/// next, and what a backfill (the demo seed) replays through a consumer's
/// own rules.
pub fn after(conn: &Connection, after_id: i64, limit: i64) -> ApiResult<Vec<Event>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, kind, subject_id, actor_id, payload, created_at FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after_id, limit], |r| {
        let payload: String = r.get(4)?;
        Ok(Event {
            id: r.get(0)?,
            kind: r.get(1)?,
            subject_id: r.get(2)?,
            actor_id: r.get(3)?,
            payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
            created_at: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Moves `consumer`'s cursor to at least `last_id` (creating it): the
/// events up to there count as handled, e.g. after a backfill applied them
/// with the consumer's own rules in the same transaction.
pub fn advance_cursor(conn: &Connection, consumer: &str, last_id: i64) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO event_cursors (consumer, last_id) VALUES (?1, ?2)
         ON CONFLICT (consumer) DO UPDATE SET last_id = MAX(last_id, ?2)",
        params![consumer, last_id],
    )?;
    Ok(())
}

async fn deliver(
    state: AppState,
    name: String,
    delivery: Delivery,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let notified = state.db.committed().notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let consumer = name.clone();
        // The cursor row may be created here, so this goes through the writer.
        let batch = state.db.write(move |tx| load_batch(tx, &consumer)).await;
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(consumer = %name, error = %e, "event batch failed to load");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if batch.is_empty() {
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                _ = shutdown.changed() => return,
            }
            if let Delivery::Batch(_, linger) = &delivery {
                tokio::select! {
                    _ = tokio::time::sleep(*linger) => {}
                    _ = shutdown.changed() => return,
                }
            }
            continue;
        }
        let mut delivered = None;
        let mut failed = false;
        match &delivery {
            Delivery::Each(handler) => {
                for event in batch {
                    let id = event.id;
                    let kind = event.kind.clone();
                    match handler(state.clone(), event).await {
                        Ok(()) => delivered = Some(id),
                        Err(e) => {
                            tracing::warn!(consumer = %name, event = id, kind = %kind, error = %e, "event handler failed; will retry");
                            failed = true;
                            break;
                        }
                    }
                }
            }
            Delivery::Batch(handler, _) => {
                let (first, last) = (batch[0].id, batch[batch.len() - 1].id);
                match handler(state.clone(), batch).await {
                    Ok(()) => delivered = Some(last),
                    Err(e) => {
                        tracing::warn!(consumer = %name, first, last, error = %e, "event batch handler failed; will retry");
                        failed = true;
                    }
                }
            }
        }
        if let Some(id) = delivered {
            let consumer = name.clone();
            let moved = state
                .db
                .write(move |tx| {
                    tx.execute(
                        "UPDATE event_cursors SET last_id = ?2 WHERE consumer = ?1 AND last_id < ?2",
                        params![consumer, id],
                    )?;
                    Ok(())
                })
                .await;
            if let Err(e) = moved {
                tracing::warn!(consumer = %name, error = %e, "event cursor not saved");
            }
        }
        if failed {
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.changed() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(60));
        } else {
            backoff = Duration::from_millis(100);
        }
    }
}
