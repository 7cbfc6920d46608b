//! Payments scenarios: wallet payments into escrow with 32 concurrent
//! clients, escrow release with the platform fee, and the ledger invariant
//! check over one million postings.
//!
//! `cargo bench --bench load -- payments` runs all three.

use std::time::{Duration, Instant};

use baitech::auth::store::{insert, NewAccount};
use baitech::auth::Role;
use baitech::db::Db;
use baitech::payments::ledger;
use baitech::payments::model::{Gateway, Op};
use serde_json::{json, Value};

use crate::{drive, wanted, Server};

const PASSWORD: &str = "correct horse battery";
const BOOKINGS: usize = 20_000;

pub async fn run() {
    let wallet = wanted("payments-wallet");
    let release = wanted("payments-release");
    if wallet || release {
        escrow_scenarios(wallet, release).await;
    }
    if wanted("payments-ledger-check") {
        ledger_check_1m();
    }
}

struct Seeded {
    customer: String,
    bookings: Vec<String>,
}

/// A customer with a funded wallet, a technician, an admin and many
/// bookings, written through the library before the server starts.
fn seed(data_dir: &std::path::Path) -> Seeded {
    let db = Db::open(&data_dir.join("baitech.db"), 1).expect("open");
    let cost = baitech::auth::password::Cost {
        memory_kib: 19_456,
        iterations: 2,
    };
    let hash = baitech::auth::password::hash_blocking(PASSWORD, cost).unwrap();
    db.write_blocking(|tx| {
        let account = |email: &str, phone: &str, role: Role| {
            insert(
                tx,
                &NewAccount {
                    email: email.into(),
                    phone: phone.into(),
                    password_hash: hash.clone(),
                    first_name: "Bench".into(),
                    last_name: role.as_str().into(),
                    role,
                    location: None,
                },
            )
        };
        let customer = account("payer@example.com", "+254711000001", Role::Customer)?;
        let technician = account("fundi@example.com", "+254711000002", Role::Technician)?;
        account("boss@example.com", "+254711000003", Role::Admin)?;
        let now = baitech::ids::now_ms();
        let mut bookings = Vec::with_capacity(BOOKINGS);
        let mut stmt = tx.prepare(
            "INSERT INTO bookings (id, booking_number, customer_id, technician_id, status, currency, total_amount_minor, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'in_progress', 'KES', 0, ?5, ?5)",
        )?;
        for i in 0..BOOKINGS {
            let id = baitech::ids::new_id();
            stmt.execute(rusqlite::params![id, format!("BKG-BENCH-{i}"), customer.id, technician.id, now])?;
            bookings.push(id);
        }
        ledger::apply(
            tx,
            &Op::TopUp {
                gateway: Gateway::Stripe,
                user_id: customer.id.clone(),
                amount: 900_000_000,
            },
            "KES",
            None,
        )?;
        Ok(Seeded {
            customer: customer.id,
            bookings,
        })
    })
    .expect("seed")
}

async fn login(server: &Server, email: &str) -> String {
    let body: Value = reqwest::Client::new()
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["token"].as_str().unwrap_or_default().to_string()
}

