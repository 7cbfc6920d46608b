//! The wire form of conversations and messages (social.md §2-3): `_id` and
//! `id`, populated people, per-participant settings, plaintext `text`.
//! Each person is read once per answer however often they appear.

use std::collections::HashMap;

use rusqlite::Connection;
use serde_json::{json, Value};

use crate::auth::store::DEFAULT_AVATAR;
use crate::chat::crypto::TextCipher;
use crate::chat::store::{self, Conversation, Member, Message, Person};
use crate::error::ApiResult;
use crate::ids::{iso, iso_opt};

/// `{_id, id, firstName, lastName, fullName, profilePicture, role, age}`.
pub fn person_card(id: &str, p: Option<&Person>) -> Value {
    let Some(p) = p else {
        return json!({"_id": id, "id": id, "firstName": "Deleted", "lastName": "User",
                      "fullName": "Deleted User", "profilePicture": {"url": DEFAULT_AVATAR}, "age": null});
    };
    let mut picture =
        json!({"url": p.picture_url.clone().unwrap_or_else(|| DEFAULT_AVATAR.to_string())});
    if let Some(pid) = &p.picture_public_id {
        picture["publicId"] = json!(pid);
    }
    json!({
        "_id": id, "id": id,
        "firstName": p.first_name, "lastName": p.last_name,
        "fullName": format!("{} {}", p.first_name, p.last_name),
        "profilePicture": picture, "role": p.role, "age": null,
    })
}

/// Renders several conversations and messages in one answer.
pub struct Renderer<'a> {
    conn: &'a Connection,
    cipher: &'a TextCipher,
    people: HashMap<String, Person>,
}

impl<'a> Renderer<'a> {
    pub fn new(conn: &'a Connection, cipher: &'a TextCipher) -> Self {
        Renderer {
            conn,
            cipher,
            people: HashMap::new(),
        }
    }

