//! Users scenarios: nearby technicians on 100k technicians (10 km, skill
//! filter) over HTTP against the same query answered by a full-scan SQL
//! haversine on the same data in the same run, and the R-tree bulk load.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use crate::{drive, wanted, Server};

const TECHNICIANS: usize = 100_000;
const RADIUS_KM: f64 = 10.0;
const SKILL: &str = "plumbing";

/// Where technicians live: (lng, lat, share, spread in km).
const CITIES: &[(f64, f64, f64, f64)] = &[
    (36.8219, -1.2921, 0.45, 12.0), // Nairobi
    (39.6682, -4.0435, 0.10, 8.0),  // Mombasa
    (34.7680, -0.0917, 0.05, 6.0),  // Kisumu
    (36.0800, -0.3031, 0.05, 6.0),  // Nakuru
    (35.2698, 0.5143, 0.05, 6.0),   // Eldoret
];

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
];

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// User + system CPU time a process has used so far.
fn process_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis(ticks * 1000 / hz)
}

fn gaussian(rng: &mut impl Rng) -> f64 {
    let (u1, u2): (f64, f64) = (rng.gen_range(1e-12..1.0), rng.gen_range(0.0..1.0));
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// A point: most technicians around the cities, the rest anywhere in Kenya.
fn place(rng: &mut impl Rng) -> (f64, f64) {
    let mut pick: f64 = rng.gen_range(0.0..1.0);
    for (lng, lat, share, spread) in CITIES {
        if pick < *share {
            let km_per_deg = 111.32;
            return (
                lng + gaussian(rng) * spread / (km_per_deg * lat.to_radians().cos()),
                lat + gaussian(rng) * spread / km_per_deg,
            );
        }
        pick -= share;
    }
    (rng.gen_range(34.0..41.9), rng.gen_range(-4.7..4.6))
}

/// Writes `TECHNICIANS` active technicians with locations, one or two
/// skills and an availability into a migrated database at `dir`.
fn seed(dir: &Path) -> Duration {
    let started = Instant::now();
    let db = baitech::db::Db::open(&dir.join("baitech.db"), 1).expect("open");
    db.write_blocking(|tx| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2025);
        let now = baitech::ids::now_ms();
        let mut user = tx.prepare(
            "INSERT INTO users (id, email, phone, password_hash, first_name, last_name, role, status, location_lng,
                 location_lat, location_city, rating_avg, rating_count, kyc_status, created_at, updated_at)
             VALUES (?1, ?2, ?3, '!', ?4, 'Fundi', 'technician', 'active', ?5, ?6, 'Kenya', ?7, ?8, 'approved', ?9, ?9)",
        )?;
        let mut profile = tx.prepare(
            "INSERT INTO technician_profiles (user_id, hourly_rate_minor, availability_status, years_experience, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut skill = tx.prepare(
            "INSERT OR IGNORE INTO user_skills (user_id, name, category, proficiency, years_experience) VALUES (?1, ?2, ?2, ?3, ?4)",
        )?;
        for i in 0..TECHNICIANS {
            let id = baitech::ids::new_id();
            let (lng, lat) = place(&mut rng);
            user.execute(rusqlite::params![
                id,
                format!("tech{i}@bench.test"),
                format!("+2547{i:08}"),
                format!("Tech{i}"),
                lng,
                lat,
                rng.gen_range(2.5..5.0f64),
                rng.gen_range(0..200i64),
                now - i as i64
            ])?;
            let status = if rng.gen_bool(0.7) { "available" } else { "busy" };
            profile.execute(rusqlite::params![id, rng.gen_range(500..5000i64) * 100, status, rng.gen_range(0..30i64), now])?;
            for _ in 0..rng.gen_range(1..=2) {
                let cat = CATEGORIES[rng.gen_range(0..CATEGORIES.len())];
                skill.execute(rusqlite::params![id, cat, rng.gen_range(30..100i64), rng.gen_range(0..20i64)])?;
            }
        }
        Ok(())
    })
    .expect("seed");
    started.elapsed()
}

/// Query centres: mostly around Nairobi, some in the other cities.
fn centres(n: usize) -> Vec<(f64, f64)> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    (0..n)
        .map(|i| {
            let (lng, lat, _, _) = CITIES[if i % 4 == 0 { i / 4 % CITIES.len() } else { 0 }];
            (
                lng + rng.gen_range(-0.05..0.05),
                lat + rng.gen_range(-0.05..0.05),
            )
        })
        .collect()
}

