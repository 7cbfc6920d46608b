//! The database: a read pool plus one writer connection, migrations embedded.
//!
//! SQLite allows one writer at a time. Every write goes to the single
//! writer connection on its own thread ([`writer`]), inside `BEGIN
//! IMMEDIATE`, so writers queue instead of failing with `SQLITE_BUSY`, a
//! deferred transaction can never fail on upgrade, and writes that queue
//! up together share one commit. Reads use the pool concurrently (WAL) on
//! tokio's blocking threads, never on the async executor.

pub mod cache;
pub mod health;
pub mod lock;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::Notify;

use crate::error::{ApiError, ApiResult};

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Applies the per-connection settings every connection needs.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         PRAGMA synchronous = NORMAL;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -16000;",
    )
}

fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("PRAGMA data_version")?
        .query_row([], |r| r.get(0))
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: Pool<SqliteConnectionManager>,
    /// One permit per pooled connection: readers wait here, on the async
    /// side, instead of parking blocking threads on the pool's condvar.
    readers: Arc<tokio::sync::Semaphore>,
    writer: Arc<WriterThread>,
    committed: Arc<Notify>,
    /// Bumped after every commit of this process: a value read before a
    /// query and still current later means nothing was written in between.
    generation: Arc<std::sync::atomic::AtomicU64>,
    /// The database file, named in errors and probed by [`Db::check_health`].
    path: Arc<PathBuf>,
    /// The last storage fault a query of this database hit (see [`health`]).
    fault: Arc<Mutex<Option<health::Fault>>>,
    /// The last probe's time and verdict, reused for [`PROBE_EVERY`].
    probed: Arc<Mutex<Option<Probed>>>,
    /// A connection of its own that notices commits of other processes
    /// (`baitech user set-role` beside a running server) through
    /// `PRAGMA data_version`, and the value it last saw.
    watcher: Arc<std::sync::Mutex<(Connection, i64)>>,
}

/// When the health probe ran and what it found.
type Probed = (std::time::Instant, Result<(), String>);

