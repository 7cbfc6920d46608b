//! `/api/v1/matching`: scored searches, sessions, accept into a booking,
//! reject, feedback, preferences and weights, blocks, learning, history
//! from events, retention, analytics.

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::harness::{TestServer, TestUser};

/// The spec's example job location (Nairobi CBD).
const HOME: (f64, f64) = (36.817223, -1.286389);

/// A technician to set up with SQL (the users module's tables).
#[derive(Clone)]
struct Tech {
    first_name: &'static str,
    /// km north of [`HOME`].
    km: f64,
    category: &'static str,
    proficiency: i64,
    rating: f64,
    reviews: i64,
    availability: &'static str,
    rate_minor: Option<i64>,
    radius_km: f64,
    years: i64,
    completed_jobs: i64,
    completion_rate: Option<f64>,
    response_mins: Option<f64>,
    kyc: &'static str,
}

impl Default for Tech {
    fn default() -> Self {
        Tech {
            first_name: "Tech",
            km: 2.0,
            category: "plumbing",
            proficiency: 80,
            rating: 4.5,
            reviews: 40,
            availability: "available",
            rate_minor: Some(150_000),
            radius_km: 25.0,
            years: 5,
            completed_jobs: 20,
            completion_rate: Some(90.0),
            response_mins: Some(30.0),
            kyc: "approved",
        }
    }
}

/// Degrees of latitude for `km` along a meridian (R = 6371 km).
fn lat_for(km: f64) -> f64 {
    (km / 6371.0).to_degrees()
}

/// Makes `id` (an existing user) a technician as `t` says, then refreshes the R-tree.
async fn equip(s: &TestServer, id: &str, t: &Tech) {
    let (id, t) = (id.to_string(), t.clone());
    let geo = s.state.geo.clone();
    let refreshed = id.clone();
    s.state
        .db
        .write_then(
            move |tx| {
                tx.execute(
                    "UPDATE users SET role = 'technician', first_name = ?2, last_name = 'Fundi', kyc_status = ?3,
                         rating_avg = ?4, rating_count = ?5, location_lng = ?6, location_lat = ?7 WHERE id = ?1",
                    rusqlite::params![id, t.first_name, t.kyc, t.rating, t.reviews, HOME.0, HOME.1 + lat_for(t.km)],
                )?;
                tx.execute(
                    "INSERT OR REPLACE INTO technician_profiles (user_id, hourly_rate_minor, service_radius_km,
                         years_experience, availability_status, completed_jobs, completion_rate, avg_response_mins, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0)",
                    rusqlite::params![id, t.rate_minor, t.radius_km, t.years, t.availability, t.completed_jobs,
                                      t.completion_rate, t.response_mins],
                )?;
                tx.execute("DELETE FROM user_skills WHERE user_id = ?1", [&id])?;
                tx.execute(
                    "INSERT INTO user_skills (user_id, name, category, proficiency, years_experience) VALUES (?1, ?2, ?3, ?4, 0)",
                    rusqlite::params![id, format!("{} work", t.category), t.category, t.proficiency],
                )?;
                Ok(())
            },
            move |conn, _| {
                let _ = geo.refresh(conn, &refreshed);
            },
        )
        .await
        .unwrap();
}