async fn escrow_scenarios(wallet: bool, release: bool) {
    let dir = tempfile::tempdir().unwrap();
    let seeded = seed(dir.path());
    let server = Server::start(
        dir.path(),
        &[("BAITECH_ESCROW_RELEASE_DELAY_SECS", "86400")],
    )
    .await;
    let customer = login(&server, "payer@example.com").await;
    let admin = login(&server, "boss@example.com").await;
    let bookings = std::sync::Arc::new(seeded.bookings);

    let url = server.url("/api/v1/transactions");
    let (b, token) = (bookings.clone(), customer.clone());
    let duration = if wallet {
        Duration::from_secs(10)
    } else {
        Duration::from_secs(4)
    };
    let paid = drive(32, duration, move |c, n| {
        let (url, token, booking) = (url.clone(), token.clone(), b[n as usize % b.len()].clone());
        async move {
            c.post(&url)
                .bearer_auth(token)
                .json(&json!({"booking": booking, "amount": 100, "gateway": "wallet"}))
                .send()
                .await
                .map(|r| r.status().as_u16() == 201)
                .unwrap_or(false)
        }
    })
    .await;
    if wallet {
        paid.print("POST /transactions wallet → escrow (32 conns)");
    }

    let held: Vec<String> = {
        let conn = rusqlite::Connection::open(dir.path().join("baitech.db")).unwrap();
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        let mut stmt = conn
            .prepare("SELECT id FROM transactions WHERE stage = 'held' ORDER BY rowid")
            .unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    };
    if release {
        let held = std::sync::Arc::new(held);
        let count = held.len();
        let base = server.url("/api/v1/transactions");
        let released = drive(32, Duration::from_secs(5), move |c, n| {
            let (base, token, held) = (base.clone(), admin.clone(), held.clone());
            async move {
                let Some(id) = held.get(n as usize) else {
                    return false;
                };
                c.post(format!("{base}/{id}/release-escrow"))
                    .bearer_auth(token)
                    .json(&json!({}))
                    .send()
                    .await
                    .map(|r| r.status().as_u16() == 200)
                    .unwrap_or(false)
            }
        })
        .await;
        released.print(&format!(
            "POST /transactions/:id/release-escrow + fee (32 conns, {count} held)"
        ));
    }
    let conn = rusqlite::Connection::open(dir.path().join("baitech.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    let report = ledger::check(&conn).unwrap();
    println!(
        "ledger after the run: {} postings, invariants {}",
        report.postings,
        if report.is_ok() { "hold" } else { "VIOLATED" }
    );
    let balance: i64 = conn
        .query_row(
            "SELECT balance_minor FROM ledger_accounts WHERE key = ?1",
            [format!("wallet:{}:KES", seeded.customer)],
            |r| r.get(0),
        )
        .unwrap_or(0);
    println!("customer wallet after the run: KES {}", balance / 100);
    println!("peak RSS: {:.1} MB", server.peak_rss_kib() as f64 / 1024.0);
}

/// One million postings (500k balanced entries over 10k wallets), then the
/// same check `baitech ledger-check` runs.
fn ledger_check_1m() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("baitech.db"), 1).expect("open");
    let started = Instant::now();
    db.write_blocking(|tx| {
        tx.execute_batch(
            "INSERT INTO ledger_accounts (id, key, kind, owner_id, currency, balance_minor, created_at, updated_at)
               VALUES (1, 'clearing:mpesa:KES', 'clearing', 'mpesa', 'KES', 0, 0, 0);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
             INSERT INTO ledger_accounts (id, key, kind, owner_id, currency, balance_minor, created_at, updated_at)
               SELECT i + 1, 'wallet:u' || i || ':KES', 'wallet', 'u' || i, 'KES', 0, 0, 0 FROM n;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500000)
             INSERT INTO ledger_entries (id, kind, transaction_id, currency, created_at)
               SELECT i, 'topup', NULL, 'KES', 0 FROM n;
             INSERT INTO ledger_postings (entry_id, account_id, amount_minor, created_at)
               SELECT id, 2 + (id % 10000), 100 + (id % 977), 0 FROM ledger_entries;
             INSERT INTO ledger_postings (entry_id, account_id, amount_minor, created_at)
               SELECT id, 1, -(100 + (id % 977)), 0 FROM ledger_entries;
             UPDATE ledger_accounts SET balance_minor =
               (SELECT COALESCE(SUM(amount_minor), 0) FROM ledger_postings WHERE account_id = ledger_accounts.id);",
        )?;
        Ok(())
    })
    .expect("seed postings");
    println!(
        "seeded 1M postings in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let conn = rusqlite::Connection::open(dir.path().join("baitech.db")).unwrap();
    for run in 1..=3 {
        let t = Instant::now();
        let report = ledger::check(&conn).unwrap();
        println!(
            "ledger invariant check #{run}: {} postings, {} entries, {} accounts in {:.0} ms ({})",
            report.postings,
            report.entries,
            report.accounts,
            t.elapsed().as_secs_f64() * 1000.0,
            if report.is_ok() { "ok" } else { "VIOLATED" }
        );
    }
}
