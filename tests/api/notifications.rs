//! `/api/v1/notifications`: the recipient-only routes, preferences, the
//! admin's notices and broadcasts, and delivery end to end: domain events →
//! notifications (once per event and recipient) → push (fake FCM), email
//! (real SMTP on loopback) and SMS (fake Africa's Talking), with quiet
//! hours, retries and dead letters.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::fake_at::FakeAt;
use crate::fake_fcm::FakeFcm;
use crate::harness::{TestServer, TestUser};
use crate::smtp::FakeSmtp;

// ---------------------------------------------------------------- helpers

async fn list(s: &TestServer, who: &TestUser, query: &str) -> Value {
    s.get(
        &format!("/api/v1/notifications?limit=100{query}"),
        Some(&who.token),
    )
    .await
    .expect(200)
}

/// The caller's notifications as `(type, title)`, oldest first.
async fn kinds(s: &TestServer, who: &TestUser) -> Vec<String> {
    let mut out: Vec<String> = list(s, who, "").await["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

async fn wait_for_count(s: &TestServer, who: &TestUser, n: usize) {
    s.eventually(&format!("{n} notifications for {}", who.email), || async {
        list(s, who, "").await["notifications"]
            .as_array()
            .unwrap()
            .len()
            >= n
    })
    .await;
}

/// Waits until no notification job is due or running.
async fn settle(s: &TestServer) {
    s.eventually("notification jobs settled", || async {
        s.query(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM jobs WHERE kind LIKE 'notifications.%' AND kind <> 'notifications.purge'
                 AND (status = 'running' OR (status = 'queued' AND run_at <= ?1 AND attempts = 0))",
                [baitech::ids::now_ms()],
                |r| r.get::<_, i64>(0),
            )
        })
        .await
            == 0
    })
    .await;
}

async fn emit(s: &TestServer, kind: &str, subject: &str, actor: &str, payload: Value) {
    let (k, sub, a) = (kind.to_string(), subject.to_string(), actor.to_string());
    s.state
        .db
        .write(move |tx| baitech::events::emit(tx, &k, Some(&sub), Some(&a), &payload))
        .await
        .unwrap();
}

async fn notice(s: &TestServer, admin: &TestUser, body: Value) -> Value {
    s.post("/api/v1/notifications", Some(&admin.token), body)
        .await
        .expect(201)["notification"]
        .clone()
}

