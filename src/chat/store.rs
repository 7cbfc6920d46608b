//! SQL for chat's own tables (conversations, participants, messages and
//! their marks). Functions take `&Connection` so they run alone or inside
//! the caller's write transaction; texts arrive here already sealed.

use std::collections::HashMap;

use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use serde_json::Value;

use crate::chat::model::{ConversationType, GroupChange, MessageType, OwnMarks, Rules};
use crate::error::ApiResult;

/// A stored conversation.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub id: String,
    pub kind: ConversationType,
    pub name: Option<String>,
    pub description: Option<String>,
    pub booking_id: Option<String>,
    pub created_by: Option<String>,
    pub status: String,
    pub rules: Rules,
    pub last_message_id: Option<String>,
    pub last_preview: Option<Vec<u8>>,
    pub last_sender_id: Option<String>,
    pub last_message_at: i64,
    pub total_messages: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const CONV_COLUMNS: &str =
    "c.id, c.type, c.name, c.description, c.booking_id, c.created_by, c.status,
    c.allow_media_sharing, c.allow_calls, c.only_admins_can_send, c.last_message_id, c.last_preview,
    c.last_sender_id, c.last_message_at, c.total_messages, c.created_at, c.updated_at";

fn conv_row(r: &Row) -> rusqlite::Result<Conversation> {
    let kind: String = r.get(1)?;
    Ok(Conversation {
        id: r.get(0)?,
        kind: ConversationType::parse(&kind).unwrap_or(ConversationType::Direct),
        name: r.get(2)?,
        description: r.get(3)?,
        booking_id: r.get(4)?,
        created_by: r.get(5)?,
        status: r.get(6)?,
        rules: Rules {
            allow_media_sharing: r.get(7)?,
            allow_calls: r.get(8)?,
            only_admins_can_send: r.get(9)?,
        },
        last_message_id: r.get(10)?,
        last_preview: r.get(11)?,
        last_sender_id: r.get(12)?,
        last_message_at: r.get(13)?,
        total_messages: r.get(14)?,
        created_at: r.get(15)?,
        updated_at: r.get(16)?,
    })
}

/// One member's row.
#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: String,
    pub is_admin: bool,
    pub joined_at: i64,
    pub left_at: Option<i64>,
    pub is_muted: bool,
    pub muted_until: Option<i64>,
    pub is_pinned: bool,
    pub is_archived: bool,
    pub unread_count: i64,
    pub last_read_at: Option<i64>,
}

const MEMBER_COLUMNS: &str = "user_id, role, joined_at, left_at, is_muted, muted_until, is_pinned,
    is_archived, unread_count, last_read_at";

fn member_row(r: &Row) -> rusqlite::Result<Member> {
    Ok(Member {
        user_id: r.get(0)?,
        is_admin: r.get::<_, String>(1)? == "admin",
        joined_at: r.get(2)?,
        left_at: r.get(3)?,
        is_muted: r.get(4)?,
        muted_until: r.get(5)?,
        is_pinned: r.get(6)?,
        is_archived: r.get(7)?,
        unread_count: r.get(8)?,
        last_read_at: r.get(9)?,
    })
}

pub fn find_conversation(conn: &Connection, id: &str) -> ApiResult<Option<Conversation>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {CONV_COLUMNS} FROM conversations c WHERE c.id = ?1"
        ))?
        .query_row([id], conv_row)
        .optional()?)
}

/// The conversation of a direct pair key, if any.
pub fn find_direct(conn: &Connection, key: &str) -> ApiResult<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT id FROM conversations WHERE direct_key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

/// The conversation of a booking, if any.
pub fn find_for_booking(conn: &Connection, booking_id: &str) -> ApiResult<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT id FROM conversations WHERE type = 'booking' AND booking_id = ?1")?
        .query_row([booking_id], |r| r.get(0))
        .optional()?)
}

/// The newest booking-type conversation whose active members are exactly `a` and `b`.
pub fn find_booking_pair(conn: &Connection, a: &str, b: &str) -> ApiResult<Option<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT c.id FROM conversations c
             JOIN conversation_participants pa ON pa.conversation_id = c.id AND pa.user_id = ?1 AND pa.left_at IS NULL
             JOIN conversation_participants pb ON pb.conversation_id = c.id AND pb.user_id = ?2 AND pb.left_at IS NULL
             WHERE c.type = 'booking'
               AND (SELECT COUNT(*) FROM conversation_participants p WHERE p.conversation_id = c.id AND p.left_at IS NULL) = 2
             ORDER BY c.last_message_at DESC LIMIT 1",
        )?
        .query_row([a, b], |r| r.get(0))
        .optional()?)
}

