//! Reviews scenarios: the public list of a busy technician (newest and
//! most helpful first), lists across many technicians, and posting
//! reviews (each moves the reviewee's aggregates and the geo index in the
//! same write) against a seeded marketplace.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rusqlite::params;
use serde_json::json;

use crate::{drive, wanted, Server};

const TECHNICIANS: usize = 2_000;
const CUSTOMERS: usize = 20_000;
const REVIEWS: usize = 200_000;
/// Reviews of the one busy technician, out of [`REVIEWS`].
const HOT_REVIEWS: usize = 5_000;
/// Completed bookings of the bench customer, waiting for a review each.
const OPEN_BOOKINGS: usize = 50_000;
const PASSWORD: &str = "correct horse battery";

struct Seeded {
    hot_technician: String,
    technicians: Vec<String>,
    /// `(booking, technician)` of the bench customer's unreviewed bookings.
    open: Vec<(String, String)>,
}

fn id(n: usize, kind: u8) -> String {
    // ObjectId-shaped, distinct per kind and number.
    format!("{:08x}{:02x}{:014x}", 0x6500_0000u32, kind, n)
}

fn seed(data_dir: &std::path::Path) -> Seeded {
    let db = baitech::db::Db::open(&data_dir.join("baitech.db"), 2).expect("open");
    let cost = baitech::auth::password::Cost {
        memory_kib: 19_456,
        iterations: 2,
    };
    let hash = baitech::auth::password::hash_blocking(PASSWORD, cost).unwrap();
    db.write_blocking(|tx| {
        let now = baitech::ids::now_ms();
        let mut user = tx.prepare(
            "INSERT INTO users (id, email, phone, password_hash, first_name, last_name, role,
                location_lng, location_lat, created_at, updated_at)
             VALUES (?1, ?2, ?3, 'x', 'Seed', ?4, ?5, ?6, ?7, ?8, ?8)",
        )?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for t in 0..TECHNICIANS {
            user.execute(params![
                id(t, 1),
                format!("tech{t}@bench.local"),
                format!("+2547{:08}", t),
                format!("Tech{t}"),
                "technician",
                36.6 + rng.gen::<f64>() * 0.4,
                -1.45 + rng.gen::<f64>() * 0.3,
                now
            ])?;
        }
        for c in 0..CUSTOMERS {
            user.execute(params![
                id(c, 2),
                format!("cust{c}@bench.local"),
                format!("+2541{:08}", c),
                format!("Customer{c}"),
                "customer",
                None::<f64>,
                None::<f64>,
                now
            ])?;
        }
        tx.execute(
            "INSERT INTO users (id, email, phone, password_hash, first_name, last_name, role, created_at, updated_at)
             VALUES (?1, 'reviewer@bench.local', '+254799999999', ?2, 'Bench', 'Reviewer', 'customer', ?3, ?3)",
            params![id(0, 9), hash, now],
        )?;
        let mut booking = tx.prepare(
            "INSERT INTO bookings (id, booking_number, customer_id, technician_id, status, completed_at,
                created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'completed', ?5, ?5, ?5)",
        )?;
        let mut review = tx.prepare(
            "INSERT INTO reviews (id, booking_id, reviewer_id, reviewee_id, reviewer_role, rating_overall,
                rating_quality, rating_punctuality, title, comment, helpful_count, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'customer', ?5, ?6, ?7, 'Seeded', 'A seeded review of the work.', ?8, ?9, ?9)",
        )?;
        for n in 0..REVIEWS {
            let tech = if n < HOT_REVIEWS {
                0
            } else {
                rng.gen_range(0..TECHNICIANS)
            };
            let customer = rng.gen_range(0..CUSTOMERS);
            let at = now - (REVIEWS - n) as i64 * 60_000;
            booking.execute(params![id(n, 3), format!("BKG-S-{n}"), id(customer, 2), id(tech, 1), at])?;
            review.execute(params![
                id(n, 4),
                id(n, 3),
                id(customer, 2),
                id(tech, 1),
                rng.gen_range(1..=5),
                rng.gen_range(1..=5),
                rng.gen_range(1..=5),
                rng.gen_range(0..30),
                at
            ])?;
        }
        for n in 0..OPEN_BOOKINGS {
            booking.execute(params![
                id(n, 5),
                format!("BKG-O-{n}"),
                id(0, 9),
                id(rng.gen_range(0..TECHNICIANS), 1),
                now
            ])?;
        }
        // The aggregates the seeded reviews imply, as the module keeps them.
        tx.execute_batch(
            "INSERT INTO review_aggregates (user_id, review_count, overall_sum, stars_1, stars_2, stars_3,
                stars_4, stars_5, quality_sum, quality_count, punctuality_sum, punctuality_count, updated_at)
             SELECT reviewee_id, COUNT(*), SUM(rating_overall),
                SUM(rating_overall = 1), SUM(rating_overall = 2), SUM(rating_overall = 3),
                SUM(rating_overall = 4), SUM(rating_overall = 5),
                SUM(rating_quality), COUNT(rating_quality), SUM(rating_punctuality), COUNT(rating_punctuality), 0
             FROM reviews GROUP BY reviewee_id;
             UPDATE users SET
                rating_avg = (SELECT ROUND(overall_sum * 1.0 / review_count, 2) FROM review_aggregates a WHERE a.user_id = users.id),
                rating_count = (SELECT review_count FROM review_aggregates a WHERE a.user_id = users.id)
             WHERE id IN (SELECT user_id FROM review_aggregates);",
        )?;
        Ok(())
    })
    .expect("seed");
    let open = db
        .read_blocking(|c| {
            let mut stmt = c.prepare(
                "SELECT id, technician_id FROM bookings WHERE customer_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([id(0, 9)], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .expect("open bookings");
    Seeded {
        hot_technician: id(0, 1),
        technicians: (0..TECHNICIANS).map(|t| id(t, 1)).collect(),
        open,
    }
}

pub async fn run() {
    if !wanted("reviews") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let seeded = tokio::task::spawn_blocking({
        let path = dir.path().to_path_buf();
        move || seed(&path)
    })
    .await
    .unwrap();
    println!(
        "reviews: seeded {TECHNICIANS} technicians, {CUSTOMERS} customers, {REVIEWS} reviews \
         ({HOT_REVIEWS} of one technician), {OPEN_BOOKINGS} open bookings in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let server = Server::start(dir.path(), &[]).await;
    println!(
        "reviews: start to ready with the seeded data: {:.0} ms",
        server.ready_after.as_secs_f64() * 1000.0
    );

    let url = server.url(&format!(
        "/api/v1/reviews?reviewee={}&limit=20",
        seeded.hot_technician
    ));
    let single = drive(1, Duration::from_secs(3), move |c, _| {
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
    single.print("GET /reviews?reviewee=<5k reviews> (1 conn)");

    for (sort, label) in [
        ("newest", "GET /reviews?reviewee=<5k reviews> newest"),
        ("helpful", "GET /reviews?reviewee=<5k reviews> helpful"),
        ("highest", "GET /reviews?reviewee=<5k reviews> highest"),
    ] {
        let url = server.url(&format!(
            "/api/v1/reviews?reviewee={}&sort={sort}&limit=20",
            seeded.hot_technician
        ));
        let stats = drive(32, Duration::from_secs(4), move |c, _| {
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
        stats.print(&format!("{label} (32 conns)"));
    }

    let base = server.url("/api/v1/reviews?reviewee=");
    let techs = std::sync::Arc::new(seeded.technicians.clone());
    let stats = drive(32, Duration::from_secs(4), move |c, n| {
        let url = format!("{base}{}", techs[(n as usize * 7919) % techs.len()]);
        async move {
            c.get(&url)
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false)
        }
    })
    .await;
    stats.print("GET /reviews?reviewee=<random of 2k> (32 conns)");

    let url = server.url("/api/v1/reviews?minRating=4&page=50");
    let stats = drive(32, Duration::from_secs(4), move |c, _| {
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
    stats.print("GET /reviews?minRating=4&page=50 (all, 32 conns)");

    let client = reqwest::Client::new();
    let login: serde_json::Value = client
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": "reviewer@bench.local", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap_or_default().to_string();
    let open = std::sync::Arc::new(seeded.open);
    let url = server.url("/api/v1/reviews");
    let stats = drive(8, Duration::from_secs(4), move |c, n| {
        let (url, token, open) = (url.clone(), token.clone(), open.clone());
        async move {
            let Some((booking, tech)) = open.get(n as usize) else {
                return false;
            };
            c.post(&url)
                .bearer_auth(&token)
                .json(&json!({"booking": booking, "reviewee": tech, "rating": (n % 5) + 1,
                              "detailedRatings": {"quality": 4, "timeliness": 5},
                              "title": "Bench", "comment": "A review written by the load harness."}))
                .send()
                .await
                .map(|r| r.status().as_u16() == 201)
                .unwrap_or(false)
        }
    })
    .await;
    stats.print("POST /reviews (aggregates + index, 8 conns)");
    println!(
        "reviews: peak RSS {:.1} MB",
        server.peak_rss_kib() as f64 / 1024.0
    );
}
