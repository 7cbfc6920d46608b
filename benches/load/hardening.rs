//! Issue-13 scenarios: `/health` while clients loop an upload bomb
//! (`hardening-gif-bomb`), and while a thousand clients dribble headers
//! they never finish (`hardening-slow-clients`).

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{drive, wanted, Server};

const BOUNDARY: &str = "----baitech-hardening-bench";

/// A GIF of `frames` 1×1 frames on a `w` × `h` canvas.
fn canvas_gif(w: u16, h: u16, frames: usize) -> Vec<u8> {
    let mut g = b"GIF89a".to_vec();
    g.extend_from_slice(&w.to_le_bytes());
    g.extend_from_slice(&h.to_le_bytes());
    g.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF]);
    for _ in 0..frames {
        g.extend_from_slice(&[0x21, 0xF9, 4, 0, 1, 0, 0, 0]);
        g.extend_from_slice(&[0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 1, 0]);
    }
    g.push(0x3B);
    g
}

async fn health(server: &Server, label: &str) {
    let url = server.url("/health");
    let stats = drive(2, Duration::from_secs(4), move |c, _| {
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
    stats.print(label);
}

pub async fn run() {
    if !(wanted("hardening-gif-bomb") || wanted("hardening-slow-clients")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("BAITECH_HTTP_HEADER_TIMEOUT_SECS", "5")]).await;
    health(&server, "GET /health (2 conns, quiet)").await;

    if wanted("hardening-gif-bomb") {
        let client = reqwest::Client::new();
        let body: Value = client
            .post(server.url("/api/v1/auth/register"))
            .json(
                &json!({"firstName": "Bomb", "lastName": "Bench", "email": "bomb-bench@example.com",
                          "phoneNumber": "0711000098", "password": "correct horse battery"}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = body["token"].as_str().unwrap_or_default().to_string();
        let gif = canvas_gif(4000, 4000, 150);
        let mut form = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"bomb.gif\"\r\nContent-Type: image/gif\r\n\r\n"
        )
        .into_bytes();
        form.extend_from_slice(&gif);
        form.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        println!(
            "upload bomb: {} bytes, 4000×4000 canvas, 150 frames",
            gif.len()
        );
        let form = bytes::Bytes::from(form);
        let url = server.url("/api/v1/media/upload/image");
        let bombs = tokio::spawn(drive(4, Duration::from_secs(6), move |c, _| {
            let (url, token, form) = (url.clone(), token.clone(), form.clone());
            async move {
                c.post(&url)
                    .bearer_auth(token)
                    .header(
                        "content-type",
                        format!("multipart/form-data; boundary={BOUNDARY}"),
                    )
                    .body(form)
                    .send()
                    .await
                    .map(|r| r.status().as_u16() == 413)
                    .unwrap_or(false)
            }
        }));
        tokio::time::sleep(Duration::from_millis(300)).await;
        health(&server, "GET /health while 4 clients loop the bomb").await;
        bombs
            .await
            .unwrap()
            .print("  (POST the bomb, 413 expected, 4 conns)");
        println!(
            "  peak RSS: {:.1} MB",
            server.peak_rss_kib() as f64 / 1024.0
        );
    }

    if wanted("hardening-slow-clients") {
        let n = 1000;
        let mut slow = Vec::with_capacity(n);
        for _ in 0..n {
            if let Ok(mut s) =
                tokio::net::TcpStream::connect(server.base.trim_start_matches("http://")).await
            {
                let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").await;
                slow.push(s);
            }
        }
        println!("{} connections that never finish their headers", slow.len());
        health(&server, "GET /health with them connected").await;
        let started = Instant::now();
        let mut open = slow.len();
        while open > 0 && started.elapsed() < Duration::from_secs(20) {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let mut still = 0;
            for s in &mut slow {
                let mut b = [0u8; 64];
                if tokio::time::timeout(Duration::from_millis(1), s.read(&mut b))
                    .await
                    .is_err()
                {
                    still += 1;
                }
            }
            open = still;
        }
        println!(
            "  all closed by the server {:.1} s after the health run (header timeout 5 s); {open} left open",
            started.elapsed().as_secs_f64()
        );
        println!("  RSS: {:.1} MB", server.rss_kib() as f64 / 1024.0);
    }
}
