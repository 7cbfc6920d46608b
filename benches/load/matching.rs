//! Matching: `POST /matching/find-technicians` with 100k technicians in the
//! database and ~2k plumbing candidates within the customer's 25 km, over
//! HTTP. Prints throughput, p50/p99 and how the handler's time splits
//! between candidate search (R-tree + loading records), scoring and storing
//! the session (read from the `Server-Timing` header); once with the
//! technician record cache on (the default) and once with it off.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::{drive, wanted, Server};

/// Nairobi CBD: the query point.
const HOME: (f64, f64) = (36.817223, -1.286389);
const TECHNICIANS: usize = 100_000;
/// Plumbers placed within 20 km of HOME (the rest are spread over Kenya).
const NEAR_PLUMBERS: usize = 2_000;
const CUSTOMERS: usize = 16;

const CATEGORIES: &[&str] = &[
    "plumbing",
    "electrical",
    "carpentry",
    "masonry",
    "painting",
    "hvac",
    "welding",
    "cleaning",
    "appliance_repair",
    "locksmith",
    "landscaping",
    "roofing",
    "flooring",
    "pest_control",
    "general_handyman",
    "other",
];

/// Seeds the technicians straight into SQLite (one transaction) before the server starts.
fn seed(dir: &std::path::Path) -> Duration {
    let started = Instant::now();
    let db = baitech::db::Db::open(&dir.join("baitech.db"), 1).expect("open db");
    let mut rng = StdRng::seed_from_u64(42);
    db.write_blocking(|tx| {
        let now = baitech::ids::now_ms();
        let mut user = tx.prepare(
            "INSERT INTO users (id, email, phone, password_hash, first_name, last_name, role, kyc_status,
                 rating_avg, rating_count, location_lng, location_lat, created_at, updated_at)
             VALUES (?1, ?2, ?3, 'x', 'Bench', 'Fundi', 'technician', ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
        )?;
        let mut profile = tx.prepare(
            "INSERT INTO technician_profiles (user_id, hourly_rate_minor, service_radius_km, years_experience,
                 availability_status, schedule, completed_jobs, cancelled_jobs, completion_rate, avg_response_mins, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        let mut skill = tx.prepare(
            "INSERT INTO user_skills (user_id, name, category, proficiency, years_experience, is_verified)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        let schedule = json!([
            {"dayOfWeek": 1, "startTime": "08:00", "endTime": "17:00", "isAvailable": true},
            {"dayOfWeek": 2, "startTime": "08:00", "endTime": "17:00", "isAvailable": true},
            {"dayOfWeek": 3, "startTime": "08:00", "endTime": "17:00", "isAvailable": true},
            {"dayOfWeek": 4, "startTime": "08:00", "endTime": "17:00", "isAvailable": true},
            {"dayOfWeek": 5, "startTime": "08:00", "endTime": "17:00", "isAvailable": true},
        ])
        .to_string();
        for i in 0..TECHNICIANS {
            let id = format!("{:08x}{:016x}", 0x6500_0000u32, i as u64);
            let (lng, lat, main) = if i < NEAR_PLUMBERS {
                // Uniform in a 20 km disc around HOME.
                let r = 20.0 * rng.gen::<f64>().sqrt() / 111.195;
                let a = rng.gen::<f64>() * std::f64::consts::TAU;
                (HOME.0 + r * a.cos(), HOME.1 + r * a.sin(), "plumbing")
            } else {
                (
                    rng.gen_range(34.0..42.0),
                    rng.gen_range(-4.5..4.5),
                    CATEGORIES[rng.gen_range(0..CATEGORIES.len())],
                )
            };
            let kyc = if rng.gen_bool(0.95) { "approved" } else { "pending" };
            let reviews: i64 = rng.gen_range(0..300);
            let rating = if reviews == 0 { 0.0 } else { (rng.gen_range(30..=50) as f64) / 10.0 };
            user.execute(rusqlite::params![
                id,
                format!("{id}@bench.local"),
                format!("+2547{i:08}"),
                kyc,
                rating,
                reviews,
                lng,
                lat,
                now
            ])?;
            let availability = match rng.gen_range(0..10) {
                0..=6 => "available",
                7..=8 => "busy",
                _ => "offline",
            };
            let jobs: i64 = rng.gen_range(0..400);
            profile.execute(rusqlite::params![
                id,
                rng.gen_range(50_000..400_000i64),
                rng.gen_range(15.0..50.0f64),
                rng.gen_range(0..25i64),
                availability,
                schedule,
                jobs,
                jobs / 10,
                (jobs > 0).then(|| rng.gen_range(60.0..100.0f64)),
                (jobs > 0).then(|| rng.gen_range(5.0..300.0f64)),
                now
            ])?;
            skill.execute(rusqlite::params![
                id,
                format!("{main} work"),
                main,
                rng.gen_range(30..=100i64),
                rng.gen_range(0..20i64),
                rng.gen_bool(0.3)
            ])?;
            if rng.gen_bool(0.5) {
                let extra = CATEGORIES[rng.gen_range(0..CATEGORIES.len())];
                if extra != main {
                    skill.execute(rusqlite::params![
                        id,
                        format!("{extra} work"),
                        extra,
                        rng.gen_range(30..=100i64),
                        rng.gen_range(0..20i64),
                        false
                    ])?;
                }
            }
        }
        Ok(())
    })
    .expect("seed");
    started.elapsed()
}

