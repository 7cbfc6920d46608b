//! SQL for the matching module's tables: sessions and matches, preferences,
//! learned-weight adjustments, blocks, the history behind the
//! customer-preference factor, analytics and the retention purge.

use std::collections::{HashMap, HashSet};

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

use crate::error::ApiResult;
use crate::ids::{new_id, now_ms};

use super::model::{History, Weights, QUALITIES};

// ---------------------------------------------------------------- blocks

/// The technicians `customer_id` has blocked. The users module's nearby
/// search calls this for a signed-in customer so a blocked technician never
/// appears there either.
pub fn blocked_technicians(conn: &Connection, customer_id: &str) -> ApiResult<HashSet<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT technician_id FROM matching_blocks WHERE customer_id = ?1")?;
    let ids = stmt
        .query_map([customer_id], |r| r.get::<_, String>(0))?
        .collect::<Result<HashSet<_>, _>>()?;
    Ok(ids)
}

/// One blocked technician.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub id: String,
    pub technician_id: String,
    pub reason: Option<String>,
    pub blocked_at: i64,
}

/// Blocks a technician; a second block keeps the first (idempotent).
pub fn block(
    conn: &Connection,
    customer_id: &str,
    technician_id: &str,
    reason: Option<&str>,
) -> ApiResult<()> {
    conn.execute(
        "INSERT OR IGNORE INTO matching_blocks (id, customer_id, technician_id, reason, blocked_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![new_id(), customer_id, technician_id, reason, now_ms()],
    )?;
    Ok(())
}

/// Removes a block, if there was one.
pub fn unblock(conn: &Connection, customer_id: &str, technician_id: &str) -> ApiResult<()> {
    conn.execute(
        "DELETE FROM matching_blocks WHERE customer_id = ?1 AND technician_id = ?2",
        params![customer_id, technician_id],
    )?;
    Ok(())
}

