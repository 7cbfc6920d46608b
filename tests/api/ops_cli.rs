//! The operator's side of the binary, run as the built `baitech`: a CLI
//! that cannot act on the wrong database, backups that finish under load,
//! settings refused before anything touches disk, an access log line per
//! request, and a database that is corrupt or empty refused at start and
//! reported by `/health`.

use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cli::{baitech, free_port, run, start, start_with_stderr, text};

fn migrate(data: &Path) {
    let out = run(baitech(data).arg("migrate"));
    assert!(out.status.success(), "{}", text(&out));
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    names
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn commands_other_than_serve_and_migrate_refuse_a_data_dir_without_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let zero = dir.path().join("zero");
    std::fs::create_dir(&zero).unwrap();
    std::fs::write(zero.join("baitech.db"), b"").unwrap();
    let some_file = dir.path().join("some.db").display().to_string();
    let cases: &[&[&str]] = &[
        &["check"],
        &["backup", "--to", &some_file],
        &["restore", "--from", &some_file],
        &["user", "list"],
        &[
            "user",
            "create",
            "--email",
            "x@example.com",
            "--role",
            "admin",
            "--password-stdin",
        ],
        &[
            "user",
            "set-role",
            "--email",
            "x@example.com",
            "--role",
            "admin",
        ],
        &["ledger-check"],
        &["reindex"],
    ];
    for args in cases {
        for (data, says) in [
            (
                &typo,
                format!(
                    "no BaiTech database in {}: is this the service's data dir?",
                    typo.display()
                ),
            ),
            (
                &empty,
                format!(
                    "no BaiTech database in {}: is this the service's data dir?",
                    empty.display()
                ),
            ),
            (
                &zero,
                format!("{} is empty", zero.join("baitech.db").display()),
            ),
        ] {
            let out = run(baitech(data).args(*args));
            assert!(!out.status.success(), "{args:?} in {}", data.display());
            assert!(text(&out).contains(&says), "{args:?}: {}", text(&out));
        }
    }
    assert!(!typo.exists(), "nothing created for a mistyped data dir");
    assert!(entries(&empty).is_empty(), "{:?}", entries(&empty));
    assert_eq!(entries(&zero), ["baitech.db"]);
    assert_eq!(std::fs::metadata(zero.join("baitech.db")).unwrap().len(), 0);

    // --data-dir resolves the same way for every command and beats the environment.
    let good = dir.path().join("good");
    migrate(&good);
    let out = run(baitech(&good).arg("--data-dir").arg(&typo).arg("check"));
    assert!(
        text(&out).contains(&format!("no BaiTech database in {}", typo.display())),
        "{}",
        text(&out)
    );
    let out = run(baitech(&typo).arg("check").arg("--data-dir").arg(&good));
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn subcommand_help_shows_its_own_options_and_server_settings_only_for_serve_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let help = |args: &[&str]| {
        let out = run(baitech(dir.path()).args(args).arg("--help"));
        assert!(out.status.success(), "{args:?}");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let at = |t: &str, what: &str| {
        t.find(what)
            .unwrap_or_else(|| panic!("{what} missing: {t}"))
    };
    for args in [
        &["backup"][..],
        &["restore"],
        &["check"],
        &["migrate"],
        &["user", "create"],
        &["user", "list"],
        &["ledger-check"],
        &["reindex"],
    ] {
        let t = help(args);
        assert!(
            !t.contains("--smtp-host") && !t.contains("--platform-fee-percent"),
            "{args:?}: {t}"
        );
        assert!(t.contains("--data-dir"), "{args:?}");
    }
    let t = help(&["backup"]);
    assert!(
        at(&t, "--to") < at(&t, "--data-dir"),
        "own options first: {t}"
    );
    let t = help(&["user", "create"]);
    assert!(at(&t, "--email") < at(&t, "--data-dir"), "{t}");
    assert!(
        t.contains("possible values: customer, technician, corporate, admin, support"),
        "{t}"
    );
    for cmd in ["serve", "config"] {
        let t = help(&[cmd]);
        assert!(
            t.contains("--smtp-host") && t.contains("--platform-fee-percent"),
            "{cmd}"
        );
        assert!(
            t.contains("[possible values: starttls, tls, none]"),
            "{cmd}: typed choices"
        );
        assert!(at(&t, "--listen") < at(&t, "--data-dir"), "{cmd}: {t}");
    }

    migrate(dir.path());
    let out = run(baitech(dir.path()).args([
        "user",
        "create",
        "--email",
        "who@example.com",
        "--password-stdin",
    ]));
    assert!(!out.status.success(), "no role, no account");
    assert!(text(&out).contains("--role"), "{}", text(&out));
}

/// A 24 MB database with a writer committing every millisecond or so:
/// SQLite's stepwise online backup restarted on each commit and never
/// finished; the copy is now one read transaction.
#[test]
fn backup_finishes_under_concurrent_writers_and_restore_keeps_the_replaced_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    migrate(&data);
    std::fs::write(data.join("jwt.secret"), "j".repeat(48)).unwrap();
    std::fs::write(data.join("chat.key"), [1u8, 2, 3, 4]).unwrap();
    let db = data.join("baitech.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE padding (n INTEGER PRIMARY KEY, b BLOB);
         CREATE TABLE ticks (n INTEGER PRIMARY KEY, at INTEGER);
         WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000)
         INSERT INTO padding (b) SELECT randomblob(8000) FROM c;",
    )
    .unwrap();
    drop(conn);

    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, db) = (stop.clone(), db.clone());
        std::thread::spawn(move || {
            let c = rusqlite::Connection::open(&db).unwrap();
            c.busy_timeout(Duration::from_secs(10)).unwrap();
            let mut commits = 0u64;
            while !stop.load(Ordering::Relaxed) {
                c.execute("INSERT INTO ticks (at) VALUES (?1)", [commits as i64])
                    .unwrap();
                commits += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
            commits
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let backups = dir.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    let to = backups.join("nightly.db");
    let mut child = baitech(&data)
        .args(["backup", "--to"])
        .arg(&to)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A liveness bound, not a timing assertion: the old backup never ended.
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            stop.store(true, Ordering::Relaxed);
            panic!("backup did not finish while a writer ran");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let commits = writer.join().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        commits > 10,
        "the writer ran during the backup ({commits} commits)"
    );
    assert!(
        text(&out).contains("chat.key, jwt.secret"),
        "{}",
        text(&out)
    );
    assert_eq!(
        entries(&backups),
        ["nightly.db"],
        "no partial file or journal left"
    );
    assert_eq!(mode(&to), 0o600);
    let copy = rusqlite::Connection::open(&to).unwrap();
    let ok: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let padded: i64 = copy
        .query_row("SELECT COUNT(*) FROM padding", [], |r| r.get(0))
        .unwrap();
    assert_eq!(padded, 3000);
    drop(copy);

    // Restore into a data dir in use with other secrets: everything comes
    // back, and what was replaced stays beside it.
    let other = dir.path().join("other");
    migrate(&other);
    std::fs::write(other.join("jwt.secret"), "o".repeat(48)).unwrap();
    let out = run(baitech(&other).args(["restore", "--from"]).arg(&to));
    assert!(out.status.success(), "{}", text(&out));
    let names = entries(&other);
    let kept = names
        .iter()
        .find(|n| n.starts_with("baitech.db.replaced-"))
        .unwrap_or_else(|| panic!("replaced database kept: {names:?}"));
    assert!(text(&out).contains(kept.as_str()), "{}", text(&out));
    let kept_tables: i64 = rusqlite::Connection::open(other.join(kept))
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM sqlite_schema WHERE name IN ('users', 'padding')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kept_tables, 1, "the kept file is the old database");
    assert_eq!(
        std::fs::read_to_string(other.join("jwt.secret")).unwrap(),
        "j".repeat(48)
    );
    assert_eq!(std::fs::read(other.join("chat.key")).unwrap(), [1, 2, 3, 4]);
    assert_eq!(mode(&other.join("chat.key")), 0o600);
    let aside = names
        .iter()
        .find(|n| n.starts_with("jwt.secret.replaced-"))
        .expect("old secret kept");
    assert_eq!(
        std::fs::read_to_string(other.join(aside)).unwrap(),
        "o".repeat(48)
    );
    let restored = rusqlite::Connection::open(other.join("baitech.db")).unwrap();
    let padded: i64 = restored
        .query_row("SELECT COUNT(*) FROM padding", [], |r| r.get(0))
        .unwrap();
    assert_eq!(padded, 3000);
    let leftover: i64 = restored
        .query_row(
            "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'baitech_backup_files'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(leftover, 0);
    drop(restored);
    let check = run(baitech(&other).arg("check"));
    assert!(check.status.success(), "{}", text(&check));
}

#[test]
fn wrong_settings_are_refused_in_one_line_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    // (variable, value, the setting the error names)
    let cases = [
        ("BAITECH_RATE_LIMITS", "false", "BAITECH_RATE_LIMITS"),
        ("BAITECH_LOG_LEVEL", "warning", "log_level"),
        ("BAITECH_SMTP_TLS", "ssl", "BAITECH_SMTP_TLS"),
        (
            "BAITECH_PLATFORM_FEE_PERCENT",
            "250",
            "platform_fee_percent",
        ),
        ("BAITECH_PLATFORM_FEE_PERCENT", "-5", "platform_fee_percent"),
        ("BAITECH_LISTEN", "notaport", "listen"),
        ("BAITECH_PUBLIC_URL", "example.com", "public_url"),
    ];
    for (i, (var, value, names)) in cases.iter().enumerate() {
        for cmd in ["serve", "config"] {
            let data = dir.path().join(format!("d{i}-{cmd}"));
            let out = run(baitech(&data).arg(cmd).env(var, value));
            let err = String::from_utf8_lossy(&out.stderr).to_string();
            assert_eq!(out.status.code(), Some(2), "{cmd} {var}={value}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
            assert!(
                err.contains(names) && err.contains("expected"),
                "{cmd} {var}={value}: {err}"
            );
            assert!(
                !data.exists(),
                "{cmd} {var}={value} created {}",
                data.display()
            );
        }
    }
    // The same checks for the file and the flags.
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "platform_fee_percent = 250.0\n").unwrap();
    let out = run(baitech(&dir.path().join("f"))
        .arg("serve")
        .arg("--config")
        .arg(&file));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("platform_fee_percent"),
        "{}",
        text(&out)
    );
    std::fs::write(&file, "rate_limits = false\n").unwrap();
    let out = run(baitech(&dir.path().join("f"))
        .arg("serve")
        .arg("--config")
        .arg(&file));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("bad.toml:1"), "{}", text(&out));
    let out = run(baitech(&dir.path().join("f")).args(["serve", "--smtp-tls", "ssl"]));
    assert!(!out.status.success());
    assert!(text(&out).contains("starttls"), "{}", text(&out));
    assert!(!dir.path().join("f").exists());

    let out = run(baitech(dir.path())
        .arg("config")
        .env("BAITECH_LISTN", "127.0.0.1:1"));
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("BAITECH_LISTN is not a BaiTech setting"),
        "{}",
        text(&out)
    );
}