/// What storing sessions costs the writer alone (no HTTP, no contention):
/// mean ms per session, one per transaction and eight per transaction.
fn store_cost(dir: &std::path::Path) -> (f64, f64) {
    use baitech::matching::model::Weights;
    use baitech::matching::store::{count_request, insert_session, NewMatch, NewSession};
    let db = baitech::db::Db::open(&dir.join("baitech.db"), 1).expect("open db");
    let customer = format!("{:08x}{:016x}", 0x6500_0000u32, 0u64);
    let session = |n: usize| {
        let now = baitech::ids::now_ms();
        let s = NewSession {
            id: format!("bench-{n}"),
            customer_id: customer.clone(),
            category: "plumbing".into(),
            location: HOME,
            address: Some("Moi Avenue".into()),
            urgency: "medium".into(),
            budget_minor: Some(250_000),
            preferred_at: None,
            description: Some("Leaking kitchen sink".into()),
            candidates: 1451,
            top_score: Some(88.0),
            weights: Weights::DEFAULT,
            duration_us: 1000,
            expires_at: now + 1000,
            created_at: now,
        };
        let matches: Vec<NewMatch> = (0..5)
            .map(|r| NewMatch {
                id: baitech::ids::new_id(),
                technician_id: format!("{:08x}{:016x}", 0x6500_0000u32, (r + 1) as u64),
                rank: r as i64 + 1,
                overall: 88.0 - r as f64,
                factors: [90.0, 80.0, 100.0, 96.0, 50.0, 100.0, 70.0, 70.0, 50.0],
                distance_km: 3.2,
                reasons: (0..9)
                    .map(|i| format!("A reason of about forty characters, #{i}"))
                    .collect(),
            })
            .collect();
        (s, matches)
    };
    let runs = 400;
    let started = Instant::now();
    for n in 0..runs {
        let (s, m) = session(n);
        db.write_blocking(|tx| {
            insert_session(tx, &s, &m)?;
            count_request(tx, &s.customer_id, m.len())
        })
        .unwrap();
    }
    let single = started.elapsed().as_secs_f64() * 1000.0 / runs as f64;
    let started = Instant::now();
    for chunk in 0..runs / 8 {
        let batch: Vec<_> = (0..8).map(|k| session(runs + chunk * 8 + k)).collect();
        db.write_blocking(|tx| {
            for (s, m) in &batch {
                insert_session(tx, s, m)?;
                count_request(tx, &s.customer_id, m.len())?;
            }
            Ok(())
        })
        .unwrap();
    }
    let batched = started.elapsed().as_secs_f64() * 1000.0 / runs as f64;
    db.write_blocking(|tx| {
        tx.execute("DELETE FROM matching_sessions", [])?;
        tx.execute("DELETE FROM matching_preferences", [])?;
        Ok(())
    })
    .unwrap();
    (single, batched)
}