/// Every block of a customer, oldest first.
pub fn blocks(conn: &Connection, customer_id: &str) -> ApiResult<Vec<Block>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, technician_id, reason, blocked_at FROM matching_blocks
         WHERE customer_id = ?1 ORDER BY blocked_at, id",
    )?;
    let rows = stmt
        .query_map([customer_id], |r| {
            Ok(Block {
                id: r.get(0)?,
                technician_id: r.get(1)?,
                reason: r.get(2)?,
                blocked_at: r.get(3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

// ---------------------------------------------------------------- preferences

/// A customer's stored matching preference.
#[derive(Debug, Clone, PartialEq)]
pub struct Preference {
    pub id: String,
    pub user_id: String,
    /// The stored groups (defaults not filled in; see `preferences::with_defaults`).
    pub settings: Value,
    pub custom_weights: Option<Weights>,
    pub learned_weights: Option<Weights>,
    pub learning_steps: i64,
    pub total_matches: i64,
    pub successful_bookings: i64,
    pub last_match_request: Option<i64>,
    pub last_updated: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Preference {
    /// The weights the customer chose, or the defaults: where learning starts and returns on reset.
    pub fn base_weights(&self) -> Weights {
        self.custom_weights.unwrap_or_default()
    }

    /// The weights scoring uses now: learned, else chosen, else default.
    pub fn weights(&self) -> Weights {
        self.learned_weights.unwrap_or_else(|| self.base_weights())
    }
}

fn weights_column(raw: Option<String>) -> Option<Weights> {
    raw.and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .and_then(|v| Weights::from_stored(&v))
}

fn preference_from_row(r: &Row) -> rusqlite::Result<Preference> {
    let settings: String = r.get(2)?;
    Ok(Preference {
        id: r.get(0)?,
        user_id: r.get(1)?,
        settings: serde_json::from_str(&settings).unwrap_or(Value::Null),
        custom_weights: weights_column(r.get(3)?),
        learned_weights: weights_column(r.get(4)?),
        learning_steps: r.get(5)?,
        total_matches: r.get(6)?,
        successful_bookings: r.get(7)?,
        last_match_request: r.get(8)?,
        last_updated: r.get(9)?,
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
    })
}

/// The preference of `user_id`, if one was ever created.
pub fn find_preference(conn: &Connection, user_id: &str) -> ApiResult<Option<Preference>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, user_id, settings, custom_weights, learned_weights, learning_steps, total_matches,
                    successful_bookings, last_match_request, last_updated, created_at, updated_at
             FROM matching_preferences WHERE user_id = ?1",
        )?
        .query_row([user_id], preference_from_row)
        .optional()?)
}

/// The preference of `user_id`, created with defaults when missing.
pub fn ensure_preference(conn: &Connection, user_id: &str) -> ApiResult<Preference> {
    let now = now_ms();
    conn.prepare_cached(
        "INSERT OR IGNORE INTO matching_preferences (id, user_id, last_updated, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?3, ?3)",
    )?
    .execute(params![new_id(), user_id, now])?;
    find_preference(conn, user_id)?
        .ok_or_else(|| crate::error::ApiError::internal("preference vanished after insert"))
}

/// Stores merged settings and, when given, new custom weights (which also
/// drops what was learned: learning restarts from the customer's choice).
pub fn save_settings(
    conn: &Connection,
    user_id: &str,
    settings: &Value,
    custom_weights: Option<&Weights>,
) -> ApiResult<()> {
    let now = now_ms();
    match custom_weights {
        Some(w) => conn.execute(
            "UPDATE matching_preferences SET settings = ?2, custom_weights = ?3, learned_weights = NULL,
                 learning_steps = 0, last_updated = ?4, updated_at = ?4 WHERE user_id = ?1",
            params![user_id, settings.to_string(), w.to_json().to_string(), now],
        )?,
        None => conn.execute(
            "UPDATE matching_preferences SET settings = ?2, last_updated = ?3, updated_at = ?3 WHERE user_id = ?1",
            params![user_id, settings.to_string(), now],
        )?,
    };
    Ok(())
}

/// Stores learned weights (`None` forgets them) and counts the step.
pub fn save_learned(conn: &Connection, user_id: &str, learned: Option<&Weights>) -> ApiResult<()> {
    let now = now_ms();
    match learned {
        Some(w) => conn.execute(
            "UPDATE matching_preferences SET learned_weights = ?2, learning_steps = learning_steps + 1,
                 last_updated = ?3, updated_at = ?3 WHERE user_id = ?1",
            params![user_id, w.to_json().to_string(), now],
        )?,
        None => conn.execute(
            "UPDATE matching_preferences SET learned_weights = NULL, learning_steps = 0,
                 last_updated = ?2, updated_at = ?2 WHERE user_id = ?1",
            params![user_id, now],
        )?,
    };
    Ok(())
}

/// Counts a find-technicians call that returned `returned` matches
/// (creating the preference with defaults on first use, as the original did).
pub fn count_request(conn: &Connection, user_id: &str, returned: usize) -> ApiResult<()> {
    let now = now_ms();
    conn.prepare_cached(
        "INSERT INTO matching_preferences (id, user_id, total_matches, last_match_request, last_updated, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?4, ?4, ?4)
         ON CONFLICT (user_id) DO UPDATE SET total_matches = total_matches + ?3, last_match_request = ?4,
             last_updated = ?4, updated_at = ?4",
    )?
    .execute(params![new_id(), user_id, returned as i64, now])?;
    Ok(())
}

/// Counts a booking made from a match.
pub fn count_booking(conn: &Connection, user_id: &str) -> ApiResult<()> {
    ensure_preference(conn, user_id)?;
    conn.execute(
        "UPDATE matching_preferences SET successful_bookings = successful_bookings + 1, updated_at = ?2
         WHERE user_id = ?1",
        params![user_id, now_ms()],
    )?;
    Ok(())
}

// ---------------------------------------------------------------- weight adjustments

/// One change learning (or a reset) made to a customer's weights.
#[derive(Debug, Clone, PartialEq)]
pub struct AdjustmentRow {
    pub match_id: Option<String>,
    pub signal: String,
    pub before: Value,
    pub after: Value,
    pub explanation: String,
    pub created_at: i64,
}

/// Records an adjustment.
pub fn add_adjustment(
    conn: &Connection,
    user_id: &str,
    match_id: Option<&str>,
    signal: &str,
    before: &Weights,
    after: &Weights,
    explanation: &str,
) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO matching_weight_adjustments (user_id, match_id, signal, before, after, explanation, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            user_id,
            match_id,
            signal,
            before.to_json().to_string(),
            after.to_json().to_string(),
            explanation,
            now_ms()
        ],
    )?;
    Ok(())
}

/// The newest `limit` adjustments of a customer, newest first.
pub fn recent_adjustments(
    conn: &Connection,
    user_id: &str,
    limit: i64,
) -> ApiResult<Vec<AdjustmentRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT match_id, signal, before, after, explanation, created_at FROM matching_weight_adjustments
         WHERE user_id = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![user_id, limit], |r| {
            let before: String = r.get(2)?;
            let after: String = r.get(3)?;
            Ok(AdjustmentRow {
                match_id: r.get(0)?,
                signal: r.get(1)?,
                before: serde_json::from_str(&before).unwrap_or(Value::Null),
                after: serde_json::from_str(&after).unwrap_or(Value::Null),
                explanation: r.get(4)?,
                created_at: r.get(5)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

// ---------------------------------------------------------------- sessions and matches

/// A find-technicians call to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSession {
    pub id: String,
    pub customer_id: String,
    pub category: String,
    pub location: (f64, f64),
    pub address: Option<String>,
    pub urgency: String,
    pub budget_minor: Option<i64>,
    pub preferred_at: Option<i64>,
    pub description: Option<String>,
    pub candidates: usize,
    pub top_score: Option<f64>,
    pub weights: Weights,
    pub duration_us: i64,
    pub expires_at: i64,
    pub created_at: i64,
}

/// One match of a new session.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMatch {
    pub id: String,
    pub technician_id: String,
    pub rank: i64,
    pub overall: f64,
    pub factors: [f64; 9],
    pub distance_km: f64,
    /// One sentence per factor, in factor order.
    pub reasons: Vec<String>,
}

/// Stores a session and its matches (call inside one transaction).
pub fn insert_session(conn: &Connection, s: &NewSession, matches: &[NewMatch]) -> ApiResult<()> {
    conn.prepare_cached(
        "INSERT INTO matching_sessions (id, customer_id, service_category, location_lng, location_lat,
             location_address, urgency, budget_minor, preferred_at, description, candidates, match_count,
             top_score, weights, duration_us, expires_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    )?
    .execute(params![
        s.id,
        s.customer_id,
        s.category,
        s.location.0,
        s.location.1,
        s.address,
        s.urgency,
        s.budget_minor,
        s.preferred_at,
        s.description,
        s.candidates as i64,
        matches.len() as i64,
        s.top_score,
        s.weights.to_json().to_string(),
        s.duration_us,
        s.expires_at,
        s.created_at
    ])?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO matches (id, session_id, customer_id, technician_id, rank, service_category,
             location_lng, location_lat, location_address, urgency, overall, factors, distance_km, reasons,
             expires_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?16)",
    )?;
    for m in matches {
        stmt.execute(params![
            m.id,
            s.id,
            s.customer_id,
            m.technician_id,
            m.rank,
            s.category,
            s.location.0,
            s.location.1,
            s.address,
            s.urgency,
            m.overall,
            serde_json::to_string(&m.factors)?,
            m.distance_km,
            serde_json::to_string(&m.reasons)?,
            s.expires_at,
            s.created_at
        ])?;
    }
    Ok(())
}

/// A stored match, with the weights of its session.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchRow {
    pub id: String,
    pub session_id: String,
    pub customer_id: String,
    pub technician_id: String,
    pub rank: i64,
    pub service_category: String,
    pub location: (f64, f64),
    pub address: Option<String>,
    pub urgency: String,
    pub overall: f64,
    pub factors: [f64; 9],
    pub distance_km: f64,
    /// One sentence per factor, in factor order.
    pub reasons: Vec<String>,
    pub status: String,
    pub action: String,
    pub is_active: bool,
    pub viewed_at: Option<i64>,
    pub responded_at: Option<i64>,
    pub booking_id: Option<String>,
    pub feedback_helpful: Option<bool>,
    pub feedback_rating: Option<i64>,
    pub feedback_comment: Option<String>,
    pub feedback_at: Option<i64>,
    pub feedback_learned: bool,
    pub expires_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub weights: Weights,
    pub budget_minor: Option<i64>,
}

