//! The `baitech` binary itself: CLI subcommands, start-up on defaults, and
//! crash recovery (kill -9 with jobs queued).

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::smtp::FakeSmtp;
use serde_json::json;

pub(crate) fn baitech(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_baitech"));
    cmd.env("BAITECH_DATA_DIR", data_dir)
        .env("BAITECH_LOG_LEVEL", "warn")
        .env_remove("BAITECH_CONFIG")
        .stdin(Stdio::null());
    cmd
}

pub(crate) fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run baitech")
}

pub(crate) fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) struct Running {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) async fn start(data_dir: &Path, env: &[(&str, String)]) -> Running {
    start_with_stderr(data_dir, env, Stdio::null()).await
}

/// [`start`], with the server's stderr (its log) sent to `stderr`.
pub(crate) async fn start_with_stderr(
    data_dir: &Path,
    env: &[(&str, String)],
    stderr: Stdio,
) -> Running {
    let port = free_port();
    let mut cmd = baitech(data_dir);
    cmd.arg("serve")
        .env("BAITECH_LISTEN", format!("127.0.0.1:{port}"))
        .env("BAITECH_RATE_LIMITS", "off")
        .stdout(Stdio::null())
        .stderr(stderr);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..500 {
        if client
            .get(format!("{base}/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Running { child, base };
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("server did not start");
}

#[test]
fn config_prints_effective_settings_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("b.toml"),
        "listen = \"127.0.0.1:6001\"\nsmtp_host = \"mail.example\"\n",
    )
    .unwrap();
    let out = run(baitech(dir.path())
        .args(["config", "--config"])
        .arg(dir.path().join("b.toml"))
        .env(
            "BAITECH_JWT_SECRET",
            "a-very-secret-value-that-is-long-enough",
        )
        .env("BAITECH_SMTP_HOST", "smtp.from-env.example")
        .arg("--log-format")
        .arg("json"));
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("listen = \"127.0.0.1:6001\""), "file value: {t}");
    assert!(
        t.contains("smtp_host = \"smtp.from-env.example\""),
        "env beats file"
    );
    assert!(t.contains("log_format = \"json\""), "flag");
    assert!(t.contains("# jwt_secret = (set; not shown)"), "{t}");
    assert!(
        !t.contains("********"),
        "no placeholder that reads back as a secret"
    );
    assert!(!t.contains("a-very-secret-value"));
    assert!(t.contains("# Address and port the HTTP server listens on."));
}

