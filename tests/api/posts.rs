//! `/api/v1/posts`: the role matrix, visibility per viewer, exact counters
//! under races and double taps, hashtags and filters, pagination past page
//! 3, search with a typo, comments, media ownership, views and events.

use std::collections::HashSet;

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{TestServer, TestUser};

const BASE: &str = "/api/v1/posts";

async fn create(s: &TestServer, who: &TestUser, body: Value) -> Value {
    s.post(BASE, Some(&who.token), body).await.expect(201)["post"].clone()
}

async fn text_post(s: &TestServer, who: &TestUser, caption: &str, visibility: &str) -> String {
    let post = create(
        s,
        who,
        json!({"type": "text", "caption": caption, "visibility": visibility}),
    )
    .await;
    post["_id"].as_str().unwrap().to_string()
}

fn ids(body: &Value) -> Vec<String> {
    body["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["_id"].as_str().unwrap().to_string())
        .collect()
}

/// Every post id the feed at `query` serves to `token`, walking all pages.
async fn feed_ids(s: &TestServer, query: &str, token: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    for page in 1.. {
        let body = s
            .get(&format!("{BASE}?limit=100&page={page}&{query}"), token)
            .await
            .expect(200);
        let got = ids(&body);
        if got.is_empty() {
            break;
        }
        out.extend(got);
    }
    out
}

/// `(likes_count, comments_count, shares_count, bookmarks_count)` as stored,
/// and the same recounted from the rows.
async fn counters(s: &TestServer, id: &str) -> ((i64, i64, i64, i64), (i64, i64, i64, i64)) {
    let id = id.to_string();
    s.query(move |c| {
        let stored = c.query_row(
            "SELECT likes_count, comments_count, shares_count, bookmarks_count FROM posts WHERE id = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        let count = |t: &str| -> rusqlite::Result<i64> {
            c.query_row(&format!("SELECT COUNT(*) FROM {t} WHERE post_id = ?1"), [&id], |r| r.get(0))
        };
        Ok((
            stored,
            (
                count("post_likes")?,
                count("post_comments")?,
                count("post_shares")?,
                count("post_bookmarks")?,
            ),
        ))
    })
    .await
}

async fn posts_count(s: &TestServer, user: &str) -> i64 {
    let user = user.to_string();
    s.query(move |c| {
        c.query_row(
            "SELECT COALESCE((SELECT posts_count FROM user_profiles WHERE user_id = ?1), 0)",
            [&user],
            |r| r.get(0),
        )
    })
    .await
}

/// `(kind, payload)` of the outbox events about `subject`, in order.
async fn events_of(s: &TestServer, subject: &str) -> Vec<(String, Value)> {
    let subject = subject.to_string();
    s.query(move |c| {
        let mut stmt =
            c.prepare("SELECT kind, payload FROM events WHERE subject_id = ?1 ORDER BY id")?;
        let rows = stmt
            .query_map([&subject], |r| {
                let payload: String = r.get(1)?;
                Ok((r.get(0)?, serde_json::from_str(&payload).unwrap()))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    })
    .await
}

/// (name: actor and condition, method, path, token, body, expected status)
type Case<'a> = (&'a str, Method, String, Option<&'a str>, Option<Value>, u16);

#[tokio::test]
async fn role_matrix_for_every_route() {
    let s = TestServer::start().await;
    let author = s.register("customer").await;
    let other = s.register("technician").await;
    let admin = s.staff("admin").await;
    let public = text_post(&s, &author, "Public #tips", "public").await;
    let private = text_post(&s, &author, "Only me", "private").await;
    let comment = s
        .post(
            &format!("{BASE}/{public}/comment"),
            Some(&author.token),
            json!({"text": "first"}),
        )
        .await
        .expect(201)["comment"]["_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (a, o, ad) = (
        Some(author.token.as_str()),
        Some(other.token.as_str()),
        Some(admin.token.as_str()),
    );
    let upd = json!({"caption": "edited"});
    let cases: Vec<Case> = vec![
        // Anonymous: reads are public, writes need a sign-in.
        ("anon feed", Method::GET, BASE.into(), None, None, 200),
        (
            "anon get public",
            Method::GET,
            format!("{BASE}/{public}"),
            None,
            None,
            200,
        ),
        (
            "anon get private",
            Method::GET,
            format!("{BASE}/{private}"),
            None,
            None,
            404,
        ),
        (
            "anon create",
            Method::POST,
            BASE.into(),
            None,
            Some(json!({"type": "text", "caption": "x"})),
            401,
        ),
        (
            "anon update",
            Method::PUT,
            format!("{BASE}/{public}"),
            None,
            Some(upd.clone()),
            401,
        ),
        (
            "anon delete",
            Method::DELETE,
            format!("{BASE}/{public}"),
            None,
            None,
            401,
        ),
        (
            "anon like",
            Method::POST,
            format!("{BASE}/{public}/like"),
            None,
            None,
            401,
        ),
        (
            "anon share",
            Method::POST,
            format!("{BASE}/{public}/share"),
            None,
            None,
            401,
        ),
        (
            "anon bookmark",
            Method::POST,
            format!("{BASE}/{public}/bookmark"),
            None,
            None,
            401,
        ),
        (
            "anon comment",
            Method::POST,
            format!("{BASE}/{public}/comment"),
            None,
            Some(json!({"text": "hi"})),
            401,
        ),
        (
            "anon delete comment",
            Method::DELETE,
            format!("{BASE}/{public}/comment/{comment}"),
            None,
            None,
            401,
        ),
        // Another user: may interact, may not edit or delete others' things.
        (
            "other update",
            Method::PUT,
            format!("{BASE}/{public}"),
            o,
            Some(upd.clone()),
            403,
        ),
        (
            "other delete",
            Method::DELETE,
            format!("{BASE}/{public}"),
            o,
            None,
            403,
        ),
        (
            "other delete comment",
            Method::DELETE,
            format!("{BASE}/{public}/comment/{comment}"),
            o,
            None,
            403,
        ),
        (
            "other like",
            Method::POST,
            format!("{BASE}/{public}/like"),
            o,
            None,
            200,
        ),
        (
            "other share",
            Method::POST,
            format!("{BASE}/{public}/share"),
            o,
            None,
            200,
        ),
        (
            "other bookmark",
            Method::POST,
            format!("{BASE}/{public}/bookmark"),
            o,
            None,
            200,
        ),
        // A stranger to a private post: 404 everywhere, never 403.
        (
            "stranger get private",
            Method::GET,
            format!("{BASE}/{private}"),
            o,
            None,
            404,
        ),
        (
            "stranger update private",
            Method::PUT,
            format!("{BASE}/{private}"),
            o,
            Some(upd.clone()),
            404,
        ),
        (
            "stranger delete private",
            Method::DELETE,
            format!("{BASE}/{private}"),
            o,
            None,
            404,
        ),
        (
            "stranger like private",
            Method::POST,
            format!("{BASE}/{private}/like"),
            o,
            None,
            404,
        ),
        (
            "stranger share private",
            Method::POST,
            format!("{BASE}/{private}/share"),
            o,
            None,
            404,
        ),
        (
            "stranger bookmark private",
            Method::POST,
            format!("{BASE}/{private}/bookmark"),
            o,
            None,
            404,
        ),
        (
            "stranger comment private",
            Method::POST,
            format!("{BASE}/{private}/comment"),
            o,
            Some(json!({"text": "hi"})),
            404,
        ),
        (
            "unknown id",
            Method::GET,
            format!("{BASE}/65a1b2c3d4e5f60718293a4b"),
            o,
            None,
            404,
        ),
        (
            "malformed id",
            Method::GET,
            format!("{BASE}/not-an-id"),
            o,
            None,
            404,
        ),
        (
            "unknown comment",
            Method::DELETE,
            format!("{BASE}/{public}/comment/65a1b2c3d4e5f60718293a4b"),
            a,
            None,
            404,
        ),
        // Roles: portfolio posts are technicians'; edits are the author's.
        (
            "customer portfolio",
            Method::POST,
            BASE.into(),
            a,
            Some(json!({"type": "portfolio", "caption": "x"})),
            403,
        ),
        (
            "technician portfolio",
            Method::POST,
            BASE.into(),
            o,
            Some(json!({"type": "portfolio", "caption": "Kitchen",
            "portfolioDetails": {"title": "Kitchen", "category": "plumbing"}})),
            201,
        ),
        (
            "admin update",
            Method::PUT,
            format!("{BASE}/{public}"),
            ad,
            Some(upd.clone()),
            403,
        ),
        (
            "admin get private",
            Method::GET,
            format!("{BASE}/{private}"),
            ad,
            None,
            200,
        ),
        (
            "author get private",
            Method::GET,
            format!("{BASE}/{private}"),
            a,
            None,
            200,
        ),
        (
            "author update",
            Method::PUT,
            format!("{BASE}/{public}"),
            a,
            Some(upd.clone()),
            200,
        ),
        (
            "author delete comment",
            Method::DELETE,
            format!("{BASE}/{public}/comment/{comment}"),
            a,
            None,
            200,
        ),
        (
            "author delete",
            Method::DELETE,
            format!("{BASE}/{private}"),
            a,
            None,
            200,
        ),
        (
            "deleted is gone",
            Method::GET,
            format!("{BASE}/{private}"),
            a,
            None,
            404,
        ),
        (
            "admin delete",
            Method::DELETE,
            format!("{BASE}/{public}"),
            ad,
            Some(json!({"reason": "spam"})),
            200,
        ),
        (
            "removed is gone",
            Method::POST,
            format!("{BASE}/{public}/like"),
            a,
            None,
            404,
        ),
    ];
    for (name, method, path, token, body, expected) in cases {
        let got = s.call(method, &path, token, body).await;
        assert_eq!(got.status.as_u16(), expected, "{name}: {}", got.body);
        if expected >= 400 {
            assert_eq!(got.body["success"], false, "{name}");
        }
    }
    s.stop().await;
}

#[tokio::test]
async fn visibility_per_viewer_in_feed_and_direct_get() {
    let s = TestServer::start().await;
    let author = s.register("technician").await;
    let follower = s.register("customer").await;
    let stranger = s.register("customer").await;
    let admin = s.staff("admin").await;
    s.post(
        &format!("/api/v1/users/{}/follow", author.id),
        Some(&follower.token),
        json!({}),
    )
    .await
    .expect(200);
    let public = text_post(&s, &author, "for everyone", "public").await;
    let followers = text_post(&s, &author, "for my followers", "followers").await;
    let private = text_post(&s, &author, "for me", "private").await;
    let removed = text_post(&s, &author, "soon removed", "public").await;
    s.call(
        Method::DELETE,
        &format!("{BASE}/{removed}"),
        Some(&admin.token),
        Some(json!({"reason": "off-topic"})),
    )
    .await
    .expect(200);
    // (viewer, sees public, followers, private, removed) in the feed and by id.
    let viewers: Vec<(&str, Option<&str>, [bool; 4])> = vec![
        ("anonymous", None, [true, false, false, false]),
        (
            "stranger",
            Some(&stranger.token),
            [true, false, false, false],
        ),
        (
            "follower",
            Some(&follower.token),
            [true, true, false, false],
        ),
        ("author", Some(&author.token), [true, true, true, false]),
    ];
    let posts = [&public, &followers, &private, &removed];
    for (name, token, sees) in viewers {
        let feed = feed_ids(&s, "", token).await;
        let by_author = feed_ids(&s, &format!("author={}", author.id), token).await;
        let total = s.get(&format!("{BASE}?limit=1"), token).await.expect(200)["total"]
            .as_i64()
            .unwrap();
        assert_eq!(
            total,
            sees.iter().filter(|b| **b).count() as i64,
            "{name} total"
        );
        for (post, expected) in posts.iter().zip(sees) {
            assert_eq!(feed.contains(post), expected, "{name} feed {post}");
            assert_eq!(
                by_author.contains(post),
                expected,
                "{name} author feed {post}"
            );
            let status = s
                .get(&format!("{BASE}/{post}"), token)
                .await
                .status
                .as_u16();
            assert_eq!(
                status,
                if expected { 200 } else { 404 },
                "{name} get {post}"
            );
        }
    }
    // The following feed: only followed accounts; anonymous callers are refused.
    text_post(&s, &stranger, "not followed", "public").await;
    let following = feed_ids(&s, "following=true", Some(&follower.token)).await;
    assert_eq!(
        following.iter().collect::<HashSet<_>>(),
        [&public, &followers].into_iter().collect::<HashSet<_>>()
    );
    s.get(&format!("{BASE}?following=true"), None)
        .await
        .expect(401);
    // Admins see a removed post by id, with its moderation reason.
    let got = s
        .get(&format!("{BASE}/{removed}"), Some(&admin.token))
        .await
        .expect(200);
    assert_eq!(got["post"]["status"], "removed");
    assert_eq!(got["post"]["moderation"]["removalReason"], "off-topic");
    let events = events_of(&s, &removed).await;
    assert_eq!(events.last().unwrap().0, "post.removed");
    assert_eq!(events.last().unwrap().1["reason"], "off-topic");
    assert_eq!(events.last().unwrap().1["authorId"], author.id.as_str());
    s.stop().await;
}

#[tokio::test]
async fn likes_stay_exact_under_races_and_double_taps() {
    let s = TestServer::start().await;
    let author = s.register("technician").await;
    let post = text_post(&s, &author, "Hot post #viral", "public").await;
    let likers: Vec<TestUser> = join_all((0..50).map(|_| s.register("customer"))).await;
    let like_path = format!("{BASE}/{post}/like");
    let answers = join_all(
        likers
            .iter()
            .map(|u| s.post(&like_path, Some(&u.token), json!({}))),
    )
    .await;
    for a in answers {
        let body = a.expect(200);
        assert_eq!(body["isLiked"], true);
    }
    let (stored, recount) = counters(&s, &post).await;
    assert_eq!(stored.0, 50);
    assert_eq!(stored, recount);
    // One user taps eleven times at once: an odd number of toggles ends liked.
    let tapper = &likers[0];
    let taps = join_all((0..11).map(|_| s.post(&like_path, Some(&tapper.token), json!({})))).await;
    let liked_answers = taps
        .into_iter()
        .map(|a| a.expect(200)["isLiked"].as_bool().unwrap())
        .filter(|b| *b)
        .count();
    assert_eq!(liked_answers, 5, "toggles alternate: 6 unlikes, 5 likes");
    let (stored, recount) = counters(&s, &post).await;
    assert_eq!(stored.0, 49);
    assert_eq!(stored, recount);
    // Bookmarks toggle the same way; shares accumulate per share.
    for (i, u) in likers.iter().take(3).enumerate() {
        let b = s
            .post(
                &format!("{BASE}/{post}/bookmark"),
                Some(&u.token),
                json!({}),
            )
            .await
            .expect(200);
        assert_eq!(b["bookmarked"], true);
        assert_eq!(b["bookmarksCount"], i as i64 + 1);
    }
    let b = s
        .post(
            &format!("{BASE}/{post}/bookmark"),
            Some(&likers[0].token),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(
        (b["bookmarked"].clone(), b["bookmarksCount"].clone()),
        (json!(false), json!(2))
    );
    for n in 1..=3 {
        let sh = s
            .post(
                &format!("{BASE}/{post}/share"),
                Some(&likers[1].token),
                json!({}),
            )
            .await
            .expect(200);
        assert_eq!(sh["sharesCount"], n);
    }
    let (stored, recount) = counters(&s, &post).await;
    assert_eq!(stored, (49, 0, 3, 2));
    assert_eq!(stored, recount);
    // The viewer's flags in the feed.
    let feed = s
        .get(
            &format!("{BASE}?author={}", author.id),
            Some(&likers[2].token),
        )
        .await
        .expect(200);
    assert_eq!(feed["posts"][0]["isLiked"], true);
    assert_eq!(feed["posts"][0]["isBookmarked"], true);
    assert_eq!(feed["posts"][0]["likesCount"], 49);
    let anon = s
        .get(&format!("{BASE}?author={}", author.id), None)
        .await
        .expect(200);
    assert_eq!(anon["posts"][0]["isLiked"], false);
    // Events: one post.liked per like (50 + 5 taps), one post.shared per share.
    let events = events_of(&s, &post).await;
    let liked = events.iter().filter(|e| e.0 == "post.liked").count();
    assert_eq!(liked, 55);
    let e = events.iter().find(|e| e.0 == "post.shared").unwrap();
    assert_eq!(
        e.1,
        json!({"postId": post, "authorId": author.id, "sharerId": likers[1].id})
    );
    s.stop().await;
}

#[tokio::test]
async fn hashtags_filters_and_validation() {
    let s = TestServer::start().await;
    let tech = s.register("technician").await;
    let customer = s.register("customer").await;
    let p = create(
        &s,
        &tech,
        json!({"type": "tip", "caption": "Fix #Plumbing now! #plumbing #Ñandú #a_b1 #123",
               "hashtags": ["ignored"]}),
    )
    .await;
    assert_eq!(p["hashtags"], json!(["plumbing", "a_b1", "123"]));
    assert_eq!(p["author"]["firstName"], "Test");
    assert_eq!(p["author"]["role"], "technician");
    assert_eq!(p["likesCount"], 0);
    assert_eq!(p["portfolioDetails"]["cost"]["currency"], "KES");
    let kept = create(
        &s,
        &customer,
        json!({"type": "question", "caption": "Who fixes geysers?", "hashtags": ["Geyser", "#Help"]}),
    )
    .await;
    assert_eq!(kept["hashtags"], json!(["Geyser", "Help"]));
    let tip = p["_id"].as_str().unwrap().to_string();
    let question = kept["_id"].as_str().unwrap().to_string();
    // (query, expected posts)
    let cases: Vec<(String, Vec<&String>)> = vec![
        ("hashtag=PLUMBING".into(), vec![&tip]),
        ("hashtag=%23plumbing".into(), vec![&tip]),
        ("hashtag=geyser".into(), vec![&question]),
        ("hashtag=nandu".into(), vec![]),
        ("type=tip".into(), vec![&tip]),
        ("type=question".into(), vec![&question]),
        ("type=video".into(), vec![]),
        (format!("author={}", customer.id), vec![&question]),
        (format!("author={}&type=tip", customer.id), vec![]),
    ];
    for (query, expected) in cases {
        let got = feed_ids(&s, &query, None).await;
        let expected: Vec<String> = expected.into_iter().cloned().collect();
        assert_eq!(got, expected, "{query}");
        let total = s
            .get(&format!("{BASE}?limit=1&{query}"), None)
            .await
            .expect(200)["total"]
            .clone();
        assert_eq!(total, expected.len() as i64, "{query} total");
    }
    // A tag's total counts the viewer's own non-public posts for them only,
    // and moves with edits and removals.
    let private = create(
        &s,
        &customer,
        json!({"type": "text", "caption": "My #geyser notes", "visibility": "private"}),
    )
    .await["_id"]
        .as_str()
        .unwrap()
        .to_string();
    let tag_total = |token: Option<String>| {
        let s = &s;
        async move {
            s.get(&format!("{BASE}?hashtag=geyser&limit=1"), token.as_deref())
                .await
                .expect(200)["total"]
                .as_i64()
                .unwrap()
        }
    };
    assert_eq!(tag_total(None).await, 1);
    assert_eq!(tag_total(Some(customer.token.clone())).await, 2);
    assert_eq!(tag_total(Some(tech.token.clone())).await, 1);
    // A followers-only tagged post counts for its author and followers.
    let for_followers = create(
        &s,
        &tech,
        json!({"type": "tip", "caption": "Geyser tip #GEYSER", "visibility": "followers"}),
    )
    .await["_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(tag_total(Some(tech.token.clone())).await, 2);
    assert_eq!(tag_total(Some(customer.token.clone())).await, 2);
    s.post(
        &format!("/api/v1/users/{}/follow", tech.id),
        Some(&customer.token),
        json!({"follow": true}),
    )
    .await
    .expect(200);
    assert_eq!(tag_total(Some(customer.token.clone())).await, 3);
    assert!(feed_ids(&s, "hashtag=geyser", Some(&customer.token))
        .await
        .contains(&for_followers));
    // Made public, it counts for everyone (the tag rows follow the post).
    s.put(
        &format!("{BASE}/{for_followers}"),
        Some(&tech.token),
        json!({"visibility": "public"}),
    )
    .await
    .expect(200);
    assert_eq!(tag_total(None).await, 2);
    assert_eq!(tag_total(Some(customer.token.clone())).await, 3);
    s.delete(&format!("{BASE}/{for_followers}"), Some(&tech.token))
        .await
        .expect(200);
    s.put(
        &format!("{BASE}/{question}"),
        Some(&customer.token),
        json!({"caption": "Now about #tiles"}),
    )
    .await
    .expect(200);
    assert_eq!(tag_total(None).await, 0);
    s.delete(&format!("{BASE}/{private}"), Some(&customer.token))
        .await
        .expect(200);
    assert_eq!(tag_total(Some(customer.token.clone())).await, 0);
    // Bad filters and bodies are 400s naming the field.
    for (query, field) in [
        ("type=achievement", "type"),
        ("author=nope", "author"),
        ("following=maybe", "following"),
        ("limit=0", "limit"),
        ("page=x", "page"),
    ] {
        let body = s.get(&format!("{BASE}?{query}"), None).await.expect(400);
        assert_eq!(body["errors"][0]["field"], field, "{query}");
    }
    for (body, field) in [
        (json!({"caption": "x"}), "type"),
        (
            json!({"type": "text", "caption": "x".repeat(2001)}),
            "caption",
        ),
        (
            json!({"type": "text", "caption": "x", "visibility": "world"}),
            "visibility",
        ),
        (json!({"type": "image", "caption": "x"}), "media"),
    ] {
        let got = s.post(BASE, Some(&tech.token), body).await.expect(400);
        assert_eq!(got["errors"][0]["field"], field);
    }
    // Mentions resolve to existing users only; the update re-extracts hashtags.
    let m = create(
        &s,
        &tech,
        json!({"type": "text", "caption": format!("thanks @{} and @65a1b2c3d4e5f60718293a4b", customer.id)}),
    )
    .await;
    assert_eq!(m["mentions"], json!([customer.id]));
    let events = events_of(&s, m["_id"].as_str().unwrap()).await;
    assert_eq!(
        events[0],
        (
            "post.created".to_string(),
            json!({"postId": m["_id"], "authorId": tech.id, "mentionIds": [customer.id]})
        )
    );
    let updated = s
        .put(
            &format!("{BASE}/{tip}"),
            Some(&tech.token),
            json!({"caption": "Now about #Electrical", "visibility": "followers"}),
        )
        .await
        .expect(200);
    assert_eq!(updated["post"]["hashtags"], json!(["electrical"]));
    assert_eq!(updated["post"]["isEdited"], true);
    assert_eq!(updated["post"]["author"], tech.id.as_str());
    assert!(feed_ids(&s, "hashtag=plumbing", None).await.is_empty());
    assert!(
        feed_ids(&s, "hashtag=electrical", None).await.is_empty(),
        "followers-only now"
    );
    assert_eq!(
        feed_ids(&s, "hashtag=electrical", Some(&tech.token)).await,
        vec![tip.clone()]
    );
    s.stop().await;
}

#[tokio::test]
async fn every_page_is_reachable_past_page_three() {
    let s = TestServer::start().await;
    let author = s.register("customer").await;
    let liker = s.register("customer").await;
    let mut all = Vec::new();
    for i in 0..25 {
        all.push(text_post(&s, &author, &format!("post number {i}"), "public").await);
        // Distinct creation times: the feed's base order is known.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    // Rows newest first: all[24] is row 0, all[1] is row 23. A like lifts
    // all[1] to the top of its window, never out of it.
    s.post(
        &format!("{BASE}/{}/like", all[1]),
        Some(&liker.token),
        json!({}),
    )
    .await
    .expect(200);
    let mut seen = Vec::new();
    for page in 1..=13 {
        let body = s
            .get(&format!("{BASE}?limit=2&page={page}"), None)
            .await
            .expect(200);
        assert_eq!(body["total"], 25);
        assert_eq!(body["pages"], 13);
        assert_eq!(body["page"], page);
        let got = ids(&body);
        assert_eq!(got.len(), if page == 13 { 1 } else { 2 }, "page {page}");
        assert_eq!(body["count"], got.len());
        seen.extend(got);
    }
    let empty = s
        .get(&format!("{BASE}?limit=2&page=14"), None)
        .await
        .expect(200);
    assert_eq!(empty["count"], 0);
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 25);
    assert_eq!(unique, all.iter().collect::<HashSet<_>>());
    // Window of pages 10-12 (rows 18-23): the liked post leads page 10.
    assert_eq!(seen[18], all[1]);
    assert_eq!(seen[24], all[0]);
    // limit=1: window of pages 22-24 (rows 21-23) is led by the liked post.
    let page = s
        .get(&format!("{BASE}?limit=1&page=22"), None)
        .await
        .expect(200);
    assert_eq!(ids(&page), vec![all[1].clone()]);
    let page = s
        .get(&format!("{BASE}?limit=1&page=21"), None)
        .await
        .expect(200);
    assert_eq!(
        ids(&page),
        vec![all[4].clone()],
        "the window before is untouched"
    );
    s.stop().await;
}

/// Waits until the posts index has applied every event written so far.
async fn index_caught_up(s: &TestServer) {
    let newest: i64 = s
        .query(|c| c.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0)))
        .await;
    s.eventually("the posts index to catch up", || async {
        s.state.posts.index.last_event_id() >= newest
    })
    .await;
}

#[tokio::test]
async fn search_ranks_captions_and_hashtags_with_typos() {
    let s = TestServer::start().await;
    let author = s.register("technician").await;
    let stranger = s.register("customer").await;
    let faucet = text_post(
        &s,
        &author,
        "Fixing a leaking kitchen faucet today",
        "public",
    )
    .await;
    let tagged = text_post(&s, &author, "Before and after #electrical", "public").await;
    let hidden = text_post(&s, &author, "My private faucet notes", "private").await;
    let gone = text_post(&s, &author, "Another faucet story", "public").await;
    s.delete(&format!("{BASE}/{gone}"), Some(&author.token))
        .await
        .expect(200);
    index_caught_up(&s).await;
    // (query, viewer, expected ids in order)
    let cases: Vec<(&str, Option<&str>, Vec<&String>)> = vec![
        ("faucett", Some(&stranger.token), vec![&faucet]),
        ("kitchen faucet", None, vec![&faucet]),
        ("elctrical", None, vec![&tagged]),
        ("leak", None, vec![&faucet]),
        ("faucet", Some(&author.token), vec![&faucet, &hidden]),
        ("plumbing", None, vec![]),
    ];
    for (q, token, expected) in cases {
        let body = s
            .get(&format!("{BASE}?search={}", q.replace(' ', "+")), token)
            .await
            .expect(200);
        let mut got = ids(&body);
        let mut expected: Vec<String> = expected.into_iter().cloned().collect();
        if q == "faucet" {
            got.sort();
            expected.sort();
        }
        assert_eq!(got, expected, "search {q:?}");
        assert_eq!(body["total"], expected.len() as i64);
    }
    // Filters narrow the hits; pages slice them in relevance order.
    let tip = create(
        &s,
        &stranger,
        json!({"type": "tip", "caption": "Faucet washer tip #plumbing"}),
    )
    .await["_id"]
        .as_str()
        .unwrap()
        .to_string();
    index_caught_up(&s).await;
    let by_author = format!("search=faucet&author={}", author.id);
    let cases: Vec<(&str, Option<&str>, Vec<&String>, i64)> = vec![
        ("search=faucet&type=tip", None, vec![&tip], 1),
        ("search=faucet&hashtag=PLUMBING", None, vec![&tip], 1),
        (&by_author, None, vec![&faucet], 1),
        (&by_author, Some(&author.token), vec![&faucet, &hidden], 2),
        ("search=faucet&type=video", None, vec![], 0),
    ];
    for (q, token, expected, total) in cases {
        let body = s.get(&format!("{BASE}?{q}"), token).await.expect(200);
        let got: HashSet<String> = ids(&body).into_iter().collect();
        let expected: HashSet<String> = expected.into_iter().cloned().collect();
        assert_eq!(got, expected, "{q}");
        assert_eq!(body["total"], total, "{q}");
    }
    let all = ids(&s
        .get(&format!("{BASE}?search=faucet"), None)
        .await
        .expect(200));
    assert_eq!(all.len(), 2);
    let second = s
        .get(&format!("{BASE}?search=faucet&limit=1&page=2"), None)
        .await
        .expect(200);
    assert_eq!(ids(&second), vec![all[1].clone()]);
    assert_eq!(
        (second["total"].as_i64(), second["pages"].as_i64()),
        (Some(2), Some(2))
    );
    // An edit is searchable after the consumer caught up.
    s.put(
        &format!("{BASE}/{tagged}"),
        Some(&author.token),
        json!({"caption": "Solar geyser install"}),
    )
    .await
    .expect(200);
    index_caught_up(&s).await;
    let body = s
        .get(&format!("{BASE}?search=geyzer"), None)
        .await
        .expect(200);
    assert_eq!(ids(&body), vec![tagged.clone()]);
    s.stop().await;
}

#[tokio::test]
async fn comments_counts_media_views_and_events() {
    let s = TestServer::start().await;
    let author = s.register("technician").await;
    let commenter = s.register("customer").await;
    let admin = s.staff("admin").await;
    let photo = crate::media::upload_png(&s, &author.token).await;
    let foreign = crate::media::upload_png(&s, &commenter.token).await;
    let refused = s
        .post(
            BASE,
            Some(&author.token),
            json!({"type": "image", "media": [foreign["publicId"]]}),
        )
        .await
        .expect(400);
    assert_eq!(refused["errors"][0]["field"], "media[0]");
    let post = create(
        &s,
        &author,
        json!({"type": "image", "caption": "New tiles", "media": [photo]}),
    )
    .await;
    let id = post["_id"].as_str().unwrap().to_string();
    assert_eq!(post["media"][0]["publicId"], photo["publicId"]);
    assert_eq!(post["media"][0]["type"], "image");
    assert_eq!(post["media"][0]["order"], 0);
    assert!(post["media"][0].get("format").is_none());
    assert_eq!(posts_count(&s, &author.id).await, 1);
    // Comments: populated user, exact count, deletable by the post's author and admins.
    let too_long = s
        .post(
            &format!("{BASE}/{id}/comment"),
            Some(&commenter.token),
            json!({"text": "x".repeat(1001)}),
        )
        .await
        .expect(400);
    assert_eq!(too_long["errors"][0]["field"], "text");
    s.post(
        &format!("{BASE}/{id}/comment"),
        Some(&commenter.token),
        json!({"text": "  "}),
    )
    .await
    .expect(400);
    let mut comment_ids = Vec::new();
    for n in 1..=3 {
        let c = s
            .post(
                &format!("{BASE}/{id}/comment"),
                Some(&commenter.token),
                json!({"text": format!("Nice {n}")}),
            )
            .await
            .expect(201);
        assert_eq!(c["commentsCount"], n);
        assert_eq!(c["comment"]["user"]["firstName"], "Test");
        assert_eq!(c["comment"]["user"]["_id"], commenter.id.as_str());
        assert!(c["comment"]["user"].get("email").is_none());
        comment_ids.push(c["comment"]["_id"].as_str().unwrap().to_string());
    }
    let one = s
        .get(&format!("{BASE}/{id}"), Some(&commenter.token))
        .await
        .expect(200);
    assert_eq!(one["post"]["comments"].as_array().unwrap().len(), 3);
    assert_eq!(one["post"]["comments"][0]["text"], "Nice 1");
    assert_eq!(one["post"]["comments"][0]["user"]["lastName"], "customer");
    assert_eq!(one["post"]["author"]["role"], "technician");
    for (who, comment, count) in [
        (&author, &comment_ids[0], 2),
        (&admin, &comment_ids[1], 1),
        (&commenter, &comment_ids[2], 0),
    ] {
        let d = s
            .delete(&format!("{BASE}/{id}/comment/{comment}"), Some(&who.token))
            .await
            .expect(200);
        assert_eq!(d["commentsCount"], count);
    }
    let (stored, recount) = counters(&s, &id).await;
    assert_eq!(stored, recount);
    let events = events_of(&s, &id).await;
    let commented: Vec<_> = events.iter().filter(|e| e.0 == "post.commented").collect();
    assert_eq!(commented.len(), 3);
    assert_eq!(
        commented[0].1,
        json!({"postId": id, "authorId": author.id, "commentId": comment_ids[0], "commenterId": commenter.id})
    );
    // Views: counted per read without touching the post row, flushed apart.
    let updated_at: i64 = {
        let id = id.clone();
        s.query(move |c| {
            c.query_row("SELECT updated_at FROM posts WHERE id = ?1", [&id], |r| {
                r.get(0)
            })
        })
        .await
    };
    let before = s.get(&format!("{BASE}/{id}"), None).await.expect(200)["post"]["views"]
        .as_i64()
        .unwrap();
    let after = s.get(&format!("{BASE}/{id}"), None).await.expect(200)["post"]["views"]
        .as_i64()
        .unwrap();
    assert_eq!(after, before + 1);
    baitech::posts::flush_views(&s.state).await.unwrap();
    let (stored_views, row_updated): (i64, i64) = {
        let id = id.clone();
        s.query(move |c| {
            c.query_row(
                "SELECT (SELECT n FROM post_views WHERE post_id = ?1), updated_at FROM posts WHERE id = ?1",
                [&id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
        .await
    };
    assert_eq!(stored_views, after);
    assert_eq!(row_updated, updated_at);
    let feed = s
        .get(&format!("{BASE}?author={}", author.id), None)
        .await
        .expect(200);
    assert_eq!(feed["posts"][0]["views"], after);
    // Deleting the post takes it off the author's postsCount.
    s.delete(&format!("{BASE}/{id}"), Some(&author.token))
        .await
        .expect(200);
    assert_eq!(posts_count(&s, &author.id).await, 0);
    s.delete(&format!("{BASE}/{id}"), Some(&author.token))
        .await
        .expect(404);
    assert_eq!(posts_count(&s, &author.id).await, 0);
    s.stop().await;
}

#[tokio::test]
async fn reindex_rebuilds_the_posts_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let s = TestServer::start_with(move |c| c.data_dir = path).await;
    let author = s.register("technician").await;
    let kept = text_post(&s, &author, "Rewired a farmhouse #electrical", "public").await;
    let gone = text_post(&s, &author, "Rewired a shop", "public").await;
    s.delete(&format!("{BASE}/{gone}"), Some(&author.token))
        .await
        .expect(200);
    index_caught_up(&s).await;
    // Two reads: the second is still pending in memory at shutdown.
    for _ in 0..2 {
        s.get(&format!("{BASE}/{kept}"), None).await.expect(200);
    }
    s.stop().await;

    std::fs::remove_dir_all(baitech::search::posts::posts_dir(dir.path())).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_baitech"))
        .arg("reindex")
        .env("BAITECH_DATA_DIR", dir.path())
        .env("BAITECH_LOG_LEVEL", "warn")
        .env_remove("BAITECH_CONFIG")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run baitech reindex");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("posts search index rebuilt: 1 posts"),
        "{text}"
    );

    let path = dir.path().to_path_buf();
    let s = TestServer::start_with(move |c| c.data_dir = path).await;
    let body = s
        .get(&format!("{BASE}?search=rewird"), None)
        .await
        .expect(200);
    assert_eq!(ids(&body), vec![kept.clone()]);
    assert_eq!(
        body["posts"][0]["views"], 2,
        "views pending at shutdown were flushed"
    );
    s.stop().await;
}

#[tokio::test]
async fn handles_are_given_changed_and_resolved_as_mentions() {
    let s = TestServer::start().await;
    let kamau = s.register("technician").await;
    let other = s.register("customer").await;
    let profile = |u: &TestUser| format!("/api/v1/users/{}", u.id);
    // Every account starts with a handle from its name ("Test technician").
    let given = s
        .get(&profile(&kamau), Some(&kamau.token))
        .await
        .expect(200)["user"]["handle"]
        .clone();
    assert_eq!(given, "testtechnician");
    // The owner changes it (normalised); taken, malformed and reserved ones are refused.
    let cases: Vec<(&str, &TestUser, Value, u16, Option<&str>)> = vec![
        ("owner sets", &kamau, json!("@Fundi_Kamau"), 200, None),
        ("another takes it", &other, json!("fundi_kamau"), 409, None),
        ("too short", &other, json!("ab"), 400, Some("handle")),
        ("not a string", &other, json!(7), 400, Some("handle")),
        ("reserved", &other, json!("support"), 400, Some("handle")),
        (
            "looks like an id",
            &other,
            json!("0123456789abcdef01234567"),
            400,
            Some("handle"),
        ),
        ("owner keeps it", &kamau, json!("fundi_kamau"), 200, None),
    ];
    for (name, who, handle, status, field) in cases {
        let got = s
            .put(&profile(who), Some(&who.token), json!({"handle": handle}))
            .await;
        assert_eq!(got.status.as_u16(), status, "{name}: {}", got.body);
        if let Some(field) = field {
            assert!(got.body.to_string().contains(field), "{name}: {}", got.body);
        }
    }
    let stored = s
        .query({
            let id = kamau.id.clone();
            move |c| {
                c.query_row("SELECT handle FROM users WHERE id = ?1", [&id], |r| {
                    r.get::<_, String>(0)
                })
            }
        })
        .await;
    assert_eq!(stored, "fundi_kamau");
    // Mentions: handles in any case, ids, each once, unknown ones and emails left out.
    let post = create(
        &s,
        &other,
        json!({"type": "text", "caption": format!(
            "Thanks @FUNDI_KAMAU and @fundi_kamau! cc @nobody_here, @{} and jane@{}.com",
            other.id, "fundi_kamau"
        )}),
    )
    .await;
    assert_eq!(post["mentions"], json!([kamau.id, other.id]));
    let events = events_of(&s, post["_id"].as_str().unwrap()).await;
    assert_eq!(events[0].0, "post.created");
    assert_eq!(events[0].1["mentionIds"], json!([kamau.id, other.id]));
    // An edit re-reads the caption's mentions.
    let edited = s
        .put(
            &format!("{BASE}/{}", post["_id"].as_str().unwrap()),
            Some(&other.token),
            json!({"caption": "only @testcustomer now"}),
        )
        .await
        .expect(200);
    assert_eq!(edited["post"]["mentions"], json!([other.id]));
    s.stop().await;
}

#[tokio::test]
async fn following_feed_pages_totals_and_type_filter() {
    let s = TestServer::start().await;
    let (a, b, quiet) = (
        s.register("technician").await,
        s.register("technician").await,
        s.register("customer").await,
    );
    let reader = s.register("customer").await;
    // a: 30 posts, b: 25, quiet: 1, an unfollowed author: 10; every 5th
    // post of a is private, every 4th of b followers-only.
    let mut expected = HashSet::new();
    let mut tips = HashSet::new();
    for i in 0..30 {
        let vis = if i % 5 == 0 { "private" } else { "public" };
        let kind = if i % 3 == 0 { "tip" } else { "text" };
        let p = create(
            &s,
            &a,
            json!({"type": kind, "caption": format!("a{i}"), "visibility": vis}),
        )
        .await;
        if vis != "private" {
            expected.insert(p["_id"].as_str().unwrap().to_string());
            if kind == "tip" {
                tips.insert(p["_id"].as_str().unwrap().to_string());
            }
        }
    }
    for i in 0..25 {
        let vis = if i % 4 == 0 { "followers" } else { "public" };
        expected.insert(text_post(&s, &b, &format!("b{i}"), vis).await);
    }
    expected.insert(text_post(&s, &quiet, "hello", "public").await);
    let stranger = s.register("customer").await;
    for i in 0..10 {
        text_post(&s, &stranger, &format!("s{i}"), "public").await;
    }
    for who in [&a, &b, &quiet] {
        s.post(
            &format!("/api/v1/users/{}/follow", who.id),
            Some(&reader.token),
            json!({}),
        )
        .await
        .expect(200);
    }
    // Pages of 7 (past page 3, across window boundaries): each post once, `pages` true.
    let mut seen = Vec::new();
    for page in 1..=8 {
        let body = s
            .get(
                &format!("{BASE}?following=true&limit=7&page={page}"),
                Some(&reader.token),
            )
            .await
            .expect(200);
        assert_eq!(body["total"], expected.len() as i64, "page {page}");
        assert_eq!(
            body["pages"],
            (expected.len() as i64 + 6) / 7,
            "page {page}"
        );
        seen.extend(ids(&body));
    }
    assert_eq!(seen.len(), expected.len(), "no post twice");
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), expected);
    // By type, and narrowed to one followed author.
    let tip_feed = feed_ids(&s, "following=true&type=tip", Some(&reader.token)).await;
    assert_eq!(tip_feed.into_iter().collect::<HashSet<_>>(), tips);
    let body = s
        .get(
            &format!("{BASE}?following=true&type=tip&limit=2"),
            Some(&reader.token),
        )
        .await
        .expect(200);
    assert_eq!(body["total"], tips.len() as i64);
    let only_quiet = feed_ids(
        &s,
        &format!("following=true&author={}", quiet.id),
        Some(&reader.token),
    )
    .await;
    assert_eq!(only_quiet.len(), 1);
    // Deleting a post and unfollowing move the total at once.
    let gone = only_quiet[0].clone();
    s.delete(&format!("{BASE}/{gone}"), Some(&quiet.token))
        .await
        .expect(200);
    let body = s
        .get(
            &format!("{BASE}?following=true&limit=1"),
            Some(&reader.token),
        )
        .await
        .expect(200);
    assert_eq!(body["total"], expected.len() as i64 - 1);
    for who in [&a, &b] {
        s.post(
            &format!("/api/v1/users/{}/follow", who.id),
            Some(&reader.token),
            json!({"follow": false}),
        )
        .await
        .expect(200);
    }
    let body = s
        .get(&format!("{BASE}?following=true"), Some(&reader.token))
        .await
        .expect(200);
    assert_eq!(body["total"], 0);
    assert_eq!(body["posts"], json!([]));
    s.stop().await;
}

/// The keys the original web client reads (spec/wire/README.md) and the
/// wire entries of market.md §4, exactly, on every posts answer.
#[tokio::test]
async fn every_answer_has_the_wire_keys() {
    use crate::chat::keys;
    let s = TestServer::start().await;
    let author = s.register("technician").await;
    let reader = s.register("customer").await;
    let created = s
        .post(
            BASE,
            Some(&author.token),
            json!({"type": "tip", "caption": "Bleed the radiator #heat"}),
        )
        .await
        .expect(201);
    assert_eq!(keys(&created), ["message", "post", "success"]);
    let id = created["post"]["_id"].as_str().unwrap().to_string();
    let feed = s
        .get(&format!("{BASE}?page=1&limit=20"), Some(&reader.token))
        .await
        .expect(200);
    assert_eq!(
        keys(&feed),
        ["count", "limit", "page", "pages", "posts", "success", "total"]
    );
    let item = &feed["posts"][0];
    for key in [
        "_id",
        "id",
        "author",
        "type",
        "caption",
        "media",
        "hashtags",
        "likesCount",
        "commentsCount",
        "sharesCount",
        "bookmarksCount",
        "views",
        "isLiked",
        "isBookmarked",
        "isBoosted",
        "boostLevel",
        "visibility",
        "status",
        "createdAt",
        "updatedAt",
        "totalEngagement",
        "portfolioDetails",
    ] {
        assert!(item.get(key).is_some(), "feed item lacks {key}: {item}");
    }
    let author_keys = keys(&item["author"]);
    for key in [
        "_id",
        "firstName",
        "lastName",
        "profilePicture",
        "role",
        "rating",
    ] {
        assert!(
            author_keys.contains(&key.to_string()),
            "author lacks {key}: {author_keys:?}"
        );
    }
    assert!(item["author"]["subscription"]
        .get("billingHistory")
        .is_none());
    let like = s
        .post(&format!("{BASE}/{id}/like"), Some(&reader.token), json!({}))
        .await
        .expect(200);
    assert_eq!(keys(&like), ["isLiked", "likesCount", "message", "success"]);
    let share = s
        .post(
            &format!("{BASE}/{id}/share"),
            Some(&reader.token),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(keys(&share), ["message", "sharesCount", "success"]);
    let mark = s
        .post(
            &format!("{BASE}/{id}/bookmark"),
            Some(&reader.token),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(
        keys(&mark),
        ["bookmarked", "bookmarksCount", "message", "success"]
    );
    let comment = s
        .post(
            &format!("{BASE}/{id}/comment"),
            Some(&reader.token),
            json!({"text": "Thanks"}),
        )
        .await
        .expect(201);
    assert_eq!(
        keys(&comment),
        ["comment", "commentsCount", "message", "success"]
    );
    assert_eq!(
        keys(&comment["comment"]["user"]),
        [
            "_id",
            "age",
            "firstName",
            "fullName",
            "id",
            "lastName",
            "profilePicture"
        ]
    );
    let cid = comment["comment"]["_id"].as_str().unwrap();
    let one = s.get(&format!("{BASE}/{id}"), None).await.expect(200);
    assert_eq!(keys(&one), ["post", "success"]);
    assert_eq!(one["post"]["comments"][0]["user"]["firstName"], "Test");
    let gone = s
        .delete(&format!("{BASE}/{id}/comment/{cid}"), Some(&reader.token))
        .await
        .expect(200);
    assert_eq!(keys(&gone), ["commentsCount", "message", "success"]);
    let updated = s
        .put(
            &format!("{BASE}/{id}"),
            Some(&author.token),
            json!({"caption": "Bleed it yearly"}),
        )
        .await
        .expect(200);
    assert_eq!(keys(&updated), ["message", "post", "success"]);
    let deleted = s
        .delete(&format!("{BASE}/{id}"), Some(&author.token))
        .await
        .expect(200);
    assert_eq!(keys(&deleted), ["message", "success"]);
    s.stop().await;
}