impl MatchRow {
    /// Whether the match can still be accepted or rejected at `now`.
    pub fn is_open(&self, now: i64) -> bool {
        self.is_active
            && matches!(self.status.as_str(), "suggested" | "viewed")
            && self.expires_at > now
    }
}

const MATCH_COLUMNS: &str = "m.id, m.session_id, m.customer_id, m.technician_id, m.rank, m.service_category,
    m.location_lng, m.location_lat, m.location_address, m.urgency, m.overall, m.factors, m.distance_km,
    m.reasons, m.status, m.action, m.is_active, m.viewed_at, m.responded_at, m.booking_id,
    m.feedback_helpful, m.feedback_rating, m.feedback_comment, m.feedback_at, m.feedback_learned,
    m.expires_at, m.created_at, m.updated_at, s.weights, s.budget_minor";

fn match_from_row(r: &Row) -> rusqlite::Result<MatchRow> {
    let factors: String = r.get(11)?;
    let reasons: String = r.get(13)?;
    let weights: String = r.get(28)?;
    Ok(MatchRow {
        id: r.get(0)?,
        session_id: r.get(1)?,
        customer_id: r.get(2)?,
        technician_id: r.get(3)?,
        rank: r.get(4)?,
        service_category: r.get(5)?,
        location: (r.get(6)?, r.get(7)?),
        address: r.get(8)?,
        urgency: r.get(9)?,
        overall: r.get(10)?,
        factors: serde_json::from_str(&factors).unwrap_or([0.0; 9]),
        distance_km: r.get(12)?,
        reasons: serde_json::from_str(&reasons).unwrap_or_default(),
        status: r.get(14)?,
        action: r.get(15)?,
        is_active: r.get(16)?,
        viewed_at: r.get(17)?,
        responded_at: r.get(18)?,
        booking_id: r.get(19)?,
        feedback_helpful: r.get(20)?,
        feedback_rating: r.get(21)?,
        feedback_comment: r.get(22)?,
        feedback_at: r.get(23)?,
        feedback_learned: r.get(24)?,
        expires_at: r.get(25)?,
        created_at: r.get(26)?,
        updated_at: r.get(27)?,
        weights: serde_json::from_str::<Value>(&weights)
            .ok()
            .and_then(|v| Weights::from_stored(&v))
            .unwrap_or_default(),
        budget_minor: r.get(29)?,
    })
}