/// Stores a new conversation with its members (`(user, is_admin)`).
pub fn insert_conversation(
    conn: &Connection,
    c: &Conversation,
    direct_key: Option<&str>,
    members: &[(String, bool)],
) -> ApiResult<()> {
    conn.prepare_cached(
        "INSERT INTO conversations (id, type, name, description, booking_id, direct_key, created_by, status,
             allow_media_sharing, allow_calls, only_admins_can_send, last_message_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'active', ?8, ?9, ?10, ?11, ?11, ?11)",
    )?
    .execute(params![
        c.id,
        c.kind.as_str(),
        c.name,
        c.description,
        c.booking_id,
        direct_key,
        c.created_by,
        c.rules.allow_media_sharing,
        c.rules.allow_calls,
        c.rules.only_admins_can_send,
        c.created_at,
    ])?;
    for (user, is_admin) in members {
        add_member(conn, &c.id, user, *is_admin, c.created_at)?;
    }
    Ok(())
}

/// Adds (or brings back) a member.
pub fn add_member(
    conn: &Connection,
    conversation_id: &str,
    user_id: &str,
    is_admin: bool,
    now: i64,
) -> ApiResult<()> {
    conn.prepare_cached(
        "INSERT INTO conversation_participants (conversation_id, user_id, role, joined_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (conversation_id, user_id) DO UPDATE SET left_at = NULL, joined_at = ?4, unread_count = 0",
    )?
    .execute(params![
        conversation_id,
        user_id,
        if is_admin { "admin" } else { "member" },
        now
    ])?;
    Ok(())
}

/// Marks a member as gone; returns whether they were an active member.
pub fn remove_member(
    conn: &Connection,
    conversation_id: &str,
    user_id: &str,
    now: i64,
) -> ApiResult<bool> {
    Ok(conn
        .prepare_cached(
            "UPDATE conversation_participants SET left_at = ?3, role = 'member'
             WHERE conversation_id = ?1 AND user_id = ?2 AND left_at IS NULL",
        )?
        .execute(params![conversation_id, user_id, now])?
        == 1)
}

/// Members of a conversation, active ones only unless `with_former`.
pub fn members(conn: &Connection, conversation_id: &str) -> ApiResult<Vec<Member>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MEMBER_COLUMNS} FROM conversation_participants
         WHERE conversation_id = ?1 AND left_at IS NULL ORDER BY joined_at, user_id"
    ))?;
    let rows = stmt.query_map([conversation_id], member_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Active member ids of a conversation.
pub fn member_ids(conn: &Connection, conversation_id: &str) -> ApiResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT user_id FROM conversation_participants WHERE conversation_id = ?1 AND left_at IS NULL",
    )?;
    let rows = stmt.query_map([conversation_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The caller's active membership, if any.
pub fn membership(
    conn: &Connection,
    conversation_id: &str,
    user_id: &str,
) -> ApiResult<Option<Member>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {MEMBER_COLUMNS} FROM conversation_participants
             WHERE conversation_id = ?1 AND user_id = ?2 AND left_at IS NULL"
        ))?
        .query_row([conversation_id, user_id], member_row)
        .optional()?)
}

/// A user's conversations (not archived by them unless asked), last activity first.
pub fn list_for_user(
    conn: &Connection,
    user_id: &str,
    kind: Option<&str>,
    archived: bool,
    offset: i64,
    limit: i64,
) -> ApiResult<(Vec<Conversation>, i64)> {
    let filter = "FROM conversations c JOIN conversation_participants p ON p.conversation_id = c.id
         WHERE p.user_id = ?1 AND p.left_at IS NULL AND p.is_archived = ?2 AND c.status != 'deleted'
           AND (?3 IS NULL OR c.type = ?3)";
    let total: i64 = conn
        .prepare_cached(&format!("SELECT COUNT(*) {filter}"))?
        .query_row(params![user_id, archived, kind], |r| r.get(0))?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {CONV_COLUMNS} {filter} ORDER BY p.is_pinned DESC, c.last_message_at DESC, c.id DESC LIMIT ?4 OFFSET ?5"
    ))?;
    let rows = stmt.query_map(params![user_id, archived, kind, limit, offset], conv_row)?;
    Ok((rows.collect::<Result<_, _>>()?, total))
}

