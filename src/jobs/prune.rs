//! Retention: the daily prune. Finished jobs, events every consumer has
//! read, and dev outbox files are deleted after their configured number
//! of days, so email bodies and provider requests do not pile up on disk
//! (dev outbox files carry live reset links until they expire).

use std::path::Path;
use std::time::{Duration, SystemTime};

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use crate::error::ApiResult;
use crate::ids::now_ms;
use crate::jobs::Job;
use crate::state::AppState;

/// The job kind of the daily prune.
pub const JOB: &str = "maintenance.prune";

const DAY_MS: i64 = 86_400_000;

/// Queues the first prune ten minutes after start unless one is queued (call at start).
pub fn schedule(conn: &Connection) -> ApiResult<()> {
    crate::jobs::ensure_scheduled(conn, JOB, now_ms() + 600_000)
}

/// What one prune removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub jobs: usize,
    pub events: usize,
    pub outbox_files: usize,
}

/// Deletes jobs that finished (done or dead) before `jobs_before` (ms).
pub fn prune_jobs(conn: &Connection, jobs_before: i64) -> ApiResult<usize> {
    Ok(conn.execute(
        "DELETE FROM jobs WHERE status IN ('done','dead') AND finished_at < ?1",
        [jobs_before],
    )?)
}

/// Deletes events created before `events_before` (ms) that every one of
/// `consumers` has read (its cursor is past them). A consumer without a
/// cursor yet keeps every event: it has not been asked where it stands.
pub fn prune_events(
    conn: &Connection,
    consumers: &[String],
    events_before: i64,
) -> ApiResult<usize> {
    let mut floor = i64::MAX;
    for name in consumers {
        let cursor: Option<i64> = conn
            .query_row(
                "SELECT last_id FROM event_cursors WHERE consumer = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        match cursor {
            Some(c) => floor = floor.min(c),
            None => return Ok(0),
        }
    }
    Ok(conn.execute(
        "DELETE FROM events WHERE id <= ?1 AND created_at < ?2",
        params![floor, events_before],
    )?)
}

/// Deletes files under `dir` (one level of subfolders too) last modified
/// more than `max_age` ago; a missing folder is nothing to prune.
pub fn prune_files(dir: &Path, max_age: Duration) -> usize {
    let Some(cutoff) = SystemTime::now().checked_sub(max_age) else {
        return 0;
    };
    prune_dir(dir, cutoff, 1)
}

fn prune_dir(dir: &Path, cutoff: SystemTime, depth: u32) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            if depth > 0 {
                removed += prune_dir(&entry.path(), cutoff, depth - 1);
            }
        } else if meta.modified().is_ok_and(|m| m < cutoff)
            && std::fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// The job handler: prunes by the configured retentions, then queues the
/// next run a day later.
pub async fn job(state: AppState, _job: Job) -> Result<(), String> {
    let c = state.config.clone();
    let consumers = state.events.consumer_names();
    let mut pruned = state
        .db
        .write(move |tx| {
            let now = now_ms();
            let jobs = prune_jobs(tx, now - c.job_retention_days as i64 * DAY_MS)?;
            let events =
                prune_events(tx, &consumers, now - c.event_retention_days as i64 * DAY_MS)?;
            let next: Option<i64> = tx
                .query_row(
                    "SELECT id FROM jobs WHERE kind = ?1 AND status = 'queued' LIMIT 1",
                    [JOB],
                    |r| r.get(0),
                )
                .optional()?;
            if next.is_none() {
                crate::jobs::enqueue(tx, JOB, &Value::Null, Some(now + DAY_MS))?;
            }
            Ok(Pruned {
                jobs,
                events,
                outbox_files: 0,
            })
        })
        .await
        .map_err(|e| e.to_string())?;
    let outbox = state.config.data_dir.join("outbox");
    let age = Duration::from_secs(state.config.outbox_retention_days * 86_400);
    pruned.outbox_files = tokio::task::spawn_blocking(move || prune_files(&outbox, age))
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(
        jobs = pruned.jobs,
        events = pruned.events,
        outbox_files = pruned.outbox_files,
        "retention prune"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE jobs (id INTEGER PRIMARY KEY, status TEXT NOT NULL, finished_at INTEGER);
             CREATE TABLE events (id INTEGER PRIMARY KEY, created_at INTEGER NOT NULL);
             CREATE TABLE event_cursors (consumer TEXT PRIMARY KEY, last_id INTEGER NOT NULL);
             INSERT INTO jobs VALUES (1,'done',10),(2,'dead',10),(3,'done',500),(4,'queued',NULL),(5,'running',NULL);
             INSERT INTO events VALUES (1,10),(2,10),(3,10),(4,10),(5,900);
             INSERT INTO event_cursors VALUES ('a',4),('b',2);",
        )
        .unwrap();
        conn
    }

    #[test]
    fn only_old_finished_jobs_go() {
        let conn = db();
        assert_eq!(prune_jobs(&conn, 100).unwrap(), 2);
        let left: i64 = conn
            .query_row("SELECT COUNT(*) FROM jobs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 3);
    }

    #[test]
    fn events_go_only_when_every_consumer_read_them_and_they_are_old() {
        // (consumers, before, removed)
        let table: [(&[&str], i64, usize); 4] = [
            (&["a", "b"], 100, 2),   // b has read up to 2
            (&["a"], 100, 4),        // a up to 4; event 5 is too young anyway
            (&["a", "new"], 100, 0), // a consumer without a cursor keeps all
            (&["a"], 5, 0),          // nothing old enough
        ];
        for (consumers, before, removed) in table {
            let conn = db();
            let names: Vec<String> = consumers.iter().map(|s| s.to_string()).collect();
            assert_eq!(
                prune_events(&conn, &names, before).unwrap(),
                removed,
                "{consumers:?}"
            );
        }
        let conn = db();
        assert_eq!(
            prune_events(&conn, &[], 1000).unwrap(),
            5,
            "no consumers: age decides"
        );
    }

    #[test]
    fn old_outbox_files_go_young_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("email-1.eml");
        let young = dir.path().join("email-2.eml");
        std::fs::create_dir(dir.path().join("mpesa")).unwrap();
        let nested = dir.path().join("mpesa").join("stk-1.json");
        for f in [&old, &young, &nested] {
            std::fs::write(f, "x").unwrap();
        }
        let past = SystemTime::now() - Duration::from_secs(10 * 86_400);
        for f in [&old, &nested] {
            std::fs::File::options()
                .write(true)
                .open(f)
                .unwrap()
                .set_modified(past)
                .unwrap();
        }
        assert_eq!(prune_files(dir.path(), Duration::from_secs(7 * 86_400)), 2);
        assert!(young.exists() && !old.exists() && !nested.exists());
        assert_eq!(prune_files(&dir.path().join("absent"), Duration::ZERO), 0);
    }
}
