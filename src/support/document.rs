//! Tickets as the wire shows them, for staff or for the requester.
//!
//! The requester's view never holds internal notes, internal messages,
//! the escalation reason or the status history's notes: [`View`] is the
//! one switch, and every answer to a non-staff caller goes through it.

use std::collections::HashMap;

use rusqlite::Connection;
use serde_json::{json, Map, Value};

use crate::error::ApiResult;
use crate::ids::{iso, iso_opt, now_ms};
use crate::support::store::{self, Message, Ticket};

/// Who is looking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Support agents and admins: everything.
    Staff,
    /// The ticket's customer (and technicians and corporate accounts
    /// looking at their own): no internal content.
    Requester,
}

/// How much of a ticket to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Lists and dashboards: the ticket without messages and history.
    Summary,
    /// One ticket: messages, status history and (staff) internal notes.
    Full,
}

/// Populated users, each read once per answer.
#[derive(Default)]
pub struct People(HashMap<String, Value>);

impl People {
    /// `{_id, id, firstName, lastName, fullName, email, phoneNumber,
    /// profilePicture, role}` or null when the account is gone.
    pub fn card(&mut self, conn: &Connection, id: &str) -> ApiResult<Value> {
        if let Some(v) = self.0.get(id) {
            return Ok(v.clone());
        }
        let v = match crate::auth::store::find_by_id(conn, id)? {
            Some(a) => json!({
                "_id": a.id, "id": a.id,
                "firstName": a.first_name, "lastName": a.last_name,
                "fullName": format!("{} {}", a.first_name, a.last_name),
                "email": a.email, "phoneNumber": a.phone, "role": a.role.as_str(),
                "profilePicture": {"url": a.profile_picture_url.clone()
                    .unwrap_or_else(|| "https://res.cloudinary.com/default-avatar.png".into())},
            }),
            None => Value::Null,
        };
        self.0.insert(id.to_string(), v.clone());
        Ok(v)
    }
}

fn put(map: &mut Map<String, Value>, key: &str, v: Value) {
    if !v.is_null() {
        map.insert(key.to_string(), v);
    }
}

fn minutes_between(from: i64, to: Option<i64>) -> Value {
    to.map(|t| json!((t - from + 30_000) / 60_000))
        .unwrap_or(Value::Null)
}

/// A staff member's card as a requester sees it: no phone number.
fn for_view(mut card: Value, view: View, requester_id: &str) -> Value {
    if view == View::Requester && card["_id"] != requester_id {
        if let Some(o) = card.as_object_mut() {
            o.remove("phoneNumber");
        }
    }
    card
}

/// One SLA clock `{target, actual, met, dueAt}`; `actual` and `met` only
/// once the clock stopped and `dueAt` only while it runs, as Mongoose
/// leaves out paths that were never set rather than sending null.
fn sla_clock(target: i64, actual: Option<i64>, met: Option<bool>, due_at: Option<i64>) -> Value {
    let mut c = Map::new();
    c.insert("target".into(), json!(target));
    put(&mut c, "actual", json!(actual));
    put(&mut c, "met", json!(met));
    put(&mut c, "dueAt", iso_opt(due_at));
    Value::Object(c)
}

/// `customerSatisfaction` and the rate call's `rating`: `{rating,
/// feedback, ratedAt}`, `feedback` only when given.
pub fn satisfaction_json(rating: i64, feedback: Option<&str>, rated_at: Option<i64>) -> Value {
    let mut r = Map::new();
    r.insert("rating".into(), json!(rating));
    put(&mut r, "feedback", json!(feedback));
    put(&mut r, "ratedAt", iso_opt(rated_at));
    Value::Object(r)
}

/// One message as the wire has it (`_id`, no `id`).
pub fn message_json(
    conn: &Connection,
    m: &Message,
    view: View,
    requester_id: &str,
    people: &mut People,
) -> ApiResult<Value> {
    Ok(json!({
        "_id": m.id,
        "sender": for_view(people.card(conn, &m.sender_id)?, view, requester_id),
        "senderRole": m.sender_role,
        "message": m.message,
        "attachments": m.attachments,
        "isInternal": m.is_internal,
        "timestamp": iso(m.created_at),
    }))
}