/// The match with this id, or `None`.
pub fn find_match(conn: &Connection, id: &str) -> ApiResult<Option<MatchRow>> {
    let sql = format!(
        "SELECT {MATCH_COLUMNS} FROM matches m JOIN matching_sessions s ON s.id = m.session_id WHERE m.id = ?1"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], match_from_row)
        .optional()?)
}

/// What `my-matches` filters on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatchFilter {
    pub category: Option<String>,
    /// A stored status; `None` means the open ones (suggested or viewed, active, not expired).
    pub status: Option<String>,
    pub session_id: Option<String>,
}

/// A customer's matches, best first, at most `limit`, leaving out blocked technicians.
pub fn customer_matches(
    conn: &Connection,
    customer_id: &str,
    filter: &MatchFilter,
    now: i64,
    limit: i64,
) -> ApiResult<Vec<MatchRow>> {
    // Open matches past their expiry read as `expired` (see `document::wire_status`).
    let status_clause = match filter.status.as_deref() {
        None => "m.is_active = 1 AND m.expires_at > ?5 AND m.status IN ('suggested','viewed')",
        Some("expired") => {
            "(m.status = ?2 OR (m.status IN ('suggested','viewed') AND m.expires_at <= ?5))"
        }
        Some("suggested" | "viewed") => "m.status = ?2 AND m.expires_at > ?5",
        Some(_) => "m.status = ?2",
    };
    let sql = format!(
        "SELECT {MATCH_COLUMNS} FROM matches m JOIN matching_sessions s ON s.id = m.session_id
         WHERE m.customer_id = ?1 AND {status_clause}
           AND (?3 IS NULL OR m.service_category = ?3)
           AND (?4 IS NULL OR m.session_id = ?4)
           AND m.technician_id NOT IN (SELECT technician_id FROM matching_blocks WHERE customer_id = ?1)
         ORDER BY m.overall DESC, m.created_at DESC, m.id LIMIT ?6"
    );
    let rows = conn
        .prepare_cached(&sql)?
        .query_map(
            params![
                customer_id,
                filter.status,
                filter.category,
                filter.session_id,
                now,
                limit
            ],
            match_from_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The factor scores of every match of a session except `except_id`.
pub fn session_factors(
    conn: &Connection,
    session_id: &str,
    except_id: &str,
) -> ApiResult<Vec<[f64; 9]>> {
    let mut stmt = conn.prepare_cached(
        "SELECT factors FROM matches WHERE session_id = ?1 AND id != ?2 ORDER BY rank",
    )?;
    let rows = stmt
        .query_map(params![session_id, except_id], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows
        .iter()
        .filter_map(|s| serde_json::from_str(s).ok())
        .collect())
}

/// A suggested match becomes viewed (the customer opened it).
pub fn mark_viewed(conn: &Connection, id: &str, now: i64) -> ApiResult<bool> {
    Ok(conn.execute(
        "UPDATE matches SET status = 'viewed', viewed_at = ?2, updated_at = ?2 WHERE id = ?1 AND status = 'suggested'",
        params![id, now],
    )? == 1)
}

/// Accepts an open match (compare-and-set): false when it was not open.
pub fn accept(conn: &Connection, id: &str, now: i64) -> ApiResult<bool> {
    Ok(conn.execute(
        "UPDATE matches SET status = 'accepted', action = 'booked', responded_at = ?2, updated_at = ?2
         WHERE id = ?1 AND status IN ('suggested','viewed') AND is_active = 1 AND expires_at > ?2",
        params![id, now],
    )? == 1)
}

/// Links an accepted match to its booking.
pub fn set_booking(conn: &Connection, id: &str, booking_id: &str) -> ApiResult<()> {
    conn.execute(
        "UPDATE matches SET booking_id = ?2 WHERE id = ?1",
        params![id, booking_id],
    )?;
    Ok(())
}

/// Closes the other open matches of a session once one was accepted:
/// they become `expired` and inactive. Returns how many were closed.
pub fn close_others(
    conn: &Connection,
    session_id: &str,
    accepted_id: &str,
    now: i64,
) -> ApiResult<usize> {
    Ok(conn.execute(
        "UPDATE matches SET status = CASE WHEN status IN ('suggested','viewed') THEN 'expired' ELSE status END,
             is_active = 0, updated_at = ?3
         WHERE session_id = ?1 AND id != ?2 AND is_active = 1",
        params![session_id, accepted_id, now],
    )?)
}

/// Rejects an open match (compare-and-set), keeping the reason as the feedback comment.
pub fn reject(conn: &Connection, id: &str, reason: Option<&str>, now: i64) -> ApiResult<bool> {
    Ok(conn.execute(
        "UPDATE matches SET status = 'rejected', action = 'skipped', responded_at = ?3, updated_at = ?3,
             feedback_helpful = CASE WHEN ?2 IS NULL THEN feedback_helpful ELSE NULL END,
             feedback_rating = CASE WHEN ?2 IS NULL THEN feedback_rating ELSE NULL END,
             feedback_comment = COALESCE(?2, feedback_comment),
             feedback_at = CASE WHEN ?2 IS NULL THEN feedback_at ELSE ?3 END
         WHERE id = ?1 AND status IN ('suggested','viewed') AND is_active = 1 AND expires_at > ?3",
        params![id, reason, now],
    )? == 1)
}

/// Replaces a match's feedback; `learned` marks that it moved the weights.
pub fn set_feedback(
    conn: &Connection,
    id: &str,
    helpful: Option<bool>,
    rating: Option<i64>,
    comment: Option<&str>,
    learned: bool,
    now: i64,
) -> ApiResult<()> {
    conn.execute(
        "UPDATE matches SET feedback_helpful = ?2, feedback_rating = ?3, feedback_comment = ?4, feedback_at = ?5,
             feedback_learned = MAX(feedback_learned, ?6), updated_at = ?5 WHERE id = ?1",
        params![id, helpful, rating, comment, now, learned],
    )?;
    Ok(())
}

/// A technician this customer was pleased with (helpful or rated 4+).
#[derive(Debug, Clone, PartialEq)]
pub struct Favored {
    pub technician_id: String,
    pub count: i64,
    pub avg_rating: Option<f64>,
    pub last_at: i64,
}

/// Technicians this customer gave positive feedback, most recent first.
pub fn favored(conn: &Connection, customer_id: &str) -> ApiResult<Vec<Favored>> {
    let mut stmt = conn.prepare_cached(
        "SELECT technician_id, COUNT(*), AVG(feedback_rating), MAX(feedback_at) FROM matches
         WHERE customer_id = ?1 AND feedback_at IS NOT NULL AND (feedback_helpful = 1 OR feedback_rating >= 4)
         GROUP BY technician_id ORDER BY MAX(feedback_at) DESC LIMIT 50",
    )?;
    let rows = stmt
        .query_map([customer_id], |r| {
            Ok(Favored {
                technician_id: r.get(0)?,
                count: r.get(1)?,
                avg_rating: r.get(2)?,
                last_at: r.get(3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// `(category, sessions, last used)` of a customer's searches, most used first.
pub fn categories(conn: &Connection, customer_id: &str) -> ApiResult<Vec<(String, i64, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT service_category, COUNT(*), MAX(created_at) FROM matching_sessions WHERE customer_id = ?1
         GROUP BY service_category ORDER BY COUNT(*) DESC, MAX(created_at) DESC",
    )?;
    let rows = stmt
        .query_map([customer_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

// ---------------------------------------------------------------- history

/// Records a completed booking between a customer and a technician (idempotent).
pub fn record_completed(
    conn: &Connection,
    booking_id: &str,
    customer_id: &str,
    technician_id: &str,
    at: i64,
) -> ApiResult<()> {
    conn.execute(
        "INSERT OR IGNORE INTO matching_completed_bookings (booking_id, customer_id, technician_id, completed_at)
         VALUES (?1, ?2, ?3, ?4)",
        params![booking_id, customer_id, technician_id, at],
    )?;
    Ok(())
}

/// Records a review rating a customer gave a technician (idempotent).
pub fn record_review(
    conn: &Connection,
    review_id: &str,
    customer_id: &str,
    technician_id: &str,
    rating: f64,
    at: i64,
) -> ApiResult<()> {
    conn.execute(
        "INSERT OR IGNORE INTO matching_review_ratings (review_id, customer_id, technician_id, rating, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![review_id, customer_id, technician_id, rating, at],
    )?;
    Ok(())
}

/// This customer's history with every technician they have one with:
/// completed bookings, and ratings from reviews and match feedback.
pub fn history_for(conn: &Connection, customer_id: &str) -> ApiResult<HashMap<String, History>> {
    let mut out: HashMap<String, History> = HashMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT technician_id, COUNT(*) FROM matching_completed_bookings WHERE customer_id = ?1 GROUP BY technician_id",
    )?;
    for row in stmt.query_map([customer_id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })? {
        let (t, n) = row?;
        out.entry(t).or_default().completed_bookings = n;
    }
    let mut stmt = conn.prepare_cached(
        "SELECT technician_id, SUM(rating), COUNT(*) FROM matching_review_ratings WHERE customer_id = ?1
         GROUP BY technician_id
         UNION ALL
         SELECT technician_id, SUM(feedback_rating), COUNT(*) FROM matches
         WHERE customer_id = ?1 AND feedback_at IS NOT NULL AND feedback_rating IS NOT NULL
         GROUP BY technician_id",
    )?;
    for row in stmt.query_map([customer_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, f64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })? {
        let (t, sum, n) = row?;
        let h = out.entry(t).or_default();
        h.rating_sum += sum;
        h.rating_count += n;
    }
    Ok(out)
}

// ---------------------------------------------------------------- analytics and retention

/// Counts for one quality band.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BandCounts {
    /// Sessions whose best match fell in this band.
    pub sessions: i64,
    pub shown: i64,
    pub accepted: i64,
    pub rejected: i64,
    pub accepted_score_sum: f64,
}

const BAND_SQL: &str = "CASE WHEN {x} IS NULL THEN 'none' WHEN {x} >= 90 THEN 'excellent' WHEN {x} >= 75 THEN 'very_good'
    WHEN {x} >= 60 THEN 'good' WHEN {x} >= 40 THEN 'fair' ELSE 'poor' END";

fn band_of(column: &str) -> String {
    BAND_SQL.replace("{x}", column)
}

/// Counts by band since `since` (ms; `None` = everything retained plus the
/// roll-up of purged days). Keys are the band names plus `none`.
pub fn analytics(conn: &Connection, since: Option<i64>) -> ApiResult<HashMap<String, BandCounts>> {
    let since = since.unwrap_or(i64::MIN);
    let mut out: HashMap<String, BandCounts> = QUALITIES
        .iter()
        .map(|q| (q.as_str().to_string(), BandCounts::default()))
        .chain([("none".to_string(), BandCounts::default())])
        .collect();
    let sql = format!(
        "SELECT {band}, COUNT(*), COALESCE(SUM(status = 'accepted'), 0), COALESCE(SUM(status = 'rejected'), 0),
                COALESCE(SUM(CASE WHEN status = 'accepted' THEN overall ELSE 0 END), 0)
         FROM matches WHERE created_at >= ?1 GROUP BY 1",
        band = band_of("overall")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    for row in stmt.query_map([since], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, f64>(4)?,
        ))
    })? {
        let (band, shown, accepted, rejected, sum) = row?;
        let b = out.entry(band).or_default();
        b.shown += shown;
        b.accepted += accepted;
        b.rejected += rejected;
        b.accepted_score_sum += sum;
    }
    let sql = format!(
        "SELECT {band}, COUNT(*) FROM matching_sessions WHERE created_at >= ?1 GROUP BY 1",
        band = band_of("top_score")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    for row in stmt.query_map([since], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })? {
        let (band, n) = row?;
        out.entry(band).or_default().sessions += n;
    }
    let since_day = if since == i64::MIN {
        i64::MIN
    } else {
        since.div_euclid(86_400_000)
    };
    let mut stmt = conn.prepare_cached(
        "SELECT band, SUM(sessions), SUM(shown), SUM(accepted), SUM(rejected), SUM(accepted_score_sum)
         FROM matching_rollup WHERE day >= ?1 GROUP BY band",
    )?;
    for row in stmt.query_map([since_day], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, f64>(5)?,
        ))
    })? {
        let (band, sessions, shown, accepted, rejected, sum) = row?;
        let b = out.entry(band).or_default();
        b.sessions += sessions;
        b.shown += shown;
        b.accepted += accepted;
        b.rejected += rejected;
        b.accepted_score_sum += sum;
    }
    Ok(out)
}

/// What a purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Purged {
    pub sessions: usize,
    pub matches: usize,
    pub adjustments: usize,
}

/// Removes sessions, matches and weight adjustments created before
/// `cutoff` (ms), first adding their anonymous counts to the daily roll-up.
/// Preferences, blocks and the booking/review history stay.
pub fn purge(conn: &Connection, cutoff: i64) -> ApiResult<Purged> {
    let sql = format!(
        "INSERT INTO matching_rollup (day, band, shown, accepted, rejected, accepted_score_sum)
         SELECT created_at / 86400000, {band}, COUNT(*), SUM(status = 'accepted'), SUM(status = 'rejected'),
                SUM(CASE WHEN status = 'accepted' THEN overall ELSE 0 END)
         FROM matches WHERE created_at < ?1 GROUP BY 1, 2
         ON CONFLICT (day, band) DO UPDATE SET shown = shown + excluded.shown,
             accepted = accepted + excluded.accepted, rejected = rejected + excluded.rejected,
             accepted_score_sum = accepted_score_sum + excluded.accepted_score_sum",
        band = band_of("overall")
    );
    conn.execute(&sql, [cutoff])?;
    let sql = format!(
        "INSERT INTO matching_rollup (day, band, sessions)
         SELECT created_at / 86400000, {band}, COUNT(*) FROM matching_sessions WHERE created_at < ?1 GROUP BY 1, 2
         ON CONFLICT (day, band) DO UPDATE SET sessions = sessions + excluded.sessions",
        band = band_of("top_score")
    );
    conn.execute(&sql, [cutoff])?;
    let matches = conn.execute("DELETE FROM matches WHERE created_at < ?1", [cutoff])?;
    let sessions = conn.execute(
        "DELETE FROM matching_sessions WHERE created_at < ?1",
        [cutoff],
    )?;
    let adjustments = conn.execute(
        "DELETE FROM matching_weight_adjustments WHERE created_at < ?1",
        [cutoff],
    )?;
    Ok(Purged {
        sessions,
        matches,
        adjustments,
    })
}

/// Whether the maintenance job `name` should schedule its successor now:
/// true (and the next run recorded at `next_at`) unless a run already did
/// so for a time after `now`.
pub fn claim_next_run(conn: &Connection, name: &str, now: i64, next_at: i64) -> ApiResult<bool> {
    let changed = conn.execute(
        "INSERT INTO matching_maintenance (name, next_run_at) VALUES (?1, ?3)
         ON CONFLICT (name) DO UPDATE SET next_run_at = ?3 WHERE next_run_at <= ?2 + 60000",
        params![name, now, next_at],
    )?;
    Ok(changed == 1)
}
