//! `/api/v1/bookings`: creation, role-scoped lists, the whole transition
//! table over HTTP, pricing, QA checkpoints, disputes, stats and races.

use std::collections::HashMap;

use baitech::bookings::model::Status;
use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::harness::{TestServer, TestUser};

// ---------------------------------------------------------------- helpers

/// Makes a technician bookable the way the users module will (KYC approved,
/// a skill in `category`), with SQL, since that module is written in parallel.
async fn make_bookable(s: &TestServer, tech_id: &str, category: &str) {
    let (id, cat) = (tech_id.to_string(), category.to_string());
    s.state
        .db
        .write(move |tx| {
            tx.execute(
                "UPDATE users SET kyc_status = 'approved' WHERE id = ?1",
                [&id],
            )?;
            tx.execute(
                "INSERT OR IGNORE INTO user_skills (user_id, name, category, proficiency, years_experience)
                 VALUES (?1, ?2, ?3, 80, 5)",
                rusqlite::params![id, format!("{cat} work"), cat],
            )?;
            Ok(())
        })
        .await
        .unwrap();
}

/// Everyone a booking can meet.
struct Cast {
    customer: TestUser,
    tech: TestUser,
    other_tech: TestUser,
    admin: TestUser,
    support: TestUser,
    stranger: TestUser,
}

async fn cast(s: &TestServer) -> Cast {
    let c = Cast {
        customer: s.register("customer").await,
        tech: s.register("technician").await,
        other_tech: s.register("technician").await,
        admin: s.staff("admin").await,
        support: s.staff("support").await,
        stranger: s.register("customer").await,
    };
    make_bookable(s, &c.tech.id, "plumbing").await;
    make_bookable(s, &c.other_tech.id, "plumbing").await;
    c
}

/// The local (Nairobi) date `days` from now, as the web client sends it.
fn local_date(days: i64) -> String {
    let t = chrono::Utc::now() + chrono::Duration::days(days) + chrono::Duration::hours(3);
    t.format("%Y-%m-%d").to_string()
}

/// A valid creation body as the web client sends it.
fn body() -> Value {
    json!({
        "serviceType": "Plumbing",
        "description": "Kitchen sink leaks under the cabinet",
        "scheduledDate": local_date(2),
        "scheduledTime": "10:00",
        "estimatedDuration": 120,
        "serviceLocation": {"coordinates": [36.8172, -1.2864], "address": "Moi Avenue 12", "city": "Nairobi",
                            "landmarks": "Opposite the bank", "accessInstructions": "Gate B"},
        "technician": "",
        "urgency": "normal",
        "images": [],
    })
}