/// Applies the caller's own marks.
pub fn set_marks(
    conn: &Connection,
    conversation_id: &str,
    user_id: &str,
    m: &OwnMarks,
) -> ApiResult<()> {
    let (set_until, until) = match m.muted_until {
        Some(v) => (true, v),
        None => (false, None),
    };
    conn.prepare_cached(
        "UPDATE conversation_participants SET
            is_muted = COALESCE(?3, is_muted),
            muted_until = CASE WHEN ?4 THEN ?5 WHEN ?3 = 0 THEN NULL ELSE muted_until END,
            is_pinned = COALESCE(?6, is_pinned),
            is_archived = COALESCE(?7, is_archived)
         WHERE conversation_id = ?1 AND user_id = ?2",
    )?
    .execute(params![
        conversation_id,
        user_id,
        m.is_muted,
        set_until,
        until,
        m.is_pinned,
        m.is_archived
    ])?;
    Ok(())
}

/// Applies a group admin's changes.
pub fn apply_group_change(
    conn: &Connection,
    conversation_id: &str,
    g: &GroupChange,
    now: i64,
) -> ApiResult<()> {
    conn.prepare_cached(
        "UPDATE conversations SET name = COALESCE(?2, name), description = COALESCE(?3, description),
            allow_media_sharing = COALESCE(?4, allow_media_sharing), allow_calls = COALESCE(?5, allow_calls),
            only_admins_can_send = COALESCE(?6, only_admins_can_send), updated_at = ?7
         WHERE id = ?1",
    )?
    .execute(params![
        conversation_id,
        g.name,
        g.description,
        g.allow_media_sharing,
        g.allow_calls,
        g.only_admins_can_send,
        now
    ])?;
    Ok(())
}

/// Brings an archived conversation back into every member's list (a new message arrived).
fn unarchive_all(conn: &Connection, conversation_id: &str) -> ApiResult<()> {
    conn.prepare_cached(
        "UPDATE conversation_participants SET is_archived = 0 WHERE conversation_id = ?1 AND is_archived = 1",
    )?
    .execute([conversation_id])?;
    Ok(())
}

// ---------------------------------------------------------------- messages

/// A stored message (text still sealed).
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub conversation_id: String,
    pub sender_id: Option<String>,
    pub kind: MessageType,
    pub text: Option<Vec<u8>>,
    pub attachments: Value,
    pub location: Option<Value>,
    pub booking_ref: Option<String>,
    pub call_info: Option<Value>,
    pub system_info: Option<Value>,
    pub mentions: Vec<String>,
    pub reply_to: Option<String>,
    pub status: String,
    pub is_deleted: bool,
    pub deleted_at: Option<i64>,
    pub deleted_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const MSG_COLUMNS: &str = "m.id, m.conversation_id, m.sender_id, m.type, m.text, m.attachments, m.location,
    m.booking_ref, m.call_info, m.system_info, m.mentions, m.reply_to, m.status, m.is_deleted, m.deleted_at,
    m.deleted_by, m.created_at, m.updated_at";

fn json_col(r: &Row, i: usize) -> rusqlite::Result<Option<Value>> {
    let s: Option<String> = r.get(i)?;
    Ok(s.and_then(|s| serde_json::from_str(&s).ok()))
}

fn msg_row(r: &Row) -> rusqlite::Result<Message> {
    let kind: String = r.get(3)?;
    Ok(Message {
        id: r.get(0)?,
        conversation_id: r.get(1)?,
        sender_id: r.get(2)?,
        kind: MessageType::parse(&kind).unwrap_or(MessageType::Text),
        text: r.get(4)?,
        attachments: json_col(r, 5)?.unwrap_or(Value::Array(vec![])),
        location: json_col(r, 6)?,
        booking_ref: r.get(7)?,
        call_info: json_col(r, 8)?,
        system_info: json_col(r, 9)?,
        mentions: json_col(r, 10)?
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default(),
        reply_to: r.get(11)?,
        status: r.get(12)?,
        is_deleted: r.get(13)?,
        deleted_at: r.get(14)?,
        deleted_by: r.get(15)?,
        created_at: r.get(16)?,
        updated_at: r.get(17)?,
    })
}

