//! `/api/v1/conversations`, `/api/v1/messages` and the Socket.IO layer:
//! who may do what (tables), every message type's validation, unread
//! counts, reactions, delete windows, booking conversations, text at rest,
//! and the official socket.io-client against the real server.

use serde_json::{json, Value};

use crate::harness::{TestServer, TestUser};

// ---------------------------------------------------------------- helpers

fn id_of(v: &Value) -> String {
    v["_id"].as_str().unwrap().to_string()
}

fn fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn create_conv(s: &TestServer, who: &TestUser, body: Value, status: u16) -> Value {
    s.post("/api/v1/conversations", Some(&who.token), body)
        .await
        .expect(status)["conversation"]
        .clone()
}

async fn send(s: &TestServer, who: &TestUser, conv: &str, text: &str) -> Value {
    s.post(
        "/api/v1/messages",
        Some(&who.token),
        json!({"conversation": conv, "type": "text", "text": text}),
    )
    .await
    .expect(201)["message"]
        .clone()
}

async fn unread(s: &TestServer, who: &TestUser, conv: &str) -> i64 {
    s.get(&format!("/api/v1/conversations/{conv}"), Some(&who.token))
        .await
        .expect(200)["conversation"]["unreadCount"]
        .as_i64()
        .unwrap()
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

fn booking_body(tech: &str) -> Value {
    let date = (chrono::Utc::now() + chrono::Duration::days(2))
        .format("%Y-%m-%d")
        .to_string();
    json!({
        "serviceType": "Plumbing", "description": "Kitchen sink leaks under the cabinet",
        "scheduledDate": date, "scheduledTime": "10:00", "estimatedDuration": 120,
        "serviceLocation": {"coordinates": [36.8172, -1.2864], "address": "Moi Avenue 12", "city": "Nairobi"},
        "technician": tech, "urgency": "normal", "images": [],
    })
}

// ---------------------------------------------------------------- conversations

#[tokio::test]
async fn direct_conversations_are_found_or_created_once_per_pair() {
    let s = TestServer::start().await;
    let a = s.register("customer").await;
    let b = s.register("technician").await;
    let first = create_conv(
        &s,
        &a,
        json!({"type": "direct", "participants": [b.id]}),
        201,
    )
    .await;
    let again = create_conv(
        &s,
        &b,
        json!({"type": "direct", "participants": [a.id]}),
        200,
    )
    .await;
    assert_eq!(id_of(&first), id_of(&again));
    assert_eq!(first["type"], "direct");
    assert_eq!(first["participantCount"], 2);
    assert_eq!(first["settings"]["onlyAdminsCanSend"], false);
    let p = &first["participants"][0];
    assert!(
        p["firstName"].is_string() && p["user"]["_id"].is_string() && p["unreadCount"] == 0,
        "{p}"
    );
    assert!(first["participantSettings"][0]["isMuted"] == false);
    // Bad bodies name their field.
    let cases = [
        (
            json!({"type": "chat", "participants": [b.id]}),
            vec!["type"],
        ),
        (
            json!({"type": "direct", "participants": []}),
            vec!["participants"],
        ),
        (
            json!({"type": "direct", "participants": ["x"]}),
            vec!["participants[0]", "participants"],
        ),
        (
            json!({"type": "group", "participants": [b.id]}),
            vec!["name"],
        ),
        (
            json!({"type": "direct", "participants": ["0123456789abcdef01234567"]}),
            vec!["participants"],
        ),
    ];
    for (body, want) in cases {
        let e = s
            .post("/api/v1/conversations", Some(&a.token), body.clone())
            .await
            .expect(400);
        assert_eq!(fields(&e), want, "{body}");
    }
    s.post("/api/v1/conversations", None, json!({}))
        .await
        .expect(401);
    s.stop().await;
}

#[tokio::test]
async fn who_may_touch_a_group_conversation() {
    let s = TestServer::start().await;
    let owner = s.register("customer").await;
    let member = s.register("technician").await;
    let stranger = s.register("customer").await;
    let newcomer = s.register("customer").await;
    let admin = s.staff("admin").await;
    let g = create_conv(
        &s,
        &owner,
        json!({"type": "group", "name": "Crew", "participants": [member.id]}),
        201,
    )
    .await;
    let gid = id_of(&g);
    assert_eq!(g["admins"], json!([owner.id]));
    let conv = format!("/api/v1/conversations/{gid}");
    let add = format!("{conv}/participants");
    let msgs = format!("/api/v1/messages?conversation={gid}");
    // (who, method, path, body, status)
    let table: Vec<(&TestUser, &str, String, Value, u16)> = vec![
        (&owner, "GET", conv.clone(), json!(null), 200),
        (&member, "GET", conv.clone(), json!(null), 200),
        (&stranger, "GET", conv.clone(), json!(null), 404),
        (&admin, "GET", conv.clone(), json!(null), 200),
        (
            &stranger,
            "GET",
            "/api/v1/conversations/nothex".into(),
            json!(null),
            404,
        ),
        (&stranger, "GET", msgs.clone(), json!(null), 404),
        (&admin, "GET", msgs.clone(), json!(null), 200),
        (
            &stranger,
            "PUT",
            format!("{conv}/settings"),
            json!({"isMuted": true}),
            404,
        ),
        (
            &member,
            "PUT",
            format!("{conv}/settings"),
            json!({"isMuted": true}),
            200,
        ),
        (
            &member,
            "PUT",
            format!("{conv}/settings"),
            json!({"settings": {"onlyAdminsCanSend": true}}),
            403,
        ),
        (
            &stranger,
            "POST",
            add.clone(),
            json!({"userId": newcomer.id}),
            404,
        ),
        (
            &member,
            "POST",
            add.clone(),
            json!({"userId": newcomer.id}),
            403,
        ),
        (
            &admin,
            "POST",
            add.clone(),
            json!({"userId": newcomer.id}),
            404,
        ),
        (&owner, "POST", add.clone(), json!({"userId": "x"}), 400),
        (
            &owner,
            "POST",
            add.clone(),
            json!({"userId": newcomer.id}),
            200,
        ),
        (
            &owner,
            "POST",
            add.clone(),
            json!({"userId": newcomer.id}),
            400,
        ),
        (
            &member,
            "DELETE",
            format!("{add}/{}", newcomer.id),
            json!(null),
            403,
        ),
        (
            &stranger,
            "POST",
            "/api/v1/messages".into(),
            json!({"conversation": gid, "text": "hi"}),
            404,
        ),
        (
            &admin,
            "POST",
            "/api/v1/messages".into(),
            json!({"conversation": gid, "text": "hi"}),
            404,
        ),
        (
            &newcomer,
            "POST",
            "/api/v1/messages".into(),
            json!({"conversation": gid, "text": "hi"}),
            201,
        ),
    ];
    for (who, method, path, body, status) in table {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let body = (!body.is_null()).then_some(body);
        let got = s.call(method.clone(), &path, Some(&who.token), body).await;
        assert_eq!(
            got.status.as_u16(),
            status,
            "{} {method} {path}: {}",
            who.role,
            got.body
        );
    }
    // The owner removes the newcomer: access ends at once.
    s.delete(&format!("{add}/{}", newcomer.id), Some(&owner.token))
        .await
        .expect(200);
    s.get(&conv, Some(&newcomer.token)).await.expect(404);
    s.get(&msgs, Some(&newcomer.token)).await.expect(404);
    s.post(
        "/api/v1/messages",
        Some(&newcomer.token),
        json!({"conversation": gid, "text": "hi"}),
    )
    .await
    .expect(404);
    let list = s
        .get("/api/v1/conversations", Some(&newcomer.token))
        .await
        .expect(200);
    assert_eq!(list["total"], 0);
    // Only admins send once the owner says so; a member may leave.
    s.put(
        &format!("{conv}/settings"),
        Some(&owner.token),
        json!({"settings": {"onlyAdminsCanSend": true}}),
    )
    .await
    .expect(200);
    s.post(
        "/api/v1/messages",
        Some(&member.token),
        json!({"conversation": gid, "text": "hi"}),
    )
    .await
    .expect(403);
    send(&s, &owner, &gid, "admins only now").await;
    s.delete(&format!("{add}/{}", member.id), Some(&member.token))
        .await
        .expect(200);
    s.get(&conv, Some(&member.token)).await.expect(404);
    // Only groups take members.
    let d = create_conv(
        &s,
        &owner,
        json!({"type": "direct", "participants": [stranger.id]}),
        201,
    )
    .await;
    s.post(
        &format!("/api/v1/conversations/{}/participants", id_of(&d)),
        Some(&owner.token),
        json!({"userId": newcomer.id}),
    )
    .await
    .expect(400);
    s.stop().await;
}

#[tokio::test]
async fn per_member_marks_archive_and_list_filters() {
    let s = TestServer::start().await;
    let a = s.register("customer").await;
    let b = s.register("customer").await;
    let c = s.register("customer").await;
    let ab = id_of(
        &create_conv(
            &s,
            &a,
            json!({"type": "direct", "participants": [b.id]}),
            201,
        )
        .await,
    );
    let ac = id_of(
        &create_conv(
            &s,
            &a,
            json!({"type": "direct", "participants": [c.id]}),
            201,
        )
        .await,
    );
    let support = create_conv(
        &s,
        &a,
        json!({"type": "support", "participants": [], "name": "Help"}),
        201,
    )
    .await;
    assert_eq!(support["participantCount"], 1);
    let saved = s
        .put(
            &format!("/api/v1/conversations/{ab}/settings"),
            Some(&a.token),
            json!({"isArchived": true, "isPinned": true, "mutedUntil": "2030-01-01T00:00:00Z"}),
        )
        .await
        .expect(200);
    assert_eq!(saved["settings"]["isArchived"], true);
    assert_eq!(saved["settings"]["isMuted"], true);
    assert_eq!(saved["settings"]["mutedUntil"], "2030-01-01T00:00:00.000Z");
    let bad = s
        .put(
            &format!("/api/v1/conversations/{ab}/settings"),
            Some(&a.token),
            json!({"isMuted": "yes"}),
        )
        .await
        .expect(400);
    assert_eq!(fields(&bad), ["isMuted"]);
    let ids = |v: &Value| -> Vec<String> {
        v["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(id_of)
            .collect()
    };
    let mine = s
        .get("/api/v1/conversations", Some(&a.token))
        .await
        .expect(200);
    assert!(
        !ids(&mine).contains(&ab) && ids(&mine).contains(&ac),
        "{mine}"
    );
    let archived = s
        .get("/api/v1/conversations?status=archived", Some(&a.token))
        .await
        .expect(200);
    assert_eq!(ids(&archived), vec![ab.clone()]);
    // Archived is the caller's own: b still sees it.
    let theirs = s
        .get("/api/v1/conversations", Some(&b.token))
        .await
        .expect(200);
    assert_eq!(ids(&theirs), vec![ab.clone()]);
    let sup = s
        .get("/api/v1/conversations?type=support", Some(&a.token))
        .await
        .expect(200);
    assert_eq!(sup["total"], 1);
    s.get("/api/v1/conversations?type=chat", Some(&a.token))
        .await
        .expect(400);
    s.get("/api/v1/conversations?limit=500", Some(&a.token))
        .await
        .expect(400);
    // A new message brings an archived conversation back.
    send(&s, &b, &ab, "still there?").await;
    let mine = s
        .get("/api/v1/conversations", Some(&a.token))
        .await
        .expect(200);
    assert_eq!(ids(&mine)[0], ab, "pinned and fresh first");
    assert_eq!(
        mine["conversations"][0]["lastMessage"]["text"],
        "still there?"
    );
    s.stop().await;
}

/// The keys of an object, sorted.
pub(crate) fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

/// Asserts `v` has every key of `want` (the wire's) and none of `never`.
#[track_caller]
fn has_keys(v: &Value, want: &[&str], never: &[&str]) {
    let got = keys(v);
    let missing: Vec<&&str> = want
        .iter()
        .filter(|k| !got.iter().any(|g| g == *k))
        .collect();
    let extra: Vec<&&str> = never
        .iter()
        .filter(|k| got.iter().any(|g| g == *k))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, unwanted {extra:?} in {v}"
    );
}

/// A populated user as Mongoose writes it (`fullName` and `age` are virtuals).
const PERSON: &[&str] = &[
    "_id",
    "id",
    "firstName",
    "lastName",
    "fullName",
    "age",
    "profilePicture",
];

/// social.md §2-3, key by key: the envelopes, the conversation document
/// (participants populated and as `{user, unreadCount}`, settings per
/// member, `lastMessage.sender` populated with the User virtuals), the
/// message document of a fresh text message (verified in the original),
/// attachments as the model's subdocuments, and the errors' wording.
#[tokio::test]
async fn conversations_and_messages_answer_with_the_wire_keys() {
    let s = TestServer::start().await;
    let a = s.register("customer").await;
    let b = s.register("technician").await;
    let created = s
        .post(
            "/api/v1/conversations",
            Some(&a.token),
            json!({"type": "direct", "participants": [b.id]}),
        )
        .await
        .expect(201);
    assert_eq!(keys(&created), ["conversation", "message", "success"]);
    assert_eq!(created["message"], "Conversation created successfully");
    let conv = &created["conversation"];
    let cid = id_of(conv);
    has_keys(
        conv,
        &[
            "_id",
            "id",
            "type",
            "participants",
            "participantSettings",
            "lastMessageAt",
            "status",
            "createdBy",
            "settings",
            "metadata",
            "participantCount",
            "unreadCount",
            "createdAt",
            "updatedAt",
            "__v",
        ],
        &["lastMessage", "booking", "name"],
    );
    assert_eq!(conv["_id"], conv["id"]);
    assert_eq!(conv["createdBy"], a.id.as_str());
    assert_eq!(
        keys(&conv["settings"]),
        ["allowCalls", "allowMediaSharing", "onlyAdminsCanSend"]
    );
    assert_eq!(keys(&conv["metadata"]), ["lastActivity", "totalMessages"]);
    for p in conv["participants"].as_array().unwrap() {
        has_keys(p, &[PERSON, &["user", "unreadCount"]].concat(), &[]);
        has_keys(&p["user"], PERSON, &[]);
        assert!(
            p["age"].is_null() && p["profilePicture"]["url"].is_string(),
            "{p}"
        );
    }
    for entry in conv["participantSettings"].as_array().unwrap() {
        // Unset dates are left out, as Mongoose leaves undefined keys out.
        has_keys(
            entry,
            &["user", "unreadCount", "isMuted", "isPinned", "isArchived"],
            &["mutedUntil", "lastReadAt", "_id"],
        );
    }
    let again = s
        .post(
            "/api/v1/conversations",
            Some(&b.token),
            json!({"type": "direct", "participants": [a.id]}),
        )
        .await
        .expect(200);
    assert_eq!(again["message"], "Conversation already exists");
    // The original's validator wording.
    for body in [
        json!({"type": "direct", "participants": []}),
        json!({"type": "group", "name": "G"}),
        json!({"type": "booking", "participants": []}),
    ] {
        let e = s
            .post("/api/v1/conversations", Some(&a.token), body.clone())
            .await
            .expect(400);
        assert_eq!(e["errors"][0]["field"], "participants", "{body}");
        assert_eq!(
            e["errors"][0]["message"], "At least one participant is required",
            "{body}"
        );
    }
    let e = s
        .post(
            "/api/v1/conversations",
            Some(&a.token),
            json!({"type": "chat", "participants": [b.id]}),
        )
        .await
        .expect(400);
    assert_eq!(
        e["errors"][0]["message"],
        "Valid conversation type is required"
    );

    // POST /messages: `message` holds the object; a fresh text message
    // carries every key the original's did.
    let sent = s
        .post(
            "/api/v1/messages",
            Some(&a.token),
            json!({"conversation": cid, "type": "text", "text": "hello there"}),
        )
        .await
        .expect(201);
    assert_eq!(keys(&sent), ["message", "success"]);
    let m = &sent["message"];
    has_keys(
        m,
        &[
            "conversation",
            "sender",
            "type",
            "text",
            "isEncrypted",
            "status",
            "mentions",
            "isEdited",
            "isDeleted",
            "deletedFor",
            "_id",
            "attachments",
            "readBy",
            "reactions",
            "editHistory",
            "createdAt",
            "updatedAt",
            "__v",
            "isRead",
            "readCount",
            "id",
        ],
        &[
            "callInfo",
            "systemInfo",
            "metadata",
            "deletedAt",
            "deletedBy",
            "replyTo",
        ],
    );
    assert_eq!(
        (
            m["text"].as_str(),
            m["status"].as_str(),
            m["isRead"].as_bool(),
            m["readCount"].as_i64()
        ),
        (Some("hello there"), Some("sent"), Some(false), Some(0))
    );
    assert_eq!(m["conversation"], cid.as_str());
    has_keys(&m["sender"], PERSON, &["email", "phoneNumber"]);
    assert_eq!(m["sender"]["fullName"], "Test customer");
    // The swagger's `content` is taken as the text.
    let via_content = s
        .post(
            "/api/v1/messages",
            Some(&a.token),
            json!({"conversation": cid, "type": "text", "content": "from swagger"}),
        )
        .await
        .expect(201);
    assert_eq!(via_content["message"]["text"], "from swagger");
    // A place is also a `location` attachment of the model's shape.
    let place = s
        .post(
            "/api/v1/messages",
            Some(&a.token),
            json!({"conversation": cid, "type": "location",
                   "location": {"coordinates": [36.8, -1.3], "name": "Moi Avenue"}}),
        )
        .await
        .expect(201)["message"]
        .clone();
    assert_eq!(
        place["attachments"],
        json!([{"type": "location", "url": "geo:-1.3,36.8",
                "coordinates": {"latitude": -1.3, "longitude": 36.8}, "locationName": "Moi Avenue"}])
    );
    // Media attachments carry mimeType and no null keys.
    let photo = crate::media::upload_png(&s, &a.token).await;
    let image = s
        .post(
            "/api/v1/messages",
            Some(&a.token),
            json!({"conversation": cid, "type": "image", "media": [photo["id"]]}),
        )
        .await
        .expect(201)["message"]
        .clone();
    let att = &image["attachments"][0];
    has_keys(att, &["type", "url", "publicId", "size", "mimeType"], &[]);
    assert_eq!(
        (att["type"].as_str(), att["mimeType"].as_str()),
        (Some("image"), Some("image/png"))
    );
    assert!(
        att.as_object().unwrap().values().all(|v| !v.is_null()),
        "{att}"
    );

    // The list: the named-key envelope; lastMessage {text, sender, timestamp}
    // with the sender populated (`firstName lastName` and the virtuals).
    let list = s
        .get("/api/v1/conversations?status=active", Some(&b.token))
        .await
        .expect(200);
    has_keys(
        &list,
        &[
            "success",
            "count",
            "total",
            "page",
            "pages",
            "conversations",
        ],
        &[],
    );
    let item = &list["conversations"][0];
    assert_eq!(item["unreadCount"], 4);
    has_keys(&item["lastMessage"], &["text", "sender", "timestamp"], &[]);
    assert_eq!(item["lastMessage"]["text"], "[image]");
    let sender = &item["lastMessage"]["sender"];
    assert_eq!(
        keys(sender),
        ["_id", "age", "firstName", "fullName", "id", "lastName"]
    );
    assert_eq!(
        (sender["_id"].as_str(), sender["age"].is_null()),
        (Some(a.id.as_str()), true)
    );
    let you = item["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["user"]["_id"] == b.id.as_str())
        .unwrap();
    assert_eq!(you["unreadCount"], 4);
    assert_eq!(you["role"], "technician");

    // GET /messages, mark-read, the receipts on the messages.
    let msgs = s
        .get(
            &format!("/api/v1/messages?conversation={cid}"),
            Some(&b.token),
        )
        .await
        .expect(200);
    has_keys(
        &msgs,
        &["success", "count", "total", "page", "pages", "messages"],
        &[],
    );
    let done = s
        .put(
            "/api/v1/messages/mark-read",
            Some(&b.token),
            json!({"conversation": cid}),
        )
        .await
        .expect(200);
    assert_eq!(
        (done["success"].as_bool(), done["message"].as_str()),
        (Some(true), Some("Messages marked as read"))
    );
    let msgs = s
        .get(
            &format!("/api/v1/messages?conversation={cid}"),
            Some(&a.token),
        )
        .await
        .expect(200);
    let first = &msgs["messages"][0];
    assert_eq!(keys(&first["readBy"][0]), ["readAt", "user"]);
    let settings = s
        .put(
            &format!("/api/v1/conversations/{cid}/settings"),
            Some(&b.token),
            json!({"isPinned": true}),
        )
        .await
        .expect(200);
    assert_eq!(settings["message"], "Settings updated successfully");
    has_keys(
        &settings["settings"],
        &[
            "user",
            "unreadCount",
            "isMuted",
            "isPinned",
            "isArchived",
            "lastReadAt",
        ],
        &["mutedUntil"],
    );
    assert_eq!(settings["settings"]["user"], b.id.as_str());
    // Deleted for everyone: still listed, text null, attachments emptied.
    s.delete(
        &format!("/api/v1/messages/{}/everyone", id_of(&image)),
        Some(&a.token),
    )
    .await
    .expect(200);
    let msgs = s
        .get(
            &format!("/api/v1/messages?conversation={cid}"),
            Some(&b.token),
        )
        .await
        .expect(200);
    let gone = msgs["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["_id"] == image["_id"])
        .unwrap();
    has_keys(gone, &["isDeleted", "deletedAt", "deletedBy"], &[]);
    assert_eq!(
        (gone["text"].is_null(), gone["attachments"].clone()),
        (true, json!([]))
    );
    s.stop().await;
}

// ---------------------------------------------------------------- messages

#[tokio::test]
async fn every_message_type_is_validated() {
    let s = TestServer::start().await;
    let a = s.register("customer").await;
    let b = s.register("technician").await;
    let conv = id_of(
        &create_conv(
            &s,
            &a,
            json!({"type": "direct", "participants": [b.id]}),
            201,
        )
        .await,
    );
    let photo = crate::media::upload_png(&s, &a.token).await;
    let theirs = crate::media::upload_png(&s, &b.token).await;
    let first = send(&s, &a, &conv, "first").await;
    let c = |extra: Value| {
        let mut body = json!({"conversation": conv});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    // (body, status, failing fields)
    let table: Vec<(Value, u16, Vec<&str>)> = vec![
        (c(json!({"type": "text", "text": "hello"})), 201, vec![]),
        (c(json!({"text": "type defaults to text"})), 201, vec![]),
        (c(json!({"type": "text"})), 400, vec!["text"]),
        (
            c(json!({"type": "text", "text": "x".repeat(5001)})),
            400,
            vec!["text"],
        ),
        (
            c(json!({"type": "sticker", "text": "x"})),
            400,
            vec!["type"],
        ),
        (c(json!({"type": "system", "text": "x"})), 400, vec!["type"]),
        (
            json!({"type": "text", "text": "x"}),
            400,
            vec!["conversation"],
        ),
        (c(json!({"type": "image"})), 400, vec!["media"]),
        (
            c(json!({"type": "image", "media": [photo["id"]], "text": "caption"})),
            201,
            vec![],
        ),
        (
            c(json!({"type": "image", "media": [photo["publicId"]]})),
            201,
            vec![],
        ),
        (
            c(json!({"type": "image", "media": [theirs["id"]]})),
            400,
            vec!["media[0]"],
        ),
        (
            c(json!({"type": "video", "media": [photo["id"]]})),
            400,
            vec!["media[0]"],
        ),
        (
            c(json!({"type": "document", "media": [photo["id"]]})),
            201,
            vec![],
        ),
        (c(json!({"type": "audio"})), 400, vec!["media"]),
        (c(json!({"type": "location"})), 400, vec!["location"]),
        (
            c(
                json!({"type": "location", "location": {"coordinates": [36.8, -1.3], "address": "Moi Ave"}}),
            ),
            201,
            vec![],
        ),
        (
            c(json!({"type": "location", "location": {"latitude": 100, "longitude": 1}})),
            400,
            vec!["location"],
        ),
        (c(json!({"type": "booking"})), 400, vec!["booking"]),
        (
            c(json!({"type": "booking", "booking": "0123456789abcdef01234567"})),
            400,
            vec!["booking"],
        ),
        (
            c(json!({"type": "voice_call", "callInfo": {"duration": 30, "status": "completed"}})),
            201,
            vec![],
        ),
        (
            c(json!({"type": "video_call", "callInfo": {"status": "lost"}})),
            400,
            vec!["callInfo.status"],
        ),
        (
            c(json!({"text": "re", "replyTo": first["_id"]})),
            201,
            vec![],
        ),
        (
            c(json!({"text": "re", "replyTo": "0123456789abcdef01234567"})),
            400,
            vec!["replyTo"],
        ),
        (
            c(json!({"text": "hi", "mentions": ["nope"]})),
            400,
            vec!["mentions[0]"],
        ),
        (c(json!({"text": 5})), 400, vec!["text"]),
    ];
    for (body, status, want) in table {
        let got = s
            .post("/api/v1/messages", Some(&a.token), body.clone())
            .await;
        assert_eq!(got.status.as_u16(), status, "{body}: {}", got.body);
        if status == 400 {
            assert_eq!(fields(&got.body), want, "{body}");
        }
    }
    let list = s
        .get(
            &format!("/api/v1/messages?conversation={conv}&limit=100"),
            Some(&b.token),
        )
        .await
        .expect(200);
    let msgs = list["messages"].as_array().unwrap();
    let of = |t: &str| msgs.iter().find(|m| m["type"] == t).unwrap().clone();
    assert_eq!(of("image")["attachments"][0]["publicId"], photo["publicId"]);
    assert!(of("image")["attachments"][0]["url"].is_string());
    assert_eq!(
        of("location")["location"]["coordinates"],
        json!([36.8, -1.3])
    );
    assert_eq!(of("voice_call")["callInfo"]["type"], "voice");
    let reply = msgs.iter().find(|m| m["text"] == "re").unwrap();
    assert_eq!(reply["replyTo"]["text"], "first");
    assert_eq!(reply["sender"]["firstName"], "Test");
    s.stop().await;
}

#[tokio::test]
async fn unread_counts_mark_read_pages_and_the_before_cursor() {
    let s = TestServer::start().await;
    let a = s.register("customer").await;
    let b = s.register("technician").await;
    let conv = id_of(
        &create_conv(
            &s,
            &a,
            json!({"type": "direct", "participants": [b.id]}),
            201,
        )
        .await,
    );
    for i in 0..5 {
        send(&s, &a, &conv, &format!("m{i}")).await;
    }
    assert_eq!(unread(&s, &b, &conv).await, 5);
    assert_eq!(unread(&s, &a, &conv).await, 0);
    let page = s
        .get(
            &format!("/api/v1/messages?conversation={conv}&limit=2"),
            Some(&b.token),
        )
        .await
        .expect(200);
    assert_eq!(
        (
            page["total"].as_i64(),
            page["pages"].as_i64(),
            page["count"].as_i64()
        ),
        (Some(5), Some(3), Some(2))
    );
    let texts: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["m3", "m4"],
        "newest page first, oldest to newest within"
    );
    let before = page["messages"][0]["createdAt"]
        .as_str()
        .unwrap()
        .to_string();
    let older = s
        .get(
            &format!("/api/v1/messages?conversation={conv}&before={before}"),
            Some(&b.token),
        )
        .await
        .expect(200);
    assert!(older["messages"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["text"] != "m3" && m["text"] != "m4"));
    s.get("/api/v1/messages", Some(&b.token)).await.expect(400);
    s.get(
        &format!("/api/v1/messages?conversation={conv}&before=later"),
        Some(&b.token),
    )
    .await
    .expect(400);
    let done = s
        .put(
            "/api/v1/messages/mark-read",
            Some(&b.token),
            json!({"conversation": conv}),
        )
        .await
        .expect(200);
    assert_eq!(done["count"], 5);
    assert_eq!(unread(&s, &b, &conv).await, 0);
    let after = s
        .get(
            &format!("/api/v1/messages?conversation={conv}"),
            Some(&a.token),
        )
        .await
        .expect(200);
    let m = &after["messages"][0];
    assert_eq!(
        (
            m["status"].as_str(),
            m["isRead"].as_bool(),
            m["readCount"].as_i64()
        ),
        (Some("read"), Some(true), Some(1))
    );
    assert_eq!(m["readBy"][0]["user"], b.id.as_str());
    s.put("/api/v1/messages/mark-read", Some(&b.token), json!({}))
        .await
        .expect(400);
    let stranger = s.register("customer").await;
    s.put(
        "/api/v1/messages/mark-read",
        Some(&stranger.token),
        json!({"conversation": conv}),
    )
    .await
    .expect(404);
    let events: i64 = s
        .query(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM events WHERE kind = 'message.read'",
                [],
                |r| r.get(0),
            )
        })
        .await;
    assert_eq!(events, 1);
    s.stop().await;
}

#[tokio::test]
async fn reactions_are_one_per_user_and_a_new_emoji_replaces_the_old() {
    let s = TestServer::start().await;
    let a = s.register("customer").await;
    let b = s.register("technician").await;
    let stranger = s.register("customer").await;
    let conv = id_of(
        &create_conv(
            &s,
            &a,
            json!({"type": "direct", "participants": [b.id]}),
            201,
        )
        .await,
    );
    let m = id_of(&send(&s, &a, &conv, "react to me").await);
    let path = format!("/api/v1/messages/{m}/reaction");
    // (who, method, emoji, status, (user, emoji) pairs after)
    type Step<'a> = (&'a TestUser, &'a str, &'a str, u16, Vec<(&'a str, &'a str)>);
    let steps: Vec<Step> = vec![
        (&b, "POST", "👍", 200, vec![(&b.id, "👍")]),
        (&b, "POST", "❤️", 200, vec![(&b.id, "❤️")]),
        (&b, "POST", "❤️", 200, vec![(&b.id, "❤️")]),
        (&a, "POST", "👍", 200, vec![(&b.id, "❤️"), (&a.id, "👍")]),
        (&stranger, "POST", "👍", 404, vec![]),
        (&stranger, "DELETE", "", 404, vec![]),
        (&b, "DELETE", "", 200, vec![(&a.id, "👍")]),
        (&b, "DELETE", "", 200, vec![(&a.id, "👍")]),
    ];
    let mut first_of_b: Option<Value> = None;
    for (who, method, emoji, status, want) in steps {
        let got = match method {
            "POST" => {
                s.post(&path, Some(&who.token), json!({"emoji": emoji}))
                    .await
            }
            _ => s.delete(&path, Some(&who.token)).await,
        }
        .expect(status);
        if status != 200 {
            continue;
        }
        assert_eq!(keys(&got), ["message", "reactions", "success"], "{got}");
        assert_eq!(
            got["message"],
            if method == "POST" {
                "Reaction added successfully"
            } else {
                "Reaction removed successfully"
            }
        );
        let pairs: Vec<(&str, &str)> = got["reactions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["user"].as_str().unwrap(), r["emoji"].as_str().unwrap()))
            .collect();
        assert_eq!(pairs, want, "{method} {emoji} by {}", who.role);
        for r in got["reactions"].as_array().unwrap() {
            let mut k: Vec<&String> = r.as_object().unwrap().keys().collect();
            k.sort();
            assert_eq!(k, ["_id", "createdAt", "emoji", "id", "user"], "{r}");
            assert_eq!(r["_id"], r["id"]);
        }
        // b's reaction keeps its _id and createdAt when its emoji changes.
        if let Some(mine) = got["reactions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["user"] == b.id.as_str())
        {
            let was = first_of_b.get_or_insert_with(|| mine.clone());
            assert_eq!(
                (&mine["_id"], &mine["createdAt"]),
                (&was["_id"], &was["createdAt"])
            );
        }
    }
    let e = s
        .post(&path, Some(&a.token), json!({"emoji": ""}))
        .await
        .expect(400);
    assert_eq!(fields(&e), ["emoji"]);
    assert_eq!(e["errors"][0]["message"], "Emoji is required");
    let payloads: Vec<String> = s
        .query(|c| {
            let mut st = c.prepare(
                "SELECT payload FROM events WHERE kind = 'message.reaction' ORDER BY id",
            )?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect()
        })
        .await;
    // Three changes and one removal: the same emoji again and the second
    // DELETE changed nothing.
    assert_eq!(payloads.len(), 4, "{payloads:?}");
    let last: Value = serde_json::from_str(payloads.last().unwrap()).unwrap();
    assert_eq!(last["added"], false);
    assert_eq!(last["authorId"], a.id.as_str());
    assert_eq!(last["reactorId"], b.id.as_str());
    // The message's own reactions agree.
    let list = s
        .get(
            &format!("/api/v1/messages?conversation={conv}"),
            Some(&a.token),
        )
        .await
        .expect(200);
    assert_eq!(list["messages"][0]["reactions"][0]["emoji"], "👍");
    assert_eq!(
        list["messages"][0]["reactions"].as_array().unwrap().len(),
        1
    );
    s.stop().await;
}

#[tokio::test]
async fn deletes_for_me_and_for_everyone_within_the_window() {
    let s = TestServer::start().await;
    let a = s.register("customer").await;
    let b = s.register("technician").await;
    let stranger = s.register("customer").await;
    let conv = id_of(
        &create_conv(
            &s,
            &a,
            json!({"type": "direct", "participants": [b.id]}),
            201,
        )
        .await,
    );
    let fresh = id_of(&send(&s, &a, &conv, "oops").await);
    let old = id_of(&send(&s, &a, &conv, "old news").await);
    let mine = id_of(&send(&s, &b, &conv, "hide me").await);
    let o = old.clone();
    s.state
        .db
        .write(move |tx| {
            tx.execute(
                "UPDATE messages SET created_at = created_at - 3601000 WHERE id = ?1",
                [&o],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    // (who, path, status)
    let table: Vec<(&TestUser, String, u16)> = vec![
        (&stranger, format!("/api/v1/messages/{fresh}/everyone"), 404),
        (&b, format!("/api/v1/messages/{fresh}/everyone"), 403),
        (&a, format!("/api/v1/messages/{old}/everyone"), 403),
        (&a, format!("/api/v1/messages/{fresh}/everyone"), 200),
        (&a, format!("/api/v1/messages/{fresh}/everyone"), 409),
        (&stranger, format!("/api/v1/messages/{mine}"), 404),
        (&b, format!("/api/v1/messages/{mine}"), 200),
        (&b, format!("/api/v1/messages/{mine}"), 200),
        (&b, "/api/v1/messages/zzz".into(), 404),
    ];
    for (who, path, status) in table {
        let got = s.delete(&path, Some(&who.token)).await;
        assert_eq!(got.status.as_u16(), status, "{path}: {}", got.body);
    }
    let list_b = s
        .get(
            &format!("/api/v1/messages?conversation={conv}"),
            Some(&b.token),
        )
        .await
        .expect(200);
    let ids: Vec<String> = list_b["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert!(!ids.contains(&mine), "hidden for b");
    let placeholder = list_b["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| id_of(m) == fresh)
        .unwrap();
    assert_eq!(
        (
            placeholder["isDeleted"].as_bool(),
            placeholder["text"].is_null()
        ),
        (Some(true), true)
    );
    let list_a = s
        .get(
            &format!("/api/v1/messages?conversation={conv}"),
            Some(&a.token),
        )
        .await
        .expect(200);
    assert!(
        list_a["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| id_of(m) == mine),
        "still there for a"
    );
    s.stop().await;
}

#[tokio::test]
async fn message_text_is_sealed_at_rest_with_a_private_key_file() {
    let s = TestServer::start().await;
    let a = s.register("customer").await;
    let b = s.register("customer").await;
    let conv = id_of(
        &create_conv(
            &s,
            &a,
            json!({"type": "direct", "participants": [b.id]}),
            201,
        )
        .await,
    );
    send(&s, &a, &conv, "the gate code is 4411").await;
    let blobs: Vec<Vec<u8>> = s
        .query(|c| {
            let mut st = c.prepare(
                "SELECT text FROM messages UNION ALL SELECT last_preview FROM conversations",
            )?;
            let rows = st.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
            rows.collect()
        })
        .await;
    assert_eq!(blobs.len(), 2);
    for b in blobs {
        assert!(!b.windows(4).any(|w| w == b"4411"), "plaintext at rest");
    }
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(s.dir.path().join("chat.key")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let list = s
        .get(
            &format!("/api/v1/messages?conversation={conv}"),
            Some(&b.token),
        )
        .await
        .expect(200);
    assert_eq!(list["messages"][0]["text"], "the gate code is 4411");
    s.stop().await;
}

// ---------------------------------------------------------------- bookings

#[tokio::test]
async fn a_booking_with_a_technician_has_its_conversation_and_status_lines() {
    let s = TestServer::start().await;
    let customer = s.register("customer").await;
    let tech = s.register("technician").await;
    let stranger = s.register("technician").await;
    make_bookable(&s, &tech.id).await;
    // Without a technician there is no conversation yet.
    let plain = s
        .post("/api/v1/bookings", Some(&customer.token), booking_body(""))
        .await
        .expect(201);
    assert_eq!(
        s.get("/api/v1/conversations", Some(&customer.token))
            .await
            .expect(200)["total"],
        0
    );
    let booking = s
        .post(
            "/api/v1/bookings",
            Some(&customer.token),
            booking_body(&tech.id),
        )
        .await
        .expect(201)["booking"]
        .clone();
    let bid = id_of(&booking);
    for who in [&customer, &tech] {
        let list = s
            .get("/api/v1/conversations?type=booking", Some(&who.token))
            .await
            .expect(200);
        assert_eq!(list["total"], 1, "{}", who.role);
        assert_eq!(list["conversations"][0]["booking"], bid.as_str());
    }
    assert_eq!(
        s.get("/api/v1/conversations", Some(&stranger.token))
            .await
            .expect(200)["total"],
        0
    );
    // Asking for it again finds the same one; a stranger's ask is a 404.
    let conv = create_conv(
        &s,
        &customer,
        json!({"type": "booking", "participants": [tech.id], "booking": bid}),
        200,
    )
    .await;
    s.post(
        "/api/v1/conversations",
        Some(&stranger.token),
        json!({"type": "booking", "participants": [tech.id], "booking": bid}),
    )
    .await
    .expect(404);
    // The web client's form without a booking id finds it too.
    let same = create_conv(
        &s,
        &customer,
        json!({"type": "booking", "participants": [tech.id]}),
        200,
    )
    .await;
    assert_eq!(id_of(&same), id_of(&conv));
    let cid = id_of(&conv);
    // Only GET /conversations/:id populates the booking (the whole document).
    assert_eq!(conv["booking"], bid.as_str());
    let one = s
        .get(&format!("/api/v1/conversations/{cid}"), Some(&tech.token))
        .await
        .expect(200)["conversation"]
        .clone();
    assert_eq!(one["booking"]["_id"], bid.as_str(), "{one}");
    assert_eq!(one["booking"]["bookingNumber"], booking["bookingNumber"]);
    assert!(one["booking"]["timeSlot"].is_object(), "{one}");
    assert_eq!(one["booking"]["customer"]["_id"], customer.id.as_str());
    // A status change posts a system line.
    s.put(
        &format!("/api/v1/bookings/{bid}/status"),
        Some(&tech.token),
        json!({"status": "accepted"}),
    )
    .await
    .expect(200);
    let path = format!("/api/v1/messages?conversation={cid}");
    s.eventually("a system line for the acceptance", || async {
        let list = s.get(&path, Some(&customer.token)).await.expect(200);
        list["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["type"] == "system" && m["text"].as_str().unwrap_or("").contains("accepted"))
    })
    .await;
    // Assigning a technician later (admin) opens the conversation as well.
    let admin = s.staff("admin").await;
    let pid = id_of(&plain["booking"]);
    s.put(
        &format!("/api/v1/bookings/{pid}/assign-technician"),
        Some(&admin.token),
        json!({"technician": tech.id}),
    )
    .await
    .expect(200);
    let list = s
        .get("/api/v1/conversations?type=booking", Some(&tech.token))
        .await
        .expect(200);
    assert_eq!(list["total"], 2, "{list}");
    s.stop().await;
}

// ---------------------------------------------------------------- events

#[tokio::test]
async fn chat_events_carry_the_agreed_payloads() {
    let s = TestServer::start().await;
    let a = s.register("customer").await;
    let b = s.register("customer").await;
    let c = s.register("customer").await;
    let g = id_of(
        &create_conv(
            &s,
            &a,
            json!({"type": "group", "name": "G", "participants": [b.id]}),
            201,
        )
        .await,
    );
    s.post(
        &format!("/api/v1/conversations/{g}/participants"),
        Some(&a.token),
        json!({"userId": c.id}),
    )
    .await
    .expect(200);
    let m = s
        .post(
            "/api/v1/messages",
            Some(&a.token),
            json!({"conversation": g, "text": "hi @b", "mentions": [b.id]}),
        )
        .await
        .expect(201)["message"]
        .clone();
    s.delete(
        &format!("/api/v1/messages/{}/everyone", id_of(&m)),
        Some(&a.token),
    )
    .await
    .expect(200);
    let rows: Vec<(String, String)> = s
        .query(|c| {
            let mut st = c.prepare(
                "SELECT kind, payload FROM events WHERE kind LIKE 'conversation.%' OR kind LIKE 'message.%' ORDER BY id",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
        .await;
    let get = |k: &str| -> Value {
        serde_json::from_str(&rows.iter().find(|(kind, _)| kind == k).unwrap().1).unwrap()
    };
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&get("conversation.created")),
        ["conversationId", "createdBy", "participantIds", "type"]
    );
    assert!(keys(&get("conversation.updated"))
        .starts_with(&["addedIds".to_string(), "conversationId".to_string()]));
    let sent = get("message.sent");
    assert_eq!(
        keys(&sent),
        [
            "conversationId",
            "mentionIds",
            "messageId",
            "recipientIds",
            "senderId",
            "type"
        ]
    );
    assert_eq!(sent["mentionIds"], json!([b.id]));
    let mut recipients: Vec<String> = serde_json::from_value(sent["recipientIds"].clone()).unwrap();
    recipients.sort();
    let mut want = vec![b.id.clone(), c.id.clone()];
    want.sort();
    assert_eq!(recipients, want);
    assert_eq!(
        keys(&get("message.deleted")),
        ["conversationId", "messageId"]
    );
    s.stop().await;
}

// ---------------------------------------------------------------- sockets

/// The engine.io handshake carries the original's timers (pingInterval
/// 25 s, pingTimeout 60 s), and the web client's own origin
/// (`client_web_url`) passes CORS for polling as for the API.
#[tokio::test]
async fn the_socket_handshake_has_the_originals_timers_and_cors() {
    let s = TestServer::start_with(|c| c.client_web_url = "https://app.example.com/".into()).await;
    for origin in ["https://app.example.com", "http://localhost:3001"] {
        let res = s
            .client
            .get(s.url("/socket.io/?EIO=4&transport=polling"))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(
            res.headers()
                .get("access-control-allow-origin")
                .and_then(|v| v.to_str().ok()),
            Some(origin)
        );
        let body = res.text().await.unwrap();
        let open: Value = serde_json::from_str(body.strip_prefix('0').unwrap_or(&body))
            .unwrap_or_else(|_| panic!("not an open packet: {body}"));
        assert_eq!(
            (open["pingInterval"].as_i64(), open["pingTimeout"].as_i64()),
            (Some(25_000), Some(60_000)),
            "{open}"
        );
    }
    let res = s
        .client
        .get(s.url("/socket.io/?EIO=4&transport=polling"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    s.stop().await;
}

/// The official socket.io-client (node) against the real server: token
/// auth over websocket and polling, refusals, joins, typing, presence and
/// `message:new` within 100 ms of a REST send, in both vocabularies.
#[tokio::test]
async fn the_official_socket_io_client_talks_to_us() {
    let node = std::env::var("BAITECH_NODE").unwrap_or_else(|_| "node".into());
    let modules = std::env::var("BAITECH_NODE_MODULES")
        .unwrap_or_else(|_| format!("{}/tests/node/node_modules", env!("CARGO_MANIFEST_DIR")));
    let have_node = std::process::Command::new(&node)
        .arg("--version")
        .output()
        .is_ok();
    let have_client = std::path::Path::new(&modules)
        .join("socket.io-client")
        .exists();
    if !have_node || !have_client {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "node or socket.io-client missing under CI (node: {node}, modules: {modules})"
        );
        eprintln!("skipping: node or socket.io-client not installed");
        return;
    }
    let s = TestServer::start().await;
    let a = s.register("customer").await;
    let b = s.register("technician").await;
    let c = s.register("customer").await;
    let conv = id_of(
        &create_conv(
            &s,
            &a,
            json!({"type": "direct", "participants": [b.id]}),
            201,
        )
        .await,
    );
    let foreign = id_of(
        &create_conv(
            &s,
            &b,
            json!({"type": "direct", "participants": [c.id]}),
            201,
        )
        .await,
    );
    make_bookable(&s, &b.id).await;
    let booking = s
        .post("/api/v1/bookings", Some(&a.token), booking_body(&b.id))
        .await
        .expect(201)["booking"]
        .clone();
    let admin = s.staff("admin").await;
    let script = format!("{}/tests/node/chat_interop.js", env!("CARGO_MANIFEST_DIR"));
    let out = tokio::process::Command::new(&node)
        .arg(&script)
        .env("NODE_PATH", &modules)
        .env("BASE", &s.base)
        .env("TOKEN_A", &a.token)
        .env("TOKEN_B", &b.token)
        .env("TOKEN_C", &c.token)
        .env("TOKEN_ADMIN", &admin.token)
        .env("USER_C", &c.id)
        .env("BOOKING", id_of(&booking))
        .env("USER_A", &a.id)
        .env("USER_B", &b.id)
        .env("CONV", &conv)
        .env("FOREIGN", &foreign)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let r: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
        panic!(
            "node said: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(r["error"].is_null(), "{r}");
    assert_eq!(
        r["noToken"], "Authentication error: No token provided",
        "{r}"
    );
    assert_eq!(r["badToken"], "Authentication error: Invalid token", "{r}");
    assert_eq!(
        (r["connectedA"].as_bool(), r["transportA"].as_str()),
        (Some(true), Some("websocket")),
        "{r}"
    );
    assert_eq!(
        (r["connectedB"].as_bool(), r["transportB"].as_str()),
        (Some(true), Some("polling")),
        "{r}"
    );
    assert_eq!(r["online"]["userId"], b.id.as_str(), "{r}");
    assert_eq!(r["joinedA"]["conversationId"], conv.as_str(), "{r}");
    assert_eq!(r["joinedB"]["conversationId"], conv.as_str(), "{r}");
    assert_eq!(r["foreignJoin"]["conversationId"], foreign.as_str(), "{r}");
    assert_eq!(r["typingNew"]["userId"], a.id.as_str(), "{r}");
    assert_eq!(r["typingOld"]["conversationId"], conv.as_str(), "{r}");
    assert_eq!(r["typingEchoedToSender"], false, "{r}");
    assert_eq!(r["sendStatus"], 201, "{r}");
    assert_eq!(r["messageNew"]["text"], "socket hello", "{r}");
    assert_eq!(r["messageNew"]["conversation"], conv.as_str(), "{r}");
    assert!(r["messageNew"]["createdAt"].is_string(), "{r}");
    assert_eq!(r["messageOld"]["text"], "socket hello", "{r}");
    let latency = r["latencyMs"].as_f64().unwrap();
    eprintln!("REST send -> message:new, ms: {}", r["latenciesMs"]);
    assert!(
        latency < 100.0,
        "message:new after {latency} ms ({})",
        r["latenciesMs"]
    );
    assert_eq!(r["bookingSubscribedA"]["bookingId"], id_of(&booking), "{r}");
    assert_eq!(r["bookingSubscribedB"]["bookingId"], id_of(&booking), "{r}");
    assert_eq!(r["bookingStranger"]["bookingId"], id_of(&booking), "{r}");
    assert_eq!(
        r["locationAtCustomer"]["technicianId"],
        b.id.as_str(),
        "{r}"
    );
    assert_eq!(
        r["locationAtCustomer"]["location"]["coordinates"],
        json!([36.8, -1.29]),
        "{r}"
    );
    assert_eq!(r["locationAtTechnician"], false, "{r}");
    assert_eq!(r["locationFromCustomer"]["event"], "update_location", "{r}");
    assert_eq!(r["acceptStatus"], 200, "{r}");
    assert_eq!(r["bookingUpdated"]["status"], "accepted", "{r}");
    assert_eq!(r["bookingUpdatedNew"]["bookingId"], id_of(&booking), "{r}");
    assert_eq!(r["strangerSawBooking"], false, "{r}");
    assert_eq!(r["delivered"]["userId"], a.id.as_str(), "{r}");
    assert_eq!(r["delivered"]["messageId"], r["messageNew"]["_id"], "{r}");
    assert_eq!(r["groupStatus"], 201, "{r}");
    assert_eq!(r["conversationCreated"]["type"], "group", "{r}");
    assert_eq!(
        r["conversationCreated"]["settings"]["onlyAdminsCanSend"], false,
        "{r}"
    );
    // Each member hears the group's update with their own unread count.
    assert_eq!(r["addStatus"], 200, "{r}");
    assert_eq!(
        r["updated"],
        json!({"unreadA": 1, "unreadB": 0, "countA": 3, "countB": 3}),
        "{r}"
    );
    // A second tab coming and going changes nothing for the contacts.
    assert_eq!(r["presenceFlickers"], 0, "{r}");
    assert_eq!(r["offline"]["userId"], b.id.as_str(), "{r}");
    assert!(r["offline"]["lastSeen"].is_string(), "{r}");
    assert_eq!(r["noticeStatus"], 201, "{r}");
    assert_eq!(r["notice"]["recipient"], a.id.as_str(), "{r}");
    assert_eq!(r["notice"]["body"], "From 2am", "{r}");
    assert_eq!(r["notice"], r["noticeNew"], "{r}");
    let seen: i64 = s
        .query(|c| c.query_row("SELECT COUNT(*) FROM chat_presence", [], |r| r.get(0)))
        .await;
    assert!(seen >= 1);
    // The profile shows the presence: B left (last seen), D never came.
    let d = s.register("customer").await;
    let profile = s
        .get(&format!("/api/v1/users/{}", b.id), Some(&a.token))
        .await
        .expect(200);
    assert_eq!(profile["user"]["isOnline"], false, "{profile}");
    assert!(profile["user"]["lastSeen"].is_string(), "{profile}");
    let profile = s
        .get(&format!("/api/v1/users/{}", d.id), Some(&a.token))
        .await
        .expect(200);
    assert_eq!(profile["user"]["lastSeen"], Value::Null, "{profile}");
    s.stop().await;
}
