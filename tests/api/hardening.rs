//! Issue 13: what testing against the original web client, the wire
//! contract and attack probes found. Each test failed before its fix.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{TestServer, TestUser};

const HOME: (f64, f64) = (36.817223, -1.286389);

/// A date the booking horizon accepts.
fn soon() -> String {
    (chrono::Utc::now() + chrono::Duration::days(20))
        .format("%Y-%m-%d")
        .to_string()
}

fn find_body() -> Value {
    json!({"serviceCategory": "plumbing", "location": {"type": "Point", "coordinates": [HOME.0, HOME.1], "address": "123 Main St, Nairobi"},
           "urgency": "medium", "budget": 5000, "description": "Leaking kitchen sink"})
}

/// A technician set up as the web client does it: profile with skills,
/// location and rate, then availability.
async fn web_technician(s: &TestServer) -> TestUser {
    let tech = s.register("technician").await;
    s.put(
        &format!("/api/v1/users/{}", tech.id),
        Some(&tech.token),
        json!({"bio": "Licensed plumber",
               "location": {"type": "Point", "coordinates": [HOME.0 + 0.005, HOME.1], "address": "Kenyatta Ave", "city": "Nairobi"},
               "skills": [{"name": "Pipe fitting", "category": "plumbing", "proficiency": 80, "yearsOfExperience": 5}],
               "hourlyRate": 1500, "serviceRadius": 20, "yearsOfExperience": 5}),
    )
    .await
    .expect(200);
    s.put(
        &format!("/api/v1/users/{}/availability", tech.id),
        Some(&tech.token),
        json!({"isAvailable": true, "schedule": [{"dayOfWeek": 1, "startTime": "08:00", "endTime": "17:00"}]}),
    )
    .await
    .expect(200);
    tech
}

fn matched<'a>(res: &'a Value, tech: &str) -> Option<&'a Value> {
    res["data"]
        .as_array()?
        .iter()
        .find(|m| m["technician"]["_id"] == tech)
}

async fn find(s: &TestServer, who: &TestUser) -> Value {
    s.post(
        "/api/v1/matching/find-technicians",
        Some(&who.token),
        find_body(),
    )
    .await
    .expect(200)
}

/// The original web client's flow on the defaults: register both roles,
/// profile, availability, find the technician (matching and nearby), book
/// from a match, and the technician moves the booking to completed. With
/// KYC required (today's default before the fix) the search found nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_web_client_flow_works_with_the_defaults() {
    let s = TestServer::start().await;
    let customer = s.register("customer").await;
    let tech = web_technician(&s).await;
    s.get("/api/v1/auth/me", Some(&customer.token))
        .await
        .expect(200);

    let res = find(&s, &customer).await;
    let m = matched(&res, &tech.id).unwrap_or_else(|| panic!("not matched: {res}"));
    assert_eq!(m["technician"]["kyc"]["verified"], false, "{m}");
    let near = s
        .get(
            &format!(
                "/api/v1/users/nearby-technicians?lat={}&lng={}&radius=10",
                HOME.1, HOME.0
            ),
            Some(&customer.token),
        )
        .await
        .expect(200);
    let card = near["technicians"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["_id"] == tech.id.as_str())
        .unwrap_or_else(|| panic!("not nearby: {near}"));
    assert_eq!(card["kyc"], json!({"verified": false, "status": "none"}));
    let profile = s
        .get(&format!("/api/v1/users/{}", tech.id), None)
        .await
        .expect(200);
    assert_eq!(profile["user"]["kyc"]["verified"], false);

    let match_id = m["_id"].as_str().unwrap();
    let accepted = s
        .post(
            &format!("/api/v1/matching/{match_id}/accept"),
            Some(&customer.token),
            json!({"scheduledDate": "2099-10-15", "scheduledTime": "10:00", "description": "Fix the sink"}),
        )
        .await
        .expect(201);
    let booking = &accepted["data"]["booking"];
    assert_eq!(booking["serviceType"], "plumbing");
    let id = booking["_id"].as_str().unwrap().to_string();
    for status in [
        "accepted",
        "en_route",
        "arrived",
        "in_progress",
        "completed",
    ] {
        let res = s
            .put(
                &format!("/api/v1/bookings/{id}/status"),
                Some(&tech.token),
                json!({"status": status}),
            )
            .await
            .expect(200);
        assert_eq!(res["booking"]["status"], status);
    }
    // A direct booking of the unverified technician is accepted too.
    s.post(
        "/api/v1/bookings",
        Some(&customer.token),
        json!({"serviceCategory": "plumbing", "serviceType": "Leak repair", "description": "Another leak in the bathroom",
               "scheduledDate": soon(), "scheduledTime": "09:00",
               "location": {"type": "Point", "coordinates": [HOME.0, HOME.1], "address": "123 Main St"},
               "technician": tech.id, "budget": 2500}),
    )
    .await
    .expect(201);
}