    /// Loads every id not yet known in one query.
    fn load(&mut self, ids: &[&str]) -> ApiResult<()> {
        let missing: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| !self.people.contains_key(*id))
            .collect();
        if !missing.is_empty() {
            self.people.extend(store::people(self.conn, &missing)?);
        }
        Ok(())
    }

    fn card(&self, id: &str) -> Value {
        person_card(id, self.people.get(id))
    }

    /// The plaintext of a sealed text (`null` when absent or unreadable).
    pub fn text(&self, sealed: Option<&[u8]>) -> Value {
        sealed
            .and_then(|b| self.cipher.open_text(b))
            .map(Value::String)
            .unwrap_or(Value::Null)
    }

    /// One conversation as `viewer` sees it (their `unreadCount` on top).
    pub fn conversation(&mut self, c: &Conversation, viewer: &str) -> ApiResult<Value> {
        let members = store::members(self.conn, &c.id)?;
        self.conversation_with(c, &members, viewer)
    }

    fn conversation_with(
        &mut self,
        c: &Conversation,
        members: &[Member],
        viewer: &str,
    ) -> ApiResult<Value> {
        let mut ids: Vec<&str> = members.iter().map(|m| m.user_id.as_str()).collect();
        if let Some(s) = &c.last_sender_id {
            ids.push(s);
        }
        self.load(&ids)?;
        let participants: Vec<Value> = members
            .iter()
            .map(|m| {
                let card = self.card(&m.user_id);
                let mut entry = card.clone();
                entry["user"] = card;
                entry["unreadCount"] = json!(m.unread_count);
                entry["isAdmin"] = json!(m.is_admin);
                entry
            })
            .collect();
        let settings: Vec<Value> = members.iter().map(settings_json).collect();
        let viewer_unread = members
            .iter()
            .find(|m| m.user_id == viewer)
            .map(|m| m.unread_count)
            .unwrap_or(0);
        let mut doc = json!({
            "_id": c.id, "id": c.id, "type": c.kind.as_str(),
            "participants": participants,
            "participantSettings": settings,
            "admins": members.iter().filter(|m| m.is_admin).map(|m| m.user_id.clone()).collect::<Vec<_>>(),
            "lastMessageAt": iso(c.last_message_at),
            "status": c.status,
            "settings": c.rules.to_json(),
            "metadata": {"totalMessages": c.total_messages, "lastActivity": iso(c.updated_at)},
            "participantCount": members.len(),
            "unreadCount": viewer_unread,
            "createdAt": iso(c.created_at), "updatedAt": iso(c.updated_at), "__v": 0,
        });
        if let Some(n) = &c.name {
            doc["name"] = json!(n);
        }
        if let Some(d) = &c.description {
            doc["description"] = json!(d);
        }
        if let Some(b) = &c.booking_id {
            doc["booking"] = json!(b);
        }
        if let Some(by) = &c.created_by {
            doc["createdBy"] = json!(by);
        }
        if c.last_message_id.is_some() {
            // Populated with `firstName lastName`, so the User virtuals come along.
            let sender = c.last_sender_id.as_deref().map(|s| {
                let card = self.card(s);
                json!({"_id": card["_id"], "id": card["id"], "firstName": card["firstName"],
                       "lastName": card["lastName"], "fullName": card["fullName"], "age": null})
            });
            let text = match (&c.last_preview, c.last_message_id.is_some()) {
                (Some(b), _) => self.text(Some(b)),
                (None, true) => json!("Message deleted"),
                _ => Value::Null,
            };
            doc["lastMessage"] = json!({"_id": c.last_message_id, "text": text, "sender": sender,
                                        "timestamp": iso(c.last_message_at)});
        }
        Ok(doc)
    }

    /// Messages as `viewer` sees them, populated (sender, reply, marks).
    pub fn messages(&mut self, msgs: &[Message]) -> ApiResult<Vec<Value>> {
        let ids: Vec<&str> = msgs.iter().map(|m| m.id.as_str()).collect();
        let reactions = store::reactions(self.conn, &ids)?;
        let receipts = store::receipts(self.conn, &ids)?;
        let reply_ids: Vec<String> = msgs.iter().filter_map(|m| m.reply_to.clone()).collect();
        let replies: HashMap<String, Message> = store::messages_by_id(self.conn, &reply_ids)?
            .into_iter()
            .map(|m| (m.id.clone(), m))
            .collect();
        let mut people: Vec<&str> = msgs.iter().filter_map(|m| m.sender_id.as_deref()).collect();
        people.extend(replies.values().filter_map(|m| m.sender_id.as_deref()));
        self.load(&people)?;
        let mut out = Vec::with_capacity(msgs.len());
        for m in msgs {
            let mut doc = self.message_core(m);
            let marks = receipts.get(&m.id).map(Vec::as_slice).unwrap_or(&[]);
            let read_by: Vec<Value> = marks
                .iter()
                .filter_map(|r| {
                    r.read_at
                        .map(|at| json!({"user": r.user_id, "readAt": iso(at)}))
                })
                .collect();
            let delivered: Vec<Value> = marks
                .iter()
                .filter_map(|r| {
                    r.delivered_at
                        .map(|at| json!({"user": r.user_id, "deliveredAt": iso(at)}))
                })
                .collect();
            doc["isRead"] = json!(m.status == "read" || !read_by.is_empty());
            doc["readCount"] = json!(read_by.len());
            doc["readBy"] = Value::Array(read_by);
            doc["deliveredTo"] = Value::Array(delivered);
            doc["reactions"] =
                reactions_json(reactions.get(&m.id).map(Vec::as_slice).unwrap_or(&[]));
            if let Some(r) = m.reply_to.as_ref().and_then(|id| replies.get(id)) {
                doc["replyTo"] = json!({
                    "_id": r.id, "id": r.id, "type": r.kind.as_str(),
                    "text": if r.is_deleted { Value::Null } else { self.text(r.text.as_deref()) },
                    "sender": r.sender_id.as_deref().map(|s| self.card(s)),
                    "isDeleted": r.is_deleted,
                });
            } else if let Some(id) = &m.reply_to {
                doc["replyTo"] = json!(id);
            }
            out.push(doc);
        }
        Ok(out)
    }

    fn message_core(&self, m: &Message) -> Value {
        let sender = m.sender_id.as_deref().map(|s| self.card(s));
        let mut doc = json!({
            "_id": m.id, "id": m.id, "conversation": m.conversation_id,
            "sender": sender, "type": m.kind.as_str(),
            "text": self.text(m.text.as_deref()),
            "isEncrypted": true, "status": m.status,
            "attachments": attachments_json(m), "mentions": m.mentions,
            "isEdited": false, "editHistory": [], "isDeleted": m.is_deleted, "deletedFor": [],
            "createdAt": iso(m.created_at), "updatedAt": iso(m.updated_at), "__v": 0,
        });
        if m.is_deleted {
            doc["deletedAt"] = iso_opt(m.deleted_at);
            doc["deletedBy"] = json!(m.deleted_by);
            doc["placeholder"] = json!("This message was deleted");
        }
        if let Some(l) = &m.location {
            doc["location"] = l.clone();
        }
        if let Some(b) = &m.booking_ref {
            doc["bookingRef"] = json!(b);
        }
        if let Some(c) = &m.call_info {
            doc["callInfo"] = c.clone();
        }
        if let Some(s) = &m.system_info {
            doc["systemInfo"] = s.clone();
        }
        doc
    }
}