const FULL_SCAN_SQL: &str = "SELECT u.id, geo_distance_km(u.location_lng, u.location_lat, ?1, ?2) AS d, COUNT(*) OVER ()
     FROM users u JOIN technician_profiles p ON p.user_id = u.id
     WHERE u.role = 'technician' AND u.status = 'active' AND u.deleted_at IS NULL AND p.availability_status = 'available'
       AND EXISTS (SELECT 1 FROM user_skills s WHERE s.user_id = u.id AND (lower(s.name) = ?4 OR s.category = ?4))
       AND geo_distance_km(u.location_lng, u.location_lat, ?1, ?2) <= ?3
     ORDER BY d, u.id LIMIT 20";

/// The same query as a full-scan SQL haversine on read-only connections:
/// `threads` threads for `duration`. Returns (queries per second, mean hits).
fn full_scan(db_path: &Path, threads: usize, duration: Duration) -> (f64, f64, Duration) {
    let points = Arc::new(centres(256));
    let done = Arc::new(AtomicU64::new(0));
    let hits = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (points, done, hits) = (points.clone(), done.clone(), hits.clone());
            let path = db_path.to_path_buf();
            std::thread::spawn(move || {
                let conn = rusqlite::Connection::open_with_flags(
                    &path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                )
                .unwrap();
                baitech::users::store::ensure_distance_function(&conn).unwrap();
                let mut stmt = conn.prepare(FULL_SCAN_SQL).unwrap();
                let mut n = t;
                let mut slowest = Duration::ZERO;
                while started.elapsed() < duration {
                    let (lng, lat) = points[n % points.len()];
                    let q = Instant::now();
                    let rows: Vec<(String, f64, i64)> = stmt
                        .query_map(rusqlite::params![lng, lat, RADIUS_KM, SKILL], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                        })
                        .unwrap()
                        .collect::<Result<_, _>>()
                        .unwrap();
                    slowest = slowest.max(q.elapsed());
                    hits.fetch_add(rows.first().map_or(0, |r| r.2) as u64, Ordering::Relaxed);
                    done.fetch_add(1, Ordering::Relaxed);
                    n += threads;
                }
                slowest
            })
        })
        .collect();
    let slowest = workers
        .into_iter()
        .map(|w| w.join().unwrap())
        .max()
        .unwrap_or_default();
    let elapsed = started.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed) as f64;
    (
        n / elapsed,
        hits.load(Ordering::Relaxed) as f64 / n.max(1.0),
        slowest,
    )
}

