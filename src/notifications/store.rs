//! SQL for the notification tables only. Every function takes a
//! `&Connection`, so it runs alone or inside the caller's transaction.

use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use serde_json::{json, Value};

use crate::error::ApiResult;
use crate::ids::{iso, new_id};
use crate::notifications::model::{self, Channel, Draft, Preferences};

/// One stored notification.
#[derive(Debug, Clone)]
pub struct Stored {
    pub id: String,
    pub recipient_id: String,
    pub sender_id: Option<String>,
    pub kind: String,
    pub category: String,
    pub title: String,
    pub body: String,
    pub image: Option<String>,
    pub action_data: Option<Value>,
    pub deep_link: Option<String>,
    pub related: [Option<String>; 5],
    pub is_read: bool,
    pub read_at: Option<i64>,
    pub delivery: Value,
    pub priority: String,
    pub expires_at: Option<i64>,
    pub is_grouped: bool,
    pub group_key: Option<String>,
    pub group_count: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, recipient_id, sender_id, type, category, title, body, image, action_data, deep_link,
    related_booking, related_post, related_review, related_message, related_transaction, is_read, read_at,
    delivery_status, priority, expires_at, is_grouped, group_key, group_count, created_at, updated_at";

fn from_row(r: &Row) -> rusqlite::Result<Stored> {
    let action: Option<String> = r.get(8)?;
    let delivery: String = r.get(17)?;
    Ok(Stored {
        id: r.get(0)?,
        recipient_id: r.get(1)?,
        sender_id: r.get(2)?,
        kind: r.get(3)?,
        category: r.get(4)?,
        title: r.get(5)?,
        body: r.get(6)?,
        image: r.get(7)?,
        action_data: action.and_then(|a| serde_json::from_str(&a).ok()),
        deep_link: r.get(9)?,
        related: [r.get(10)?, r.get(11)?, r.get(12)?, r.get(13)?, r.get(14)?],
        is_read: r.get(15)?,
        read_at: r.get(16)?,
        delivery: serde_json::from_str(&delivery).unwrap_or(Value::Null),
        priority: r.get(18)?,
        expires_at: r.get(19)?,
        is_grouped: r.get(20)?,
        group_key: r.get(21)?,
        group_count: r.get(22)?,
        created_at: r.get(23)?,
        updated_at: r.get(24)?,
    })
}

fn channel_status(v: &Value) -> Value {
    let mut out = json!({
        "sent": v.get("sent").and_then(Value::as_bool).unwrap_or(false),
        "failed": v.get("failed").and_then(Value::as_bool).unwrap_or(false),
    });
    for key in ["sentAt", "error", "heldUntil", "skipped"] {
        if let Some(x) = v.get(key).filter(|x| !x.is_null()) {
            out[key] = x.clone();
        }
    }
    out
}

impl Stored {
    /// The wire's Notification document (virtuals `age` and, when
    /// `expiresAt` is set, `isExpired` included).
    pub fn to_json(&self, now: i64) -> Value {
        let mut d = json!({
            "_id": self.id,
            "id": self.id,
            "recipient": self.recipient_id,
            "type": self.kind,
            "title": self.title,
            "body": self.body,
            "isRead": self.is_read,
            "deliveryStatus": {
                "push": channel_status(&self.delivery["push"]),
                "email": channel_status(&self.delivery["email"]),
                "sms": channel_status(&self.delivery["sms"]),
            },
            "priority": self.priority,
            "category": self.category,
            "isGrouped": self.is_grouped,
            "groupCount": self.group_count,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
            "__v": 0,
            "age": model::age(self.created_at, now),
        });
        let optional = [
            ("sender", self.sender_id.clone().map(Value::from)),
            ("image", self.image.clone().map(Value::from)),
            ("actionData", self.action_data.clone()),
            ("deepLink", self.deep_link.clone().map(Value::from)),
            ("relatedBooking", self.related[0].clone().map(Value::from)),
            ("relatedPost", self.related[1].clone().map(Value::from)),
            ("relatedReview", self.related[2].clone().map(Value::from)),
            ("relatedMessage", self.related[3].clone().map(Value::from)),
            (
                "relatedTransaction",
                self.related[4].clone().map(Value::from),
            ),
            ("readAt", self.read_at.map(|t| Value::from(iso(t)))),
            ("groupKey", self.group_key.clone().map(Value::from)),
            ("expiresAt", self.expires_at.map(|t| Value::from(iso(t)))),
            ("isExpired", self.expires_at.map(|t| Value::from(t <= now))),
        ];
        for (k, v) in optional {
            if let Some(v) = v {
                d[k] = v;
            }
        }
        d
    }
}

/// What [`insert`] did with a draft.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A new notification with this id.
    Created(String),
    /// Folded into this unread notification (now `count` strong).
    Grouped(String, i64),
}

