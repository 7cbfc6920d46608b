//! What an operator sees of the queue and does to it: list jobs by status,
//! requeue a dead one, run a queued one now. The CLI and the admin
//! dashboard both call these, so there is one path to the `jobs` table.

use rusqlite::{params, Connection};
use serde::Serialize;

use crate::error::{ApiError, ApiResult};
use crate::http::page::Page;
use crate::ids::now_ms;

/// One job as an operator sees it (the payload is left out: it may be large).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobSummary {
    pub id: i64,
    pub kind: String,
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// The statuses a job can be in.
pub const STATUSES: [&str; 4] = ["queued", "running", "done", "dead"];

/// Jobs with `status` (any when `None`), newest first, and how many match.
pub fn list(
    conn: &Connection,
    status: Option<&str>,
    page: Page,
) -> ApiResult<(Vec<JobSummary>, i64)> {
    if let Some(s) = status {
        if !STATUSES.contains(&s) {
            return Err(ApiError::field(
                "status",
                format!("status must be one of {}", STATUSES.join(", ")),
            ));
        }
    }
    let total: i64 = conn.query_row(
        "SELECT COUNT(*) FROM jobs WHERE (?1 IS NULL OR status = ?1)",
        [status],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(
        "SELECT id, kind, status, attempts, max_attempts, run_at, last_error, created_at, finished_at
         FROM jobs WHERE (?1 IS NULL OR status = ?1) ORDER BY id DESC LIMIT ?2 OFFSET ?3",
    )?;
    let rows = stmt.query_map(params![status, page.limit, page.offset()], |r| {
        Ok(JobSummary {
            id: r.get(0)?,
            kind: r.get(1)?,
            status: r.get(2)?,
            attempts: r.get(3)?,
            max_attempts: r.get(4)?,
            run_at: r.get(5)?,
            last_error: r.get(6)?,
            created_at: r.get(7)?,
            finished_at: r.get(8)?,
        })
    })?;
    Ok((rows.collect::<Result<_, _>>()?, total))
}

/// Puts a dead job back in the queue, due now, with its attempts and
/// failing clock reset (it gets a full give-up age again).
/// 404 when no such job, 409 when it is not dead.
pub fn requeue(conn: &Connection, id: i64) -> ApiResult<()> {
    move_job(conn, id, "dead", "requeued")
}

/// Makes a queued job (waiting out a retry backoff) due now.
/// 404 when no such job, 409 when it is not queued.
pub fn retry_now(conn: &Connection, id: i64) -> ApiResult<()> {
    move_job(conn, id, "queued", "retried")
}

fn move_job(conn: &Connection, id: i64, from: &str, verb: &str) -> ApiResult<()> {
    let status: Option<String> =
        crate::db::optional(
            conn.query_row("SELECT status FROM jobs WHERE id = ?1", [id], |r| r.get(0)),
        )?;
    match status.as_deref() {
        None => Err(ApiError::not_found("Job")),
        Some(s) if s != from => Err(ApiError::Conflict(format!(
            "job {id} is {s}; only a {from} job can be {verb}"
        ))),
        Some(_) => {
            let reset = if from == "dead" {
                ", attempts = 0, finished_at = NULL, failing_since = NULL"
            } else {
                ""
            };
            conn.execute(
                &format!("UPDATE jobs SET status = 'queued', run_at = ?2, locked_at = NULL{reset} WHERE id = ?1"),
                params![id, now_ms()],
            )?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, payload TEXT NOT NULL,
             status TEXT NOT NULL DEFAULT 'queued', attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL DEFAULT 8,
             run_at INTEGER NOT NULL, locked_at INTEGER, last_error TEXT, created_at INTEGER NOT NULL, finished_at INTEGER, failing_since INTEGER);
             INSERT INTO jobs (kind, payload, status, attempts, run_at, last_error, created_at, finished_at)
               VALUES ('email', '{}', 'dead', 8, 0, 'smtp down', 0, 5),
                      ('email', '{}', 'queued', 2, 99999999999999, 'smtp down', 0, NULL);",
        )
        .unwrap();
        conn
    }

    #[test]
    fn requeue_only_dead_jobs_and_reset_attempts() {
        let conn = db();
        requeue(&conn, 1).unwrap();
        let (rows, total) = list(&conn, Some("queued"), Page { page: 1, limit: 20 }).unwrap();
        assert_eq!(total, 2);
        let job = rows.iter().find(|j| j.id == 1).unwrap();
        assert_eq!((job.attempts, job.finished_at), (0, None));
        assert!(matches!(requeue(&conn, 1), Err(ApiError::Conflict(_))));
        assert!(matches!(requeue(&conn, 42), Err(ApiError::NotFound(_))));
    }

    #[test]
    fn retry_now_makes_a_waiting_job_due() {
        let conn = db();
        retry_now(&conn, 2).unwrap();
        let run_at: i64 = conn
            .query_row("SELECT run_at FROM jobs WHERE id = 2", [], |r| r.get(0))
            .unwrap();
        assert!(run_at <= now_ms());
        assert!(matches!(retry_now(&conn, 1), Err(ApiError::Conflict(_))));
        assert!(list(&conn, Some("bogus"), Page { page: 1, limit: 20 }).is_err());
    }
}
