//! The load harness: seeds data, starts the real `baitech` binary on
//! loopback, drives it with N concurrent connections, and prints throughput,
//! p50/p99 latency and the server's RSS. Figures are printed, never asserted.
//!
//! `cargo bench --bench load` runs every scenario;
//! `cargo bench --bench load -- login me` runs the named ones.

mod admin;
mod backup;
mod bookings;
mod chat;
mod core;
mod hardening;
mod matching;
mod media;
mod notifications;
mod payments;
mod posts;
mod reviews;
mod search;
mod seed;
mod support;
mod users;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A `baitech serve` child process on a loopback port.
pub struct Server {
    child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    pub ready_after: Duration,
}

impl Server {
    /// Starts the release binary on `data_dir` with per-IP limits off plus `env`.
    pub async fn start(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let started = Instant::now();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_baitech"));
        cmd.arg("serve")
            .env("BAITECH_DATA_DIR", data_dir)
            .env("BAITECH_LISTEN", format!("127.0.0.1:{port}"))
            .env("BAITECH_RATE_LIMITS", "off")
            .env("BAITECH_LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start baitech");
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let mut ready_after = Duration::ZERO;
        for _ in 0..2000 {
            if let Ok(r) = client.get(format!("{base}/health")).send().await {
                if r.status().is_success() {
                    ready_after = started.elapsed();
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Server {
            child,
            base,
            data_dir: data_dir.to_path_buf(),
            ready_after,
        }
    }

    /// Resident set size now, in KiB.
    pub fn rss_kib(&self) -> u64 {
        proc_status_kib(self.child.id(), "VmRSS:")
    }

    /// Peak resident set size so far, in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        proc_status_kib(self.child.id(), "VmHWM:")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn proc_status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Latency and throughput of one run.
pub struct Stats {
    pub ok: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
}

impl Stats {
    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// One line: name, requests, errors, req/s, p50, p99.
    pub fn print(&self, name: &str) {
        println!(
            "{name:<44} {:>8} ok {:>5} err {:>10.0} req/s   p50 {:>8.3} ms   p99 {:>8.3} ms",
            self.ok,
            self.errors,
            self.rps(),
            self.p50.as_secs_f64() * 1000.0,
            self.p99.as_secs_f64() * 1000.0
        );
    }
}

/// Runs `request(client, n)` from `concurrency` tasks for `duration`
/// (bounded: stops after `duration` whatever happens). `request` returns
/// whether the answer was the expected one.
pub async fn drive<F, Fut>(concurrency: usize, duration: Duration, request: F) -> Stats
where
    F: Fn(reqwest::Client, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let request = Arc::new(request);
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (request, counter, errors) = (request.clone(), counter.clone(), errors.clone());
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .unwrap();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                if request(client.clone(), n).await {
                    latencies.push(t.elapsed());
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    all.sort();
    let pick = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Stats {
        ok: all.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        elapsed,
        p50: pick(0.50),
        p99: pick(0.99),
    }
}

/// Whether the scenario `name` was asked for (all when none were named).
pub fn wanted(name: &str) -> bool {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    args.is_empty() || args.iter().any(|a| name.contains(a.as_str()))
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        println!(
            "BaiTech load harness — {} cores",
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        );
        core::run().await;
        reviews::run().await;
        payments::run().await;
        users::run().await;
        bookings::run().await;
        media::run().await;
        matching::run().await;
        search::run().await;
        backup::run().await;
        hardening::run().await;
        seed::run().await;
        support::run().await;
        posts::run().await;
        admin::run().await;
        notifications::run().await;
        chat::run().await;
    });
}
