//! Chat: conversations (direct, group, booking, support), their messages,
//! reactions, receipts and per-member settings, at `/api/v1/conversations`
//! and `/api/v1/messages`.
//!
//! Only active participants read or write; anyone else gets 404. Message
//! text is sealed with AES-256-GCM at rest ([`crypto`]). Every change emits
//! its event in the same transaction (`conversation.created|updated`,
//! `message.sent|reaction|deleted|read`); the realtime layer fans them out
//! to sockets after commit. Bookings call [`ensure_booking_conversation`]
//! in their own transaction as soon as a technician is on a booking, and
//! the `chat.booking_status` consumer posts a system line on each status change.

pub mod crypto;
pub mod document;
pub mod model;
pub mod routes;
pub mod schemas;
pub mod store;

use rusqlite::Connection;
use serde_json::json;

use crate::chat::crypto::TextCipher;
use crate::chat::model::{ConversationType, MessageType, Rules};
use crate::config::Config;
use crate::error::ApiResult;
use crate::events::{Event, EventBus};
use crate::ids::{new_id, now_ms};
use crate::state::AppState;

/// Chat's shared state: the text cipher and the configured limits.
pub struct Chat {
    pub cipher: TextCipher,
    pub delete_window_secs: u64,
    pub text_max_chars: usize,
}

impl Chat {
    /// Loads (or creates) the text key and reads the limits.
    pub fn open(config: &Config) -> Result<Chat, String> {
        Ok(Chat {
            cipher: TextCipher::open(config)?,
            delete_window_secs: config.chat_delete_window_secs,
            text_max_chars: config.chat_text_max_chars as usize,
        })
    }
}

/// Registers chat's event consumers.
pub fn install(events: &mut EventBus) {
    events.subscribe(BOOKING_CONSUMER, on_booking_event);
}

/// The consumer that posts booking status lines.
pub const BOOKING_CONSUMER: &str = "chat.booking_status";

/// The default rules of a new conversation.
pub const OPEN_RULES: Rules = Rules {
    allow_media_sharing: true,
    allow_calls: true,
    only_admins_can_send: false,
};

/// The booking's conversation between its customer and technician, created
/// (with a `conversation.created` event) in the caller's transaction when
/// missing; a changed technician replaces the former one. Returns its id.
/// Bookings call this whenever a technician lands on a booking.
pub fn ensure_booking_conversation(
    conn: &Connection,
    booking_id: &str,
    customer_id: &str,
    technician_id: &str,
    actor_id: &str,
) -> ApiResult<String> {
    let now = now_ms();
    if let Some(id) = store::find_for_booking(conn, booking_id)? {
        let current = store::member_ids(conn, &id)?;
        if current.iter().any(|m| m == technician_id) && current.iter().any(|m| m == customer_id) {
            return Ok(id);
        }
        for m in &current {
            if m != customer_id && m != technician_id {
                store::remove_member(conn, &id, m, now)?;
            }
        }
        store::add_member(conn, &id, customer_id, false, now)?;
        store::add_member(conn, &id, technician_id, false, now)?;
        crate::events::emit(
            conn,
            "conversation.updated",
            Some(&id),
            Some(actor_id),
            &json!({"conversationId": id, "participantIds": [customer_id, technician_id]}),
        )?;
        return Ok(id);
    }
    let c = store::Conversation {
        id: new_id(),
        kind: ConversationType::Booking,
        name: None,
        description: None,
        booking_id: Some(booking_id.to_string()),
        created_by: Some(actor_id.to_string()),
        status: "active".into(),
        rules: OPEN_RULES,
        last_message_id: None,
        last_preview: None,
        last_sender_id: None,
        last_message_at: now,
        total_messages: 0,
        created_at: now,
        updated_at: now,
    };
    store::insert_conversation(
        conn,
        &c,
        None,
        &[
            (customer_id.to_string(), false),
            (technician_id.to_string(), false),
        ],
    )?;
    crate::events::emit(
        conn,
        "conversation.created",
        Some(&c.id),
        Some(actor_id),
        &json!({"conversationId": c.id, "type": "booking",
                "participantIds": [customer_id, technician_id], "createdBy": actor_id}),
    )?;
    Ok(c.id)
}

/// Stores a server-written message (`type: system`) and emits `message.sent`.
pub fn post_system_message(
    conn: &Connection,
    cipher: &TextCipher,
    conversation_id: &str,
    text: &str,
    info: serde_json::Value,
) -> ApiResult<String> {
    let now = now_ms();
    let sealed = cipher.seal(text);
    let m = store::Message {
        id: new_id(),
        conversation_id: conversation_id.to_string(),
        sender_id: None,
        kind: MessageType::System,
        text: Some(sealed.clone()),
        attachments: json!([]),
        location: None,
        booking_ref: None,
        call_info: None,
        system_info: Some(info),
        mentions: vec![],
        reply_to: None,
        status: "sent".into(),
        is_deleted: false,
        deleted_at: None,
        deleted_by: None,
        created_at: now,
        updated_at: now,
    };
    store::insert_message(conn, &m, Some(&sealed))?;
    let recipients = store::member_ids(conn, conversation_id)?;
    crate::events::emit(
        conn,
        "message.sent",
        Some(&m.id),
        None,
        &json!({"messageId": m.id, "conversationId": conversation_id, "senderId": null,
                "type": "system", "recipientIds": recipients, "mentionIds": []}),
    )?;
    Ok(m.id)
}

/// `booking.status_changed` → a system line in the booking's conversation
/// (idempotent per event: the line carries the event id).
async fn on_booking_event(state: AppState, event: Event) -> Result<(), String> {
    let chat = state.chat.clone();
    state
        .db
        .write(move |tx| booking_status_line(tx, &chat.cipher, &event).map(|_| ()))
        .await
        .map_err(|e| e.to_string())
}

/// The consumer's rule for one event, in the caller's transaction: a
/// `booking.status_changed` becomes a system line in the booking's
/// conversation, once per event (the line carries the event id). Also used
/// by the demo seed to replay the bookings it made. Returns whether a line
/// was written.
pub fn booking_status_line(
    conn: &Connection,
    cipher: &TextCipher,
    event: &Event,
) -> ApiResult<bool> {
    if event.kind != "booking.status_changed" {
        return Ok(false);
    }
    let Some(booking_id) = event.subject_id.as_deref() else {
        return Ok(false);
    };
    let to = event.payload["to"].as_str().unwrap_or("");
    let from = event.payload["from"].as_str().unwrap_or("");
    let Some(conv) = store::find_for_booking(conn, booking_id)? else {
        return Ok(false);
    };
    let seen: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM messages WHERE conversation_id = ?1 AND type = 'system'
             AND json_extract(system_info, '$.eventId') = ?2)",
        )?
        .query_row(rusqlite::params![conv, event.id], |r| r.get(0))?;
    if seen {
        return Ok(false);
    }
    let number = crate::bookings::store::find_parties(conn, booking_id)?
        .map(|b| b.booking_number)
        .unwrap_or_default();
    let line = model::booking_status_line(&number, to);
    post_system_message(
        conn,
        cipher,
        &conv,
        &line,
        json!({"action": "booking_status_changed", "eventId": event.id,
               "metadata": {"bookingId": booking_id, "from": from, "to": to}}),
    )?;
    Ok(true)
}
