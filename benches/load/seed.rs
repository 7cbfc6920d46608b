//! Demo seed scenario (`seed`): `baitech seed-demo` of 100k technicians,
//! 20k customers and 50k bookings (every status, payments, reviews) into
//! an empty data dir, then the server's start on that marketplace and a
//! nearby-technicians query against it.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::{drive, wanted, Server};

const TECHNICIANS: u32 = 100_000;
const CUSTOMERS: u32 = 20_000;
const BOOKINGS: u32 = 50_000;

pub async fn run() {
    if !wanted("seed") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_baitech"))
        .env("BAITECH_DATA_DIR", dir.path())
        .env("BAITECH_LOG_LEVEL", "warn")
        .args(["seed-demo", "--seed", "2026"])
        .args(["--technicians", &TECHNICIANS.to_string()])
        .args(["--customers", &CUSTOMERS.to_string()])
        .args(["--bookings", &BOOKINGS.to_string()])
        .output()
        .expect("seed-demo");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let size = std::fs::metadata(dir.path().join("baitech.db"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "seed-demo: {TECHNICIANS} technicians, {CUSTOMERS} customers, {BOOKINGS} bookings in {:.1} s ({:.0} technicians/s overall); database {:.0} MB",
        took.as_secs_f64(),
        TECHNICIANS as f64 / took.as_secs_f64(),
        size as f64 / 1e6
    );
    let server = Server::start(dir.path(), &[]).await;
    println!(
        "seed-demo: first start on the seeded marketplace ready after {} ms (search index rebuilt), RSS {} MB",
        server.ready_after.as_millis(),
        server.rss_kib() / 1024
    );
    let client = reqwest::Client::new();
    let login: serde_json::Value = client
        .post(server.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "customer1@gmail.com", "password": "Customer@123"}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login body");
    let token = login["token"].as_str().unwrap_or_default().to_string();
    let url =
        server.url("/api/v1/users/nearby-technicians?lat=-1.2676&lng=36.8065&radius=5&limit=20");
    let stats = drive(4, Duration::from_secs(5), move |c, _| {
        let (url, token) = (url.clone(), token.clone());
        async move {
            match c.get(&url).bearer_auth(&token).send().await {
                Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                _ => false,
            }
        }
    })
    .await;
    stats.print("seed-demo nearby, 5 km of Westlands");
}