#[test]
fn user_create_list_set_role_then_check_backup_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(baitech(dir.path()).arg("migrate"));
    assert!(out.status.success(), "{}", text(&out));
    let mut create = baitech(dir.path())
        .args([
            "user",
            "create",
            "--email",
            "Root@Example.com",
            "--role",
            "admin",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    create
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long admin passphrase\n")
        .unwrap();
    let out = create.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("created admin root@example.com"));

    let weak = run(baitech(dir.path()).args([
        "user",
        "create",
        "--email",
        "s@example.com",
        "--role",
        "support",
        "--password-stdin",
    ]));
    assert!(!weak.status.success(), "an empty password is refused");

    let list = run(baitech(dir.path()).args(["user", "list"]));
    assert!(text(&list).contains("root@example.com"));
    let set = run(baitech(dir.path()).args([
        "user",
        "set-role",
        "--email",
        "root@example.com",
        "--role",
        "support",
    ]));
    assert!(set.status.success(), "{}", text(&set));
    let list = run(baitech(dir.path()).args(["user", "list", "--role", "support"]));
    assert!(text(&list).contains("root@example.com"));
    let missing = run(baitech(dir.path()).args([
        "user",
        "set-role",
        "--email",
        "nobody@example.com",
        "--role",
        "admin",
    ]));
    assert!(!missing.status.success());

    let check = run(baitech(dir.path()).arg("check"));
    assert!(check.status.success(), "{}", text(&check));
    assert!(text(&check).contains("integrity: ok"));

    let backup = dir.path().join("copy.db");
    let out = run(baitech(dir.path()).args(["backup", "--to"]).arg(&backup));
    assert!(out.status.success(), "{}", text(&out));
    let again = run(baitech(dir.path()).args(["backup", "--to"]).arg(&backup));
    assert!(!again.status.success(), "never overwrites");

    // Change the live data, restore, and the change is gone.
    run(baitech(dir.path()).args([
        "user",
        "set-role",
        "--email",
        "root@example.com",
        "--role",
        "admin",
    ]));
    let out = run(baitech(dir.path()).args(["restore", "--from"]).arg(&backup));
    assert!(out.status.success(), "{}", text(&out));
    let list = run(baitech(dir.path()).args(["user", "list", "--role", "support"]));
    assert!(text(&list).contains("root@example.com"), "{}", text(&list));

    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all, not even close.....").unwrap();
    let out = run(baitech(dir.path()).args(["restore", "--from"]).arg(&junk));
    assert!(!out.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_is_refused_while_a_server_holds_the_data_dir_and_backup_works_live() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let client = reqwest::Client::new();
    let res = client
        .post(format!("{}/api/v1/auth/register", server.base))
        .json(&json!({"firstName": "A", "lastName": "B", "email": "live@example.com", "phoneNumber": "0711111111", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let backup = dir.path().join("live.db");
    let out = run(baitech(dir.path()).args(["backup", "--to"]).arg(&backup));
    assert!(out.status.success(), "backup while serving: {}", text(&out));
    let conn = rusqlite::Connection::open(&backup).unwrap();
    let n: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM users WHERE email = 'live@example.com'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);
    let out = run(baitech(dir.path()).args(["restore", "--from"]).arg(&backup));
    assert!(!out.status.success());
    assert!(
        text(&out).contains("in use by another baitech process"),
        "{}",
        text(&out)
    );
    // A second server on the same data dir is refused too.
    let second = run(baitech(dir.path())
        .arg("serve")
        .env("BAITECH_LISTEN", format!("127.0.0.1:{}", free_port())));
    assert!(!second.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_defaults_creates_the_data_dir_and_a_persistent_secret() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh");
    let first = start(&data, &[]).await;
    assert!(data.join("baitech.db").exists());
    let secret = std::fs::read_to_string(data.join("jwt.secret")).unwrap();
    assert!(secret.len() >= 64);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(data.join("jwt.secret"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    drop(first);
    let _second = start(&data, &[]).await;
    assert_eq!(
        std::fs::read_to_string(data.join("jwt.secret")).unwrap(),
        secret,
        "kept across restarts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), &[]).await;
    unsafe {
        libc::kill(server.child.id() as i32, libc::SIGTERM);
    }
    let mut exited = None;
    for _ in 0..800 {
        if let Some(status) = server.child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let status = exited.expect("server stopped on SIGTERM");
    assert!(status.success(), "clean exit: {status:?}");
}

/// kill -9 while email jobs are queued and one is mid-send; after a restart
/// every job completes and every email is delivered exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_survive_kill_9_and_complete_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let stuck = FakeSmtp::start(true).await;
    let env = |port: u16| {
        vec![
            ("BAITECH_SMTP_HOST", "127.0.0.1".to_string()),
            ("BAITECH_SMTP_PORT", port.to_string()),
            ("BAITECH_SMTP_TLS", "none".to_string()),
            ("BAITECH_JOB_WORKERS", "1".to_string()),
        ]
    };
    let first = start(dir.path(), &env(stuck.port)).await;
    let client = reqwest::Client::new();
    let mut emails = Vec::new();
    for i in 0..6 {
        let email = format!("crash{i}@example.com");
        let res = client
            .post(format!("{}/api/v1/auth/register", first.base))
            .json(&json!({"firstName": "C", "lastName": "R", "email": email, "phoneNumber": format!("07110000{i:02}"), "password": "correct horse battery"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 201);
        emails.push(email);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let db = dir.path().join("baitech.db");
    let running: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM jobs WHERE status = 'running'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(running, 1, "one job is mid-send to the hanging server");
    let mut first = first;
    unsafe {
        libc::kill(first.child.id() as i32, libc::SIGKILL);
    }
    let _ = first.child.wait();

    let good = FakeSmtp::start(false).await;
    let second = start(dir.path(), &env(good.port)).await;
    for _ in 0..500 {
        if good.received().len() >= emails.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = good.received();
    assert_eq!(received.len(), emails.len(), "each email exactly once");
    for email in &emails {
        assert_eq!(
            received
                .iter()
                .filter(|m| m.contains(&format!("To: {email}")))
                .count(),
            1,
            "{email}"
        );
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (done, other): (i64, i64) = conn
        .query_row(
            "SELECT SUM(status = 'done'), SUM(status != 'done') FROM jobs WHERE kind = 'email.send'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((done, other), (emails.len() as i64, 0));
    drop(second);
}
