//! Support desk scenarios against a desk with 100k tickets: an agent's
//! dashboard (`support-dashboard`), and ticket creation with
//! auto-assignment from 32 clients (`support-create`), after which the
//! harness checks that no agent holds more than their cap.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rusqlite::params;
use serde_json::json;

use crate::{drive, wanted, Server};

const TICKETS: usize = 100_000;
const CUSTOMERS: usize = 5_000;
const AGENTS: usize = 100;
/// Each agent's `maxConcurrentTickets` in the bench.
const CAP: i64 = 100;
/// Tickets of the bench agent among [`TICKETS`] (a few still being worked).
const AGENT_TICKETS: usize = 3_000;
const PASSWORD: &str = "correct horse battery";
const PRIORITIES: [&str; 4] = ["low", "medium", "high", "urgent"];

fn id(n: usize, kind: u8) -> String {
    format!("{:08x}{:02x}{:014x}", 0x6600_0000u32, kind, n)
}

fn seed(data_dir: &std::path::Path) {
    let db = baitech::db::Db::open(&data_dir.join("baitech.db"), 2).expect("open");
    let cost = baitech::auth::password::Cost {
        memory_kib: 19_456,
        iterations: 2,
    };
    let hash = baitech::auth::password::hash_blocking(PASSWORD, cost).unwrap();
    db.write_blocking(|tx| {
        let now = baitech::ids::now_ms();
        let mut user = tx.prepare(
            "INSERT INTO users (id, email, phone, password_hash, first_name, last_name, role, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'Seed', ?5, ?6, ?7, ?7)",
        )?;
        for c in 0..CUSTOMERS {
            let h = if c == 0 { hash.as_str() } else { "x" };
            user.execute(params![id(c, 1), format!("cust{c}@bench.local"), format!("+2541{c:08}"), h,
                                 format!("Customer{c}"), "customer", now])?;
        }
        let mut agent = tx.prepare(
            "INSERT INTO support_agents (user_id, availability, max_concurrent, updated_at) VALUES (?1, 'available', ?2, ?3)",
        )?;
        for a in 0..AGENTS {
            let h = if a == 0 { hash.as_str() } else { "x" };
            user.execute(params![id(a, 2), format!("agent{a}@bench.local"), format!("+2542{a:08}"), h,
                                 format!("Agent{a}"), "support", now])?;
            agent.execute(params![id(a, 2), CAP, now])?;
        }
        let mut ticket = tx.prepare(
            "INSERT INTO support_tickets (id, seq, ticket_number, customer_id, assigned_to, subject, description,
                category, priority, priority_rank, status, first_response_target, resolution_target,
                created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'Seeded', 'A seeded ticket.', 'general', ?6, ?7, ?8, 60, 480, ?9, ?9)",
        )?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(17);
        for n in 0..TICKETS {
            let p = rng.gen_range(0..4usize);
            // Most tickets are finished; 1 in 10 waits unassigned; a few are worked.
            let (assignee, status) = if n < AGENT_TICKETS {
                (Some(id(0, 2)), if n % 500 == 0 { "in_progress" } else { "closed" })
            } else if n % 10 == 0 {
                (None, "open")
            } else {
                let a = rng.gen_range(0..AGENTS);
                (Some(id(a, 2)), if n % 97 == 0 { "in_progress" } else { "closed" })
            };
            let at = now - (TICKETS - n) as i64 * 30_000;
            ticket.execute(params![id(n, 3), n as i64 + 1, format!("TKT-{at:013}-{:06}", n + 1),
                                   id(rng.gen_range(0..CUSTOMERS), 1), assignee, PRIORITIES[p], p as i64,
                                   status, at])?;
        }
        Ok(())
    })
    .expect("seed");
}

async fn login(server: &Server, email: &str) -> String {
    let v: serde_json::Value = reqwest::Client::new()
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["token"].as_str().unwrap_or_default().to_string()
}

pub async fn run() {
    let dashboard = wanted("support-dashboard");
    let create = wanted("support-create");
    if !dashboard && !create {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    tokio::task::spawn_blocking({
        let path = dir.path().to_path_buf();
        move || seed(&path)
    })
    .await
    .unwrap();
    println!(
        "support: seeded {TICKETS} tickets ({AGENT_TICKETS} of the bench agent, 10% unassigned), \
         {AGENTS} available agents (cap {CAP}), {CUSTOMERS} customers in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let server = Server::start(dir.path(), &[]).await;
    let agent = login(&server, "agent0@bench.local").await;
    let customer = login(&server, "cust0@bench.local").await;

    if dashboard {
        for conns in [1, 32] {
            let (url, token) = (server.url("/api/v1/support/dashboard"), agent.clone());
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
            stats.print(&format!(
                "GET /support/dashboard <100k tickets> ({conns} conn)"
            ));
        }
    }

    if create {
        let (url, token) = (server.url("/api/v1/support/tickets"), customer.clone());
        let stats = drive(32, Duration::from_secs(5), move |c, n| {
            let (url, token) = (url.clone(), token.clone());
            async move {
                c.post(&url)
                    .bearer_auth(&token)
                    .json(&json!({"subject": format!("Bench ticket {n}"), "description": "Created by the load harness",
                                  "category": "payment", "priority": PRIORITIES[n as usize % 4]}))
                    .send()
                    .await
                    .map(|r| r.status().as_u16() == 201)
                    .unwrap_or(false)
            }
        })
        .await;
        stats.print("POST /support/tickets + auto-assign (32 conns)");
        let db = baitech::db::Db::open(&dir.path().join("baitech.db"), 1).expect("open");
        let (max_load, assigned): (i64, i64) = db
            .read_blocking(|c| {
                Ok(c.query_row(
                    "SELECT COALESCE(MAX(n), 0), COALESCE(SUM(n), 0) FROM (
                        SELECT COUNT(*) AS n FROM support_tickets
                        WHERE assigned_to IS NOT NULL
                          AND status IN ('assigned','in_progress','waiting_customer','waiting_internal','reopened')
                        GROUP BY assigned_to)",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?)
            })
            .unwrap();
        println!(
            "support: after the run {assigned} tickets are being worked; the busiest agent holds {max_load} (cap {CAP}){}",
            if max_load <= CAP { "" } else { "  <-- OVER THE CAP" }
        );
    }
    println!(
        "support: peak RSS {:.1} MB",
        server.peak_rss_kib() as f64 / 1024.0
    );
}