/// How long a probe's verdict is reused: `/health` polled in a loop (load
/// balancers, benchmarks) costs one fresh connection per interval, not per call.
const PROBE_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// The writer thread and the queue into it; dropping the last handle
/// closes the queue and waits for the thread to close the connection.
struct WriterThread {
    jobs: Option<Sender<writer::Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for WriterThread {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            // The last handle may be dropped by a write's own after-commit
            // step, on the writer thread itself.
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

impl Db {
    /// Opens (creating if needed) the database at `path`, applies pending
    /// migrations on the writer, then hands out the read pool.
    pub fn open(path: &Path, pool_size: u32) -> Result<Db, String> {
        let named = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let mut writer = Connection::open(path).map_err(|e| named(&e))?;
        writer
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| named(&e))?;
        configure(&writer).map_err(|e| named(&e))?;
        embedded::migrations::runner()
            .run(&mut writer)
            .map_err(|e| named(&format!("migrations: {e}")))?;
        let manager = SqliteConnectionManager::file(path)
            .with_flags(
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI,
            )
            .with_init(|c| configure(c));
        // Connections open on demand (none at start, the idle ones closed
        // after r2d2's 10 minutes): an idle server holds no read connections.
        let pool = Pool::builder()
            .max_size(pool_size.max(1))
            .min_idle(Some(0))
            .test_on_check_out(false)
            .build(manager)
            .map_err(|e| format!("pool: {e}"))?;
        let committed = Arc::new(Notify::new());
        let generation = Arc::<std::sync::atomic::AtomicU64>::default();
        let fault = Arc::<Mutex<Option<health::Fault>>>::default();
        let shared = writer::Shared {
            committed: committed.clone(),
            generation: generation.clone(),
            fault: fault.clone(),
        };
        let (jobs, queue) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("db-writer".into())
            .spawn(move || writer::run(writer, queue, shared))
            .map_err(|e| format!("writer thread: {e}"))?;
        let watch = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let seen = data_version(&watch).map_err(|e| e.to_string())?;
        Ok(Db {
            watcher: Arc::new(std::sync::Mutex::new((watch, seen))),
            readers: Arc::new(tokio::sync::Semaphore::new(pool_size.max(1) as usize)),
            pool,
            writer: Arc::new(WriterThread {
                jobs: Some(jobs),
                thread: Some(thread),
            }),
            committed,
            generation,
            path: Arc::new(path.to_path_buf()),
            fault,
            probed: Arc::default(),
        })
    }

    /// Runs read-only work on a pooled connection off the async threads.
    pub async fn read<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> ApiResult<T> + Send + 'static,
    {
        let permit = self
            .readers
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::internal("database closed"))?;
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            db.read_blocking(f)
        })
        .await?
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction on the writer thread
    /// (possibly together with other queued writes, each under its own
    /// savepoint). Its changes are kept when it returns Ok and undone when
    /// it returns Err or panics; the answer comes once they are committed,
    /// and the job workers and event consumers wake after the commit.
    pub async fn write<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> ApiResult<T> + Send + 'static,
    {
        self.write_then(f, |_, _| {}).await
    }

    /// [`Db::write`], then `after(conn, &value)` once the transaction is
    /// durable and while the writer is still held, so in-memory indexes
    /// (R-tree, caches) see changes in commit order and never ahead of them.
    pub async fn write_then<T, F, A>(&self, f: F, after: A) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> ApiResult<T> + Send + 'static,
        A: FnOnce(&Connection, &T) + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(writer::tx_job(f, after, move |r| {
            let _ = tx.send(r);
        }))?;
        rx.await
            .map_err(|_| ApiError::internal("database writer stopped"))?
    }

    /// [`Db::read`] for code that is already on a blocking thread (CLI, workers).
    pub fn read_blocking<T>(&self, f: impl FnOnce(&Connection) -> ApiResult<T>) -> ApiResult<T> {
        let conn = self.pool.get()?;
        health::take();
        let result = f(&conn);
        if let Some(fault) = health::take() {
            self.record_fault(fault);
        }
        result
    }

    fn record_fault(&self, fault: health::Fault) {
        record(&self.fault, Some(fault));
    }

    /// [`Db::write`] for code that is already on a blocking thread (CLI,
    /// maintenance, tests): it borrows the writer connection between
    /// groups, so `f` may borrow from its caller.
    pub fn write_blocking<T>(&self, f: impl FnOnce(&Connection) -> ApiResult<T>) -> ApiResult<T> {
        self.write_then_blocking(f, |_, _| {})
    }

    /// [`Db::write_then`] for code that is already on a blocking thread.
    pub fn write_then_blocking<T>(
        &self,
        f: impl FnOnce(&Connection) -> ApiResult<T>,
        after: impl FnOnce(&Connection, &T),
    ) -> ApiResult<T> {
        let (value, changed) = {
            let mut lent = writer::Lent::borrow(|job| self.submit(job))?;
            let conn = lent.conn();
            let before = conn.total_changes();
            health::take();
            let done = (|| {
                let tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let value = f(&tx)?;
                tx.commit()?;
                Ok::<_, ApiError>(value)
            })();
            let fault = health::take();
            record(&self.fault, fault.clone());
            let value = done?;
            let changed = conn.total_changes() != before;
            if changed {
                self.generation
                    .fetch_add(1, std::sync::atomic::Ordering::Release);
            }
            after(conn, &value);
            (value, changed)
        };
        if changed {
            self.committed.notify_waiters();
        }
        Ok(value)
    }

    fn submit(&self, job: writer::Job) -> ApiResult<()> {
        self.writer
            .jobs
            .as_ref()
            .and_then(|q| q.send(job).ok())
            .ok_or_else(|| ApiError::internal("database writer stopped"))
    }

    /// The commit generation (see the field); caches of database rows keep
    /// the generation they were read at and are valid only while it holds.
    pub fn generation(&self) -> u64 {
        self.notice_other_writers();
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Bumps the generation when the file changed under any other
    /// connection since the last look, so caches of rows never serve a row
    /// another process changed (a role change, a suspension).
    fn notice_other_writers(&self) {
        let mut w = self.watcher.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(now) = data_version(&w.0) {
            if now != w.1 {
                w.1 = now;
                self.generation
                    .fetch_add(1, std::sync::atomic::Ordering::Release);
            }
        }
    }

    /// Fires after every committed write that changed rows; background consumers wait on it.
    pub fn committed(&self) -> &Notify {
        &self.committed
    }

    /// Runs `f` with the writer connection itself, outside any transaction
    /// and between write groups (backup, maintenance).
    pub fn with_writer<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> ApiResult<T> {
        let mut lent = writer::Lent::borrow(|job| self.submit(job))?;
        let value = f(lent.conn());
        drop(lent);
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        Ok(value)
    }

    /// Connections in use and idle in the read pool, for `/metrics`.
    pub fn pool_state(&self) -> (u32, u32) {
        let s = self.pool.state();
        (s.connections - s.idle_connections, s.idle_connections)
    }

    /// Whether the database answers correctly: no lasting storage fault
    /// seen by a query (nor a passing one since the last good commit), every
    /// table readable from disk, the file writable. `Err` says why.
    pub async fn check_health(&self) -> Result<(), String> {
        if let Some(fault) = self.fault.lock().map(|f| f.clone()).unwrap_or(None) {
            return Err(format!("{}: {}", self.path.display(), fault.message));
        }
        let recent = self.probed.lock().ok().and_then(|p| {
            p.as_ref()
                .filter(|(at, _)| at.elapsed() < PROBE_EVERY)
                .map(|(_, verdict)| verdict.clone())
        });
        if let Some(verdict) = recent {
            return verdict;
        }
        let path = self.path.clone();
        let probed = tokio::task::spawn_blocking(move || health::probe(&path))
            .await
            .map_err(|e| e.to_string())?;
        if let Ok(mut slot) = self.probed.lock() {
            *slot = Some((std::time::Instant::now(), probed.clone()));
        }
        if let Err(e) = &probed {
            if e.contains("malformed") || e.contains("not a database") {
                self.record_fault(health::Fault {
                    message: e.clone(),
                    lasting: true,
                });
            }
        }
        probed
    }

    /// Whether [`Db::check_health`] finds nothing wrong.
    pub async fn is_healthy(&self) -> bool {
        self.check_health().await.is_ok()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Keeps the health verdict of the last query: a fault replaces a passing
/// one; a query without fault clears a passing fault (the disk has room
/// again) but never a lasting one (corruption stays until restart).
pub(crate) fn record(slot: &Mutex<Option<health::Fault>>, seen: Option<health::Fault>) {
    let Ok(mut slot) = slot.lock() else { return };
    match seen {
        Some(fault) => {
            if !slot.as_ref().is_some_and(|f| f.lasting) {
                if fault.lasting || slot.is_none() {
                    tracing::error!(fault = %fault.message, "database storage fault");
                }
                *slot = Some(fault);
            }
        }
        None => {
            if slot.as_ref().is_some_and(|f| !f.lasting) {
                *slot = None;
            }
        }
    }
}

/// The newest migration version embedded in this binary.
pub fn latest_embedded_migration() -> i32 {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| m.version())
        .max()
        .unwrap_or(0)
}

/// The newest migration applied to the database at `conn`, if any.
pub fn latest_applied_migration(conn: &mut Connection) -> Result<Option<i32>, String> {
    embedded::migrations::runner()
        .get_last_applied_migration(conn)
        .map(|m| m.map(|m| m.version()))
        .map_err(|e| e.to_string())
}

/// Whether a SQLite error is a UNIQUE constraint violation (a duplicate).
pub fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

/// `Some(row)` or `None` for a query that may match nothing.
pub fn optional<T>(r: rusqlite::Result<T>) -> rusqlite::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// V17's backfill turns transactions stored before it into the same
    /// totals a recount gives, and its triggers keep them equal through
    /// inserts, stage and refund changes, a currency change and a delete.
    #[test]
    fn admin_totals_backfill_and_triggers_match_a_recount() {
        use crate::payments::store::{platform_money, recount_platform_money};
        let mut c = Connection::open_in_memory().unwrap();
        // Bare transaction rows, without the users and bookings they name.
        c.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
        embedded::migrations::runner()
            .set_target(refinery::Target::Version(16))
            .run(&mut c)
            .unwrap();
        let add = |c: &Connection,
                   id: &str,
                   ty: &str,
                   stage: &str,
                   status: &str,
                   cur: &str,
                   gross: i64,
                   refunded: i64| {
            c.execute(
                "INSERT INTO transactions (id, transaction_number, type, payment_method, stage, status, payer_id,
                     payee_id, currency, gross_minor, platform_fee_minor, net_minor, refunded_minor, initiated_at,
                     created_at, updated_at)
                 VALUES (?1, ?1, ?2, 'wallet', ?3, ?4, 'p', 'q', ?5, ?6, ?6 / 10, ?6 - ?6 / 10, ?7, 0, 0, 0)",
                rusqlite::params![id, ty, stage, status, cur, gross, refunded],
            )
            .unwrap();
        };
        let same = |c: &Connection| {
            for cur in ["KES", "USD"] {
                assert_eq!(
                    platform_money(c, cur).unwrap(),
                    recount_platform_money(c, cur).unwrap(),
                    "{cur}"
                );
            }
        };
        add(
            &c,
            "a",
            "booking_payment",
            "held",
            "completed",
            "KES",
            10_000,
            0,
        );
        add(
            &c,
            "b",
            "booking_payment",
            "released",
            "completed",
            "KES",
            5_000,
            0,
        );
        add(
            &c,
            "c",
            "booking_payment",
            "refunded",
            "partially_refunded",
            "KES",
            4_000,
            1_000,
        );
        add(
            &c,
            "d",
            "wallet_topup",
            "settled",
            "completed",
            "KES",
            7_000,
            0,
        );
        add(
            &c,
            "e",
            "booking_payment",
            "held",
            "completed",
            "USD",
            300,
            0,
        );
        embedded::migrations::runner().run(&mut c).unwrap();
        let kes = platform_money(&c, "KES").unwrap();
        assert_eq!((kes.held, kes.fees, kes.spent), (10_000, 500, 18_000));
        same(&c);
        add(
            &c,
            "f",
            "booking_payment",
            "pending",
            "pending",
            "KES",
            2_000,
            0,
        );
        same(&c);
        for sql in [
            "UPDATE transactions SET stage = 'held', status = 'completed' WHERE id = 'f'",
            "UPDATE transactions SET refunded_minor = 500 WHERE id = 'a'",
            "UPDATE transactions SET stage = 'released' WHERE id = 'a'",
            "UPDATE transactions SET currency = 'USD' WHERE id = 'f'",
            "UPDATE transactions SET description = 'no money moves' WHERE id = 'b'",
            "DELETE FROM transactions WHERE id = 'c'",
        ] {
            c.execute(sql, []).unwrap();
            same(&c);
        }
    }

    fn open() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db"), 2).unwrap();
        db.write_blocking(|c| Ok(c.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")?))
            .unwrap();
        (dir, db)
    }

    /// `db.write(f)` on its own task.
    fn spawn<T: Send + 'static>(
        db: &Db,
        f: impl FnOnce(&Connection) -> ApiResult<T> + Send + 'static,
    ) -> tokio::task::JoinHandle<ApiResult<T>> {
        let db = db.clone();
        tokio::spawn(async move { db.write(f).await })
    }

    fn stored(db: &Db) -> Vec<i64> {
        db.read_blocking(|c| {
            let mut s = c.prepare("SELECT n FROM t ORDER BY n")?;
            let rows = s.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_or_panicking_write_in_a_group_undoes_only_itself() {
        let (_dir, db) = open();
        let insert =
            |n: i64| move |c: &Connection| Ok(c.execute("INSERT INTO t VALUES (?1)", [n])?);
        // The first write holds the writer long enough for the rest to queue
        // behind it and be committed together with the next group.
        let slow = spawn(&db, move |c: &Connection| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            insert(1)(c)
        });
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let ok = spawn(&db, insert(2));
        let fails = spawn(&db, |c: &Connection| -> ApiResult<()> {
            c.execute("INSERT INTO t VALUES (3)", [])?;
            Err(ApiError::BadRequest("no".into()))
        });
        let panics = spawn(&db, |c: &Connection| -> ApiResult<()> {
            c.execute("INSERT INTO t VALUES (4)", [])?;
            panic!("a bug in a write");
        });
        let dup = spawn(&db, insert(1));
        let last = spawn(&db, insert(5));
        assert_eq!(slow.await.unwrap().unwrap(), 1);
        assert_eq!(ok.await.unwrap().unwrap(), 1);
        assert!(matches!(fails.await.unwrap(), Err(ApiError::BadRequest(_))));
        assert!(matches!(panics.await.unwrap(), Err(ApiError::Internal(_))));
        assert!(
            matches!(dup.await.unwrap(), Err(ApiError::Internal(_))),
            "unique violation"
        );
        assert_eq!(last.await.unwrap().unwrap(), 1);
        assert_eq!(stored(&db), vec![1, 2, 5]);
        // The writer is still healthy after the panic.
        db.write(insert(6)).await.unwrap();
        assert_eq!(stored(&db), vec![1, 2, 5, 6]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn after_steps_run_once_committed_in_commit_order() {
        let (_dir, db) = open();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let ran = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut waits = Vec::new();
        for n in 0..50i64 {
            let (seen, ran, db) = (seen.clone(), ran.clone(), db.clone());
            waits.push(tokio::spawn(async move {
                db.write_then(
                    move |c| {
                        ran.lock().unwrap().push(n);
                        Ok(c.execute("INSERT INTO t VALUES (?1)", [n]).map(|_| n)?)
                    },
                    move |c, n| {
                        // Committed: a fresh reader connection sees the row.
                        let visible: i64 = c
                            .query_row("SELECT COUNT(*) FROM t WHERE n = ?1", [n], |r| r.get(0))
                            .unwrap();
                        seen.lock().unwrap().push((*n, visible, c.is_autocommit()));
                    },
                )
                .await
            }));
        }
        for w in waits {
            w.await.unwrap().unwrap();
        }
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 50);
        assert!(seen
            .iter()
            .all(|&(_, visible, autocommit)| visible == 1 && autocommit));
        let order: Vec<i64> = seen.iter().map(|s| s.0).collect();
        assert_eq!(order, *ran.lock().unwrap());
        assert_eq!(stored(&db), (0..50).collect::<Vec<_>>());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_after_step_leaves_the_writer_working() {
        let (_dir, db) = open();
        let r = db
            .write_then(
                |c| Ok(c.execute("INSERT INTO t VALUES (1)", [])?),
                |_, _| panic!("a bug in an index update"),
            )
            .await;
        assert!(r.is_err(), "its caller hears of it");
        db.write(|c| Ok(c.execute("INSERT INTO t VALUES (2)", [])?))
            .await
            .unwrap();
        // The write itself was committed before its after-step ran.
        assert_eq!(stored(&db), vec![1, 2]);
    }

    #[test]
    fn blocking_writes_borrow_the_connection_and_roll_back_on_error() {
        let (_dir, db) = open();
        let wanted = vec![7i64, 8];
        db.write_blocking(|c| {
            for n in &wanted {
                c.execute("INSERT INTO t VALUES (?1)", [n])?;
            }
            Ok(())
        })
        .unwrap();
        let refused = db.write_blocking(|c| -> ApiResult<()> {
            c.execute("INSERT INTO t VALUES (9)", [])?;
            Err(ApiError::BadRequest("no".into()))
        });
        assert!(refused.is_err());
        assert_eq!(stored(&db), wanted);
        let mode: String = db
            .with_writer(|c| c.query_row("PRAGMA journal_mode", [], |r| r.get(0)))
            .unwrap()
            .unwrap();
        assert_eq!(mode, "wal");
    }
}
