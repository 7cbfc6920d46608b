//! Whether the database still answers correctly, and whether it is safe to
//! start on.
//!
//! `SELECT 1` answers on a file whose pages are corrupt or that can no
//! longer be written, so health is judged three ways: faults seen by real
//! queries (every rusqlite error passes through [`note`]; the read and
//! write paths hand what they saw to their [`Db`](super::Db)), a probe on a
//! fresh connection (no cached pages) that reads every table's first
//! page, and whether the file can still be opened for writing. At start,
//! [`preflight`] refuses a corrupt file and an empty one in a data dir that
//! shows earlier use, each with a message naming the file.

use std::cell::RefCell;
use std::path::Path;

use rusqlite::{Connection, ErrorCode, OpenFlags};

/// A storage fault seen by a query: what it said and whether it lasts
/// (corruption does; a full disk or I/O error may pass).
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub message: String,
    pub lasting: bool,
}

thread_local! {
    static SEEN: RefCell<Option<Fault>> = const { RefCell::new(None) };
}

/// How a SQLite error code bears on the database's health: `Some(lasting)`
/// for storage faults, `None` for ordinary errors (constraints, busy...).
pub fn classify(code: ErrorCode) -> Option<bool> {
    match code {
        ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => Some(true),
        ErrorCode::SystemIoFailure
        | ErrorCode::DiskFull
        | ErrorCode::ReadOnly
        | ErrorCode::CannotOpen
        | ErrorCode::FileLockingProtocolFailed => Some(false),
        _ => None,
    }
}

/// Remembers a storage fault on this thread, for the database handle whose
/// query raised it to pick up ([`take`]).
pub fn note(e: &rusqlite::Error) {
    if let Some(lasting) = e.sqlite_error_code().and_then(classify) {
        SEEN.with(|s| {
            *s.borrow_mut() = Some(Fault {
                message: e.to_string(),
                lasting,
            })
        });
    }
}

/// The storage fault this thread saw since the last call, if any.
pub fn take() -> Option<Fault> {
    SEEN.with(|s| s.borrow_mut().take())
}

/// Reads every table's first page on a fresh connection (a pooled one may
/// answer from pages cached before the file went bad) and checks the file
/// can still be opened for writing.
pub fn probe(path: &Path) -> Result<(), String> {
    let named = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| named(&format!("not writable: {e}")))?;
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| named(&e))?;
    conn.busy_timeout(std::time::Duration::from_secs(2))
        .map_err(|e| named(&e))?;
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| named(&e))?;
    for table in tables {
        let sql = format!("SELECT * FROM \"{}\" LIMIT 1", table.replace('"', "\"\""));
        conn.prepare(&sql)
            .and_then(|mut s| s.query([])?.next().map(|_| ()))
            .map_err(|e| named(&format!("table {table}: {e}")))?;
    }
    Ok(())
}

/// Files and folders that only exist once a data dir has served.
const EARLIER_USE: &[&str] = &[
    "jwt.secret",
    "media.secret",
    "mpesa-callback.secret",
    "media",
    "search",
];

/// What in `data_dir` shows it was used before.
fn earlier_use(data_dir: &Path) -> Vec<&'static str> {
    EARLIER_USE
        .iter()
        .copied()
        .filter(|name| data_dir.join(name).exists())
        .collect()
}

