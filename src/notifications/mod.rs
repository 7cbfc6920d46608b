//! Notifications: what the platform tells each user, in the app and over
//! push (FCM), email (SMTP) and SMS (Africa's Talking).
//!
//! One consumer of the event outbox ([`CONSUMER`]) turns domain events into
//! notifications by the one mapping table, [`model::RULES`], exactly once
//! per (event, recipient) (`notification_sources`), in one transaction per
//! batch of events. Each stored notification queues one job per channel the
//! recipient's preferences allow, in the same transaction; push and SMS wait
//! for the end of the recipient's quiet hours unless urgent. A channel job
//! reads the notification when it runs (no contact data or secrets in job
//! payloads), sends it, records `deliveryStatus`, and retries with backoff
//! until it is dead-lettered; one channel's outage never blocks another.
//!
//! Contract with chat: `message.sent`'s `recipientIds` holds only
//! participants who have NOT muted the conversation (the chat module owns
//! the mute flag); a recipient viewing the conversation
//! (`realtime.is_viewing`) gets no "new message" notification.

pub mod delivery;
pub mod model;
pub mod routes;
pub mod schemas;
pub mod store;

use std::sync::Mutex;
use std::time::Duration;

use rusqlite::Connection;
use serde_json::{json, Value};

use crate::error::ApiResult;
use crate::events::{Event, EventBus};
use crate::ids::now_ms;
use crate::jobs::{self, Job, JobRegistry};
use crate::notifications::model::{Channel, Draft, EventFacts, Preferences};
use crate::notifications::store::Outcome;
use crate::state::AppState;

/// The outbox consumer's name (its cursor).
pub const CONSUMER: &str = "notifications";
/// Job kinds: one per channel, the expiry purge, booking reminders and admin broadcasts.
pub const JOB_PUSH: &str = "notifications.push";
pub const JOB_EMAIL: &str = "notifications.email";
pub const JOB_SMS: &str = "notifications.sms";
pub const JOB_PURGE: &str = "notifications.purge";
pub const JOB_REMINDER: &str = "notifications.booking_reminder";
pub const JOB_BROADCAST: &str = "notifications.broadcast";

/// How long the consumer lingers after a commit so a burst arrives as one batch.
pub const LINGER: Duration = Duration::from_millis(5);

/// Shared state of the channels: the cached FCM access token.
#[derive(Default)]
pub struct Notifications {
    /// `(access token, expires at ms)`.
    pub fcm_token: Mutex<Option<(String, i64)>>,
}

/// Registers the consumer and the job handlers, and schedules the purge.
pub fn install(jobs: &mut JobRegistry, events: &mut EventBus) {
    events.subscribe_batch(CONSUMER, LINGER, on_events);
    jobs.register(JOB_PUSH, delivery::push_job);
    jobs.register(JOB_EMAIL, delivery::email_job);
    jobs.register(JOB_SMS, delivery::sms_job);
    jobs.register(JOB_PURGE, purge_job);
    jobs.register(JOB_REMINDER, reminder_job);
    jobs.register(JOB_BROADCAST, broadcast_job);
}

/// Queues the first expiry purge (at start; the job schedules the next).
pub fn schedule_purge(conn: &Connection) -> ApiResult<()> {
    jobs::ensure_scheduled(conn, JOB_PURGE, now_ms() + 3_600_000)
}

/// A notification stored by [`deliver`], to emit on the recipient's sockets after commit.
pub type Fresh = (String, Value);

/// Stores one draft for its recipient and queues its channel jobs, in the
/// caller's transaction. `prefs` are the recipient's. A draft folded into a
/// group goes out on push only (email and SMS were sent for the first).
pub fn deliver(
    conn: &Connection,
    d: &Draft,
    prefs: &Preferences,
    utc_offset_mins: i32,
    now: i64,
) -> ApiResult<Fresh> {
    let outcome = store::insert(conn, d, now)?;
    let (id, channels): (String, Vec<Channel>) = match outcome {
        Outcome::Created(id) => (id, d.channels.clone()),
        Outcome::Grouped(id, _) => (
            id,
            d.channels
                .iter()
                .copied()
                .filter(|c| *c == Channel::Push)
                .collect(),
        ),
    };
    for channel in channels {
        if !prefs.allows(channel, &d.kind, &d.category) {
            continue;
        }
        let held = match channel {
            Channel::Email => None,
            _ => model::held_until(now, &prefs.quiet, utc_offset_mins, &d.priority),
        };
        let kind = match channel {
            Channel::Push => JOB_PUSH,
            Channel::Email => JOB_EMAIL,
            Channel::Sms => JOB_SMS,
        };
        jobs::enqueue(conn, kind, &json!({"notificationId": id}), held)?;
        if let Some(t) = held {
            store::set_delivery(
                conn,
                &id,
                channel,
                &json!({"sent": false, "failed": false, "heldUntil": crate::ids::iso(t)}),
            )?;
        }
    }
    let doc = store::find(conn, &id)?
        .map(|s| s.to_json(now))
        .unwrap_or(Value::Null);
    Ok((d.recipient_id.clone(), doc))
}

