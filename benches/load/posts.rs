//! Posts scenarios: `posts_feed`, a feed page (20 posts, author populated,
//! the viewer's like/bookmark flags) over 1M posts; and `posts_likes`,
//! likes on one hot post from 5,000 users (toggles, so later rounds
//! unlike), checking the counter equals the likes table at the end.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rusqlite::params;

use crate::{drive, wanted, Server};

const POSTS: usize = 1_000_000;
const AUTHORS: usize = 2_000;
const FOLLOWED: usize = 100;
const LIKERS: usize = 5_000;
const SECRET: &str = "posts-bench-secret-0123456789abcdef-0123456789";

fn id(n: usize, kind: u8) -> String {
    format!("{:08x}{:02x}{:014x}", 0x6500_0000u32, kind, n)
}

fn open(data_dir: &std::path::Path) -> baitech::db::Db {
    baitech::db::Db::open(&data_dir.join("baitech.db"), 2).expect("open")
}

fn seed_users(tx: &rusqlite::Connection, count: usize, kind: u8, now: i64) -> rusqlite::Result<()> {
    let mut user = tx.prepare(
        "INSERT INTO users (id, email, phone, password_hash, first_name, last_name, role, created_at, updated_at)
         VALUES (?1, ?2, ?3, 'x', 'Seed', ?4, ?5, ?6, ?6)",
    )?;
    let mut plan = tx.prepare(
        "INSERT INTO technician_profiles (user_id, subscription_plan, updated_at) VALUES (?1, ?2, ?3)",
    )?;
    for n in 0..count {
        let is_tech = n % 4 == 0;
        user.execute(params![
            id(n, kind),
            format!("u{kind}-{n}@bench.local"),
            format!("+254{kind}{:08}", n),
            format!("User{n}"),
            if is_tech { "technician" } else { "customer" },
            now
        ])?;
        if is_tech {
            let p = ["free", "pro", "premium", "free"][n / 4 % 4];
            plan.execute(params![id(n, kind), p, now])?;
        }
    }
    Ok(())
}

