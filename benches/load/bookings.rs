//! Bookings scenarios:
//! - `bookings-create`: sustained POST /bookings from 32 concurrent clients;
//! - `bookings-list`: GET /bookings for a technician with 1M bookings in the
//!   database (seeded with SQL before the server starts), with the query
//!   plans the list relies on.

use std::time::{Duration, Instant};

use rusqlite::{params, Connection};
use serde_json::{json, Value};

use crate::{drive, wanted, Server};

const PASSWORD: &str = "correct horse battery";
const SEEDED: i64 = 1_000_000;
const CUSTOMERS: i64 = 1_000;

pub async fn run() {
    if wanted("bookings-create") {
        create_bookings().await;
    }
    if wanted("bookings-list") {
        list_bookings().await;
    }
}

fn local_date(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days) + chrono::Duration::hours(3))
        .format("%Y-%m-%d")
        .to_string()
}

async fn register(client: &reqwest::Client, server: &Server, i: usize, role: &str) -> String {
    let body: Value = client
        .post(server.url("/api/v1/auth/register"))
        .json(
            &json!({"firstName": "Bench", "lastName": format!("{role} {i}"),
                      "email": format!("bench-{role}-{i}@example.com"),
                      "phoneNumber": format!("0712{:06}", i), "password": PASSWORD, "role": role}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["token"].as_str().unwrap_or_default().to_string()
}

async fn create_bookings() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let client = reqwest::Client::new();
    let mut tokens = Vec::new();
    for i in 0..32 {
        tokens.push(register(&client, &server, i, "customer").await);
    }
    let tokens = std::sync::Arc::new(tokens);
    let url = server.url("/api/v1/bookings");
    let body = json!({
        "serviceType": "Plumbing",
        "description": "Kitchen sink leaks under the cabinet",
        "scheduledDate": local_date(2),
        "scheduledTime": "10:00",
        "estimatedDuration": 90,
        "serviceLocation": {"coordinates": [36.8172, -1.2864], "address": "Moi Avenue 12", "city": "Nairobi"},
        "urgency": "normal",
    });
    let failures = std::sync::Arc::new(std::sync::Mutex::new(
        std::collections::BTreeMap::<u16, u64>::new(),
    ));
    let seen = failures.clone();
    let stats = drive(32, Duration::from_secs(10), move |c, n| {
        let (url, body, tokens, seen) = (url.clone(), body.clone(), tokens.clone(), seen.clone());
        async move {
            let res = c
                .post(&url)
                .bearer_auth(&tokens[n as usize % tokens.len()])
                .json(&body)
                .send()
                .await;
            // Read the whole answer, as a client does (the connection is then reused).
            let code = match res {
                Ok(r) => {
                    let code = r.status().as_u16();
                    if r.bytes().await.is_err() {
                        0
                    } else {
                        code
                    }
                }
                Err(_) => 0,
            };
            if code != 201 {
                *seen.lock().unwrap().entry(code).or_default() += 1;
            }
            code == 201
        }
    })
    .await;
    stats.print("POST /bookings (32 clients)");
    let stored: i64 = Connection::open(dir.path().join("baitech.db"))
        .and_then(|c| c.query_row("SELECT COUNT(*) FROM bookings", [], |r| r.get(0)))
        .unwrap_or(-1);
    println!(
        "  bookings stored: {stored}; answers other than 201 by status (0 = transport error; 5xx would include SQLITE_BUSY): {:?}",
        failures.lock().unwrap()
    );
    println!(
        "  peak RSS: {:.1} MB",
        server.peak_rss_kib() as f64 / 1024.0
    );
}

/// Seeds one technician with 1M bookings from 1,000 customers (one
/// transaction, prepared statements), then the counts. Returns the technician's email.
fn seed(conn: &mut Connection) -> rusqlite::Result<String> {
    let cost = baitech::auth::password::Cost {
        memory_kib: 19_456,
        iterations: 2,
    };
    let hash = baitech::auth::password::hash_blocking(PASSWORD, cost).unwrap();
    let started = Instant::now();
    let now = baitech::ids::now_ms();
    let tx = conn.transaction()?;
    let tech_id = "0000000a0000000000000001".to_string();
    let email = "bench-technician@example.com".to_string();
    {
        let mut user = tx.prepare(
            "INSERT INTO users (id, email, phone, password_hash, first_name, last_name, role, kyc_status, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'Bench', ?5, ?6, 'approved', ?7, ?7)",
        )?;
        user.execute(params![
            tech_id,
            email,
            "+254700000001",
            hash,
            "Technician",
            "technician",
            now
        ])?;
        for i in 0..CUSTOMERS {
            user.execute(params![
                format!("0000000b{i:016x}"),
                format!("bench-seed-{i}@example.com"),
                format!("+25471{i:07}"),
                hash,
                format!("Customer {i}"),
                "customer",
                now
            ])?;
        }
        let mut booking = tx.prepare(
            "INSERT INTO bookings (id, booking_number, customer_id, technician_id, status, service_category, service_type,
                 description, urgency, scheduled_at, estimated_duration_mins, location_lng, location_lat, location_address,
                 source, total_amount_minor, platform_fee_minor, labour_minor, assigned_at, accepted_at, completed_at,
                 created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'plumbing', 'Plumbing', 'Seeded job', 'medium', ?6, 120, 36.8, -1.28, 'Nairobi',
                     'api', ?7, ?8, ?7, ?9, ?9, ?10, ?9, ?9)",
        )?;
        let mut history = tx.prepare(
            "INSERT INTO booking_status_history (booking_id, from_status, to_status, action, actor_id, at)
             VALUES (?1, NULL, ?2, 'create', ?3, ?4)",
        )?;
        let first = now - SEEDED * 30_000;
        for i in 0..SEEDED {
            let created = first + i * 30_000;
            let id = format!("{:08x}{:016x}", created / 1000, i as u64);
            let customer = format!("0000000b{:016x}", i % CUSTOMERS);
            let status = match i % 100 {
                0..=59 => "completed",
                60..=69 => "cancelled",
                70..=79 => "in_progress",
                80..=89 => "accepted",
                90..=98 => "awaiting_acceptance",
                _ => "disputed",
            };
            let total = if status == "completed" {
                (i % 50 + 1) * 10_000
            } else {
                0
            };
            let completed = (status == "completed").then_some(created + 3 * 86_400_000);
            booking.execute(params![
                id,
                format!("BKG-{created}-{i:07}"),
                customer,
                tech_id,
                status,
                created + 2 * 86_400_000,
                total,
                total / 10,
                created,
                completed
            ])?;
            history.execute(params![id, status, customer, created])?;
        }
    }
    tx.execute("UPDATE booking_number_seq SET last = ?1", [SEEDED])?;
    baitech::bookings::store::rebuild_counts(&tx).unwrap();
    tx.commit()?;
    println!(
        "seeded {SEEDED} bookings (+ {SEEDED} timeline entries) for one technician in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(email)
}

fn print_plans(conn: &Connection) {
    use baitech::bookings::model::Status;
    use baitech::bookings::store::ListFilter;
    let tech = "0000000a0000000000000001".to_string();
    let cases = [
        (
            "technician, newest first",
            ListFilter {
                technician_id: Some(tech.clone()),
                ..Default::default()
            },
        ),
        (
            "technician, status=completed",
            ListFilter {
                technician_id: Some(tech.clone()),
                statuses: vec![Status::Completed],
                ..Default::default()
            },
        ),
        (
            "technician, status=accepted,in_progress",
            ListFilter {
                technician_id: Some(tech.clone()),
                statuses: vec![Status::Accepted, Status::InProgress],
                ..Default::default()
            },
        ),
    ];
    for (name, filter) in cases {
        println!("EXPLAIN QUERY PLAN ({name}):");
        for line in baitech::bookings::store::list_plan(conn, &filter).unwrap() {
            println!("    {line}");
        }
    }
    println!("EXPLAIN QUERY PLAN (total, from booking_counts):");
    let mut stmt = conn
        .prepare("EXPLAIN QUERY PLAN SELECT COALESCE(SUM(n), 0) FROM booking_counts WHERE scope = ?1 AND party_id = ?2")
        .unwrap();
    let rows = stmt
        .query_map(params!["technician", tech], |r| r.get::<_, String>(3))
        .unwrap();
    for r in rows {
        println!("    {}", r.unwrap());
    }
    let filter = ListFilter {
        technician_id: Some(tech.clone()),
        ..Default::default()
    };
    let time = |what: &str, f: &mut dyn FnMut(usize)| {
        let t = Instant::now();
        for i in 0..200 {
            f(i);
        }
        println!(
            "  in-process, {what}: {:.0} µs",
            t.elapsed().as_secs_f64() * 1e6 / 200.0
        );
    };
    let (rows, _) = baitech::bookings::store::list(conn, &filter, 20, 0).unwrap();
    let ids: Vec<&str> = rows.iter().map(|b| b.id.as_str()).collect();
    time("list query + total (20 rows)", &mut |i| {
        baitech::bookings::store::list(conn, &filter, 20, (i as i64 % 5) * 20).unwrap();
    });
    time("timelines of 20 bookings", &mut |_| {
        baitech::bookings::store::histories(conn, &ids).unwrap();
    });
    time("20 customer accounts", &mut |_| {
        for b in &rows {
            baitech::auth::store::find_by_id(conn, &b.customer_id).unwrap();
        }
    });
    time("the technician's card", &mut |_| {
        baitech::users::technician::find_many(conn, std::slice::from_ref(&tech)).unwrap();
    });
    let mut bytes = 0;
    time("20 documents (all of the above + JSON values)", &mut |_| {
        baitech::bookings::document::summaries(conn, "http://127.0.0.1", rows.clone()).unwrap();
    });
    let docs =
        baitech::bookings::document::summaries(conn, "http://127.0.0.1", rows.clone()).unwrap();
    time("serialising the page", &mut |_| {
        bytes = serde_json::to_vec(&docs).unwrap().len();
    });
    println!("  (a page is {bytes} bytes of JSON)");
    let t = Instant::now();
    let n: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM bookings WHERE technician_id = ?1",
            [&tech],
            |r| r.get(0),
        )
        .unwrap();
    println!(
        "for comparison, COUNT(*) over the technician's index range ({n} rows) takes {:.1} ms; the list reads booking_counts instead",
        t.elapsed().as_secs_f64() * 1000.0
    );
}