/// The socket events of a new notification, to the recipient's sockets:
/// the original's `notification` (social.md §5) and `notification:new`,
/// the same document on both.
pub const SOCKET_EVENTS: [&str; 2] = ["notification", "notification:new"];

/// Emits a stored notification on the recipient's sockets (after commit).
pub fn announce(state: &AppState, user: &str, doc: &Value) {
    for ev in SOCKET_EVENTS {
        state.realtime.emit_to_user(user, ev, doc);
    }
}

/// Preferences read once per recipient within one transaction.
#[derive(Default)]
pub struct PrefsCache(std::collections::HashMap<String, Preferences>);

impl PrefsCache {
    pub fn get(&mut self, conn: &Connection, user: &str) -> ApiResult<&Preferences> {
        if !self.0.contains_key(user) {
            let p = store::preferences(conn, user)?;
            self.0.insert(user.to_string(), p);
        }
        Ok(&self.0[user])
    }
}

/// Turns one event into its notifications (skipping pairs already done,
/// unknown or deleted recipients, and viewers of a conversation), and
/// queues a booking's reminder when it is accepted.
pub fn apply_event(
    conn: &Connection,
    state: &AppState,
    e: &Event,
    cache: &mut PrefsCache,
    now: i64,
) -> ApiResult<Vec<Fresh>> {
    let facts = EventFacts {
        kind: &e.kind,
        subject_id: e.subject_id.as_deref(),
        actor_id: e.actor_id.as_deref(),
        payload: &e.payload,
    };
    let mut fresh = Vec::new();
    for d in model::plan(&facts) {
        if let Some(conversation) = &d.unless_viewing {
            if state.realtime.is_viewing(&d.recipient_id, conversation) {
                continue;
            }
        }
        if !store::claim_source(conn, e.id, &format!("{}:{}", d.recipient_id, d.kind))? {
            continue;
        }
        if !store::is_live_user(conn, &d.recipient_id)? {
            continue;
        }
        let prefs = cache.get(conn, &d.recipient_id)?.clone();
        fresh.push(deliver(
            conn,
            &d,
            &prefs,
            state.config.notification_utc_offset_mins,
            now,
        )?);
    }
    remind_if_accepted(conn, &state.config, e)?;
    Ok(fresh)
}

/// Turns one event into its in-app notifications only, for a backfill of
/// events nobody was told about yet (the demo seed): the same mapping
/// ([`model::plan`]), exactly-once claims (so the live consumer replaying
/// the event adds nothing) and live-recipient check as [`apply_event`], and
/// the booking reminder queued the same way; but no push, email or SMS
/// jobs (a backfill must not message phones and inboxes about the past),
/// and nobody is viewing a conversation. Returns how many were stored
/// (new or folded into a group).
pub fn backfill_event(
    conn: &Connection,
    config: &crate::config::Config,
    e: &Event,
    now: i64,
) -> ApiResult<usize> {
    let facts = EventFacts {
        kind: &e.kind,
        subject_id: e.subject_id.as_deref(),
        actor_id: e.actor_id.as_deref(),
        payload: &e.payload,
    };
    let mut n = 0;
    for d in model::plan(&facts) {
        if !store::claim_source(conn, e.id, &format!("{}:{}", d.recipient_id, d.kind))? {
            continue;
        }
        if !store::is_live_user(conn, &d.recipient_id)? {
            continue;
        }
        store::insert(conn, &d, now)?;
        n += 1;
    }
    remind_if_accepted(conn, config, e)?;
    Ok(n)
}

/// A booking just accepted gets its reminder job.
fn remind_if_accepted(
    conn: &Connection,
    config: &crate::config::Config,
    e: &Event,
) -> ApiResult<()> {
    if e.kind == "booking.status_changed" && e.payload["to"] == "accepted" {
        if let Some(booking) = e.subject_id.as_deref() {
            schedule_reminder(conn, config, e.id, booking)?;
        }
    }
    Ok(())
}

