//! `/api/v1/auth`: registration, sign-in, sessions, 2FA, email links, limits.

use std::time::Duration;

use crate::harness::{phone, TestServer};
use crate::smtp::{link_containing, FakeSmtp};
use serde_json::{json, Value};

/// Messages in the dev outbox addressed to `email`, oldest first.
async fn outbox_for(s: &TestServer, email: &str) -> Vec<String> {
    let dir = s.dir.path().join("outbox");
    let mut found = Vec::new();
    for _ in 0..200 {
        found.clear();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            let mut names: Vec<_> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect();
            names.sort();
            for p in names {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                if text.contains(&format!("To: {email}")) {
                    found.push(text);
                }
            }
        }
        if !found.is_empty() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    found
}

fn token_after(message: &str, marker: &str) -> String {
    let link = link_containing(message, marker)
        .unwrap_or_else(|| panic!("no link with {marker} in {message}"));
    link.rsplit('/').next().unwrap().to_string()
}

fn register_body(email: &str) -> Value {
    json!({"firstName": "Wanjiku", "lastName": "Kamau", "email": email, "phoneNumber": phone(), "password": "correct horse battery"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_normalises_stores_a_hash_and_answers_the_wire_keys() {
    let s = TestServer::start().await;
    let body = s
        .post(
            "/api/v1/auth/register",
            None,
            json!({"firstName": " Wanjiku ", "lastName": "Kamau", "email": "Wanjiku.Kamau+jobs@GoogleMail.com",
                   "phoneNumber": "0712 000 111", "password": "correct horse battery", "role": "technician",
                   "location": {"coordinates": [36.8172, -1.2864], "address": "Moi Avenue", "city": "Nairobi"}}),
        )
        .await
        .expect(201);
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for k in ["success", "message", "token", "refreshToken", "user"] {
        assert!(keys.contains(&k), "missing {k} in {body}");
    }
    let user = &body["user"];
    assert_eq!(user["email"], "wanjikukamau@gmail.com");
    assert_eq!(user["phoneNumber"], "+254712000111");
    assert_eq!(user["firstName"], "Wanjiku");
    assert_eq!(user["role"], "technician");
    assert_eq!(user["isEmailVerified"], false);
    assert_eq!(user["_id"], user["id"]);
    assert!(user["createdAt"].as_str().unwrap().ends_with('Z'));
    let raw = body.to_string();
    assert!(!raw.contains("argon2") && !raw.contains("passwordHash"));
    let id = user["_id"].as_str().unwrap().to_string();
    let (hash, lat, city): (String, f64, String) = s
        .query(move |c| {
            c.query_row(
                "SELECT password_hash, location_lat, location_city FROM users WHERE id = ?1",
                [&id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
        })
        .await;
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert_eq!((lat, city.as_str()), (-1.2864, "Nairobi"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_refuses_bad_input_naming_each_field() {
    let s = TestServer::start().await;
    let body = s
        .post("/api/v1/auth/register", None, json!({}))
        .await
        .expect(400);
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in ["firstName", "lastName", "email", "phoneNumber", "password"] {
        assert!(fields.contains(&f), "{f} not named in {body}");
    }
    let cases = [
        (json!({"email": "not-an-email"}), "email"),
        (json!({"phoneNumber": "0812345678"}), "phoneNumber"),
        (json!({"password": "short"}), "password"),
        (json!({"password": "password123"}), "password"),
        (json!({"role": "admin"}), "role"),
        (json!({"role": "support"}), "role"),
        (
            json!({"location": {"coordinates": [200, 0]}}),
            "location.coordinates",
        ),
        (json!({"firstName": 42}), "firstName"),
    ];
    for (patch, field) in cases {
        let mut b = register_body("someone@example.com");
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        let res = s.post("/api/v1/auth/register", None, b).await.expect(400);
        assert_eq!(res["success"], false);
        assert!(
            res["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "{field}: {res}"
        );
    }
    let count: i64 = s
        .query(|c| c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0)))
        .await;
    assert_eq!(count, 0, "nothing half-written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_ignores_privileged_fields_and_refuses_duplicates() {
    let s = TestServer::start().await;
    let mut b = register_body("dup@example.com");
    b["status"] = json!("banned");
    b["isEmailVerified"] = json!(true);
    b["rating"] = json!({"average": 5, "count": 1000});
    b["kycStatus"] = json!("approved");
    b["$where"] = json!("1 == 1");
    let body = s
        .post("/api/v1/auth/register", None, b.clone())
        .await
        .expect(201);
    assert_eq!(body["user"]["status"], "active");
    assert_eq!(body["user"]["isEmailVerified"], false);
    assert_eq!(body["user"]["rating"]["count"], 0);
    let id = body["user"]["_id"].as_str().unwrap().to_string();
    let kyc: String = s
        .query(move |c| {
            c.query_row("SELECT kyc_status FROM users WHERE id = ?1", [&id], |r| {
                r.get(0)
            })
        })
        .await;
    assert_eq!(kyc, "none");

    // Same email in another spelling, and the same phone in another format.
    let mut again = register_body("DUP@example.com");
    again["phoneNumber"] = json!(phone());
    let res = s
        .post("/api/v1/auth/register", None, again)
        .await
        .expect(409);
    assert_eq!(res["message"], "Email already registered");
    let local = b["phoneNumber"].as_str().unwrap().to_string();
    let mut same_phone = register_body("other@example.com");
    same_phone["phoneNumber"] = json!(format!("+254{}", &local[1..]));
    let res = s
        .post("/api/v1/auth/register", None, same_phone)
        .await
        .expect(409);
    assert_eq!(res["message"], "Phone number already registered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_looking_input_is_just_data() {
    let s = TestServer::start().await;
    let res = s
        .post("/api/v1/auth/login", None, json!({"email": "x@example.com' OR '1'='1", "password": "' OR 1=1; DROP TABLE users; --"}))
        .await;
    assert_eq!(res.status.as_u16(), 400);
    let mut b = register_body("bobby@example.com");
    b["firstName"] = json!("Robert'); DROP TABLE users;--");
    let body = s.post("/api/v1/auth/register", None, b).await.expect(201);
    assert_eq!(body["user"]["firstName"], "Robert'); DROP TABLE users;--");
    let res = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "bobby@example.com", "password": {"$ne": ""}}),
        )
        .await;
    assert_eq!(res.status.as_u16(), 400, "{}", res.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_answers_tokens_and_records_every_attempt() {
    let s = TestServer::start().await;
    let u = s.register("customer").await;
    let bad = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": u.email, "password": "wrong password!"}),
        )
        .await
        .expect(401);
    assert_eq!(
        bad,
        json!({"success": false, "message": "Invalid credentials"})
    );
    let unknown = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "nobody@example.com", "password": "whatever123"}),
        )
        .await
        .expect(401);
    assert_eq!(unknown["message"], "Invalid credentials");
    let ok = s
        .client
        .post(s.url("/api/v1/auth/login"))
        .header("user-agent", "BaiTechApp/1.0 (Android)")
        .json(&json!({"email": u.email.to_uppercase(), "password": u.password}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let ok: Value = ok.json().await.unwrap();
    assert_eq!(ok["success"], true);
    assert!(ok["token"].is_string() && ok["refreshToken"].is_string());
    assert_eq!(ok["user"]["rating"], json!({"average": 0.0, "count": 0}));

    let history = s
        .get("/api/v1/auth/login-history", Some(&u.token))
        .await
        .expect(200);
    for k in ["success", "count", "total", "page", "pages", "loginHistory"] {
        assert!(history.get(k).is_some(), "{k} missing: {history}");
    }
    let outcomes: Vec<&str> = history["loginHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["success", "bad_password", "registered"]);
    assert_eq!(
        history["loginHistory"][0]["device"],
        "BaiTechApp/1.0 (Android)"
    );
    assert_eq!(history["loginHistory"][0]["ipAddress"], "127.0.0.1");
    let bad_page = s
        .get("/api/v1/auth/login-history?limit=1000", Some(&u.token))
        .await
        .expect(400);
    assert_eq!(bad_page["errors"][0]["field"], "limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inactive_accounts_are_refused_after_the_password() {
    let s = TestServer::start().await;
    let u = s.register("technician").await;
    let id = u.id.clone();
    s.state
        .db
        .write(move |tx| {
            Ok(tx.execute("UPDATE users SET status = 'suspended' WHERE id = ?1", [&id])?)
        })
        .await
        .unwrap();
    let wrong = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": u.email, "password": "not the password"}),
        )
        .await;
    assert_eq!(
        wrong.status.as_u16(),
        401,
        "a wrong password says nothing about the account"
    );
    let res = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": u.email, "password": u.password}),
        )
        .await
        .expect(403);
    assert_eq!(
        res["message"],
        "Account is suspended. Please contact support."
    );
    let me = s.get("/api/v1/auth/me", Some(&u.token)).await.expect(403);
    assert_eq!(
        me["message"],
        "Account is suspended. Please contact support."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_is_throttled_after_repeated_failures_even_with_ip_limits_off() {
    let s = TestServer::start_with(|c| c.account_failed_logins_per_15min = 3).await;
    let u = s.register("customer").await;
    for _ in 0..3 {
        s.post(
            "/api/v1/auth/login",
            None,
            json!({"email": u.email, "password": "wrong password!"}),
        )
        .await
        .expect(401);
    }
    let res = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": u.email, "password": u.password}),
        )
        .await;
    assert_eq!(res.status.as_u16(), 429, "{}", res.body);
    let retry: u64 = res.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 900);
    assert_eq!(res.body["success"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_ip_limits_answer_429_json_with_retry_after() {
    let s = TestServer::start_with(|c| {
        c.rate_limits = baitech::config::OnOff::On;
        c.rate_limit_auth_per_min = 2;
    })
    .await;
    for _ in 0..2 {
        s.post(
            "/api/v1/auth/login",
            None,
            json!({"email": "a@example.com", "password": "whatever123"}),
        )
        .await
        .expect(401);
    }
    let res = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "a@example.com", "password": "whatever123"}),
        )
        .await;
    assert_eq!(res.status.as_u16(), 429);
    assert!(res.headers.get("retry-after").is_some());
    assert_eq!(res.headers["content-type"], "application/json");
    assert_eq!(res.body["success"], false);
    // health is never limited
    s.get("/health", None).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_global_limit_covers_every_api_route() {
    let s = TestServer::start_with(|c| {
        c.rate_limits = baitech::config::OnOff::On;
        c.rate_limit_global_per_min = 3;
    })
    .await;
    for _ in 0..3 {
        s.get("/api/v1/auth/me", None).await.expect(401);
    }
    s.get("/api/v1/auth/me", None).await.expect(429);
    s.get("/health", None).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_checked_strictly() {
    let s = TestServer::start().await;
    let none = s.get("/api/v1/auth/me", None).await.expect(401);
    assert_eq!(
        none["message"],
        "Not authorized to access this route. Please login."
    );
    let garbage = s
        .get("/api/v1/auth/me", Some("not.a.jwt"))
        .await
        .expect(401);
    assert_eq!(
        garbage["message"],
        "Invalid or expired token. Please login again."
    );
    let res = s
        .client
        .get(s.url("/api/v1/auth/me"))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    // a token signed with another secret
    let other = baitech::auth::tokens::JwtKeys::new(b"some other secret of enough length!!");
    let u = s.register("customer").await;
    let forged = other.sign(&u.id, "access", 0, 60);
    s.get("/api/v1/auth/me", Some(&forged)).await.expect(401);
    // an expired token of ours
    let expired = s.state.jwt.sign(&u.id, "access", 0, 0);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let _ = expired; // leeway is 5 s; craft one explicitly expired instead
    let keys = std::fs::read_to_string(s.dir.path().join("jwt.secret")).unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"id": u.id, "typ": "access", "ver": 0, "iat": now - 100, "exp": now - 60});
    let old = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(keys.trim().as_bytes()),
    )
    .unwrap();
    s.get("/api/v1/auth/me", Some(&old)).await.expect(401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_and_a_reused_token_revokes_the_family() {
    let s = TestServer::start().await;
    let u = s.register("customer").await;
    let first = s
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refreshToken": u.refresh}),
        )
        .await
        .expect(200);
    assert_eq!(first.as_object().unwrap().len(), 3, "{first}");
    let second_token = first["refreshToken"].as_str().unwrap().to_string();
    assert_ne!(second_token, u.refresh);
    s.get("/api/v1/auth/me", Some(first["token"].as_str().unwrap()))
        .await
        .expect(200);
    // The rotated token presented again: refused, and the whole family dies.
    s.post(
        "/api/v1/auth/refresh",
        None,
        json!({"refreshToken": u.refresh}),
    )
    .await
    .expect(401);
    s.post(
        "/api/v1/auth/refresh",
        None,
        json!({"refreshToken": second_token}),
    )
    .await
    .expect(401);
    s.post("/api/v1/auth/refresh", None, json!({}))
        .await
        .expect(400);
    s.post(
        "/api/v1/auth/refresh",
        None,
        json!({"refreshToken": "abc.def"}),
    )
    .await
    .expect(401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_the_session() {
    let s = TestServer::start().await;
    let u = s.register("customer").await;
    let body = s
        .post(
            "/api/v1/auth/logout",
            Some(&u.token),
            json!({"refreshToken": u.refresh}),
        )
        .await
        .expect(200);
    assert_eq!(
        body,
        json!({"success": true, "message": "Logged out successfully"})
    );
    s.post(
        "/api/v1/auth/refresh",
        None,
        json!({"refreshToken": u.refresh}),
    )
    .await
    .expect(401);
    s.post("/api/v1/auth/logout", None, json!({}))
        .await
        .expect(401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_verification_link_works_once() {
    let s = TestServer::start().await;
    let u = s.register("customer").await;
    let mail = outbox_for(&s, &u.email).await;
    assert_eq!(mail.len(), 1);
    let token = token_after(&mail[0], "/verify-email/");
    // Read (and so cached) before the change, fresh right after it.
    let me = s.get("/api/v1/auth/me", Some(&u.token)).await.expect(200);
    assert_eq!(me["user"]["isEmailVerified"], false);
    let body = s
        .get(&format!("/api/v1/auth/verify-email/{token}"), None)
        .await
        .expect(200);
    assert_eq!(
        body,
        json!({"success": true, "message": "Email verified successfully"})
    );
    let me = s.get("/api/v1/auth/me", Some(&u.token)).await.expect(200);
    assert_eq!(me["user"]["isEmailVerified"], true);
    s.get(&format!("/api/v1/auth/verify-email/{token}"), None)
        .await
        .expect(400);
    s.get("/api/v1/auth/verify-email/deadbeef", None)
        .await
        .expect(400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_reset_flow_revokes_old_sessions() {
    let s = TestServer::start().await;
    let u = s.register("customer").await;
    let same =
        json!({"success": true, "message": "If the email exists, a reset link has been sent"});
    assert_eq!(
        s.post(
            "/api/v1/auth/forgot-password",
            None,
            json!({"email": "nobody@example.com"})
        )
        .await
        .expect(200),
        same
    );
    assert_eq!(
        s.post(
            "/api/v1/auth/forgot-password",
            None,
            json!({"email": u.email})
        )
        .await
        .expect(200),
        same
    );
    let mail = outbox_for(&s, &u.email).await;
    let reset = mail
        .iter()
        .find(|m| m.contains("Reset your BaiTech password"))
        .cloned();
    let reset = match reset {
        Some(m) => m,
        None => {
            tokio::time::sleep(Duration::from_millis(300)).await;
            outbox_for(&s, &u.email)
                .await
                .into_iter()
                .find(|m| m.contains("Reset your BaiTech password"))
                .expect("reset mail")
        }
    };
    let token = token_after(&reset, "/reset-password/");
    let weak = s
        .post(
            &format!("/api/v1/auth/reset-password/{token}"),
            None,
            json!({"password": "12345678"}),
        )
        .await
        .expect(400);
    assert_eq!(weak["errors"][0]["field"], "password");
    let body = s
        .post(
            &format!("/api/v1/auth/reset-password/{token}"),
            None,
            json!({"password": "a brand new secret"}),
        )
        .await
        .expect(200);
    assert_eq!(body["message"], "Password reset successful");
    assert!(body["token"].is_string());
    // single use
    s.post(
        &format!("/api/v1/auth/reset-password/{token}"),
        None,
        json!({"password": "another new secret"}),
    )
    .await
    .expect(400);
    // old sessions are gone; the new password works, the old one does not
    s.get("/api/v1/auth/me", Some(&u.token)).await.expect(401);
    s.post(
        "/api/v1/auth/refresh",
        None,
        json!({"refreshToken": u.refresh}),
    )
    .await
    .expect(401);
    s.post(
        "/api/v1/auth/login",
        None,
        json!({"email": u.email, "password": u.password}),
    )
    .await
    .expect(401);
    s.post(
        "/api/v1/auth/login",
        None,
        json!({"email": u.email, "password": "a brand new secret"}),
    )
    .await
    .expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_reset_tokens_are_refused() {
    let s = TestServer::start().await;
    let u = s.register("customer").await;
    s.post(
        "/api/v1/auth/forgot-password",
        None,
        json!({"email": u.email}),
    )
    .await
    .expect(200);
    let id = u.id.clone();
    let raw = s
        .state
        .db
        .write(move |tx| {
            let raw = baitech::auth::store::issue_one_time_token(tx, &id, "reset_password", -1000)?;
            Ok(raw)
        })
        .await
        .unwrap();
    let res = s
        .post(
            &format!("/api/v1/auth/reset-password/{raw}"),
            None,
            json!({"password": "a brand new secret"}),
        )
        .await
        .expect(400);
    assert_eq!(res["message"], "Invalid or expired reset token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_password_revokes_every_other_session() {
    let s = TestServer::start().await;
    let u = s.register("customer").await;
    let other = s.login(&u.email, &u.password, "customer").await;
    s.post(
        "/api/v1/auth/change-password",
        Some(&u.token),
        json!({"currentPassword": "wrong one!", "newPassword": "a brand new secret"}),
    )
    .await
    .expect(401);
    let body = s
        .post(
            "/api/v1/auth/change-password",
            Some(&u.token),
            json!({"currentPassword": u.password, "newPassword": "a brand new secret"}),
        )
        .await
        .expect(200);
    s.get("/api/v1/auth/me", Some(&other.token))
        .await
        .expect(401);
    s.get("/api/v1/auth/me", Some(&u.token)).await.expect(401);
    s.post(
        "/api/v1/auth/refresh",
        None,
        json!({"refreshToken": other.refresh}),
    )
    .await
    .expect(401);
    s.get("/api/v1/auth/me", Some(body["token"].as_str().unwrap()))
        .await
        .expect(200);
}

fn code_now(secret: &str) -> String {
    baitech::auth::totp::code_at(secret, chrono::Utc::now().timestamp() as u64).unwrap()
}

/// Waits for the next 30 s TOTP step so a fresh code exists.
async fn next_step() {
    let now = chrono::Utc::now().timestamp_millis();
    let wait = 30_000 - (now % 30_000) + 50;
    tokio::time::sleep(Duration::from_millis(wait as u64)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_factor_setup_login_replay_recovery_and_disable() {
    let s = TestServer::start().await;
    let u = s.register("technician").await;
    s.post(
        "/api/v1/auth/enable-2fa",
        Some(&u.token),
        json!({"code": "123456"}),
    )
    .await
    .expect(400);
    let setup = s
        .post("/api/v1/auth/setup-2fa", Some(&u.token), json!({}))
        .await
        .expect(200);
    let secret = setup["secret"].as_str().unwrap().to_string();
    assert!(setup["otpauthUrl"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/BaiTech:"));
    assert!(setup["qrCode"]
        .as_str()
        .unwrap()
        .starts_with("data:image/png;base64,"));
    s.post(
        "/api/v1/auth/enable-2fa",
        Some(&u.token),
        json!({"code": "000000"}),
    )
    .await
    .expect(400);
    let enabled = s
        .post(
            "/api/v1/auth/enable-2fa",
            Some(&u.token),
            json!({"code": code_now(&secret)}),
        )
        .await
        .expect(200);
    let recovery: Vec<String> = enabled["recoveryCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(recovery.len(), 10);
    let me = s.get("/api/v1/auth/me", Some(&u.token)).await.expect(200);
    assert!(
        !me.to_string().contains(&secret),
        "the 2FA secret never leaves again"
    );
    let stored: i64 = s
        .query(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM recovery_codes WHERE code_hash NOT LIKE '%-%'",
                [],
                |r| r.get(0),
            )
        })
        .await;
    assert_eq!(stored, 10);

    // Login now answers a challenge; the challenge token is not an access token.
    let challenge = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": u.email, "password": u.password}),
        )
        .await
        .expect(200);
    assert_eq!(challenge["requires2FA"], true);
    assert!(challenge.get("token").is_none());
    let temp = challenge["tempToken"].as_str().unwrap().to_string();
    s.get("/api/v1/auth/me", Some(&temp)).await.expect(401);
    s.post(
        "/api/v1/auth/verify-2fa",
        None,
        json!({"tempToken": temp, "code": "000000"}),
    )
    .await
    .expect(401);

    // The code used at enable time is spent; wait for the next step.
    next_step().await;
    let code = code_now(&secret);
    let ok = s
        .post(
            "/api/v1/auth/verify-2fa",
            None,
            json!({"tempToken": temp, "code": code}),
        )
        .await
        .expect(200);
    assert!(ok["token"].is_string() && ok["refreshToken"].is_string());
    assert_eq!(ok["user"]["_id"], u.id.as_str());
    let replay = s
        .post(
            "/api/v1/auth/verify-2fa",
            None,
            json!({"tempToken": temp, "code": code}),
        )
        .await
        .expect(401);
    assert_eq!(replay["message"], "Invalid 2FA code");

    // A recovery code works once.
    let rc = recovery[0].clone();
    s.post(
        "/api/v1/auth/verify-2fa",
        None,
        json!({"tempToken": temp, "code": rc.to_uppercase()}),
    )
    .await
    .expect(200);
    s.post(
        "/api/v1/auth/verify-2fa",
        None,
        json!({"tempToken": temp, "code": rc}),
    )
    .await
    .expect(401);

    // Disable needs the password and a valid code.
    let token = ok["token"].as_str().unwrap().to_string();
    s.post(
        "/api/v1/auth/disable-2fa",
        Some(&token),
        json!({"code": recovery[1], "password": "wrong password"}),
    )
    .await
    .expect(401);
    s.post(
        "/api/v1/auth/disable-2fa",
        Some(&token),
        json!({"code": recovery[1], "password": u.password}),
    )
    .await
    .expect(200);
    let plain = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": u.email, "password": u.password}),
        )
        .await
        .expect(200);
    assert!(plain["token"].is_string());
    s.post(
        "/api/v1/auth/disable-2fa",
        Some(&token),
        json!({"code": "123456", "password": u.password}),
    )
    .await
    .expect(400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emails_go_through_smtp_when_configured() {
    let smtp = FakeSmtp::start(false).await;
    let port = smtp.port;
    let s = TestServer::start_with(move |c| {
        c.smtp_host = "127.0.0.1".into();
        c.smtp_port = port;
        c.smtp_tls = baitech::config::SmtpTls::None;
        c.smtp_from = "BaiTech <no-reply@baitech.test>".into();
    })
    .await;
    let u = s.register("customer").await;
    s.eventually("the verification email to arrive", || {
        let n = smtp.received().len();
        async move { n == 1 }
    })
    .await;
    let message = smtp.received().remove(0);
    assert!(message.contains(&format!("To: {}", u.email)), "{message}");
    assert!(message.contains("From: BaiTech <no-reply@baitech.test>"));
    let token = token_after(&message, "/verify-email/");
    s.get(&format!("/api/v1/auth/verify-email/{token}"), None)
        .await
        .expect(200);
    assert!(
        !s.dir.path().join("outbox").exists(),
        "nothing written to the dev outbox"
    );
}