/// The engine alone on one thread, no HTTP: mean ms per search for the
/// R-tree query plus records (cache warm), and for scoring every candidate.
fn engine_cost(dir: &std::path::Path) -> (f64, f64, usize) {
    use baitech::matching::model::{score, Candidate, History, MatchRequest, Urgency, Weights};
    let state = baitech::build_state(baitech::config::Config::for_data_dir(dir)).expect("state");
    let req = MatchRequest {
        category: "plumbing".into(),
        location: HOME,
        urgency: Urgency::Medium,
        budget_minor: Some(250_000),
        preferred_at: baitech::ids::parse_datetime("2030-10-16T07:00:00Z"),
        max_distance_km: 25.0,
        min_rating: 3.5,
        max_rate_minor: None,
        min_years_experience: 0,
        utc_offset_mins: 180,
        require_kyc: false,
    };
    let blocked = std::collections::HashSet::new();
    let none = History::default();
    let runs = 200;
    let (mut search, mut scoring, mut scored) = (0.0, 0.0, 0);
    state
        .db
        .read_blocking(|conn| {
            for run in 0..=runs {
                let t = Instant::now();
                let found = baitech::matching::candidates::search(
                    &state.geo,
                    &state.matching.profiles,
                    conn,
                    &req,
                    &blocked,
                )?;
                let searched = t.elapsed();
                let t = Instant::now();
                let n = found
                    .candidates
                    .iter()
                    .filter(|(tech, d)| {
                        score(
                            &req,
                            &Candidate {
                                technician: tech,
                                distance_km: *d,
                            },
                            &Weights::DEFAULT,
                            &none,
                        )
                        .is_ok()
                    })
                    .count();
                if run > 0 {
                    // Run 0 filled the cache.
                    search += searched.as_secs_f64() * 1000.0;
                    scoring += t.elapsed().as_secs_f64() * 1000.0;
                    scored = n;
                }
            }
            Ok(())
        })
        .expect("engine");
    (search / runs as f64, scoring / runs as f64, scored)
}

/// One request's handler phases in ms (geo, load, score, store) and its candidate count.
type Split = ([f64; 4], f64);

