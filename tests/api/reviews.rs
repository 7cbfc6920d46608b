//! `/api/v1/reviews`: reviews after completed bookings, the reviewee's
//! aggregates, edit window, delete, helpful marks, responses, the list.

use std::collections::HashMap;

use futures_util::future::join_all;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::harness::{TestServer, TestUser};

/// Inserts a booking between `customer` and `technician` with `status`
/// (the bookings module is merged separately; V4 columns only).
async fn booking(s: &TestServer, customer: &str, technician: Option<&str>, status: &str) -> String {
    let id = baitech::ids::new_id();
    let (b, c, t, st) = (
        id.clone(),
        customer.to_string(),
        technician.map(String::from),
        status.to_string(),
    );
    s.state
        .db
        .write(move |tx| {
            let now = baitech::ids::now_ms();
            tx.execute(
                "INSERT INTO bookings (id, booking_number, customer_id, technician_id, status, service_type,
                    total_amount_minor, completed_at, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'Fix a leaking sink', 500000, ?6, ?7, ?7)",
                rusqlite::params![
                    b,
                    format!("BKG-{now}-{}", &b[18..]),
                    c,
                    t,
                    st,
                    (st == "completed").then_some(now),
                    now
                ],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    id
}

async fn completed(s: &TestServer, customer: &TestUser, technician: &TestUser) -> String {
    booking(s, &customer.id, Some(&technician.id), "completed").await
}

fn body(booking: &str, reviewee: &str, rating: Value) -> Value {
    json!({"booking": booking, "reviewee": reviewee, "rating": rating,
           "title": "Great work", "comment": "Fixed the sink in an hour."})
}

/// `(rating_avg, rating_count)` of a user as the users table holds them.
async fn user_rating(s: &TestServer, id: &str) -> (f64, i64) {
    let id = id.to_string();
    s.query(move |c| {
        c.query_row(
            "SELECT rating_avg, rating_count FROM users WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    })
    .await
}

async fn aggregate(s: &TestServer, id: &str) -> baitech::reviews::Aggregate {
    let id = id.to_string();
    s.state
        .db
        .read(move |c| baitech::reviews::aggregates(c, &id))
        .await
        .unwrap()
}

/// `(kind, actor, payload)` of the events about `subject`, oldest first.
async fn events_of(s: &TestServer, subject: &str) -> Vec<(String, String, Value)> {
    let subject = subject.to_string();
    s.query(move |c| {
        let mut stmt = c.prepare(
            "SELECT kind, actor_id, payload FROM events WHERE subject_id = ?1 AND kind LIKE 'review.%' ORDER BY id",
        )?;
        let rows = stmt.query_map([subject], |r| {
            let p: String = r.get(2)?;
            Ok((r.get(0)?, r.get(1)?, serde_json::from_str(&p).unwrap()))
        })?;
        rows.collect()
    })
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_and_technician_review_each_other_and_aggregates_follow() {
    let s = TestServer::start().await;
    let customer = s.register("customer").await;
    let tech = s.register("technician").await;
    // A technician on the map, so the index must follow the rating.
    let tid = tech.id.clone();
    s.state
        .db
        .write(move |tx| {
            tx.execute(
                "UPDATE users SET location_lng = 36.8172, location_lat = -1.2864 WHERE id = ?1",
                [&tid],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let tid = tech.id.clone();
    let st = s.state.clone();
    s.state
        .db
        .read(move |c| st.geo.refresh(c, &tid))
        .await
        .unwrap();
    assert_eq!(s.state.geo.get(&tech.id).unwrap().rating, 0.0);

    let b = completed(&s, &customer, &tech).await;
    let mut req = body(&b, &tech.id, json!(4));
    req["detailedRatings"] = json!({"quality": 5, "timeliness": 3, "value": 4, "mood": 1});
    // Photos are the reviewer's own uploads; another user's is refused.
    let one = crate::media::upload_png(&s, &customer.token).await;
    let two = crate::media::upload_png(&s, &customer.token).await;
    let foreign = crate::media::upload_png(&s, &tech.token).await;
    let mut stolen = req.clone();
    stolen["images"] = json!([one["publicId"], foreign["publicId"]]);
    let res = s
        .post("/api/v1/reviews", Some(&customer.token), stolen)
        .await
        .expect(400);
    assert_eq!(res["errors"][0]["field"], "images[1]");
    req["images"] = json!([one["publicId"], {"publicId": two["publicId"], "url": "https://cdn.example/abc.jpg", "caption": "after"}]);
    req["title"] = json!("  Great work  ");
    let res = s
        .post("/api/v1/reviews", Some(&customer.token), req)
        .await
        .expect(201);
    assert_eq!(res["success"], true);
    assert_eq!(res["message"], "Review submitted successfully");
    let review = &res["review"];
    for k in [
        "_id",
        "id",
        "booking",
        "reviewer",
        "reviewee",
        "reviewerRole",
        "rating",
        "title",
        "comment",
        "images",
        "helpful",
        "helpfulCount",
        "notHelpful",
        "notHelpfulCount",
        "verified",
        "verifiedPurchase",
        "status",
        "moderation",
        "sentimentAnalysis",
        "visibility",
        "isFeatured",
        "isEdited",
        "editCount",
        "createdAt",
        "updatedAt",
        "helpfulnessScore",
        "hasResponse",
    ] {
        assert!(review.get(k).is_some(), "missing {k} in {review}");
    }
    assert_eq!(review["_id"], review["id"]);
    assert_eq!(
        review["booking"],
        b.as_str(),
        "booking stays an id on create"
    );
    assert_eq!(review["reviewer"]["_id"], customer.id.as_str());
    assert_eq!(review["reviewer"]["firstName"], "Test");
    assert_eq!(review["reviewer"]["lastName"], "customer");
    assert_eq!(review["reviewer"]["fullName"], "Test customer");
    assert!(review["reviewer"]["profilePicture"]["url"].is_string());
    assert!(
        review["reviewer"].get("email").is_none(),
        "no private fields"
    );
    assert_eq!(review["reviewee"]["id"], tech.id.as_str());
    assert_eq!(review["reviewerRole"], "customer");
    assert_eq!(
        review["rating"],
        json!({"overall": 4, "quality": 5, "punctuality": 3, "valueForMoney": 4})
    );
    assert_eq!(review["title"], "Great work", "trimmed");
    assert_eq!(review["images"][0]["publicId"], one["publicId"]);
    assert_eq!(review["images"][1]["url"], two["url"], "the URL is ours");
    assert_eq!(review["images"][1]["caption"], "after");
    assert_eq!(review["verified"], true);
    assert_eq!(review["verifiedPurchase"], true);
    assert_eq!(review["status"], "published");
    assert_eq!(review["isEdited"], false);
    assert_eq!(review["hasResponse"], false);
    assert!(review.get("response").is_none());
    assert!(review["createdAt"].as_str().unwrap().ends_with('Z'));
    let rid = review["_id"].as_str().unwrap().to_string();
    let first_booking = b.clone();

    assert_eq!(user_rating(&s, &tech.id).await, (4.0, 1));
    let agg = aggregate(&s, &tech.id).await;
    assert_eq!(agg.count, 1);
    assert_eq!(agg.to_json()["categories"]["punctuality"], 3.0);
    assert_eq!(agg.to_json()["categories"]["professionalism"], Value::Null);
    assert_eq!(
        s.state.geo.get(&tech.id).unwrap().rating,
        4.0,
        "index follows"
    );
    let ev = events_of(&s, &rid).await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].0, "review.created");
    assert_eq!(ev[0].1, customer.id);
    assert_eq!(ev[0].2["revieweeId"], tech.id.as_str());
    assert_eq!(ev[0].2["reviewerId"], customer.id.as_str());
    assert_eq!(ev[0].2["bookingId"], b.as_str());

    // The other direction of the same booking, with the object form of rating.
    let res = s
        .post(
            "/api/v1/reviews",
            Some(&tech.token),
            body(&b, &customer.id, json!({"overall": 5, "communication": 2})),
        )
        .await
        .expect(201);
    assert_eq!(res["review"]["reviewerRole"], "technician");
    assert_eq!(
        res["review"]["rating"],
        json!({"overall": 5, "communication": 2})
    );
    assert_eq!(user_rating(&s, &customer.id).await, (5.0, 1));
    assert_eq!(user_rating(&s, &tech.id).await, (4.0, 1), "unchanged");

    // A second completed booking: the average is rounded to 2 decimals.
    for stars in [5, 4] {
        let b = completed(&s, &customer, &tech).await;
        s.post(
            "/api/v1/reviews",
            Some(&customer.token),
            body(&b, &tech.id, json!(stars)),
        )
        .await
        .expect(201);
    }
    assert_eq!(user_rating(&s, &tech.id).await, (4.33, 3));
    assert_eq!(aggregate(&s, &tech.id).await.stars, [0, 0, 0, 2, 1]);
    assert_eq!(s.state.geo.get(&tech.id).unwrap().rating, 4.33);

    // Public read, populated as the wire has it.
    let one = s
        .get(&format!("/api/v1/reviews/{rid}"), None)
        .await
        .expect(200);
    assert_eq!(one["success"], true);
    assert_eq!(one["review"]["reviewee"]["role"], "technician");
    assert!(one["review"]["reviewer"].get("role").is_none());
    assert_eq!(one["review"]["booking"]["_id"], first_booking.as_str());
    assert_eq!(one["review"]["booking"]["id"], first_booking.as_str());
    assert_eq!(one["review"]["booking"]["status"], "completed");
    assert!(one["review"]["booking"]["bookingNumber"]
        .as_str()
        .is_some_and(|n| n.starts_with("BKG-")));
    assert!(one["review"]["booking"]["serviceType"].is_string());
    s.get("/api/v1/reviews/not-an-id", None).await.expect(404);
    let missing = s
        .get("/api/v1/reviews/0123456789abcdef01234567", None)
        .await
        .expect(404);
    assert_eq!(missing["message"], "Review not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_needs_a_completed_booking_between_reviewer_and_reviewee() {
    let s = TestServer::start().await;
    let customer = s.register("customer").await;
    let tech = s.register("technician").await;
    let stranger = s.register("customer").await;
    let admin = s.staff("admin").await;

    // Booking statuses: only completed can be reviewed.
    for status in [
        "pending",
        "awaiting_acceptance",
        "accepted",
        "en_route",
        "in_progress",
        "disputed",
        "cancelled",
        "refunded",
    ] {
        let b = booking(&s, &customer.id, Some(&tech.id), status).await;
        let res = s
            .post(
                "/api/v1/reviews",
                Some(&customer.token),
                body(&b, &tech.id, json!(5)),
            )
            .await
            .expect(400);
        assert_eq!(
            res["message"], "Can only review completed bookings",
            "{status}"
        );
    }
    // A dispute resolved as completed leaves the booking completed: it counts.
    let disputed = booking(&s, &customer.id, Some(&tech.id), "disputed").await;
    let d = disputed.clone();
    s.state
        .db
        .write(move |tx| {
            tx.execute(
                "UPDATE bookings SET status = 'completed', completed_at = 1 WHERE id = ?1",
                [&d],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    s.post(
        "/api/v1/reviews",
        Some(&customer.token),
        body(&disputed, &tech.id, json!(3)),
    )
    .await
    .expect(201);

    let b = completed(&s, &customer, &tech).await;
    // actor x case -> status, message
    let cases: Vec<(&TestUser, Value, u16, &str)> = vec![
        (
            &stranger,
            body(&b, &tech.id, json!(5)),
            404,
            "Booking not found",
        ),
        (
            &admin,
            body(&b, &tech.id, json!(5)),
            404,
            "Booking not found",
        ),
        (
            &customer,
            body("0123456789abcdef01234567", &tech.id, json!(5)),
            404,
            "Booking not found",
        ),
        (
            &customer,
            body(&b, &customer.id, json!(5)),
            400,
            "You cannot review yourself",
        ),
        (
            &tech,
            body(&b, &tech.id, json!(5)),
            400,
            "You cannot review yourself",
        ),
        (
            &customer,
            body(&b, &stranger.id, json!(5)),
            400,
            "Invalid reviewee for this booking",
        ),
        (
            &tech,
            body(&b, &stranger.id, json!(5)),
            400,
            "Invalid reviewee for this booking",
        ),
    ];
    for (who, req, status, message) in cases {
        let res = s
            .post("/api/v1/reviews", Some(&who.token), req.clone())
            .await
            .expect(status);
        assert_eq!(res["message"], message, "{} {req}", who.role);
    }
    s.post("/api/v1/reviews", None, body(&b, &tech.id, json!(5)))
        .await
        .expect(401);

    // One review per booking and direction.
    s.post(
        "/api/v1/reviews",
        Some(&customer.token),
        body(&b, &tech.id, json!(5)),
    )
    .await
    .expect(201);
    let dup = s
        .post(
            "/api/v1/reviews",
            Some(&customer.token),
            body(&b, &tech.id, json!(1)),
        )
        .await
        .expect(409);
    assert_eq!(dup["message"], "You have already reviewed this booking");
    assert_eq!(
        user_rating(&s, &tech.id).await,
        (4.0, 2),
        "duplicate not counted"
    );

    // A booking whose both sides are the same account cannot be self-reviewed.
    let selfish = booking(&s, &tech.id, Some(&tech.id), "completed").await;
    s.post(
        "/api/v1/reviews",
        Some(&tech.token),
        body(&selfish, &tech.id, json!(5)),
    )
    .await
    .expect(400);

    // Validation: every bad field named, nothing stored.
    let res = s
        .post("/api/v1/reviews", Some(&customer.token), json!({}))
        .await
        .expect(400);
    let named = fields(&res);
    for f in ["booking", "reviewee", "rating", "title", "comment"] {
        assert!(named.contains(&f.to_string()), "{f} not named in {res}");
    }
    let b2 = completed(&s, &customer, &tech).await;
    let bad: Vec<(Value, &str)> = vec![
        (json!({"rating": 4.5}), "rating"),
        (json!({"rating": 0}), "rating"),
        (json!({"rating": 6}), "rating"),
        (json!({"rating": "five"}), "rating"),
        (json!({"rating": {"overall": 9}}), "rating.overall"),
        (
            json!({"detailedRatings": {"quality": 6}}),
            "detailedRatings.quality",
        ),
        (
            json!({"detailedRatings": {"timeliness": 2.5}}),
            "detailedRatings.timeliness",
        ),
        (json!({"detailedRatings": 5}), "detailedRatings"),
        (json!({"title": "x".repeat(101)}), "title"),
        (json!({"title": "   "}), "title"),
        (json!({"comment": "x".repeat(1001)}), "comment"),
        (json!({"comment": 42}), "comment"),
        (json!({"images": "abc"}), "images"),
        (json!({"images": ["../../etc/passwd"]}), "images[0]"),
        (
            json!({"images": [{"publicId": "ok", "url": "ftp://x"}]}),
            "images[0].url",
        ),
        (json!({"booking": "123"}), "booking"),
        (json!({"reviewee": "zz"}), "reviewee"),
    ];
    for (patch, field) in bad {
        let mut req = body(&b2, &tech.id, json!(4));
        for (k, v) in patch.as_object().unwrap() {
            req[k] = v.clone();
        }
        let res = s
            .post("/api/v1/reviews", Some(&customer.token), req)
            .await
            .expect(400);
        assert!(
            fields(&res).contains(&field.to_string()),
            "{field} not named in {res}"
        );
    }
    let b2c = b2.clone();
    let stored: i64 = s
        .query(move |c| {
            c.query_row(
                "SELECT COUNT(*) FROM reviews WHERE booking_id = ?1",
                [b2c],
                |r| r.get(0),
            )
        })
        .await;
    assert_eq!(stored, 0, "nothing stored on a 400");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicates_store_one_review() {
    let s = TestServer::start().await;
    let customer = s.register("customer").await;
    let tech = s.register("technician").await;
    let b = completed(&s, &customer, &tech).await;
    let answers = join_all((1..=6).map(|stars| {
        s.post(
            "/api/v1/reviews",
            Some(&customer.token),
            body(&b, &tech.id, json!(stars.min(5))),
        )
    }))
    .await;
    let mut codes: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
    codes.sort();
    assert_eq!(codes, [201, 409, 409, 409, 409, 409]);
    let (_, count) = user_rating(&s, &tech.id).await;
    assert_eq!(count, 1);
    assert_eq!(aggregate(&s, &tech.id).await.count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reviewer_edits_within_the_window_and_the_aggregates_follow() {
    let s = TestServer::start().await;
    let customer = s.register("customer").await;
    let tech = s.register("technician").await;
    let admin = s.staff("admin").await;
    let b = completed(&s, &customer, &tech).await;
    let mut req = body(&b, &tech.id, json!(2));
    req["detailedRatings"] = json!({"quality": 2, "punctuality": 4});
    let created = s
        .post("/api/v1/reviews", Some(&customer.token), req)
        .await
        .expect(201);
    let rid = created["review"]["_id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/reviews/{rid}");

    // actor -> status (the review is public, so others see a 403, not a 404).
    for (who, status) in [(&tech, 403), (&admin, 403)] {
        let res = s
            .put(&path, Some(&who.token), json!({"rating": 5}))
            .await
            .expect(status);
        assert_eq!(res["message"], "Not authorized to update this review");
    }
    s.put(&path, None, json!({"rating": 5})).await.expect(401);
    s.put(
        "/api/v1/reviews/nope",
        Some(&customer.token),
        json!({"rating": 5}),
    )
    .await
    .expect(404);
    s.put(
        "/api/v1/reviews/0123456789abcdef01234567",
        Some(&customer.token),
        json!({"rating": 5}),
    )
    .await
    .expect(404);
    let res = s
        .put(&path, Some(&customer.token), json!({}))
        .await
        .expect(400);
    assert_eq!(fields(&res), ["body"]);
    let res = s
        .put(
            &path,
            Some(&customer.token),
            json!({"rating": 7, "title": ""}),
        )
        .await
        .expect(400);
    assert_eq!(fields(&res), ["rating", "title"]);
    assert_eq!(res["errors"][1]["message"], "title must not be empty");
    assert_eq!(user_rating(&s, &tech.id).await, (2.0, 1));
    // An id that cannot be one is a 404 before the body is looked at.
    s.put("/api/v1/reviews/nope", Some(&customer.token), json!({}))
        .await
        .expect(404);
    s.post(
        "/api/v1/reviews/nope/response",
        Some(&tech.token),
        json!({}),
    )
    .await
    .expect(404);

    let res = s
        .put(
            &path,
            Some(&customer.token),
            json!({"rating": 5, "detailedRatings": {"quality": null, "value": 5}, "comment": " Came back and fixed it properly. "}),
        )
        .await
        .expect(200);
    assert_eq!(res["message"], "Review updated successfully");
    let review = &res["review"];
    assert_eq!(
        review["rating"],
        json!({"overall": 5, "punctuality": 4, "valueForMoney": 5})
    );
    assert_eq!(review["comment"], "Came back and fixed it properly.");
    assert_eq!(review["title"], "Great work", "untouched");
    assert_eq!(review["isEdited"], true);
    assert_eq!(review["editCount"], 1);
    assert!(review["editedAt"].is_string());
    assert_eq!(review["reviewer"], customer.id.as_str(), "ids on update");
    assert_eq!(review["booking"], b.as_str());
    assert_eq!(user_rating(&s, &tech.id).await, (5.0, 1));
    let agg = aggregate(&s, &tech.id).await;
    assert_eq!(agg.category_counts, [0, 1, 0, 0, 1]);
    assert_eq!(agg.category_sums, [0, 4, 0, 0, 5]);
    assert_eq!(agg.stars, [0, 0, 0, 0, 1]);
    let kinds: Vec<String> = events_of(&s, &rid).await.into_iter().map(|e| e.0).collect();
    assert_eq!(kinds, ["review.created", "review.updated"]);

    // Past the window (30 days by default) the review is frozen.
    let r = rid.clone();
    s.state
        .db
        .write(move |tx| {
            let month = 30 * 24 * 3600 * 1000_i64;
            tx.execute(
                "UPDATE reviews SET created_at = created_at - ?2 WHERE id = ?1",
                rusqlite::params![r, month],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let res = s
        .put(&path, Some(&customer.token), json!({"rating": 1}))
        .await
        .expect(403);
    assert!(
        res["message"].as_str().unwrap().contains("30 days"),
        "{res}"
    );
    assert_eq!(user_rating(&s, &tech.id).await, (5.0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_window_of_zero_days_freezes_reviews() {
    let s = TestServer::start_with(|c| c.review_edit_window_days = 0).await;
    let customer = s.register("customer").await;
    let tech = s.register("technician").await;
    let b = completed(&s, &customer, &tech).await;
    let created = s
        .post(
            "/api/v1/reviews",
            Some(&customer.token),
            body(&b, &tech.id, json!(3)),
        )
        .await
        .expect(201);
    let rid = created["review"]["_id"].as_str().unwrap();
    s.put(
        &format!("/api/v1/reviews/{rid}"),
        Some(&customer.token),
        json!({"rating": 4}),
    )
    .await
    .expect(403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reviewer_or_an_admin_deletes_and_the_aggregates_follow() {
    let s = TestServer::start().await;
    let customer = s.register("customer").await;
    let tech = s.register("technician").await;
    let other = s.register("customer").await;
    let support = s.staff("support").await;
    let admin = s.staff("admin").await;
    let mut ids = Vec::new();
    for (who, stars) in [(&customer, 5), (&other, 2)] {
        let b = completed(&s, who, &tech).await;
        let mut req = body(&b, &tech.id, json!(stars));
        req["detailedRatings"] = json!({"quality": stars});
        let res = s
            .post("/api/v1/reviews", Some(&who.token), req)
            .await
            .expect(201);
        ids.push(res["review"]["_id"].as_str().unwrap().to_string());
    }
    s.post(
        &format!("/api/v1/reviews/{}/helpful", ids[0]),
        Some(&tech.token),
        json!({}),
    )
    .await
    .expect(200);
    assert_eq!(user_rating(&s, &tech.id).await, (3.5, 2));

    let first = format!("/api/v1/reviews/{}", ids[0]);
    for (who, status) in [(&tech, 403), (&other, 403), (&support, 403)] {
        let res = s.delete(&first, Some(&who.token)).await.expect(status);
        assert_eq!(res["message"], "Not authorized to delete this review");
    }
    s.delete(&first, None).await.expect(401);
    s.delete("/api/v1/reviews/xyz", Some(&admin.token))
        .await
        .expect(404);
    let res = s.delete(&first, Some(&customer.token)).await.expect(200);
    assert_eq!(
        res,
        json!({"success": true, "message": "Review deleted successfully"})
    );
    s.delete(&first, Some(&customer.token)).await.expect(404);
    assert_eq!(user_rating(&s, &tech.id).await, (2.0, 1));
    let marks: i64 = s
        .query(|c| c.query_row("SELECT COUNT(*) FROM review_helpful", [], |r| r.get(0)))
        .await;
    assert_eq!(marks, 0, "helpful marks go with the review");

    s.delete(&format!("/api/v1/reviews/{}", ids[1]), Some(&admin.token))
        .await
        .expect(200);
    assert_eq!(user_rating(&s, &tech.id).await, (0.0, 0), "reset to 0/0");
    assert_eq!(aggregate(&s, &tech.id).await, Default::default());
    let ev = events_of(&s, &ids[1]).await;
    assert_eq!(ev.last().unwrap().0, "review.deleted");
    assert_eq!(ev.last().unwrap().1, admin.id, "the admin is the actor");
    assert_eq!(ev.last().unwrap().2["revieweeId"], tech.id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helpful_toggles_once_per_user_and_never_on_ones_own_review() {
    let s = TestServer::start().await;
    let customer = s.register("customer").await;
    let tech = s.register("technician").await;
    let readers = [
        s.register("customer").await,
        s.register("corporate").await,
        s.register("technician").await,
    ];
    let b = completed(&s, &customer, &tech).await;
    let res = s
        .post(
            "/api/v1/reviews",
            Some(&customer.token),
            body(&b, &tech.id, json!(5)),
        )
        .await
        .expect(201);
    let rid = res["review"]["_id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/reviews/{rid}/helpful");

    let own = s
        .post(&path, Some(&customer.token), json!({}))
        .await
        .expect(403);
    assert_eq!(own["message"], "You cannot mark your own review as helpful");
    s.post(&path, None, json!({})).await.expect(401);
    s.post(
        "/api/v1/reviews/0123456789abcdef01234567/helpful",
        Some(&tech.token),
        json!({}),
    )
    .await
    .expect(404);

    let res = s
        .post(&path, Some(&tech.token), json!({}))
        .await
        .expect(200);
    assert_eq!(
        res,
        json!({"success": true, "message": "Marked as helpful", "helpfulCount": 1})
    );
    let res = s
        .post(&path, Some(&tech.token), json!({}))
        .await
        .expect(200);
    assert_eq!(
        res,
        json!({"success": true, "message": "Removed helpful mark", "helpfulCount": 0})
    );
    // Concurrent marks by different users each count once.
    let answers = join_all(
        readers
            .iter()
            .map(|u| s.post(&path, Some(&u.token), json!({}))),
    )
    .await;
    assert!(answers.iter().all(|a| a.status.as_u16() == 200));
    let one = s
        .get(&format!("/api/v1/reviews/{rid}"), None)
        .await
        .expect(200);
    assert_eq!(one["review"]["helpfulCount"], 3);
    assert_eq!(one["review"]["helpfulnessScore"], 100);
    let mut voters: Vec<String> = one["review"]["helpful"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    voters.sort();
    let mut expected: Vec<String> = readers.iter().map(|u| u.id.clone()).collect();
    expected.sort();
    assert_eq!(voters, expected);
    assert_eq!(
        user_rating(&s, &tech.id).await,
        (5.0, 1),
        "marks do not move ratings"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reviewee_responds_once_and_may_edit_the_response() {
    let s = TestServer::start().await;
    let customer = s.register("customer").await;
    let tech = s.register("technician").await;
    let admin = s.staff("admin").await;
    let b = completed(&s, &customer, &tech).await;
    let res = s
        .post(
            "/api/v1/reviews",
            Some(&customer.token),
            body(&b, &tech.id, json!(3)),
        )
        .await
        .expect(201);
    let rid = res["review"]["_id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/reviews/{rid}/response");

    for who in [&customer, &admin] {
        let res = s
            .post(&path, Some(&who.token), json!({"text": "Thanks"}))
            .await
            .expect(403);
        assert_eq!(
            res["message"],
            "Only the reviewee can respond to this review"
        );
    }
    s.post(&path, None, json!({"text": "x"})).await.expect(401);
    let res = s
        .post(&path, Some(&tech.token), json!({"text": "   "}))
        .await
        .expect(400);
    assert_eq!(fields(&res), ["text"]);
    s.post(&path, Some(&tech.token), json!({"text": "x".repeat(1001)}))
        .await
        .expect(400);
    s.post(
        "/api/v1/reviews/0123456789abcdef01234567/response",
        Some(&tech.token),
        json!({"text": "x"}),
    )
    .await
    .expect(404);

    let res = s
        .post(
            &path,
            Some(&tech.token),
            json!({"text": " Thank you for the kind words. "}),
        )
        .await
        .expect(200);
    assert_eq!(res["success"], true);
    assert_eq!(res["message"], "Response added successfully");
    let first = res["response"].clone();
    assert_eq!(first["text"], "Thank you for the kind words.");
    assert_eq!(first["respondedBy"], tech.id.as_str());
    assert_eq!(first["isEdited"], false);
    assert!(first["createdAt"].is_string());
    assert!(first.get("editedAt").is_none());

    let res = s
        .post(
            &path,
            Some(&tech.token),
            json!({"text": "Thank you! See you next time."}),
        )
        .await
        .expect(200);
    assert_eq!(res["message"], "Response updated successfully");
    assert_eq!(res["response"]["isEdited"], true);
    assert_eq!(
        res["response"]["createdAt"], first["createdAt"],
        "first time kept"
    );
    let res = s
        .put(&path, Some(&tech.token), json!({"text": "Edited via PUT"}))
        .await
        .expect(200);
    assert_eq!(res["response"]["text"], "Edited via PUT");

    let one = s
        .get(&format!("/api/v1/reviews/{rid}"), None)
        .await
        .expect(200);
    assert_eq!(one["review"]["hasResponse"], true);
    assert_eq!(one["review"]["response"]["text"], "Edited via PUT");
    let responded = events_of(&s, &rid)
        .await
        .into_iter()
        .filter(|e| e.0 == "review.responded")
        .count();
    assert_eq!(responded, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_filters_sorts_and_pages() {
    let s = TestServer::start().await;
    let tech = s.register("technician").await;
    let other_tech = s.register("technician").await;
    let customers = [
        s.register("customer").await,
        s.register("customer").await,
        s.register("corporate").await,
    ];
    // Three reviews of `tech` (3, 5, 4 stars), one of `other_tech`, one by `tech`.
    let mut ids = Vec::new();
    let mut bookings = Vec::new();
    for (c, stars) in customers.iter().zip([3, 5, 4]) {
        let b = completed(&s, c, &tech).await;
        let res = s
            .post(
                "/api/v1/reviews",
                Some(&c.token),
                body(&b, &tech.id, json!(stars)),
            )
            .await
            .expect(201);
        ids.push(res["review"]["_id"].as_str().unwrap().to_string());
        bookings.push(b);
    }
    let b = completed(&s, &customers[0], &other_tech).await;
    s.post(
        "/api/v1/reviews",
        Some(&customers[0].token),
        body(&b, &other_tech.id, json!(1)),
    )
    .await
    .expect(201);
    let by_tech = s
        .post(
            "/api/v1/reviews",
            Some(&tech.token),
            body(&bookings[0], &customers[0].id, json!(2)),
        )
        .await
        .expect(201);
    let by_tech = by_tech["review"]["_id"].as_str().unwrap().to_string();
    // The 4-star review is the most helpful.
    for u in [&customers[0], &other_tech] {
        s.post(
            &format!("/api/v1/reviews/{}/helpful", ids[2]),
            Some(&u.token),
            json!({}),
        )
        .await
        .expect(200);
    }

    let all = s.get("/api/v1/reviews", None).await.expect(200);
    for k in ["success", "count", "total", "page", "pages", "reviews"] {
        assert!(all.get(k).is_some(), "missing {k}");
    }
    assert_eq!(all["total"], 5);
    let first = &all["reviews"][0];
    assert_eq!(first["_id"], by_tech.as_str(), "newest first");
    assert_eq!(first["reviewee"]["role"], "customer");
    assert!(first["reviewer"]["firstName"].is_string());
    assert_eq!(first["booking"]["_id"], bookings[0].as_str());

    let ids_of = |v: &Value| -> Vec<String> {
        v["reviews"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["_id"].as_str().unwrap().to_string())
            .collect()
    };
    let t = &tech.id;
    let server = &s;
    let q = |query: String| {
        let url = format!("/api/v1/reviews?{query}");
        async move { server.get(&url, None).await.expect(200) }
    };
    let highest = q(format!("reviewee={t}&sort=highest")).await;
    assert_eq!(
        ids_of(&highest),
        [ids[1].clone(), ids[2].clone(), ids[0].clone()]
    );
    let lowest = q(format!("reviewee={t}&sort=lowest")).await;
    assert_eq!(
        ids_of(&lowest),
        [ids[0].clone(), ids[2].clone(), ids[1].clone()]
    );
    let helpful = q(format!("reviewee={t}&sort=helpful")).await;
    assert_eq!(ids_of(&helpful)[0], ids[2]);
    assert_eq!(helpful["reviews"][0]["helpfulCount"], 2);
    let oldest = q(format!("reviewee={t}&sort=oldest")).await;
    assert_eq!(ids_of(&oldest), ids);
    assert_eq!(
        ids_of(&q(format!("reviewee={t}&rating=5")).await),
        [ids[1].clone()]
    );
    assert_eq!(q(format!("reviewee={t}&minRating=4")).await["total"], 2);
    assert_eq!(q(format!("reviewee={t}&maxRating=3.5")).await["total"], 1);
    assert_eq!(
        ids_of(&q(format!("reviewer={}", customers[1].id)).await),
        [ids[1].clone()]
    );
    assert_eq!(q(format!("booking={}", bookings[0])).await["total"], 2);
    assert_eq!(
        q(format!("booking={}&reviewerRole=technician", bookings[0])).await["total"],
        1
    );
    assert_eq!(q(format!("reviewee={t}&verified=true")).await["total"], 3);
    assert_eq!(q(format!("reviewee={t}&verified=false")).await["total"], 0);
    assert_eq!(q("hasResponse=true".into()).await["total"], 0);

    let page = q(format!("reviewee={t}&sort=oldest&limit=2&page=2")).await;
    assert_eq!(page["count"], 1);
    assert_eq!(page["total"], 3);
    assert_eq!(page["pages"], 2);
    assert_eq!(page["page"], 2);
    assert_eq!(ids_of(&page), [ids[2].clone()]);

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("page=x", "page"),
        ("reviewee=abc", "reviewee"),
        ("reviewer=abc", "reviewer"),
        ("booking=abc", "booking"),
        ("rating=4.5", "rating"),
        ("rating=9", "rating"),
        ("minRating=0", "minRating"),
        ("verified=maybe", "verified"),
        ("sort=random", "sort"),
        ("reviewerRole=admin", "reviewerRole"),
    ] {
        let res = s
            .get(&format!("/api/v1/reviews?{query}"), None)
            .await
            .expect(400);
        assert!(fields(&res).contains(&field.to_string()), "{query}: {res}");
    }
}

/// One planned operation of the random sequence.
enum Op {
    Create {
        booking: usize,
        by_customer: bool,
        body: Value,
    },
    Update {
        review: String,
        body: Value,
    },
    Delete {
        review: String,
        by_admin: bool,
    },
    Helpful {
        review: String,
        user: usize,
    },
}

fn random_ratings(rng: &mut rand::rngs::StdRng, for_update: bool) -> (Value, Value) {
    let keys = [
        ["quality", "quality"],
        ["punctuality", "timeliness"],
        ["professionalism", "professionalism"],
        ["communication", "communication"],
        ["valueForMoney", "value"],
    ];
    let mut detailed = serde_json::Map::new();
    for pair in keys {
        let key = pair[rng.gen_range(0..2)];
        match rng.gen_range(0..4) {
            0 => {}
            1 if for_update => {
                detailed.insert(key.into(), Value::Null);
            }
            _ => {
                detailed.insert(key.into(), json!(rng.gen_range(1..=5)));
            }
        }
    }
    (json!(rng.gen_range(1..=5)), Value::Object(detailed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_recomputed_from_scratch_equal_the_maintained_ones() {
    let seed: u64 = rand::random();
    println!("seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let s = TestServer::start().await;
    let admin = s.staff("admin").await;
    let mut people = Vec::new();
    for role in [
        "customer",
        "corporate",
        "customer",
        "technician",
        "technician",
        "technician",
    ] {
        people.push(s.register(role).await);
    }
    let (customers, techs) = people.split_at(3);
    let mut bookings = Vec::new();
    for _ in 0..24 {
        let c = &customers[rng.gen_range(0..customers.len())];
        let t = &techs[rng.gen_range(0..techs.len())];
        bookings.push((completed(&s, c, t).await, c.clone(), t.clone()));
    }
    // review id -> (booking index, by customer)
    let mut live: HashMap<String, (usize, bool)> = HashMap::new();
    let mut done = [0usize; 4];
    for round in 0..25 {
        let mut taken: Vec<(usize, bool)> = Vec::new();
        let mut touched: Vec<String> = Vec::new();
        let mut ops = Vec::new();
        for _ in 0..4 {
            let kind = rng.gen_range(0..10);
            if kind < 4 || live.is_empty() {
                let free: Vec<(usize, bool)> = (0..bookings.len())
                    .flat_map(|i| [(i, true), (i, false)])
                    .filter(|k| !live.values().any(|v| v == k) && !taken.contains(k))
                    .collect();
                if free.is_empty() {
                    continue;
                }
                let (i, by_customer) = free[rng.gen_range(0..free.len())];
                taken.push((i, by_customer));
                let (overall, detailed) = random_ratings(&mut rng, false);
                let reviewee = if by_customer {
                    &bookings[i].2.id
                } else {
                    &bookings[i].1.id
                };
                let mut b = body(&bookings[i].0, reviewee, overall);
                b["detailedRatings"] = detailed;
                ops.push(Op::Create {
                    booking: i,
                    by_customer,
                    body: b,
                });
                continue;
            }
            let candidates: Vec<&String> = live.keys().filter(|k| !touched.contains(k)).collect();
            if candidates.is_empty() {
                continue;
            }
            let review = candidates[rng.gen_range(0..candidates.len())].clone();
            touched.push(review.clone());
            ops.push(match kind {
                4..=6 => {
                    let (overall, detailed) = random_ratings(&mut rng, true);
                    let mut b = json!({"detailedRatings": detailed});
                    if rng.gen_bool(0.7) {
                        b["rating"] = overall;
                    }
                    if detailed_is_empty(&b) && b.get("rating").is_none() {
                        b["title"] = json!(format!("Round {round}"));
                    }
                    Op::Update { review, body: b }
                }
                7 | 8 => Op::Delete {
                    review,
                    by_admin: rng.gen_bool(0.3),
                },
                _ => Op::Helpful {
                    review,
                    user: rng.gen_range(0..people.len()),
                },
            });
        }
        let calls = ops.iter().map(|op| {
            let s = &s;
            let (bookings, live, admin, people) = (&bookings, &live, &admin, &people);
            async move {
                match op {
                    Op::Create {
                        booking,
                        by_customer,
                        body,
                    } => {
                        let who = if *by_customer {
                            &bookings[*booking].1
                        } else {
                            &bookings[*booking].2
                        };
                        let res = s
                            .post("/api/v1/reviews", Some(&who.token), body.clone())
                            .await;
                        let res = res.expect(201);
                        Some(res["review"]["_id"].as_str().unwrap().to_string())
                    }
                    Op::Update { review, body } => {
                        let (i, by_customer) = live[review];
                        let who = if by_customer {
                            &bookings[i].1
                        } else {
                            &bookings[i].2
                        };
                        s.put(
                            &format!("/api/v1/reviews/{review}"),
                            Some(&who.token),
                            body.clone(),
                        )
                        .await
                        .expect(200);
                        None
                    }
                    Op::Delete { review, by_admin } => {
                        let (i, by_customer) = live[review];
                        let who = if *by_admin {
                            admin
                        } else if by_customer {
                            &bookings[i].1
                        } else {
                            &bookings[i].2
                        };
                        s.delete(&format!("/api/v1/reviews/{review}"), Some(&who.token))
                            .await
                            .expect(200);
                        None
                    }
                    Op::Helpful { review, user } => {
                        let (i, by_customer) = live[review];
                        let author = if by_customer {
                            &bookings[i].1.id
                        } else {
                            &bookings[i].2.id
                        };
                        let who = &people[*user];
                        let res = s
                            .post(
                                &format!("/api/v1/reviews/{review}/helpful"),
                                Some(&who.token),
                                json!({}),
                            )
                            .await;
                        let expected = if &who.id == author { 403 } else { 200 };
                        res.expect(expected);
                        None
                    }
                }
            }
        });
        let results = join_all(calls).await;
        for (op, created) in ops.iter().zip(results) {
            done[match op {
                Op::Create { .. } => 0,
                Op::Update { .. } => 1,
                Op::Delete { .. } => 2,
                Op::Helpful { .. } => 3,
            }] += 1;
            match op {
                Op::Create {
                    booking,
                    by_customer,
                    ..
                } => {
                    live.insert(created.unwrap(), (*booking, *by_customer));
                }
                Op::Delete { review, .. } => {
                    live.remove(review);
                }
                _ => {}
            }
        }
    }
    println!(
        "creates, updates, deletes, helpful marks: {done:?}; {} reviews left",
        live.len()
    );
    assert!(
        done.iter().all(|&n| n > 0),
        "seed {seed}: every kind of change ran: {done:?}"
    );

    // Recount everything from the reviews table and compare.
    for p in &people {
        let id = p.id.clone();
        let recount: (i64, i64, Vec<(i64, i64)>, Vec<i64>) = s
            .query(move |c| {
                let (n, sum) = c.query_row(
                    "SELECT COUNT(*), COALESCE(SUM(rating_overall), 0) FROM reviews
                     WHERE reviewee_id = ?1 AND status = 'published'",
                    [&id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                let mut cats = Vec::new();
                for col in ["quality", "punctuality", "professionalism", "communication", "value_for_money"] {
                    cats.push(c.query_row(
                        &format!(
                            "SELECT COALESCE(SUM(rating_{col}), 0), COUNT(rating_{col}) FROM reviews
                             WHERE reviewee_id = ?1 AND status = 'published'"
                        ),
                        [&id],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )?);
                }
                let mut stars = Vec::new();
                for k in 1..=5 {
                    stars.push(c.query_row(
                        "SELECT COUNT(*) FROM reviews WHERE reviewee_id = ?1 AND status = 'published' AND rating_overall = ?2",
                        rusqlite::params![&id, k],
                        |r| r.get(0),
                    )?);
                }
                Ok((n, sum, cats, stars))
            })
            .await;
        let (n, sum, cats, stars) = recount;
        let agg = aggregate(&s, &p.id).await;
        assert_eq!(agg.count, n, "seed {seed}: count of {}", p.role);
        assert_eq!(agg.overall_sum, sum, "seed {seed}");
        assert_eq!(agg.stars.to_vec(), stars, "seed {seed}");
        for (i, (csum, ccount)) in cats.iter().enumerate() {
            assert_eq!(
                (agg.category_sums[i], agg.category_counts[i]),
                (*csum, *ccount),
                "seed {seed}: category {i}"
            );
        }
        let expected_avg = if n == 0 {
            0.0
        } else {
            (sum as f64 / n as f64 * 100.0).round() / 100.0
        };
        let (avg, count) = user_rating(&s, &p.id).await;
        assert_eq!(count, n, "seed {seed}: users.rating_count");
        assert!(
            (avg - expected_avg).abs() < 1e-9,
            "seed {seed}: {avg} vs {expected_avg}"
        );
        let json = agg.to_json();
        for (i, key) in [
            "quality",
            "punctuality",
            "professionalism",
            "communication",
            "valueForMoney",
        ]
        .iter()
        .enumerate()
        {
            let (csum, ccount) = cats[i];
            let expected = if ccount == 0 {
                Value::Null
            } else {
                json!((csum as f64 / ccount as f64 * 100.0).round() / 100.0)
            };
            assert_eq!(json["categories"][key], expected, "seed {seed}: {key}");
        }
    }
}

fn detailed_is_empty(b: &Value) -> bool {
    b["detailedRatings"]
        .as_object()
        .is_none_or(|o| o.is_empty())
}