/// Stores a message and moves its conversation: last message and time,
/// total, every other active member's unread count (archived lists get it back).
pub fn insert_message(conn: &Connection, m: &Message, preview: Option<&[u8]>) -> ApiResult<()> {
    conn.prepare_cached(
        "INSERT INTO messages (id, conversation_id, sender_id, type, text, attachments, location, booking_ref,
             call_info, system_info, mentions, reply_to, status, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'sent', ?13, ?13)",
    )?
    .execute(params![
        m.id,
        m.conversation_id,
        m.sender_id,
        m.kind.as_str(),
        m.text,
        m.attachments.to_string(),
        m.location.as_ref().map(Value::to_string),
        m.booking_ref,
        m.call_info.as_ref().map(Value::to_string),
        m.system_info.as_ref().map(Value::to_string),
        serde_json::to_string(&m.mentions)?,
        m.reply_to,
        m.created_at,
    ])?;
    conn.prepare_cached(
        "UPDATE conversations SET last_message_id = ?2, last_preview = ?3, last_sender_id = ?4,
            last_message_at = ?5, total_messages = total_messages + 1, updated_at = ?5
         WHERE id = ?1",
    )?
    .execute(params![
        m.conversation_id,
        m.id,
        preview,
        m.sender_id,
        m.created_at
    ])?;
    conn.prepare_cached(
        "UPDATE conversation_participants SET unread_count = unread_count + 1
         WHERE conversation_id = ?1 AND left_at IS NULL AND user_id IS NOT ?2",
    )?
    .execute(params![m.conversation_id, m.sender_id])?;
    unarchive_all(conn, &m.conversation_id)?;
    Ok(())
}

pub fn find_message(conn: &Connection, id: &str) -> ApiResult<Option<Message>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {MSG_COLUMNS} FROM messages m WHERE m.id = ?1"
        ))?
        .query_row([id], msg_row)
        .optional()?)
}

/// Messages by id (any order; missing ids are skipped).
pub fn messages_by_id(conn: &Connection, ids: &[String]) -> ApiResult<Vec<Message>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks = vec!["?"; ids.len()].join(",");
    let mut stmt = conn.prepare(&format!(
        "SELECT {MSG_COLUMNS} FROM messages m WHERE m.id IN ({marks})"
    ))?;
    let rows = stmt.query_map(params_from_iter(ids.iter()), msg_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A page of a conversation's messages as `viewer` sees them (without the
/// ones they deleted for themselves), newest page first, each page in
/// chronological order; `before` (ms) only takes older ones.
pub fn list_messages(
    conn: &Connection,
    conversation_id: &str,
    viewer: &str,
    before: Option<i64>,
    offset: i64,
    limit: i64,
) -> ApiResult<(Vec<Message>, i64)> {
    let filter = "FROM messages m WHERE m.conversation_id = ?1 AND (?3 IS NULL OR m.created_at < ?3)
           AND NOT EXISTS (SELECT 1 FROM message_hidden h WHERE h.message_id = m.id AND h.user_id = ?2)";
    let total: i64 = conn
        .prepare_cached(&format!("SELECT COUNT(*) {filter}"))?
        .query_row(params![conversation_id, viewer, before], |r| r.get(0))?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MSG_COLUMNS} {filter} ORDER BY m.created_at DESC, m.id DESC LIMIT ?4 OFFSET ?5"
    ))?;
    let rows = stmt.query_map(
        params![conversation_id, viewer, before, limit, offset],
        msg_row,
    )?;
    let mut out: Vec<Message> = rows.collect::<Result<_, _>>()?;
    out.reverse();
    Ok((out, total))
}

/// One reaction.
#[derive(Debug, Clone)]
pub struct Reaction {
    pub id: String,
    pub user_id: String,
    pub emoji: String,
    pub created_at: i64,
}

/// One recipient's marks.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub user_id: String,
    pub delivered_at: Option<i64>,
    pub read_at: Option<i64>,
}

fn in_list(ids: &[&str]) -> String {
    vec!["?"; ids.len()].join(",")
}

/// Reactions of the given messages, oldest first.
pub fn reactions(conn: &Connection, ids: &[&str]) -> ApiResult<HashMap<String, Vec<Reaction>>> {
    let mut out: HashMap<String, Vec<Reaction>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let mut stmt = conn.prepare(&format!(
        "SELECT message_id, id, user_id, emoji, created_at FROM message_reactions
         WHERE message_id IN ({}) ORDER BY created_at, id",
        in_list(ids)
    ))?;
    let mut rows = stmt.query(params_from_iter(ids.iter()))?;
    while let Some(r) = rows.next()? {
        out.entry(r.get(0)?).or_default().push(Reaction {
            id: r.get(1)?,
            user_id: r.get(2)?,
            emoji: r.get(3)?,
            created_at: r.get(4)?,
        });
    }
    Ok(out)
}