/// The wire document of `t` for `view`.
pub fn ticket_json(
    conn: &Connection,
    t: &Ticket,
    view: View,
    detail: Detail,
    people: &mut People,
) -> ApiResult<Value> {
    let staff = view == View::Staff;
    let now = now_ms();
    let times = t.sla_times();
    let mut m = Map::new();
    m.insert("_id".into(), json!(t.id));
    m.insert("id".into(), json!(t.id));
    m.insert("ticketNumber".into(), json!(t.ticket_number));
    m.insert("customer".into(), people.card(conn, &t.customer_id)?);
    if let Some(a) = &t.assigned_to {
        m.insert(
            "assignedTo".into(),
            for_view(people.card(conn, a)?, view, &t.customer_id),
        );
    }
    m.insert("subject".into(), json!(t.subject));
    m.insert("description".into(), json!(t.description));
    m.insert("category".into(), json!(t.category));
    put(&mut m, "subcategory", json!(t.subcategory));
    m.insert("priority".into(), json!(t.priority.as_str()));
    m.insert("status".into(), json!(t.status.as_str()));
    put(&mut m, "relatedBooking", json!(t.related_booking));
    put(&mut m, "relatedTransaction", json!(t.related_transaction));
    m.insert("attachments".into(), t.attachments.clone());
    m.insert("tags".into(), json!(t.tags));
    m.insert("source".into(), json!(t.source));
    m.insert("channel".into(), json!(t.source));
    let first_due = if t.first_response_at.is_some() {
        None
    } else {
        times.due_at(t.first_response_target)
    };
    let resolution_due = if t.status.is_finished() {
        None
    } else {
        times.due_at(t.resolution_target)
    };
    m.insert(
        "sla".into(),
        json!({
            "firstResponseTime": sla_clock(t.first_response_target, t.first_response_actual,
                                           t.first_response_met, first_due),
            "resolutionTime": sla_clock(t.resolution_target, t.resolution_actual, t.resolution_met,
                                        resolution_due),
            "isPaused": t.paused_at.is_some(),
        }),
    );
    put(&mut m, "assignedAt", iso_opt(t.assigned_at));
    put(&mut m, "firstResponseAt", iso_opt(t.first_response_at));
    put(&mut m, "resolvedAt", iso_opt(t.resolved_at));
    put(&mut m, "closedAt", iso_opt(t.closed_at));
    put(&mut m, "reopenedAt", iso_opt(t.reopened_at));
    if let Some(summary) = &t.resolution_summary {
        let mut r = Map::new();
        r.insert("summary".into(), json!(summary));
        put(&mut r, "resolvedBy", json!(t.resolved_by));
        put(&mut r, "resolutionType", json!(t.resolution_type));
        put(&mut r, "resolutionNotes", json!(t.resolution_notes));
        m.insert("resolution".into(), Value::Object(r));
    }
    if let Some(rating) = t.rating {
        m.insert(
            "customerSatisfaction".into(),
            satisfaction_json(rating, t.rating_feedback.as_deref(), t.rated_at),
        );
    }
    m.insert("isEscalated".into(), json!(t.is_escalated));
    m.insert("escalationLevel".into(), json!(t.escalation_level));
    if let Some(to) = &t.escalated_to {
        m.insert(
            "escalatedTo".into(),
            for_view(people.card(conn, to)?, view, &t.customer_id),
        );
    }
    put(&mut m, "escalatedAt", iso_opt(t.escalated_at));
    if staff {
        put(&mut m, "escalationReason", json!(t.escalation_reason));
    }
    put(&mut m, "ipAddress", json!(t.ip_address));
    put(&mut m, "userAgent", json!(t.user_agent));
    m.insert(
        "responseTime".into(),
        minutes_between(t.created_at, t.first_response_at),
    );
    m.insert(
        "resolutionTime".into(),
        minutes_between(t.created_at, t.resolved_at),
    );
    m.insert(
        "age".into(),
        json!((t.closed_at.unwrap_or(now) - t.created_at + 1_800_000) / 3_600_000),
    );
    if detail == Detail::Full {
        let messages = store::messages(conn, &t.id, staff)?;
        let mut out = Vec::with_capacity(messages.len());
        for msg in &messages {
            out.push(message_json(conn, msg, view, &t.customer_id, people)?);
        }
        m.insert("messageCount".into(), json!(out.len()));
        m.insert("messages".into(), Value::Array(out));
        let history: Vec<Value> = store::history(conn, &t.id)?
            .into_iter()
            .map(|(id, status, by, at, notes)| {
                let mut h = Map::new();
                h.insert("_id".into(), json!(id));
                h.insert("id".into(), json!(id));
                h.insert("status".into(), json!(status));
                put(&mut h, "changedBy", json!(by));
                h.insert("changedAt".into(), json!(iso(at)));
                if staff {
                    put(&mut h, "notes", json!(notes));
                }
                Value::Object(h)
            })
            .collect();
        m.insert("statusHistory".into(), Value::Array(history));
        if staff {
            let notes: Vec<Value> = store::notes(conn, &t.id)?
                .into_iter()
                .map(|(id, note, by, at)| {
                    let mut n = Map::new();
                    n.insert("_id".into(), json!(id));
                    n.insert("id".into(), json!(id));
                    n.insert("note".into(), json!(note));
                    put(&mut n, "addedBy", json!(by));
                    n.insert("addedAt".into(), json!(iso(at)));
                    Value::Object(n)
                })
                .collect();
            m.insert("internalNotes".into(), Value::Array(notes));
        }
    } else {
        m.insert(
            "messageCount".into(),
            json!(store::message_count(conn, &t.id, staff)?),
        );
    }
    m.insert("createdAt".into(), json!(iso(t.created_at)));
    m.insert("updatedAt".into(), json!(iso(t.updated_at)));
    m.insert("__v".into(), json!(0));
    Ok(Value::Object(m))
}