/// `{user, role, unreadCount, isMuted, mutedUntil?, isPinned, isArchived, lastReadAt?, joinedAt}`:
/// unset dates are left out, as Mongoose leaves out undefined keys.
pub fn settings_json(m: &Member) -> Value {
    let mut doc = json!({
        "user": m.user_id, "role": if m.is_admin { "admin" } else { "member" },
        "unreadCount": m.unread_count, "isMuted": m.is_muted,
        "isPinned": m.is_pinned, "isArchived": m.is_archived,
        "joinedAt": iso(m.joined_at),
    });
    if let Some(t) = m.muted_until {
        doc["mutedUntil"] = json!(iso(t));
    }
    if let Some(t) = m.last_read_at {
        doc["lastReadAt"] = json!(iso(t));
    }
    doc
}

/// A message's `attachments` as the model's subdocuments: unset keys left
/// out, and a shared place also as a `location` attachment
/// `{type, url: geo:<lat>,<lng>, coordinates: {latitude, longitude}, locationName?}`
/// (the model keeps places there; the top-level `location` stays too).
pub fn attachments_json(m: &Message) -> Value {
    let mut out: Vec<Value> = m
        .attachments
        .as_array()
        .map(|a| {
            a.iter()
                .map(|item| match item {
                    Value::Object(o) => Value::Object(
                        o.iter()
                            .filter(|(_, v)| !v.is_null())
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    ),
                    other => other.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(place) = &m.location {
        let (lat, lng) = (&place["latitude"], &place["longitude"]);
        if lat.is_number() && lng.is_number() {
            let mut a = json!({"type": "location", "url": format!("geo:{lat},{lng}"),
                               "coordinates": {"latitude": lat, "longitude": lng}});
            if let Some(name) = place
                .get("name")
                .or_else(|| place.get("address"))
                .filter(|v| v.is_string())
            {
                a["locationName"] = name.clone();
            }
            out.push(a);
        }
    }
    Value::Array(out)
}

/// `[{_id, id, user, emoji, createdAt}]`.
pub fn reactions_json(rs: &[store::Reaction]) -> Value {
    Value::Array(
        rs.iter()
            .map(|r| json!({"_id": r.id, "id": r.id, "user": r.user_id, "emoji": r.emoji, "createdAt": iso(r.created_at)}))
            .collect(),
    )
}