/// Stores a draft, folding it into an unread one of the same type and
/// group key from the last 24 hours when there is one.
pub fn insert(conn: &Connection, d: &Draft, now: i64) -> ApiResult<Outcome> {
    if let Some(key) = &d.group_key {
        let existing: Option<(String, i64)> = conn
            .prepare_cached(
                "SELECT id, group_count FROM notifications
                 WHERE recipient_id = ?1 AND type = ?2 AND group_key = ?3 AND is_read = 0 AND created_at > ?4
                 ORDER BY created_at DESC LIMIT 1",
            )?
            .query_row(params![d.recipient_id, d.kind, key, now - model::GROUP_WINDOW_MS], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        if let Some((id, count)) = existing {
            let count = count + 1;
            conn.prepare_cached(
                "UPDATE notifications SET group_count = ?2, is_grouped = 1, body = ?3, sender_id = ?4, updated_at = ?5 WHERE id = ?1",
            )?
            .execute(params![id, count, model::grouped_body(count, &d.kind), d.sender_id, now])?;
            return Ok(Outcome::Grouped(id, count));
        }
    }
    let id = new_id();
    let r = &d.related;
    conn.prepare_cached(
        "INSERT INTO notifications (id, recipient_id, sender_id, type, category, title, body, image, action_data, deep_link,
            related_booking, related_post, related_review, related_message, related_transaction, priority, expires_at,
            group_key, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?19)",
    )?
    .execute(params![
        id,
        d.recipient_id,
        d.sender_id,
        d.kind,
        d.category,
        d.title,
        d.body,
        d.image,
        d.action_data.as_ref().map(Value::to_string),
        d.deep_link,
        r.booking,
        r.post,
        r.review,
        r.message,
        r.transaction,
        d.priority,
        d.expires_at,
        d.group_key,
        now,
    ])?;
    Ok(Outcome::Created(id))
}

/// Claims (event, recipient) once: `false` when that pair was already turned
/// into a notification (a replayed event).
pub fn claim_source(conn: &Connection, event_id: i64, recipient: &str) -> ApiResult<bool> {
    Ok(conn
        .prepare_cached(
            "INSERT OR IGNORE INTO notification_sources (event_id, recipient_id) VALUES (?1, ?2)",
        )?
        .execute(params![event_id, recipient])?
        == 1)
}

/// Whether the user exists and is not deleted (notifications go to live accounts only).
pub fn is_live_user(conn: &Connection, id: &str) -> ApiResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM users WHERE id = ?1 AND status <> 'deleted'")?
        .query_row([id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// One notification by id.
pub fn find(conn: &Connection, id: &str) -> ApiResult<Option<Stored>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM notifications WHERE id = ?1"
        ))?
        .query_row([id], from_row)
        .optional()?)
}

/// The list's filters (exact matches).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub is_read: Option<bool>,
    pub kind: Option<String>,
    pub priority: Option<String>,
    pub category: Option<String>,
}

impl Filter {
    fn is_empty(&self) -> bool {
        self.is_read.is_none()
            && self.kind.is_none()
            && self.priority.is_none()
            && self.category.is_none()
    }

    fn sql(&self, args: &mut Vec<rusqlite::types::Value>) -> String {
        let mut sql = String::new();
        if let Some(r) = self.is_read {
            sql.push_str(" AND is_read = ?");
            args.push((r as i64).into());
        }
        for (col, v) in [
            ("type", &self.kind),
            ("priority", &self.priority),
            ("category", &self.category),
        ] {
            if let Some(v) = v {
                sql.push_str(&format!(" AND {col} = ?"));
                args.push(v.clone().into());
            }
        }
        sql
    }
}