/// Refuses to start on a database that is corrupt, unreadable, or empty
/// (missing, 0 bytes, or without tables) while the data dir shows earlier
/// use: starting would serve an empty marketplace over lost data.
pub fn preflight(data_dir: &Path) -> Result<(), String> {
    let path = data_dir.join("baitech.db");
    let used = earlier_use(data_dir);
    let refuse_empty = |what: &str| {
        format!(
            "{} {what}, but {} was used before ({} present): refusing to start an empty marketplace over it. \
             Restore the latest backup (`baitech restore --from FILE`, see the README's Backup and restore), \
             or move the data dir aside to start afresh",
            path.display(),
            data_dir.display(),
            used.join(", ")
        )
    };
    let len = match std::fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return if used.is_empty() {
                Ok(())
            } else {
                Err(refuse_empty("is missing"))
            };
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    if len == 0 {
        return if used.is_empty() {
            Ok(())
        } else {
            Err(refuse_empty("is empty (0 bytes)"))
        };
    }
    let corrupt = |why: &str| {
        format!(
            "{} is not a usable database ({why}): restore the latest backup with `baitech restore --from FILE` (see the README's Backup and restore)",
            path.display()
        )
    };
    let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let tables: i64 = conn
        .query_row("SELECT COUNT(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(|e| corrupt(&e.to_string()))?;
    if tables == 0 {
        return if used.is_empty() {
            Ok(())
        } else {
            Err(refuse_empty("holds no tables"))
        };
    }
    let verdict: String = conn
        .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))
        .map_err(|e| corrupt(&e.to_string()))?;
    if verdict != "ok" {
        return Err(corrupt(&format!("integrity: {verdict}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_faults_are_told_from_ordinary_errors() {
        let cases = [
            (ErrorCode::DatabaseCorrupt, Some(true)),
            (ErrorCode::NotADatabase, Some(true)),
            (ErrorCode::DiskFull, Some(false)),
            (ErrorCode::SystemIoFailure, Some(false)),
            (ErrorCode::ReadOnly, Some(false)),
            (ErrorCode::ConstraintViolation, None),
            (ErrorCode::DatabaseBusy, None),
        ];
        for (code, want) in cases {
            assert_eq!(classify(code), want, "{code:?}");
        }
    }

    fn used_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("jwt.secret"), "x".repeat(48)).unwrap();
        dir
    }

    #[test]
    fn preflight_table() {
        let fresh = tempfile::tempdir().unwrap();
        assert!(preflight(fresh.path()).is_ok(), "a new data dir starts");

        let missing = used_dir();
        let err = preflight(missing.path()).unwrap_err();
        assert!(
            err.contains("is missing") && err.contains("jwt.secret"),
            "{err}"
        );

        let empty = used_dir();
        std::fs::write(empty.path().join("baitech.db"), b"").unwrap();
        let err = preflight(empty.path()).unwrap_err();
        assert!(err.contains("baitech.db is empty (0 bytes)"), "{err}");
        assert!(err.contains("baitech restore"), "{err}");

        let schemaless = used_dir();
        Connection::open(schemaless.path().join("baitech.db"))
            .unwrap()
            .execute_batch("PRAGMA user_version = 1")
            .unwrap();
        let err = preflight(schemaless.path()).unwrap_err();
        assert!(err.contains("holds no tables"), "{err}");

        let garbage = tempfile::tempdir().unwrap();
        std::fs::write(garbage.path().join("baitech.db"), vec![7u8; 8192]).unwrap();
        let err = preflight(garbage.path()).unwrap_err();
        let file = garbage.path().join("baitech.db");
        assert!(
            err.contains(&file.display().to_string()),
            "names the file: {err}"
        );
        assert!(err.contains("baitech restore"), "{err}");

        let good = used_dir();
        let conn = Connection::open(good.path().join("baitech.db")).unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1);")
            .unwrap();
        drop(conn);
        assert!(preflight(good.path()).is_ok());
        assert!(probe(&good.path().join("baitech.db")).is_ok());
    }

    #[test]
    fn the_probe_finds_a_corrupt_table_page() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baitech.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE a (n INTEGER); CREATE TABLE b (s TEXT); INSERT INTO a VALUES (1); INSERT INTO b VALUES ('x');",
        )
        .unwrap();
        let (root, page_size): (i64, i64) = conn
            .query_row(
                "SELECT rootpage, (SELECT page_size FROM pragma_page_size) FROM sqlite_schema WHERE name = 'b'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        drop(conn);
        corrupt_page(&path, root, page_size);
        let err = probe(&path).unwrap_err();
        assert!(
            err.contains("table b") && err.contains(&path.display().to_string()),
            "{err}"
        );
        assert!(preflight(dir.path()).is_err());
    }

    /// Overwrites page `page` (1-based) of the file with garbage.
    fn corrupt_page(path: &Path, page: i64, page_size: i64) {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        f.seek(SeekFrom::Start(((page - 1) * page_size) as u64))
            .unwrap();
        f.write_all(&vec![0xA5u8; page_size as usize]).unwrap();
    }
}
