//! Media scenarios: the server's RSS during a 100 MB video upload, 1 MB JPEG
//! uploads with resize per second, and transformed-URL cache hits per second.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{drive, proc_status_kib, wanted, Server};

/// CPU time (user + system) the process `pid` has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // After the command: state is field 0, utime 11, stime 12 (clock ticks of 1/100 s).
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

const BOUNDARY: &str = "----baitech-bench-boundary";

fn form(field: &str, filename: &str, content_type: &str, data: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn content_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// A photo-like JPEG (gradients plus sensor-like noise) of about `target` bytes.
fn photo_jpeg(width: u32, height: u32, target: usize) -> Vec<u8> {
    let mut seed = 0x2545_f491u32;
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let n = (seed % 48) as i32 - 24;
        let base = [
            (x * 200 / width) as i32 + 30,
            (y * 180 / height) as i32 + 40,
            ((x + y) * 120 / (width + height)) as i32 + 60,
        ];
        image::Rgb(base.map(|c| (c + n).clamp(0, 255) as u8))
    });
    let mut best = Vec::new();
    for quality in (40..=95).rev().step_by(5) {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
            .encode_image(&img)
            .unwrap();
        best = out;
        if best.len() <= target {
            break;
        }
    }
    best
}

/// A minimal MP4 (ftyp, mdat, moov) of `total` bytes.
fn mp4_of(total: usize) -> Vec<u8> {
    let boxed = |kind: &[u8; 4], body: &[u8]| {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    };
    let ftyp = boxed(b"ftyp", b"isom\0\0\x02\0isomiso2avc1mp41");
    let mut mvhd = vec![0u8; 100];
    mvhd[12..16].copy_from_slice(&1000u32.to_be_bytes());
    mvhd[16..20].copy_from_slice(&60_000u32.to_be_bytes());
    let moov = boxed(b"moov", &boxed(b"mvhd", &mvhd));
    let payload = total - ftyp.len() - moov.len() - 8;
    let data: Vec<u8> = (0..payload).map(|i| (i * 31 % 251) as u8).collect();
    [ftyp, boxed(b"mdat", &data), moov].concat()
}

pub async fn run() {
    if !(wanted("media-video-rss") || wanted("media-jpeg-upload") || wanted("media-transform-hits"))
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let client = reqwest::Client::new();
    let body = client
        .post(server.url("/api/v1/auth/register"))
        .json(
            &json!({"firstName": "Media", "lastName": "Bench", "email": "media-bench@example.com",
                      "phoneNumber": "0711000099", "password": "correct horse battery"}),
        )
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let token = body["token"].as_str().unwrap_or_default().to_string();

    if wanted("media-video-rss") {
        let video = mp4_of(100_000_000);
        let pid = server.child.id();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = proc_status_kib(pid, "VmRSS:");
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let sampler = tokio::spawn(async move {
            let mut peak = 0u64;
            loop {
                peak = peak.max(proc_status_kib(pid, "VmRSS:"));
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(5)) => {}
                    _ = stop_rx.changed() => return peak.max(proc_status_kib(pid, "VmRSS:")),
                }
            }
        });
        let started = Instant::now();
        let res = client
            .post(server.url("/api/v1/media/upload/video"))
            .bearer_auth(&token)
            .header("content-type", content_type())
            .body(form("video", "site-visit.mp4", "video/mp4", &video))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let took = started.elapsed();
        let _ = stop_tx.send(true);
        let peak = sampler.await.unwrap();
        println!(
            "100 MB video upload: {status} in {:.2} s ({:.0} MB/s); server RSS {:.1} MB before, peak {:.1} MB: +{:.1} MB",
            took.as_secs_f64(),
            100.0 / took.as_secs_f64(),
            before as f64 / 1024.0,
            peak as f64 / 1024.0,
            peak.saturating_sub(before) as f64 / 1024.0
        );
    }

    let photo = photo_jpeg(2400, 1600, 1_050_000);
    if wanted("media-jpeg-upload") {
        println!(
            "JPEG upload: {:.2} MB, 2400×1600, stored fitted to 1200×800",
            photo.len() as f64 / 1_000_000.0
        );
        let body = bytes::Bytes::from(form("image", "kitchen.jpg", "image/jpeg", &photo));
        let url = server.url("/api/v1/media/upload/image");
        let pid = server.child.id();
        for concurrency in [2usize, 4] {
            let (url, token, body) = (url.clone(), token.clone(), body.clone());
            let cpu_before = cpu_time(pid);
            let stats = drive(concurrency, Duration::from_secs(8), move |c, _| {
                let (url, token, body) = (url.clone(), token.clone(), body.clone());
                async move {
                    c.post(&url)
                        .bearer_auth(token)
                        .header("content-type", content_type())
                        .body(body)
                        .send()
                        .await
                        .map(|r| r.status().as_u16() == 201)
                        .unwrap_or(false)
                }
            })
            .await;
            stats.print(&format!(
                "POST /media/upload/image 1 MB JPEG ({concurrency} conns)"
            ));
            let per = (cpu_time(pid) - cpu_before).as_secs_f64() * 1000.0 / stats.ok.max(1) as f64;
            println!(
                "  server CPU per upload: {per:.1} ms, i.e. {:.0} uploads/s if the server had 2 idle cores",
                2000.0 / per
            );
        }
    }

    if wanted("media-transform-hits") {
        let up = client
            .post(server.url("/api/v1/media/upload/image"))
            .bearer_auth(&token)
            .header("content-type", content_type())
            .body(form("image", "kitchen.jpg", "image/jpeg", &photo))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        let public_id = up["data"]["publicId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let t = client
            .post(server.url("/api/v1/media/optimize-url"))
            .json(&json!({"publicId": public_id, "width": 300, "height": 200, "crop": "fill", "format": "webp"}))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        let url = t["data"]["url"].as_str().unwrap_or_default().to_string();
        let started = Instant::now();
        let first = client.get(&url).send().await.unwrap();
        let size = first.bytes().await.map(|b| b.len()).unwrap_or(0);
        println!(
            "first render of a 300×200 webp fill: {:.1} ms ({size} bytes)",
            started.elapsed().as_secs_f64() * 1000.0
        );
        let pid = server.child.id();
        let cpu_before = cpu_time(pid);
        let stats = drive(32, Duration::from_secs(5), move |c, _| {
            let url = url.clone();
            async move {
                match c.get(&url).send().await {
                    Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                    _ => false,
                }
            }
        })
        .await;
        stats.print("GET transformed URL, cache hit (32 conns)");
        let per = (cpu_time(pid) - cpu_before).as_secs_f64() * 1e6 / stats.ok.max(1) as f64;
        println!(
            "  server CPU per hit: {per:.0} µs, i.e. {:.0} hits/s if the server had 2 idle cores",
            2e6 / per
        );
    }
    println!(
        "peak RSS after media scenarios: {:.1} MB",
        server.peak_rss_kib() as f64 / 1024.0
    );
}