pub async fn run() {
    if !wanted("nearby") && !wanted("users") && !wanted("rtree") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let seeded = tokio::task::spawn_blocking({
        let path = dir.path().to_path_buf();
        move || seed(&path)
    })
    .await
    .unwrap();
    println!(
        "seeded {TECHNICIANS} technicians in {:.1} s",
        seeded.as_secs_f64()
    );

    // The bulk load build_state does at start, timed alone (best of 3),
    // then the two halves of a nearby request in-process: the index query
    // and the page of cards read from SQLite.
    let db_path = dir.path().join("baitech.db");
    let (load_wall, load_cpu, index_us, cards_us, mapped_us, mean_found) = {
        let path = db_path.clone();
        tokio::task::spawn_blocking(move || {
            let conn = rusqlite::Connection::open_with_flags(
                &path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .unwrap();
            let mut best = (Duration::MAX, Duration::MAX);
            let mut index = None;
            for _ in 0..3 {
                let (t, c) = (Instant::now(), thread_cpu());
                let idx = baitech::users::geo::GeoIndex::load(&conn).unwrap();
                best = (best.0.min(t.elapsed()), best.1.min(thread_cpu() - c));
                assert_eq!(idx.len(), TECHNICIANS);
                index = Some(idx);
            }
            let index = index.unwrap();
            let points = centres(256);
            let query = |i: usize| {
                let (lng, lat) = points[i % points.len()];
                index.within_tagged(lng, lat, RADIUS_KM, &[SKILL.to_string()], |p| {
                    p.is_available
                })
            };
            let rounds = 2000;
            let c = thread_cpu();
            let mut found = 0;
            for i in 0..rounds {
                found += query(i).len();
            }
            let index_us = (thread_cpu() - c).as_secs_f64() * 1e6 / rounds as f64;
            let c = thread_cpu();
            for i in 0..rounds {
                let ids: Vec<String> = query(i)
                    .iter()
                    .take(20)
                    .map(|(p, _)| p.id.to_string())
                    .collect();
                let cards = baitech::users::store::technician_cards(&conn, &ids).unwrap();
                assert_eq!(cards.len(), ids.len());
            }
            let both_us = (thread_cpu() - c).as_secs_f64() * 1e6 / rounds as f64;
            // The same page of cards on a connection that maps the file
            // (no read syscall per page missing from SQLite's own cache).
            conn.pragma_update(None, "mmap_size", 1i64 << 30).unwrap();
            let c = thread_cpu();
            for i in 0..rounds {
                let ids: Vec<String> = query(i)
                    .iter()
                    .take(20)
                    .map(|(p, _)| p.id.to_string())
                    .collect();
                baitech::users::store::technician_cards(&conn, &ids).unwrap();
            }
            let mapped_us = (thread_cpu() - c).as_secs_f64() * 1e6 / rounds as f64 - index_us;
            (
                best.0,
                best.1,
                index_us,
                both_us - index_us,
                mapped_us,
                found as f64 / rounds as f64,
            )
        })
        .await
        .unwrap()
    };
    println!(
        "R-tree bulk load of {TECHNICIANS} technicians: {:.1} ms wall, {:.1} ms CPU",
        load_wall.as_secs_f64() * 1000.0,
        load_cpu.as_secs_f64() * 1000.0
    );
    println!(
        "  in-process, per nearby query: index {index_us:.0} us CPU ({mean_found:.0} matches), page of 20 cards from SQLite {cards_us:.0} us CPU ({mapped_us:.0} us with mmap)"
    );

    let server = Server::start(dir.path(), &[]).await;
    println!(
        "server start to ready with {TECHNICIANS} technicians: {:.1} ms",
        server.ready_after.as_secs_f64() * 1000.0
    );
    let points = Arc::new(centres(256));
    let probe = reqwest::Client::new();
    let (lng, lat) = points[1];
    let sample: serde_json::Value = probe
        .get(server.url(&format!(
            "/api/v1/users/nearby-technicians?lat={lat}&lng={lng}&radius={RADIUS_KM}&skills={SKILL}"
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    println!(
        "  sample query near Nairobi: {} matches, first at {} km",
        sample["total"], sample["technicians"][0]["distance"]
    );

    let base = server.url("/api/v1/users/nearby-technicians");
    let nearby = |conns: usize, secs: u64| {
        let (base, points) = (base.clone(), points.clone());
        drive(conns, Duration::from_secs(secs), move |c, n| {
            let (lng, lat) = points[n as usize % points.len()];
            let url = format!("{base}?lat={lat}&lng={lng}&radius={RADIUS_KM}&skills={SKILL}");
            async move {
                match c.get(&url).send().await {
                    Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                    _ => false,
                }
            }
        })
    };
    let pid = server.child.id();
    let cpu_before = process_cpu(pid);
    let http = nearby(8, 6).await;
    let server_cpu = process_cpu(pid) - cpu_before;
    http.print("GET /users/nearby-technicians (100k, 10 km, skill; 8 conns)");
    println!(
        "  server CPU per request: {:.0} us (2 cores would answer {:.0} req/s with the server alone)",
        server_cpu.as_secs_f64() * 1e6 / http.ok.max(1) as f64,
        2.0 * http.ok as f64 / server_cpu.as_secs_f64().max(1e-9)
    );
    nearby(2, 4)
        .await
        .print("GET /users/nearby-technicians (2 conns, latency)");

    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let (qps, mean_hits, slowest) =
        tokio::task::spawn_blocking(move || full_scan(&db_path, threads, Duration::from_secs(6)))
            .await
            .unwrap();
    println!(
        "full-scan SQL haversine, same query ({threads} threads): {qps:.1} queries/s, {mean_hits:.0} matches on average, slowest {:.1} ms",
        slowest.as_secs_f64() * 1000.0
    );
    println!("nearby over HTTP / full-scan SQL: {:.0}x", http.rps() / qps);
    println!(
        "peak RSS with the 100k index: {:.1} MB",
        server.peak_rss_kib() as f64 / 1024.0
    );
}