/// A page of a user's unexpired notifications, newest first, with the
/// matching total and the unread count (expired included, filters ignored,
/// as the wire has it).
pub fn list(
    conn: &Connection,
    user: &str,
    f: &Filter,
    limit: i64,
    offset: i64,
    now: i64,
) -> ApiResult<(Vec<Stored>, i64, i64)> {
    let mut args: Vec<rusqlite::types::Value> = vec![user.to_string().into(), now.into()];
    let (count_sql, page_sql) = list_sql(f, &mut args);
    let (total_all, unread): (i64, i64) = conn
        .prepare_cached("SELECT total, unread FROM notification_counts WHERE user_id = ?1")?
        .query_row([user], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .unwrap_or((0, 0));
    let total = if f.is_empty() {
        // Counters hold every stored row; expired rows await the purge. The
        // expiry index, not the recipient one (a scan of all the user's rows).
        let expired: i64 = conn
            .prepare_cached(
                "SELECT COUNT(*) FROM notifications INDEXED BY notifications_expiry
                 WHERE expires_at IS NOT NULL AND expires_at <= ?2 AND recipient_id = ?1",
            )?
            .query_row(params![user, now], |r| r.get(0))?;
        total_all - expired
    } else {
        conn.prepare_cached(&count_sql)?
            .query_row(params_from_iter(args.iter()), |r| r.get(0))?
    };
    let mut page_args = args.clone();
    page_args.push(limit.into());
    page_args.push(offset.into());
    let rows = conn
        .prepare_cached(&page_sql)?
        .query_map(params_from_iter(page_args.iter()), from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((rows, total, unread))
}

/// The filtered list's count and page statements; `args` starts with the
/// recipient and `now` and gets the filters' values (the page adds limit
/// and offset).
fn list_sql(f: &Filter, args: &mut Vec<rusqlite::types::Value>) -> (String, String) {
    let filters = f.sql(args);
    let base = format!(
        "FROM notifications WHERE recipient_id = ? AND (expires_at IS NULL OR expires_at > ?){filters}"
    );
    (
        format!("SELECT COUNT(*) {base}"),
        format!("SELECT {COLUMNS} {base} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"),
    )
}

/// Marks one notification read (again: `readAt` is overwritten).
pub fn mark_read(conn: &Connection, id: &str, now: i64) -> ApiResult<()> {
    conn.prepare_cached(
        "UPDATE notifications SET is_read = 1, read_at = ?2, updated_at = ?2 WHERE id = ?1",
    )?
    .execute(params![id, now])?;
    Ok(())
}

/// Marks all of a user's unread notifications read (of one category if given).
pub fn mark_all_read(
    conn: &Connection,
    user: &str,
    category: Option<&str>,
    now: i64,
) -> ApiResult<usize> {
    Ok(conn.execute(
        "UPDATE notifications SET is_read = 1, read_at = ?2, updated_at = ?2
         WHERE recipient_id = ?1 AND is_read = 0 AND (?3 IS NULL OR category = ?3)",
        params![user, now, category],
    )?)
}

/// Deletes one notification.
pub fn delete(conn: &Connection, id: &str) -> ApiResult<()> {
    conn.execute("DELETE FROM notifications WHERE id = ?1", [id])?;
    Ok(())
}

/// Deletes every read notification of a user.
pub fn clear_read(conn: &Connection, user: &str) -> ApiResult<usize> {
    Ok(conn.execute(
        "DELETE FROM notifications WHERE recipient_id = ?1 AND is_read = 1",
        [user],
    )?)
}

/// Deletes expired notifications and source marks older than `sources_before`.
pub fn purge(conn: &Connection, now: i64) -> ApiResult<usize> {
    Ok(conn.execute(
        "DELETE FROM notifications WHERE expires_at IS NOT NULL AND expires_at <= ?1",
        [now],
    )?)
}

/// Records one channel's outcome in `deliveryStatus`.
pub fn set_delivery(
    conn: &Connection,
    id: &str,
    channel: Channel,
    status: &Value,
) -> ApiResult<()> {
    conn.prepare_cached(
        "UPDATE notifications SET delivery_status = json_set(delivery_status, '$.' || ?2, json(?3)) WHERE id = ?1",
    )?
    .execute(params![id, channel.as_str(), status.to_string()])?;
    Ok(())
}

/// A user's preferences (the defaults until they save some).
pub fn preferences(conn: &Connection, user: &str) -> ApiResult<Preferences> {
    let stored: Option<String> = conn
        .prepare_cached("SELECT prefs FROM notification_preferences WHERE user_id = ?1")?
        .query_row([user], |r| r.get(0))
        .optional()?;
    Ok(stored
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .map(|v| Preferences::from_stored(&v))
        .unwrap_or_default())
}

/// Saves a user's preferences.
pub fn save_preferences(conn: &Connection, user: &str, p: &Preferences, now: i64) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO notification_preferences (user_id, prefs, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (user_id) DO UPDATE SET prefs = excluded.prefs, updated_at = excluded.updated_at",
        params![user, p.to_json().to_string(), now],
    )?;
    Ok(())
}

/// Live accounts of a role (or all), for a broadcast: ids after `after`, `limit` at a time.
pub fn audience_page(
    conn: &Connection,
    role: Option<&str>,
    after: &str,
    limit: i64,
) -> ApiResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM users WHERE status = 'active' AND (?1 IS NULL OR role = ?1) AND id > ?2 ORDER BY id LIMIT ?3",
    )?;
    let rows = stmt
        .query_map(params![role, after, limit], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(rows)
}

