//! Admin dashboard scenario `admin-overview`: the dashboard's own reads on
//! a year of marketplace data (seeded with SQL before the server starts):
//! 20 000 accounts, 200 000 bookings over 365 days, 200 000 booking
//! payments (a tenth still in escrow), 100 000 finished and 1 000 dead jobs.
//! Measures `GET /api/v1/admin/overview` (30 and 366 days),
//! `/admin/jobs?status=dead` and `/admin/config`.

use std::time::{Duration, Instant};

use rusqlite::{params, Connection};
use serde_json::{json, Value};

use crate::{drive, wanted, Server};

const PASSWORD: &str = "correct horse battery";
const USERS: i64 = 20_000;
const BOOKINGS: i64 = 200_000;
const DONE_JOBS: i64 = 100_000;
const DEAD_JOBS: i64 = 1_000;
const DAY_MS: i64 = 86_400_000;

pub async fn run() {
    if wanted("admin-overview") {
        overview().await;
    }
}

fn user_id(i: i64) -> String {
    format!("0000000c{i:016x}")
}

fn seed(conn: &mut Connection) -> rusqlite::Result<String> {
    let cost = baitech::auth::password::Cost {
        memory_kib: 19_456,
        iterations: 2,
    };
    let hash = baitech::auth::password::hash_blocking(PASSWORD, cost).unwrap();
    let started = Instant::now();
    let now = baitech::ids::now_ms();
    let tx = conn.transaction()?;
    let admin_email = "bench-admin@example.com".to_string();
    {
        let mut user = tx.prepare(
            "INSERT INTO users (id, email, phone, password_hash, first_name, last_name, role, kyc_status, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'Bench', ?5, ?6, ?7, ?8, ?8)",
        )?;
        for i in 0..USERS {
            let role = match i % 100 {
                0 => "admin",
                1..=2 => "support",
                3..=7 => "corporate",
                8..=37 => "technician",
                _ => "customer",
            };
            let email = if i == 0 {
                admin_email.clone()
            } else {
                format!("bench-admin-seed-{i}@example.com")
            };
            let kyc = if role == "technician" {
                "approved"
            } else {
                "none"
            };
            let created = now - 365 * DAY_MS + i * (365 * DAY_MS / USERS);
            user.execute(params![
                user_id(i),
                email,
                format!("+25472{i:07}"),
                hash,
                format!("{role} {i}"),
                role,
                kyc,
                created
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
        let mut payment = tx.prepare(
            "INSERT INTO transactions (id, transaction_number, type, payment_method, stage, status, payer_id, payee_id,
                 booking_id, currency, gross_minor, platform_fee_minor, net_minor, escrow_held, initiated_at, created_at, updated_at)
             VALUES (?1, ?2, 'booking_payment', 'mpesa', ?3, 'completed', ?4, ?5, ?6, 'KES', ?7, ?8, ?9, ?10, ?11, ?11, ?11)",
        )?;
        let first = now - 365 * DAY_MS;
        let step = 365 * DAY_MS / BOOKINGS;
        for i in 0..BOOKINGS {
            let created = first + i * step;
            let id = format!("{:08x}{:016x}", created / 1000, i as u64);
            let customer = user_id(38 + i % (USERS - 38));
            let technician = user_id(8 + i % 30);
            let status = match i % 100 {
                0..=59 => "completed",
                60..=69 => "cancelled",
                70..=79 => "in_progress",
                80..=89 => "accepted",
                _ => "awaiting_acceptance",
            };
            let total = (i % 50 + 1) * 10_000;
            let completed = (status == "completed").then_some(created + DAY_MS);
            booking.execute(params![
                id,
                format!("BKG-{created}-{i:07}"),
                customer,
                technician,
                status,
                created + 2 * DAY_MS,
                total,
                total / 10,
                created,
                completed
            ])?;
            let held = i % 10 == 0;
            payment.execute(params![
                format!("{:08x}{:016x}", created / 1000, (i as u64) | (1 << 60)),
                format!("TXN-{created}-{i:07}"),
                if held { "held" } else { "released" },
                customer,
                technician,
                id,
                total,
                total / 10,
                total - total / 10,
                held,
                created
            ])?;
        }
        let mut job = tx.prepare(
            "INSERT INTO jobs (kind, payload, status, attempts, run_at, last_error, created_at, finished_at)
             VALUES ('email', '{}', ?1, ?2, ?3, ?4, ?3, ?3)",
        )?;
        for i in 0..DONE_JOBS + DEAD_JOBS {
            let dead = i >= DONE_JOBS;
            job.execute(params![
                if dead { "dead" } else { "done" },
                if dead { 8 } else { 1 },
                now - (DONE_JOBS + DEAD_JOBS - i) * 1000,
                dead.then_some("smtp: connection refused")
            ])?;
        }
    }
    tx.execute("UPDATE booking_number_seq SET last = ?1", [BOOKINGS])?;
    baitech::bookings::store::rebuild_counts(&tx).unwrap();
    tx.commit()?;
    println!(
        "seeded {USERS} accounts, {BOOKINGS} bookings and payments, {} jobs in {:.1} s",
        DONE_JOBS + DEAD_JOBS,
        started.elapsed().as_secs_f64()
    );
    Ok(admin_email)
}

async fn overview() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baitech.db");
    let email = {
        let db = baitech::db::Db::open(&path, 1).unwrap();
        let email = db.with_writer(seed).unwrap().unwrap();
        db.with_writer(|c| c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);"))
            .unwrap()
            .unwrap();
        email
    };
    let server = Server::start(dir.path(), &[]).await;
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
        .get(server.url("/api/v1/admin/overview?days=366"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let gmv: f64 = first["bookingsPerDay"]
        .as_array()
        .map(|d| d.iter().filter_map(|x| x["gmv"].as_f64()).sum())
        .unwrap_or(0.0);
    println!(
        "overview: usersByRole {}, escrowHeld {}, GMV over 366 days {gmv:.0}, dead jobs {}",
        first["usersByRole"], first["escrowHeld"], first["jobs"]["dead"]
    );
    for (name, path, conns) in [
        (
            "GET /admin/overview?days=30 (1 conn)",
            "/api/v1/admin/overview?days=30",
            1,
        ),
        (
            "GET /admin/overview?days=30 (4 conns)",
            "/api/v1/admin/overview?days=30",
            4,
        ),
        (
            "GET /admin/overview?days=366 (4 conns)",
            "/api/v1/admin/overview?days=366",
            4,
        ),
        (
            "GET /admin/jobs?status=dead (4 conns)",
            "/api/v1/admin/jobs?status=dead",
            4,
        ),
        ("GET /admin/config (4 conns)", "/api/v1/admin/config", 4),
    ] {
        let (url, token) = (server.url(path), token.clone());
        let stats = drive(conns, Duration::from_secs(6), move |c, _| {
            let (url, token) = (url.clone(), token.clone());
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
