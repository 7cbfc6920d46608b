//! `/api/v1/users`: profiles and private fields, updates and mass
//! assignment, lists and their filters, nearby technicians against a
//! brute-force great circle, the index against SQLite, follows and their
//! races, portfolio, availability, FCM tokens, KYC, soft delete and scrub.

use baitech::users::geo::{distance_km, GeoIndex};
use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::harness::{TestServer, TestUser};

/// One account written straight into SQLite (no password hashing), for
/// lists and nearby data. Returns its id.
#[derive(Clone)]
struct Seed {
    role: &'static str,
    first: String,
    last: String,
    status: &'static str,
    location: Option<(f64, f64)>,
    rating: f64,
    bio: Option<String>,
    /// (name, category)
    skills: Vec<(String, String)>,
    availability: &'static str,
    kyc: &'static str,
}

impl Seed {
    fn new(role: &'static str, first: &str) -> Seed {
        Seed {
            role,
            first: first.into(),
            last: "Seeded".into(),
            status: "active",
            location: None,
            rating: 0.0,
            bio: None,
            skills: Vec::new(),
            availability: "available",
            kyc: "none",
        }
    }
    fn at(mut self, lng: f64, lat: f64) -> Seed {
        self.location = Some((lng, lat));
        self
    }
    fn skill(mut self, name: &str, category: &str) -> Seed {
        self.skills.push((name.into(), category.into()));
        self
    }
}

fn insert_seed(c: &rusqlite::Connection, s: &Seed, created_at: i64) -> rusqlite::Result<String> {
    let id = baitech::ids::new_id();
    c.execute(
        "INSERT INTO users (id, email, phone, password_hash, first_name, last_name, role, status, bio,
             location_lng, location_lat, location_city, rating_avg, rating_count, kyc_status, deleted_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, '!', ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'Nairobi', ?11, 3, ?12, ?13, ?14, ?14)",
        rusqlite::params![
            id,
            format!("{id}@seed.test"),
            format!("seed-{id}"),
            s.first,
            s.last,
            s.role,
            s.status,
            s.bio,
            s.location.map(|l| l.0),
            s.location.map(|l| l.1),
            s.rating,
            s.kyc,
            (s.status == "deleted").then_some(created_at),
            created_at
        ],
    )?;
    if s.role == "technician" {
        c.execute(
            "INSERT INTO technician_profiles (user_id, availability_status, updated_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![id, s.availability, created_at],
        )?;
        for (name, category) in &s.skills {
            c.execute(
                "INSERT INTO user_skills (user_id, name, category, proficiency) VALUES (?1, ?2, ?3, 70)",
                rusqlite::params![id, name, category],
            )?;
        }
    }
    Ok(id)
}

/// Inserts seeds in one transaction (created one ms apart, in order) and
/// refreshes the nearby index for each.
async fn seed(s: &TestServer, seeds: Vec<Seed>) -> Vec<String> {
    let geo = s.state.geo.clone();
    let seeded = s
        .state
        .db
        .write_then(
            move |tx| {
                let base = baitech::ids::now_ms() - 1_000_000;
                let mut ids = Vec::new();
                let mut last_event = 0;
                for (i, seed) in seeds.iter().enumerate() {
                    let id = insert_seed(tx, seed, base + i as i64)?;
                    last_event = baitech::events::emit(
                        tx,
                        "user.updated",
                        Some(&id),
                        Some(&id),
                        &json!({"userId": id}),
                    )?;
                    ids.push(id);
                }
                Ok((ids, last_event))
            },
            move |conn, (ids, _)| {
                for id in ids {
                    geo.refresh(conn, id).unwrap();
                }
            },
        )
        .await
        .unwrap();
    let (ids, last_event) = seeded;
    // The search index follows the outbox; wait until it has seen the seeds.
    let search = s.state.search.clone();
    s.eventually("the search index caught up", || {
        let search = search.clone();
        async move { search.last_event_id() >= last_event }
    })
    .await;
    ids
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

fn ids_of(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|u| u["_id"].as_str().unwrap().to_string())
        .collect()
}

async fn events_of(s: &TestServer, kind: &str, subject: &str) -> i64 {
    let (kind, subject) = (kind.to_string(), subject.to_string());
    s.query(move |c| {
        c.query_row(
            "SELECT COUNT(*) FROM events WHERE kind = ?1 AND subject_id = ?2",
            [&kind, &subject],
            |r| r.get(0),
        )
    })
    .await
}

/// The nearby index agrees with a fresh bulk load from SQLite, for every technician.
async fn assert_index_matches_db(s: &TestServer) {
    let geo = s.state.geo.clone();
    s.state
        .db
        .read(move |c| {
            let fresh = GeoIndex::load(c)?;
            assert_eq!(fresh.len(), geo.len(), "index size differs from SQLite");
            let ids: Vec<String> = c
                .prepare("SELECT id FROM users WHERE role = 'technician'")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for id in ids {
                let (a, b) = (fresh.get(&id), geo.get(&id));
                match (a, b) {
                    (None, None) => {}
                    (Some(a), Some(b)) => {
                        let mut ta: Vec<_> = a.tags.to_vec();
                        let mut tb: Vec<_> = b.tags.to_vec();
                        ta.sort();
                        tb.sort();
                        assert_eq!(
                            (a.lng, a.lat, a.is_available, a.rating),
                            (b.lng, b.lat, b.is_available, b.rating),
                            "{id}"
                        );
                        assert_eq!(ta, tb, "tags of {id}");
                    }
                    (a, b) => panic!("{id}: SQLite says {a:?}, index says {b:?}"),
                }
            }
            Ok(())
        })
        .await
        .unwrap();
}

