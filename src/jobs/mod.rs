//! A durable job queue in SQLite, worked by tokio tasks in this process.
//!
//! [`enqueue`] takes the caller's transaction, so a job exists exactly when
//! the change that caused it committed. Workers claim due jobs one at a
//! time, run the handler registered for the job's kind, and mark it done;
//! a failure is retried with exponential backoff (2 s doubling up to an
//! hour) for as long as the job has been failing less than
//! `job_give_up_hours` (24 h by default), so a provider outage of a day
//! delays mail and payouts without losing them; then the job is `dead`
//! (kept for inspection, requeued with `baitech jobs requeue ID` or the
//! dashboard). [`prune`] deletes old finished jobs, consumed events and
//! dev outbox files on a daily schedule. Jobs left `running` by a crash
//! are queued again at start, so handlers must tolerate a second run of a
//! job whose first run was cut off (delivery is at least once).

pub mod cli;
pub mod inspect;
pub mod prune;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use crate::error::ApiResult;
use crate::ids::now_ms;
use crate::state::AppState;

/// Stored in `jobs.max_attempts` for compatibility; giving up is decided
/// by how long a job has been failing ([`after_failure`]), not by a count.
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

/// Jobs `(queued, running, dead)`, for `/metrics` and the admin overview.
/// Each is a count over its range of the `(status, run_at)` index, so the
/// finished jobs (most of the table) are never read.
pub fn queue_depth(conn: &Connection) -> ApiResult<(i64, i64, i64)> {
    Ok(conn
        .prepare_cached(
            "SELECT (SELECT COUNT(*) FROM jobs WHERE status = 'queued'),
                    (SELECT COUNT(*) FROM jobs WHERE status = 'running'),
                    (SELECT COUNT(*) FROM jobs WHERE status = 'dead')",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?)
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

/// What happens to a job whose attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Queued again, due at this time (ms).
    RetryAt(i64),
    /// Failing for longer than the give-up age: kept as `dead`.
    Dead,
}

/// The retry rule: a job failing since `failing_since` (its first failure
/// of this run; `None` when this is the first) is retried after
/// [`backoff_ms`] until it has been failing for `give_up_ms`; the last
/// retry is never scheduled past that age, so it is tried once more at it.
pub fn after_failure(
    now: i64,
    failing_since: Option<i64>,
    attempts: i64,
    give_up_ms: i64,
) -> AfterFailure {
    let since = failing_since.unwrap_or(now);
    let give_up_at = since.saturating_add(give_up_ms);
    if now >= give_up_at {
        return AfterFailure::Dead;
    }
    AfterFailure::RetryAt((now + backoff_ms(attempts)).min(give_up_at))
}

struct Claimed {
    id: i64,
    kind: String,
    payload: Value,
    attempts: i64,
    failing_since: Option<i64>,
}

fn claim(conn: &Connection) -> ApiResult<Option<Claimed>> {
    let now = now_ms();
    Ok(conn
        .query_row(
            "UPDATE jobs SET status = 'running', locked_at = ?1, attempts = attempts + 1
             WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND run_at <= ?1 ORDER BY run_at, id LIMIT 1)
             RETURNING id, kind, payload, attempts, failing_since",
            [now],
            |r| {
                let payload: String = r.get(2)?;
                Ok(Claimed {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
                    attempts: r.get(3)?,
                    failing_since: r.get(4)?,
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
        let (id, attempts, failing_since) = (job.id, job.attempts, job.failing_since);
        let give_up_ms = (state.config.job_give_up_hours as i64).saturating_mul(3_600_000);
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
                        "UPDATE jobs SET status = 'done', finished_at = ?2, locked_at = NULL, failing_since = NULL WHERE id = ?1",
                        params![id, now],
                    )?,
                    Err(e) => match after_failure(now, failing_since, attempts, give_up_ms) {
                        AfterFailure::Dead => tx.execute(
                            "UPDATE jobs SET status = 'dead', last_error = ?2, finished_at = ?3, locked_at = NULL WHERE id = ?1",
                            params![id, e, now],
                        )?,
                        AfterFailure::RetryAt(at) => tx.execute(
                            "UPDATE jobs SET status = 'queued', last_error = ?2, run_at = ?3, locked_at = NULL,
                             failing_since = COALESCE(failing_since, ?4) WHERE id = ?1",
                            params![id, e, at, now],
                        )?,
                    },
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

    #[test]
    fn a_job_retries_through_a_day_long_outage_then_dies() {
        const H: i64 = 3_600_000;
        let day = 24 * H;
        // (now, failing since, attempts, expected)
        let table = [
            (1_000, None, 1, AfterFailure::RetryAt(3_000)),
            (10 * H, Some(0), 9, AfterFailure::RetryAt(10 * H + 512_000)),
            (20 * H, Some(0), 30, AfterFailure::RetryAt(21 * H)),
            (23 * H + 1, Some(0), 40, AfterFailure::RetryAt(day)),
            (day, Some(0), 41, AfterFailure::Dead),
            (day + 5, Some(0), 2, AfterFailure::Dead),
        ];
        for (now, since, attempts, expected) in table {
            assert_eq!(
                after_failure(now, since, attempts, day),
                expected,
                "now={now} since={since:?}"
            );
        }
        // Attempts alone never kill a job: the 8th failure a minute in is retried.
        assert!(matches!(
            after_failure(60_000, Some(0), 8, day),
            AfterFailure::RetryAt(_)
        ));
        // The old behaviour (dead after ~4 minutes of outage) is gone.
        let mut now = 0;
        let mut since = None;
        for attempt in 1..=60 {
            match after_failure(now, since, attempt, day) {
                AfterFailure::RetryAt(at) => {
                    since.get_or_insert(now);
                    now = at;
                }
                AfterFailure::Dead => {
                    assert!(now >= day, "died after {now} ms");
                    return;
                }
            }
        }
        panic!("a job failing for 60 attempts never gave up");
    }
}
