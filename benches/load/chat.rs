//! Chat and realtime scenarios, with a small Socket.IO (EIO4 websocket)
//! client written here on tokio-tungstenite:
//!
//! - `chat_idle_sockets`: 10,000 authenticated idle sockets; server RSS per socket.
//! - `chat_group_fanout`: one message to a 500-member group, every member
//!   connected; time from the REST send to the last socket's `message:new`.
//! - `chat_rest_sends`: REST sends into 200 direct conversations whose two
//!   members each have a socket (fan-out to 2 sockets per message); msg/s.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message as Ws;

use crate::{drive, wanted, Server};

const SECRET: &str = "chat-bench-secret-0123456789abcdef0123456789abcdef";
const IDLE_SOCKETS: usize = 10_000;
const GROUP: usize = 500;
const PAIRS: usize = 200;

fn id(n: usize, kind: u8) -> String {
    format!("{:08x}{:02x}{:014x}", 0x6600_0000u32, kind, n)
}

/// Users `0..users` (kind 1), a group of the first [`GROUP`] and [`PAIRS`]
/// direct conversations between users `2k` and `2k+1`.
fn seed(data_dir: &std::path::Path, users: usize) -> (String, Vec<String>) {
    let db = baitech::db::Db::open(&data_dir.join("baitech.db"), 2).expect("open");
    let group = id(0, 7);
    let pairs: Vec<String> = (0..PAIRS).map(|p| id(p, 8)).collect();
    let g = group.clone();
    let p = pairs.clone();
    db.write_blocking(move |tx| {
        let now = baitech::ids::now_ms();
        let mut user = tx.prepare(
            "INSERT INTO users (id, email, phone, password_hash, first_name, last_name, role, created_at, updated_at)
             VALUES (?1, ?2, ?3, 'x', 'Bench', ?4, 'customer', ?5, ?5)",
        )?;
        for u in 0..users {
            user.execute(rusqlite::params![
                id(u, 1),
                format!("chat{u}@bench.local"),
                format!("+2547{u:08}"),
                format!("User{u}"),
                now
            ])?;
        }
        let conversation = |cid: &str, kind, name: Option<String>| baitech::chat::store::Conversation {
            id: cid.to_string(),
            kind,
            name,
            description: None,
            booking_id: None,
            created_by: Some(id(0, 1)),
            status: "active".into(),
            rules: baitech::chat::OPEN_RULES,
            last_message_id: None,
            last_preview: None,
            last_sender_id: None,
            last_message_at: now,
            total_messages: 0,
            created_at: now,
            updated_at: now,
        };
        let members: Vec<(String, bool)> = (0..GROUP).map(|u| (id(u, 1), u == 0)).collect();
        baitech::chat::store::insert_conversation(
            tx,
            &conversation(&g, baitech::chat::model::ConversationType::Group, Some("Bench".into())),
            None,
            &members,
        )?;
        for (k, cid) in p.iter().enumerate() {
            let (a, b) = (id(2 * k, 1), id(2 * k + 1, 1));
            let key = baitech::chat::model::direct_key(&a, &b);
            baitech::chat::store::insert_conversation(
                tx,
                &conversation(cid, baitech::chat::model::ConversationType::Direct, None),
                Some(&key),
                &[(a, false), (b, false)],
            )?;
        }
        Ok(())
    })
    .expect("seed");
    (group, pairs)
}

fn token(keys: &baitech::auth::tokens::JwtKeys, user: usize) -> String {
    keys.sign(&id(user, 1), baitech::auth::tokens::ACCESS, 0, 3600)
}

/// Counts of `message:new` frames seen, per message text and in total.
#[derive(Default)]
struct Receipts {
    total: AtomicU64,
    per_text: Mutex<std::collections::HashMap<String, (usize, Instant)>>,
}

/// Opens a Socket.IO connection (EIO4 over websocket) with `auth.token`
/// and keeps it alive (answering pings) in a task; `message:new` frames
/// are counted into `receipts`.
async fn open_socket(base: &str, token: &str, receipts: Arc<Receipts>) -> Result<(), String> {
    let url = format!(
        "{}/socket.io/?EIO=4&transport=websocket",
        base.replace("http://", "ws://")
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| e.to_string())?;
    let open = ws
        .next()
        .await
        .ok_or("closed")?
        .map_err(|e| e.to_string())?;
    if !open.to_text().unwrap_or("").starts_with('0') {
        return Err(format!("unexpected open packet {open:?}"));
    }
    ws.send(Ws::text(format!("40{}", json!({"token": token}))))
        .await
        .map_err(|e| e.to_string())?;
    loop {
        let frame = ws
            .next()
            .await
            .ok_or("closed")?
            .map_err(|e| e.to_string())?;
        let text = frame.to_text().unwrap_or("").to_string();
        if text.starts_with("40") {
            break;
        }
        if text.starts_with("44") {
            return Err(text);
        }
    }
    tokio::spawn(async move {
        while let Some(Ok(frame)) = ws.next().await {
            let Ok(text) = frame.to_text() else { continue };
            if text == "2" {
                let _ = ws.send(Ws::text("3")).await;
            } else if let Some(rest) = text.strip_prefix("42[\"message:new\",") {
                receipts.total.fetch_add(1, Ordering::Relaxed);
                if let Some(i) = rest.find("\"text\":\"") {
                    let tail = &rest[i + 8..];
                    let t = tail[..tail.find('"').unwrap_or(0)].to_string();
                    let mut map = receipts.per_text.lock().unwrap();
                    let e = map.entry(t).or_insert((0, Instant::now()));
                    e.0 += 1;
                    e.1 = Instant::now();
                }
            }
        }
    });
    Ok(())
}