/// Delivered and read marks of the given messages.
pub fn receipts(conn: &Connection, ids: &[&str]) -> ApiResult<HashMap<String, Vec<Receipt>>> {
    let mut out: HashMap<String, Vec<Receipt>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let mut stmt = conn.prepare(&format!(
        "SELECT message_id, user_id, delivered_at, read_at FROM message_receipts
         WHERE message_id IN ({}) ORDER BY COALESCE(read_at, delivered_at), user_id",
        in_list(ids)
    ))?;
    let mut rows = stmt.query(params_from_iter(ids.iter()))?;
    while let Some(r) = rows.next()? {
        out.entry(r.get(0)?).or_default().push(Receipt {
            user_id: r.get(1)?,
            delivered_at: r.get(2)?,
            read_at: r.get(3)?,
        });
    }
    Ok(out)
}

/// Sets the user's one reaction on a message: a new emoji replaces the
/// old one, which keeps its id and `createdAt` (any extra rows a user may
/// hold from before are dropped); otherwise it is added. Returns whether
/// anything changed (the same emoji again changes nothing).
pub fn set_reaction(
    conn: &Connection,
    message_id: &str,
    user_id: &str,
    emoji: &str,
    now: i64,
) -> ApiResult<bool> {
    let mine: Vec<(String, String)> = conn
        .prepare_cached(
            "SELECT id, emoji FROM message_reactions WHERE message_id = ?1 AND user_id = ?2
             ORDER BY created_at, id",
        )?
        .query_map(params![message_id, user_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    match mine.first() {
        Some((_, e)) if mine.len() == 1 && e == emoji => Ok(false),
        Some((id, _)) => {
            conn.prepare_cached(
                "DELETE FROM message_reactions WHERE message_id = ?1 AND user_id = ?2 AND id != ?3",
            )?
            .execute(params![message_id, user_id, id])?;
            conn.prepare_cached("UPDATE message_reactions SET emoji = ?2 WHERE id = ?1")?
                .execute(params![id, emoji])?;
            Ok(true)
        }
        None => {
            conn.prepare_cached(
                "INSERT INTO message_reactions (id, message_id, user_id, emoji, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![crate::ids::new_id(), message_id, user_id, emoji, now])?;
            Ok(true)
        }
    }
}

/// Removes the user's reaction from a message; returns whether there was one.
pub fn remove_reaction(conn: &Connection, message_id: &str, user_id: &str) -> ApiResult<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM message_reactions WHERE message_id = ?1 AND user_id = ?2")?
        .execute(params![message_id, user_id])?
        > 0)
}

/// Hides a message from one user's list (idempotent).
pub fn hide_message(conn: &Connection, message_id: &str, user_id: &str) -> ApiResult<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO message_hidden (message_id, user_id) VALUES (?1, ?2)",
    )?
    .execute(params![message_id, user_id])?;
    Ok(())
}

/// Blanks a message for everyone, leaving the placeholder; the conversation's
/// preview follows when it was the last message.
pub fn delete_for_everyone(conn: &Connection, m: &Message, by: &str, now: i64) -> ApiResult<()> {
    conn.prepare_cached(
        "UPDATE messages SET is_deleted = 1, deleted_at = ?2, deleted_by = ?3, text = NULL, attachments = '[]',
            location = NULL, updated_at = ?2 WHERE id = ?1",
    )?
    .execute(params![m.id, now, by])?;
    conn.prepare_cached(
        "UPDATE conversations SET last_preview = NULL WHERE id = ?1 AND last_message_id = ?2",
    )?
    .execute(params![m.conversation_id, m.id])?;
    conn.prepare_cached("DELETE FROM message_reactions WHERE message_id = ?1")?
        .execute([&m.id])?;
    Ok(())
}

