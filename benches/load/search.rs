//! Search scenarios: 100k users seeded straight into SQLite, `baitech
//! reindex` timed, then query latency through the library (the index
//! alone) and, when the users list serves `search=`, over HTTP.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::{drive, wanted, Server};

const USERS: usize = 100_000;

const FIRST: &[&str] = &[
    "John", "Mary", "Peter", "Grace", "James", "Faith", "David", "Mercy", "Joseph", "Ann", "Brian",
    "Esther", "Kevin", "Wanjiku", "Otieno", "Achieng", "Kamau", "Njeri", "Mwangi", "Akinyi",
    "Kiprop", "Chebet", "Mutua", "Wambui", "Ochieng", "Halima", "Baraka", "Zawadi", "Juma",
    "Neema", "Amina", "Hassan", "Samuel", "Ruth", "Daniel", "Lucy", "Moses", "Joyce", "Paul",
    "Agnes",
];
const LAST: &[&str] = &[
    "Otieno", "Kamau", "Mwangi", "Odhiambo", "Wanjiru", "Kiptoo", "Njoroge", "Onyango", "Mutua",
    "Kariuki", "Ouma", "Chege", "Wafula", "Barasa", "Kiprono", "Macharia", "Omondi", "Njeri",
    "Kimani", "Owino", "Abdi", "Mohamed", "Korir", "Rotich", "Wekesa", "Nyambura", "Gitau",
    "Muriuki", "Ndungu", "Auma",
];
const SKILLS: &[(&str, &str)] = &[
    ("Plumber", "plumbing"),
    ("Pipe fitting", "plumbing"),
    ("Electrician", "electrical"),
    ("Solar installation", "electrical"),
    ("Carpenter", "carpentry"),
    ("Furniture repair", "carpentry"),
    ("Mason", "masonry"),
    ("Tiling", "masonry"),
    ("Painter", "painting"),
    ("Air conditioning", "hvac"),
    ("Welder", "welding"),
    ("House cleaning", "cleaning"),
    ("Fridge repair", "appliance_repair"),
    ("Washing machine repair", "appliance_repair"),
    ("Locksmith", "locksmith"),
    ("Gardener", "landscaping"),
    ("Roofer", "roofing"),
    ("Floor sanding", "flooring"),
    ("Fumigation", "pest_control"),
    ("Handyman", "general_handyman"),
];
const WORDS: &[&str] = &[
    "reliable",
    "experienced",
    "certified",
    "fast",
    "affordable",
    "friendly",
    "professional",
    "Nairobi",
    "Mombasa",
    "Kisumu",
    "Nakuru",
    "Eldoret",
    "Thika",
    "Westlands",
    "Kilimani",
    "homes",
    "offices",
    "apartments",
    "estates",
    "repairs",
    "installations",
    "maintenance",
    "emergency",
    "weekend",
    "available",
    "quality",
    "work",
    "years",
    "clients",
    "customers",
    "guaranteed",
    "clean",
    "tidy",
    "honest",
    "punctual",
    "skilled",
    "trained",
    "licensed",
    "kitchen",
    "bathroom",
    "roof",
    "garden",
    "wiring",
    "leaks",
    "pipes",
    "doors",
    "windows",
    "cabinets",
    "floors",
    "walls",
    "gates",
    "tanks",
    "boreholes",
    "heaters",
    "cookers",
];
const QUERIES: &[&str] = &[
    "plumber",
    "plumbr",
    "electrcian",
    "electrician nairobi",
    "plu",
    "ele",
    "john plu",
    "mary kamau",
    "carpenter kisumu",
    "solar instal",
    "fridge repiar",
    "wanjiku",
    "roofng",
    "tiling bathroom",
    "reliable welder",
    "the best painter in westlands",
    "locksmith",
    "handyman weekend",
    "otieno",
    "fumigation",
];

fn pick<'a>(rng: &mut StdRng, from: &[&'a str]) -> &'a str {
    from[rng.gen_range(0..from.len())]
}

