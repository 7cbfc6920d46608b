//! Operations (issue 18 items 7-9): jobs that survive outages and are
//! requeued from the CLI, retention, account emails without secrets in the
//! queue, private file modes under umask 000, and disaster recovery with
//! Litestream after a kill -9 under load.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{phone, TestServer};
use crate::smtp::link_containing;

fn baitech(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_baitech"));
    cmd.env("BAITECH_DATA_DIR", data_dir)
        .env("BAITECH_LOG_LEVEL", "warn")
        .env_remove("BAITECH_CONFIG")
        .stdin(Stdio::null());
    cmd
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The real binary serving on loopback; SIGKILLed when dropped.
struct Served {
    child: Child,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `baitech serve` under `umask` with `env`, and waits for /health.
async fn serve(data_dir: &Path, umask: &str, env: &[(&str, &str)]) -> Served {
    let port = free_port();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "umask {umask} && exec \"{}\" serve",
            env!("CARGO_BIN_EXE_baitech")
        ))
        .env("BAITECH_DATA_DIR", data_dir)
        .env("BAITECH_LOG_LEVEL", "warn")
        .env("BAITECH_LISTEN", format!("127.0.0.1:{port}"))
        .env("BAITECH_RATE_LIMITS", "off")
        .env("BAITECH_ARGON2_MEMORY_KIB", "8192")
        .env("BAITECH_ARGON2_ITERATIONS", "1")
        .env_remove("BAITECH_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..1000 {
        if client
            .get(format!("{base}/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Served { child, base };
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("server did not start");
}

/// Registers a customer over HTTP; (id, email, access token).
async fn register(base: &str) -> (String, String, String) {
    let email = format!("ops-{}@example.com", baitech::ids::random_token(6));
    let res = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/register"))
        .json(
            &json!({"firstName": "Amani", "lastName": "Ops", "email": email, "phoneNumber": phone(),
                      "password": "correct horse battery", "role": "customer"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    (
        body["user"]["_id"].as_str().unwrap().to_string(),
        email,
        body["token"].as_str().unwrap().to_string(),
    )
}

/// The dev outbox's messages to `email` once there are `n` of them.
async fn mails_to(data_dir: &Path, email: &str, n: usize) -> Vec<String> {
    let mut found = Vec::new();
    for _ in 0..500 {
        found.clear();
        if let Ok(entries) = std::fs::read_dir(data_dir.join("outbox")) {
            let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            for p in paths
                .iter()
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            {
                let t = std::fs::read_to_string(p).unwrap_or_default();
                if t.contains(&format!("To: {email}")) {
                    found.push(t);
                }
            }
        }
        if found.len() >= n {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{n} mails to {email} never arrived (found {})", found.len());
}

async fn job_row(s: &TestServer, id: i64) -> (String, i64, Option<i64>) {
    s.query(move |c| {
        c.query_row(
            "SELECT status, attempts, failing_since FROM jobs WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_email_job_is_listed_requeued_and_retried_from_the_cli() {
    let s = TestServer::start_with(|c| {
        c.smtp_host = "127.0.0.1".into();
        c.smtp_port = 1; // nothing listens: an SMTP outage
        c.smtp_tls = baitech::config::SmtpTls::None;
    })
    .await;
    let id = s
        .state
        .db
        .write(|tx| {
            baitech::providers::email::enqueue(tx, "x@example.com", "Receipt", "Thanks")?;
            Ok(tx.last_insert_rowid())
        })
        .await
        .unwrap();
    // Eight failures in a row no longer kill it: only the give-up age does.
    s.eventually("a first failure", || async {
        let (st, attempts, since) = job_row(&s, id).await;
        st == "queued" && attempts == 1 && since.is_some()
    })
    .await;
    s.state
        .db
        .write(move |tx| {
            Ok(tx.execute(
                "UPDATE jobs SET attempts = 8, run_at = 0 WHERE id = ?1",
                [id],
            )?)
        })
        .await
        .unwrap();
    s.eventually("a ninth failure, still queued", || async {
        let (st, attempts, _) = job_row(&s, id).await;
        st == "queued" && attempts == 9
    })
    .await;
    // Failing for more than a day: dead at the next failure.
    s.state
        .db
        .write(move |tx| {
            Ok(tx.execute(
                "UPDATE jobs SET failing_since = 1, run_at = 0 WHERE id = ?1",
                [id],
            )?)
        })
        .await
        .unwrap();
    s.eventually("the job to die", || async {
        job_row(&s, id).await.0 == "dead"
    })
    .await;

    // The CLI, against the live server's data dir.
    let dir = s.dir.path();
    let out = baitech(dir)
        .args(["jobs", "list", "--status", "dead"])
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let line = t
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{id} ")))
        .unwrap_or_else(|| panic!("job {id} not listed: {t}"));
    assert!(
        line.contains("email.send") && line.contains("dead") && line.contains("smtp"),
        "{line}"
    );
    assert!(t.contains("1 of 1 shown"), "{t}");

    // (arguments, succeeds, output contains)
    let table: [(&[&str], bool, &str); 4] = [
        (
            &["jobs", "retry", &id.to_string()],
            false,
            "only a queued job",
        ),
        (&["jobs", "requeue", "999999"], false, "not found"),
        (
            &["jobs", "list", "--status", "zombie"],
            false,
            "--status must be one of",
        ),
        (&["jobs", "requeue", &id.to_string()], true, "requeued"),
    ];
    for (args, ok, says) in table {
        let out = baitech(dir).args(args).output().unwrap();
        assert_eq!(out.status.success(), ok, "{args:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
    }
    // Requeued with a fresh give-up age: it fails again (SMTP is still
    // down) and waits its backoff instead of dying at once.
    s.eventually("the requeued job to be retried", || async {
        let (st, attempts, since) = job_row(&s, id).await;
        st == "queued" && attempts == 1 && since.is_some_and(|t| t > 1)
    })
    .await;
    let out = baitech(dir)
        .args(["jobs", "requeue", &id.to_string()])
        .output()
        .unwrap();
    assert!(
        !out.status.success() && text(&out).contains("only a dead job"),
        "{}",
        text(&out)
    );
    // Waiting out an hour's backoff; `retry` makes it due now.
    s.state
        .db
        .write(move |tx| {
            Ok(tx.execute(
                "UPDATE jobs SET run_at = ?2 WHERE id = ?1",
                rusqlite::params![id, baitech::ids::now_ms() + 3_600_000],
            )?)
        })
        .await
        .unwrap();
    let out = baitech(dir)
        .args(["jobs", "retry", &id.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    s.eventually("the retried job's second attempt", || async {
        job_row(&s, id).await.1 == 2
    })
    .await;
    // A data dir without a database is refused, not created.
    let empty = tempfile::tempdir().unwrap();
    let out = baitech(&empty.path().join("typo"))
        .args(["jobs", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("no BaiTech database in"),
        "{}",
        text(&out)
    );
    assert!(!empty.path().join("typo").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_emails_keep_no_token_in_the_job_queue() {
    let s = TestServer::start().await;
    let u = s.register("customer").await;
    s.post(
        "/api/v1/auth/forgot-password",
        None,
        json!({"email": u.email}),
    )
    .await
    .expect(200);
    let mails = mails_to(s.dir.path(), &u.email, 2).await;
    let token_in = |marker: &str| {
        let mail = mails.iter().find(|m| m.contains(marker)).expect(marker);
        let link = link_containing(mail, marker).expect("link");
        link.rsplit('/').next().unwrap().to_string()
    };
    let (verify, reset) = (token_in("/verify-email/"), token_in("/reset-password/"));
    let payloads: Vec<String> = s
        .query(|c| {
            let mut st =
                c.prepare("SELECT payload FROM jobs WHERE kind = 'email.send' ORDER BY id")?;
            let rows = st.query_map([], |r| r.get(0))?.collect();
            rows
        })
        .await;
    assert_eq!(payloads.len(), 2);
    for p in &payloads {
        assert!(
            !p.contains(&verify) && !p.contains(&reset),
            "token stored in a job: {p}"
        );
        let v: Value = serde_json::from_str(p).unwrap();
        assert_eq!(v["userId"], json!(u.id));
        assert!(v.get("body").is_none(), "{p}");
    }
    let templates: Vec<&str> = payloads
        .iter()
        .map(|p| {
            if p.contains("verify_email") {
                "verify"
            } else {
                "reset"
            }
        })
        .collect();
    assert_eq!(templates, ["verify", "reset"]);
    // The tokens rendered at send time work.
    s.get(&format!("/api/v1/auth/verify-email/{verify}"), None)
        .await
        .expect(200);
    s.post(
        &format!("/api/v1/auth/reset-password/{reset}"),
        None,
        json!({"password": "a brand new secret"}),
    )
    .await
    .expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_prune_removes_old_jobs_read_events_and_outbox_files() {
    let s = TestServer::start().await;
    let u = s.register("customer").await;
    let last_event: i64 = s
        .query(|c| c.query_row("SELECT MAX(id) FROM events", [], |r| r.get(0)))
        .await;
    let consumers = s.state.events.consumer_names();
    let n = consumers.len() as i64;
    s.eventually("every consumer to read the events", || async {
        let read: i64 = s
            .query(move |c| {
                c.query_row(
                    "SELECT COUNT(*) FROM event_cursors WHERE last_id >= ?1",
                    [last_event],
                    |r| r.get(0),
                )
            })
            .await;
        read >= n
    })
    .await;
    let old = 1_000_i64;
    s.state
        .db
        .write(move |tx| {
            tx.execute("UPDATE events SET created_at = ?1", [old])?;
            tx.execute_batch(
                "INSERT INTO jobs (kind, payload, status, run_at, created_at, finished_at)
                   VALUES ('old.done', 'null', 'done', 0, 0, 1000), ('old.dead', 'null', 'dead', 0, 0, 1000);",
            )?;
            Ok(())
        })
        .await
        .unwrap();
    // A young event (emitted after the cursors moved) and an old and a young outbox file.
    let _ = (u, s.register("technician").await);
    let outbox = s.dir.path().join("outbox");
    std::fs::create_dir_all(&outbox).unwrap();
    let (stale, fresh) = (
        outbox.join("email-stale.eml"),
        outbox.join("email-fresh.eml"),
    );
    std::fs::write(&stale, "old").unwrap();
    std::fs::write(&fresh, "new").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(30 * 86_400))
        .unwrap();
    let young_events: i64 = s
        .query(move |c| {
            c.query_row(
                "SELECT COUNT(*) FROM events WHERE created_at > ?1",
                [old],
                |r| r.get(0),
            )
        })
        .await;
    let prune: i64 = s
        .query(|c| {
            c.query_row(
                "SELECT id FROM jobs WHERE kind = 'maintenance.prune' AND status = 'queued'",
                [],
                |r| r.get(0),
            )
        })
        .await;
    s.state
        .db
        .write(move |tx| baitech::jobs::inspect::retry_now(tx, prune))
        .await
        .unwrap();
    s.eventually("the prune to run", || async {
        s.query(move |c| {
            c.query_row("SELECT status FROM jobs WHERE id = ?1", [prune], |r| {
                r.get::<_, String>(0)
            })
        })
        .await
            == "done"
    })
    .await;
    let (old_jobs, events, next): (i64, i64, i64) = s
        .query(|c| {
            c.query_row(
                "SELECT (SELECT COUNT(*) FROM jobs WHERE kind LIKE 'old.%'),
                        (SELECT COUNT(*) FROM events),
                        (SELECT run_at - ?1 FROM jobs WHERE kind = 'maintenance.prune' AND status = 'queued')",
                [baitech::ids::now_ms()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
        })
        .await;
    assert_eq!(old_jobs, 0, "finished jobs past retention are deleted");
    assert_eq!(events, young_events, "only read, old events are deleted");
    assert!(
        next > 23 * 3_600_000,
        "the next prune is a day later: {next}"
    );
    assert!(!stale.exists() && fresh.exists());
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every path under `dir` whose mode is not owner-only (0700 folders, 0600 files).
fn loose_modes(dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let meta = std::fs::symlink_metadata(&p).unwrap();
        let m = meta.permissions().mode() & 0o777;
        if meta.is_dir() {
            if m != 0o700 {
                out.push(format!("{} {m:o}", p.display()));
            }
            loose_modes(&p, out);
        } else if meta.is_file() && m != 0o600 {
            out.push(format!("{} {m:o}", p.display()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_in_the_data_dir_is_private_under_umask_000() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    let server = serve(&dir, "000", &[]).await;
    let (_, email, token) = register(&server.base).await;
    mails_to(&dir, &email, 1).await;
    // A media upload lands under media/.
    let png = {
        let mut buf = Vec::new();
        image::RgbImage::from_pixel(4, 4, image::Rgb([200, 40, 40]))
            .write_to(&mut std::io::Cursor::new(&mut buf), image::ImageFormat::Png)
            .unwrap();
        buf
    };
    const B: &str = "----baitech-ops-boundary";
    let mut body = format!(
        "--{B}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&png);
    body.extend_from_slice(format!("\r\n--{B}--\r\n").as_bytes());
    let up = reqwest::Client::new()
        .post(format!("{}/api/v1/media/upload/image", server.base))
        .bearer_auth(&token)
        .header("content-type", format!("multipart/form-data; boundary={B}"))
        .body(body)
        .send()
        .await
        .unwrap();
    let up_status = up.status();
    let up_body = up.text().await.unwrap_or_default();
    drop(server);
    assert_eq!(mode(&dir), 0o700);
    for f in ["baitech.db", "baitech.db-wal", "jwt.secret"] {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }
    let mut loose = Vec::new();
    loose_modes(&dir, &mut loose);
    assert!(loose.is_empty(), "world or group accessible: {loose:?}");
    assert!(
        up_status.is_success(),
        "upload answered {up_status}: {up_body}"
    );
    // An old install's world-readable files are tightened at the next start.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        dir.join("baitech.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let server = serve(&dir, "022", &[]).await;
    drop(server);
    assert_eq!((mode(&dir), mode(&dir.join("baitech.db"))), (0o700, 0o600));
}

fn litestream() -> Option<PathBuf> {
    let p = std::env::var("BAITECH_LITESTREAM")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/.ci/venv/bin/litestream"
            ))
        });
    p.exists().then_some(p)
}

/// Bookings and payments committed (answered 201) by one writer.
#[derive(Default)]
struct Committed {
    bookings: Vec<String>,
    payments: Vec<String>,
}

async fn write_until_killed(base: String, token: String, stop: Instant) -> Committed {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut done = Committed::default();
    let date = (chrono::Utc::now() + chrono::Duration::days(2))
        .format("%Y-%m-%d")
        .to_string();
    while Instant::now() < stop {
        let Ok(res) = client
            .post(format!("{base}/api/v1/bookings"))
            .bearer_auth(&token)
            .json(&json!({"serviceType": "Plumbing", "description": "Kitchen sink leaks under the cabinet",
                          "scheduledDate": date, "scheduledTime": "10:00", "estimatedDuration": 120,
                          "serviceLocation": {"coordinates": [36.8172, -1.2864], "address": "Moi Avenue 12", "city": "Nairobi"},
                          "technician": "", "urgency": "normal", "images": []}))
            .send()
            .await
        else {
            break;
        };
        if res.status() != 201 {
            break;
        }
        let Ok(body) = res.json::<Value>().await else {
            break;
        };
        let booking = body["booking"]["_id"].as_str().unwrap().to_string();
        done.bookings.push(booking.clone());
        let Ok(res) = client
            .post(format!("{base}/api/v1/transactions"))
            .bearer_auth(&token)
            .json(&json!({"booking": booking, "amount": 1500, "gateway": "mpesa"}))
            .send()
            .await
        else {
            break;
        };
        if res.status() != 201 {
            break;
        }
        let Ok(body) = res.json::<Value>().await else {
            break;
        };
        done.payments
            .push(body["transaction"]["_id"].as_str().unwrap().to_string());
    }
    done
}

/// How many of `ids` are rows of `table` in the database at `path`.
fn present(path: &Path, table: &str, ids: &[String]) -> usize {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return 0;
    };
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE id = ?1");
    ids.iter()
        .filter(|id| {
            conn.query_row(&sql, [id], |r| r.get::<_, i64>(0))
                .unwrap_or(0)
                == 1
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn litestream_restores_every_committed_booking_and_payment_after_kill_9() {
    let Some(ls) = litestream() else {
        panic!("litestream not installed (set BAITECH_LITESTREAM; .ci/run installs it)");
    };
    let root = tempfile::tempdir().unwrap();
    let (data, replica) = (root.path().join("data"), root.path().join("replica"));
    // As packaging/litestream.yml, with this test's paths.
    let config = root.path().join("litestream.yml");
    let template = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/packaging/litestream.yml"
    ))
    .unwrap();
    std::fs::write(
        &config,
        template
            .replace(
                "/var/lib/baitech/baitech.db",
                &data.join("baitech.db").display().to_string(),
            )
            .replace(
                "/var/backups/baitech-replica",
                &replica.display().to_string(),
            ),
    )
    .unwrap();
    let mut server = serve(&data, "022", &[("BAITECH_DB_WAL_AUTOCHECKPOINT", "0")]).await;
    let (_, _, token) = register(&server.base).await;
    let mut replicate = Command::new(&ls)
        .args(["replicate", "-config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Four writers for ~4 s, then kill -9 while they are mid-request.
    let stop = Instant::now() + Duration::from_secs(60);
    let writers: Vec<_> = (0..4)
        .map(|_| tokio::spawn(write_until_killed(server.base.clone(), token.clone(), stop)))
        .collect();
    tokio::time::sleep(Duration::from_secs(4)).await;
    server.child.kill().unwrap();
    let killed_at = Instant::now();
    server.child.wait().unwrap();
    let mut committed = Committed::default();
    for w in writers {
        let c = w.await.unwrap();
        committed.bookings.extend(c.bookings);
        committed.payments.extend(c.payments);
    }
    assert!(
        committed.bookings.len() >= 20,
        "too little load: {}",
        committed.bookings.len()
    );
    // Restore into a fresh data dir until everything committed is there.
    let fresh = root.path().join("restored");
    std::fs::create_dir_all(&fresh).unwrap();
    let restored = fresh.join("baitech.db");
    let (mut restore_time, mut recovered_after) = (Duration::ZERO, None);
    for _ in 0..60 {
        let _ = std::fs::remove_file(&restored);
        let started = Instant::now();
        let out = Command::new(&ls)
            .args(["restore", "-config"])
            .arg(&config)
            .arg("-o")
            .arg(&restored)
            .arg(data.join("baitech.db"))
            .output()
            .unwrap();
        restore_time = started.elapsed();
        assert!(out.status.success(), "restore: {}", text(&out));
        if present(&restored, "bookings", &committed.bookings) == committed.bookings.len()
            && present(&restored, "transactions", &committed.payments) == committed.payments.len()
        {
            recovered_after = Some(killed_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(replicate.id().to_string())
        .status();
    let _ = replicate.wait();
    let recovered_after = recovered_after.unwrap_or_else(|| {
        panic!(
            "the replica never held every committed row: {}/{} bookings, {}/{} payments",
            present(&restored, "bookings", &committed.bookings),
            committed.bookings.len(),
            present(&restored, "transactions", &committed.payments),
            committed.payments.len()
        )
    });
    println!(
        "litestream DR: {} bookings + {} payments committed; all in the replica {} ms after kill -9; restore took {} ms",
        committed.bookings.len(),
        committed.payments.len(),
        recovered_after.as_millis(),
        restore_time.as_millis()
    );
    // The generated secrets are not in the database: an operator keeps a
    // copy of them once (README); here they are copied beside the restore.
    for e in std::fs::read_dir(&data).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "secret") {
            std::fs::copy(e.path(), fresh.join(e.file_name())).unwrap();
        }
    }
    // The restored data dir is a working BaiTech database.
    for args in [&["check"][..], &["ledger-check"][..]] {
        let out = baitech(&fresh).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    }
    let server = serve(&fresh, "022", &[]).await;
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/bookings?limit=1", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    // Every acknowledged booking is served; a write that committed while its
    // answer was cut off by the kill may be there too.
    let total = body["total"].as_u64().unwrap_or(0) as usize;
    assert!(total >= committed.bookings.len(), "{body}");
}

/// `(role, email, password)` of the sign-in lines `seed-demo` printed.
fn printed_accounts(out: &str) -> Vec<(String, String, String)> {
    out.lines()
        .filter_map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            match parts.as_slice() {
                [role, email, password] if email.contains('@') => {
                    Some((role.to_string(), email.to_string(), password.to_string()))
                }
                _ => None,
            }
        })
        .collect()
}

/// A stable picture of a seeded marketplace (ids and times left out).
fn picture(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut rows: Vec<String> = conn
        .prepare("SELECT email || ' ' || first_name || ' ' || IFNULL(location_lng, '-') || ' ' || IFNULL(location_lat, '-') || ' ' || role FROM users ORDER BY email")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let statuses: Vec<String> = conn
        .prepare("SELECT status || ' ' || COUNT(*) FROM bookings GROUP BY status ORDER BY status")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.extend(statuses);
    // What the feed, chat, desk and notification steps made.
    for sql in [
        "SELECT 'post ' || type || ' ' || visibility || ' ' || COUNT(*) || ' ' || SUM(likes_count) || ' ' || SUM(comments_count) FROM posts GROUP BY type, visibility ORDER BY 1",
        "SELECT 'follows ' || COUNT(*) FROM follows",
        "SELECT 'messages ' || type || ' ' || COUNT(*) FROM messages GROUP BY type ORDER BY 1",
        "SELECT 'ticket ' || status || ' ' || COUNT(*) FROM support_tickets GROUP BY status ORDER BY 1",
        "SELECT 'notifications ' || category || ' ' || COUNT(*) FROM notifications GROUP BY category ORDER BY 1",
    ] {
        let more: Vec<String> = conn
            .prepare(sql)
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows.extend(more);
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_demo_builds_a_nairobi_marketplace_to_sign_in_and_search() {
    let root = tempfile::tempdir().unwrap();
    let seed = |dir: &Path, seed: &str| {
        baitech(dir)
            .env("BAITECH_ARGON2_MEMORY_KIB", "8192")
            .env("BAITECH_ARGON2_ITERATIONS", "1")
            .args([
                "seed-demo",
                "--technicians",
                "60",
                "--customers",
                "40",
                "--bookings",
                "300",
                "--seed",
                seed,
            ])
            .output()
            .unwrap()
    };
    let (a, b, c) = (
        root.path().join("a"),
        root.path().join("b"),
        root.path().join("c"),
    );
    let out = seed(&a, "7");
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    // Deterministic by seed; another seed is another marketplace.
    assert!(seed(&b, "7").status.success());
    assert!(seed(&c, "8").status.success());
    let (pa, pb, pc) = (
        picture(&a.join("baitech.db")),
        picture(&b.join("baitech.db")),
        picture(&c.join("baitech.db")),
    );
    assert_eq!(pa, pb);
    assert_ne!(pa, pc);
    // A second seed into a filled database is refused.
    let again = seed(&a, "7");
    assert!(
        !again.status.success() && text(&again).contains("already has"),
        "{}",
        text(&again)
    );

    let conn = rusqlite::Connection::open(a.join("baitech.db")).unwrap();
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(
        count("SELECT COUNT(*) FROM users WHERE role = 'technician'"),
        62
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM users WHERE role = 'customer'"),
        41
    );
    assert_eq!(
        count("SELECT COUNT(DISTINCT status) FROM bookings"),
        10,
        "every status"
    );
    assert_eq!(count("SELECT COUNT(*) FROM bookings"), 300);
    assert!(count("SELECT COUNT(*) FROM transactions WHERE status = 'completed'") > 50);
    assert!(count("SELECT COUNT(*) FROM transactions WHERE status = 'refunded'") > 0);
    assert!(count("SELECT COUNT(*) FROM reviews") > 50);
    assert!(
        count("SELECT COUNT(*) FROM users WHERE role = 'technician' AND rating_count > 0") > 10
    );
    assert_eq!(count("SELECT COUNT(*) FROM technician_profiles WHERE hourly_rate_minor > 0 AND schedule <> '[]'"), 62);
    assert_eq!(
        count("SELECT COUNT(*) FROM users WHERE location_lng NOT BETWEEN 36.6 AND 37.0 OR location_lat NOT BETWEEN -1.5 AND -1.1"),
        0,
        "everyone is around Nairobi"
    );
    // The feed: a few hundred posts of every type the seed makes, some
    // followers-only, each counter equal to its rows recounted.
    assert_eq!(count("SELECT COUNT(*) FROM posts"), 300);
    assert_eq!(count("SELECT COUNT(DISTINCT type) FROM posts"), 5);
    assert!(count("SELECT COUNT(*) FROM posts WHERE visibility = 'followers'") > 10);
    assert!(
        count("SELECT COUNT(*) FROM posts WHERE type = 'image' AND json_array_length(media) = 1")
            > 10
    );
    assert!(count("SELECT SUM(likes_count) FROM posts") > 300);
    assert!(count("SELECT SUM(comments_count) FROM posts") > 100);
    for (what, sql) in [
        ("likes", "SELECT COUNT(*) FROM posts p WHERE likes_count <> (SELECT COUNT(*) FROM post_likes WHERE post_id = p.id)"),
        ("comments", "SELECT COUNT(*) FROM posts p WHERE comments_count <> (SELECT COUNT(*) FROM post_comments WHERE post_id = p.id)"),
        ("bookmarks", "SELECT COUNT(*) FROM posts p WHERE bookmarks_count <> (SELECT COUNT(*) FROM post_bookmarks WHERE post_id = p.id)"),
        ("shares", "SELECT COUNT(*) FROM posts p WHERE shares_count <> (SELECT COUNT(*) FROM post_shares WHERE post_id = p.id)"),
        ("posts total", "SELECT (SELECT n FROM post_totals WHERE scope = '*') - (SELECT COUNT(*) FROM posts WHERE status = 'published' AND visibility = 'public')"),
        ("postsCount", "SELECT COUNT(*) FROM users u LEFT JOIN user_profiles up ON up.user_id = u.id
                        WHERE IFNULL(up.posts_count, 0) <> (SELECT COUNT(*) FROM posts WHERE author_id = u.id)"),
        ("followers", "SELECT COUNT(*) FROM users u LEFT JOIN user_profiles up ON up.user_id = u.id
                       WHERE IFNULL(up.followers_count, 0) <> (SELECT COUNT(*) FROM follows WHERE followee_id = u.id AND active = 1)"),
        ("following", "SELECT COUNT(*) FROM users u LEFT JOIN user_profiles up ON up.user_id = u.id
                       WHERE IFNULL(up.following_count, 0) <> (SELECT COUNT(*) FROM follows WHERE follower_id = u.id AND active = 1)"),
        ("likes on followers-only posts by non-followers", "SELECT COUNT(*) FROM post_likes l JOIN posts p ON p.id = l.post_id
              WHERE p.visibility = 'followers' AND NOT EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = l.user_id AND f.followee_id = p.author_id AND f.active = 1)"),
        ("engagement on private posts", "SELECT COUNT(*) FROM posts WHERE visibility = 'private' AND likes_count + comments_count + bookmarks_count + shares_count > 0"),
        ("conversation totals", "SELECT COUNT(*) FROM conversations c WHERE total_messages <> (SELECT COUNT(*) FROM messages WHERE conversation_id = c.id)"),
        ("agent loads", "SELECT COUNT(*) FROM support_agents a WHERE active_count <> (SELECT COUNT(*) FROM support_tickets
              WHERE assigned_to = a.user_id AND status IN ('assigned','in_progress','waiting_customer','waiting_internal','reopened'))"),
        ("agents over their cap", "SELECT COUNT(*) FROM support_agents WHERE active_count > max_concurrent"),
        ("notification counts", "SELECT COUNT(*) FROM notification_counts c WHERE total <> (SELECT COUNT(*) FROM notifications WHERE recipient_id = c.user_id)"),
    ] {
        assert_eq!(count(sql), 0, "{what}");
    }
    assert!(count("SELECT COUNT(*) FROM follows") > 40);
    // Chat: every booking status change has its line; some talk; texts sealed.
    assert!(count("SELECT COUNT(*) FROM messages WHERE type = 'system'") > 300);
    assert!(count("SELECT COUNT(*) FROM messages WHERE type = 'text'") > 100);
    assert!(count("SELECT COUNT(*) FROM conversations WHERE type = 'direct'") > 0);
    assert_eq!(
        count("SELECT COUNT(*) FROM messages WHERE CAST(text AS TEXT) LIKE '%agreed time%'"),
        0,
        "texts are sealed at rest"
    );
    // The desk: tickets in several statuses, assigned by load, rated.
    assert!(count("SELECT COUNT(DISTINCT status) FROM support_tickets") >= 4);
    assert!(count("SELECT COUNT(*) FROM support_tickets WHERE rating IS NOT NULL") > 0);
    assert!(count("SELECT COUNT(DISTINCT assigned_to) FROM support_tickets") >= 3);
    // Notifications from the steps' events, the consumer's cursor past them.
    assert!(count("SELECT COUNT(DISTINCT category) FROM notifications") >= 5);
    assert_eq!(
        count("SELECT (SELECT MAX(id) FROM events) - (SELECT last_id FROM event_cursors WHERE consumer = 'notifications')"),
        0
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM jobs WHERE kind IN ('notifications.push', 'notifications.email', 'notifications.sms')"),
        0,
        "nothing goes out for the demo's past"
    );
    drop(conn);
    let check = baitech(&a).arg("ledger-check").output().unwrap();
    assert!(check.status.success(), "{}", text(&check));

    // Every printed account signs in; technicians are found near Westlands.
    let accounts = printed_accounts(&t);
    let roles: Vec<&str> = accounts.iter().map(|(r, _, _)| r.as_str()).collect();
    for role in ["admin", "support", "technician", "customer"] {
        assert!(roles.contains(&role), "no {role} printed: {t}");
    }
    let server = serve(&a, "022", &[]).await;
    let client = reqwest::Client::new();
    let mut customer_token = String::new();
    let mut support_token = String::new();
    for (role, email, password) in &accounts {
        let res = client
            .post(format!("{}/api/v1/auth/login", server.base))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{email}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["user"]["role"], json!(role), "{email}");
        if email == "customer1@gmail.com" {
            customer_token = body["token"].as_str().unwrap().to_string();
        }
        if email == "support@baitech.com" {
            support_token = body["token"].as_str().unwrap().to_string();
        }
    }
    let base = server.base.clone();
    let get = |path: &str, token: Option<&str>| {
        let mut req = client.get(format!("{base}/api/v1/{path}"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let path = path.to_string();
        async move {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 200, "{path}");
            res.json::<Value>().await.unwrap()
        }
    };
    // Anyone sees the public feed; the named customer their followees' posts.
    let feed = get("posts?limit=50", None).await;
    let posts = feed["posts"].as_array().unwrap();
    assert_eq!(posts.len(), 50, "{feed}");
    assert!(posts.iter().all(|p| p["visibility"] == "public"), "{feed}");
    let following = get("posts?following=true", Some(&customer_token)).await;
    assert!(
        !following["posts"].as_array().unwrap().is_empty(),
        "{following}"
    );
    // Their conversations open with the chat key; they have notifications.
    let convs = get("conversations", Some(&customer_token)).await;
    let convs = convs["conversations"].as_array().unwrap().clone();
    assert!(!convs.is_empty());
    assert!(
        convs.iter().any(|c| c["lastMessage"]["text"]
            .as_str()
            .is_some_and(|t| t.len() > 5)),
        "{convs:?}"
    );
    let notes = get("notifications", Some(&customer_token)).await;
    assert!(
        !notes["notifications"].as_array().unwrap().is_empty(),
        "{notes}"
    );
    assert!(notes["total"].as_i64().unwrap() > 0);
    // The support desk has work.
    let desk = get("support/dashboard", Some(&support_token)).await;
    assert!(
        !desk["dashboard"]["assignedTickets"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{desk}"
    );
    let res = client
        .get(format!(
            "{}/api/v1/users/nearby-technicians?lat=-1.2676&lng=36.8065&radius=25&limit=50",
            server.base
        ))
        .bearer_auth(&customer_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert!(body["total"].as_i64().unwrap_or(0) >= 20, "{body}");
    let res = client
        .get(format!("{}/api/v1/bookings?limit=5", server.base))
        .bearer_auth(&customer_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