/// With `require_technician_kyc` on, only approved technicians match, and
/// an approval shows in the very next search (the matching record cache
/// used to keep the old KYC status for up to 30 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kyc_required_and_approvals_show_at_once() {
    let s = TestServer::start_with(|c| c.require_technician_kyc = true).await;
    let customer = s.register("customer").await;
    let admin = s.staff("admin").await;
    let tech = web_technician(&s).await;
    assert!(matched(&find(&s, &customer).await, &tech.id).is_none());
    let front = crate::media::upload_png(&s, &tech.token).await;
    s.post(
        &format!("/api/v1/users/{}/kyc", tech.id),
        Some(&tech.token),
        json!({"idType": "passport", "idNumber": "AB123456", "idFrontImage": front["url"]}),
    )
    .await
    .expect(201);
    s.put(
        &format!("/api/v1/users/{}/kyc", tech.id),
        Some(&admin.token),
        json!({"status": "approved"}),
    )
    .await
    .expect(200);
    let res = find(&s, &customer).await;
    let m = matched(&res, &tech.id).unwrap_or_else(|| panic!("approved, not matched: {res}"));
    assert_eq!(m["technician"]["kyc"]["verified"], true);
    // Going offline takes the technician out of urgent searches at once.
    s.put(
        &format!("/api/v1/users/{}/availability", tech.id),
        Some(&tech.token),
        json!({"isAvailable": false}),
    )
    .await
    .expect(200);
    let mut urgent = find_body();
    urgent["urgency"] = json!("emergency");
    let res = s
        .post(
            "/api/v1/matching/find-technicians",
            Some(&customer.token),
            urgent,
        )
        .await
        .expect(200);
    assert!(matched(&res, &tech.id).is_none(), "{res}");
}

/// Wire defects: my-matches up to 100; budget with more than two decimals
/// is a 400 naming `budget` (it was stored rounded).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_limits_and_money() {
    let s = TestServer::start().await;
    let customer = s.register("customer").await;
    for (limit, status) in [("100", 200), ("1", 200), ("101", 400), ("0", 400)] {
        s.get(
            &format!("/api/v1/matching/my-matches?limit={limit}"),
            Some(&customer.token),
        )
        .await
        .expect(status);
    }
    for (budget, status) in [
        (json!(5000.555), 400),
        (json!("12.345"), 400),
        (json!(5000.55), 201),
    ] {
        let res = s
            .post(
                "/api/v1/bookings",
                Some(&customer.token),
                json!({"serviceCategory": "plumbing", "serviceType": "Sink repair", "description": "A leaking kitchen sink",
                       "scheduledDate": soon(), "scheduledTime": "09:00",
                       "location": {"type": "Point", "coordinates": [HOME.0, HOME.1], "address": "123 Main St"},
                       "budget": budget}),
            )
            .await
            .expect(status);
        if status == 400 {
            assert_eq!(res["errors"][0]["field"], "budget", "{res}");
        } else {
            assert_eq!(res["booking"]["budget"], 5000.55, "{res}");
        }
    }
}

/// Access tokens last 7 days (the original's clients never refresh) and
/// carry their sign-in, so that signing out kills them at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_the_access_token_of_that_session_only() {
    let s = TestServer::start().await;
    let u = s.register("customer").await;
    let claims = s.state.jwt.verify(&u.token, "access").unwrap();
    assert_eq!(claims.exp - claims.iat, 7 * 24 * 3600);
    let other = s.login(&u.email, &u.password, "customer").await;
    s.get("/api/v1/auth/me", Some(&u.token)).await.expect(200);
    // The original's logout sends no refresh token.
    s.post("/api/v1/auth/logout", Some(&u.token), json!({}))
        .await
        .expect(200);
    s.get("/api/v1/auth/me", Some(&u.token)).await.expect(401);
    s.post(
        "/api/v1/auth/refresh",
        None,
        json!({"refreshToken": u.refresh}),
    )
    .await
    .expect(401);
    // The other sign-in is untouched, and refreshing keeps it signed in.
    s.get("/api/v1/auth/me", Some(&other.token))
        .await
        .expect(200);
    let fresh = s
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refreshToken": other.refresh}),
        )
        .await
        .expect(200);
    let token = fresh["token"].as_str().unwrap();
    s.get("/api/v1/auth/me", Some(token)).await.expect(200);
    s.post(
        "/api/v1/auth/logout",
        Some(token),
        json!({"refreshToken": fresh["refreshToken"]}),
    )
    .await
    .expect(200);
    for t in [token, other.token.as_str()] {
        s.get("/api/v1/auth/me", Some(t)).await.expect(401);
    }
}