/// Opens sockets for `users` with at most 200 handshakes in flight.
async fn open_many(
    base: &str,
    keys: &baitech::auth::tokens::JwtKeys,
    users: std::ops::Range<usize>,
    receipts: Arc<Receipts>,
) -> usize {
    let base = base.to_string();
    let tokens: Vec<String> = users.map(|u| token(keys, u)).collect();
    let results: Vec<Result<(), String>> = futures_util::stream::iter(tokens)
        .map(|t| {
            let (base, receipts) = (base.clone(), receipts.clone());
            async move { open_socket(&base, &t, receipts).await }
        })
        .buffer_unordered(200)
        .collect()
        .await;
    let failed: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    if let Some(e) = failed.first() {
        println!("  {} sockets failed; first: {e}", failed.len());
    }
    results.len() - failed.len()
}

async fn start(users: usize) -> (tempfile::TempDir, Server, String, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let (group, pairs) = tokio::task::spawn_blocking(move || seed(&path, users.max(GROUP)))
        .await
        .unwrap();
    let server = Server::start(dir.path(), &[("BAITECH_JWT_SECRET", SECRET)]).await;
    (dir, server, group, pairs)
}

pub async fn run() {
    let keys = baitech::auth::tokens::JwtKeys::new(SECRET.as_bytes());
    if wanted("chat_idle_sockets") {
        let (_dir, server, _, _) = start(IDLE_SOCKETS).await;
        // Warm the server (allocator arenas, statement caches) with a few sockets first.
        let receipts = Arc::new(Receipts::default());
        open_many(&server.base, &keys, 0..100, receipts.clone()).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = server.rss_kib();
        let t = Instant::now();
        let n = open_many(&server.base, &keys, 100..IDLE_SOCKETS, receipts).await;
        let took = t.elapsed();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = server.rss_kib();
        println!(
            "chat_idle_sockets: {} sockets open ({} handshakes/s); server RSS {} -> {} KiB: {:.1} KiB per socket (peak {} KiB)",
            n + 100,
            (n as f64 / took.as_secs_f64()) as u64,
            before,
            after,
            (after.saturating_sub(before)) as f64 / n.max(1) as f64,
            server.peak_rss_kib()
        );
    }
    if wanted("chat_group_fanout") {
        let (_dir, server, group, _) = start(GROUP.max(2 * PAIRS)).await;
        let receipts = Arc::new(Receipts::default());
        let n = open_many(&server.base, &keys, 0..GROUP, receipts.clone()).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let client = reqwest::Client::new();
        let sender = token(&keys, 0);
        let mut latencies = Vec::new();
        for k in 0..200 {
            let text = format!("g{k}");
            let t = Instant::now();
            let res = client
                .post(server.url("/api/v1/messages"))
                .bearer_auth(&sender)
                .json(&json!({"conversation": group, "text": text}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status().as_u16(), 201);
            let deadline = t + Duration::from_secs(5);
            loop {
                let done = receipts
                    .per_text
                    .lock()
                    .unwrap()
                    .get(&text)
                    .filter(|(count, _)| *count >= n)
                    .map(|(_, last)| *last);
                if let Some(last) = done {
                    latencies.push(last - t);
                    break;
                }
                if Instant::now() > deadline {
                    println!("  message {k}: not every socket got it within 5 s");
                    break;
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        }
        latencies.sort();
        let pick =
            |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
        println!(
            "chat_group_fanout: {} messages to {n} sockets: send -> last receipt p50 {:.1} ms, p99 {:.1} ms; RSS {} KiB",
            latencies.len(),
            pick(0.5).as_secs_f64() * 1000.0,
            pick(0.99).as_secs_f64() * 1000.0,
            server.rss_kib()
        );
    }
    if wanted("chat_rest_sends") {
        let (_dir, server, _, pairs) = start(2 * PAIRS).await;
        let receipts = Arc::new(Receipts::default());
        let n = open_many(&server.base, &keys, 0..2 * PAIRS, receipts.clone()).await;
        let tokens: Arc<Vec<String>> = Arc::new((0..PAIRS).map(|k| token(&keys, 2 * k)).collect());
        let pairs = Arc::new(pairs);
        let url = server.url("/api/v1/messages");
        let stats = drive(64, Duration::from_secs(10), move |c, i| {
            let (tokens, pairs, url) = (tokens.clone(), pairs.clone(), url.clone());
            async move {
                let k = i as usize % PAIRS;
                c.post(&url)
                    .bearer_auth(&tokens[k])
                    .json(&json!({"conversation": pairs[k], "text": "bench"}))
                    .send()
                    .await
                    .map(|r| r.status().as_u16() == 201)
                    .unwrap_or(false)
            }
        })
        .await;
        stats.print("chat_rest_sends (64 conns, 2 sockets each)");
        tokio::time::sleep(Duration::from_secs(2)).await;
        let delivered = receipts.total.load(Ordering::Relaxed);
        println!(
            "  {n} sockets; message:new delivered {delivered} of {} expected ({:.0}/s); RSS {} KiB",
            stats.ok * 2,
            delivered as f64 / stats.elapsed.as_secs_f64(),
            server.rss_kib()
        );
    }
}