/// 2,000 authors, 1M posts over the last year (5% followers-only, 1%
/// private, 10% with a hashtag), a viewer following 100 authors and
/// having liked some recent posts; the posts index built as `reindex` does.
fn seed_feed(data_dir: &std::path::Path) -> (String, Duration) {
    let db = open(data_dir);
    db.write_blocking(|tx| {
        let now = baitech::ids::now_ms();
        seed_users(tx, AUTHORS, 1, now)?;
        tx.execute(
            "INSERT INTO users (id, email, phone, password_hash, first_name, last_name, role, created_at, updated_at)
             VALUES (?1, 'viewer@bench.local', '+254799999999', 'x', 'Bench', 'Viewer', 'customer', ?2, ?2)",
            params![id(0, 9), now],
        )?;
        let mut follow = tx.prepare(
            "INSERT INTO follows (follower_id, followee_id, active, changed_at, created_at) VALUES (?1, ?2, 1, ?3, ?3)",
        )?;
        for a in 0..FOLLOWED {
            follow.execute(params![id(0, 9), id(a * 7, 1), now])?;
        }
        let mut post = tx.prepare(
            "INSERT INTO posts (id, author_id, type, caption, hashtags, visibility, likes_count, comments_count,
                shares_count, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
        )?;
        let mut tag = tx.prepare(
            "INSERT INTO post_hashtags (tag, post_id, created_at, author_id, visibility) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut like = tx.prepare("INSERT INTO post_likes (post_id, user_id, created_at) VALUES (?1, ?2, ?3)")?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(15);
        let types = ["text", "image", "video", "tip", "question", "portfolio"];
        let words = ["plumbing", "electrical", "kitchen", "geyser", "tiles", "roof", "painting", "wiring"];
        let mut public = std::collections::HashMap::<String, i64>::new();
        for n in 0..POSTS {
            let at = now - ((POSTS - n) as i64 * 31_536_000_000 / POSTS as i64);
            let kind = types[n % types.len()];
            let visibility = match n % 100 {
                0 => "private",
                1..=5 => "followers",
                _ => "public",
            };
            let w = words[rng.gen_range(0..words.len())];
            let tags = if n % 10 == 0 { format!("[\"{w}\"]") } else { "[]".into() };
            let author = id(rng.gen_range(0..AUTHORS), 1);
            post.execute(params![
                id(n, 2),
                author,
                kind,
                format!("Post {n} about {w} and the {} job", words[n % words.len()]),
                tags,
                visibility,
                rng.gen_range(0..50),
                rng.gen_range(0..10),
                rng.gen_range(0..5),
                at
            ])?;
            if n % 10 == 0 {
                tag.execute(params![w, id(n, 2), at, author, visibility])?;
            }
            if n + 500 >= POSTS && n % 3 == 0 {
                like.execute(params![id(n, 2), id(0, 9), now])?;
            }
            if visibility == "public" {
                *public.entry("*".into()).or_default() += 1;
                *public.entry(kind.into()).or_default() += 1;
                if n % 10 == 0 {
                    *public.entry(format!("#{w}")).or_default() += 1;
                }
            }
        }
        let mut total = tx.prepare("INSERT INTO post_totals (scope, n) VALUES (?1, ?2)")?;
        for (scope, n) in public {
            total.execute(params![scope, n])?;
        }
        // The per-author totals of the following feed, as the migration
        // that added them fills them.
        tx.execute_batch(
            "INSERT INTO post_author_totals (author_id, scope, n)
                SELECT author_id, '*', COUNT(*) FROM posts
                WHERE status = 'published' AND visibility <> 'private' GROUP BY author_id;
             INSERT INTO post_author_totals (author_id, scope, n)
                SELECT author_id, type, COUNT(*) FROM posts
                WHERE status = 'published' AND visibility <> 'private' GROUP BY author_id, type;",
        )?;
        Ok(())
    })
    .expect("seed");
    let started = Instant::now();
    let indexed = baitech::search::posts::rebuild_posts(data_dir, &db).expect("index posts");
    assert!(indexed as usize >= POSTS);
    (id(0, 9), started.elapsed())
}

fn token_for(user: &str) -> String {
    baitech::auth::tokens::JwtKeys::new(SECRET.as_bytes()).sign(
        user,
        baitech::auth::tokens::ACCESS,
        0,
        3_600,
    )
}

async fn get_ok(c: reqwest::Client, url: String, token: Option<String>) -> bool {
    let mut req = c.get(&url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send()
        .await
        .map(|r| r.status().is_success())
        .unwrap_or(false)
}

async fn feed() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (viewer, indexing) = tokio::task::spawn_blocking({
        let path = dir.path().to_path_buf();
        move || seed_feed(&path)
    })
    .await
    .unwrap();
    println!(
        "posts: seeded {POSTS} posts by {AUTHORS} authors in {:.1} s (posts index rebuilt in {:.1} s)",
        started.elapsed().as_secs_f64(),
        indexing.as_secs_f64()
    );
    let server = Server::start(dir.path(), &[("BAITECH_JWT_SECRET", SECRET)]).await;
    println!(
        "posts: start to ready with 1M posts: {:.0} ms",
        server.ready_after.as_secs_f64() * 1000.0
    );
    let token = token_for(&viewer);
    // Latency at one connection (the p99 target), throughput at 32.
    let viewer = Some(token.clone());
    let cases: Vec<(&str, Option<String>, usize)> = vec![
        ("/api/v1/posts?page=1&limit=20", viewer.clone(), 1),
        ("/api/v1/posts?page=1&limit=20", viewer.clone(), 32),
        ("/api/v1/posts?page=1&limit=20", None, 32),
        ("/api/v1/posts?page=7&limit=20", viewer.clone(), 1),
        ("/api/v1/posts?following=true&limit=20", viewer.clone(), 1),
        ("/api/v1/posts?following=true&limit=20", viewer.clone(), 32),
        (
            "/api/v1/posts?following=true&page=7&limit=20",
            viewer.clone(),
            1,
        ),
        (
            "/api/v1/posts?following=true&type=tip&limit=20",
            viewer.clone(),
            1,
        ),
        ("/api/v1/posts?type=tip&limit=20", viewer.clone(), 1),
        ("/api/v1/posts?hashtag=kitchen&limit=20", viewer.clone(), 1),
        (
            "/api/v1/posts?search=plumbng+kitchen&limit=20",
            viewer.clone(),
            1,
        ),
        (
            "/api/v1/posts?search=plumbng+kitchen&limit=20",
            viewer.clone(),
            8,
        ),
    ];
    for (path, token, conns) in cases {
        let url = server.url(path);
        let who = if token.is_some() { "viewer" } else { "anon" };
        let stats = drive(conns, Duration::from_secs(4), move |c, _| {
            get_ok(c, url.clone(), token.clone())
        })
        .await;
        stats.print(&format!("GET {} ({who}, {conns} conns)", &path[8..]));
    }
    println!(
        "posts: feed peak RSS {:.1} MB",
        server.peak_rss_kib() as f64 / 1024.0
    );
}

async fn likes() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let hot = id(0, 3);
    db.write_blocking(|tx| {
        let now = baitech::ids::now_ms();
        seed_users(tx, LIKERS, 4, now)?;
        tx.execute(
            "INSERT INTO posts (id, author_id, type, caption, created_at, updated_at) VALUES (?1, ?2, 'tip', 'Hot', ?3, ?3)",
            params![hot, id(0, 4), now],
        )?;
        Ok(())
    })
    .expect("seed");
    drop(db);
    let server = Server::start(dir.path(), &[("BAITECH_JWT_SECRET", SECRET)]).await;
    let tokens: std::sync::Arc<Vec<String>> =
        std::sync::Arc::new((0..LIKERS).map(|n| token_for(&id(n, 4))).collect());
    let url = server.url(&format!("/api/v1/posts/{hot}/like"));
    let stats = drive(32, Duration::from_secs(8), move |c, n| {
        let (url, tokens) = (url.clone(), tokens.clone());
        async move {
            c.post(&url)
                .bearer_auth(&tokens[n as usize % tokens.len()])
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false)
        }
    })
    .await;
    stats.print("POST /posts/<hot>/like (5k users, 32 conns)");
    let db = open(dir.path());
    let (stored, rows): (i64, i64) = db
        .read_blocking(|c| {
            Ok(c.query_row(
                "SELECT likes_count, (SELECT COUNT(*) FROM post_likes WHERE post_id = ?1) FROM posts WHERE id = ?1",
                [&hot],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .expect("recount");
    println!(
        "posts: after {} toggles likes_count = {stored}, likes rows = {rows}: {}",
        stats.ok,
        if stored == rows { "exact" } else { "MISMATCH" }
    );
    println!(
        "posts: likes peak RSS {:.1} MB",
        server.peak_rss_kib() as f64 / 1024.0
    );
}

pub async fn run() {
    if wanted("posts_feed") {
        feed().await;
    }
    if wanted("posts_likes") {
        likes().await;
    }
}