async fn me(s: &TestServer, token: &str) -> crate::harness::Answer {
    s.get("/api/v1/auth/me", Some(token)).await
}

/// Role change by an admin and by the CLI (another process) sign the
/// account out at once: old access and refresh tokens stop working, even
/// right after they were served from the account cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_changes_sign_out_everywhere_including_the_cli() {
    let s = TestServer::start().await;
    let admin = s.staff("admin").await;
    let u = s.register("customer").await;
    assert_eq!(
        me(&s, &u.token).await.expect(200)["user"]["role"],
        "customer"
    );
    s.put(
        &format!("/api/v1/users/{}", u.id),
        Some(&admin.token),
        json!({"role": "technician"}),
    )
    .await
    .expect(200);
    me(&s, &u.token).await.expect(401);
    s.post(
        "/api/v1/auth/refresh",
        None,
        json!({"refreshToken": u.refresh}),
    )
    .await
    .expect(401);

    let u = s.login(&u.email, &u.password, "technician").await;
    // Cached by the request just before the other process writes.
    assert_eq!(
        me(&s, &u.token).await.expect(200)["user"]["role"],
        "technician"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_baitech"))
        .env("BAITECH_DATA_DIR", s.dir.path())
        .env("BAITECH_LOG_LEVEL", "warn")
        .env_remove("BAITECH_CONFIG")
        .args([
            "user", "set-role", "--email", &u.email, "--role", "customer",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    me(&s, &u.token).await.expect(401);
    s.post(
        "/api/v1/auth/refresh",
        None,
        json!({"refreshToken": u.refresh}),
    )
    .await
    .expect(401);
    let again = s.login(&u.email, &u.password, "customer").await;
    assert_eq!(
        me(&s, &again.token).await.expect(200)["user"]["role"],
        "customer"
    );
}

/// KYC documents must be the technician's own uploads, and their files are
/// served to the owner and staff only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kyc_documents_are_own_uploads_served_privately() {
    let s = TestServer::start().await;
    let tech = s.register("technician").await;
    let stranger = s.register("customer").await;
    let admin = s.staff("admin").await;
    let support = s.staff("support").await;
    let kyc = format!("/api/v1/users/{}/kyc", tech.id);
    let theirs = crate::media::upload_png(&s, &stranger.token).await;
    let mine = crate::media::upload_png(&s, &tech.token).await;
    for front in [
        json!("https://cdn.example.com/id.jpg"),
        theirs["url"].clone(),
        json!({"url": "https://x.example/y.jpg", "publicId": theirs["publicId"]}),
    ] {
        let res = s
            .post(
                &kyc,
                Some(&tech.token),
                json!({"idType": "passport", "idNumber": "AB123456", "idFrontImage": front}),
            )
            .await
            .expect(400);
        assert_eq!(res["errors"][0]["field"], "idFrontImage", "{res}");
    }
    let file = mine["url"].as_str().unwrap().to_string();
    let path = file
        .split_once("/media/files/")
        .map(|(_, p)| format!("/media/files/{p}"))
        .unwrap();
    // Public before it becomes a KYC document (an ordinary upload).
    s.get(&path, None).await.expect(200);
    s.post(
        &kyc,
        Some(&tech.token),
        json!({"idType": "passport", "idNumber": "AB123456",
               "idFrontImage": {"url": "https://elsewhere.example/copy.png", "publicId": mine["publicId"]}}),
    )
    .await
    .expect(201);
    for (who, token, status) in [
        ("anonymous", None, 404),
        ("stranger", Some(stranger.token.as_str()), 404),
        ("owner", Some(tech.token.as_str()), 200),
        ("admin", Some(admin.token.as_str()), 200),
        ("support", Some(support.token.as_str()), 200),
    ] {
        let res = s.get(&path, token).await;
        assert_eq!(res.status.as_u16(), status, "{who}");
    }
    // Still private after a restart: loaded from the submissions at start.
    let (config, db) = (s.state.config.clone(), s.state.db.clone());
    let public_id = mine["publicId"].as_str().unwrap().to_string();
    let reloaded = tokio::task::spawn_blocking(move || {
        let again = baitech::media::Media::open(&config).unwrap();
        baitech::media::load_private_documents(&again, &db).unwrap();
        again.is_private(&public_id)
    })
    .await
    .unwrap();
    assert!(reloaded);
}

/// `/metrics` is for loopback (not through a proxy) unless a token is set;
/// with a token, only bearers of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_loopback_or_the_token() {
    let s = TestServer::start().await;
    s.get("/metrics", None).await.expect(200);
    let proxied = s
        .client
        .get(s.url("/metrics"))
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.status().as_u16(), 403);
    let s = TestServer::start_with(|c| c.metrics_token = "scrape-me-please".into()).await;
    let u = s.register("customer").await;
    s.get("/metrics", None).await.expect(401);
    s.get("/metrics", Some(&u.token)).await.expect(401);
    let ok = s.get("/metrics", Some("scrape-me-please")).await;
    assert_eq!(ok.status.as_u16(), 200);
}

