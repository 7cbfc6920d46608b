//! Platform-core scenarios: start-up time, idle RSS, login vs raw argon2id,
//! /health under a login flood, GET /auth/me vs a bare route.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::{drive, wanted, Server};

pub async fn run() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    if wanted("startup") {
        println!(
            "start to ready on an empty data dir: {:.1} ms",
            server.ready_after.as_secs_f64() * 1000.0
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        println!("idle RSS: {:.1} MB", server.rss_kib() as f64 / 1024.0);
    }
    let client = reqwest::Client::new();
    let password = "correct horse battery";
    let body = client
        .post(server.url("/api/v1/auth/register"))
        .json(
            &json!({"firstName": "Bench", "lastName": "User", "email": "bench@example.com",
                      "phoneNumber": "0711000000", "password": password}),
        )
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let token = body["token"].as_str().unwrap_or_default().to_string();

    if wanted("login") {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let hashes = raw_argon2_per_sec(cores, Duration::from_secs(3));
        println!("raw argon2id (19 MiB, t=2) on {cores} threads: {hashes:.1} hashes/s");
        let url = server.url("/api/v1/auth/login");
        let login = drive(8, Duration::from_secs(5), move |c, _| {
            let url = url.clone();
            async move {
                c.post(&url)
                    .json(&json!({"email": "bench@example.com", "password": password}))
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false)
            }
        })
        .await;
        login.print("POST /auth/login (8 conns)");
        println!(
            "login throughput / raw argon2id: {:.0}%",
            login.rps() / hashes * 100.0
        );
    }

    if wanted("health") {
        let flood_url = server.url("/api/v1/auth/login");
        let flood = tokio::spawn(drive(8, Duration::from_secs(5), move |c, _| {
            let url = flood_url.clone();
            async move {
                c.post(&url)
                    .json(&json!({"email": "bench@example.com", "password": password}))
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false)
            }
        }));
        tokio::time::sleep(Duration::from_millis(300)).await;
        let url = server.url("/health");
        let health = drive(2, Duration::from_secs(4), move |c, _| {
            let url = url.clone();
            async move {
                c.get(&url)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false)
            }
        })
        .await;
        health.print("GET /health during a login flood");
        flood.await.unwrap().print("  (the login flood)");
    }

    if wanted("me") {
        let url = server.url("/");
        let bare = drive(32, Duration::from_secs(4), move |c, _| {
            let url = url.clone();
            async move {
                c.get(&url)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false)
            }
        })
        .await;
        bare.print("GET / (bare route, 32 conns)");
        let url = server.url("/api/v1/auth/me");
        let me = drive(32, Duration::from_secs(4), move |c, _| {
            let (url, token) = (url.clone(), token.clone());
            async move {
                c.get(&url)
                    .bearer_auth(token)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false)
            }
        })
        .await;
        me.print("GET /auth/me (32 conns)");
        println!("me / bare: {:.0}%", me.rps() / bare.rps() * 100.0);
    }
    println!(
        "peak RSS after core scenarios: {:.1} MB",
        server.peak_rss_kib() as f64 / 1024.0
    );
}

/// Raw argon2id hashes per second with the server's parameters, one hash per thread.
fn raw_argon2_per_sec(threads: usize, duration: Duration) -> f64 {
    let cost = baitech::auth::password::Cost {
        memory_kib: 19_456,
        iterations: 2,
    };
    let stored = baitech::auth::password::hash_blocking("correct horse battery", cost).unwrap();
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let stored = stored.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while started.elapsed() < duration {
                    baitech::auth::password::verify_blocking("correct horse battery", &stored);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    total as f64 / started.elapsed().as_secs_f64()
}