/// Marks every message of others in the conversation read by `user_id`,
/// resets their unread count; returns the ids newly marked.
pub fn mark_read(
    conn: &Connection,
    conversation_id: &str,
    user_id: &str,
    now: i64,
) -> ApiResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT m.id FROM messages m
         WHERE m.conversation_id = ?1 AND m.sender_id IS NOT ?2 AND m.type != 'system'
           AND NOT EXISTS (SELECT 1 FROM message_receipts r WHERE r.message_id = m.id AND r.user_id = ?2
                           AND r.read_at IS NOT NULL)",
    )?;
    let ids: Vec<String> = stmt
        .query_map(params![conversation_id, user_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut upsert = conn.prepare_cached(
        "INSERT INTO message_receipts (message_id, user_id, delivered_at, read_at) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT (message_id, user_id) DO UPDATE SET read_at = ?3,
             delivered_at = COALESCE(delivered_at, ?3)",
    )?;
    let mut status = conn.prepare_cached("UPDATE messages SET status = 'read' WHERE id = ?1")?;
    for id in &ids {
        upsert.execute(params![id, user_id, now])?;
        status.execute([id])?;
    }
    conn.prepare_cached(
        "UPDATE conversation_participants SET unread_count = 0, last_read_at = ?3
         WHERE conversation_id = ?1 AND user_id = ?2",
    )?
    .execute(params![conversation_id, user_id, now])?;
    Ok(ids)
}

/// Marks a message delivered to `user_id`; returns whether it is new.
pub fn mark_delivered(
    conn: &Connection,
    message_id: &str,
    user_id: &str,
    now: i64,
) -> ApiResult<bool> {
    let n = conn
        .prepare_cached(
            "INSERT INTO message_receipts (message_id, user_id, delivered_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (message_id, user_id) DO NOTHING",
        )?
        .execute(params![message_id, user_id, now])?;
    if n > 0 {
        conn.prepare_cached(
            "UPDATE messages SET status = 'delivered' WHERE id = ?1 AND status = 'sent'",
        )?
        .execute([message_id])?;
    }
    Ok(n > 0)
}

// ---------------------------------------------------------------- people

/// Which of `ids` are active accounts.
pub fn active_users(conn: &Connection, ids: &[String]) -> ApiResult<Vec<String>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(&format!(
        "SELECT id FROM users WHERE status = 'active' AND id IN ({})",
        vec!["?"; ids.len()].join(",")
    ))?;
    let rows = stmt.query_map(params_from_iter(ids.iter()), |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A populated user as chat shows it, keyed by id.
#[derive(Debug, Clone)]
pub struct Person {
    pub first_name: String,
    pub last_name: String,
    pub role: String,
    pub picture_url: Option<String>,
    pub picture_public_id: Option<String>,
}

/// The people of `ids` (unknown ids are left out).
pub fn people(conn: &Connection, ids: &[&str]) -> ApiResult<HashMap<String, Person>> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        let mut stmt = conn.prepare(&format!(
            "SELECT id, first_name, last_name, role, profile_picture_url, profile_picture_public_id
             FROM users WHERE id IN ({})",
            in_list(chunk)
        ))?;
        let mut rows = stmt.query(params_from_iter(chunk.iter()))?;
        while let Some(r) = rows.next()? {
            out.insert(
                r.get(0)?,
                Person {
                    first_name: r.get(1)?,
                    last_name: r.get(2)?,
                    role: r.get(3)?,
                    picture_url: r.get(4)?,
                    picture_public_id: r.get(5)?,
                },
            );
        }
    }
    Ok(out)
}

/// Everyone sharing an active conversation with `user_id` (for presence).
pub fn contacts(conn: &Connection, user_id: &str) -> ApiResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT o.user_id FROM conversation_participants me
         JOIN conversation_participants o ON o.conversation_id = me.conversation_id AND o.left_at IS NULL
         WHERE me.user_id = ?1 AND me.left_at IS NULL AND o.user_id != ?1",
    )?;
    let rows = stmt.query_map([user_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Records when a user's last socket went away.
pub fn set_last_seen(conn: &Connection, user_id: &str, at: i64) -> ApiResult<()> {
    conn.prepare_cached(
        "INSERT INTO chat_presence (user_id, last_seen_at) VALUES (?1, ?2)
         ON CONFLICT (user_id) DO UPDATE SET last_seen_at = ?2",
    )?
    .execute(params![user_id, at])?;
    Ok(())
}

/// Last-seen times of the given users.
pub fn last_seen(conn: &Connection, ids: &[&str]) -> ApiResult<HashMap<String, i64>> {
    let mut out = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    for chunk in ids.chunks(500) {
        let mut stmt = conn.prepare(&format!(
            "SELECT user_id, last_seen_at FROM chat_presence WHERE user_id IN ({})",
            in_list(chunk)
        ))?;
        let mut rows = stmt.query(params_from_iter(chunk.iter()))?;
        while let Some(r) = rows.next()? {
            out.insert(r.get(0)?, r.get(1)?);
        }
    }
    Ok(out)
}