/// Inserts a technician account with SQL (no password hashing) and equips it.
async fn technician(s: &TestServer, t: Tech) -> String {
    let id = baitech::ids::new_id();
    let uid = id.clone();
    s.state
        .db
        .write(move |tx| {
            tx.execute(
                "INSERT INTO users (id, email, phone, password_hash, first_name, last_name, role, created_at, updated_at)
                 VALUES (?1, ?2, ?3, 'x', 'Tech', 'Fundi', 'technician', 0, 0)",
                rusqlite::params![uid, format!("{uid}@example.com"), format!("+2547{}", &uid[16..])],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    equip(s, &id, &t).await;
    id
}

fn find_body(category: &str) -> Value {
    json!({"serviceCategory": category, "location": {"type": "Point", "coordinates": [HOME.0, HOME.1], "address": "123 Main St, Nairobi"},
           "urgency": "medium", "budget": 5000, "description": "Leaking kitchen sink"})
}

async fn find(s: &TestServer, who: &TestUser, body: Value) -> Value {
    s.post("/api/v1/matching/find-technicians", Some(&who.token), body)
        .await
        .expect(200)
}

fn ids_of(res: &Value) -> Vec<String> {
    res["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["technician"]["_id"].as_str().unwrap().to_string())
        .collect()
}

fn match_of<'a>(res: &'a Value, tech: &str) -> &'a Value {
    res["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["technician"]["_id"] == tech)
        .unwrap_or_else(|| panic!("{tech} not matched in {res}"))
}

fn accept_body() -> Value {
    json!({"scheduledDate": "2099-10-15", "scheduledTime": "10:00", "description": "Fix the sink",
           "estimatedDuration": 2, "serviceType": "Sink repair"})
}

const FACTOR_KEYS: [&str; 9] = [
    "skillMatch",
    "locationProximity",
    "availability",
    "rating",
    "experienceLevel",
    "pricing",
    "responseTime",
    "completionRate",
    "customerPreference",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_scores_the_specs_example_and_answers_the_wire_keys() {
    // With KYC required (the default matches unverified technicians: see
    // hardening::the_original_web_client_flow_works_with_the_defaults).
    let s = TestServer::start_with(|c| c.require_technician_kyc = true).await;
    let customer = s.register("customer").await;
    // The spec's example technician: 90 proficiency, 1.26 km away in a 25 km
    // range, available, 4.8 stars from 120 reviews, 10 years and no jobs yet,
    // KES 1,500/h against a KES 5,000 budget, 60-minute answers, 70% completion.
    let example = technician(
        &s,
        Tech {
            first_name: "John",
            km: 1.26,
            proficiency: 90,
            rating: 4.8,
            reviews: 120,
            years: 10,
            completed_jobs: 0,
            completion_rate: Some(70.0),
            response_mins: Some(60.0),
            ..Tech::default()
        },
    )
    .await;
    let weaker = technician(
        &s,
        Tech {
            km: 8.0,
            proficiency: 60,
            rating: 4.0,
            ..Tech::default()
        },
    )
    .await;
    // Not candidates: another trade, beyond their own radius, beyond the
    // customer's 25 km, KYC not approved, below the default minimum rating.
    let electrician = technician(
        &s,
        Tech {
            category: "electrical",
            ..Tech::default()
        },
    )
    .await;
    let short_radius = technician(
        &s,
        Tech {
            km: 6.0,
            radius_km: 5.0,
            ..Tech::default()
        },
    )
    .await;
    let far = technician(
        &s,
        Tech {
            km: 30.0,
            radius_km: 50.0,
            ..Tech::default()
        },
    )
    .await;
    let unverified = technician(
        &s,
        Tech {
            kyc: "pending",
            ..Tech::default()
        },
    )
    .await;
    let poorly_rated = technician(
        &s,
        Tech {
            rating: 2.0,
            reviews: 50,
            ..Tech::default()
        },
    )
    .await;

    let res = find(&s, &customer, find_body("plumbing")).await;
    for k in ["success", "count", "data", "sessionId", "preferences"] {
        assert!(res.get(k).is_some(), "{k} missing: {res}");
    }
    assert_eq!(res["count"], 2);
    assert_eq!(ids_of(&res), [example.clone(), weaker.clone()]);
    for not in [
        &electrician,
        &short_radius,
        &far,
        &unverified,
        &poorly_rated,
    ] {
        assert!(!ids_of(&res).contains(not));
    }
    assert_eq!(
        res["preferences"],
        json!({"maxDistance": 25.0, "minRating": 3.5})
    );
    let session = res["sessionId"].as_str().unwrap().to_string();
    assert_eq!(session.len(), 36, "a UUID: {session}");

    let m = match_of(&res, &example);
    let scores = &m["scores"];
    let want = [90.0, 95.0, 100.0, 96.0, 50.0, 100.0, 70.0, 70.0, 50.0];
    for (k, v) in FACTOR_KEYS.iter().zip(want) {
        assert_eq!(scores[*k].as_f64().unwrap(), v, "{k}: {scores}");
    }
    // 0.25·90 + 0.20·95 + 0.15·100 + 0.15·96 + 0.10·50 + 0.05·100 + 0.05·70 + 0.03·70 + 0.02·50
    let by_hand = 22.5 + 19.0 + 15.0 + 14.4 + 5.0 + 5.0 + 3.5 + 2.1 + 1.0;
    assert_eq!(scores["overall"].as_f64().unwrap(), by_hand);
    assert_eq!(by_hand, 87.5);
    assert_eq!(m["matchQuality"], "very_good");
    assert_eq!(m["distance"], 1.3);
    assert_eq!(m["status"], "suggested");
    assert_eq!(m["isActive"], true);
    assert_eq!(m["customer"], customer.id);
    assert_eq!(m["sessionId"], session);
    assert_eq!(m["_id"], m["id"]);
    assert_eq!(m["location"]["coordinates"], json!([HOME.0, HOME.1]));
    assert_eq!(m["algorithm"]["factors"]["skillMatch"], 0.25);
    let tech = &m["technician"];
    for k in [
        "_id",
        "firstName",
        "lastName",
        "profilePicture",
        "rating",
        "skills",
        "availability",
        "hourlyRate",
        "yearsOfExperience",
    ] {
        assert!(tech.get(k).is_some(), "technician.{k} missing: {tech}");
    }
    assert_eq!(tech["hourlyRate"], 1500.0);
    assert!(
        tech.get("phoneNumber").is_none(),
        "no phone before a booking"
    );
    let reasons = m["matchReasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 9);
    assert_eq!(reasons[0]["reason"], "Expert in required service category");
    assert_eq!(reasons[0]["weight"], 0.25);
    assert_eq!(reasons[0]["score"], 90.0);
    let texts: Vec<&str> = reasons
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert!(texts.contains(&"Rated 4.8 from 120 reviews"), "{texts:?}");
    assert!(
        texts.iter().any(|t| t.starts_with("1.3 km away")),
        "{texts:?}"
    );
    assert!(
        texts.contains(&"KES 1,500/hour, within your budget of KES 5,000"),
        "{texts:?}"
    );
    for r in reasons {
        assert!(r["_id"].is_string() && r["weight"].is_number() && r["score"].is_number());
    }
    // Timing split for the benchmark.
    let timing = s
        .client
        .post(s.url("/api/v1/matching/find-technicians"))
        .bearer_auth(&customer.token)
        .json(&find_body("plumbing"))
        .send()
        .await
        .unwrap();
    let header = timing.headers()["server-timing"]
        .to_str()
        .unwrap()
        .to_string();
    for part in ["geo;dur=", "load;dur=", "score;dur=", "store;dur="] {
        assert!(header.contains(part), "{header}");
    }

    // Stored: one session with its matches, and the preference counters.
    let sid = session.clone();
    let (sessions, matches, candidates, total): (i64, i64, i64, i64) = s
        .query(move |c| {
            c.query_row(
                "SELECT (SELECT COUNT(*) FROM matching_sessions), (SELECT COUNT(*) FROM matches WHERE session_id = ?1),
                        (SELECT candidates FROM matching_sessions WHERE id = ?1),
                        (SELECT total_matches FROM matching_preferences)",
                [&sid],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
        })
        .await;
    assert_eq!((sessions, matches, candidates, total), (2, 2, 2, 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_refuses_bad_input_and_wrong_roles() {
    let s = TestServer::start().await;
    let customer = s.register("customer").await;
    let tech_user = s.register("technician").await;
    let res = s
        .post(
            "/api/v1/matching/find-technicians",
            Some(&customer.token),
            json!({}),
        )
        .await
        .expect(400);
    let fields: Vec<&str> = res["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"serviceCategory") && fields.contains(&"location.coordinates"),
        "{res}"
    );
    let cases = [
        (json!({"serviceCategory": "astrology"}), "serviceCategory"),
        (
            json!({"location": {"coordinates": [36.8]}}),
            "location.coordinates",
        ),
        (
            json!({"location": {"coordinates": ["a", "b"]}}),
            "location.coordinates",
        ),
        (
            json!({"location": {"coordinates": [200, 0]}}),
            "location.coordinates",
        ),
        (json!({"urgency": "whenever"}), "urgency"),
        (json!({"budget": -5}), "budget"),
        (json!({"budget": 10.123}), "budget"),
        (json!({"preferredDate": "next week"}), "preferredDate"),
        (json!({"limit": 21}), "limit"),
        (json!({"limit": 0}), "limit"),
        (json!({"description": "x".repeat(1001)}), "description"),
    ];
    for (patch, field) in cases {
        let mut body = find_body("plumbing");
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let res = s
            .post(
                "/api/v1/matching/find-technicians",
                Some(&customer.token),
                body,
            )
            .await
            .expect(400);
        assert!(
            res["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "{field}: {res}"
        );
    }
    s.post(
        "/api/v1/matching/find-technicians",
        None,
        find_body("plumbing"),
    )
    .await
    .expect(401);
    s.post(
        "/api/v1/matching/find-technicians",
        Some(&tech_user.token),
        find_body("plumbing"),
    )
    .await
    .expect(403);
    let admin = s.staff("admin").await;
    s.post(
        "/api/v1/matching/find-technicians",
        Some(&admin.token),
        find_body("plumbing"),
    )
    .await
    .expect(403);
    let corporate = s.register("corporate").await;
    s.post(
        "/api/v1/matching/find-technicians",
        Some(&corporate.token),
        find_body("plumbing"),
    )
    .await
    .expect(200);
    let stored: i64 = s
        .query(|c| c.query_row("SELECT COUNT(*) FROM matching_sessions", [], |r| r.get(0)))
        .await;
    assert_eq!(stored, 1, "only the corporate search was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_urgency_and_preferences_shape_the_candidates() {
    let s = TestServer::start().await;
    let customer = s.register("customer").await;
    let mut all = Vec::new();
    for i in 0..7 {
        all.push(
            technician(
                &s,
                Tech {
                    km: 1.0 + i as f64,
                    ..Tech::default()
                },
            )
            .await,
        );
    }
    let busy = technician(
        &s,
        Tech {
            km: 0.5,
            availability: "busy",
            ..Tech::default()
        },
    )
    .await;
    let pricey = technician(
        &s,
        Tech {
            km: 0.7,
            rate_minor: Some(900_000),
            ..Tech::default()
        },
    )
    .await;

    let res = find(&s, &customer, find_body("plumbing")).await;
    assert_eq!(res["count"], 5, "default limit");
    let overall: Vec<f64> = res["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["scores"]["overall"].as_f64().unwrap())
        .collect();
    assert!(
        overall.windows(2).all(|w| w[0] >= w[1]),
        "best first: {overall:?}"
    );
    let ranks: Vec<i64> = res["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["rank"].as_i64().unwrap())
        .collect();
    assert_eq!(ranks, [1, 2, 3, 4, 5]);
    let mut body = find_body("plumbing");
    body["limit"] = json!(20);
    assert_eq!(find(&s, &customer, body.clone()).await["count"], 9);

    // High urgency: only technicians available now.
    body["urgency"] = json!("high");
    let urgent = find(&s, &customer, body.clone()).await;
    assert!(!ids_of(&urgent).contains(&busy));
    assert_eq!(urgent["count"], 8);
    body["urgency"] = json!("urgent");
    assert!(!ids_of(&find(&s, &customer, body.clone()).await).contains(&busy));
    body["urgency"] = json!("medium");

    // Preferences: distance, rate and rating limits apply.
    s.put(
        "/api/v1/matching/preferences",
        Some(&customer.token),
        json!({"general": {"maxDistance": 3.5}, "technicianPreferences": {"maxHourlyRate": 2000}}),
    )
    .await
    .expect(200);
    let near = find(&s, &customer, body.clone()).await;
    assert_eq!(near["preferences"]["maxDistance"], 3.5);
    let got = ids_of(&near);
    assert!(!got.contains(&pricey), "above the maximum rate");
    assert_eq!(got.len(), 4, "0.5, 1, 2 and 3 km: {got:?}");
    s.put(
        "/api/v1/matching/preferences",
        Some(&customer.token),
        json!({"technicianPreferences": {"minRating": 4.8}}),
    )
    .await
    .expect(200);
    assert_eq!(find(&s, &customer, body).await["count"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_technicians_never_appear_until_unblocked() {
    let s = TestServer::start().await;
    let customer = s.register("customer").await;
    let other = s.register("customer").await;
    let a = technician(
        &s,
        Tech {
            km: 1.0,
            first_name: "Alice",
            ..Tech::default()
        },
    )
    .await;
    let b = technician(
        &s,
        Tech {
            km: 2.0,
            ..Tech::default()
        },
    )
    .await;
    let before = find(&s, &customer, find_body("plumbing")).await;
    assert!(ids_of(&before).contains(&a));

    let res = s
        .post(
            &format!("/api/v1/matching/block/{a}"),
            Some(&customer.token),
            json!({"reason": "Late twice"}),
        )
        .await
        .expect(200);
    assert_eq!(res["message"], "Technician blocked");
    let blocked = &res["data"]["learnedPreferences"]["blockedTechnicians"];
    assert_eq!(blocked.as_array().unwrap().len(), 1);
    assert_eq!(blocked[0]["technician"], a);
    assert_eq!(blocked[0]["reason"], "Late twice");
    // Idempotent.
    let again = s
        .post(
            &format!("/api/v1/matching/block/{a}"),
            Some(&customer.token),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(
        again["data"]["learnedPreferences"]["blockedTechnicians"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Never in new searches, at any limit or urgency; nor in existing matches.
    for urgency in ["low", "medium", "emergency"] {
        let mut body = find_body("plumbing");
        body["urgency"] = json!(urgency);
        body["limit"] = json!(20);
        let res = find(&s, &customer, body).await;
        assert!(!ids_of(&res).contains(&a), "{urgency}");
        assert!(ids_of(&res).contains(&b));
    }
    let mine = s
        .get(
            "/api/v1/matching/my-matches?limit=50",
            Some(&customer.token),
        )
        .await
        .expect(200);
    assert!(
        !ids_of(&mine).contains(&a),
        "old matches with a blocked technician are hidden"
    );
    let old = match_of(&before, &a)["_id"].as_str().unwrap().to_string();
    s.post(
        &format!("/api/v1/matching/{old}/accept"),
        Some(&customer.token),
        accept_body(),
    )
    .await
    .expect(409);
    // The export the users module's nearby search uses.
    let cid = customer.id.clone();
    let set = s
        .state
        .db
        .read(move |c| baitech::matching::store::blocked_technicians(c, &cid))
        .await
        .unwrap();
    assert!(set.contains(&a) && set.len() == 1);
    // Another customer still sees them.
    assert!(ids_of(&find(&s, &other, find_body("plumbing")).await).contains(&a));

    let res = s
        .delete(
            &format!("/api/v1/matching/block/{a}"),
            Some(&customer.token),
        )
        .await
        .expect(200);
    assert_eq!(res["message"], "Technician unblocked");
    assert!(ids_of(&find(&s, &customer, find_body("plumbing")).await).contains(&a));
    // Unblocking again answers the same.
    s.delete(
        &format!("/api/v1/matching/block/{a}"),
        Some(&customer.token),
    )
    .await
    .expect(200);

    // Unknown or malformed ids, and roles that do not hire.
    s.post(
        "/api/v1/matching/block/0123456789abcdef01234567",
        Some(&customer.token),
        json!({}),
    )
    .await
    .expect(404);
    s.post(
        "/api/v1/matching/block/not-an-id",
        Some(&customer.token),
        json!({}),
    )
    .await
    .expect(404);
    s.post(
        &format!("/api/v1/matching/block/{a}"),
        Some(&customer.token),
        json!({"reason": "x".repeat(501)}),
    )
    .await
    .expect(400);
    let tech_user = s.register("technician").await;
    s.post(
        &format!("/api/v1/matching/block/{a}"),
        Some(&tech_user.token),
        json!({}),
    )
    .await
    .expect(403);
    s.post(&format!("/api/v1/matching/block/{a}"), None, json!({}))
        .await
        .expect(401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_creates_one_booking_and_closes_the_session() {
    let s = TestServer::start().await;
    let customer = s.register("customer").await;
    let first = technician(
        &s,
        Tech {
            km: 1.0,
            ..Tech::default()
        },
    )
    .await;
    let second = technician(
        &s,
        Tech {
            km: 3.0,
            ..Tech::default()
        },
    )
    .await;
    let third = technician(
        &s,
        Tech {
            km: 5.0,
            ..Tech::default()
        },
    )
    .await;
    let res = find(&s, &customer, find_body("plumbing")).await;
    assert_eq!(res["count"], 3);
    let chosen = match_of(&res, &second)["_id"].as_str().unwrap().to_string();
    let overall = match_of(&res, &second)["scores"]["overall"]
        .as_f64()
        .unwrap();

    let body = s
        .post(
            &format!("/api/v1/matching/{chosen}/accept"),
            Some(&customer.token),
            accept_body(),
        )
        .await
        .expect(201);
    assert_eq!(body["message"], "Match accepted and booking created");
    let booking = &body["data"]["booking"];
    let matching = &body["data"]["matching"];
    assert_eq!(matching["_id"], chosen);
    assert_eq!(matching["status"], "accepted");
    assert_eq!(matching["action"], "booked");
    assert_eq!(matching["bookingId"], booking["_id"]);
    assert_eq!(booking["status"], "awaiting_acceptance");
    assert_eq!(booking["technician"], second);
    assert_eq!(booking["serviceType"], "Sink repair");
    assert_eq!(
        booking["timeSlot"],
        json!({"date": "2099-10-15", "startTime": "10:00", "endTime": "12:00", "estimatedDuration": 120})
    );
    assert_eq!(
        booking["scheduledDate"], "2099-10-15T07:00:00.000Z",
        "10:00 in Nairobi"
    );
    let booking_id = booking["_id"].as_str().unwrap().to_string();

    // Stored: the booking through the bookings module, the others closed.
    let bid = booking_id.clone();
    let (tech, status, source, score, category): (String, String, String, f64, String) = s
        .query(move |c| {
            c.query_row(
                "SELECT technician_id, status, source, match_score, service_category FROM bookings WHERE id = ?1",
                [&bid],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
        })
        .await;
    assert_eq!(
        (
            tech.as_str(),
            status.as_str(),
            source.as_str(),
            category.as_str()
        ),
        (second.as_str(), "awaiting_acceptance", "api", "plumbing")
    );
    assert_eq!(score, overall);
    let session = res["sessionId"].as_str().unwrap().to_string();
    let statuses: Vec<(String, String, bool)> = s
        .query(move |c| {
            let mut st = c.prepare("SELECT technician_id, status, is_active FROM matches WHERE session_id = ?1 ORDER BY rank")?;
            let rows = st.query_map([&session], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect();
            rows
        })
        .await;
    assert_eq!(
        statuses,
        vec![
            (first.clone(), "expired".into(), false),
            (second.clone(), "accepted".into(), true),
            (third.clone(), "expired".into(), false)
        ]
    );
    let successful: i64 = s
        .query(|c| {
            c.query_row(
                "SELECT successful_bookings FROM matching_preferences",
                [],
                |r| r.get(0),
            )
        })
        .await;
    assert_eq!(successful, 1);

    // Twice: 409, and still one booking. The closed siblings: 409 too.
    let again = s
        .post(
            &format!("/api/v1/matching/{chosen}/accept"),
            Some(&customer.token),
            accept_body(),
        )
        .await
        .expect(409);
    assert_eq!(again["message"], "This match was already accepted");
    let sibling = match_of(&res, &first)["_id"].as_str().unwrap().to_string();
    s.post(
        &format!("/api/v1/matching/{sibling}/accept"),
        Some(&customer.token),
        accept_body(),
    )
    .await
    .expect(409);
    s.post(
        &format!("/api/v1/matching/{sibling}/reject"),
        Some(&customer.token),
        json!({}),
    )
    .await
    .expect(409);
    let bookings: i64 = s
        .query(|c| c.query_row("SELECT COUNT(*) FROM bookings", [], |r| r.get(0)))
        .await;
    assert_eq!(bookings, 1);
    let open = s
        .get("/api/v1/matching/my-matches", Some(&customer.token))
        .await
        .expect(200);
    assert_eq!(open["count"], 0);
    let accepted = s
        .get(
            "/api/v1/matching/my-matches?status=accepted",
            Some(&customer.token),
        )
        .await
        .expect(200);
    assert_eq!(accepted["count"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_accepts_make_exactly_one_booking() {
    let s = TestServer::start().await;
    let customer = s.register("customer").await;
    for km in [1.0, 2.0, 3.0] {
        technician(
            &s,
            Tech {
                km,
                ..Tech::default()
            },
        )
        .await;
    }
    let res = find(&s, &customer, find_body("plumbing")).await;
    let ids: Vec<String> = res["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["_id"].as_str().unwrap().to_string())
        .collect();
    // The same match five times, and each of the others, all at once.
    let mut targets: Vec<String> = std::iter::repeat_n(ids[0].clone(), 5).collect();
    targets.extend(ids.iter().cloned());
    let calls = targets.iter().map(|id| {
        let (s, token) = (&s, customer.token.clone());
        async move {
            s.post(
                &format!("/api/v1/matching/{id}/accept"),
                Some(&token),
                accept_body(),
            )
            .await
            .status
            .as_u16()
        }
    });
    let statuses = join_all(calls).await;
    assert_eq!(
        statuses.iter().filter(|&&c| c == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&c| c == 409).count(),
        statuses.len() - 1,
        "{statuses:?}"
    );
    let (bookings, accepted): (i64, i64) = s
        .query(|c| {
            c.query_row(
                "SELECT (SELECT COUNT(*) FROM bookings), (SELECT COUNT(*) FROM matches WHERE status = 'accepted')",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
        .await;
    assert_eq!((bookings, accepted), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_may_read_and_answer_a_match() {
    let s = TestServer::start().await;
    let customer = s.register("customer").await;
    let stranger = s.register("customer").await;
    let admin = s.staff("admin").await;
    let matched = s.register("technician").await;
    equip(
        &s,
        &matched.id,
        &Tech {
            km: 1.0,
            ..Tech::default()
        },
    )
    .await;
    let res = find(&s, &customer, find_body("plumbing")).await;
    let id = match_of(&res, &matched.id)["_id"]
        .as_str()
        .unwrap()
        .to_string();
    let url = |tail: &str| format!("/api/v1/matching/{id}{tail}");

    // Reading: the customer and the matched technician; others get 404.
    let seen = s.get(&url(""), Some(&matched.token)).await.expect(200);
    assert_eq!(
        seen["data"]["status"], "suggested",
        "the technician looking does not mark it viewed"
    );
    assert_eq!(seen["data"]["customer"]["_id"], customer.id);
    assert_eq!(seen["data"]["customer"]["firstName"], "Test");
    assert!(seen["data"]["customer"].get("email").is_none());
    let mine = s.get(&url(""), Some(&customer.token)).await.expect(200);
    assert_eq!(mine["data"]["status"], "viewed");
    assert!(mine["data"]["viewedAt"].is_string());
    s.get(&url(""), Some(&stranger.token)).await.expect(404);
    s.get(&url(""), Some(&admin.token)).await.expect(404);
    s.get("/api/v1/matching/not-an-id", Some(&customer.token))
        .await
        .expect(404);
    s.get(
        "/api/v1/matching/0123456789abcdef01234567",
        Some(&customer.token),
    )
    .await
    .expect(404);
    s.get(&url(""), None).await.expect(401);

    // Answering: only the customer. actor × action → status.
    let table: Vec<(&TestUser, &str, Value, u16)> = vec![
        (&matched, "/accept", accept_body(), 403),
        (&matched, "/reject", json!({}), 403),
        (&matched, "/feedback", json!({"rating": 5}), 403),
        (&stranger, "/accept", accept_body(), 404),
        (&stranger, "/reject", json!({}), 404),
        (&stranger, "/feedback", json!({"rating": 5}), 404),
        (&admin, "/accept", accept_body(), 404),
        (&admin, "/reject", json!({}), 404),
    ];
    for (who, action, body, want) in table {
        let got = s
            .post(&url(action), Some(&who.token), body)
            .await
            .status
            .as_u16();
        assert_eq!(got, want, "{} {action}", who.role);
    }
    let bookings: i64 = s
        .query(|c| c.query_row("SELECT COUNT(*) FROM bookings", [], |r| r.get(0)))
        .await;
    assert_eq!(bookings, 0);
    // The customer's own answer works.
    s.post(&url("/accept"), Some(&customer.token), accept_body())
        .await
        .expect(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_matches_cannot_be_accepted() {
    let s = TestServer::start().await;
    let customer = s.register("customer").await;
    let tech = technician(&s, Tech::default()).await;
    let res = find(&s, &customer, find_body("plumbing")).await;
    let id = match_of(&res, &tech)["_id"].as_str().unwrap().to_string();
    let expires = res["data"][0]["expiresAt"].as_str().unwrap();
    let expires_ms = baitech::ids::parse_datetime(expires).unwrap();
    assert!(
        (expires_ms - baitech::ids::now_ms() - 7 * 86_400_000).abs() < 60_000,
        "7 days: {expires}"
    );
    let mid = id.clone();
    s.state
        .db
        .write(move |tx| {
            tx.execute(
                "UPDATE matches SET expires_at = ?2 WHERE id = ?1",
                rusqlite::params![mid, baitech::ids::now_ms() - 1000],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let res = s
        .post(
            &format!("/api/v1/matching/{id}/accept"),
            Some(&customer.token),
            accept_body(),
        )
        .await
        .expect(409);
    assert_eq!(res["message"], "This match has expired; search again");
    s.post(
        &format!("/api/v1/matching/{id}/reject"),
        Some(&customer.token),
        json!({}),
    )
    .await
    .expect(409);
    let doc = s
        .get(&format!("/api/v1/matching/{id}"), Some(&customer.token))
        .await
        .expect(200);
    assert_eq!(doc["data"]["status"], "expired");
    assert_eq!(doc["data"]["isActive"], false);
    let open = s
        .get("/api/v1/matching/my-matches", Some(&customer.token))
        .await
        .expect(200);
    assert_eq!(open["count"], 0);
    let viewed = s
        .get(
            "/api/v1/matching/my-matches?status=viewed",
            Some(&customer.token),
        )
        .await
        .expect(200);
    assert_eq!(
        viewed["count"], 0,
        "an expired match is not listed as viewed"
    );
    let expired = s
        .get(
            "/api/v1/matching/my-matches?status=expired",
            Some(&customer.token),
        )
        .await
        .expect(200);
    assert_eq!(expired["count"], 1);
    assert_eq!(expired["data"][0]["status"], "expired");
    let bookings: i64 = s
        .query(|c| c.query_row("SELECT COUNT(*) FROM bookings", [], |r| r.get(0)))
        .await;
    assert_eq!(bookings, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_validates_the_schedule() {
    let s = TestServer::start().await;
    let customer = s.register("customer").await;
    let tech = technician(&s, Tech::default()).await;
    let res = find(&s, &customer, find_body("plumbing")).await;
    let id = match_of(&res, &tech)["_id"].as_str().unwrap().to_string();
    let url = format!("/api/v1/matching/{id}/accept");
    let cases = [
        (json!({}), "scheduledDate"),
        (
            json!({"scheduledDate": "soon", "scheduledTime": "10:00"}),
            "scheduledDate",
        ),
        (json!({"scheduledDate": "2099-10-15"}), "scheduledTime"),
        (
            json!({"scheduledDate": "2099-10-15", "scheduledTime": "25:00"}),
            "scheduledTime",
        ),
        (
            json!({"scheduledDate": "2001-01-01", "scheduledTime": "10:00"}),
            "scheduledDate",
        ),
        (
            json!({"scheduledDate": "2099-10-15", "scheduledTime": "10:00", "estimatedDuration": 0}),
            "estimatedDuration",
        ),
        (
            json!({"scheduledDate": "2099-10-15", "scheduledTime": "10:00", "estimatedDuration": 5000}),
            "estimatedDuration",
        ),
        (
            json!({"scheduledDate": "2099-10-15", "scheduledTime": "10:00", "description": "x".repeat(1001)}),
            "description",
        ),
    ];
    for (body, field) in cases {
        let res = s
            .post(&url, Some(&customer.token), body.clone())
            .await
            .expect(400);
        assert!(
            res["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "{body}: {res}"
        );
    }
    // A full date-time needs no separate time; minutes above 24 are minutes.
    let res = s
        .post(
            &url,
            Some(&customer.token),
            json!({"scheduledDate": "2099-10-15T12:30:00Z", "estimatedDuration": 90}),
        )
        .await
        .expect(201);
    let slot = &res["data"]["booking"]["timeSlot"];
    assert_eq!(slot["startTime"], "15:30");
    assert_eq!(slot["estimatedDuration"], 90);
    // The wire takes serviceType from the category as it is.
    assert_eq!(res["data"]["booking"]["serviceType"], "plumbing");
    assert_eq!(
        res["data"]["booking"]["description"],
        "Booking from AI match"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_and_feedback() {
    let s = TestServer::start().await;
    let customer = s.register("customer").await;
    let a = technician(
        &s,
        Tech {
            km: 1.0,
            ..Tech::default()
        },
    )
    .await;
    let b = technician(
        &s,
        Tech {
            km: 2.0,
            ..Tech::default()
        },
    )
    .await;
    let res = find(&s, &customer, find_body("plumbing")).await;
    let ma = match_of(&res, &a)["_id"].as_str().unwrap().to_string();
    let mb = match_of(&res, &b)["_id"].as_str().unwrap().to_string();

    let r = s
        .post(
            &format!("/api/v1/matching/{ma}/reject"),
            Some(&customer.token),
            json!({"reason": "Too far"}),
        )
        .await
        .expect(200);
    assert_eq!(r["message"], "Match rejected");
    assert_eq!(r["data"]["status"], "rejected");
    assert_eq!(r["data"]["action"], "skipped");
    assert_eq!(r["data"]["feedback"]["comment"], "Too far");
    s.post(
        &format!("/api/v1/matching/{ma}/reject"),
        Some(&customer.token),
        json!({}),
    )
    .await
    .expect(409);
    s.post(
        &format!("/api/v1/matching/{ma}/accept"),
        Some(&customer.token),
        accept_body(),
    )
    .await
    .expect(409);
    s.post(
        &format!("/api/v1/matching/{mb}/reject"),
        Some(&customer.token),
        json!({"reason": "x".repeat(501)}),
    )
    .await
    .expect(400);

    for (body, field) in [
        (json!({"rating": 6}), "rating"),
        (json!({"rating": 0}), "rating"),
        (json!({"rating": 4.5}), "rating"),
        (json!({"helpful": "yes"}), "helpful"),
        (json!({"accuracy": "spot on"}), "accuracy"),
        (json!({"comment": "x".repeat(501)}), "comment"),
    ] {
        let res = s
            .post(
                &format!("/api/v1/matching/{mb}/feedback"),
                Some(&customer.token),
                body,
            )
            .await
            .expect(400);
        assert_eq!(res["errors"][0]["field"], field);
    }
    let f = s
        .post(
            &format!("/api/v1/matching/{mb}/feedback"),
            Some(&customer.token),
            json!({"helpful": true, "rating": 5, "accuracy": "accurate", "comment": "Great pick"}),
        )
        .await
        .expect(200);
    assert_eq!(f["message"], "Feedback added");
    let fb = &f["data"]["feedback"];
    assert_eq!(
        (
            fb["helpful"].clone(),
            fb["rating"].clone(),
            fb["comment"].clone()
        ),
        (json!(true), json!(5), json!("Great pick"))
    );
    assert!(fb["submittedAt"].is_string());
    assert!(
        fb.get("accuracy").is_none(),
        "accuracy is validated, not stored"
    );
    // Replaced wholesale.
    let f = s
        .post(
            &format!("/api/v1/matching/{mb}/feedback"),
            Some(&customer.token),
            json!({"rating": 4}),
        )
        .await
        .expect(200);
    assert!(f["data"]["feedback"].get("comment").is_none());
    // It counts towards the customer-preference factor and the favoured list.
    let prefs = s
        .get("/api/v1/matching/preferences", Some(&customer.token))
        .await
        .expect(200);
    let favored = &prefs["data"]["learnedPreferences"]["favoredTechnicians"];
    assert_eq!(favored[0]["technician"], b);
    assert_eq!(favored[0]["avgRating"], 4.0);
    let again = find(&s, &customer, find_body("plumbing")).await;
    // 50 + (4 - 3) × 12.5 × ½ for one rating of 4.
    assert_eq!(match_of(&again, &b)["scores"]["customerPreference"], 56.3);
    assert!(match_of(&again, &b)["matchReasons"][8]["reason"]
        .as_str()
        .unwrap()
        .contains("You rated them 4.0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preferences_defaults_updates_and_weight_validation() {
    let s = TestServer::start().await;
    let customer = s.register("customer").await;
    let prefs = s
        .get("/api/v1/matching/preferences", Some(&customer.token))
        .await
        .expect(200);
    let d = &prefs["data"];
    assert_eq!(d["user"], customer.id);
    assert_eq!(d["_id"], d["id"]);
    assert_eq!(d["general"]["maxDistance"], 25);
    assert_eq!(d["technicianPreferences"]["minRating"], 3.5);
    assert_eq!(d["communication"]["preferredMethod"], "in_app_chat");
    assert_eq!(d["ai"]["allowBehaviorLearning"], true);
    assert_eq!(d["successRate"], 0);
    assert_eq!(d["totalMatches"], 0);
    assert_eq!(
        d["customWeights"],
        json!({"skillMatch": 0.25, "locationProximity": 0.2, "availability": 0.15, "rating": 0.15, "experienceLevel": 0.1,
               "pricing": 0.05, "responseTime": 0.05, "completionRate": 0.03, "customerPreference": 0.02})
    );
    assert_eq!(d["learning"]["learnedWeights"], Value::Null);
    assert_eq!(d["learning"]["weights"], d["customWeights"]);

    // Negative weights, non-numbers, over 100: 400, nothing stored.
    for (weights, field) in [
        (
            json!({"skillMatch": -0.1, "rating": 0.5}),
            "customWeights.skillMatch",
        ),
        (json!({"rating": "lots"}), "customWeights.rating"),
        (json!({"rating": 250}), "customWeights.rating"),
        (json!("heavy"), "customWeights"),
    ] {
        let res = s
            .put(
                "/api/v1/matching/preferences",
                Some(&customer.token),
                json!({"customWeights": weights, "general": {"maxDistance": 9}}),
            )
            .await
            .expect(400);
        assert!(
            res["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "{weights}: {res}"
        );
    }
    let unchanged = s
        .get("/api/v1/matching/preferences", Some(&customer.token))
        .await
        .expect(200);
    assert_eq!(
        unchanged["data"]["general"]["maxDistance"], 25,
        "a refused update stores nothing"
    );

    // Weights not summing to 100 are normalised as the wire does (each
    // becomes round(w / sum × 100)); unknown factors are dropped.
    let nine = |w: f64| -> Value {
        Value::Object(
            FACTOR_KEYS
                .iter()
                .map(|k| (k.to_string(), json!(w)))
                .collect(),
        )
    };
    let mut body = nine(30.0);
    body["charisma"] = json!(40);
    let res = s
        .put(
            "/api/v1/matching/preferences",
            Some(&customer.token),
            json!({"customWeights": body}),
        )
        .await
        .expect(200);
    let w = &res["data"]["customWeights"];
    assert!(w.get("charisma").is_none(), "{w}");
    for k in FACTOR_KEYS {
        assert_eq!(w[k], 0.1111, "{k}: {w}");
    }

    // Fractions summing to 1.
    let res = s
        .put(
            "/api/v1/matching/preferences",
            Some(&customer.token),
            json!({"customWeights": {"skillMatch": 0.1, "locationProximity": 0.5, "availability": 0.1, "rating": 0.1,
                                     "experienceLevel": 0.1, "pricing": 0.05, "responseTime": 0.05, "completionRate": 0,
                                     "customerPreference": 0},
                   "general": {"maxDistance": 10, "languages": ["swahili", "english"]},
                   "ai": {"personalizationLevel": "high"}, "learnedPreferences": {"blockedTechnicians": []},
                   "totalMatches": 999}),
        )
        .await
        .expect(200);
    assert_eq!(res["message"], "Preferences updated");
    let d = &res["data"];
    assert_eq!(d["customWeights"]["locationProximity"], 0.5);
    assert_eq!(d["customWeights"]["completionRate"], 0.0);
    assert_eq!(d["general"]["maxDistance"], 10);
    assert_eq!(d["general"]["languages"], json!(["swahili", "english"]));
    assert_eq!(
        d["general"]["responseTime"], "within_hour",
        "other keys of the group stay"
    );
    assert_eq!(d["ai"]["personalizationLevel"], "high");
    assert_eq!(d["totalMatches"], 0);
    // Percent, as the original stored them, normalised to fractions.
    let res = s
        .put("/api/v1/matching/preferences", Some(&customer.token), json!({"customWeights": {"skillMatch": 40, "locationProximity": 20, "availability": 10,
            "rating": 10, "experienceLevel": 10, "pricing": 5, "responseTime": 5, "completionRate": 0, "customerPreference": 0}}))
        .await
        .expect(200);
    assert_eq!(res["data"]["customWeights"]["skillMatch"], 0.4);
    // Matches are scored with them.
    technician(&s, Tech::default()).await;
    let found = find(&s, &customer, find_body("plumbing")).await;
    assert_eq!(found["data"][0]["algorithm"]["factors"]["skillMatch"], 0.4);
    assert_eq!(found["data"][0]["matchReasons"][0]["weight"], 0.4);

    // Other groups: wrong types name their field.
    let res = s
        .put("/api/v1/matching/preferences", Some(&customer.token), json!({"general": {"maxDistance": 500}, "communication": {"preferredMethod": "pigeon"}}))
        .await
        .expect(400);
    let fields: Vec<&str> = res["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["general.maxDistance", "communication.preferredMethod"]
    );
    s.put(
        "/api/v1/matching/preferences",
        Some(&customer.token),
        json!([1]),
    )
    .await
    .expect(400);
    s.get("/api/v1/matching/preferences", None)
        .await
        .expect(401);
}

/// Finds, then accepts the match of `pick`, and returns the preference document.
async fn search_and_accept(s: &TestServer, customer: &TestUser, pick: &str) -> Value {
    let res = find(s, customer, find_body("plumbing")).await;
    let id = match_of(&res, pick)["_id"].as_str().unwrap().to_string();
    s.post(
        &format!("/api/v1/matching/{id}/accept"),
        Some(&customer.token),
        accept_body(),
    )
    .await
    .expect(201);
    s.get("/api/v1/matching/preferences", Some(&customer.token))
        .await
        .expect(200)["data"]
        .clone()
}

fn weight(doc: &Value, factor: &str) -> f64 {
    doc["learning"]["weights"][factor].as_f64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learning_follows_what_the_customer_chooses_and_stays_bounded() {
    let s = TestServer::start().await;
    let customer = s.register("customer").await;
    // A star far away, and two mediocre technicians close by.
    let star = technician(
        &s,
        Tech {
            first_name: "Star",
            km: 20.0,
            rating: 5.0,
            reviews: 200,
            ..Tech::default()
        },
    )
    .await;
    technician(
        &s,
        Tech {
            km: 1.0,
            rating: 3.6,
            reviews: 200,
            ..Tech::default()
        },
    )
    .await;
    technician(
        &s,
        Tech {
            km: 1.5,
            rating: 3.7,
            reviews: 200,
            ..Tech::default()
        },
    )
    .await;

    let start = s
        .get("/api/v1/matching/preferences", Some(&customer.token))
        .await
        .expect(200)["data"]
        .clone();
    let mut doc = start.clone();
    let (mut rating, mut distance) = (weight(&doc, "rating"), weight(&doc, "locationProximity"));
    for step in 0..6 {
        doc = search_and_accept(&s, &customer, &star).await;
        let (r, d) = (weight(&doc, "rating"), weight(&doc, "locationProximity"));
        assert!(r > rating, "step {step}: rating {rating} → {r}");
        assert!(d < distance, "step {step}: distance {distance} → {d}");
        (rating, distance) = (r, d);
        let sum: f64 = baitech::matching::model::FACTORS
            .iter()
            .map(|f| weight(&doc, f.key()))
            .sum();
        assert!((sum - 1.0).abs() < 0.001, "{sum}");
        for f in baitech::matching::model::FACTORS {
            let w = weight(&doc, f.key());
            assert!((0.0199..=0.5001).contains(&w), "{}: {w}", f.key());
        }
    }
    assert_eq!(doc["learning"]["steps"], 6);
    assert_eq!(
        doc["customWeights"], start["customWeights"],
        "the customer's own weights are untouched"
    );
    assert!(doc["learning"]["learnedWeights"].is_object());
    let adj = &doc["learning"]["adjustments"][0];
    assert_eq!(adj["signal"], "accepted");
    let why = adj["explanation"].as_str().unwrap();
    assert!(
        why.contains("Star F.") && why.contains("rating") && why.contains("distance"),
        "{why}"
    );
    // Later searches use the learned weights.
    let res = find(&s, &customer, find_body("plumbing")).await;
    assert_eq!(
        res["data"][0]["algorithm"]["factors"]["rating"]
            .as_f64()
            .unwrap(),
        (rating * 10_000.0).round() / 10_000.0
    );

    // Rejecting the star pushes the other way.
    let id = match_of(&res, &star)["_id"].as_str().unwrap().to_string();
    s.post(
        &format!("/api/v1/matching/{id}/reject"),
        Some(&customer.token),
        json!({}),
    )
    .await
    .expect(200);
    let after = s
        .get("/api/v1/matching/preferences", Some(&customer.token))
        .await
        .expect(200)["data"]
        .clone();
    assert!(weight(&after, "rating") < rating);

    // Reset: back to the customer's own weights.
    let reset = s
        .delete(
            "/api/v1/matching/preferences/learning",
            Some(&customer.token),
        )
        .await
        .expect(200);
    assert_eq!(reset["message"], "Learned weights reset");
    assert_eq!(reset["data"]["learning"]["learnedWeights"], Value::Null);
    assert_eq!(reset["data"]["learning"]["weights"], start["customWeights"]);
    assert_eq!(
        reset["data"]["learning"]["adjustments"][0]["signal"],
        "reset"
    );

    // Switched off: nothing is learned.
    s.put(
        "/api/v1/matching/preferences",
        Some(&customer.token),
        json!({"ai": {"allowBehaviorLearning": false}}),
    )
    .await
    .expect(200);
    let doc = search_and_accept(&s, &customer, &star).await;
    assert_eq!(doc["learning"]["learnedWeights"], Value::Null);
    assert_eq!(doc["learning"]["enabled"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completed_bookings_and_reviews_feed_the_customer_preference_factor() {
    let s = TestServer::start().await;
    let customer = s.register("customer").await;
    let regular = technician(
        &s,
        Tech {
            km: 4.0,
            ..Tech::default()
        },
    )
    .await;
    let newcomer = technician(
        &s,
        Tech {
            km: 4.0,
            ..Tech::default()
        },
    )
    .await;
    let (cid, tid) = (customer.id.clone(), regular.clone());
    s.state
        .db
        .write(move |tx| {
            for booking in ["0123456789abcdef0123aaaa", "0123456789abcdef0123bbbb"] {
                baitech::events::emit(tx, "booking.status_changed", Some(booking), Some(&tid),
                    &json!({"from": "in_progress", "to": "completed", "customerId": cid, "technicianId": tid}))?;
            }
            // Delivered twice: counted once.
            baitech::events::emit(tx, "booking.status_changed", Some("0123456789abcdef0123aaaa"), Some(&tid),
                &json!({"from": "in_progress", "to": "completed", "customerId": cid, "technicianId": tid}))?;
            baitech::events::emit(tx, "booking.status_changed", Some("0123456789abcdef0123cccc"), Some(&tid),
                &json!({"from": "accepted", "to": "cancelled", "customerId": cid, "technicianId": tid}))?;
            baitech::events::emit(tx, "review.created", Some("0123456789abcdef0123dddd"), Some(&cid),
                &json!({"reviewerId": cid, "revieweeId": tid, "rating": 5}))?;
            Ok(())
        })
        .await
        .unwrap();
    s.eventually("history recorded", || async {
        s.query(|c| {
            c.query_row(
                "SELECT (SELECT COUNT(*) FROM matching_completed_bookings) + (SELECT COUNT(*) FROM matching_review_ratings)",
                [],
                |r| r.get::<_, i64>(0),
            )
        })
        .await
            == 3
    })
    .await;
    let res = find(&s, &customer, find_body("plumbing")).await;
    // 50 + 2 bookings × 15 + (5 - 3) × 12.5 × ½.
    assert_eq!(
        match_of(&res, &regular)["scores"]["customerPreference"],
        92.5
    );
    assert_eq!(
        match_of(&res, &newcomer)["scores"]["customerPreference"],
        50.0
    );
    let why = match_of(&res, &regular)["matchReasons"][8]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(why, "You booked them 2 times before; You rated them 5.0");
    assert_eq!(ids_of(&res)[0], regular, "history breaks the tie");
    // A preferred technician counts too.
    s.put(
        "/api/v1/matching/preferences",
        Some(&customer.token),
        json!({"technicianPreferences": {"preferredTechnicians": [newcomer]}}),
    )
    .await
    .expect(200);
    let res = find(&s, &customer, find_body("plumbing")).await;
    assert_eq!(
        match_of(&res, &newcomer)["scores"]["customerPreference"],
        80.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_matches_lists_the_open_ones_with_filters() {
    let s = TestServer::start().await;
    let customer = s.register("customer").await;
    let other = s.register("customer").await;
    technician(
        &s,
        Tech {
            km: 1.0,
            ..Tech::default()
        },
    )
    .await;
    technician(
        &s,
        Tech {
            km: 2.0,
            category: "electrical",
            ..Tech::default()
        },
    )
    .await;
    find(&s, &customer, find_body("plumbing")).await;
    let second = find(&s, &customer, find_body("electrical")).await;
    find(&s, &other, find_body("plumbing")).await;
    let all = s
        .get("/api/v1/matching/my-matches", Some(&customer.token))
        .await
        .expect(200);
    assert_eq!(all["count"], 2);
    assert!(all["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["customer"] == customer.id));
    let plumbing = s
        .get(
            "/api/v1/matching/my-matches?serviceCategory=plumbing",
            Some(&customer.token),
        )
        .await
        .expect(200);
    assert_eq!(plumbing["count"], 1);
    assert_eq!(
        plumbing["data"][0]["technician"]["skills"][0]["category"],
        "plumbing"
    );
    let session = second["sessionId"].as_str().unwrap();
    let one = s
        .get(
            &format!("/api/v1/matching/my-matches?sessionId={session}"),
            Some(&customer.token),
        )
        .await
        .expect(200);
    assert_eq!(one["count"], 1);
    assert_eq!(one["data"][0]["serviceCategory"], "electrical");
    s.get(
        "/api/v1/matching/my-matches?status=lost",
        Some(&customer.token),
    )
    .await
    .expect(400);
    s.get(
        "/api/v1/matching/my-matches?serviceCategory=magic",
        Some(&customer.token),
    )
    .await
    .expect(400);
    s.get(
        "/api/v1/matching/my-matches?limit=500",
        Some(&customer.token),
    )
    .await
    .expect(400);
    s.get("/api/v1/matching/my-matches", None).await.expect(401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_records_are_purged_and_still_counted_by_analytics() {
    let s = TestServer::start_with(|c| c.matching_retention_days = 30).await;
    let customer = s.register("customer").await;
    let admin = s.staff("admin").await;
    let a = technician(
        &s,
        Tech {
            km: 1.0,
            ..Tech::default()
        },
    )
    .await;
    technician(
        &s,
        Tech {
            km: 2.0,
            ..Tech::default()
        },
    )
    .await;
    // An old search whose best match was accepted, and a fresh one.
    let old = find(&s, &customer, find_body("plumbing")).await;
    let id = match_of(&old, &a)["_id"].as_str().unwrap().to_string();
    let accepted_score = match_of(&old, &a)["scores"]["overall"].as_f64().unwrap();
    s.post(
        &format!("/api/v1/matching/{id}/accept"),
        Some(&customer.token),
        accept_body(),
    )
    .await
    .expect(201);
    let old_session = old["sessionId"].as_str().unwrap().to_string();
    let fresh = find(&s, &customer, find_body("plumbing")).await;

    let analytics = s
        .get("/api/v1/matching/analytics", Some(&admin.token))
        .await
        .expect(200);
    let before = analytics["data"].clone();
    assert_eq!(before["sessions"], 2);
    assert_eq!(before["matchesShown"], 4);
    assert_eq!(before["accepted"], 1);
    assert_eq!(before["acceptanceRate"], 0.25);
    assert_eq!(before["averageAcceptedScore"], accepted_score);
    let band = baitech::matching::model::Quality::of(accepted_score).as_str();
    let row = before["byQuality"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["band"] == band)
        .unwrap()
        .clone();
    assert_eq!(row["accepted"], 1);

    // Age the first search past the retention period, then run the purge job.
    let sid = old_session.clone();
    s.state
        .db
        .write(move |tx| {
            let long_ago = baitech::ids::now_ms() - 40 * 86_400_000;
            tx.execute(
                "UPDATE matching_sessions SET created_at = ?2 WHERE id = ?1",
                rusqlite::params![sid, long_ago],
            )?;
            tx.execute(
                "UPDATE matches SET created_at = ?2 WHERE session_id = ?1",
                rusqlite::params![sid, long_ago],
            )?;
            baitech::jobs::enqueue(tx, baitech::matching::PURGE_JOB, &Value::Null, None)?;
            Ok(())
        })
        .await
        .unwrap();
    let sid = old_session.clone();
    s.eventually("old session purged", || {
        let sid = sid.clone();
        async {
            s.query(move |c| {
                c.query_row(
                    "SELECT COUNT(*) FROM matches WHERE session_id = ?1",
                    [&sid],
                    |r| r.get::<_, i64>(0),
                )
            })
            .await
                == 0
        }
    })
    .await;
    let (sessions, fresh_matches, rollup, bookings): (i64, i64, i64, i64) = s
        .query(|c| {
            c.query_row(
                "SELECT (SELECT COUNT(*) FROM matching_sessions), (SELECT COUNT(*) FROM matches),
                        (SELECT SUM(shown) FROM matching_rollup), (SELECT COUNT(*) FROM bookings)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
        })
        .await;
    assert_eq!(
        (sessions, fresh_matches, rollup, bookings),
        (1, 2, 2, 1),
        "the booking stays"
    );
    assert_eq!(fresh["count"], 2);
    // Kept: preferences, counters; gone: the old matches themselves.
    let gone = s
        .get(&format!("/api/v1/matching/{id}"), Some(&customer.token))
        .await;
    assert_eq!(gone.status.as_u16(), 404);
    let after = s
        .get("/api/v1/matching/analytics", Some(&admin.token))
        .await
        .expect(200)["data"]
        .clone();
    for k in [
        "sessions",
        "matchesShown",
        "accepted",
        "acceptanceRate",
        "averageAcceptedScore",
    ] {
        assert_eq!(after[k], before[k], "{k} survives the purge as counts");
    }
    assert_eq!(after["retentionDays"], 30);
    let recent = s
        .get("/api/v1/matching/analytics?days=7", Some(&admin.token))
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(recent["sessions"], 1);
    assert_eq!(recent["accepted"], 0);
    s.get("/api/v1/matching/analytics?days=0", Some(&admin.token))
        .await
        .expect(400);
    s.get("/api/v1/matching/analytics", Some(&customer.token))
        .await
        .expect(403);
    s.get("/api/v1/matching/analytics", None).await.expect(401);
    // The next purge is scheduled a day later, once.
    let queued: i64 = s
        .query(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM jobs WHERE kind = 'matching.purge' AND status = 'queued' AND run_at > ?1",
                [baitech::ids::now_ms() + 23 * 3_600_000],
                |r| r.get(0),
            )
        })
        .await;
    assert_eq!(queued, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_searches_are_each_stored_before_they_answer() {
    let s = TestServer::start().await;
    let customer = s.register("customer").await;
    let other = s.register("customer").await;
    for km in [1.0, 2.0, 3.0] {
        technician(
            &s,
            Tech {
                km,
                ..Tech::default()
            },
        )
        .await;
    }
    let calls = (0..24).map(|i| {
        let (s, token) = (
            &s,
            if i % 2 == 0 {
                customer.token.clone()
            } else {
                other.token.clone()
            },
        );
        async move {
            s.post(
                "/api/v1/matching/find-technicians",
                Some(&token),
                find_body("plumbing"),
            )
            .await
            .expect(200)
        }
    });
    let answers = join_all(calls).await;
    let sessions: Vec<String> = answers
        .iter()
        .map(|a| a["sessionId"].as_str().unwrap().to_string())
        .collect();
    // Every answered session is stored with all its matches, and counted once.
    let stored = sessions.clone();
    let (found, matches, counted): (i64, i64, i64) = s
        .query(move |c| {
            let list = serde_json::to_string(&stored).unwrap();
            c.query_row(
                "SELECT (SELECT COUNT(*) FROM matching_sessions WHERE id IN (SELECT value FROM json_each(?1))),
                        (SELECT COUNT(*) FROM matches), (SELECT SUM(total_matches) FROM matching_preferences)",
                [list],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
        })
        .await;
    assert_eq!((found, matches, counted), (24, 72, 72));
    for a in &answers {
        let id = a["data"][0]["_id"].as_str().unwrap();
        let owner = if a["data"][0]["customer"] == customer.id {
            &customer
        } else {
            &other
        };
        s.get(&format!("/api/v1/matching/{id}"), Some(&owner.token))
            .await
            .expect(200);
    }
}