/// Seeds `USERS` users (a third technicians with a profile and 1-3 skills)
/// in one transaction.
fn seed(db: &baitech::db::Db) {
    db.write_blocking(|tx| {
        let mut rng = StdRng::seed_from_u64(7);
        let now = baitech::ids::now_ms();
        let mut user = tx.prepare(
            "INSERT INTO users (id, email, phone, password_hash, first_name, last_name, role, bio,
                                rating_avg, rating_count, created_at, updated_at)
             VALUES (?1, ?2, ?3, 'x', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
        )?;
        let mut profile = tx.prepare(
            "INSERT INTO technician_profiles (user_id, business_name, service_categories, updated_at)
             VALUES (?1, ?2, ?3, ?4)",
        )?;
        let mut skill = tx.prepare(
            "INSERT OR IGNORE INTO user_skills (user_id, name, category) VALUES (?1, ?2, ?3)",
        )?;
        for n in 0..USERS {
            let id = baitech::ids::new_id();
            let is_tech = n % 3 == 0;
            let bio: Vec<&str> = (0..rng.gen_range(3..15)).map(|_| pick(&mut rng, WORDS)).collect();
            let rating: f64 = if is_tech { rng.gen_range(0.0..5.0) } else { 0.0 };
            user.execute(rusqlite::params![
                id,
                format!("u{n}@example.com"),
                format!("+999{n:011}"),
                pick(&mut rng, FIRST),
                pick(&mut rng, LAST),
                if is_tech { "technician" } else { "customer" },
                bio.join(" "),
                rating,
                if is_tech { rng.gen_range(0..200) } else { 0 },
                now
            ])?;
            if is_tech {
                let (name, category) = SKILLS[rng.gen_range(0..SKILLS.len())];
                let business = (n % 4 == 0).then(|| format!("{} {name} Services", pick(&mut rng, LAST)));
                profile.execute(rusqlite::params![
                    id,
                    business,
                    serde_json::json!([category]).to_string(),
                    now
                ])?;
                for _ in 0..rng.gen_range(1..=3) {
                    let (name, category) = SKILLS[rng.gen_range(0..SKILLS.len())];
                    skill.execute(rusqlite::params![id, name, category])?;
                }
            }
        }
        Ok(())
    })
    .expect("seed users");
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted
        .get(((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

pub async fn run() {
    if !wanted("search") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    {
        let db = baitech::db::Db::open(&dir.path().join("baitech.db"), 1).expect("open db");
        seed(&db);
    }
    println!(
        "seeded {USERS} users in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_baitech"))
        .arg("reindex")
        .env("BAITECH_DATA_DIR", dir.path())
        .env("BAITECH_LOG_LEVEL", "warn")
        .env_remove("BAITECH_CONFIG")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("run baitech reindex");
    let took = started.elapsed();
    print!("{}", String::from_utf8_lossy(&out.stdout));
    println!(
        "baitech reindex of {USERS} users: {:.1} s (target < 30 s){}",
        took.as_secs_f64(),
        if out.status.success() { "" } else { " FAILED" }
    );

    // The index alone, in this process, one query at a time.
    {
        let db = baitech::db::Db::open(&dir.path().join("baitech.db"), 2).expect("open db");
        let index = baitech::search::SearchIndex::open(dir.path(), &db).expect("open index");
        for q in QUERIES {
            let _ = index.search_users(q, 100);
        }
        let mut latencies = Vec::new();
        let mut hits = 0usize;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            for q in QUERIES {
                let t = Instant::now();
                hits += index.search_users(q, 100).map(|r| r.len()).unwrap_or(0);
                latencies.push(t.elapsed());
            }
        }
        latencies.sort();
        println!(
            "search_users on {USERS} users (library, 1 thread, top 100): {} queries, p50 {:.3} ms, p99 {:.3} ms, avg hits {:.0}",
            latencies.len(),
            percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
            percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
            hits as f64 / latencies.len() as f64
        );
        for q in ["plumbr", "electrcian", "plu"] {
            let t = Instant::now();
            let n = index.search_users(q, 10_000).map(|r| r.len()).unwrap_or(0);
            println!(
                "  {q:?}: {n} matches (all, {:.2} ms)",
                t.elapsed().as_secs_f64() * 1000.0
            );
        }
    }

    // Over HTTP, when the users list serves search=.
    let server = Server::start(dir.path(), &[]).await;
    println!(
        "server ready in {:.0} ms on the 100k-user index, RSS {:.1} MB",
        server.ready_after.as_secs_f64() * 1000.0,
        server.rss_kib() as f64 / 1024.0
    );
    let probe = reqwest::get(server.url("/api/v1/users?search=plumber&limit=20"))
        .await
        .ok();
    let serves_search = match probe {
        Some(r) if r.status().is_success() => r
            .json::<serde_json::Value>()
            .await
            .map(|b| b["users"].is_array())
            .unwrap_or(false),
        _ => false,
    };
    if serves_search {
        let runs: [(&str, &str, usize); 7] = [
            ("GET /users?search= on 100k users (1 conn)", "", 1),
            ("GET /users?search= on 100k users (2 conns)", "", 2),
            ("GET /users?search= on 100k users (8 conns)", "", 8),
            (
                "  ...&role=technician&minRating=3 (1 conn)",
                "role=technician&minRating=3&",
                1,
            ),
            ("  ...&skills=plumbing (1 conn)", "skills=plumbing&", 1),
            (
                "  ...&sort=-rating: sorted by the index (1 conn)",
                "sort=-rating&",
                1,
            ),
            (
                "  ...&sort=firstName: SQL over every match (1 conn)",
                "sort=firstName&",
                1,
            ),
        ];
        for (name, extra, conns) in runs {
            let base = server.url(&format!("/api/v1/users?limit=20&{extra}search="));
            let stats = drive(conns, Duration::from_secs(6), move |c, n| {
                let q = QUERIES[n as usize % QUERIES.len()];
                let url = format!("{base}{}", urlencoding::encode(q));
                async move {
                    c.get(&url)
                        .send()
                        .await
                        .map(|r| r.status().is_success())
                        .unwrap_or(false)
                }
            })
            .await;
            stats.print(name);
        }
    } else {
        println!("GET /users?search= not served by this build; HTTP figures skipped");
    }
    println!(
        "server RSS with the 100k-user index: {:.1} MB (peak {:.1} MB)",
        server.rss_kib() as f64 / 1024.0,
        server.peak_rss_kib() as f64 / 1024.0
    );
}