/// `GET /users` lists admin and support accounts to staff only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_accounts_are_listed_to_staff_only() {
    let s = TestServer::start().await;
    let admin = s.staff("admin").await;
    let support = s.staff("support").await;
    let customer = s.register("customer").await;
    let ids = |v: &Value| -> Vec<String> {
        v["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["_id"].as_str().unwrap().to_string())
            .collect()
    };
    for (who, token, sees_staff) in [
        ("anonymous", None, false),
        ("customer", Some(customer.token.as_str()), false),
        ("support", Some(support.token.as_str()), true),
        ("admin", Some(admin.token.as_str()), true),
    ] {
        for query in ["", "?role=admin", "?role=support", "?search=Staff"] {
            let res = s
                .get(&format!("/api/v1/users{query}"), token)
                .await
                .expect(200);
            let listed = ids(&res);
            let shows = listed.contains(&admin.id) || listed.contains(&support.id);
            if query.is_empty() {
                assert!(listed.contains(&customer.id), "{who}");
            }
            if query.is_empty() || query == "?role=admin" {
                assert_eq!(shows, sees_staff, "{who} {query}: {res}");
            }
            if !sees_staff {
                assert!(!shows, "{who} {query}");
                if query.starts_with("?role=") {
                    assert_eq!(res["total"], 0, "{who} {query}: {res}");
                }
            }
        }
    }
}

async fn read_until_closed(
    stream: &mut tokio::net::TcpStream,
    within: Duration,
) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(within, read).await.ok().map(|_| out)
}

/// Slow clients: a connection that never finishes its headers, or goes
/// silent in the middle of a body, is closed; connections beyond the cap
/// wait for a free slot instead of being served all at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_connections_capped() {
    let s = TestServer::start_with(|c| {
        c.http_header_timeout_secs = 1;
        c.http_idle_timeout_secs = 2;
        c.http_max_connections = 2;
    })
    .await;
    // Dribbled headers: a byte every 200 ms, never done: closed by the header timeout.
    let mut slow = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let dribble = async {
        for b in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaa".iter() {
            if slow.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(8), dribble)
        .await
        .ok();
    let closed = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    assert!(closed.is_some(), "a dribbling client is still connected");

    // A body that stops arriving: closed by the idle timeout.
    let mut stalled = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    stalled
        .write_all(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"email\"")
        .await
        .unwrap();
    let closed = read_until_closed(&mut stalled, Duration::from_secs(8)).await;
    assert!(closed.is_some(), "a stalled body keeps its connection");

    // Cap of 2: two silent connections hold both slots; a third client is
    // answered once they are cut off, not before.
    let hold_a = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let hold_b = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    third
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    let early = tokio::time::timeout(Duration::from_millis(400), third.read(&mut first)).await;
    assert!(early.is_err(), "served beyond the connection cap");
    let answer = read_until_closed(&mut third, Duration::from_secs(8))
        .await
        .expect("answered once a slot was free");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    drop((hold_a, hold_b));
    // And the server keeps serving normally.
    s.get("/health", None).await.expect(200);
}