async fn list_bookings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baitech.db");
    let email = {
        let db = baitech::db::Db::open(&path, 1).unwrap();
        let email = db.with_writer(seed).unwrap().unwrap();
        db.with_writer(|c| c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);"))
            .unwrap()
            .unwrap();
        db.read_blocking(|c| {
            print_plans(c);
            Ok(())
        })
        .unwrap();
        email
    };
    let server = Server::start(dir.path(), &[]).await;
    println!(
        "server ready after {:.1} ms on the seeded data dir",
        server.ready_after.as_secs_f64() * 1000.0
    );
    let client = reqwest::Client::new();
    let login: Value = client
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap_or_default().to_string();
    let first: Value = client
        .get(server.url("/api/v1/bookings"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    println!(
        "GET /bookings as the technician: total {}, count {}, pages {}",
        first["total"], first["count"], first["pages"]
    );
    for (name, query, conns) in [
        ("GET /bookings, technician, pages 1-5 (1 conn)", "", 1),
        ("GET /bookings, technician, pages 1-5 (4 conns)", "", 4),
        ("GET /bookings, technician, pages 1-5 (8 conns)", "", 8),
        ("GET /bookings, technician, pages 1-5 (32 conns)", "", 32),
        (
            "GET /bookings?status=completed (4 conns)",
            "&status=completed",
            4,
        ),
        (
            "GET /bookings?status=disputed (4 conns)",
            "&status=disputed",
            4,
        ),
        (
            "GET /bookings?status=refunded (none of 1M; 4 conns)",
            "&status=refunded",
            4,
        ),
        (
            "GET /bookings?status=accepted,in_progress (4 conns)",
            "&status=accepted,in_progress",
            4,
        ),
    ] {
        let (url, token) = (server.url("/api/v1/bookings"), token.clone());
        let stats = drive(conns, Duration::from_secs(6), move |c, n| {
            let (url, token) = (format!("{url}?page={}{query}", n % 5 + 1), token.clone());
            async move {
                match c.get(&url).bearer_auth(&token).send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                }
            }
        })
        .await;
        stats.print(name);
    }
    println!(
        "  peak RSS: {:.1} MB",
        server.peak_rss_kib() as f64 / 1024.0
    );
}