/// Per-request handler phases in ms: geo, load, score, store; and the candidate count.
fn phases(header: &str) -> Option<Split> {
    let mut out = [0.0; 4];
    let mut candidates = 0.0;
    for part in header.split(',') {
        let part = part.trim();
        let (name, rest) = part.split_once(';')?;
        let value = |key: &str| {
            rest.split(';')
                .find_map(|kv| kv.trim().strip_prefix(key))
                .map(|v| v.trim_matches('"').parse::<f64>().unwrap_or(0.0))
        };
        match name {
            "geo" => out[0] = value("dur=")?,
            "load" => out[1] = value("dur=")?,
            "score" => out[2] = value("dur=")?,
            "store" => out[3] = value("dur=")?,
            "candidates" => candidates = value("desc=")?,
            _ => {}
        }
    }
    Some((out, candidates))
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

async fn register(server: &Server, n: usize) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut tokens = Vec::new();
    for i in 0..n {
        let body: serde_json::Value = client
            .post(server.url("/api/v1/auth/register"))
            .json(&json!({"firstName": "Bench", "lastName": "Customer", "email": format!("customer{i}@bench.local"),
                          "phoneNumber": format!("07119{i:05}"), "password": "correct horse battery"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(t) = body["token"].as_str() {
            tokens.push(t.to_string());
        } else {
            let login: serde_json::Value = client
                .post(server.url("/api/v1/auth/login"))
                .json(&json!({"email": format!("customer{i}@bench.local"), "password": "correct horse battery"}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            tokens.push(login["token"].as_str().unwrap_or_default().to_string());
        }
    }
    tokens
}

async fn run_once(
    server: &Server,
    tokens: Arc<Vec<String>>,
    connections: usize,
    label: &str,
    duration: Duration,
) {
    let url = server.url("/api/v1/matching/find-technicians");
    let split: Arc<Mutex<Vec<Split>>> = Arc::new(Mutex::new(Vec::new()));
    let sink = split.clone();
    let stats = drive(connections, duration, move |c, n| {
        let (url, tokens, sink) = (url.clone(), tokens.clone(), sink.clone());
        async move {
            let token = &tokens[n as usize % tokens.len()];
            let res = c
                .post(&url)
                .bearer_auth(token)
                .json(&json!({"serviceCategory": "plumbing",
                              "location": {"type": "Point", "coordinates": [HOME.0, HOME.1], "address": "Moi Avenue"},
                              "urgency": "medium", "budget": 2500, "preferredDate": "2030-10-16T07:00:00Z",
                              "description": "Leaking kitchen sink"}))
                .send()
                .await;
            let Ok(res) = res else { return false };
            if !res.status().is_success() {
                return false;
            }
            if let Some(p) = res
                .headers()
                .get("server-timing")
                .and_then(|h| h.to_str().ok())
                .and_then(phases)
            {
                sink.lock().unwrap().push(p);
            }
            res.bytes().await.is_ok()
        }
    })
    .await;
    stats.print(&format!(
        "POST /matching/find-technicians ({label}, {connections} conns)"
    ));
    let rows = split.lock().unwrap().clone();
    if rows.is_empty() {
        println!("  (no Server-Timing figures)");
        return;
    }
    let n = rows.len() as f64;
    let names = [
        "R-tree query",
        "loading records",
        "scoring",
        "storing the session",
    ];
    let mut totals = [0.0; 4];
    for (p, _) in &rows {
        for i in 0..4 {
            totals[i] += p[i];
        }
    }
    let handler: f64 = totals.iter().sum::<f64>() / n;
    let cands = rows.iter().map(|r| r.1).sum::<f64>() / n;
    println!("  candidates scored per request: {cands:.0}; handler phases (mean / p99 ms, share):");
    let search_mean = (totals[0] + totals[1]) / n;
    let mut search: Vec<f64> = rows.iter().map(|(p, _)| p[0] + p[1]).collect();
    search.sort_by(f64::total_cmp);
    println!(
        "    {:<22} {:>7.3} / {:>7.3}   {:>4.0}%",
        "candidate search",
        search_mean,
        quantile(&search, 0.99),
        search_mean / handler * 100.0
    );
    for i in 0..4 {
        let mut v: Vec<f64> = rows.iter().map(|(p, _)| p[i]).collect();
        v.sort_by(f64::total_cmp);
        let mean = totals[i] / n;
        let indent = if i < 2 { "  - " } else { "" };
        println!(
            "    {:<22} {:>7.3} / {:>7.3}   {:>4.0}%",
            format!("{indent}{}", names[i]),
            mean,
            quantile(&v, 0.99),
            mean / handler * 100.0
        );
    }
    println!(
        "    {:<22} {:>7.3} ms mean (the rest of p50 is auth, JSON and HTTP)",
        "sum of phases", handler
    );
}

pub async fn run() {
    if !wanted("matching") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let seeded = seed(dir.path());
    println!(
        "matching: seeded {TECHNICIANS} technicians ({NEAR_PLUMBERS} plumbers within 20 km) in {:.1} s",
        seeded.as_secs_f64()
    );
    let (search, scoring, scored) = engine_cost(dir.path());
    println!(
        "  the engine alone, one thread, no HTTP: candidate search {search:.3} ms (records cached), scoring {scored} candidates {scoring:.3} ms"
    );
    let (single, batched) = store_cost(dir.path());
    println!(
        "  storing a session (5 matches) alone, no HTTP: {single:.3} ms in its own transaction, {batched:.3} ms in batches of 8"
    );
    {
        let server = Server::start(dir.path(), &[]).await;
        println!(
            "  server ready in {:.0} ms (R-tree bulk load included); RSS {:.1} MB",
            server.ready_after.as_secs_f64() * 1000.0,
            server.rss_kib() as f64 / 1024.0
        );
        let tokens = Arc::new(register(&server, CUSTOMERS).await);
        // Warm-up, then the measured run.
        run_once(
            &server,
            tokens.clone(),
            8,
            "warm-up",
            Duration::from_secs(2),
        )
        .await;
        run_once(
            &server,
            tokens.clone(),
            4,
            "record cache on",
            Duration::from_secs(8),
        )
        .await;
        run_once(
            &server,
            tokens,
            8,
            "record cache on",
            Duration::from_secs(8),
        )
        .await;
        println!(
            "  peak RSS: {:.1} MB",
            server.peak_rss_kib() as f64 / 1024.0
        );
    }
    {
        let server =
            Server::start(dir.path(), &[("BAITECH_MATCHING_PROFILE_CACHE_SECS", "0")]).await;
        let tokens = Arc::new(register(&server, CUSTOMERS).await);
        run_once(
            &server,
            tokens,
            8,
            "record cache off",
            Duration::from_secs(6),
        )
        .await;
    }
}
