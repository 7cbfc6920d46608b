//! Chat's demo data through the chat module's own functions: the status
//! lines of every booking conversation (the bookings step created the
//! conversations), messages between customers and technicians in some of
//! them and in direct conversations, and read marks. Texts are sealed with
//! the data dir's chat key, as the routes seal them.

use rand::Rng;
use rusqlite::Connection;
use serde_json::json;

use super::{bar, err, model, Ctx, BATCH};
use crate::bookings::model::Status;
use crate::chat::crypto::TextCipher;
use crate::chat::model::{direct_key, ConversationType, MessageType};
use crate::chat::store;
use crate::error::ApiResult;
use crate::ids::{new_id, now_ms};

/// Booking conversations that get messages, at most.
const BOOKING_CHATS: usize = 3_000;
/// Direct conversations between a customer and a technician they follow, at most.
const DIRECT_CHATS: usize = 500;

/// A text message sent by `sender`, stored and announced as `POST
/// /messages` does it: sealed text (the preview is the sealed text),
/// the others' unread counts moved, `message.sent` with the recipients.
fn send(
    conn: &Connection,
    cipher: &TextCipher,
    conversation: &str,
    sender: &str,
    text: &str,
) -> ApiResult<()> {
    let now = now_ms();
    let sealed = cipher.seal(text);
    let m = store::Message {
        id: new_id(),
        conversation_id: conversation.to_string(),
        sender_id: Some(sender.to_string()),
        kind: MessageType::Text,
        text: Some(sealed.clone()),
        attachments: json!([]),
        location: None,
        booking_ref: None,
        call_info: None,
        system_info: None,
        mentions: Vec::new(),
        reply_to: None,
        status: "sent".into(),
        is_deleted: false,
        deleted_at: None,
        deleted_by: None,
        created_at: now,
        updated_at: now,
    };
    store::insert_message(conn, &m, Some(&sealed))?;
    let recipients: Vec<String> = store::member_ids(conn, conversation)?
        .into_iter()
        .filter(|u| u != sender)
        .collect();
    crate::events::emit(
        conn,
        "message.sent",
        Some(&m.id),
        Some(sender),
        &json!({"messageId": m.id, "conversationId": conversation, "senderId": sender,
                "type": "text", "recipientIds": recipients, "mentionIds": []}),
    )?;
    Ok(())
}

/// `reader` has read the conversation, as `PUT /messages/mark-read` records it.
fn read(conn: &Connection, conversation: &str, reader: &str) -> ApiResult<()> {
    let ids = store::mark_read(conn, conversation, reader, now_ms())?;
    if !ids.is_empty() {
        crate::events::emit(
            conn,
            "message.read",
            Some(conversation),
            Some(reader),
            &json!({"conversationId": conversation, "readerId": reader, "messageIds": ids}),
        )?;
    }
    Ok(())
}

/// The customer's and technician's direct conversation, created as `POST
/// /conversations` creates it when the pair has none.
fn direct(conn: &Connection, customer: &str, technician: &str) -> ApiResult<String> {
    let key = direct_key(customer, technician);
    if let Some(id) = store::find_direct(conn, &key)? {
        return Ok(id);
    }
    let now = now_ms();
    let c = store::Conversation {
        id: new_id(),
        kind: ConversationType::Direct,
        name: None,
        description: None,
        booking_id: None,
        created_by: Some(customer.to_string()),
        status: "active".into(),
        rules: crate::chat::OPEN_RULES,
        last_message_id: None,
        last_preview: None,
        last_sender_id: None,
        last_message_at: now,
        total_messages: 0,
        created_at: now,
        updated_at: now,
    };
    let members = [
        (customer.to_string(), false),
        (technician.to_string(), false),
    ];
    store::insert_conversation(conn, &c, Some(&key), &members)?;
    crate::events::emit(
        conn,
        "conversation.created",
        Some(&c.id),
        Some(customer),
        &json!({"conversationId": c.id, "type": "direct", "participantIds": [customer, technician],
                "createdBy": customer}),
    )?;
    Ok(c.id)
}

/// One conversation to fill: its id (or the booking whose it is), the
/// customer and technician, how many lines of which script, and whether
/// the last recipient has read them.
struct Talk {
    booking: Option<String>,
    direct: Option<(String, String)>,
    lines: usize,
    read: bool,
}

