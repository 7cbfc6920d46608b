//! Backup under load: `baitech backup` of a ~300 MB database while another
//! connection commits ~40 writes/s (the case where SQLite's stepwise online
//! backup restarted on every commit and did not finish). Prints the time,
//! the copy rate and the backup process's peak RSS.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::wanted;

/// Rows of 8000 random bytes: ~300 MB.
const PADDING_ROWS: usize = 37_500;
/// Commits per second from the concurrent writer.
const WRITES_PER_SEC: u64 = 40;

pub async fn run() {
    if !wanted("backup") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let bin = env!("CARGO_BIN_EXE_baitech");
    let migrated = Command::new(bin)
        .args(["migrate", "--data-dir"])
        .arg(&data)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(migrated.success());
    let db = data.join("baitech.db");
    let seeded = Instant::now();
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(&format!(
        "CREATE TABLE bench_padding (n INTEGER PRIMARY KEY, b BLOB);
         CREATE TABLE bench_ticks (n INTEGER PRIMARY KEY, at INTEGER);
         WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {PADDING_ROWS})
         INSERT INTO bench_padding (b) SELECT randomblob(8000) FROM c;"
    ))
    .unwrap();
    drop(conn);
    let size = std::fs::metadata(&db).unwrap().len();
    println!(
        "backup: seeded {:.0} MB in {:.1} s",
        size as f64 / 1e6,
        seeded.elapsed().as_secs_f64()
    );

    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, commits, db) = (stop.clone(), commits.clone(), db.clone());
        std::thread::spawn(move || {
            let c = rusqlite::Connection::open(&db).unwrap();
            c.busy_timeout(Duration::from_secs(10)).unwrap();
            let every = Duration::from_millis(1000 / WRITES_PER_SEC);
            while !stop.load(Ordering::Relaxed) {
                c.execute("INSERT INTO bench_ticks (at) VALUES (1)", [])
                    .unwrap();
                commits.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(every);
            }
        })
    };
    let to = dir.path().join("backup.db");
    let started = Instant::now();
    let mut child = Command::new(bin)
        .args(["backup", "--data-dir"])
        .arg(&data)
        .arg("--to")
        .arg(&to)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut peak_kib = 0;
    let status = loop {
        peak_kib = peak_kib.max(crate::proc_status_kib(child.id(), "VmHWM:"));
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(600) {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    println!(
        "backup of {:.0} MB under {WRITES_PER_SEC} writes/s: {} in {:.2} s ({:.0} MB/s), {} commits meanwhile, peak RSS {:.1} MB",
        size as f64 / 1e6,
        if status.success() { "done" } else { "FAILED" },
        took.as_secs_f64(),
        size as f64 / 1e6 / took.as_secs_f64(),
        commits.load(Ordering::Relaxed),
        peak_kib as f64 / 1024.0
    );
}
