//! Committed domain events → socket events. A batch consumer of the outbox
//! (`realtime.fanout`): nothing reaches a socket before its change is
//! durable, and a process that dies between commit and emit resumes from
//! its cursor (clients that were away catch up through the REST lists).
//!
//! | event | socket events | to |
//! |---|---|---|
//! | `message.sent` | `message:new`, `new_message` (the message) | every current member's sockets |
//! | `message.reaction` | `message:reaction {messageId, conversationId, reactions, userId, emoji, added}` | members |
//! | `message.deleted` | `message:deleted {messageId, conversationId}` | members |
//! | `message.read` | `message:read {messageId, messageIds, conversationId, userId}` | members |
//! | `conversation.created` / `.updated` | `conversation:created` / `conversation:updated` (the conversation, with each member's own `unreadCount`) | members (removed ones leave the room) |
//! | `booking.status_changed` | `booking_update`, `booking_updated`, `booking:updated` | `booking:<id>` |

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::chat::document::{reactions_json, Renderer};
use crate::chat::store as chat_store;
use crate::events::{Event, EventBus};
use crate::ids::iso;
use crate::state::AppState;

/// The consumer's name (its cursor in `event_cursors`).
pub const CONSUMER: &str = "realtime.fanout";

/// Registers the fan-out consumer.
pub fn install(events: &mut EventBus) {
    events.subscribe_batch(CONSUMER, Duration::ZERO, on_events);
}

/// One socket emission: rooms, event names (each emitted), payload.
struct Out {
    rooms: Vec<String>,
    events: &'static [&'static str],
    payload: Value,
    /// Users whose sockets leave `conversation:<id>` first.
    leave: Option<(Vec<String>, String)>,
    /// A conversation's per-member unread counts: each room (a user) then
    /// gets the payload with its own top-level `unreadCount`.
    unread: Option<HashMap<String, i64>>,
}

fn relevant(kind: &str) -> bool {
    matches!(
        kind,
        "message.sent"
            | "message.reaction"
            | "message.deleted"
            | "message.read"
            | "conversation.created"
            | "conversation.updated"
            | "booking.status_changed"
    )
}

async fn on_events(state: AppState, events: Vec<Event>) -> Result<(), String> {
    let events: Vec<Event> = events.into_iter().filter(|e| relevant(&e.kind)).collect();
    if events.is_empty() || state.realtime.io().is_none() {
        return Ok(());
    }
    let chat = state.chat.clone();
    let outs = state
        .db
        .read(move |c| plan(c, &chat, &events))
        .await
        .map_err(|e| e.to_string())?;
    let Some(io) = state.realtime.io() else {
        return Ok(());
    };
    for out in outs {
        if let Some((users, conversation)) = out.leave {
            let _ = io
                .to(users)
                .leave(format!("conversation:{conversation}"))
                .await;
        }
        match &out.unread {
            None => {
                for ev in out.events {
                    state
                        .realtime
                        .emit_to_rooms(out.rooms.clone(), ev, &out.payload)
                        .await;
                }
            }
            // One payload at a time, so a big group holds one copy, not one per member.
            Some(unread) => {
                let mut payload = out.payload.clone();
                for user in &out.rooms {
                    payload["unreadCount"] = json!(unread.get(user).copied().unwrap_or(0));
                    for ev in out.events {
                        state
                            .realtime
                            .emit_to_rooms(vec![user.clone()], ev, &payload)
                            .await;
                    }
                }
            }
        }
    }
    Ok(())
}

fn s(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

/// Reads what the events need (in one read) and decides every emission.
fn plan(
    conn: &rusqlite::Connection,
    chat: &crate::chat::Chat,
    events: &[Event],
) -> crate::error::ApiResult<Vec<Out>> {
    let mut members: HashMap<String, Vec<String>> = HashMap::new();
    let mut members_of =
        |conn: &rusqlite::Connection, id: &str| -> crate::error::ApiResult<Vec<String>> {
            if let Some(m) = members.get(id) {
                return Ok(m.clone());
            }
            let m = chat_store::member_ids(conn, id)?;
            members.insert(id.to_string(), m.clone());
            Ok(m)
        };
    let mut r = Renderer::new(conn, &chat.cipher);
    let mut outs = Vec::with_capacity(events.len());
    for e in events {
        let p = &e.payload;
        match e.kind.as_str() {
            "message.sent" => {
                let Some(m) = chat_store::find_message(conn, &s(p, "messageId"))? else {
                    continue;
                };
                let doc = r.messages(std::slice::from_ref(&m))?.pop().unwrap_or(Value::Null);
                outs.push(Out {
                    rooms: members_of(conn, &m.conversation_id)?,
                    events: &["message:new", "new_message"],
                    payload: doc,
                    leave: None,
                    unread: None,
                });
            }
            "message.reaction" => {
                let mid = s(p, "messageId");
                let all = chat_store::reactions(conn, &[mid.as_str()])?;
                outs.push(Out {
                    rooms: members_of(conn, &s(p, "conversationId"))?,
                    events: &["message:reaction"],
                    payload: json!({"messageId": mid, "conversationId": p["conversationId"],
                                    "reactions": reactions_json(all.get(&mid).map(Vec::as_slice).unwrap_or(&[])),
                                    "userId": p["reactorId"], "emoji": p["emoji"], "added": p["added"]}),
                    leave: None,
                    unread: None,
                });
            }
            "message.deleted" => outs.push(Out {
                rooms: members_of(conn, &s(p, "conversationId"))?,
                events: &["message:deleted"],
                payload: json!({"messageId": p["messageId"], "conversationId": p["conversationId"]}),
                leave: None,
                unread: None,
            }),
            "message.read" => {
                let ids = p["messageIds"].as_array().cloned().unwrap_or_default();
                outs.push(Out {
                    rooms: members_of(conn, &s(p, "conversationId"))?,
                    events: &["message:read"],
                    payload: json!({"messageId": ids.last(), "messageIds": ids,
                                    "conversationId": p["conversationId"], "userId": p["readerId"],
                                    "readAt": iso(e.created_at)}),
                    leave: None,
                    unread: None,
                });
            }
            "conversation.created" | "conversation.updated" => {
                let cid = s(p, "conversationId");
                let Some(c) = chat_store::find_conversation(conn, &cid)? else {
                    continue;
                };
                let viewer = e.actor_id.clone().unwrap_or_default();
                let doc = r.conversation(&c, &viewer)?;
                let created = e.kind == "conversation.created";
                let removed: Vec<String> = p["removedIds"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
                    .unwrap_or_default();
                let mut rooms = members_of(conn, &cid)?;
                rooms.extend(removed.iter().cloned());
                outs.push(Out {
                    rooms,
                    events: if created { &["conversation:created"] } else { &["conversation:updated"] },
                    payload: doc,
                    leave: (!removed.is_empty()).then_some((removed, cid.clone())),
                    unread: Some(
                        chat_store::members(conn, &cid)?
                            .into_iter()
                            .map(|m| (m.user_id, m.unread_count))
                            .collect(),
                    ),
                });
            }
            "booking.status_changed" => {
                let Some(bid) = e.subject_id.clone() else { continue };
                outs.push(Out {
                    rooms: vec![format!("booking:{bid}")],
                    events: &["booking_update", "booking_updated", "booking:updated"],
                    payload: json!({"bookingId": bid, "_id": bid, "status": p["to"], "from": p["from"],
                                    "to": p["to"], "updatedAt": iso(e.created_at)}),
                    leave: None,
                    unread: None,
                });
            }
            _ => {}
        }
    }
    Ok(outs)
}