// ---------------------------------------------------------------- profiles

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_hides_private_fields_from_everyone_but_the_owner_and_admins() {
    let s = TestServer::start().await;
    let owner = s.register("customer").await;
    let stranger = s.register("technician").await;
    let admin = s.staff("admin").await;
    s.post(
        &format!("/api/v1/users/{}/fcm-token", owner.id),
        Some(&owner.token),
        json!({"token": "device-token-1", "platform": "android"}),
    )
    .await
    .expect(200);
    let path = format!("/api/v1/users/{}", owner.id);
    let private = [
        "email",
        "phoneNumber",
        "twoFactorEnabled",
        "lastLogin",
        "dateOfBirth",
    ];
    for (who, token) in [
        ("anonymous", None),
        ("stranger", Some(stranger.token.as_str())),
    ] {
        let body = s.get(&path, token).await.expect(200);
        assert_eq!(body["user"], body["data"], "{who}");
        let user = &body["user"];
        for k in private.iter().chain(["fcmTokens"].iter()) {
            assert!(user.get(*k).is_none(), "{who} sees {k}: {user}");
        }
        assert_eq!(
            user["kyc"],
            json!({"status": "none", "verified": false}),
            "{who}"
        );
        for k in [
            "_id",
            "id",
            "firstName",
            "lastName",
            "fullName",
            "role",
            "profilePicture",
            "bio",
            "postsCount",
            "followersCount",
            "followingCount",
            "rating",
            "location",
            "createdAt",
            "updatedAt",
        ] {
            assert!(user.get(k).is_some(), "{k} missing for {who}: {user}");
        }
        assert!(!body.to_string().contains(&owner.email));
        assert!(!body.to_string().contains("device-token-1"));
    }
    let mine = s.get(&path, Some(&owner.token)).await.expect(200);
    assert_eq!(mine["user"]["email"], owner.email.as_str());
    assert_eq!(mine["user"]["fcmTokens"][0]["token"], "device-token-1");
    assert!(mine["user"].get("isFollowing").is_none());
    let as_admin = s.get(&path, Some(&admin.token)).await.expect(200);
    assert_eq!(as_admin["user"]["email"], owner.email.as_str());
    assert!(
        as_admin["user"].get("fcmTokens").is_none(),
        "FCM tokens are the owner's only"
    );
    assert_eq!(as_admin["user"]["isFollowing"], false);
    let raw = as_admin.to_string();
    assert!(!raw.contains("argon2") && !raw.contains("password"));

    // Unknown and malformed ids are 404, never 500.
    for bad in [
        "0123456789abcdef01234567",
        "not-an-id",
        "0123456789ABCDEF01234567",
    ] {
        let res = s
            .get(&format!("/api/v1/users/{bad}"), None)
            .await
            .expect(404);
        assert_eq!(res["message"], "User not found");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn technician_profiles_carry_trade_prices_schedule_and_derived_figures() {
    let s = TestServer::start().await;
    let tech = s.register("technician").await;
    let body = json!({
        "firstName": "Otieno", "lastName": "Ouma", "bio": "Licensed plumber", "businessName": "Ouma Fix",
        "phoneNumber": "0799 000 111",
        "location": {"type": "Point", "coordinates": [36.8, -1.3], "address": "Kenyatta Ave", "city": "Nairobi", "county": "Nairobi"},
        "skills": [{"name": "Pipe fitting", "category": "plumbing", "proficiency": 90, "yearsOfExperience": 7},
                   {"name": "Wiring", "category": "electrical"}],
        "hourlyRate": 1500.5, "currency": "kes", "serviceRadius": 25, "yearsOfExperience": 8,
        "serviceCategories": ["plumbing", "hvac"],
        "availability": [{"dayOfWeek": 1, "startTime": "08:00", "endTime": "17:00"}],
    });
    let res = s
        .put(
            &format!("/api/v1/users/{}", tech.id),
            Some(&tech.token),
            body,
        )
        .await
        .expect(200);
    assert_eq!(res["message"], "Profile updated successfully");
    let u = &res["user"];
    assert_eq!(u["fullName"], "Otieno Ouma");
    assert_eq!(u["phoneNumber"], "+254799000111");
    assert_eq!(u["location"]["coordinates"], json!([36.8, -1.3]));
    assert_eq!(u["location"]["city"], "Nairobi");
    assert_eq!(u["hourlyRate"], 1500.5);
    assert_eq!(u["currency"], "KES");
    assert_eq!(u["serviceRadius"], 25.0);
    assert_eq!(u["businessName"], "Ouma Fix");
    assert_eq!(u["skills"][0]["name"], "Pipe fitting");
    assert_eq!(u["skills"][0]["proficiency"], 90);
    assert_eq!(u["skills"][1]["proficiency"], 50);
    assert_eq!(u["skills"][0]["verified"], false);
    assert_eq!(u["availability"]["isAvailable"], true);
    assert_eq!(u["availability"]["schedule"][0]["dayOfWeek"], 1);
    assert_eq!(u["serviceCategories"], json!(["hvac", "plumbing"]));
    assert_eq!(
        u["stats"]["reviews"],
        json!({"avgRating": 0.0, "totalReviews": 0})
    );
    assert_eq!(u["completedJobs"], 0);
    assert_eq!(u["kyc"]["status"], "none");

    // Stored in minor units; the derived figures come from the platform.
    let id = tech.id.clone();
    let minor: i64 = s
        .query(move |c| {
            c.query_row(
                "SELECT hourly_rate_minor FROM technician_profiles WHERE user_id = ?1",
                [&id],
                |r| r.get(0),
            )
        })
        .await;
    assert_eq!(minor, 150_050);
    let id = tech.id.clone();
    s.state
        .db
        .write(move |tx| {
            baitech::users::technician::set_job_stats(
                tx,
                &id,
                &baitech::users::technician::JobStats {
                    completed_jobs: 12,
                    cancelled_jobs: 1,
                    completion_rate: Some(92.3),
                    avg_response_mins: Some(14.0),
                },
            )?;
            baitech::users::technician::set_rating(tx, &id, 4.5, 10)
        })
        .await
        .unwrap();
    let public = s
        .get(&format!("/api/v1/users/{}", tech.id), None)
        .await
        .expect(200);
    let p = &public["user"];
    assert_eq!(
        (
            p["completedJobs"].clone(),
            p["completionRate"].clone(),
            p["averageResponseTime"].clone()
        ),
        (json!(12), json!(92.3), json!(14.0))
    );
    assert_eq!(p["stats"]["completedBookings"], 12);
    assert_eq!(p["rating"], json!({"average": 4.5, "count": 10}));
    assert!(p.get("phoneNumber").is_none());

    // The technician entered the nearby index with skills and categories as tags.
    let point = s.state.geo.get(&tech.id).expect("indexed");
    for tag in ["pipe fitting", "plumbing", "wiring", "electrical", "hvac"] {
        assert!(point.has_tag(tag), "{tag} not in {:?}", point.tags);
    }
    assert!(events_of(&s, "user.updated", &tech.id).await >= 1);
    let payload: String = {
        let id = tech.id.clone();
        s.query(move |c| {
            c.query_row(
                "SELECT payload FROM events WHERE kind = 'user.updated' AND subject_id = ?1",
                [&id],
                |r| r.get(0),
            )
        })
        .await
    };
    let payload: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(payload["userId"], tech.id.as_str());
    assert!(payload["changed"]
        .as_array()
        .unwrap()
        .contains(&json!("skills")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_by_owner_stranger_anonymous_and_admin() {
    let s = TestServer::start().await;
    let owner = s.register("customer").await;
    let stranger = s.register("customer").await;
    let support = s.staff("support").await;
    let admin = s.staff("admin").await;
    let path = format!("/api/v1/users/{}", owner.id);
    let scenarios: Vec<(&str, Option<&str>, &str, u16)> = vec![
        ("anonymous", None, path.as_str(), 401),
        (
            "stranger",
            Some(stranger.token.as_str()),
            path.as_str(),
            403,
        ),
        (
            "support staff",
            Some(support.token.as_str()),
            path.as_str(),
            403,
        ),
        ("owner", Some(owner.token.as_str()), path.as_str(), 200),
        ("admin", Some(admin.token.as_str()), path.as_str(), 200),
        (
            "owner, unknown id",
            Some(owner.token.as_str()),
            "/api/v1/users/0123456789abcdef01234567",
            404,
        ),
        (
            "owner, malformed id",
            Some(owner.token.as_str()),
            "/api/v1/users/xyz",
            404,
        ),
    ];
    for (who, token, p, want) in scenarios {
        let res = s
            .put(p, token, json!({"bio": format!("set by {who}")}))
            .await;
        assert_eq!(res.status.as_u16(), want, "PUT as {who}: {}", res.body);
        if want == 200 {
            continue; // deletes are exercised below
        }
        let res = s.delete(p, token).await;
        assert_eq!(res.status.as_u16(), want, "DELETE as {who}: {}", res.body);
    }
    let id = owner.id.clone();
    let bio: String = s
        .query(move |c| c.query_row("SELECT bio FROM users WHERE id = ?1", [&id], |r| r.get(0)))
        .await;
    assert_eq!(bio, "set by admin");

    // Validation names each field; a taken phone is a conflict.
    let bad = s
        .put(&path, Some(&owner.token), json!({"firstName": "", "bio": "x".repeat(501), "location": {"coordinates": [0, 100]}, "gender": "robot"}))
        .await
        .expect(400);
    let fields: Vec<&str> = bad["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["firstName", "bio", "location.coordinates", "gender"]
    );
    let taken = s
        .put(
            &path,
            Some(&owner.token),
            json!({"phoneNumber": stranger.phone}),
        )
        .await
        .expect(409);
    assert_eq!(taken["message"], "Phone number already registered");
    s.put(&path, Some(&owner.token), json!([1, 2]))
        .await
        .expect(400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mass_assignment_never_changes_privileged_fields() {
    let s = TestServer::start().await;
    let owner = s.register("technician").await;
    let admin = s.staff("admin").await;
    let attack = json!({
        "role": "admin", "status": "banned", "rating": {"average": 5, "count": 999}, "kycStatus": "approved",
        "kyc": {"status": "approved", "verified": true}, "isEmailVerified": true, "isPhoneVerified": true,
        "completedJobs": 500, "completionRate": 100, "stats": {"completedBookings": 500}, "tokenVersion": 0,
        "email": "evil@example.com", "passwordHash": "x", "subscription": {"plan": "premium"},
        "followersCount": 1_000_000, "deletedAt": null, "_id": "0123456789abcdef01234567",
        "$set": {"role": "admin"}, "skills": [{"name": "Tiling", "category": "flooring", "verified": true}],
        "bio": "honest",
    });
    let res = s
        .put(
            &format!("/api/v1/users/{}", owner.id),
            Some(&owner.token),
            attack.clone(),
        )
        .await
        .expect(200);
    assert_eq!(res["user"]["role"], "technician");
    assert_eq!(res["user"]["_id"], owner.id.as_str());
    let id = owner.id.clone();
    let row: (String, String, f64, i64, String, String, bool, i64, bool, String) = s
        .query(move |c| {
            c.query_row(
                "SELECT u.role, u.status, u.rating_avg, u.rating_count, u.kyc_status, u.email, u.is_email_verified,
                        COALESCE(p.completed_jobs, 0), s.is_verified, u.bio
                 FROM users u LEFT JOIN technician_profiles p ON p.user_id = u.id JOIN user_skills s ON s.user_id = u.id
                 WHERE u.id = ?1",
                [&id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?)),
            )
        })
        .await;
    assert_eq!(
        row,
        (
            "technician".into(),
            "active".into(),
            0.0,
            0,
            "none".into(),
            owner.email.clone(),
            false,
            0,
            false,
            "honest".into()
        )
    );
    let (followers, plan) = (
        res["user"]["followersCount"].clone(),
        res["user"]["subscription"]["plan"].clone(),
    );
    assert_eq!((followers, plan), (json!(0), json!("free")));

    // An admin may set role and status explicitly, never their own.
    let res = s
        .put(
            &format!("/api/v1/users/{}", owner.id),
            Some(&admin.token),
            json!({"status": "suspended", "role": "customer"}),
        )
        .await
        .expect(200);
    assert_eq!(
        (res["user"]["status"].clone(), res["user"]["role"].clone()),
        (json!("suspended"), json!("customer"))
    );
    assert!(s.state.geo.get(&owner.id).is_none());
    assert_eq!(events_of(&s, "user.status_changed", &owner.id).await, 1);
    assert_eq!(events_of(&s, "user.role_changed", &owner.id).await, 1);
    // The suspended account is signed out at once, and cannot sign in again.
    s.get("/api/v1/auth/me", Some(&owner.token))
        .await
        .expect(401);
    s.post(
        "/api/v1/auth/refresh",
        None,
        json!({"refreshToken": owner.refresh}),
    )
    .await
    .expect(401);
    let own = s
        .put(
            &format!("/api/v1/users/{}", admin.id),
            Some(&admin.token),
            json!({"role": "customer", "status": "banned"}),
        )
        .await
        .expect(400);
    assert_eq!(own["errors"].as_array().unwrap().len(), 2);
    let bad = s
        .put(
            &format!("/api/v1/users/{}", owner.id),
            Some(&admin.token),
            json!({"status": "deleted"}),
        )
        .await
        .expect(400);
    assert_eq!(bad["errors"][0]["field"], "status");
}

// ---------------------------------------------------------------- lists

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_combine_every_filter_with_sort_and_pages() {
    let s = TestServer::start().await;
    let admin = s.staff("admin").await;
    let mut plumber = Seed::new("technician", "Amani")
        .at(36.82, -1.29)
        .skill("Pipe fitting", "plumbing");
    plumber.rating = 4.8;
    plumber.bio = Some("Emergency plumbing, Westlands".into());
    let mut electrician = Seed::new("technician", "Baraka")
        .at(36.83, -1.28)
        .skill("Wiring", "electrical");
    electrician.rating = 3.9;
    let mut far_plumber = Seed::new("technician", "Chebet")
        .at(39.66, -4.04)
        .skill("Pipe fitting", "plumbing");
    far_plumber.rating = 4.9;
    let mut suspended = Seed::new("technician", "Dalmas")
        .at(36.82, -1.29)
        .skill("Pipe fitting", "plumbing");
    suspended.status = "suspended";
    let mut deleted = Seed::new("technician", "Esther")
        .at(36.82, -1.29)
        .skill("Pipe fitting", "plumbing");
    deleted.status = "deleted";
    let customer = Seed::new("customer", "Faith").at(36.8201, -1.29);
    let ids = seed(
        &s,
        vec![
            plumber,
            electrician,
            far_plumber,
            suspended,
            deleted,
            customer,
        ],
    )
    .await;
    let (amani, baraka, chebet, dalmas, esther, faith) =
        (&ids[0], &ids[1], &ids[2], &ids[3], &ids[4], &ids[5]);

    let list = |q: &str| format!("/api/v1/users?{q}");
    let got = |body: &Value| ids_of(&body["users"]);
    let body = s.get(&list("role=technician"), None).await.expect(200);
    for k in ["success", "count", "total", "page", "pages", "users"] {
        assert!(body.get(k).is_some(), "{k}");
    }
    assert_eq!(
        got(&body),
        [chebet.clone(), baraka.clone(), amani.clone()],
        "active only, newest first"
    );
    assert!(body["users"][0].get("email").is_none());
    let cases: Vec<(&str, Vec<&String>)> = vec![
        ("role=technician&skills=plumbing", vec![chebet, amani]),
        (
            "role=technician&skills=Pipe%20fitting,wiring&minRating=4",
            vec![chebet, amani],
        ),
        ("minRating=4.85", vec![chebet]),
        ("search=westlands", vec![amani]),
        ("search=pipe&sort=-rating", vec![chebet, amani]),
        ("lat=-1.29&lng=36.82&radius=5", vec![amani, faith, baraka]),
        (
            "lat=-1.29&lng=36.82&radius=5&role=technician&skills=plumbing",
            vec![amani],
        ),
        (
            "lat=-1.29&lng=36.82&radius=5&sort=-firstName",
            vec![faith, baraka, amani],
        ),
        (
            "role=technician&sort=firstName&limit=2&page=2",
            vec![chebet],
        ),
        ("status=suspended", vec![chebet, baraka, amani, faith]),
    ];
    for (q, want) in cases {
        let body = s.get(&list(q), None).await.expect(200);
        let want: Vec<String> = want.into_iter().cloned().collect();
        let mut g = got(&body);
        if q.starts_with("status=") {
            g.retain(|id| ids.contains(id));
            let mut w = want.clone();
            w.sort();
            g.sort();
            assert_eq!(g, w, "{q}: non-admins always see active accounts");
            continue;
        }
        assert_eq!(g, want, "{q}");
        if q.contains("lat=") {
            let d = body["users"][0]["distance"].as_f64().unwrap();
            assert!(d < 5.0, "{q}: {d}");
        }
    }
    let paged = s
        .get(&list("role=technician&sort=firstName&limit=2&page=2"), None)
        .await
        .expect(200);
    assert_eq!(
        (
            paged["total"].clone(),
            paged["pages"].clone(),
            paged["count"].clone()
        ),
        (json!(3), json!(2), json!(1))
    );

    // Admins filter by status (deleted accounts only when asked) and see private fields.
    let body = s
        .get(&list("status=suspended"), Some(&admin.token))
        .await
        .expect(200);
    assert_eq!(got(&body), vec![dalmas.to_string()]);
    assert!(body["users"][0]["email"].is_string());
    let body = s
        .get(&list("role=technician"), Some(&admin.token))
        .await
        .expect(200);
    assert!(!got(&body).contains(esther));
    let body = s
        .get(&list("status=deleted"), Some(&admin.token))
        .await
        .expect(200);
    assert_eq!(got(&body), vec![esther.to_string()]);

    for (q, field) in [
        ("role=wizard", "role"),
        ("minRating=9", "minRating"),
        ("lat=-1.29", "lng"),
        ("lat=100&lng=0", "lat"),
        ("lat=0&lng=0&radius=-5", "radius"),
        ("sort=password_hash", "sort"),
        ("sort=distance", "sort"),
        ("limit=1000", "limit"),
        ("page=0", "page"),
    ] {
        let res = s.get(&list(q), None).await.expect(400);
        assert!(
            res["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "{q}: {res}"
        );
    }
    // LIKE wildcards in a search are literal.
    let body = s.get(&list("search=%25"), None).await.expect(200);
    assert_eq!(body["total"], 0);
}

// ---------------------------------------------------------------- nearby

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nearby_agrees_with_a_brute_force_great_circle_on_random_data() {
    use rand::{Rng, SeedableRng};
    let s = TestServer::start().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let centres = [
        (36.82, -1.29),
        (179.95, -16.5),
        (-179.9, 65.0),
        (12.0, 89.7),
        (-60.0, -89.5),
        (0.0, 0.0),
    ];
    let cats = ["plumbing", "electrical", "carpentry"];
    let mut seeds = Vec::new();
    for i in 0..1500 {
        let (clng, clat) = centres[i % centres.len()];
        let mut lat: f64 = clat + rng.gen_range(-1.5..1.5f64);
        let mut lng: f64 = clng + rng.gen_range(-3.0..3.0);
        // Past a pole, come down the other side of it.
        if lat > 90.0 {
            lat = 180.0 - lat;
            lng += 180.0;
        } else if lat < -90.0 {
            lat = -180.0 - lat;
            lng += 180.0;
        }
        if lng > 180.0 {
            lng -= 360.0;
        }
        if lng < -180.0 {
            lng += 360.0;
        }
        let cat = cats[rng.gen_range(0..cats.len())];
        let mut t = Seed::new("technician", &format!("T{i}"))
            .at(lng, lat)
            .skill(&format!("{cat} work"), cat);
        t.availability = if rng.gen_bool(0.7) {
            "available"
        } else {
            "busy"
        };
        t.rating = rng.gen_range(0.0..5.0);
        seeds.push(t);
    }
    let all = seeds.clone();
    let ids = seed(&s, seeds).await;
    let mut queries: Vec<(f64, f64, f64, Option<&str>, bool)> = Vec::new();
    for (i, (clng, clat)) in centres.iter().enumerate() {
        queries.push((*clng, *clat, 100.0, None, false));
        queries.push((*clng, *clat, 80.0, Some(cats[i % 3]), true));
    }
    queries.push((180.0, -16.5, 100.0, None, false));
    queries.push((-180.0, -16.6, 60.0, Some("electrical"), false));
    queries.push((0.0, 90.0, 100.0, None, true));
    queries.push((90.0, -90.0, 100.0, None, false));
    let mut checked = 0;
    for (lng, lat, radius, skill, available) in queries {
        let mut want: Vec<(f64, String)> = all
            .iter()
            .zip(&ids)
            .filter(|(t, _)| !available || t.availability == "available")
            .filter(|(t, _)| skill.is_none_or(|k| t.skills.iter().any(|(_, c)| c == k)))
            .map(|(t, id)| (distance_km((lng, lat), t.location.unwrap()), id.clone()))
            .filter(|(d, _)| *d <= radius)
            .collect();
        want.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        let mut got: Vec<(f64, String)> = Vec::new();
        let mut page = 1;
        loop {
            let q = format!(
                "/api/v1/users/nearby-technicians?lat={lat}&lng={lng}&radius={radius}&limit=100&page={page}&available={available}{}",
                skill.map(|k| format!("&skills={k}")).unwrap_or_default()
            );
            let body = s.get(&q, None).await.expect(200);
            assert_eq!(body["total"].as_i64().unwrap() as usize, want.len(), "{q}");
            let items = body["technicians"].as_array().unwrap();
            for t in items {
                got.push((
                    t["distance"].as_f64().unwrap(),
                    t["_id"].as_str().unwrap().to_string(),
                ));
            }
            if items.len() < 100 {
                break;
            }
            page += 1;
        }
        // Same technicians, nearest first, each at its brute-force distance.
        let expected: std::collections::HashMap<&str, f64> =
            want.iter().map(|(d, id)| (id.as_str(), *d)).collect();
        assert_eq!(got.len(), want.len());
        for w in got.windows(2) {
            assert!(w[0].0 <= w[1].0, "not sorted at ({lng}, {lat}) r={radius}");
        }
        for (d, id) in &got {
            let brute = expected
                .get(id.as_str())
                .unwrap_or_else(|| panic!("{id} is not within {radius} km of ({lng}, {lat})"));
            assert!((d - brute).abs() < 0.001, "distance {d} vs {brute}");
        }
        checked += want.len();
    }
    assert!(checked > 500, "the queries should find plenty ({checked})");

    // The card keys clients read.
    let body = s
        .get(
            "/api/v1/users/nearby-technicians?lat=-1.29&lng=36.82&radius=50&limit=1",
            None,
        )
        .await
        .expect(200);
    let card = &body["technicians"][0];
    for k in [
        "_id",
        "id",
        "firstName",
        "lastName",
        "fullName",
        "profilePicture",
        "rating",
        "skills",
        "location",
        "businessName",
        "distance",
        "hourlyRate",
        "availability",
        "kyc",
    ] {
        assert!(card.get(k).is_some(), "{k} missing: {card}");
    }
    assert!(card.get("phoneNumber").is_none() && card.get("email").is_none());
    // A card says what the profile says.
    let id = card["_id"].as_str().unwrap();
    let profile = s
        .get(&format!("/api/v1/users/{id}"), None)
        .await
        .expect(200);
    for k in [
        "skills",
        "rating",
        "availability",
        "hourlyRate",
        "serviceRadius",
        "location",
        "kyc",
    ] {
        assert_eq!(card[k], profile["user"][k], "{k}");
    }
    assert_eq!(card["skills"][0]["verified"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nearby_names_each_bad_parameter_and_caps_the_radius() {
    let s = TestServer::start().await;
    let base = "/api/v1/users/nearby-technicians";
    for (q, field) in [
        ("", "lat"),
        ("?lat=-1.29", "lng"),
        ("?lng=36.8", "lat"),
        ("?lat=91&lng=0", "lat"),
        ("?lat=0&lng=-181", "lng"),
        ("?lat=abc&lng=0", "lat"),
        ("?lat=0&lng=NaN", "lng"),
        ("?lat=0&lng=0&radius=0", "radius"),
        ("?lat=0&lng=0&radius=ten", "radius"),
        ("?lat=0&lng=0&available=maybe", "available"),
        ("?lat=0&lng=0&minRating=-1", "minRating"),
        ("?lat=0&lng=0&limit=0", "limit"),
    ] {
        let res = s.get(&format!("{base}{q}"), None).await.expect(400);
        let named: Vec<&str> = res["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(named.contains(&field), "{q}: {res}");
    }
    // 150 km away is outside the 100 km cap even when 1000 km is asked for.
    let ids = seed(
        &s,
        vec![
            Seed::new("technician", "Near").at(36.82, -1.29),
            Seed::new("technician", "Far").at(36.82, 0.06),
        ],
    )
    .await;
    let body = s
        .get(&format!("{base}?lat=-1.29&lng=36.82&radius=1000"), None)
        .await
        .expect(200);
    assert_eq!(ids_of(&body["technicians"]), [ids[0].clone()]);
    let body = s
        .get(&format!("{base}?lat=-1.29&lng=36.82"), None)
        .await
        .expect(200);
    assert_eq!(body["total"], 1, "default radius 10 km");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_follows_every_committed_change() {
    let s = TestServer::start().await;
    let tech = s.register("technician").await;
    let admin = s.staff("admin").await;
    let near = |extra: &str| {
        format!("/api/v1/users/nearby-technicians?lat=-1.29&lng=36.82&radius=5{extra}")
    };
    let found = |body: &Value| ids_of(&body["technicians"]).contains(&tech.id);
    assert!(
        !found(&s.get(&near(""), None).await.expect(200)),
        "no location yet"
    );
    let me = format!("/api/v1/users/{}", tech.id);
    s.put(
        &me,
        Some(&tech.token),
        json!({"location": {"coordinates": [36.821, -1.291]}, "skills": ["plumbing"]}),
    )
    .await
    .expect(200);
    assert!(found(
        &s.get(&near("&skills=plumbing"), None).await.expect(200)
    ));
    assert!(!found(
        &s.get(&near("&skills=electrical"), None).await.expect(200)
    ));
    assert_index_matches_db(&s).await;

    s.put(
        &me,
        Some(&tech.token),
        json!({"skills": [{"name": "Wiring", "category": "electrical"}]}),
    )
    .await
    .expect(200);
    assert!(found(
        &s.get(&near("&skills=electrical"), None).await.expect(200)
    ));
    assert!(!found(
        &s.get(&near("&skills=plumbing"), None).await.expect(200)
    ));

    s.put(
        &format!("{me}/availability"),
        Some(&tech.token),
        json!({"isAvailable": false}),
    )
    .await
    .expect(200);
    assert!(!found(&s.get(&near(""), None).await.expect(200)));
    assert!(found(
        &s.get(&near("&available=false"), None).await.expect(200)
    ));
    assert_index_matches_db(&s).await;

    s.put(
        &me,
        Some(&tech.token),
        json!({"location": {"coordinates": [39.66, -4.04]}}),
    )
    .await
    .expect(200);
    assert!(!found(
        &s.get(&near("&available=false"), None).await.expect(200)
    ));
    s.put(
        &me,
        Some(&tech.token),
        json!({"location": {"coordinates": [36.821, -1.291]}}),
    )
    .await
    .expect(200);
    s.put(&me, Some(&admin.token), json!({"status": "suspended"}))
        .await
        .expect(200);
    assert!(!found(
        &s.get(&near("&available=false"), None).await.expect(200)
    ));
    s.put(&me, Some(&admin.token), json!({"status": "active"}))
        .await
        .expect(200);
    assert!(found(
        &s.get(&near("&available=false"), None).await.expect(200)
    ));
    // The suspension signed the technician out: sign in again.
    let tech = s.login(&tech.email, &tech.password, "technician").await;
    s.put(&me, Some(&tech.token), json!({"location": null}))
        .await
        .expect(200);
    assert!(s.state.geo.get(&tech.id).is_none());
    s.put(
        &me,
        Some(&tech.token),
        json!({"location": {"coordinates": [36.821, -1.291]}}),
    )
    .await
    .expect(200);
    assert_index_matches_db(&s).await;

    s.delete(&me, Some(&tech.token)).await.expect(200);
    assert!(!found(
        &s.get(&near("&available=false"), None).await.expect(200)
    ));
    assert_index_matches_db(&s).await;

    // Concurrent updates from many technicians leave the index equal to SQLite.
    let others = seed(
        &s,
        (0..20)
            .map(|i| Seed::new("technician", &format!("C{i}")).at(36.8, -1.3))
            .collect(),
    )
    .await;
    let geo = s.state.geo.clone();
    let writes = others.iter().enumerate().map(|(i, id)| {
        let (db, geo, id) = (s.state.db.clone(), geo.clone(), id.clone());
        async move {
            db.write_then(
                {
                    let id = id.clone();
                    move |tx| {
                        tx.execute(
                            "UPDATE users SET location_lng = ?2, location_lat = ?3, status = ?4 WHERE id = ?1",
                            rusqlite::params![id, 36.8 + i as f64 * 0.01, -1.3, if i % 3 == 0 { "banned" } else { "active" }],
                        )?;
                        Ok(())
                    }
                },
                move |conn, _| {
                    geo.refresh(conn, &id).unwrap();
                },
            )
            .await
            .unwrap()
        }
    });
    join_all(writes).await;
    assert_index_matches_db(&s).await;
}

// ---------------------------------------------------------------- follows

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_toggle_count_and_survive_double_clicks() {
    let s = TestServer::start_with(|c| c.follow_debounce_ms = 60_000).await;
    let a = s.register("customer").await;
    let b = s.register("technician").await;
    let c = s.register("corporate").await;
    let follow_b = format!("/api/v1/users/{}/follow", b.id);
    s.post(&follow_b, None, json!({})).await.expect(401);
    let own = s
        .post(
            &format!("/api/v1/users/{}/follow", a.id),
            Some(&a.token),
            json!({}),
        )
        .await
        .expect(400);
    assert_eq!(own["message"], "You cannot follow yourself");
    s.post(
        "/api/v1/users/0123456789abcdef01234567/follow",
        Some(&a.token),
        json!({}),
    )
    .await
    .expect(404);
    s.post("/api/v1/users/nope/follow", Some(&a.token), json!({}))
        .await
        .expect(404);

    // A double click: two concurrent toggles follow once.
    let answers = join_all((0..2).map(|_| s.post(&follow_b, Some(&a.token), json!({})))).await;
    for res in answers {
        let body = res.expect(200);
        assert_eq!(
            (body["isFollowing"].clone(), body["message"].clone()),
            (json!(true), json!("Followed successfully"))
        );
    }
    let bid = b.id.clone();
    let rows: i64 = s
        .query(move |c| {
            c.query_row(
                "SELECT COUNT(*) FROM follows WHERE followee_id = ?1 AND active = 1",
                [&bid],
                |r| r.get(0),
            )
        })
        .await;
    assert_eq!(rows, 1);
    // Explicit states are idempotent whatever the timing.
    let answers =
        join_all((0..3).map(|_| s.post(&follow_b, Some(&c.token), json!({"follow": true})))).await;
    for res in answers {
        assert_eq!(res.expect(200)["isFollowing"], true);
    }
    s.post(
        &format!("/api/v1/users/{}/follow", c.id),
        Some(&a.token),
        json!({"follow": true}),
    )
    .await
    .expect(200);
    let profile = s
        .get(&format!("/api/v1/users/{}", b.id), Some(&a.token))
        .await
        .expect(200);
    assert_eq!(
        (
            profile["user"]["followersCount"].clone(),
            profile["user"]["isFollowing"].clone()
        ),
        (json!(2), json!(true))
    );
    let a_profile = s
        .get(&format!("/api/v1/users/{}", a.id), None)
        .await
        .expect(200);
    assert_eq!(a_profile["user"]["followingCount"], 2);

    let followers = s
        .get(&format!("/api/v1/users/{}/followers", b.id), None)
        .await
        .expect(200);
    assert_eq!(
        (followers["count"].clone(), followers["total"].clone()),
        (json!(2), json!(2))
    );
    let card = &followers["followers"][0];
    assert_eq!(keys(card).len(), 9, "{card}");
    for k in [
        "_id",
        "id",
        "firstName",
        "lastName",
        "fullName",
        "age",
        "role",
        "profilePicture",
        "rating",
    ] {
        assert!(card.get(k).is_some(), "{k}");
    }
    let following = s
        .get(&format!("/api/v1/users/{}/following?limit=1", a.id), None)
        .await
        .expect(200);
    assert_eq!(
        (
            following["count"].clone(),
            following["total"].clone(),
            following["pages"].clone()
        ),
        (json!(1), json!(2), json!(2))
    );
    s.get("/api/v1/users/0123456789abcdef01234567/followers", None)
        .await
        .expect(404);
    s.get(&format!("/api/v1/users/{}/following?page=0", a.id), None)
        .await
        .expect(400);

    // Unfollow explicitly; the counts follow.
    let body = s
        .post(&follow_b, Some(&a.token), json!({"follow": false}))
        .await
        .expect(200);
    assert_eq!(
        (
            body["isFollowing"].clone(),
            body["message"].clone(),
            body["followersCount"].clone()
        ),
        (json!(false), json!("Unfollowed successfully"), json!(1))
    );
    assert_eq!(events_of(&s, "user.followed", &b.id).await, 2);
    assert_eq!(events_of(&s, "user.unfollowed", &b.id).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_debounce_window_follow_is_a_plain_toggle_and_races_stay_consistent() {
    let s = TestServer::start_with(|c| c.follow_debounce_ms = 0).await;
    let a = s.register("customer").await;
    let b = s.register("customer").await;
    let path = format!("/api/v1/users/{}/follow", b.id);
    assert_eq!(
        s.post(&path, Some(&a.token), json!({})).await.expect(200)["isFollowing"],
        true
    );
    assert_eq!(
        s.post(&path, Some(&a.token), json!({})).await.expect(200)["isFollowing"],
        false
    );
    // Ten concurrent toggles: the writer serialises them, so the final
    // state is the parity of the count and the counters equal the table.
    let answers = join_all((0..10).map(|_| s.post(&path, Some(&a.token), json!({})))).await;
    let follows = answers
        .into_iter()
        .map(|r| r.expect(200)["isFollowing"].as_bool().unwrap())
        .filter(|f| *f)
        .count();
    assert_eq!(follows, 5);
    let (bid, aid) = (b.id.clone(), a.id.clone());
    let (active, followers, following): (i64, i64, i64) = s
        .query(move |c| {
            c.query_row(
                "SELECT (SELECT COUNT(*) FROM follows WHERE followee_id = ?1 AND active = 1),
                        (SELECT followers_count FROM user_profiles WHERE user_id = ?1),
                        (SELECT following_count FROM user_profiles WHERE user_id = ?2)",
                [&bid, &aid],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
        })
        .await;
    assert_eq!((active, followers, following), (0, 0, 0));
}

// ---------------------------------------------------------------- portfolio

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portfolio_items_by_owner_admin_and_strangers() {
    let s = TestServer::start_with(|c| c.portfolio_items_per_user = 2).await;
    let tech = s.register("technician").await;
    let other = s.register("technician").await;
    let customer = s.register("customer").await;
    let admin = s.staff("admin").await;
    let base = format!("/api/v1/users/{}/portfolio", tech.id);
    // Images are the technician's own uploads, by URL or publicId.
    let a = crate::media::upload_png(&s, &tech.token).await;
    let b = crate::media::upload_png(&s, &tech.token).await;
    let b_id = b["publicId"].as_str().unwrap().to_string();
    let item = json!({"title": "Kitchen sink", "description": "Replaced the trap", "category": "plumbing",
                      "images": [a["url"], {"url": "/media/b.jpg", "publicId": b_id}],
                      "completedAt": "2025-03-01", "client": {"name": "Wanjiru", "testimonial": "Fast"}});
    // An external URL or another user's upload is refused, naming the image.
    let foreign = crate::media::upload_png(&s, &other.token).await;
    for images in [
        json!(["https://cdn.example.com/a.jpg"]),
        json!([a["url"], foreign["url"]]),
    ] {
        let mut bad = item.clone();
        bad["images"] = images;
        let res = s.post(&base, Some(&tech.token), bad).await.expect(400);
        assert!(
            res["errors"][0]["field"]
                .as_str()
                .unwrap()
                .starts_with("images["),
            "{res}"
        );
    }
    s.post(&base, None, item.clone()).await.expect(401);
    s.post(&base, Some(&other.token), item.clone())
        .await
        .expect(403);
    s.post(
        &format!("/api/v1/users/{}/portfolio", customer.id),
        Some(&customer.token),
        item.clone(),
    )
    .await
    .expect(400);
    let bad = s
        .post(&base, Some(&tech.token), json!({"category": "magic"}))
        .await
        .expect(400);
    assert_eq!(bad["errors"][0]["field"], "title");
    let created = s
        .post(&base, Some(&tech.token), item.clone())
        .await
        .expect(201);
    let saved = &created["item"];
    for k in [
        "_id",
        "id",
        "title",
        "description",
        "images",
        "category",
        "completedAt",
        "client",
        "createdAt",
        "updatedAt",
    ] {
        assert!(saved.get(k).is_some(), "{k}");
    }
    assert_eq!(saved["images"][1]["publicId"], b_id.as_str());
    assert_eq!(saved["images"][1]["url"], b["url"]);
    assert!(saved["images"][0]["_id"].is_string());
    assert_eq!(saved["completedAt"], "2025-03-01T00:00:00.000Z");
    let item_id = saved["_id"].as_str().unwrap().to_string();
    s.post(&base, Some(&admin.token), json!({"title": "Second"}))
        .await
        .expect(201);
    let full = s
        .post(&base, Some(&tech.token), json!({"title": "Third"}))
        .await
        .expect(409);
    assert!(full["message"].as_str().unwrap().contains("at most 2"));

    let list = s.get(&base, None).await.expect(200);
    assert_eq!(keys(&list), ["portfolio", "posts", "success"]);
    assert_eq!(list["portfolio"].as_array().unwrap().len(), 2);
    let not_tech = s
        .get(&format!("/api/v1/users/{}/portfolio", customer.id), None)
        .await
        .expect(400);
    assert_eq!(not_tech["message"], "User is not a technician");
    s.get("/api/v1/users/0123456789abcdef01234567/portfolio", None)
        .await
        .expect(404);

    let one = format!("{base}/{item_id}");
    s.put(&one, Some(&other.token), json!({"title": "Mine now"}))
        .await
        .expect(403);
    let updated = s
        .put(
            &one,
            Some(&tech.token),
            json!({"description": "Replaced trap and seal"}),
        )
        .await
        .expect(200);
    assert_eq!(
        (
            updated["item"]["title"].clone(),
            updated["item"]["description"].clone()
        ),
        (json!("Kitchen sink"), json!("Replaced trap and seal"))
    );
    s.put(
        &format!("{base}/0123456789abcdef01234567"),
        Some(&tech.token),
        json!({"title": "x"}),
    )
    .await
    .expect(404);
    s.put(
        &format!("{base}/bad"),
        Some(&tech.token),
        json!({"title": "x"}),
    )
    .await
    .expect(404);
    // Another technician's item id under this technician's path is not found.
    let others = s
        .post(
            &format!("/api/v1/users/{}/portfolio", other.id),
            Some(&other.token),
            json!({"title": "Theirs"}),
        )
        .await
        .expect(201);
    let theirs = others["item"]["_id"].as_str().unwrap();
    s.delete(&format!("{base}/{theirs}"), Some(&tech.token))
        .await
        .expect(404);
    s.delete(&one, Some(&other.token)).await.expect(403);
    s.delete(&one, Some(&tech.token)).await.expect(200);
    s.delete(&one, Some(&tech.token)).await.expect(404);
    assert_eq!(
        s.get(&base, None).await.expect(200)["portfolio"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(events_of(&s, "user.updated", &tech.id).await >= 4);
}

// ---------------------------------------------------------------- availability

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn availability_is_the_technicians_own() {
    let s = TestServer::start().await;
    let tech = s.register("technician").await;
    let other = s.register("technician").await;
    let customer = s.register("customer").await;
    let admin = s.staff("admin").await;
    let path = format!("/api/v1/users/{}/availability", tech.id);
    let body = json!({"isAvailable": true, "schedule": [{"dayOfWeek": 1, "startTime": "08:00", "endTime": "12:00"},
                                                         {"dayOfWeek": 1, "startTime": "13:00", "endTime": "17:00", "isAvailable": false}]});
    for (who, token, want) in [
        ("anonymous", None, 401),
        ("admin", Some(admin.token.as_str()), 403),
        ("customer", Some(customer.token.as_str()), 403),
        ("another technician", Some(other.token.as_str()), 403),
    ] {
        let res = s.put(&path, token, body.clone()).await;
        assert_eq!(res.status.as_u16(), want, "{who}: {}", res.body);
    }
    let res = s.put(&path, Some(&tech.token), body).await.expect(200);
    assert_eq!(res["message"], "Availability updated successfully");
    let a = &res["availability"];
    assert_eq!(
        (a["isAvailable"].clone(), a["status"].clone()),
        (json!(true), json!("available"))
    );
    assert_eq!(a["schedule"].as_array().unwrap().len(), 2);
    assert_eq!(
        a["schedule"][1]["isAvailable"], true,
        "isAvailable applies to every entry"
    );
    let res = s
        .put(&path, Some(&tech.token), json!({"status": "busy"}))
        .await
        .expect(200);
    assert_eq!(
        (
            res["availability"]["isAvailable"].clone(),
            res["availability"]["status"].clone()
        ),
        (json!(false), json!("busy"))
    );
    assert_eq!(
        res["availability"]["schedule"].as_array().unwrap().len(),
        2,
        "schedule kept"
    );
    let profile = s
        .get(&format!("/api/v1/users/{}", tech.id), None)
        .await
        .expect(200);
    assert_eq!(profile["user"]["availability"]["status"], "busy");
    for (bad, field) in [
        (json!({"isAvailable": "perhaps"}), "isAvailable"),
        (json!({"status": "asleep"}), "status"),
        (json!({"isAvailable": true, "status": "offline"}), "status"),
        (
            json!({"schedule": [{"dayOfWeek": 9}]}),
            "schedule[0].dayOfWeek",
        ),
        (
            json!({"schedule": [{"dayOfWeek": 1, "startTime": "25:00"}]}),
            "schedule[0].startTime",
        ),
        (json!({"schedule": "mondays"}), "schedule"),
    ] {
        let res = s.put(&path, Some(&tech.token), bad).await.expect(400);
        assert_eq!(res["errors"][0]["field"], field);
    }
    assert!(events_of(&s, "user.availability_changed", &tech.id).await >= 2);
    let id = tech.id.clone();
    let status: String = s
        .query(move |c| {
            c.query_row(
                "SELECT availability_status FROM technician_profiles WHERE user_id = ?1",
                [&id],
                |r| r.get(0),
            )
        })
        .await;
    assert_eq!(status, "busy");
}

// ---------------------------------------------------------------- FCM

async fn tokens(s: &TestServer, id: String) -> Vec<String> {
    s.query(move |c| {
        c.prepare("SELECT token FROM fcm_tokens WHERE user_id = ?1 ORDER BY token")?
            .query_map([&id], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fcm_tokens_are_deduplicated_capped_and_the_owners_only() {
    let s = TestServer::start_with(|c| c.fcm_tokens_per_user = 3).await;
    let a = s.register("customer").await;
    let b = s.register("customer").await;
    let admin = s.staff("admin").await;
    let path = format!("/api/v1/users/{}/fcm-token", a.id);
    let add = |t: &str| json!({"token": t, "platform": "android", "device": "Pixel"});
    s.post(&path, None, add("t0")).await.expect(401);
    s.post(&path, Some(&b.token), add("t0")).await.expect(403);
    s.post(&path, Some(&admin.token), add("t0"))
        .await
        .expect(403);
    s.post("/api/v1/users/xyz/fcm-token", Some(&a.token), add("t0"))
        .await
        .expect(404);
    let bad = s
        .post(&path, Some(&a.token), json!({"platform": "symbian"}))
        .await
        .expect(400);
    let fields: Vec<&str> = bad["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["token", "platform"]);
    assert_eq!(bad["errors"][0]["message"], "FCM token is required");
    for t in ["t1", "t1", "t2", "t3", "t4"] {
        let res = s.post(&path, Some(&a.token), add(t)).await.expect(200);
        assert_eq!(res["message"], "FCM token added successfully");
    }
    assert_eq!(
        tokens(&s, a.id.clone()).await,
        ["t2", "t3", "t4"],
        "deduplicated, oldest dropped"
    );
    // A device that signs in to another account takes its token along.
    s.post(
        &format!("/api/v1/users/{}/fcm-token", b.id),
        Some(&b.token),
        add("t4"),
    )
    .await
    .expect(200);
    assert_eq!(tokens(&s, a.id.clone()).await, ["t2", "t3"]);
    assert_eq!(tokens(&s, b.id.clone()).await, ["t4"]);
    let id = a.id.clone();
    let listed = s
        .state
        .db
        .read(move |c| baitech::users::store::fcm_tokens(c, &id))
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);

    s.call(
        reqwest::Method::DELETE,
        &path,
        Some(&b.token),
        Some(json!({"token": "t2"})),
    )
    .await
    .expect(403);
    s.call(
        reqwest::Method::DELETE,
        &path,
        Some(&a.token),
        Some(json!({})),
    )
    .await
    .expect(400);
    let res = s
        .call(
            reqwest::Method::DELETE,
            &path,
            Some(&a.token),
            Some(json!({"token": "t2"})),
        )
        .await
        .expect(200);
    assert_eq!(res["message"], "FCM token removed successfully");
    s.call(
        reqwest::Method::DELETE,
        &path,
        Some(&a.token),
        Some(json!({"token": "t4"})),
    )
    .await
    .expect(200);
    assert_eq!(tokens(&s, a.id.clone()).await, ["t3"]);
    assert_eq!(
        tokens(&s, b.id.clone()).await,
        ["t4"],
        "another account's token is not removed"
    );
}

// ---------------------------------------------------------------- KYC

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kyc_is_submitted_by_the_technician_and_decided_by_an_admin() {
    let s = TestServer::start().await;
    let tech = s.register("technician").await;
    let customer = s.register("customer").await;
    let admin = s.staff("admin").await;
    let kyc = format!("/api/v1/users/{}/kyc", tech.id);
    // KYC documents are the technician's own uploads.
    let front = crate::media::upload_png(&s, &tech.token).await;
    let back = crate::media::upload_png(&s, &tech.token).await;
    let front_id = front["publicId"].as_str().unwrap().to_string();
    let submission = json!({"idType": "national_id", "idNumber": "12345678",
                            "idFrontImage": {"url": front["url"], "publicId": front_id},
                            "idBackImage": back["url"]});
    s.post(&kyc, None, submission.clone()).await.expect(401);
    s.post(&kyc, Some(&customer.token), submission.clone())
        .await
        .expect(403);
    s.post(
        &format!("/api/v1/users/{}/kyc", customer.id),
        Some(&customer.token),
        submission.clone(),
    )
    .await
    .expect(403);
    s.put(&kyc, Some(&customer.token), submission.clone())
        .await
        .expect(403);
    let bad = s
        .post(&kyc, Some(&tech.token), json!({"idType": "library_card"}))
        .await
        .expect(400);
    assert_eq!(bad["errors"][0]["field"], "idType");
    let none = s
        .put(&kyc, Some(&admin.token), json!({"status": "approved"}))
        .await
        .expect(409);
    assert_eq!(none["message"], "No KYC submission to review");

    let sent = s
        .post(&kyc, Some(&tech.token), submission.clone())
        .await
        .expect(201);
    assert_eq!(keys(&sent), ["message", "success", "user"]);
    assert_eq!(sent["user"]["kyc"]["status"], "pending");
    assert_eq!(sent["user"]["kyc"]["idNumber"], "12345678");
    let again = s
        .post(&kyc, Some(&tech.token), submission.clone())
        .await
        .expect(409);
    assert_eq!(again["message"], "KYC already submitted and under review");

    // Public view: status only; the documents are for the owner and admins.
    let public = s
        .get(&format!("/api/v1/users/{}", tech.id), Some(&customer.token))
        .await
        .expect(200);
    assert_eq!(
        public["user"]["kyc"],
        json!({"status": "pending", "verified": false})
    );
    assert!(!public.to_string().contains("12345678") && !public.to_string().contains(&front_id));
    let as_admin = s
        .get(&format!("/api/v1/users/{}", tech.id), Some(&admin.token))
        .await
        .expect(200);
    assert_eq!(
        as_admin["user"]["kyc"]["idFrontImage"]["publicId"],
        front_id.as_str()
    );

    // Reject needs a reason; then resubmit through PUT; then approve.
    s.put(&kyc, Some(&admin.token), json!({"status": "rejected"}))
        .await
        .expect(400);
    s.put(&kyc, Some(&admin.token), json!({"status": "maybe"}))
        .await
        .expect(400);
    let rejected = s
        .put(
            &kyc,
            Some(&admin.token),
            json!({"status": "rejected", "reason": "Blurry photo"}),
        )
        .await
        .expect(200);
    assert_eq!(rejected["message"], "KYC rejected");
    assert_eq!(rejected["user"]["kyc"]["rejectionReason"], "Blurry photo");
    let resent = s.put(&kyc, Some(&tech.token), submission).await.expect(200);
    assert_eq!(resent["user"]["kyc"]["status"], "pending");
    assert_eq!(resent["user"]["kyc"]["rejectionReason"], Value::Null);
    let approved = s
        .put(&kyc, Some(&admin.token), json!({"status": "approved"}))
        .await
        .expect(200);
    assert_eq!(keys(&approved), ["message", "success", "user"]);
    assert_eq!(approved["message"], "KYC approved");
    assert_eq!(approved["user"]["kyc"]["verified"], true);
    assert_eq!(approved["user"]["kyc"]["verifiedBy"], admin.id.as_str());
    s.put(&kyc, Some(&admin.token), json!({"status": "approved"}))
        .await
        .expect(409);
    s.put(
        "/api/v1/users/0123456789abcdef01234567/kyc",
        Some(&admin.token),
        json!({"status": "approved"}),
    )
    .await
    .expect(404);

    // The guards other modules use.
    let (t, c) = (tech.id.clone(), customer.id.clone());
    let (ok, refused) = s
        .state
        .db
        .read(move |conn| {
            Ok((
                baitech::users::kyc::require_approved(conn, &t).is_ok(),
                baitech::users::kyc::require_approved(conn, &c).is_err(),
            ))
        })
        .await
        .unwrap();
    assert!(ok && refused);
    let id = tech.id.clone();
    let bookable = s
        .state
        .db
        .read(move |c| baitech::users::technician::find(c, &id))
        .await
        .unwrap()
        .unwrap()
        .is_bookable(true);
    assert!(bookable);
    assert_eq!(events_of(&s, "user.kyc_reviewed", &tech.id).await, 2);
    assert_eq!(events_of(&s, "user.kyc_submitted", &tech.id).await, 2);
}

// ---------------------------------------------------------------- deletion

async fn insert_booking(s: &TestServer, customer: &TestUser, technician: &TestUser) -> String {
    let (c, t) = (customer.id.clone(), technician.id.clone());
    s.state
        .db
        .write(move |tx| {
            let id = baitech::ids::new_id();
            let now = baitech::ids::now_ms();
            tx.execute(
                "INSERT INTO bookings (id, booking_number, customer_id, technician_id, status, total_amount_minor, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, 'completed', 500000, ?5, ?5)",
                rusqlite::params![id, format!("BK-{}", &id[..8]), c, t, now],
            )?;
            Ok(id)
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_delete_locks_the_account_out_hides_it_and_keeps_bookings() {
    let s = TestServer::start().await;
    let tech = s.register("technician").await;
    let customer = s.register("customer").await;
    let stranger = s.register("customer").await;
    let admin = s.staff("admin").await;
    let me = format!("/api/v1/users/{}", tech.id);
    s.put(
        &me,
        Some(&tech.token),
        json!({"location": {"coordinates": [36.82, -1.29]}, "skills": ["plumbing"]}),
    )
    .await
    .expect(200);
    s.post(&format!("{me}/follow"), Some(&customer.token), json!({}))
        .await
        .expect(200);
    s.post(
        &format!("/api/v1/users/{}/follow", customer.id),
        Some(&tech.token),
        json!({}),
    )
    .await
    .expect(200);
    s.post(
        &format!("{me}/fcm-token"),
        Some(&tech.token),
        json!({"token": "tok", "platform": "ios"}),
    )
    .await
    .expect(200);
    let booking = insert_booking(&s, &customer, &tech).await;

    s.delete(&me, None).await.expect(401);
    let res = s.delete(&me, Some(&stranger.token)).await.expect(403);
    assert_eq!(res["message"], "Not authorized to delete this account");
    let res = s
        .call(
            reqwest::Method::DELETE,
            &me,
            Some(&tech.token),
            Some(json!({"reason": "Moving abroad"})),
        )
        .await
        .expect(200);
    assert_eq!(
        res,
        json!({"success": true, "message": "Account deleted successfully"})
    );

    // Locked out: old tokens, refresh and login.
    s.get("/api/v1/auth/me", Some(&tech.token))
        .await
        .expect(401);
    s.post(
        "/api/v1/auth/refresh",
        None,
        json!({"refreshToken": tech.refresh}),
    )
    .await
    .expect(401);
    let login = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": tech.email, "password": tech.password}),
        )
        .await
        .expect(403);
    assert_eq!(
        login["message"],
        "Account is deleted. Please contact support."
    );
    // Gone from profiles, lists, nearby and follow lists; counts follow.
    s.get(&me, None).await.expect(404);
    s.get(&me, Some(&stranger.token)).await.expect(404);
    assert_eq!(
        s.get(&me, Some(&admin.token)).await.expect(200)["user"]["status"],
        "deleted"
    );
    let list = s
        .get("/api/v1/users?role=technician", None)
        .await
        .expect(200);
    assert!(!ids_of(&list["users"]).contains(&tech.id));
    let near = s
        .get(
            "/api/v1/users/nearby-technicians?lat=-1.29&lng=36.82&available=false",
            None,
        )
        .await
        .expect(200);
    assert_eq!(near["total"], 0);
    let c = s
        .get(&format!("/api/v1/users/{}", customer.id), None)
        .await
        .expect(200);
    assert_eq!(
        (
            c["user"]["followersCount"].clone(),
            c["user"]["followingCount"].clone()
        ),
        (json!(0), json!(0))
    );
    let f = s
        .get(&format!("/api/v1/users/{}/followers", customer.id), None)
        .await
        .expect(200);
    assert_eq!(f["total"], 0);
    s.post(&format!("{me}/follow"), Some(&customer.token), json!({}))
        .await
        .expect(404);
    s.put(&me, Some(&admin.token), json!({"bio": "x"}))
        .await
        .expect(404);
    s.delete(&me, Some(&admin.token)).await.expect(404);
    // The booking stays, and so does the row it points at.
    let (bid, tid) = (booking.clone(), tech.id.clone());
    let (tech_of_booking, status, tokens, deleted_at): (String, String, i64, Option<i64>) = s
        .query(move |c| {
            c.query_row(
                "SELECT b.technician_id, u.status, (SELECT COUNT(*) FROM fcm_tokens WHERE user_id = u.id), u.deleted_at
                 FROM bookings b JOIN users u ON u.id = b.technician_id WHERE b.id = ?1 AND u.id = ?2",
                [&bid, &tid],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
        })
        .await;
    assert_eq!(
        (tech_of_booking, status, tokens),
        (tech.id.clone(), "deleted".to_string(), 0)
    );
    // The scrub is scheduled after the retention period (30 days by default).
    let tid = tech.id.clone();
    let run_at: i64 = s
        .query(move |c| {
            c.query_row(
                "SELECT run_at FROM jobs WHERE kind = 'users.scrub' AND payload LIKE '%' || ?1 || '%'",
                [&tid],
                |r| r.get(0),
            )
        })
        .await;
    let days = (run_at - deleted_at.unwrap()) as f64 / 86_400_000.0;
    assert!((days - 30.0).abs() < 0.001, "{days}");
    assert_eq!(events_of(&s, "user.deleted", &tech.id).await, 1);

    // An admin deletes someone else's account too.
    s.delete(
        &format!("/api/v1/users/{}", stranger.id),
        Some(&admin.token),
    )
    .await
    .expect(200);
    s.get("/api/v1/auth/me", Some(&stranger.token))
        .await
        .expect(401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scrub_job_blanks_personal_data_once_and_keeps_the_row() {
    let s = TestServer::start_with(|c| c.user_scrub_after_days = 0).await;
    let tech = s.register("technician").await;
    let customer = s.register("customer").await;
    let me = format!("/api/v1/users/{}", tech.id);
    s.put(&me, Some(&tech.token), json!({"bio": "Call me on 0711", "location": {"coordinates": [36.82, -1.29], "address": "Home"},
                                           "skills": ["plumbing"], "businessName": "Me Ltd"})).await.expect(200);
    s.post(
        &format!("{me}/portfolio"),
        Some(&tech.token),
        json!({"title": "Work"}),
    )
    .await
    .expect(201);
    let front = crate::media::upload_png(&s, &tech.token).await;
    s.post(
        &format!("{me}/kyc"),
        Some(&tech.token),
        json!({"idType": "passport", "idNumber": "AB123456", "idFrontImage": front["url"]}),
    )
    .await
    .expect(201);
    let booking = insert_booking(&s, &customer, &tech).await;
    for password in [tech.password.as_str(), "not the password"] {
        s.post(
            "/api/v1/auth/login",
            None,
            json!({"email": tech.email, "password": password}),
        )
        .await;
    }
    let (tid, email) = (tech.id.clone(), tech.email.clone());
    let logins = move |c: &rusqlite::Connection| {
        c.query_row(
            "SELECT COUNT(*) FROM login_history WHERE user_id = ?1 OR email = ?2",
            [&tid, &email],
            |r| r.get::<_, i64>(0),
        )
    };
    assert!(s.query(logins.clone()).await >= 2);
    s.delete(&me, Some(&tech.token)).await.expect(200);
    let tid = tech.id.clone();
    let server = &s;
    s.eventually("the scrub job ran", || {
        let tid = tid.clone();
        async move {
            server.query(move |c| {
                c.query_row("SELECT status FROM jobs WHERE kind = 'users.scrub' AND payload LIKE '%' || ?1 || '%'", [&tid], |r| r.get::<_, String>(0))
            })
            .await
                == "done"
        }
    })
    .await;
    let tid = tech.id.clone();
    let row: (String, String, String, String, Option<String>, Option<f64>, i64, i64, i64) = s
        .query(move |c| {
            c.query_row(
                "SELECT first_name || ' ' || last_name, email, phone, password_hash, bio, location_lat,
                        (SELECT COUNT(*) FROM user_skills WHERE user_id = ?1) + (SELECT COUNT(*) FROM portfolio_items WHERE user_id = ?1)
                          + (SELECT COUNT(*) FROM kyc_submissions WHERE user_id = ?1),
                        (SELECT COUNT(*) FROM bookings WHERE technician_id = ?1),
                        (SELECT COUNT(*) FROM technician_profiles WHERE user_id = ?1 AND business_name IS NULL)
                 FROM users WHERE id = ?1",
                [&tid],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?)),
            )
        })
        .await;
    assert_eq!(row.0, "Deleted User");
    assert!(row.1.ends_with("@deleted.invalid") && row.1.contains(&tech.id));
    assert!(row.2.contains(&tech.id));
    assert_eq!(
        (row.3.as_str(), row.4, row.5, row.6, row.7, row.8),
        ("!", None, None, 0, 1, 1)
    );
    assert!(!booking.is_empty());
    assert_eq!(s.query(logins).await, 0, "sign-in history is scrubbed");
    // A second run does nothing.
    let tid = tech.id.clone();
    let again = s
        .state
        .db
        .write(move |tx| baitech::users::store::scrub(tx, &tid, baitech::ids::now_ms()))
        .await
        .unwrap();
    assert!(!again);
    assert_eq!(events_of(&s, "user.scrubbed", &tech.id).await, 1);
    // The email is free for a new account.
    let res = s
        .post("/api/v1/auth/register", None, json!({"firstName": "New", "lastName": "Me", "email": tech.email, "phoneNumber": tech.phone, "password": tech.password}))
        .await;
    assert_eq!(res.status.as_u16(), 201, "{}", res.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_index_can_hand_the_list_its_ranked_candidates() {
    use baitech::users::document::Viewer;
    use baitech::users::store::{list_users, ListFilter, StatusFilter};
    let s = TestServer::start().await;
    let mut banned = Seed::new("technician", "Banned");
    banned.status = "banned";
    let ids = seed(
        &s,
        vec![
            Seed::new("technician", "A").skill("Wiring", "electrical"),
            Seed::new("technician", "B").skill("Pipes", "plumbing"),
            Seed::new("customer", "C"),
            banned,
        ],
    )
    .await;
    let ranked = vec![
        ids[3].clone(),
        ids[2].clone(),
        ids[0].clone(),
        ids[2].clone(),
        ids[1].clone(),
    ];
    let filter = ListFilter {
        role: None,
        status: StatusFilter::Active,
        skills: Vec::new(),
        min_rating: None,
        near: None,
        text: None,
        kyc_status: None,
        sort: None,
        hide_staff: false,
    };
    let run = move |filter: ListFilter, ranked: Vec<String>| {
        let db = s.state.db.clone();
        async move {
            db.read(move |c| {
                let page = baitech::http::Page { page: 1, limit: 20 };
                list_users(c, &filter, Some(&ranked), page, &|_| Viewer::Public)
            })
            .await
            .unwrap()
        }
    };
    let (users, total) = run(filter.clone(), ranked.clone()).await;
    assert_eq!(
        total, 3,
        "the banned account is filtered out, the duplicate counted once"
    );
    assert_eq!(
        ids_of(&Value::Array(users)),
        [ids[2].clone(), ids[0].clone(), ids[1].clone()],
        "rank kept"
    );
    let technicians = ListFilter {
        skills: vec!["plumbing".into()],
        ..filter.clone()
    };
    let (users, _) = run(technicians, ranked.clone()).await;
    assert_eq!(ids_of(&Value::Array(users)), [ids[1].clone()]);
    let (users, total) = run(filter, Vec::new()).await;
    assert!(users.is_empty() && total == 0);
}