fn note(recipient: &str, extra: Value) -> Value {
    let mut b = json!({"recipient": recipient, "type": "system_update", "title": "Maintenance", "message": "Tonight at 2am"});
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

async fn make_bookable(s: &TestServer, tech_id: &str) {
    let id = tech_id.to_string();
    s.state
        .db
        .write(move |tx| {
            tx.execute("UPDATE users SET kyc_status = 'approved' WHERE id = ?1", [&id])?;
            tx.execute(
                "INSERT OR IGNORE INTO user_skills (user_id, name, category, proficiency, years_experience)
                 VALUES (?1, 'plumbing work', 'plumbing', 80, 5)",
                [&id],
            )?;
            Ok(())
        })
        .await
        .unwrap();
}

fn e164(phone: &str) -> String {
    baitech::auth::policy::normalize_phone(phone).unwrap()
}

// ---------------------------------------------------------------- routes

#[tokio::test]
async fn a_notification_is_for_its_recipient_only() {
    let s = TestServer::start().await;
    let admin = s.staff("admin").await;
    let owner = s.register("customer").await;
    let stranger = s.register("technician").await;
    let n = notice(
        &s,
        &admin,
        note(&owner.id, json!({"data": {"bookingId": "x"}})),
    )
    .await;
    let id = n["_id"].as_str().unwrap().to_string();
    assert_eq!(n["body"], "Tonight at 2am");
    assert_eq!(n["category"], "system");
    assert_eq!(n["actionData"], json!({"bookingId": "x"}));
    assert_eq!(
        n["deliveryStatus"]["sms"],
        json!({"sent": false, "failed": false})
    );
    assert_eq!(n["age"], "Just now");
    assert!(n.get("isExpired").is_none());
    let one = format!("/api/v1/notifications/{id}");
    let read = format!("{one}/read");
    // (who, method, path, expected status)
    let scenarios: Vec<(&str, Option<&str>, reqwest::Method, String, u16)> = vec![
        ("nobody reads", None, reqwest::Method::GET, one.clone(), 401),
        (
            "stranger reads",
            Some(&stranger.token),
            reqwest::Method::GET,
            one.clone(),
            404,
        ),
        (
            "admin reads another's",
            Some(&admin.token),
            reqwest::Method::GET,
            one.clone(),
            404,
        ),
        (
            "stranger marks read",
            Some(&stranger.token),
            reqwest::Method::PUT,
            read.clone(),
            404,
        ),
        (
            "stranger deletes",
            Some(&stranger.token),
            reqwest::Method::DELETE,
            one.clone(),
            404,
        ),
        (
            "owner, bad id",
            Some(&owner.token),
            reqwest::Method::GET,
            "/api/v1/notifications/nope".into(),
            404,
        ),
        (
            "owner, unknown id",
            Some(&owner.token),
            reqwest::Method::GET,
            format!("/api/v1/notifications/{}", baitech::ids::new_id()),
            404,
        ),
        (
            "owner reads",
            Some(&owner.token),
            reqwest::Method::GET,
            one.clone(),
            200,
        ),
        (
            "owner marks read",
            Some(&owner.token),
            reqwest::Method::PUT,
            read.clone(),
            200,
        ),
        (
            "customer creates",
            Some(&owner.token),
            reqwest::Method::POST,
            "/api/v1/notifications".into(),
            403,
        ),
        (
            "technician creates",
            Some(&stranger.token),
            reqwest::Method::POST,
            "/api/v1/notifications".into(),
            403,
        ),
    ];
    for (name, token, method, path, status) in scenarios {
        let body = (method == reqwest::Method::POST || method == reqwest::Method::PUT)
            .then(|| note(&owner.id, json!({})));
        let res = s.call(method, &path, token, body).await;
        assert_eq!(res.status.as_u16(), status, "{name}: {}", res.body);
    }
    let got = s.get(&one, Some(&owner.token)).await.expect(200);
    assert_eq!(got["notification"]["isRead"], true);
    assert!(got["notification"]["readAt"].is_string());
    s.delete(&one, Some(&owner.token)).await.expect(200);
    s.get(&one, Some(&owner.token)).await.expect(404);
    // Bad admin input: every field named; unknown recipient: 404.
    let e = s
        .post("/api/v1/notifications", Some(&admin.token),
              json!({"recipient": "x", "type": "booking", "title": " ", "priority": "medium", "channels": "push"}))
        .await
        .expect(400);
    let fields: Vec<&str> = e["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        vec![
            "recipient",
            "type",
            "title",
            "message",
            "priority",
            "channels"
        ]
    );
    s.post(
        "/api/v1/notifications",
        Some(&admin.token),
        note(&baitech::ids::new_id(), json!({})),
    )
    .await
    .expect(404);
}