#[test]
fn config_output_saved_as_a_file_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let first = run(baitech(dir.path())
        .arg("config")
        .env("BAITECH_JWT_SECRET", "s".repeat(40))
        .env("BAITECH_PLATFORM_FEE_PERCENT", "7.5")
        .env("BAITECH_SMTP_TLS", "tls"));
    assert!(first.status.success(), "{}", text(&first));
    let saved = String::from_utf8(first.stdout).unwrap();
    assert!(!saved.contains(&"s".repeat(40)) && !saved.contains("********"));
    let file = dir.path().join("baitech.toml");
    std::fs::write(&file, &saved).unwrap();
    let again = run(baitech(dir.path())
        .env_remove("BAITECH_DATA_DIR")
        .arg("config")
        .arg("--config")
        .arg(&file)
        .env("BAITECH_JWT_SECRET", "s".repeat(40)));
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(
        String::from_utf8(again.stdout).unwrap(),
        saved,
        "reads back as the same configuration"
    );
}

async fn register_and_sign_in(base: &str, email: &str) -> (String, String) {
    let client = reqwest::Client::new();
    let res = client
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"firstName": "Log", "lastName": "Reader", "email": email, "phoneNumber": "0712345678", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let res = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    let token = body["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_string();
    let id = body["user"]["id"]
        .as_str()
        .or_else(|| body["user"]["_id"].as_str())
        .unwrap_or_else(|| panic!("{body}"))
        .to_string();
    (token, id)
}

fn read_log(path: &Path, wanted: &str) -> String {
    for _ in 0..100 {
        let log = std::fs::read_to_string(path).unwrap();
        if log.contains(wanted) {
            return log;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::read_to_string(path).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_gets_one_access_line_at_info_without_colour_or_library_chatter() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let data = dir.path().join("data");
    let server = start_with_stderr(
        &data,
        &[("BAITECH_LOG_LEVEL", "info".to_string())],
        Stdio::from(log),
    )
    .await;
    let (token, user_id) = register_and_sign_in(&server.base, "logs@example.com").await;
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/auth/me", server.base))
        .bearer_auth(&token)
        .header("x-request-id", "req-ops-cli-1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let log = read_log(&log_path, "req-ops-cli-1");
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("request_id=req-ops-cli-1"))
        .collect();
    assert_eq!(lines.len(), 1, "one access line: {log}");
    let line = lines[0];
    for part in [
        "INFO",
        "method=GET",
        "route=/api/v1/auth/me",
        "status=200",
        "latency_ms=",
        &format!("user_id={user_id}"),
    ] {
        assert!(line.contains(part), "{part} in {line}");
    }
    let register = log
        .lines()
        .filter(|l| l.contains("route=/api/v1/auth/register") && l.contains("status=201"))
        .count();
    assert_eq!(register, 1, "{log}");
    assert!(!log.contains('\u{1b}'), "no colour codes in a file: {log}");
    assert!(
        !log.lines()
            .any(|l| l.contains("INFO") && (l.contains("tantivy") || l.contains("hyper"))),
        "libraries stay at warn: {log}"
    );
    drop(server);
}

/// Root page and page size of `table`, read while no server holds the file.
fn root_page(db: &Path, table: &str) -> (u64, u64) {
    let c = rusqlite::Connection::open(db).unwrap();
    let root: i64 = c
        .query_row(
            "SELECT rootpage FROM sqlite_schema WHERE name = ?1",
            [table],
            |r| r.get(0),
        )
        .unwrap();
    let size: i64 = c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
    (root as u64, size as u64)
}

fn corrupt_page(db: &Path, (page, size): (u64, u64)) {
    let mut f = std::fs::OpenOptions::new().write(true).open(db).unwrap();
    f.seek(SeekFrom::Start((page - 1) * size)).unwrap();
    f.write_all(&vec![0xA5u8; size as usize]).unwrap();
    f.sync_all().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_503_on_a_corrupted_page_and_start_refuses_a_corrupt_or_emptied_database() {
    let dir = tempfile::tempdir().unwrap();
    let data: PathBuf = dir.path().join("data");
    let server = start(&data, &[]).await;
    register_and_sign_in(&server.base, "health@example.com").await;
    drop(server); // a clean stop checkpoints the WAL into the file
    let db = data.join("baitech.db");
    let users = root_page(&db, "users");

    let server = start(&data, &[]).await;
    let client = reqwest::Client::new();
    let res = client
        .get(format!("{}/health", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    corrupt_page(&db, users);
    // The probe's verdict is reused for two seconds; within a few it turns.
    let mut status = 200;
    let mut body = Value::Null;
    for _ in 0..50 {
        let res = client
            .get(format!("{}/health", server.base))
            .send()
            .await
            .unwrap();
        status = res.status().as_u16();
        body = res.json().await.unwrap();
        if status != 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["database"]["isHealthy"], false);
    drop(server);

    // Start-up: a corrupt file is refused, naming it and the way back.
    let out = run(baitech(&data)
        .arg("serve")
        .env("BAITECH_LISTEN", format!("127.0.0.1:{}", free_port())));
    assert!(!out.status.success());
    let t = text(&out);
    assert!(
        t.contains(&db.display().to_string()) && t.contains("baitech restore"),
        "{t}"
    );

    // An emptied database beside the secrets of earlier use is refused too.
    std::fs::write(&db, b"").unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(data.join(format!("baitech.db{suffix}")));
    }
    let out = run(baitech(&data)
        .arg("serve")
        .env("BAITECH_LISTEN", format!("127.0.0.1:{}", free_port())));
    assert!(!out.status.success());
    let t = text(&out);
    assert!(
        t.contains("is empty (0 bytes)") && t.contains("jwt.secret"),
        "{t}"
    );
    assert_eq!(std::fs::metadata(&db).unwrap().len(), 0, "left as it was");
}