fn schedule_reminder(
    conn: &Connection,
    config: &crate::config::Config,
    event_id: i64,
    booking: &str,
) -> ApiResult<()> {
    let Some(row) = crate::bookings::store::find(conn, booking)? else {
        return Ok(());
    };
    let Some(starts) = row.scheduled_at else {
        return Ok(());
    };
    let at = starts - config.notification_reminder_lead_mins as i64 * 60_000;
    if at <= now_ms() || !store::claim_source(conn, event_id, "reminder")? {
        return Ok(());
    }
    jobs::enqueue(conn, JOB_REMINDER, &json!({"bookingId": booking}), Some(at))?;
    Ok(())
}

/// The outbox consumer: a batch of events in one transaction, then each
/// new notification emitted to its recipient's sockets.
pub async fn on_events(state: AppState, batch: Vec<Event>) -> Result<(), String> {
    let st = state.clone();
    let fresh = state
        .db
        .write(move |tx| {
            let now = now_ms();
            let mut cache = PrefsCache::default();
            let mut out = Vec::new();
            for e in &batch {
                out.extend(apply_event(tx, &st, e, &mut cache, now)?);
            }
            Ok(out)
        })
        .await
        .map_err(|e| e.to_string())?;
    for (user, doc) in fresh {
        announce(&state, &user, &doc);
    }
    Ok(())
}

/// Deletes expired notifications, then schedules itself an hour later.
pub async fn purge_job(state: AppState, _job: Job) -> Result<(), String> {
    state
        .db
        .write(|tx| {
            let n = store::purge(tx, now_ms())?;
            if n > 0 {
                tracing::info!(purged = n, "expired notifications purged");
            }
            jobs::enqueue(tx, JOB_PURGE, &Value::Null, Some(now_ms() + 3_600_000))?;
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())
}

/// Before a booking starts: if it is still going ahead, emits
/// `booking.reminder_due`, which the mapping turns into reminders.
pub async fn reminder_job(state: AppState, job: Job) -> Result<(), String> {
    let booking = job.payload["bookingId"].as_str().unwrap_or("").to_string();
    state
        .db
        .write(move |tx| {
            let Some(row) = crate::bookings::store::find(tx, &booking)? else {
                return Ok(());
            };
            let going_ahead = matches!(row.status.as_str(), "accepted" | "en_route" | "arrived");
            if going_ahead {
                crate::events::emit(
                    tx,
                    "booking.reminder_due",
                    Some(&booking),
                    None,
                    &json!({"customerId": row.customer_id, "technicianId": row.technician_id,
                            "startsAt": row.scheduled_at.map(crate::ids::iso)}),
                )?;
            }
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())
}

/// Recipients per broadcast batch (one transaction each).
pub const BROADCAST_BATCH: i64 = 500;

/// An admin broadcast: one batch of recipients per run, each in one
/// transaction; queues itself for the next batch until done.
pub async fn broadcast_job(state: AppState, job: Job) -> Result<(), String> {
    let p = job.payload.clone();
    let offset = state.config.notification_utc_offset_mins;
    let fresh = state
        .db
        .write(move |tx| {
            let role = p["role"].as_str();
            let after = p["after"].as_str().unwrap_or("");
            // Claims are keyed by the first job of the broadcast, so a rerun
            // (or a duplicated continuation) tells nobody twice.
            let key = p["key"].as_i64().unwrap_or(job.id);
            let mut draft: Draft = delivery::draft_from_json(&p["draft"]);
            let users = store::audience_page(tx, role, after, BROADCAST_BATCH)?;
            let now = now_ms();
            let mut out = Vec::new();
            let mut cache = PrefsCache::default();
            for u in &users {
                if !store::claim_source(tx, -key, u)? {
                    continue;
                }
                draft.recipient_id = u.clone();
                let prefs = cache.get(tx, u)?.clone();
                out.push(deliver(tx, &draft, &prefs, offset, now)?);
            }
            if users.len() as i64 == BROADCAST_BATCH {
                let mut next = p.clone();
                next["after"] = json!(users.last());
                next["key"] = json!(key);
                jobs::enqueue(tx, JOB_BROADCAST, &next, None)?;
            }
            Ok(out)
        })
        .await
        .map_err(|e| e.to_string())?;
    for (user, doc) in fresh {
        announce(&state, &user, &doc);
    }
    Ok(())
}
