//! The writer thread: owns the one writing connection and commits queued
//! writes in groups.
//!
//! Every write is a closure sent here. The thread takes the first one,
//! opens a `BEGIN IMMEDIATE` transaction, then keeps taking whatever else
//! is already queued (up to [`MAX_BATCH`] writes or [`MAX_BATCH_TIME`]),
//! each under its own savepoint, and commits them together. A write that
//! fails rolls back to its savepoint alone and answers at once; the others
//! answer after the one commit, so nobody hears "done" before it is
//! durable. Under load this turns thirty small commits, each rewriting the
//! same hot pages of the tables' right edges into the WAL, into one; when
//! idle, a lone write commits at once as before.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::Notify;

use crate::error::{ApiError, ApiResult};

/// Most writes committed together.
const MAX_BATCH: usize = 256;
/// Longest a group keeps taking new writes before it commits.
const MAX_BATCH_TIME: Duration = Duration::from_millis(20);

/// What a write does once its group's commit is known: on success it runs
/// its after-commit step and answers with its value, on failure it answers
/// with the error.
type Finish = Box<dyn FnOnce(&Connection, Result<(), &str>) + Send>;

/// A write's own step inside the group transaction (see [`Job::Tx`]).
type Run = Box<dyn FnOnce(Result<&Connection, &str>) -> Option<Finish> + Send>;

/// A queued piece of writing.
pub enum Job {
    /// Runs inside the open group transaction; given `Err` it must answer
    /// that error without running (the transaction could not be opened).
    /// Returns its [`Finish`] when it succeeded, `None` when it already
    /// answered with its own error.
    Tx(Run),
    /// Between groups, the connection itself is handed to a blocking caller
    /// (CLI, maintenance, tests), which works on its own thread, borrowing
    /// what it likes, and hands it back.
    Lend {
        give: SyncSender<Connection>,
        back: Receiver<Connection>,
    },
}

/// A write closure as a [`Job::Tx`], answering through `reply`.
pub fn tx_job<T, F, A>(f: F, after: A, reply: impl FnOnce(ApiResult<T>) + Send + 'static) -> Job
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> ApiResult<T> + Send + 'static,
    A: FnOnce(&Connection, &T) + Send + 'static,
{
    Job::Tx(Box::new(move |conn: Result<&Connection, &str>| {
        let conn = match conn {
            Ok(c) => c,
            Err(why) => {
                reply(Err(ApiError::internal(why)));
                return None;
            }
        };
        if let Err(e) = conn.execute_batch("SAVEPOINT baitech_write") {
            reply(Err(e.into()));
            return None;
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| f(conn)));
        let value = match outcome {
            Ok(Ok(value)) => value,
            Ok(Err(e)) => {
                roll_back_savepoint(conn);
                reply(Err(e));
                return None;
            }
            Err(_) => {
                roll_back_savepoint(conn);
                tracing::error!("a database write panicked; its changes were rolled back");
                reply(Err(ApiError::internal("database write panicked")));
                return None;
            }
        };
        if let Err(e) = conn.execute_batch("RELEASE baitech_write") {
            roll_back_savepoint(conn);
            reply(Err(e.into()));
            return None;
        }
        Some(Box::new(
            move |conn: &Connection, committed: Result<(), &str>| match committed {
                Ok(()) => {
                    after(conn, &value);
                    reply(Ok(value));
                }
                Err(why) => reply(Err(ApiError::internal(why))),
            },
        ))
    }))
}

/// Undoes one write's changes, keeping the rest of the group (a no-op when
/// SQLite already rolled the whole transaction back).
fn roll_back_savepoint(conn: &Connection) {
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK TO baitech_write; RELEASE baitech_write");
    }
}

/// The writer connection while lent out: handed back when dropped, even
/// when the borrower panics.
pub struct Lent {
    conn: Option<Connection>,
    back: SyncSender<Connection>,
}

