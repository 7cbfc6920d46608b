//! A durable job queue in SQLite, worked by tokio tasks in this process.
//!
//! [`enqueue`] takes the caller's transaction, so a job exists exactly when
//! the change that caused it committed. Workers claim due jobs one at a
//! time, run the handler registered for the job's kind, and mark it done;
//! a failure is retried with exponential backoff until `max_attempts`, then
//! the job is `dead` (kept for inspection). Jobs left `running` by a crash
//! are queued again at start, so handlers must tolerate a second run of a
//! job whose first run was cut off (delivery is at least once).

pub mod inspect;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use crate::error::ApiResult;
use crate::ids::now_ms;
use crate::state::AppState;

/// Attempts before a job is declared dead.
pub const DEFAULT_MAX_ATTEMPTS: i64 = 8;

/// Queues a job of `kind` in the caller's transaction, due at `run_at` (ms) or now.
pub fn enqueue(
    conn: &Connection,
    kind: &str,
    payload: &Value,
    run_at: Option<i64>,
) -> ApiResult<i64> {
    let now = now_ms();
    conn.execute(
        "INSERT INTO jobs (kind, payload, run_at, max_attempts, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![kind, payload.to_string(), run_at.unwrap_or(now), DEFAULT_MAX_ATTEMPTS, now],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Queues `kind` at `run_at` unless one is already queued: for recurring
/// maintenance jobs whose handler schedules the next run.
pub fn ensure_scheduled(conn: &Connection, kind: &str, run_at: i64) -> ApiResult<()> {
    let queued: Option<i64> = conn
        .query_row(
            "SELECT id FROM jobs WHERE kind = ?1 AND status IN ('queued','running') LIMIT 1",
            [kind],
            |r| r.get(0),
        )
        .optional()?;
    if queued.is_none() {
        enqueue(conn, kind, &Value::Null, Some(run_at))?;
    }
    Ok(())
}

/// Jobs waiting to run, for `/metrics`.
pub fn queue_depth(conn: &Connection) -> ApiResult<(i64, i64, i64)> {
    Ok(conn.query_row(
        "SELECT COALESCE(SUM(status = 'queued'), 0), COALESCE(SUM(status = 'running'), 0), COALESCE(SUM(status = 'dead'), 0) FROM jobs",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?)
}

/// What a handler is given: the job's id (stable across retries, useful as an
/// idempotency key towards providers), which attempt this is, and its payload.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub attempt: i64,
    pub payload: Value,
}

/// A job handler; `Err` means retry later.
pub type Handler =
    Arc<dyn Fn(AppState, Job) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// Handlers by job kind, registered once at start.
#[derive(Default, Clone)]
pub struct JobRegistry {
    handlers: HashMap<String, Handler>,
}

impl JobRegistry {
    /// Registers the handler for `kind`.
    pub fn register<F, Fut>(&mut self, kind: &str, handler: F)
    where
        F: Fn(AppState, Job) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |s, p| Box::pin(handler(s, p)));
        self.handlers.insert(kind.to_string(), handler);
    }

    fn get(&self, kind: &str) -> Option<Handler> {
        self.handlers.get(kind).cloned()
    }
}

/// Delay before retry number `attempt` (1-based): 2 s, 4 s, 8 s... capped at an hour.
pub fn backoff_ms(attempt: i64) -> i64 {
    let exp = attempt.clamp(1, 12) as u32;
    (1000i64 << exp).min(3_600_000)
}

struct Claimed {
    id: i64,
    kind: String,
    payload: Value,
    attempts: i64,
    max_attempts: i64,
}

fn claim(conn: &Connection) -> ApiResult<Option<Claimed>> {
    let now = now_ms();
    Ok(conn
        .query_row(
            "UPDATE jobs SET status = 'running', locked_at = ?1, attempts = attempts + 1
             WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND run_at <= ?1 ORDER BY run_at, id LIMIT 1)
             RETURNING id, kind, payload, attempts, max_attempts",
            [now],
            |r| {
                let payload: String = r.get(2)?;
                Ok(Claimed {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
                    attempts: r.get(3)?,
                    max_attempts: r.get(4)?,
                })
            },
        )
        .optional()?)
}

/// Puts jobs that a crashed process left `running` back in the queue.
pub fn recover_abandoned(conn: &Connection) -> ApiResult<usize> {
    Ok(conn.execute(
        "UPDATE jobs SET status = 'queued', locked_at = NULL WHERE status = 'running'",
        [],
    )?)
}

/// Starts `workers` worker tasks. Each finishes its current job when
/// `shutdown` fires, then stops.
pub fn start(
    state: AppState,
    workers: u32,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..workers.max(1))
        .map(|n| tokio::spawn(work(state.clone(), n, shutdown.clone())))
        .collect()
}

async fn work(state: AppState, worker: u32, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let notified = state.db.committed().notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let job = match state.db.write(claim).await {
            Ok(job) => job,
            Err(e) => {
                tracing::warn!(worker, error = %e, "could not claim a job");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let Some(job) = job else {
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = shutdown.changed() => return,
            }
            continue;
        };
        let outcome = match state.jobs.get(&job.kind) {
            Some(handler) => {
                let ctx = Job {
                    id: job.id,
                    attempt: job.attempts,
                    payload: job.payload,
                };
                handler(state.clone(), ctx).await
            }
            None => Err(format!("no handler for job kind {}", job.kind)),
        };
        let (id, attempts, max) = (job.id, job.attempts, job.max_attempts);
        let kind = job.kind;
        match &outcome {
            Ok(()) => tracing::debug!(worker, job = id, kind = %kind, "job done"),
            Err(e) => {
                tracing::warn!(worker, job = id, kind = %kind, attempts, error = %e, "job failed")
            }
        }
        let saved = state
            .db
            .write(move |tx| {
                let now = now_ms();
                match outcome {
                    Ok(()) => tx.execute(
                        "UPDATE jobs SET status = 'done', finished_at = ?2, locked_at = NULL WHERE id = ?1",
                        params![id, now],
                    )?,
                    Err(e) if attempts >= max => tx.execute(
                        "UPDATE jobs SET status = 'dead', last_error = ?2, finished_at = ?3, locked_at = NULL WHERE id = ?1",
                        params![id, e, now],
                    )?,
                    Err(e) => tx.execute(
                        "UPDATE jobs SET status = 'queued', last_error = ?2, run_at = ?3, locked_at = NULL WHERE id = ?1",
                        params![id, e, now + backoff_ms(attempts)],
                    )?,
                };
                Ok(())
            })
            .await;
        if let Err(e) = saved {
            tracing::error!(worker, job = id, error = %e, "job outcome not saved");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_ms(1), 2000);
        assert_eq!(backoff_ms(2), 4000);
        assert_eq!(backoff_ms(3), 8000);
        assert_eq!(backoff_ms(40), 3_600_000);
    }
}
