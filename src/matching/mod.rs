//! Matching: the nine-factor engine that ranks technicians for a job,
//! sessions of scored matches, accepting a match into a booking, the
//! customer's preferences and blocks, and learning their weights from what
//! they accept, reject and rate.
//!
//! - `model`: the pure rules ([`model::score`], quality bands, reasons, [`model::learn`]).
//! - `preferences`: the preference groups (defaults, validation, merge).
//! - `candidates`: R-tree search plus the technician record cache.
//! - `writer`: group commit of new search sessions.
//! - `store`: this module's tables; [`store::blocked_technicians`] is for
//!   other modules (the users nearby search).
//! - `routes`: `/api/v1/matching`.
//!
//! Background work: [`record_history`] consumes `booking.status_changed`
//! (to `completed`) and `review.created` events into the history behind the
//! customer-preference factor; [`purge_job`] deletes sessions and matches
//! older than `matching_retention_days`, keeping anonymous daily counts.

pub mod candidates;
pub mod document;
pub mod model;
pub mod preferences;
pub mod routes;
pub mod schemas;
pub mod store;

use serde_json::Value;

use crate::error::ApiResult;
use crate::events::Event;
use crate::ids::now_ms;
use crate::jobs::Job;
use crate::state::AppState;

/// What matching keeps in memory for the whole process (`AppState::matching`).
pub struct MatchingState {
    /// Technician records reused between searches.
    pub profiles: candidates::ProfileCache,
}

impl MatchingState {
    /// Built once in `build_state`.
    pub fn new(config: &crate::config::Config) -> MatchingState {
        MatchingState {
            profiles: candidates::ProfileCache::new(config.matching_profile_cache_secs),
        }
    }
}

/// Job kind of the daily retention purge.
pub const PURGE_JOB: &str = "matching.purge";
/// Name of the event consumer that keeps the customer/technician history.
pub const HISTORY_CONSUMER: &str = "matching.history";

const DAY_MS: i64 = 86_400_000;

/// Queues the first purge a minute after start unless one is queued (call at start).
pub fn schedule_purge(conn: &rusqlite::Connection) -> ApiResult<()> {
    crate::jobs::ensure_scheduled(conn, PURGE_JOB, now_ms() + 60_000)
}

/// The retention purge: removes sessions, matches and weight adjustments
/// older than `matching_retention_days` (their counts go to the roll-up),
/// then schedules the next run a day later.
pub async fn purge_job(state: AppState, _job: Job) -> Result<(), String> {
    let days = state.config.matching_retention_days as i64;
    let purged = state
        .db
        .write(move |tx| {
            let now = now_ms();
            let purged = store::purge(tx, now - days * DAY_MS)?;
            if store::claim_next_run(tx, PURGE_JOB, now, now + DAY_MS)? {
                crate::jobs::enqueue(tx, PURGE_JOB, &Value::Null, Some(now + DAY_MS))?;
            }
            Ok(purged)
        })
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(
        sessions = purged.sessions,
        matches = purged.matches,
        adjustments = purged.adjustments,
        retention_days = days,
        "matching retention purge"
    );
    Ok(())
}

/// Keeps the history behind the customer-preference factor: a booking
/// that reached `completed`, and a review that carries a rating. Idempotent
/// (one row per booking or review id).
pub async fn record_history(state: AppState, event: Event) -> Result<(), String> {
    let p = &event.payload;
    let text = |k: &str| p.get(k).and_then(Value::as_str).map(String::from);
    let Some(subject) = event.subject_id.clone() else {
        return Ok(());
    };
    let at = event.created_at;
    enum Record {
        Completed(String, String),
        Review(String, String, f64),
    }
    let record = match event.kind.as_str() {
        "booking.status_changed" if p.get("to").and_then(Value::as_str) == Some("completed") => {
            text("customerId")
                .zip(text("technicianId"))
                .map(|(c, t)| Record::Completed(c, t))
        }
        "review.created" => {
            let rating = p
                .get("rating")
                .and_then(|r| {
                    r.as_f64()
                        .or_else(|| r.get("overall").and_then(Value::as_f64))
                })
                .filter(|r| (1.0..=5.0).contains(r));
            match (text("reviewerId"), text("revieweeId"), rating) {
                (Some(c), Some(t), Some(r)) => Some(Record::Review(c, t, r)),
                _ => None,
            }
        }
        _ => None,
    };
    let Some(record) = record else {
        return Ok(());
    };
    state
        .db
        .write(move |tx| match record {
            Record::Completed(c, t) => store::record_completed(tx, &subject, &c, &t, at),
            Record::Review(c, t, r) => store::record_review(tx, &subject, &c, &t, r, at),
        })
        .await
        .map_err(|e| e.to_string())
}