fn with(mut base: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

async fn create(s: &TestServer, who: &TestUser, body: Value) -> Value {
    s.post("/api/v1/bookings", Some(&who.token), body)
        .await
        .expect(201)["booking"]
        .clone()
}

fn id_of(b: &Value) -> String {
    b["_id"].as_str().unwrap().to_string()
}

async fn set_status(
    s: &TestServer,
    who: &TestUser,
    id: &str,
    status: &str,
) -> crate::harness::Answer {
    s.put(
        &format!("/api/v1/bookings/{id}/status"),
        Some(&who.token),
        json!({"status": status, "notes": "note for the timeline"}),
    )
    .await
}

fn fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Payloads of the outbox events of `kind` about `subject`, oldest first.
async fn events(s: &TestServer, kind: &str, subject: &str) -> Vec<Value> {
    let (k, id) = (kind.to_string(), subject.to_string());
    s.query(move |c| {
        let mut stmt = c.prepare(
            "SELECT payload FROM events WHERE kind = ?1 AND subject_id = ?2 ORDER BY id",
        )?;
        let rows = stmt.query_map([&k, &id], |r| r.get::<_, String>(0))?;
        Ok(rows
            .map(|r| serde_json::from_str(&r.unwrap()).unwrap())
            .collect())
    })
    .await
}

/// `(from, to, action, actor)` of a booking's stored timeline.
async fn timeline(
    s: &TestServer,
    id: &str,
) -> Vec<(Option<String>, String, String, Option<String>)> {
    let id = id.to_string();
    s.query(move |c| {
        let mut stmt = c.prepare(
            "SELECT from_status, to_status, action, actor_id FROM booking_status_history WHERE booking_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([&id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        rows.collect()
    })
    .await
}

async fn stored_status(s: &TestServer, id: &str) -> String {
    let id = id.to_string();
    s.query(move |c| {
        c.query_row("SELECT status FROM bookings WHERE id = ?1", [&id], |r| {
            r.get(0)
        })
    })
    .await
}

/// Puts a booking straight into `status` with SQL (for table tests): the
/// technician is set except in `pending`; completed and disputed jobs have
/// `completed_at`; a disputed one has an open dispute.
async fn seed_in(s: &TestServer, customer: &str, tech: &str, statuses: Vec<Status>) -> Vec<String> {
    let (customer, tech) = (customer.to_string(), tech.to_string());
    s.state
        .db
        .write(move |tx| {
            let mut ids = Vec::new();
            for status in statuses {
                let new = baitech::bookings::store::NewBooking {
                    customer_id: customer.clone(),
                    technician_id: None,
                    service_category: "plumbing".into(),
                    service_type: "Plumbing".into(),
                    description: "Seeded".into(),
                    urgency: "medium".into(),
                    scheduled_at: baitech::ids::now_ms() + 3 * 86_400_000,
                    estimated_duration_mins: 60,
                    location: (36.8, -1.28),
                    address: "Somewhere".into(),
                    budget_minor: None,
                    source: "api".into(),
                    match_score: None,
                };
                let id = baitech::bookings::store::create(tx, &new, &customer)?;
                let now = baitech::ids::now_ms();
                let technician = (status != Status::Pending).then(|| tech.clone());
                let completed = matches!(status, Status::Completed | Status::Disputed).then_some(now);
                tx.execute(
                    "UPDATE bookings SET status = ?2, technician_id = ?3, assigned_at = ?4, completed_at = ?5 WHERE id = ?1",
                    rusqlite::params![id, status.as_str(), technician, technician.as_ref().map(|_| now - 60_000), completed],
                )?;
                if status == Status::Disputed {
                    tx.execute(
                        "INSERT INTO booking_disputes (id, booking_id, raised_by, raised_at, from_status, reason, description)
                         VALUES (?1, ?2, ?3, ?4, 'completed', 'quality', 'seeded')",
                        rusqlite::params![baitech::ids::new_id(), id, customer, now],
                    )?;
                }
                ids.push(id);
            }
            Ok(ids)
        })
        .await
        .unwrap()
}

// ---------------------------------------------------------------- creation

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_answers_the_booking_document_and_records_the_first_entry() {
    let s = TestServer::start().await;
    let customer = s.register("customer").await;
    let res = s
        .post("/api/v1/bookings", Some(&customer.token), body())
        .await;
    let resp = res.expect(201);
    assert_eq!(resp["success"], true);
    assert_eq!(resp["message"], "Booking created successfully");
    let b = &resp["booking"];
    assert_eq!(b["_id"], b["id"]);
    assert!(b["bookingNumber"].as_str().unwrap().starts_with("BKG-"));
    assert!(
        b["bookingNumber"].as_str().unwrap().ends_with("-00001"),
        "{}",
        b["bookingNumber"]
    );
    assert_eq!(b["status"], "pending");
    assert_eq!(b["urgency"], "medium");
    assert_eq!(b["serviceCategory"], "plumbing");
    assert_eq!(b["serviceType"], "Plumbing");
    assert_eq!(b["technician"], Value::Null);
    assert_eq!(b["customer"]["_id"], customer.id.as_str());
    assert_eq!(b["customer"]["firstName"], "Test");
    assert!(b["customer"]["phoneNumber"]
        .as_str()
        .unwrap()
        .starts_with("+254"));
    assert!(b["customer"].get("passwordHash").is_none());
    assert_eq!(
        b["serviceLocation"]["coordinates"],
        json!([36.8172, -1.2864])
    );
    assert_eq!(b["serviceLocation"]["landmarks"], "Opposite the bank");
    assert_eq!(b["serviceLocation"]["accessInstructions"], "Gate B");
    assert_eq!(b["timeSlot"]["startTime"], "10:00");
    assert_eq!(b["timeSlot"]["endTime"], "12:00");
    assert_eq!(b["timeSlot"]["estimatedDuration"], 120);
    assert_eq!(b["timeSlot"]["date"], b["scheduledDate"]);
    assert!(b["scheduledDate"]
        .as_str()
        .unwrap()
        .ends_with("T07:00:00.000Z"));
    assert_eq!(
        b["pricing"],
        json!({"basePrice": 0, "serviceCharge": 0, "materialsTotal": 0, "additionalCosts": 0, "discount": 0, "tax": 0,
               "subtotal": 0, "platformFee": 0, "totalAmount": 0, "technicianEarnings": 0, "currency": "KES", "updatedAt": null})
    );
    assert_eq!(b["isUpcoming"], true);
    assert_eq!(b["isActive"], false);
    assert_eq!(b["statusHistory"].as_array().unwrap().len(), 1);
    assert_eq!(b["statusHistory"][0]["status"], "pending");
    assert_eq!(b["statusHistory"][0]["changedBy"], customer.id.as_str());
    assert!(b["createdAt"].as_str().unwrap().ends_with('Z'));
    let id = id_of(b);
    assert_eq!(
        timeline(&s, &id).await,
        vec![(
            None,
            "pending".into(),
            "create".into(),
            Some(customer.id.clone())
        )]
    );
    assert_eq!(
        events(&s, "booking.created", &id).await,
        vec![json!({"status": "pending", "customerId": customer.id, "technicianId": null})]
    );
    // Booking numbers follow a sequence.
    let second = create(&s, &customer, body()).await;
    assert!(second["bookingNumber"]
        .as_str()
        .unwrap()
        .ends_with("-00002"));
    // The summary's example body (ISO date, urgent) works too.
    let iso = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let b = create(
        &s,
        &customer,
        json!({"serviceType": "electrical", "description": "No power", "scheduledDate": iso, "urgency": "urgent",
               "serviceLocation": {"type": "Point", "coordinates": [36.8, -1.3], "address": "Ngong Rd"}, "budget": 2500.5}),
    )
    .await;
    assert_eq!(b["urgency"], "emergency");
    assert_eq!(b["serviceCategory"], "electrical");
    assert_eq!(b["budget"], 2500.5);
    assert_eq!(b["timeSlot"]["estimatedDuration"], 120);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_refuses_bad_input_naming_each_field() {
    let s = TestServer::start().await;
    let customer = s.register("customer").await;
    let tech = s.register("technician").await;
    let path = "/api/v1/bookings";
    s.post(path, None, body()).await.expect(401);
    let e = s.post(path, Some(&tech.token), body()).await.expect(403);
    assert_eq!(e["success"], false);
    let all = s
        .post(path, Some(&customer.token), json!({}))
        .await
        .expect(400);
    for f in [
        "serviceType",
        "description",
        "scheduledDate",
        "serviceLocation.coordinates",
        "serviceLocation.address",
    ] {
        assert!(
            fields(&all).contains(&f.to_string()),
            "{f} not named in {all}"
        );
    }
    let cases = [
        (json!({"scheduledDate": local_date(-1)}), "scheduledDate"),
        (json!({"scheduledDate": local_date(400)}), "scheduledDate"),
        (
            json!({"scheduledDate": "next tuesday", "scheduledTime": null}),
            "scheduledDate",
        ),
        (json!({"scheduledTime": "25:00"}), "scheduledDate"),
        (json!({"urgency": "asap"}), "urgency"),
        (json!({"budget": 10.005}), "budget"),
        (json!({"budget": -5}), "budget"),
        (json!({"estimatedDuration": 0}), "estimatedDuration"),
        (
            json!({"estimatedDuration": "two hours"}),
            "estimatedDuration",
        ),
        (
            json!({"serviceLocation": {"coordinates": [200, 0], "address": "x"}}),
            "serviceLocation.coordinates",
        ),
        (
            json!({"serviceLocation": {"coordinates": [36.8], "address": "x"}}),
            "serviceLocation.coordinates",
        ),
        (
            json!({"serviceLocation": {"coordinates": [36.8, -1.2], "address": " "}}),
            "serviceLocation.address",
        ),
        (json!({"description": "x".repeat(1001)}), "description"),
        (json!({"photos": ["not-a-media-id"]}), "photos[0]"),
        (json!({"images": [{"url": "http://x"}]}), "images[0]"),
        (
            json!({"photos": vec!["0123456789abcdef01234567"; 11]}),
            "photos",
        ),
        (json!({"technician": "nope"}), "technician"),
        (
            json!({"technician": "0123456789abcdef01234567"}),
            "technician",
        ),
        (json!({"technician": tech.id}), "technician"),
        (json!({"source": "fax"}), "source"),
        (
            json!({"materials": [{"name": "pipe", "price": 10, "quantity": 0}]}),
            "materials[0].quantity",
        ),
        (json!({"description": 5}), "description"),
    ];
    for (extra, field) in cases {
        let e = s
            .post(path, Some(&customer.token), with(body(), extra.clone()))
            .await
            .expect(400);
        assert!(
            fields(&e).contains(&field.to_string()),
            "{extra} should name {field}: {e}"
        );
    }
    // A KYC-approved technician who does not offer the category is refused too.
    make_bookable(&s, &tech.id, "electrical").await;
    let e = s
        .post(
            path,
            Some(&customer.token),
            with(body(), json!({"technician": tech.id})),
        )
        .await
        .expect(400);
    assert!(
        e["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("does not offer plumbing"),
        "{e}"
    );
    let n: i64 = s
        .query(|c| c.query_row("SELECT COUNT(*) FROM bookings", [], |r| r.get(0)))
        .await;
    assert_eq!(n, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naming_a_technician_awaits_their_acceptance() {
    let s = TestServer::start().await;
    let corporate = s.register("corporate").await;
    let tech = s.register("technician").await;
    make_bookable(&s, &tech.id, "plumbing").await;
    let upload = crate::media::upload_png(&s, &corporate.token).await;
    let photo = upload["id"].as_str().unwrap().to_string();
    // Someone else's photo, or one that does not exist, is refused.
    let foreign = crate::media::upload_png(&s, &tech.token).await;
    for bad in [
        foreign["id"].clone(),
        foreign["publicId"].clone(),
        json!("0123456789abcdef01234567"),
    ] {
        let e = s
            .post(
                "/api/v1/bookings",
                Some(&corporate.token),
                with(body(), json!({"photos": [bad]})),
            )
            .await
            .expect(400);
        assert_eq!(fields(&e), vec!["photos[0]"], "{e}");
    }
    let b = create(
        &s,
        &corporate,
        with(
            body(),
            json!({"technician": tech.id, "photos": [upload["publicId"]], "images": [upload],
                            "materials": [{"name": "PVC pipe", "price": 450, "quantity": 2}]}),
        ),
    )
    .await;
    assert_eq!(b["status"], "awaiting_acceptance");
    assert_eq!(b["technician"]["_id"], tech.id.as_str());
    assert_eq!(b["technician"]["firstName"], "Test");
    assert!(b["technician"]["rating"].is_object());
    assert_eq!(b["photos"], json!([photo]));
    assert_eq!(b["images"].as_array().unwrap().len(), 1);
    assert_eq!(b["images"][0]["_id"], photo.as_str());
    assert_eq!(b["images"][0]["url"], upload["url"]);
    assert_eq!(b["images"][0]["publicId"], upload["publicId"]);
    assert_eq!(b["pricing"]["materialsTotal"], 900);
    assert_eq!(b["pricing"]["totalAmount"], 900);
    assert_eq!(b["pricing"]["platformFee"], 90);
    assert!(b["assignedAt"].is_string());
    let id = id_of(&b);
    assert_eq!(
        events(&s, "booking.created", &id).await,
        vec![
            json!({"status": "awaiting_acceptance", "customerId": corporate.id, "technicianId": tech.id})
        ]
    );
    let parties = s
        .query(move |c| {
            Ok(baitech::bookings::store::find_parties(c, &id)
                .unwrap()
                .unwrap())
        })
        .await;
    assert_eq!(
        (parties.total_minor, parties.currency.as_str()),
        (90_000, "KES")
    );
    // The corporate account sees it as its own; the technician sees it assigned.
    let mine = s
        .get("/api/v1/bookings", Some(&corporate.token))
        .await
        .expect(200);
    assert_eq!(mine["total"], 1);
    let theirs = s
        .get("/api/v1/bookings", Some(&tech.token))
        .await
        .expect(200);
    assert_eq!(theirs["bookings"][0]["_id"], b["_id"]);
}

// ---------------------------------------------------------------- reading

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_show_each_role_its_own_with_filters_and_pages() {
    let s = TestServer::start().await;
    let c = cast(&s).await;
    let corporate = s.register("corporate").await;
    let a1 = create(&s, &c.customer, body()).await;
    let a2 = create(
        &s,
        &c.customer,
        with(
            body(),
            json!({"serviceType": "Electrical", "scheduledDate": local_date(10)}),
        ),
    )
    .await;
    let a3 = create(
        &s,
        &c.customer,
        with(
            body(),
            json!({"technician": c.tech.id, "scheduledDate": local_date(5)}),
        ),
    )
    .await;
    create(&s, &c.stranger, body()).await;
    create(&s, &corporate, body()).await;
    let list = |who: &TestUser, q: &str| {
        let (s, token, q) = (&s, who.token.clone(), q.to_string());
        async move {
            s.get(&format!("/api/v1/bookings{q}"), Some(&token))
                .await
                .expect(200)
        }
    };
    let ids = |v: &Value| -> Vec<String> {
        v["bookings"]
            .as_array()
            .unwrap()
            .iter()
            .map(id_of)
            .collect()
    };

    let mine = list(&c.customer, "").await;
    assert_eq!(
        (
            mine["total"].as_i64(),
            mine["count"].as_i64(),
            mine["page"].as_i64(),
            mine["pages"].as_i64()
        ),
        (Some(3), Some(3), Some(1), Some(1))
    );
    let newest_first = ids(&mine);
    assert_eq!(newest_first[0], id_of(&a3), "newest first");
    assert_eq!(list(&corporate, "").await["total"], 1);
    assert_eq!(list(&c.stranger, "").await["total"], 1);
    assert_eq!(ids(&list(&c.tech, "").await), vec![id_of(&a3)]);
    assert_eq!(a2["serviceCategory"], "electrical");
    assert_eq!(list(&c.other_tech, "").await["total"], 0);
    assert_eq!(list(&c.admin, "").await["total"], 5);
    assert_eq!(list(&c.support, "").await["total"], 5);
    // Filters: a comma list of statuses (and the original's `assigned`), type, dates, party.
    assert_eq!(
        list(&c.customer, "?status=awaiting_acceptance").await["total"],
        1
    );
    assert_eq!(list(&c.customer, "?status=assigned").await["total"], 1);
    assert_eq!(
        list(&c.customer, "?status=pending,awaiting_acceptance").await["total"],
        3
    );
    assert_eq!(list(&c.customer, "?status=completed").await["total"], 0);
    assert_eq!(
        list(&c.customer, "?serviceType=Electrical").await["total"],
        1
    );
    assert_eq!(
        list(&c.admin, "?serviceCategory=electrical").await["total"],
        1
    );
    let near = format!("?startDate={}&endDate={}", local_date(1), local_date(3));
    let near = list(&c.customer, &near).await;
    assert_eq!(ids(&near), vec![id_of(&a1)]);
    assert_eq!(
        list(&c.customer, &format!("?endDate={}", local_date(5))).await["total"],
        2
    );
    assert_eq!(
        list(&c.admin, &format!("?technician={}", c.tech.id)).await["total"],
        list(&c.tech, "").await["total"]
    );
    assert_eq!(
        list(&c.admin, &format!("?customer={}", c.customer.id)).await["total"],
        3
    );
    assert_eq!(
        list(&c.customer, "?sort=scheduledDate").await["bookings"][0]["_id"],
        a1["_id"]
    );
    // Status filters for a technician or the platform read one index range
    // per status and merge them: same rows, same order, same pages.
    assert_eq!(
        ids(&list(&c.tech, "?status=awaiting_acceptance").await),
        vec![id_of(&a3)]
    );
    assert_eq!(
        list(&c.tech, "?status=completed,cancelled").await["total"],
        0
    );
    let everything = list(&c.admin, "?limit=100").await;
    for (statuses, page, limit, sort) in [
        ("pending", 1, 2, "-createdAt"),
        ("pending", 2, 2, "-createdAt"),
        ("pending,awaiting_acceptance", 1, 3, "-createdAt"),
        ("awaiting_acceptance,pending", 2, 3, "-createdAt"),
        ("pending,awaiting_acceptance", 2, 2, "createdAt"),
    ] {
        let wanted: Vec<&str> = statuses.split(',').collect();
        let mut expected: Vec<String> = everything["bookings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| wanted.contains(&b["status"].as_str().unwrap()))
            .map(id_of)
            .collect();
        if sort == "createdAt" {
            expected.reverse();
        }
        let expected: Vec<String> = expected
            .into_iter()
            .skip((page - 1) * limit)
            .take(limit)
            .collect();
        let got = list(
            &c.admin,
            &format!("?status={statuses}&page={page}&limit={limit}&sort={sort}"),
        )
        .await;
        assert_eq!(
            ids(&got),
            expected,
            "{statuses} page {page} of {limit} {sort}"
        );
    }
    // Pages.
    let p2 = list(&c.customer, "?limit=1&page=2").await;
    assert_eq!(
        (
            p2["count"].as_i64(),
            p2["total"].as_i64(),
            p2["pages"].as_i64(),
            p2["limit"].as_i64()
        ),
        (Some(1), Some(3), Some(3), Some(1))
    );
    assert_eq!(ids(&p2), vec![newest_first[1].clone()]);
    for (q, field) in [
        ("?status=paid", "status"),
        ("?limit=101", "limit"),
        ("?page=0", "page"),
        ("?startDate=soon", "startDate"),
        ("?technician=xyz", "technician"),
        ("?sort=price", "sort"),
    ] {
        let e = s
            .get(&format!("/api/v1/bookings{q}"), Some(&c.customer.token))
            .await
            .expect(400);
        assert!(fields(&e).contains(&field.to_string()), "{q}: {e}");
    }
    s.get("/api/v1/bookings", None).await.expect(401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_booking_is_for_its_participants_admins_and_support() {
    let s = TestServer::start().await;
    let c = cast(&s).await;
    let b = create(
        &s,
        &c.customer,
        with(body(), json!({"technician": c.tech.id})),
    )
    .await;
    let id = id_of(&b);
    let path = format!("/api/v1/bookings/{id}");
    for who in [&c.customer, &c.tech, &c.admin, &c.support] {
        let got = s.get(&path, Some(&who.token)).await.expect(200);
        assert_eq!(got["booking"]["_id"], id.as_str());
        let bk = &got["booking"];
        for k in [
            "timeline",
            "qualityAssurance",
            "pricingHistory",
            "materialsUsed",
            "statusHistory",
        ] {
            assert!(bk.get(k).is_some(), "{k} missing");
        }
        assert_eq!(bk["customer"]["email"], c.customer.email.as_str());
        assert_eq!(bk["technician"]["email"], c.tech.email.as_str());
        assert_eq!(bk["pricing"]["items"], json!([]));
    }
    for who in [&c.other_tech, &c.stranger] {
        let e = s.get(&path, Some(&who.token)).await.expect(404);
        assert_eq!(e["message"], "Booking not found");
    }
    s.get("/api/v1/bookings/not-an-id", Some(&c.admin.token))
        .await
        .expect(404);
    s.get(
        "/api/v1/bookings/0123456789abcdef01234567",
        Some(&c.admin.token),
    )
    .await
    .expect(404);
    s.get(&path, None).await.expect(401);
}

// ---------------------------------------------------------------- the machine over HTTP

/// The actors of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    Customer,
    Tech,
    OtherTech,
    Admin,
    Support,
    Stranger,
}

const ACTORS: [Actor; 6] = [
    Actor::Customer,
    Actor::Tech,
    Actor::OtherTech,
    Actor::Admin,
    Actor::Support,
    Actor::Stranger,
];
const ACTIONS: [&str; 11] = [
    "assign",
    "accept",
    "decline",
    "en_route",
    "arrive",
    "start",
    "complete",
    "cancel",
    "dispute",
    "resolve_completed",
    "resolve_refunded",
];

/// The issue's machine, written out here independently of the code:
/// `(status, action) → [(actor, target)]`.
fn allowed(status: &str, action: &str) -> Vec<(Actor, &'static str)> {
    use Actor::*;
    match (status, action) {
        ("pending", "assign") => vec![(Admin, "awaiting_acceptance")],
        ("pending" | "awaiting_acceptance", "cancel") => {
            vec![(Customer, "cancelled"), (Admin, "cancelled")]
        }
        ("awaiting_acceptance", "accept") => vec![(Tech, "accepted")],
        ("awaiting_acceptance", "decline") => vec![(Tech, "pending")],
        ("accepted", "en_route") => vec![(Tech, "en_route")],
        ("accepted" | "en_route", "arrive") => vec![(Tech, "arrived")],
        ("accepted" | "en_route" | "arrived", "start") => vec![(Tech, "in_progress")],
        ("accepted", "cancel") => vec![
            (Customer, "cancelled"),
            (Tech, "cancelled"),
            (Admin, "cancelled"),
        ],
        ("en_route" | "arrived", "cancel") => vec![(Tech, "cancelled"), (Admin, "cancelled")],
        ("in_progress", "complete") => vec![(Tech, "completed")],
        ("in_progress", "cancel") => vec![(Admin, "cancelled")],
        ("in_progress" | "completed", "dispute") => {
            vec![(Customer, "disputed"), (Tech, "disputed")]
        }
        ("disputed", "resolve_completed") => vec![(Admin, "completed")],
        ("disputed", "resolve_refunded") => vec![(Admin, "refunded")],
        _ => vec![],
    }
}

/// Who may take an action at all (from some status).
fn ever_allowed(action: &str) -> &'static [Actor] {
    use Actor::*;
    match action {
        "assign" | "resolve_completed" | "resolve_refunded" => &[Admin],
        "cancel" => &[Customer, Tech, Admin],
        "dispute" => &[Customer, Tech],
        _ => &[Tech],
    }
}

/// The status code the table expects for `actor` taking `action` on a booking in `status`.
fn expected_code(status: &str, action: &str, actor: Actor) -> (u16, Option<&'static str>) {
    // A pending booking has no technician: "the" technician is just another one.
    let actor = if status == "pending" && actor == Actor::Tech {
        Actor::OtherTech
    } else {
        actor
    };
    if let Some((_, to)) = allowed(status, action)
        .into_iter()
        .find(|(a, _)| *a == actor)
    {
        return (200, Some(to));
    }
    let admin_only = matches!(action, "assign" | "resolve_completed" | "resolve_refunded");
    let code = if admin_only && actor != Actor::Admin {
        403
    } else if matches!(actor, Actor::OtherTech | Actor::Stranger) {
        404
    } else if ever_allowed(action).contains(&actor) {
        409
    } else {
        403
    };
    (code, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_transition_table_over_http() {
    let s = TestServer::start().await;
    let c = cast(&s).await;
    let mut cases = Vec::new();
    for status in Status::ALL {
        for action in ACTIONS {
            for actor in ACTORS {
                cases.push((status, action, actor));
            }
        }
    }
    assert_eq!(cases.len(), 10 * 11 * 6);
    let ids = seed_in(
        &s,
        &c.customer.id,
        &c.tech.id,
        cases.iter().map(|(st, _, _)| *st).collect(),
    )
    .await;
    let token = |a: Actor| match a {
        Actor::Customer => c.customer.token.clone(),
        Actor::Tech => c.tech.token.clone(),
        Actor::OtherTech => c.other_tech.token.clone(),
        Actor::Admin => c.admin.token.clone(),
        Actor::Support => c.support.token.clone(),
        Actor::Stranger => c.stranger.token.clone(),
    };
    let mut failures = Vec::new();
    let mut moved = Vec::new();
    for (chunk_cases, chunk_ids) in cases.chunks(30).zip(ids.chunks(30)) {
        let calls = chunk_cases.iter().zip(chunk_ids).map(|((_, action, actor), id)| {
            let (s, token, tech) = (&s, token(*actor), c.tech.id.clone());
            async move {
                let base = format!("/api/v1/bookings/{id}");
                let status_body = |st: &str| json!({"status": st, "reason": "table"});
                let res = match *action {
                    "assign" => s.put(&format!("{base}/assign-technician"), Some(&token), json!({"technician": tech})).await,
                    "accept" => s.put(&format!("{base}/status"), Some(&token), status_body("accepted")).await,
                    "decline" => s.put(&format!("{base}/status"), Some(&token), status_body("rejected")).await,
                    "en_route" => s.put(&format!("{base}/status"), Some(&token), status_body("en_route")).await,
                    "arrive" => s.put(&format!("{base}/status"), Some(&token), status_body("arrived")).await,
                    "start" => s.put(&format!("{base}/status"), Some(&token), status_body("in_progress")).await,
                    "complete" => s.put(&format!("{base}/status"), Some(&token), status_body("completed")).await,
                    "cancel" => s.put(&format!("{base}/status"), Some(&token), status_body("cancelled")).await,
                    "dispute" => s.post(&format!("{base}/dispute"), Some(&token), json!({"reason": "quality", "description": "leaks again"})).await,
                    "resolve_completed" => s.put(&format!("{base}/dispute/resolve"), Some(&token), json!({"resolution": "technician_favor", "resolutionNotes": "work is fine"})).await,
                    _ => s.put(&format!("{base}/dispute/resolve"), Some(&token), json!({"resolution": "customer_favor", "resolutionNotes": "refund"})).await,
                };
                (res.status.as_u16(), res.body)
            }
        });
        for (((status, action, actor), id), (code, body)) in
            chunk_cases.iter().zip(chunk_ids).zip(join_all(calls).await)
        {
            let (want, to) = expected_code(status.as_str(), action, *actor);
            if code != want {
                failures.push(format!(
                    "{status} {action} {actor:?}: wanted {want}, got {code}: {body}"
                ));
            }
            if code == 409 {
                let m = body["message"].as_str().unwrap_or("");
                if !m.contains(&format!("is {status}")) || !m.contains("Moves allowed from") {
                    failures.push(format!("{status} {action} {actor:?}: 409 message does not name the status and moves: {m}"));
                }
            }
            if let Some(to) = to {
                moved.push((id.clone(), to, body["booking"]["status"].clone()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 660 cells differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    for (id, to, answered) in moved {
        assert_eq!(answered, to, "answer of {id}");
        assert_eq!(stored_status(&s, &id).await, to);
    }
}

// ---------------------------------------------------------------- the life of a job

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_from_creation_to_completion_keeps_its_timeline_figures_and_events() {
    let s = TestServer::start().await;
    let c = cast(&s).await;
    let b = create(&s, &c.customer, body()).await;
    let id = id_of(&b);
    let base = format!("/api/v1/bookings/{id}");
    // Only admins assign, only to a bookable technician who offers the category.
    s.put(
        &format!("{base}/assign-technician"),
        Some(&c.customer.token),
        json!({"technician": c.tech.id}),
    )
    .await
    .expect(403);
    let e = s
        .put(
            &format!("{base}/assign-technician"),
            Some(&c.admin.token),
            json!({"technician": "x"}),
        )
        .await
        .expect(400);
    assert_eq!(fields(&e), vec!["technician"]);
    let electrician = s.register("technician").await;
    make_bookable(&s, &electrician.id, "electrical").await;
    s.put(
        &format!("{base}/assign-technician"),
        Some(&c.admin.token),
        json!({"technician": electrician.id}),
    )
    .await
    .expect(400);
    let unapproved = s.register("technician").await;
    s.put(
        &format!("{base}/assign-technician"),
        Some(&c.admin.token),
        json!({"technician": unapproved.id}),
    )
    .await
    .expect(400);
    s.put(
        &format!("{base}/assign-technician"),
        Some(&c.admin.token),
        json!({"technician": c.customer.id}),
    )
    .await
    .expect(400);
    let assigned = s
        .put(
            &format!("{base}/assign-technician"),
            Some(&c.admin.token),
            json!({"technician": c.tech.id}),
        )
        .await
        .expect(200);
    assert_eq!(assigned["message"], "Technician assigned successfully");
    assert_eq!(assigned["booking"]["status"], "awaiting_acceptance");
    assert_eq!(assigned["booking"]["technician"]["_id"], c.tech.id.as_str());
    let again = s
        .put(
            &format!("{base}/assign-technician"),
            Some(&c.admin.token),
            json!({"technician": c.other_tech.id}),
        )
        .await
        .expect(409);
    assert!(
        again["message"]
            .as_str()
            .unwrap()
            .contains("awaiting_acceptance"),
        "{again}"
    );

    for (st, msg) in [
        ("accepted", "Booking accepted successfully"),
        ("en_route", "Booking en_route successfully"),
        ("arrived", "Booking arrived successfully"),
        ("in_progress", "Booking in_progress successfully"),
    ] {
        let r = set_status(&s, &c.tech, &id, st).await.expect(200);
        assert_eq!(r["message"], msg);
        assert_eq!(r["booking"]["status"], st);
    }
    // QA while in progress, with the technician's own photo.
    let photo = crate::media::upload_png(&s, &c.tech.token).await;
    let photo_id = photo["id"].as_str().unwrap().to_string();
    let customers_photo = crate::media::upload_png(&s, &c.customer.token).await;
    let e = s
        .post(
            &format!("{base}/qa-checkpoint"),
            Some(&c.tech.token),
            json!({"name": "Pressure test", "photos": [customers_photo["id"]]}),
        )
        .await
        .expect(400);
    assert_eq!(fields(&e), vec!["photos[0]"]);
    let qa = s
        .post(&format!("{base}/qa-checkpoint"), Some(&c.tech.token),
              json!({"name": "Pressure test", "passed": true, "notes": "held 3 bar for 10 min", "photos": [photo_id]}))
        .await
        .expect(200);
    assert_eq!(qa["checkpoint"]["images"][0]["url"], photo["url"]);
    assert_eq!(
        qa["booking"]["qualityAssurance"]["checkpoints"][0]["images"][0]["publicId"],
        photo["publicId"]
    );
    assert_eq!(qa["message"], "QA checkpoint added successfully");
    assert_eq!(qa["checkpoint"]["name"], "Pressure test");
    assert_eq!(qa["checkpoint"]["status"], "passed");
    assert_eq!(qa["checkpoint"]["photos"], json!([photo_id]));
    assert!(qa["checkpoint"]["timestamp"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    let failed = s
        .post(&format!("{base}/qa-checkpoint"), Some(&c.tech.token), json!({"description": "Sealant cured", "status": "failed", "checklistItems": [{"item": "dry", "ok": false}]}))
        .await
        .expect(200);
    assert_eq!(failed["checkpoint"]["passed"], false);
    assert_eq!(
        failed["booking"]["qualityAssurance"]["checkpoints"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Price while working.
    let priced = s
        .put(&format!("{base}/pricing"), Some(&c.tech.token),
             json!({"items": [{"kind": "labour", "description": "2 hours", "quantity": 2, "unitPrice": 1500},
                              {"kind": "parts", "description": "Trap", "quantity": 1, "unitPrice": 850.5},
                              {"kind": "transport", "description": "Matatu", "quantity": 1, "unitPrice": 200},
                              {"kind": "discount", "description": "Loyalty", "quantity": 1, "unitPrice": 50.5}]}))
        .await
        .expect(200);
    assert_eq!(priced["pricing"]["basePrice"], 3000);
    assert_eq!(priced["pricing"]["materialsTotal"], 850.5);
    assert_eq!(priced["pricing"]["additionalCosts"], 200);
    assert_eq!(priced["pricing"]["discount"], 50.5);
    assert_eq!(priced["pricing"]["totalAmount"], 4000);
    assert_eq!(priced["pricing"]["platformFee"], 400);
    assert_eq!(priced["pricing"]["technicianEarnings"], 3600);
    assert_eq!(priced["pricing"]["items"].as_array().unwrap().len(), 4);
    assert_eq!(priced["pricingHistory"].as_array().unwrap().len(), 1);
    let done = set_status(&s, &c.tech, &id, "completed").await.expect(200);
    assert_eq!(done["booking"]["status"], "completed");
    assert!(done["booking"]["actualEndTime"].is_string());
    assert!(done["booking"]["actualStartTime"].is_string());
    // Closed for pricing and checkpoints now.
    let e = s
        .put(
            &format!("{base}/pricing"),
            Some(&c.tech.token),
            json!({"serviceCharge": 1}),
        )
        .await
        .expect(409);
    assert!(e["message"].as_str().unwrap().contains("completed"));
    s.post(
        &format!("{base}/qa-checkpoint"),
        Some(&c.tech.token),
        json!({"name": "late"}),
    )
    .await
    .expect(409);

    let steps: Vec<(String, String)> = timeline(&s, &id)
        .await
        .into_iter()
        .map(|(f, t, _, _)| (f.unwrap_or_default(), t))
        .collect();
    assert_eq!(
        steps,
        [
            ("", "pending"),
            ("pending", "awaiting_acceptance"),
            ("awaiting_acceptance", "accepted"),
            ("accepted", "en_route"),
            ("en_route", "arrived"),
            ("arrived", "in_progress"),
            ("in_progress", "completed")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let changes = events(&s, "booking.status_changed", &id).await;
    assert_eq!(changes.len(), 6);
    assert_eq!(
        changes[5],
        json!({"from": "in_progress", "to": "completed", "customerId": c.customer.id, "technicianId": c.tech.id})
    );
    let full = s.get(&base, Some(&c.customer.token)).await.expect(200)["booking"].clone();
    assert_eq!(full["timeline"].as_array().unwrap().len(), 7);
    assert_eq!(full["timeline"][6]["changedBy"], c.tech.id.as_str());
    let tid = c.tech.id.clone();
    let (completed, rate, avg): (i64, Option<f64>, Option<f64>) = s
        .query(move |db| db.query_row("SELECT completed_jobs, completion_rate, avg_response_mins FROM technician_profiles WHERE user_id = ?1", [&tid], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))))
        .await;
    assert_eq!((completed, rate), (1, Some(100.0)));
    assert!(avg.is_some_and(|m| m >= 0.0));
    let bid = id.clone();
    let (total, completed_at): (i64, Option<i64>) = s
        .query(move |db| {
            db.query_row(
                "SELECT total_amount_minor, completed_at FROM bookings WHERE id = ?1",
                [&bid],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
        .await;
    assert_eq!(total, 400_000);
    assert!(completed_at.is_some());

    // Stats for each role.
    let mine = s
        .get("/api/v1/bookings/stats", Some(&c.customer.token))
        .await
        .expect(200);
    assert_eq!(mine["total"], 1);
    assert_eq!(
        mine["stats"],
        json!([{"_id": "completed", "count": 1, "totalRevenue": 4000}])
    );
    assert_eq!(mine["totalSpent"], 4000);
    let theirs = s
        .get("/api/v1/bookings/stats", Some(&c.tech.token))
        .await
        .expect(200);
    assert_eq!(theirs["earnings"], 3600);
    assert_eq!(theirs["completedJobs"], 1);
    assert_eq!(theirs["completionRate"], 100.0);
    assert!(theirs["averageResponseTime"].is_number());
    let platform = s
        .get("/api/v1/bookings/stats", Some(&c.admin.token))
        .await
        .expect(200);
    assert_eq!(platform["total"], 1);
    let daily = platform["daily"].as_array().unwrap();
    assert!(daily.len() >= 30);
    let today = daily.last().unwrap();
    assert_eq!(
        (
            today["created"].as_i64(),
            today["completed"].as_i64(),
            today["revenue"].as_i64(),
            today["platformFees"].as_i64()
        ),
        (Some(1), Some(1), Some(4000), Some(400))
    );
    let ranged = s
        .get(
            &format!(
                "/api/v1/bookings/stats?startDate={}&endDate={}",
                local_date(-3),
                local_date(0)
            ),
            Some(&c.support.token),
        )
        .await
        .expect(200);
    assert_eq!(ranged["daily"].as_array().unwrap().len(), 4);
    s.get(
        "/api/v1/bookings/stats?startDate=2020-01-01&endDate=2025-01-01",
        Some(&c.admin.token),
    )
    .await
    .expect(400);
    s.get("/api/v1/bookings/stats", None).await.expect(401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decline_sends_the_booking_back_unassigned_with_the_reason_kept() {
    let s = TestServer::start().await;
    let c = cast(&s).await;
    let b = create(
        &s,
        &c.customer,
        with(body(), json!({"technician": c.tech.id})),
    )
    .await;
    let id = id_of(&b);
    let r = s
        .put(
            &format!("/api/v1/bookings/{id}/status"),
            Some(&c.tech.token),
            json!({"status": "rejected", "notes": "Fully booked that day"}),
        )
        .await
        .expect(200);
    assert_eq!(r["booking"]["status"], "pending");
    assert_eq!(r["booking"]["technician"], Value::Null);
    let last = r["booking"]["timeline"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["reason"], "Fully booked that day");
    assert_eq!(last["action"], "decline");
    assert_eq!(
        events(&s, "booking.status_changed", &id).await,
        vec![
            json!({"from": "awaiting_acceptance", "to": "pending", "customerId": c.customer.id, "technicianId": c.tech.id})
        ]
    );
    // The technician no longer sees it; a response time was recorded.
    s.get(&format!("/api/v1/bookings/{id}"), Some(&c.tech.token))
        .await
        .expect(404);
    assert_eq!(
        s.get("/api/v1/bookings", Some(&c.tech.token))
            .await
            .expect(200)["total"],
        0
    );
    let tid = c.tech.id.clone();
    let avg: Option<f64> = s
        .query(move |db| {
            db.query_row(
                "SELECT avg_response_mins FROM technician_profiles WHERE user_id = ?1",
                [&tid],
                |r| r.get(0),
            )
        })
        .await;
    assert!(avg.is_some());
    // An admin can assign it again.
    s.put(
        &format!("/api/v1/bookings/{id}/assign-technician"),
        Some(&c.admin.token),
        json!({"technician": c.other_tech.id}),
    )
    .await
    .expect(200);
    // Unknown and route-specific statuses are 400s naming the field.
    for st in ["paid", "disputed", "awaiting_acceptance", ""] {
        let e = s
            .put(
                &format!("/api/v1/bookings/{id}/status"),
                Some(&c.other_tech.token),
                json!({"status": st}),
            )
            .await
            .expect(400);
        assert_eq!(fields(&e), vec!["status"], "{st}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellations_record_who_why_and_the_late_fee() {
    let s = TestServer::start().await;
    let c = cast(&s).await;
    // A technician must say why.
    let b = create(
        &s,
        &c.customer,
        with(body(), json!({"technician": c.tech.id})),
    )
    .await;
    let id = id_of(&b);
    set_status(&s, &c.tech, &id, "accepted").await.expect(200);
    let e = s
        .put(
            &format!("/api/v1/bookings/{id}/status"),
            Some(&c.tech.token),
            json!({"status": "cancelled"}),
        )
        .await
        .expect(400);
    assert_eq!(fields(&e), vec!["reason"]);
    let r = s
        .put(
            &format!("/api/v1/bookings/{id}/status"),
            Some(&c.tech.token),
            json!({"status": "cancelled", "reason": "Van broke down"}),
        )
        .await
        .expect(200);
    let cancellation = &r["booking"]["cancellation"];
    assert_eq!(cancellation["cancelledBy"], c.tech.id.as_str());
    assert_eq!(cancellation["reason"], "Van broke down");
    assert_eq!(cancellation["cancellationFee"], 0);
    let tid = c.tech.id.clone();
    let (cancelled, rate): (i64, Option<f64>) = s.query(move |db| db.query_row("SELECT cancelled_jobs, completion_rate FROM technician_profiles WHERE user_id = ?1", [&tid], |r| Ok((r.get(0)?, r.get(1)?)))).await;
    assert_eq!((cancelled, rate), (1, Some(0.0)));

    // A customer cancelling an accepted job less than 24 h before it pays 20 %.
    let soon = (chrono::Utc::now() + chrono::Duration::hours(5)).to_rfc3339();
    let b = create(
        &s,
        &c.customer,
        with(
            body(),
            json!({"technician": c.tech.id, "scheduledDate": soon, "scheduledTime": null}),
        ),
    )
    .await;
    let id = id_of(&b);
    set_status(&s, &c.tech, &id, "accepted").await.expect(200);
    s.put(
        &format!("/api/v1/bookings/{id}/pricing"),
        Some(&c.admin.token),
        json!({"serviceCharge": 1000}),
    )
    .await
    .expect(200);
    let r = set_status(&s, &c.customer, &id, "cancelled")
        .await
        .expect(200);
    assert_eq!(r["booking"]["cancellation"]["cancellationFee"], 200);
    assert_eq!(
        r["booking"]["cancellation"]["cancelledBy"],
        c.customer.id.as_str()
    );
    // ... but not when cancelling before anyone accepted.
    let b = create(
        &s,
        &c.customer,
        with(
            body(),
            json!({"scheduledDate": soon, "scheduledTime": null}),
        ),
    )
    .await;
    let r = set_status(&s, &c.customer, &id_of(&b), "cancelled")
        .await
        .expect(200);
    assert_eq!(r["booking"]["cancellation"]["cancellationFee"], 0);
    let e = set_status(&s, &c.customer, &id_of(&b), "cancelled")
        .await
        .expect(409);
    assert_eq!(
        e["message"],
        "Cannot cancel a booking that is cancelled. Moves allowed from cancelled: none"
    );
}

// ---------------------------------------------------------------- pricing

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pricing_is_for_the_technician_and_admins_and_keeps_its_history() {
    let s = TestServer::start().await;
    let c = cast(&s).await;
    let b = create(
        &s,
        &c.customer,
        with(body(), json!({"technician": c.tech.id})),
    )
    .await;
    let id = id_of(&b);
    let path = format!("/api/v1/bookings/{id}/pricing");
    let legacy = json!({"serviceCharge": 2000, "materials": [{"name": "Tap", "price": 750, "quantity": 2}],
                        "additionalCosts": [{"description": "Parking", "amount": 100}]});
    s.put(&path, Some(&c.customer.token), legacy.clone())
        .await
        .expect(403);
    s.put(&path, Some(&c.support.token), legacy.clone())
        .await
        .expect(403);
    s.put(&path, Some(&c.other_tech.token), legacy.clone())
        .await
        .expect(404);
    s.put(&path, None, legacy.clone()).await.expect(401);
    s.put(
        "/api/v1/bookings/0123456789abcdef01234567/pricing",
        Some(&c.admin.token),
        legacy.clone(),
    )
    .await
    .expect(404);
    let r = s.put(&path, Some(&c.tech.token), legacy).await.expect(200);
    assert_eq!(r["message"], "Pricing updated successfully");
    let p = &r["pricing"];
    assert_eq!(
        (
            p["basePrice"].as_i64(),
            p["materialsTotal"].as_i64(),
            p["additionalCosts"].as_i64()
        ),
        (Some(2000), Some(1500), Some(100))
    );
    assert_eq!(
        (
            p["totalAmount"].as_i64(),
            p["platformFee"].as_i64(),
            p["currency"].as_str()
        ),
        (Some(3600), Some(360), Some("KES"))
    );
    assert_eq!(r["booking"]["materialsUsed"][0]["name"], "Tap");
    assert_eq!(r["booking"]["materialsUsed"][0]["totalPrice"], 1500);
    let r = s
        .put(&path, Some(&c.admin.token), json!({"items": [{"kind": "labour", "unitPrice": "1999.99"}], "note": "agreed on the phone"}))
        .await
        .expect(200);
    assert_eq!(r["pricing"]["totalAmount"], 1999.99);
    assert_eq!(r["pricing"]["platformFee"], 200);
    let history = r["pricingHistory"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["changedBy"], c.tech.id.as_str());
    assert_eq!(history[0]["totalAmount"], 3600);
    assert_eq!(history[1]["note"], "agreed on the phone");
    let bid = id.clone();
    let (total, fee): (i64, i64) = s
        .query(move |db| {
            db.query_row(
                "SELECT total_amount_minor, platform_fee_minor FROM bookings WHERE id = ?1",
                [&bid],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
        .await;
    assert_eq!((total, fee), (199_999, 20_000));
    // Bad prices name the field.
    for (bad, field) in [
        (json!({}), "items"),
        (
            json!({"items": [{"kind": "tips", "unitPrice": 1}]}),
            "items[0].kind",
        ),
        (json!({"items": [{"kind": "labour"}]}), "items[0].unitPrice"),
        (
            json!({"items": [{"kind": "labour", "unitPrice": 1.234}]}),
            "items[0].unitPrice",
        ),
        (
            json!({"items": [{"kind": "labour", "unitPrice": 10, "quantity": 1.5}]}),
            "items[0].quantity",
        ),
        (
            json!({"items": [{"kind": "labour", "unitPrice": 10}, {"kind": "discount", "unitPrice": 11}]}),
            "items",
        ),
        (json!({"serviceCharge": -1}), "serviceCharge"),
        (json!({"items": [], "currency": "USD"}), "currency"),
        (json!({"items": "many"}), "items"),
    ] {
        let e = s
            .put(&path, Some(&c.tech.token), bad.clone())
            .await
            .expect(400);
        assert!(fields(&e).contains(&field.to_string()), "{bad}: {e}");
    }
    // Clearing the price is a change too.
    let r = s
        .put(&path, Some(&c.tech.token), json!({"items": []}))
        .await
        .expect(200);
    assert_eq!(r["pricing"]["totalAmount"], 0);
    assert_eq!(r["pricingHistory"].as_array().unwrap().len(), 3);
    assert_eq!(events(&s, "booking.pricing_updated", &id).await.len(), 3);
}

// ---------------------------------------------------------------- QA

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qa_checkpoints_are_for_the_assigned_technician_during_the_job() {
    let s = TestServer::start().await;
    let c = cast(&s).await;
    let b = create(
        &s,
        &c.customer,
        with(body(), json!({"technician": c.tech.id})),
    )
    .await;
    let id = id_of(&b);
    let path = format!("/api/v1/bookings/{id}/qa-checkpoint");
    let check = json!({"name": "Water off", "passed": true});
    s.post(&path, Some(&c.tech.token), check.clone())
        .await
        .expect(409);
    set_status(&s, &c.tech, &id, "accepted").await.expect(200);
    set_status(&s, &c.tech, &id, "in_progress")
        .await
        .expect(200);
    s.post(&path, Some(&c.admin.token), check.clone())
        .await
        .expect(403);
    s.post(&path, Some(&c.customer.token), check.clone())
        .await
        .expect(403);
    s.post(&path, Some(&c.other_tech.token), check.clone())
        .await
        .expect(404);
    s.post(&path, None, check.clone()).await.expect(401);
    for (bad, field) in [
        (json!({}), "name"),
        (json!({"name": "x", "status": "maybe"}), "status"),
        (json!({"name": "x", "photos": ["bad"]}), "photos[0]"),
        (json!({"name": "x", "passed": "yes"}), "passed"),
    ] {
        let e = s
            .post(&path, Some(&c.tech.token), bad.clone())
            .await
            .expect(400);
        assert!(fields(&e).contains(&field.to_string()), "{bad}: {e}");
    }
    let r = s.post(&path, Some(&c.tech.token), check).await.expect(200);
    assert_eq!(r["checkpoint"]["passed"], true);
    let n: i64 = s
        .query(move |db| {
            db.query_row(
                "SELECT COUNT(*) FROM booking_checkpoints WHERE booking_id = ?1",
                [&id],
                |r| r.get(0),
            )
        })
        .await;
    assert_eq!(n, 1);
}

// ---------------------------------------------------------------- disputes

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disputes_open_within_the_window_and_resolve_with_the_money_seam() {
    let s = TestServer::start().await;
    let c = cast(&s).await;
    // Disputed during the job, resolved as a partial refund.
    let b = create(
        &s,
        &c.customer,
        with(body(), json!({"technician": c.tech.id})),
    )
    .await;
    let id = id_of(&b);
    set_status(&s, &c.tech, &id, "accepted").await.expect(200);
    s.put(
        &format!("/api/v1/bookings/{id}/pricing"),
        Some(&c.tech.token),
        json!({"serviceCharge": 5000}),
    )
    .await
    .expect(200);
    set_status(&s, &c.tech, &id, "in_progress")
        .await
        .expect(200);
    let path = format!("/api/v1/bookings/{id}/dispute");
    let e = s
        .post(&path, Some(&c.customer.token), json!({}))
        .await
        .expect(400);
    assert_eq!(fields(&e), vec!["reason", "description"]);
    s.post(
        &path,
        Some(&c.admin.token),
        json!({"reason": "r", "description": "d"}),
    )
    .await
    .expect(403);
    s.post(
        &path,
        Some(&c.stranger.token),
        json!({"reason": "r", "description": "d"}),
    )
    .await
    .expect(404);
    let r = s
        .post(&path, Some(&c.customer.token), json!({"reason": "Poor work", "description": "Still leaking", "evidence": ["65a1b2c3d4e5f60718293a4b"]}))
        .await
        .expect(200);
    assert_eq!(
        r["message"],
        "Dispute created successfully. Admin will review shortly."
    );
    assert_eq!(r["dispute"]["status"], "open");
    assert_eq!(r["dispute"]["raisedBy"], c.customer.id.as_str());
    assert_eq!(r["booking"]["status"], "disputed");
    assert_eq!(r["booking"]["dispute"]["reason"], "Poor work");
    let again = s
        .post(
            &path,
            Some(&c.tech.token),
            json!({"reason": "r", "description": "d"}),
        )
        .await
        .expect(409);
    assert!(again["message"].as_str().unwrap().contains("disputed"));
    let resolve = format!("/api/v1/bookings/{id}/dispute/resolve");
    s.put(
        &resolve,
        Some(&c.customer.token),
        json!({"resolution": "customer_favor", "resolutionNotes": "n"}),
    )
    .await
    .expect(403);
    for (bad, field) in [
        (json!({"resolutionNotes": "n"}), "resolution"),
        (
            json!({"resolution": "coin_toss", "resolutionNotes": "n"}),
            "resolution",
        ),
        (json!({"resolution": "customer_favor"}), "resolutionNotes"),
        (
            json!({"resolution": "partial_refund", "resolutionNotes": "n"}),
            "refundAmount",
        ),
        (
            json!({"resolution": "technician_favor", "resolutionNotes": "n", "refundAmount": 10}),
            "refundAmount",
        ),
        (
            json!({"resolution": "partial_refund", "resolutionNotes": "n", "refundAmount": 5000.01}),
            "refundAmount",
        ),
    ] {
        let e = s
            .put(&resolve, Some(&c.admin.token), bad.clone())
            .await
            .expect(400);
        assert!(fields(&e).contains(&field.to_string()), "{bad}: {e}");
    }
    let r = s
        .put(&resolve, Some(&c.admin.token), json!({"resolution": "partial_refund", "resolutionNotes": "Half the job redone", "refundAmount": 1500}))
        .await
        .expect(200);
    assert_eq!(r["message"], "Dispute resolved successfully");
    assert_eq!(r["dispute"]["status"], "resolved");
    assert_eq!(r["dispute"]["resolution"], "partial_refund");
    assert_eq!(r["dispute"]["outcome"], "refunded");
    assert_eq!(r["dispute"]["refundAmount"], 1500);
    assert_eq!(r["dispute"]["resolutionNotes"], "Half the job redone");
    assert_eq!(r["booking"]["status"], "refunded");
    assert_eq!(
        events(&s, "booking.dispute_resolved", &id).await,
        vec![
            json!({"outcome": "refunded", "refundAmount": 1500, "customerId": c.customer.id, "technicianId": c.tech.id})
        ]
    );
    let last = events(&s, "booking.status_changed", &id)
        .await
        .pop()
        .unwrap();
    assert_eq!(
        last,
        json!({"from": "disputed", "to": "refunded", "customerId": c.customer.id, "technicianId": c.tech.id})
    );
    s.put(
        &resolve,
        Some(&c.admin.token),
        json!({"resolution": "no_action", "resolutionNotes": "n"}),
    )
    .await
    .expect(409);

    // Disputed after completion, within the window; resolved in the technician's favour.
    let b = create(
        &s,
        &c.customer,
        with(body(), json!({"technician": c.tech.id})),
    )
    .await;
    let id = id_of(&b);
    for st in ["accepted", "in_progress", "completed"] {
        set_status(&s, &c.tech, &id, st).await.expect(200);
    }
    s.post(
        &format!("/api/v1/bookings/{id}/dispute"),
        Some(&c.tech.token),
        json!({"reason": "Unpaid", "description": "Customer refuses to pay"}),
    )
    .await
    .expect(200);
    let r = s
        .put(
            &format!("/api/v1/bookings/{id}/dispute/resolve"),
            Some(&c.admin.token),
            json!({"outcome": "completed", "resolutionNotes": "Work verified"}),
        )
        .await
        .expect(200);
    assert_eq!(r["booking"]["status"], "completed");
    assert_eq!(
        events(&s, "booking.dispute_resolved", &id).await[0]["refundAmount"],
        Value::Null
    );
    assert_eq!(
        events(&s, "booking.dispute_resolved", &id).await[0]["outcome"],
        "completed"
    );
    // A resolved dispute is not reopened.
    s.post(
        &format!("/api/v1/bookings/{id}/dispute"),
        Some(&c.customer.token),
        json!({"reason": "r", "description": "d"}),
    )
    .await
    .expect(409);
    let tid = c.tech.id.clone();
    let completed: i64 = s
        .query(move |db| {
            db.query_row(
                "SELECT completed_jobs FROM technician_profiles WHERE user_id = ?1",
                [&tid],
                |r| r.get(0),
            )
        })
        .await;
    assert_eq!(
        completed, 1,
        "the refunded job does not count, the one that stood does"
    );

    // Outside the window: refused.
    let b = create(
        &s,
        &c.customer,
        with(body(), json!({"technician": c.tech.id})),
    )
    .await;
    let id = id_of(&b);
    for st in ["accepted", "in_progress", "completed"] {
        set_status(&s, &c.tech, &id, st).await.expect(200);
    }
    let bid = id.clone();
    s.state
        .db
        .write(move |tx| {
            Ok(tx.execute(
                "UPDATE bookings SET completed_at = completed_at - 73 * 3600000 WHERE id = ?1",
                [&bid],
            )?)
        })
        .await
        .unwrap();
    let e = s
        .post(
            &format!("/api/v1/bookings/{id}/dispute"),
            Some(&c.customer.token),
            json!({"reason": "r", "description": "d"}),
        )
        .await
        .expect(409);
    assert!(e["message"].as_str().unwrap().contains("72 hours"), "{e}");
}

// ---------------------------------------------------------------- races

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_moves_on_one_booking_never_both_succeed() {
    let s = TestServer::start().await;
    let c = cast(&s).await;
    // Eight accepts at once: one wins.
    let b = create(
        &s,
        &c.customer,
        with(body(), json!({"technician": c.tech.id})),
    )
    .await;
    let id = id_of(&b);
    let codes: Vec<u16> = join_all((0..8).map(|_| set_status(&s, &c.tech, &id, "accepted")))
        .await
        .into_iter()
        .map(|a| a.status.as_u16())
        .collect();
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 409).count(), 7, "{codes:?}");
    assert_eq!(timeline(&s, &id).await.len(), 2);

    // Accept against decline: exactly one of them.
    for _ in 0..8 {
        let b = create(
            &s,
            &c.customer,
            with(body(), json!({"technician": c.tech.id})),
        )
        .await;
        let id = id_of(&b);
        let (a, d) = tokio::join!(
            set_status(&s, &c.tech, &id, "accepted"),
            set_status(&s, &c.tech, &id, "rejected")
        );
        // After a decline the technician no longer sees the booking (404).
        let codes = [a.status.as_u16(), d.status.as_u16()];
        assert!(
            codes == [200, 409] || codes == [409, 200] || codes == [404, 200],
            "{codes:?}"
        );
        let final_status = stored_status(&s, &id).await;
        assert_eq!(
            final_status,
            if codes[0] == 200 {
                "accepted"
            } else {
                "pending"
            }
        );
        assert_eq!(timeline(&s, &id).await.len(), 2);
    }

    // Accept against the customer's cancel: the timeline is one chain and
    // holds exactly the moves that answered 200.
    for _ in 0..8 {
        let b = create(
            &s,
            &c.customer,
            with(body(), json!({"technician": c.tech.id})),
        )
        .await;
        let id = id_of(&b);
        let (a, x) = tokio::join!(
            set_status(&s, &c.tech, &id, "accepted"),
            set_status(&s, &c.customer, &id, "cancelled")
        );
        assert_eq!(
            x.status.as_u16(),
            200,
            "a customer may cancel before and after acceptance"
        );
        let wins = [a.status.as_u16(), x.status.as_u16()]
            .iter()
            .filter(|c| **c == 200)
            .count();
        let steps = timeline(&s, &id).await;
        assert_eq!(steps.len(), 1 + wins);
        for pair in steps.windows(2) {
            assert_eq!(pair[1].0.as_deref(), Some(pair[0].1.as_str()), "{steps:?}");
        }
        assert_eq!(stored_status(&s, &id).await, "cancelled");
        assert_eq!(events(&s, "booking.status_changed", &id).await.len(), wins);
    }
    // The counts still add up after the races.
    let by_status: HashMap<String, i64> = s
        .query(|db| {
            let mut stmt =
                db.prepare("SELECT status, n FROM booking_counts WHERE scope = 'all'")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
        .await;
    let actual: HashMap<String, i64> = s
        .query(|db| {
            let mut stmt = db.prepare("SELECT status, COUNT(*) FROM bookings GROUP BY status")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
        .await;
    let by_status: HashMap<String, i64> = by_status.into_iter().filter(|(_, n)| *n != 0).collect();
    assert_eq!(by_status, actual);
}