impl Lent {
    /// Asks the writer thread for its connection and waits for it.
    pub fn borrow(submit: impl FnOnce(Job) -> ApiResult<()>) -> ApiResult<Lent> {
        let (give, taken) = std::sync::mpsc::sync_channel(1);
        let (back, back_rx) = std::sync::mpsc::sync_channel(1);
        submit(Job::Lend {
            give,
            back: back_rx,
        })?;
        let conn = taken
            .recv()
            .map_err(|_| ApiError::internal("database writer stopped"))?;
        Ok(Lent {
            conn: Some(conn),
            back,
        })
    }

    pub fn conn(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("held until dropped")
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = self.back.send(conn);
        }
    }
}

/// What the writer thread shares with the handles.
pub struct Shared {
    pub committed: Arc<Notify>,
    pub generation: Arc<AtomicU64>,
    /// Where storage faults this thread's queries hit are kept (see `health`).
    pub fault: Arc<std::sync::Mutex<Option<super::health::Fault>>>,
}

/// The writer thread's loop; returns when every sender is gone.
pub fn run(mut conn: Connection, jobs: Receiver<Job>, shared: Shared) {
    let mut waiting: Option<Job> = None;
    loop {
        let job = match waiting.take() {
            Some(job) => job,
            None => match jobs.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        let first = match job {
            Job::Lend { give, back } => {
                if let Err(returned) = give.send(conn) {
                    conn = returned.0; // the borrower gave up waiting
                    continue;
                }
                match back.recv() {
                    Ok(returned) => conn = returned,
                    Err(_) => {
                        tracing::error!("the writer connection was not handed back; writes stop");
                        return;
                    }
                }
                continue;
            }
            Job::Tx(f) => f,
        };
        let before = conn.total_changes();
        super::health::take();
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            super::health::note(&e);
            super::record(&shared.fault, super::health::take());
            let why = format!("sqlite: {e}");
            let _ = first(Err(&why));
            continue;
        }
        let started = Instant::now();
        let mut finishes: Vec<Finish> = Vec::new();
        let mut next = Some(first);
        while let Some(f) = next.take() {
            if let Some(finish) = f(Ok(&conn)) {
                finishes.push(finish);
            }
            if conn.is_autocommit() {
                // SQLite rolled the whole transaction back (disk full, I/O
                // error): what the group did so far is gone.
                break;
            }
            if finishes.len() >= MAX_BATCH || started.elapsed() >= MAX_BATCH_TIME {
                break;
            }
            match jobs.try_recv() {
                Ok(Job::Tx(f)) => next = Some(f),
                Ok(lend @ Job::Lend { .. }) => waiting = Some(lend),
                Err(_) => {}
            }
        }
        let committed = if conn.is_autocommit() {
            Err("sqlite: the transaction was rolled back".to_string())
        } else {
            match conn.execute_batch("COMMIT") {
                Ok(()) => Ok(()),
                Err(e) => {
                    super::health::note(&e);
                    if !conn.is_autocommit() {
                        let _ = conn.execute_batch("ROLLBACK");
                    }
                    Err(format!("sqlite: {e}"))
                }
            }
        };
        super::record(&shared.fault, super::health::take());
        let changed = committed.is_ok() && conn.total_changes() != before;
        if changed {
            shared.generation.fetch_add(1, Ordering::Release);
        }
        for finish in finishes {
            let outcome = committed.as_ref().map(|_| ()).map_err(String::as_str);
            // A panicking after-commit step must not take the writer with it
            // (its caller hears "writer stopped"; the others are unaffected).
            if catch_unwind(AssertUnwindSafe(|| finish(&conn, outcome))).is_err() {
                tracing::error!("an after-commit step panicked");
            }
        }
        // Only a write that changed rows can give a worker something to do
        // (or make a cached row stale); waking workers after an empty job
        // claim made idle workers wake each other in a loop of empty
        // transactions.
        if changed {
            shared.committed.notify_waiters();
        }
    }
}
