//! Notifications scenarios:
//! - `notifications-events`: 10,000 domain events (`user.followed`, each to
//!   a different user with one push token) written to the outbox at once;
//!   measured from their commit until every notification is stored AND its
//!   push job has written the dev outbox (no FCM configured): end-to-end
//!   notifications per second.
//! - `notifications-list`: `GET /notifications` (page 1 and page 50) for a
//!   user holding 100,000 notifications: p50/p99.

use std::time::{Duration, Instant};

use rusqlite::params;
use serde_json::json;

use crate::{drive, wanted, Server};

const EVENTS: usize = 10_000;
const HELD: usize = 100_000;
const PASSWORD: &str = "correct horse battery";

fn id(n: usize, kind: u8) -> String {
    format!("{:08x}{:02x}{:014x}", 0x6600_0000u32, kind, n)
}

fn seed_users(db: &baitech::db::Db, n: usize, with_hash: bool) {
    let hash = if with_hash {
        let cost = baitech::auth::password::Cost {
            memory_kib: 19_456,
            iterations: 2,
        };
        baitech::auth::password::hash_blocking(PASSWORD, cost).unwrap()
    } else {
        "x".into()
    };
    db.write_blocking(|tx| {
        let now = baitech::ids::now_ms();
        let mut user = tx.prepare(
            "INSERT INTO users (id, email, phone, password_hash, first_name, last_name, role, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'Bench', 'User', 'customer', ?5, ?5)",
        )?;
        let mut token = tx.prepare(
            "INSERT INTO fcm_tokens (token, user_id, platform, added_at) VALUES (?1, ?2, 'android', ?3)",
        )?;
        for u in 0..n {
            user.execute(params![
                id(u, 1),
                format!("user{u}@bench.local"),
                format!("+2547{:08}", u),
                hash,
                now
            ])?;
            token.execute(params![format!("device-{u}"), id(u, 1), now])?;
        }
        Ok(())
    })
    .expect("seed users");
}

async fn count(db: &baitech::db::Db, sql: &'static str) -> i64 {
    db.read(move |c| Ok(c.query_row(sql, [], |r| r.get(0))?))
        .await
        .unwrap_or(0)
}

async fn events_to_notifications() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let db = tokio::task::spawn_blocking(move || {
        let db = baitech::db::Db::open(&path.join("baitech.db"), 2).expect("open");
        seed_users(&db, EVENTS + 1, false);
        db
    })
    .await
    .unwrap();
    let server = Server::start(dir.path(), &[]).await;
    // The consumer's cursor exists once it has looked at the outbox.
    for _ in 0..500 {
        if count(
            &db,
            "SELECT COUNT(*) FROM event_cursors WHERE consumer = 'notifications'",
        )
        .await
            == 1
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    db.write(|tx| {
        for u in 0..EVENTS {
            let (follower, followed) = (id(u + 1, 1), id(u, 1));
            baitech::events::emit(
                tx,
                "user.followed",
                Some(&followed),
                Some(&follower),
                &json!({"followerId": follower, "followingId": followed}),
            )?;
        }
        Ok(())
    })
    .await
    .unwrap();
    // Another process committed: wake the server now rather than at its
    // next 2 s poll, with a write of its own (a registration).
    let client = reqwest::Client::new();
    let _ = client
        .post(server.url("/api/v1/auth/register"))
        .json(
            &json!({"firstName": "Wake", "lastName": "Up", "email": "wake@bench.local",
                      "phoneNumber": "0711000000", "password": PASSWORD, "role": "customer"}),
        )
        .send()
        .await;
    let mut stored_at = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let stored = count(&db, "SELECT COUNT(*) FROM notifications").await;
        if stored as usize >= EVENTS && stored_at.is_none() {
            stored_at = Some(started.elapsed());
        }
        let pushed = count(
            &db,
            "SELECT COUNT(*) FROM jobs WHERE kind = 'notifications.push' AND status = 'done'",
        )
        .await;
        if pushed as usize >= EVENTS || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let total = started.elapsed();
    let stored = stored_at.unwrap_or(total);
    println!(
        "notifications-events: {EVENTS} events -> {:.0} notifications/s stored (in {:.2} s), \
         {:.0} notifications/s end to end with push to the dev outbox (in {:.2} s)",
        EVENTS as f64 / stored.as_secs_f64(),
        stored.as_secs_f64(),
        EVENTS as f64 / total.as_secs_f64(),
        total.as_secs_f64()
    );
    println!(
        "notifications-events: peak RSS {:.1} MB",
        server.peak_rss_kib() as f64 / 1024.0
    );
}

async fn list_of_a_busy_user() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let started = Instant::now();
    tokio::task::spawn_blocking(move || {
        let db = baitech::db::Db::open(&path.join("baitech.db"), 2).expect("open");
        seed_users(&db, 1, true);
        db.write_blocking(|tx| {
            let now = baitech::ids::now_ms();
            let mut n = tx.prepare(
                "INSERT INTO notifications (id, recipient_id, type, category, title, body, priority, is_read,
                    created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 'Bench', 'A notification body', 'normal', ?5, ?6, ?6)",
            )?;
            let kinds = [("booking_accepted", "booking"), ("new_follower", "social"), ("payment_received", "payment")];
            for i in 0..HELD {
                let (kind, cat) = kinds[i % 3];
                n.execute(params![id(i, 2), id(0, 1), kind, cat, i % 4 == 0, now - (HELD - i) as i64 * 1000])?;
            }
            Ok(())
        })
        .expect("seed notifications");
    })
    .await
    .unwrap();
    println!(
        "notifications-list: seeded one user with {HELD} notifications in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let server = Server::start(dir.path(), &[]).await;
    let login: serde_json::Value = reqwest::Client::new()
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": "user0@bench.local", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap_or_default().to_string();
    for (query, conns, label) in [
        ("", 1, "GET /notifications <100k> (1 conn)"),
        ("", 32, "GET /notifications <100k> (32 conns)"),
        (
            "?page=50",
            32,
            "GET /notifications <100k> page 50 (32 conns)",
        ),
        (
            "?category=payment",
            32,
            "GET /notifications <100k> category (32 conns)",
        ),
    ] {
        let url = server.url(&format!("/api/v1/notifications{query}"));
        let token = token.clone();
        let stats = drive(conns, Duration::from_secs(4), move |c, _| {
            let (url, token) = (url.clone(), token.clone());
            async move {
                c.get(&url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false)
            }
        })
        .await;
        stats.print(label);
    }
    println!(
        "notifications-list: peak RSS {:.1} MB",
        server.peak_rss_kib() as f64 / 1024.0
    );
}

pub async fn run() {
    if wanted("notifications-events") {
        events_to_notifications().await;
    }
    if wanted("notifications-list") {
        list_of_a_busy_user().await;
    }
}