/// What the channels need of a recipient.
#[derive(Debug, Clone)]
pub struct Contact {
    pub email: String,
    pub phone: String,
    pub first_name: String,
}

/// The recipient's email, phone and first name.
pub fn contact(conn: &Connection, user: &str) -> ApiResult<Option<Contact>> {
    Ok(conn
        .prepare_cached(
            "SELECT email, phone, first_name FROM users WHERE id = ?1 AND status <> 'deleted'",
        )?
        .query_row([user], |r| {
            Ok(Contact {
                email: r.get(0)?,
                phone: r.get(1)?,
                first_name: r.get(2)?,
            })
        })
        .optional()?)
}

/// The user's push tokens, newest first.
pub fn fcm_tokens(conn: &Connection, user: &str) -> ApiResult<Vec<String>> {
    let mut stmt = conn
        .prepare_cached("SELECT token FROM fcm_tokens WHERE user_id = ?1 ORDER BY added_at DESC")?;
    let rows = stmt
        .query_map([user], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(rows)
}

/// Forgets a token FCM reported unregistered.
pub fn remove_fcm_token(conn: &Connection, token: &str) -> ApiResult<()> {
    conn.execute("DELETE FROM fcm_tokens WHERE token = ?1", [token])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan SQLite picks for `sql` (the detail column, one line each).
    fn plan(conn: &Connection, sql: &str, n_args: usize) -> String {
        let args: Vec<rusqlite::types::Value> = (0..n_args).map(|_| 1i64.into()).collect();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt
            .query_map(params_from_iter(args.iter()), |r| r.get::<_, String>(3))
            .unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn the_category_filter_walks_its_own_index() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open(&dir.path().join("t.db"), 1).unwrap();
        db.read_blocking(|c| {
            let f = Filter {
                category: Some("payment".into()),
                ..Default::default()
            };
            let mut args = vec!["u".to_string().into(), 0i64.into()];
            let (count, page) = list_sql(&f, &mut args);
            let counted = plan(c, &count, args.len());
            assert!(
                counted.contains("COVERING INDEX notifications_recipient_category"),
                "{counted}"
            );
            let paged = plan(c, &page, args.len() + 2);
            assert!(
                paged.contains("INDEX notifications_recipient_category"),
                "{paged}"
            );
            assert!(!paged.contains("TEMP B-TREE"), "no sort: {paged}");
            // Unfiltered pages keep the recipient's own index.
            let mut args = vec!["u".to_string().into(), 0i64.into()];
            let (_, page) = list_sql(&Filter::default(), &mut args);
            let paged = plan(c, &page, args.len() + 2);
            assert!(paged.contains("notifications_recipient_created"), "{paged}");
            Ok(())
        })
        .unwrap();
    }
}