/// Documents of many tickets sharing one people cache.
pub fn tickets_json(
    conn: &Connection,
    tickets: &[Ticket],
    view: View,
    people: &mut People,
) -> ApiResult<Vec<Value>> {
    tickets
        .iter()
        .map(|t| ticket_json(conn, t, view, Detail::Summary, people))
        .collect()
}

/// The `supportInfo` every user document carries (the original emitted it
/// for every account, with its defaults): a staff member's availability,
/// cap and desk figures; the defaults for everyone else.
pub fn support_info(conn: &Connection, user_id: &str, is_staff: bool) -> ApiResult<Value> {
    let mut info = json!({
        "specializations": [],
        "languages": [],
        "availability": {"status": "offline", "maxConcurrentTickets": 5},
        "stats": {
            "ticketsHandled": 0, "ticketsClosed": 0, "averageResponseTime": 0,
            "averageResolutionTime": 0, "satisfactionRating": 0, "ratingCount": 0,
        },
        "shiftSchedule": [],
    });
    if !is_staff {
        return Ok(info);
    }
    if let Some(agent) = store::agent(conn, user_id)? {
        info["availability"] = json!({
            "status": agent.availability,
            "maxConcurrentTickets": agent.max_concurrent,
        });
        if agent.rating_count > 0 {
            let average = agent.rating_sum as f64 / agent.rating_count as f64;
            info["stats"]["satisfactionRating"] = json!((average * 100.0).round() / 100.0);
            info["stats"]["ratingCount"] = json!(agent.rating_count);
        }
    }
    let (handled, closed, response, resolution): (i64, i64, Option<f64>, Option<f64>) = conn
        .prepare_cached(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE status = 'closed'),
                    AVG(first_response_actual), AVG(resolution_actual)
             FROM support_tickets WHERE assigned_to = ?1",
        )?
        .query_row([user_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
    info["stats"]["ticketsHandled"] = json!(handled);
    info["stats"]["ticketsClosed"] = json!(closed);
    info["stats"]["averageResponseTime"] = json!(response.map_or(0, |m| m.round() as i64));
    info["stats"]["averageResolutionTime"] = json!(resolution.map_or(0, |m| m.round() as i64));
    Ok(info)
}
