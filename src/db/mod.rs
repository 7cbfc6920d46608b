//! The database: a read pool plus one writer connection, migrations embedded.
//!
//! SQLite allows one writer at a time. Every write goes through the single
//! writer connection behind a mutex, inside `BEGIN IMMEDIATE`, so writers
//! queue instead of failing with `SQLITE_BUSY` and a deferred transaction
//! can never fail on upgrade. Reads use the pool concurrently (WAL). Both
//! run on tokio's blocking threads, never on the async executor.

pub mod lock;

use std::path::Path;
use std::sync::{Arc, Mutex};

use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
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

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: Pool<SqliteConnectionManager>,
    /// One permit per pooled connection: readers wait here, on the async
    /// side, instead of parking blocking threads on the pool's condvar.
    readers: Arc<tokio::sync::Semaphore>,
    writer: Arc<Mutex<Connection>>,
    committed: Arc<Notify>,
    /// Bumped after every commit of this process: a value read before a
    /// query and still current later means nothing was written in between.
    generation: Arc<std::sync::atomic::AtomicU64>,
}

impl Db {
    /// Opens (creating if needed) the database at `path`, applies pending
    /// migrations on the writer, then hands out the read pool.
    pub fn open(path: &Path, pool_size: u32) -> Result<Db, String> {
        let mut writer = Connection::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        writer
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| e.to_string())?;
        configure(&writer).map_err(|e| e.to_string())?;
        embedded::migrations::runner()
            .run(&mut writer)
            .map_err(|e| format!("migrations: {e}"))?;
        let manager = SqliteConnectionManager::file(path)
            .with_flags(
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI,
            )
            .with_init(|c| configure(c));
        let pool = Pool::builder()
            .max_size(pool_size.max(1))
            .test_on_check_out(false)
            .build(manager)
            .map_err(|e| format!("pool: {e}"))?;
        Ok(Db {
            readers: Arc::new(tokio::sync::Semaphore::new(pool_size.max(1) as usize)),
            pool,
            writer: Arc::new(Mutex::new(writer)),
            committed: Arc::new(Notify::new()),
            generation: Arc::default(),
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

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction on the writer, off the
    /// async threads. Commits when `f` returns Ok, rolls back on Err; wakes
    /// the job workers and event consumers after the commit.
    pub async fn write<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction) -> ApiResult<T> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.write_blocking(f)).await?
    }

    /// [`Db::write`], then `after(conn, &value)` once the transaction is
    /// durable and while the writer is still held, so in-memory indexes
    /// (R-tree, caches) see changes in commit order and never ahead of them.
    pub async fn write_then<T, F, A>(&self, f: F, after: A) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction) -> ApiResult<T> + Send + 'static,
        A: FnOnce(&Connection, &T) + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.write_then_blocking(f, after)).await?
    }

    /// [`Db::read`] for code that is already on a blocking thread (CLI, workers).
    pub fn read_blocking<T>(&self, f: impl FnOnce(&Connection) -> ApiResult<T>) -> ApiResult<T> {
        let conn = self.pool.get()?;
        f(&conn)
    }

    /// [`Db::write`] for code that is already on a blocking thread (CLI, workers).
    pub fn write_blocking<T>(&self, f: impl FnOnce(&Transaction) -> ApiResult<T>) -> ApiResult<T> {
        self.write_then_blocking(f, |_, _| {})
    }

    /// [`Db::write_then`] for code that is already on a blocking thread.
    pub fn write_then_blocking<T>(
        &self,
        f: impl FnOnce(&Transaction) -> ApiResult<T>,
        after: impl FnOnce(&Connection, &T),
    ) -> ApiResult<T> {
        let (result, changed) = {
            let mut conn = self
                .writer
                .lock()
                .map_err(|_| ApiError::internal("writer mutex poisoned"))?;
            let before = conn.total_changes();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            let changed = conn.total_changes() != before;
            if changed {
                self.generation
                    .fetch_add(1, std::sync::atomic::Ordering::Release);
            }
            after(&conn, &value);
            (value, changed)
        };
        // Only a write that changed rows can give a worker something to do
        // (or make a cached row stale); waking workers after an empty job
        // claim made idle workers wake each other in a loop of empty
        // transactions.
        if changed {
            self.committed.notify_waiters();
        }
        Ok(result)
    }

    /// The commit generation (see the field); caches of database rows keep
    /// the generation they were read at and are valid only while it holds.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Fires after every committed write that changed rows; background consumers wait on it.
    pub fn committed(&self) -> &Notify {
        &self.committed
    }

    /// Runs `f` with the writer connection itself (backup, maintenance).
    pub fn with_writer<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> ApiResult<T> {
        let mut conn = self
            .writer
            .lock()
            .map_err(|_| ApiError::internal("writer mutex poisoned"))?;
        let value = f(&mut conn);
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        Ok(value)
    }

    /// Connections in use and idle in the read pool, for `/metrics`.
    pub fn pool_state(&self) -> (u32, u32) {
        let s = self.pool.state();
        (s.connections - s.idle_connections, s.idle_connections)
    }

    /// Whether the database answers a trivial query.
    pub async fn is_healthy(&self) -> bool {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
            .await
            .is_ok()
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