/// Status lines, booking chats, direct chats and read marks.
pub fn chat_step(ctx: &mut Ctx) -> Result<(), String> {
    let cipher = TextCipher::open(ctx.config)?;
    status_lines(ctx, &cipher)?;
    let mut talks = Vec::new();
    for (id, status) in &ctx.bookings {
        if *status == Status::Pending || talks.len() >= BOOKING_CHATS {
            continue;
        }
        if ctx.rng.gen_bool(0.4) {
            talks.push(Talk {
                booking: Some(id.clone()),
                direct: None,
                lines: ctx.rng.gen_range(2..=model::BOOKING_CHAT.len()),
                read: ctx.rng.gen_bool(0.6),
            });
        }
    }
    let (_, customers) = super::social::pool(ctx);
    let mut directs = 0;
    for (i, &c) in customers.iter().enumerate() {
        let customer = &ctx.customers[c];
        let followed: Vec<String> = ctx
            .followers
            .iter()
            .filter(|(_, fs)| fs.contains(customer))
            .map(|(t, _)| t.clone())
            .collect();
        for t in followed {
            if directs >= DIRECT_CHATS {
                break;
            }
            // The named customer always has one.
            if (i == 0 && directs == 0) || ctx.rng.gen_bool(0.3) {
                directs += 1;
                talks.push(Talk {
                    booking: None,
                    direct: Some((customer.clone(), t)),
                    lines: ctx.rng.gen_range(2..=model::DIRECT_CHAT.len()),
                    read: ctx.rng.gen_bool(0.5),
                });
            }
        }
    }
    let progress = bar(talks.len() as u64, "conversations");
    for (i, chunk) in talks.chunks(500).enumerate() {
        ctx.db
            .write_blocking(|tx| {
                for talk in chunk {
                    fill(tx, &cipher, talk)?;
                }
                Ok(())
            })
            .map_err(err)?;
        progress.set_position((i * 500 + chunk.len()) as u64);
    }
    progress.finish();
    Ok(())
}

fn fill(conn: &Connection, cipher: &TextCipher, talk: &Talk) -> ApiResult<()> {
    let (conversation, customer, technician, script): (String, String, String, &[(bool, &str)]) =
        match (&talk.booking, &talk.direct) {
            (Some(b), _) => {
                let Some(parties) = crate::bookings::store::find_parties(conn, b)? else {
                    return Ok(());
                };
                let (Some(tech), Some(conv)) =
                    (parties.technician_id, store::find_for_booking(conn, b)?)
                else {
                    return Ok(());
                };
                (conv, parties.customer_id, tech, &model::BOOKING_CHAT)
            }
            (None, Some((c, t))) => (
                direct(conn, c, t)?,
                c.clone(),
                t.clone(),
                &model::DIRECT_CHAT,
            ),
            _ => return Ok(()),
        };
    let mut last_from_customer = true;
    for (from_customer, text) in &script[..talk.lines.min(script.len())] {
        let sender = if *from_customer {
            &customer
        } else {
            &technician
        };
        send(conn, cipher, &conversation, sender, text)?;
        last_from_customer = *from_customer;
    }
    // The other side has read up to the last message, or not yet.
    if talk.read {
        let reader = if last_from_customer {
            &technician
        } else {
            &customer
        };
        read(conn, &conversation, reader)?;
    }
    Ok(())
}

/// Every `booking.status_changed` the bookings step emitted becomes its
/// system line, by the rule of chat's own `chat.booking_status` consumer
/// (which starts at the end of the outbox on the first start, so it would
/// never see these).
fn status_lines(ctx: &mut Ctx, cipher: &TextCipher) -> Result<(), String> {
    let last: i64 = ctx
        .db
        .read_blocking(|c| {
            Ok(c.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))?)
        })
        .map_err(err)?;
    let progress = bar(last as u64, "booking status lines");
    let mut cursor = 0;
    while cursor < last {
        cursor = ctx
            .db
            .write_blocking(|tx| {
                let batch = crate::events::after(tx, cursor, BATCH as i64)?;
                // Lines emit events of their own, after `last`: not replayed.
                let mut upto = last;
                for e in batch.iter().take_while(|e| e.id <= last) {
                    crate::chat::booking_status_line(tx, cipher, e)?;
                    upto = e.id;
                }
                if batch.len() < BATCH || batch.last().is_some_and(|e| e.id > last) {
                    upto = last;
                }
                Ok(upto)
            })
            .map_err(err)?;
        progress.set_position(cursor as u64);
    }
    progress.finish();
    Ok(())
}