#[tokio::test]
async fn the_list_filters_counts_unread_and_hides_expired() {
    let s = TestServer::start().await;
    let admin = s.staff("admin").await;
    let u = s.register("customer").await;
    let mut ids = Vec::new();
    for (kind, priority) in [
        ("promotion", "low"),
        ("payment_received", "high"),
        ("new_follower", "normal"),
        ("level_up", "normal"),
    ] {
        let n = notice(
            &s,
            &admin,
            note(
                &u.id,
                json!({"type": kind, "priority": priority,
                                                         "expiresAt": "2099-01-01T00:00:00.000Z"}),
            ),
        )
        .await;
        assert_eq!(n["isExpired"], false);
        ids.push(n["_id"].as_str().unwrap().to_string());
    }
    // The first one expires: hidden from the list and its total, still unread-counted.
    let expired = ids[0].clone();
    s.state
        .db
        .write(move |tx| {
            tx.execute(
                "UPDATE notifications SET expires_at = 1 WHERE id = ?1",
                [&expired],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let all = list(&s, &u, "").await;
    assert_eq!(
        (
            all["count"].as_i64(),
            all["total"].as_i64(),
            all["unreadCount"].as_i64()
        ),
        (Some(3), Some(3), Some(4))
    );
    assert_eq!(all["notifications"][0]["type"], "level_up", "newest first");
    for key in [
        "success",
        "count",
        "total",
        "unreadCount",
        "page",
        "pages",
        "notifications",
    ] {
        assert!(all.get(key).is_some(), "{key}");
    }
    let expired_one = s
        .get(&format!("/api/v1/notifications/{}", ids[0]), Some(&u.token))
        .await
        .expect(200);
    assert_eq!(expired_one["notification"]["isExpired"], true);
    // (query, expected total)
    for (q, total) in [
        ("&category=payment", 1),
        ("&type=new_follower", 1),
        ("&priority=normal", 2),
        ("&isRead=true", 0),
        ("&isRead=false", 3),
        ("&category=achievement&priority=high", 0),
    ] {
        assert_eq!(list(&s, &u, q).await["total"].as_i64(), Some(total), "{q}");
    }
    let paged = s
        .get("/api/v1/notifications?limit=2&page=2", Some(&u.token))
        .await
        .expect(200);
    assert_eq!(
        (paged["count"].as_i64(), paged["pages"].as_i64()),
        (Some(1), Some(2))
    );
    for (q, field) in [
        ("?limit=0", "limit"),
        ("?page=x", "page"),
        ("?category=fun", "category"),
        ("?type=booking", "type"),
    ] {
        let e = s
            .get(&format!("/api/v1/notifications{q}"), Some(&u.token))
            .await
            .expect(400);
        assert_eq!(e["errors"][0]["field"], field, "{q}");
    }
    s.put(
        "/api/v1/notifications/mark-all-read?category=social",
        Some(&u.token),
        json!({}),
    )
    .await
    .expect(200);
    assert_eq!(
        list(&s, &u, "&isRead=true").await["notifications"][0]["type"],
        "new_follower"
    );
    s.put(
        "/api/v1/notifications/mark-all-read?category=nope",
        Some(&u.token),
        json!({}),
    )
    .await
    .expect(400);
    let done = s
        .put(
            "/api/v1/notifications/mark-all-read",
            Some(&u.token),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(done["message"], "All notifications marked as read");
    assert_eq!(list(&s, &u, "").await["unreadCount"], 0);
    let cleared = s
        .delete("/api/v1/notifications/clear-read", Some(&u.token))
        .await
        .expect(200);
    assert_eq!(
        cleared["message"],
        "Read notifications cleared successfully"
    );
    let after = list(&s, &u, "").await;
    assert_eq!(
        (after["total"].as_i64(), after["unreadCount"].as_i64()),
        (Some(0), Some(0))
    );
    let stored: i64 = s
        .query(|c| c.query_row("SELECT COUNT(*) FROM notifications", [], |r| r.get(0)))
        .await;
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn preferences_persist_in_both_shapes_and_name_bad_fields() {
    let s = TestServer::start().await;
    let u = s.register("technician").await;
    let path = "/api/v1/notifications/preferences";
    let p = s.get(path, Some(&u.token)).await.expect(200)["preferences"].clone();
    assert_eq!(
        p["email"],
        json!({"bookings": true, "messages": true, "marketing": false, "updates": true})
    );
    assert_eq!(
        p["sms"],
        json!({"bookings": true, "messages": false, "marketing": false})
    );
    assert_eq!(
        p["push"],
        json!({"bookings": true, "messages": true, "social": true, "updates": true})
    );
    let saved = s
        .put(path, Some(&u.token), json!({"smsNotifications": false, "email": {"marketing": true},
                                           "quietHours": {"enabled": true, "start": "21:00", "end": "06:30"}}))
        .await
        .expect(200);
    assert_eq!(
        saved["message"],
        "Notification preferences updated successfully"
    );
    let p = s.get(path, Some(&u.token)).await.expect(200)["preferences"].clone();
    assert_eq!(
        p["sms"],
        json!({"bookings": false, "messages": false, "marketing": false})
    );
    assert_eq!(p["email"]["marketing"], true);
    assert_eq!(
        p["quietHours"],
        json!({"enabled": true, "start": "21:00", "end": "06:30"})
    );
    let e = s
        .put(
            path,
            Some(&u.token),
            json!({"pushNotifications": "on", "quietHours": {"start": "9pm"}}),
        )
        .await
        .expect(400);
    let fields: Vec<&str> = e["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["pushNotifications", "quietHours.start"]);
    // Nothing of the refused body was saved.
    assert_eq!(
        s.get(path, Some(&u.token)).await.expect(200)["preferences"],
        p
    );
    s.get(path, None).await.expect(401);
}

// ---------------------------------------------------------------- delivery

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_from_creation_to_payment_notifies_each_party_once_on_each_channel() {
    let fcm = FakeFcm::start().await;
    let at = FakeAt::start().await;
    let smtp = FakeSmtp::start(false).await;
    let s = TestServer::start_with(|c| {
        fcm.configure(c);
        at.configure(c);
        c.smtp_host = "127.0.0.1".into();
        c.smtp_port = smtp.port;
        c.smtp_tls = baitech::config::SmtpTls::None;
    })
    .await;
    let customer = s.register("customer").await;
    let tech = s.register("technician").await;
    make_bookable(&s, &tech.id).await;
    for (who, token) in [
        (&customer, "cust-device"),
        (&tech, "gone-old-phone"),
        (&tech, "tech-device"),
    ] {
        s.post(
            &format!("/api/v1/users/{}/fcm-token", who.id),
            Some(&who.token),
            json!({"token": token, "platform": "android"}),
        )
        .await
        .expect(200);
    }
    let date = (chrono::Utc::now() + chrono::Duration::days(2) + chrono::Duration::hours(3))
        .format("%Y-%m-%d")
        .to_string();
    let booking = s
        .post("/api/v1/bookings", Some(&customer.token), json!({
            "serviceType": "Plumbing", "description": "Kitchen sink leaks under the cabinet",
            "scheduledDate": date, "scheduledTime": "10:00", "estimatedDuration": 120,
            "serviceLocation": {"coordinates": [36.8172, -1.2864], "address": "Moi Avenue 12", "city": "Nairobi"},
            "technician": tech.id, "urgency": "normal"}))
        .await
        .expect(201)["booking"]
        .clone();
    let id = booking["_id"].as_str().unwrap().to_string();
    let number = booking["bookingNumber"].as_str().unwrap().to_string();
    wait_for_count(&s, &tech, 1).await;
    let status = |st: &'static str| json!({"status": st});
    s.put(
        &format!("/api/v1/bookings/{id}/status"),
        Some(&tech.token),
        status("accepted"),
    )
    .await
    .expect(200);
    wait_for_count(&s, &customer, 1).await;
    // The reminder is queued for an hour before the start; make it due now.
    s.eventually("reminder queued", || async {
        s.query(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM jobs WHERE kind = 'notifications.booking_reminder'",
                [],
                |r| r.get::<_, i64>(0),
            )
        })
        .await
            == 1
    })
    .await;
    s.state
        .db
        .write(|tx| {
            tx.execute(
                "UPDATE jobs SET run_at = 0 WHERE kind = 'notifications.booking_reminder'",
                [],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    wait_for_count(&s, &customer, 2).await;
    s.put(
        &format!("/api/v1/bookings/{id}/status"),
        Some(&tech.token),
        status("in_progress"),
    )
    .await
    .expect(200);
    s.put(
        &format!("/api/v1/bookings/{id}/status"),
        Some(&tech.token),
        status("completed"),
    )
    .await
    .expect(200);
    let cash = s
        .post(
            "/api/v1/transactions",
            Some(&tech.token),
            json!({"booking": id, "amount": 3000, "gateway": "cash"}),
        )
        .await
        .expect(201);
    let tx_id = cash["transaction"]["_id"].as_str().unwrap().to_string();
    s.post(
        &format!("/api/v1/transactions/{tx_id}/confirm"),
        Some(&customer.token),
        json!({}),
    )
    .await
    .expect(200);
    wait_for_count(&s, &customer, 5).await;
    wait_for_count(&s, &tech, 3).await;
    settle(&s).await;
    assert_eq!(
        kinds(&s, &customer).await,
        vec![
            "booking_accepted",
            "booking_completed",
            "booking_reminder",
            "booking_started",
            "payment_sent"
        ]
    );
    assert_eq!(
        kinds(&s, &tech).await,
        vec!["booking_created", "booking_reminder", "payment_received"]
    );
    let created = &list(&s, &tech, "&type=booking_created").await["notifications"][0];
    assert_eq!(created["deepLink"], format!("baitech://booking/{id}"));
    assert_eq!(created["relatedBooking"], id.as_str());
    assert_eq!(created["actionData"]["bookingId"], id.as_str());
    assert_eq!(created["priority"], "high");
    assert_eq!(created["deliveryStatus"]["push"]["sent"], true);
    assert_eq!(created["deliveryStatus"]["email"]["sent"], true);
    assert_eq!(created["deliveryStatus"]["sms"]["sent"], true);
    // Push: one per live token; the unregistered one was removed.
    assert!(fcm.violations().is_empty(), "{:?}", fcm.violations());
    let pushes = fcm.sent();
    assert_eq!(pushes.len(), 8, "{pushes:?}");
    assert!(
        fcm.token_requests() < pushes.len(),
        "the access token is cached"
    );
    let to_tech = pushes
        .iter()
        .filter(|p| p["message"]["token"] == "tech-device")
        .count();
    assert_eq!(to_tech, 3);
    let first = pushes
        .iter()
        .find(|p| p["message"]["data"]["type"] == "booking_created")
        .unwrap();
    assert_eq!(
        first["message"]["notification"]["title"],
        "New Booking Request"
    );
    assert_eq!(first["message"]["data"]["bookingId"], id.as_str());
    let tech_id = tech.id.clone();
    let tokens: Vec<String> = s
        .query(move |c| {
            let mut st = c.prepare("SELECT token FROM fcm_tokens WHERE user_id = ?1")?;
            let rows = st.query_map([&tech_id], |r| r.get(0))?.collect();
            rows
        })
        .await;
    assert_eq!(tokens, vec!["tech-device"]);
    // Email: the booking and money news, with the wire's subjects, text and HTML.
    let mails: Vec<String> = smtp
        .received()
        .into_iter()
        .filter(|m| m.contains("<notification-"))
        .collect();
    assert_eq!(mails.len(), 7, "{mails:?}");
    let request = mails
        .iter()
        .find(|m| m.contains(&tech.email) && m.contains("New Booking Request"))
        .unwrap();
    assert!(
        request.contains(&format!("Subject: New Booking Request - {number}")),
        "{request}"
    );
    assert!(request.contains("text/plain") && request.contains("text/html"));
    assert!(request.contains(&format!("http://localhost:3000/bookings/{id}")));
    assert!(mails
        .iter()
        .any(|m| m.contains(&format!("Subject: Booking Confirmed - {number}"))));
    // SMS: what matters offline, to E.164 numbers.
    assert!(at.violations().is_empty(), "{:?}", at.violations());
    let texts = at.sent();
    assert_eq!(
        texts.iter().filter(|t| t.to == e164(&tech.phone)).count(),
        3
    );
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.to == e164(&customer.phone))
            .count(),
        2
    );
    // Replaying the whole outbox creates nothing twice.
    let before: i64 = s
        .query(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM jobs WHERE kind LIKE 'notifications.%'",
                [],
                |r| r.get(0),
            )
        })
        .await;
    s.state
        .db
        .write(|tx| {
            tx.execute(
                "UPDATE event_cursors SET last_id = 0 WHERE consumer = 'notifications'",
                [],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    s.eventually("outbox replayed", || async {
        s.query(|c| c.query_row(
            "SELECT last_id = (SELECT MAX(id) FROM events) FROM event_cursors WHERE consumer = 'notifications'",
            [], |r| r.get::<_, bool>(0))).await
    })
    .await;
    let after: i64 = s
        .query(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM jobs WHERE kind LIKE 'notifications.%'",
                [],
                |r| r.get(0),
            )
        })
        .await;
    assert_eq!(after, before);
    assert_eq!(list(&s, &customer, "").await["total"], 5);
    assert_eq!(list(&s, &tech, "").await["total"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_outage_is_retried_then_dead_lettered_while_other_deliveries_go_on() {
    let at = FakeAt::start().await;
    let s = TestServer::start_with(|c| at.configure(c)).await;
    let admin = s.staff("admin").await;
    let unlucky = s.register("customer").await;
    let lucky = s.register("customer").await;
    at.fail_for(&e164(&unlucky.phone));
    let body = |to: &str| {
        note(
            to,
            json!({"type": "security_alert", "channels": ["sms", "email"], "priority": "high"}),
        )
    };
    let bad = notice(&s, &admin, body(&unlucky.id)).await;
    notice(&s, &admin, body(&lucky.id)).await;
    s.eventually(
        "the lucky SMS arrived and the unlucky one failed once",
        || async { at.sent().len() == 1 && at.attempts() >= 2 },
    )
    .await;
    settle(&s).await;
    assert_eq!(at.sent()[0].to, e164(&lucky.phone));
    let bad_id = bad["_id"].as_str().unwrap().to_string();
    let got = s
        .get(
            &format!("/api/v1/notifications/{bad_id}"),
            Some(&unlucky.token),
        )
        .await
        .expect(200);
    assert_eq!(got["notification"]["deliveryStatus"]["sms"]["failed"], true);
    assert!(got["notification"]["deliveryStatus"]["sms"]["error"]
        .as_str()
        .unwrap()
        .contains("500"));
    // Email to the same user went out regardless (dev outbox: no SMTP here).
    assert_eq!(got["notification"]["deliveryStatus"]["email"]["sent"], true);
    assert!(s
        .dir
        .path()
        .join(format!("outbox/notification-{bad_id}.eml"))
        .exists());
    // The SMS job waits out its backoff; age it past the give-up age so the
    // next failure is its last.
    s.state
        .db
        .write(|tx| {
            tx.execute("UPDATE jobs SET run_at = 0, failing_since = 1 WHERE kind = 'notifications.sms' AND status = 'queued'", [])?;
            Ok(())
        })
        .await
        .unwrap();
    s.eventually("dead-lettered", || async {
        s.query(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM jobs WHERE kind = 'notifications.sms' AND status = 'dead'",
                [],
                |r| r.get::<_, i64>(0),
            )
        })
        .await
            == 1
    })
    .await;
    assert_eq!(at.sent().len(), 1);
    assert!(at.violations().is_empty(), "{:?}", at.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preferences_and_quiet_hours_decide_the_channels() {
    let s = TestServer::start().await;
    let admin = s.staff("admin").await;
    let u = s.register("customer").await;
    s.post(
        &format!("/api/v1/users/{}/fcm-token", u.id),
        Some(&u.token),
        json!({"token": "dev-1", "platform": "ios"}),
    )
    .await
    .expect(200);
    // Quiet from an hour ago to an hour ahead, local time (Nairobi, UTC+3).
    let local = chrono::Utc::now() + chrono::Duration::hours(3);
    let hhmm = |t: chrono::DateTime<chrono::Utc>| t.format("%H:%M").to_string();
    s.put("/api/v1/notifications/preferences", Some(&u.token), json!({
        "sms": false, "email": {"bookings": false},
        "quietHours": {"enabled": true, "start": hhmm(local - chrono::Duration::hours(1)), "end": hhmm(local + chrono::Duration::hours(1))}}))
        .await
        .expect(200);
    let all = json!(["push", "email", "sms"]);
    let quiet = notice(
        &s,
        &admin,
        note(&u.id, json!({"type": "booking_accepted", "channels": all})),
    )
    .await;
    let urgent = notice(
        &s,
        &admin,
        note(
            &u.id,
            json!({"type": "booking_accepted", "channels": all, "priority": "urgent"}),
        ),
    )
    .await;
    let update = notice(
        &s,
        &admin,
        note(
            &u.id,
            json!({"type": "system_update", "channels": ["email"]}),
        ),
    )
    .await;
    settle(&s).await;
    let get = |n: &Value| {
        let id = n["_id"].as_str().unwrap().to_string();
        let (s, t) = (&s, u.token.clone());
        async move {
            s.get(&format!("/api/v1/notifications/{id}"), Some(&t))
                .await
                .expect(200)["notification"]["deliveryStatus"]
                .clone()
        }
    };
    let q = get(&quiet).await;
    assert_eq!(q["push"]["sent"], false);
    assert!(q["push"]["heldUntil"].is_string(), "{q}");
    assert_eq!(
        q["email"],
        json!({"sent": false, "failed": false}),
        "email bookings off"
    );
    assert_eq!(q["sms"], json!({"sent": false, "failed": false}), "sms off");
    let held: i64 = s.query(|c| c.query_row(
        "SELECT COUNT(*) FROM jobs WHERE kind = 'notifications.push' AND status = 'queued' AND run_at > ?1",
        [baitech::ids::now_ms() + 30 * 60_000], |r| r.get(0))).await;
    assert_eq!(held, 1);
    let urgent_status = get(&urgent).await;
    assert_eq!(
        urgent_status["push"]["sent"], true,
        "urgent ignores quiet hours: {urgent_status}"
    );
    let urgent_id = urgent["_id"].as_str().unwrap();
    let outbox =
        std::fs::read_to_string(s.dir.path().join(format!("outbox/push-{urgent_id}.json")))
            .unwrap();
    let pushed: Value = serde_json::from_str(&outbox).unwrap();
    assert_eq!(pushed["tokens"], json!(["dev-1"]));
    assert_eq!(pushed["data"]["notificationId"], urgent_id);
    assert_eq!(
        get(&update).await["email"]["sent"],
        true,
        "updates stay on for email"
    );
}

/// Records what the realtime layer would emit.
#[derive(Default)]
struct Recorder(Mutex<Vec<(String, String, Value)>>);

impl baitech::realtime::Emitter for Recorder {
    fn to_user(&self, user_id: &str, event: &str, payload: &Value) {
        self.0
            .lock()
            .unwrap()
            .push((user_id.into(), event.into(), payload.clone()));
    }
    fn to_room(&self, _room: &str, _event: &str, _payload: &Value) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_posts_support_and_security_events_map_through_the_table() {
    let s = TestServer::start().await;
    let recorder = Arc::new(Recorder::default());
    s.state.realtime.install(recorder.clone());
    let a = s.register("customer").await;
    let b = s.register("technician").await;
    let c = s.register("customer").await;
    let conv = baitech::ids::new_id();
    s.state.realtime.set_viewing(&c.id, &conv, true);
    for _ in 0..2 {
        emit(&s, "message.sent", &baitech::ids::new_id(), &a.id, json!({
            "messageId": baitech::ids::new_id(), "conversationId": conv, "senderId": a.id, "type": "text",
            "recipientIds": [b.id, c.id], "mentionIds": [c.id]})).await;
    }
    let post = baitech::ids::new_id();
    emit(
        &s,
        "post.liked",
        &post,
        &c.id,
        json!({"postId": post, "authorId": b.id, "likerId": c.id}),
    )
    .await;
    emit(&s, "ticket.sla_warning", &post, &a.id, json!({"ticketId": post, "ticketNumber": "TKT-7", "assigneeId": b.id,
                                                        "clock": "first_response", "dueAt": "2026-12-05T15:00:00.000Z"})).await;
    emit(
        &s,
        "user.followed",
        &b.id,
        &b.id,
        json!({"followerId": b.id, "followingId": b.id}),
    )
    .await;
    // A sign-in from a device never seen before alerts the account holder.
    let res = s
        .client
        .post(s.url("/api/v1/auth/login"))
        .header("user-agent", "NewPhone/2.0")
        .json(&json!({"email": a.email, "password": a.password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    wait_for_count(&s, &a, 1).await;
    wait_for_count(&s, &b, 3).await;
    wait_for_count(&s, &c, 2).await;
    settle(&s).await;
    assert_eq!(
        kinds(&s, &b).await,
        vec!["new_message", "post_liked", "system_update"],
        "two messages fold into one; no self-follow"
    );
    let msg = &list(&s, &b, "&type=new_message").await["notifications"][0];
    assert_eq!(
        (msg["groupCount"].as_i64(), msg["isGrouped"].as_bool()),
        (Some(2), Some(true))
    );
    assert_eq!(msg["body"], "2 new messages");
    assert_eq!(msg["deepLink"], format!("baitech://conversation/{conv}"));
    assert_eq!(
        kinds(&s, &c).await,
        vec!["mention", "mention"],
        "a viewer gets mentions, not new-message notices"
    );
    let sla = &list(&s, &b, "&type=system_update").await["notifications"][0];
    assert_eq!(
        sla["body"],
        "Ticket TKT-7: the first_response deadline is near"
    );
    assert_eq!(sla["priority"], "high");
    let alert = &list(&s, &a, "").await["notifications"][0];
    assert_eq!(
        (alert["type"].as_str(), alert["priority"].as_str()),
        (Some("security_alert"), Some("urgent"))
    );
    assert!(alert["body"].as_str().unwrap().contains("NewPhone/2.0"));
    // The same device again: no second alert.
    s.client
        .post(s.url("/api/v1/auth/login"))
        .header("user-agent", "NewPhone/2.0")
        .json(&json!({"email": a.email, "password": a.password}))
        .send()
        .await
        .unwrap();
    settle(&s).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(list(&s, &a, "").await["total"], 1);
    let sockets = recorder.0.lock().unwrap().clone();
    assert!(sockets
        .iter()
        .any(|(u, e, p)| u == &b.id && e == "notification:new" && p["type"] == "post_liked"));
    // The original's event name (social.md §5) carries the same document.
    let named = |ev: &str| -> Vec<Value> {
        sockets
            .iter()
            .filter(|(u, e, p)| u == &b.id && e == ev && p["type"] == "post_liked")
            .map(|(_, _, p)| p.clone())
            .collect()
    };
    assert_eq!(named("notification"), named("notification:new"));
    assert!(!sockets
        .iter()
        .any(|(u, _, p)| u == &c.id && p["type"] == "new_message"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_broadcast_reaches_a_role_in_batches() {
    let s = TestServer::start().await;
    let admin = s.staff("admin").await;
    let techs = [
        s.register("technician").await,
        s.register("technician").await,
    ];
    let customer = s.register("customer").await;
    let res = s
        .post("/api/v1/notifications", Some(&admin.token),
              json!({"broadcast": "technician", "type": "promotion", "title": "Training", "message": "Free course"}))
        .await
        .expect(202);
    assert_eq!(res["broadcast"], "technician");
    for t in &techs {
        wait_for_count(&s, t, 1).await;
        let got = list(&s, t, "").await["notifications"][0].clone();
        assert_eq!(got["title"], "Training");
        assert_eq!(got["sender"], admin.id.as_str());
    }
    settle(&s).await;
    assert_eq!(list(&s, &customer, "").await["total"], 0);
    s.post(
        "/api/v1/notifications",
        Some(&admin.token),
        json!({"broadcast": "martians", "type": "promotion", "title": "x", "message": "y"}),
    )
    .await
    .expect(400);
}
