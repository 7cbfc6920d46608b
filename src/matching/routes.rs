//! `/api/v1/matching`: find technicians (scored sessions of matches), the
//! customer's matches, accept (creates the booking), reject, feedback,
//! preferences with custom and learned weights, blocks, admin analytics.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::extract::{CurrentUser, Role};
use crate::bookings::store::{self as bookings, NewBooking};
use crate::error::{check, finish, ApiError, ApiResult, FieldError};
use crate::http::{AppJson, AppQuery};
use crate::ids::{is_valid_id, iso, new_id, now_ms, parse_datetime};
use crate::openapi::schemas::ErrorBody;
use crate::state::AppState;
use crate::users::technician::{self, is_service_category, Technician};

use super::candidates;
use super::document::{self, LearningView};
use super::model::{
    self, learn, reasons, round_to, Candidate, History, MatchRequest, Signal, Urgency, Weights,
    QUALITIES,
};
use super::preferences::{self, engine_settings, with_defaults};
use super::schemas;
use super::store::{self, MatchFilter, MatchRow, NewMatch, NewSession};

/// Default and largest number of matches one search returns.
const DEFAULT_LIMIT: usize = 5;
const MAX_LIMIT: usize = 20;
/// Matches `my-matches` returns by default (the original's fixed 10) and at most.
const MY_MATCHES_DEFAULT: i64 = 10;
const MY_MATCHES_MAX: i64 = 100;
/// Adjustments shown in the preference document.
const ADJUSTMENTS_SHOWN: i64 = 10;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(find_technicians))
        .routes(routes!(my_matches))
        .routes(routes!(get_preferences, update_preferences))
        .routes(routes!(reset_learning))
        .routes(routes!(analytics))
        .routes(routes!(get_match))
        .routes(routes!(accept_match))
        .routes(routes!(reject_match))
        .routes(routes!(match_feedback))
        .routes(routes!(block_technician, unblock_technician))
}

// ---------------------------------------------------------------- input helpers

fn object(body: Value) -> ApiResult<Map<String, Value>> {
    match body {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::field("body", "The body must be a JSON object")),
    }
}

/// An optional trimmed string of at most `max` characters.
fn opt_text(
    body: &Map<String, Value>,
    key: &str,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match body.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let s = s.trim();
            check(
                errors,
                s.chars().count() <= max,
                key,
                &format!("{key} can be at most {max} characters"),
            );
            (!s.is_empty()).then(|| s.to_string())
        }
        Some(_) => {
            check(errors, false, key, &format!("{key} must be text"));
            None
        }
    }
}

/// An amount in major units (> 0, at most two decimals) as minor units.
fn amount_minor(v: &Value) -> Option<i64> {
    let x = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    let minor = x * 100.0;
    (x.is_finite() && x > 0.0 && x <= 100_000_000.0 && (minor - minor.round()).abs() < 1e-6)
        .then(|| minor.round() as i64)
}

/// Dates and times without a zone are read in the marketplace's local time.
fn local_to_utc_ms(state: &AppState, date: NaiveDate, time: NaiveTime) -> i64 {
    date.and_time(time).and_utc().timestamp_millis()
        - state.config.matching_utc_offset_mins * 60_000
}

/// `(YYYY-MM-DD, HH:MM)` in local time of an instant.
fn local_date_time(state: &AppState, at_ms: i64) -> (String, String) {
    let local = Utc
        .timestamp_millis_opt(at_ms + state.config.matching_utc_offset_mins * 60_000)
        .single()
        .unwrap_or_default();
    (
        local.format("%Y-%m-%d").to_string(),
        local.format("%H:%M").to_string(),
    )
}

/// 404 for a malformed id.
fn valid_id(id: &str, what: &str) -> ApiResult<()> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(ApiError::not_found(what))
    }
}

fn milliseconds(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// ---------------------------------------------------------------- find-technicians

struct FindInput {
    category: String,
    location: (f64, f64),
    address: Option<String>,
    urgency: Option<Urgency>,
    budget_minor: Option<i64>,
    preferred_at: Option<i64>,
    description: Option<String>,
    limit: usize,
}

fn parse_find(body: Map<String, Value>) -> ApiResult<FindInput> {
    let mut errors = Vec::new();
    let category = body
        .get("serviceCategory")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|c| is_service_category(c))
        .map(String::from);
    check(
        &mut errors,
        category.is_some(),
        "serviceCategory",
        "Valid service category is required",
    );
    let location = body.get("location");
    let coords = location
        .and_then(|l| l.get("coordinates"))
        .and_then(Value::as_array);
    let mut point = None;
    match coords.map(Vec::as_slice) {
        Some([lng, lat]) => match (lng.as_f64(), lat.as_f64()) {
            (Some(lng), Some(lat))
                if (-180.0..=180.0).contains(&lng) && (-90.0..=90.0).contains(&lat) =>
            {
                point = Some((lng, lat))
            }
            (Some(_), Some(_)) => check(
                &mut errors,
                false,
                "location.coordinates",
                "Coordinates must be a longitude (-180 to 180) and a latitude (-90 to 90)",
            ),
            _ => check(
                &mut errors,
                false,
                "location.coordinates",
                "Coordinates must be numbers",
            ),
        },
        _ => check(
            &mut errors,
            false,
            "location.coordinates",
            "Location coordinates [longitude, latitude] are required",
        ),
    }
    let address = match location.and_then(|l| l.get("address")) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            check(
                &mut errors,
                s.chars().count() <= 300,
                "location.address",
                "Address can be at most 300 characters",
            );
            Some(s.trim().to_string()).filter(|s| !s.is_empty())
        }
        Some(_) => {
            check(
                &mut errors,
                false,
                "location.address",
                "Address must be text",
            );
            None
        }
    };
    let urgency = match body.get("urgency") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let u = v.as_str().and_then(|s| Urgency::parse(s.trim()));
            check(
                &mut errors,
                u.is_some(),
                "urgency",
                "Urgency must be low, medium, high or emergency",
            );
            u
        }
    };
    let budget_minor = match body.get("budget") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let b = amount_minor(v);
            check(
                &mut errors,
                b.is_some(),
                "budget",
                "Budget must be an amount above 0 with at most two decimals",
            );
            b
        }
    };
    let preferred_at = match body.get("preferredDate") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let at = v.as_str().and_then(|s| parse_datetime(s.trim()));
            check(
                &mut errors,
                at.is_some(),
                "preferredDate",
                "Preferred date must be an ISO 8601 date",
            );
            at
        }
    };
    let description = opt_text(&body, "description", 1000, &mut errors);
    let limit = match body.get("limit") {
        None | Some(Value::Null) => DEFAULT_LIMIT,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=MAX_LIMIT as u64).contains(&n) => n as usize,
            _ => {
                check(
                    &mut errors,
                    false,
                    "limit",
                    "limit must be a whole number from 1 to 20",
                );
                DEFAULT_LIMIT
            }
        },
    };
    finish(errors)?;
    let (Some(category), Some(location)) = (category, point) else {
        return Err(ApiError::BadRequest("Validation failed".into()));
    };
    Ok(FindInput {
        category,
        location,
        address,
        urgency,
        budget_minor,
        preferred_at,
        description,
        limit,
    })
}

/// What the read phase of a search produced.
struct Scored {
    request: MatchRequest,
    weights: Weights,
    max_distance: f64,
    min_rating: f64,
    /// `(technician, distance, score, history)`, best first, at most the limit.
    top: Vec<(Arc<Technician>, f64, model::Score, History)>,
    candidates: usize,
    geo: Duration,
    load: Duration,
    loaded: usize,
    score: Duration,
}

/// Scores every candidate of the request (read connection only).
fn score_candidates(
    state: &AppState,
    conn: &Connection,
    user_id: &str,
    input: &FindInput,
) -> ApiResult<Scored> {
    let pref = store::find_preference(conn, user_id)?;
    let settings = with_defaults(pref.as_ref().map(|p| &p.settings).unwrap_or(&Value::Null));
    let engine = engine_settings(&settings);
    let weights = pref.as_ref().map(|p| p.weights()).unwrap_or_default();
    let blocked = store::blocked_technicians(conn, user_id)?;
    let mut history = store::history_for(conn, user_id)?;
    for id in &engine.preferred_technicians {
        history.entry(id.clone()).or_default().is_preferred = true;
    }
    let urgency = input
        .urgency
        .or_else(|| Urgency::parse(&engine.default_urgency))
        .unwrap_or(Urgency::Medium);
    let request = MatchRequest {
        category: input.category.clone(),
        location: input.location,
        urgency,
        budget_minor: input.budget_minor,
        preferred_at: input.preferred_at,
        max_distance_km: engine.max_distance_km,
        min_rating: engine.min_rating,
        max_rate_minor: engine.max_rate_minor,
        min_years_experience: engine.min_years_experience,
        utc_offset_mins: state.config.matching_utc_offset_mins,
        require_kyc: state.config.require_technician_kyc,
    };
    let found = candidates::search(
        &state.geo,
        &state.matching.profiles,
        conn,
        &request,
        &blocked,
    )?;
    let started = Instant::now();
    let none = History::default();
    let mut scored: Vec<(usize, model::Score)> = found
        .candidates
        .iter()
        .enumerate()
        .filter_map(|(i, (t, d))| {
            let h = history.get(&t.id).unwrap_or(&none);
            let cand = Candidate {
                technician: t,
                distance_km: *d,
            };
            model::score(&request, &cand, &weights, h)
                .ok()
                .map(|s| (i, s))
        })
        .collect();
    let total = scored.len();
    // Best overall first; nearer, then better rated, then id break ties.
    let order = |a: &(usize, model::Score), b: &(usize, model::Score)| {
        let (ta, da) = &found.candidates[a.0];
        let (tb, db) = &found.candidates[b.0];
        b.1.overall
            .total_cmp(&a.1.overall)
            .then(da.total_cmp(db))
            .then(tb.rating_avg.total_cmp(&ta.rating_avg))
            .then(ta.id.cmp(&tb.id))
    };
    if scored.len() > input.limit {
        scored.select_nth_unstable_by(input.limit - 1, order);
        scored.truncate(input.limit);
    }
    scored.sort_by(order);
    let top = scored
        .into_iter()
        .map(|(i, s)| {
            let (t, d) = &found.candidates[i];
            let h = history.get(&t.id).cloned().unwrap_or_default();
            (t.clone(), *d, s, h)
        })
        .collect();
    Ok(Scored {
        request,
        weights,
        max_distance: engine.max_distance_km,
        min_rating: engine.min_rating,
        top,
        candidates: total,
        geo: found.geo,
        load: found.load,
        loaded: found.loaded,
        score: started.elapsed(),
    })
}

/// Find and score technicians for a job; the best (default 5, at most 20) are kept as one session.
#[utoipa::path(post, path = "/find-technicians", tag = "matching", request_body = schemas::FindBody,
    security(("bearer" = [])),
    responses(
        (status = 200, body = schemas::FindResponse,
         description = "Matches, best first. The Server-Timing header splits the time: geo (R-tree), load (records), score, store."),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn find_technicians(
    State(state): State<AppState>,
    user: CurrentUser,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Response> {
    user.require_role(&[Role::Customer, Role::Corporate])?;
    let input = parse_find(object(body)?)?;
    let started = Instant::now();
    let st = state.clone();
    let uid = user.id.clone();
    let (scored, input) = state
        .db
        .read(move |c| {
            let scored = score_candidates(&st, c, &uid, &input)?;
            Ok((scored, input))
        })
        .await?;

    let now = now_ms();
    let session = NewSession {
        id: uuid::Uuid::new_v4().to_string(),
        customer_id: user.id.clone(),
        category: input.category.clone(),
        location: input.location,
        address: input.address.clone(),
        urgency: scored.request.urgency.as_str().to_string(),
        budget_minor: input.budget_minor,
        preferred_at: input.preferred_at,
        description: input.description.clone(),
        candidates: scored.candidates,
        top_score: scored.top.first().map(|t| t.2.overall),
        weights: scored.weights,
        duration_us: started.elapsed().as_micros() as i64,
        expires_at: now + state.config.matching_match_ttl_hours as i64 * 3_600_000,
        created_at: now,
    };
    let matches: Vec<NewMatch> = scored
        .top
        .iter()
        .enumerate()
        .map(|(rank, (t, d, s, h))| {
            let cand = Candidate {
                technician: t,
                distance_km: *d,
            };
            let why = reasons(&scored.request, &cand, h, s, &scored.weights);
            NewMatch {
                id: new_id(),
                technician_id: t.id.clone(),
                rank: rank as i64 + 1,
                overall: s.overall,
                factors: s.factors,
                distance_km: *d,
                reasons: why.into_iter().map(|r| r.text).collect(),
            }
        })
        .collect();
    let store_started = Instant::now();
    // Sessions stored by concurrent searches share commits (the writer's
    // group commit); the answer waits for this one's.
    let (stored, rows) = (session.clone(), matches.clone());
    state
        .db
        .write(move |tx| {
            store::insert_session(tx, &stored, &rows)?;
            store::count_request(tx, &stored.customer_id, rows.len())
        })
        .await?;
    let store_time = store_started.elapsed();

    let data: Vec<Value> = matches
        .iter()
        .zip(scored.top.iter())
        .map(|(m, (t, ..))| {
            let row = document::new_row(&session, m);
            document::match_json(&row, document::technician_card(t), json!(user.id), now)
        })
        .collect();
    tracing::debug!(
        candidates = scored.candidates,
        loaded = scored.loaded,
        geo_ms = milliseconds(scored.geo),
        load_ms = milliseconds(scored.load),
        score_ms = milliseconds(scored.score),
        store_ms = milliseconds(store_time),
        "matching session stored"
    );
    let timing = format!(
        "geo;dur={:.3}, load;dur={:.3}, score;dur={:.3}, store;dur={:.3}, candidates;desc=\"{}\", loaded;desc=\"{}\"",
        milliseconds(scored.geo),
        milliseconds(scored.load),
        milliseconds(scored.score),
        milliseconds(store_time),
        scored.candidates,
        scored.loaded
    );
    let mut res = Json(json!({
        "success": true,
        "count": data.len(),
        "data": data,
        "sessionId": session.id,
        "preferences": {"maxDistance": scored.max_distance, "minRating": scored.min_rating},
    }))
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&timing) {
        res.headers_mut().insert("server-timing", v);
    }
    Ok(res)
}

// ---------------------------------------------------------------- reading matches

/// Technician cards of `ids`, by id (fresh from the users module).
fn technician_cards(conn: &Connection, ids: &[String]) -> ApiResult<HashMap<String, Value>> {
    let unique: Vec<String> = ids
        .iter()
        .cloned()
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    Ok(technician::find_many(conn, &unique)?
        .iter()
        .map(|t| (t.id.clone(), document::technician_card(t)))
        .collect())
}

fn card_or_id(cards: &HashMap<String, Value>, id: &str) -> Value {
    cards
        .get(id)
        .cloned()
        .unwrap_or_else(|| document::missing_technician(id))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct MyMatchesQuery {
    /// Only matches of this service category.
    service_category: Option<String>,
    /// suggested, viewed, contacted, accepted, rejected or expired; default: the open ones.
    status: Option<String>,
    /// Only the matches of one search.
    session_id: Option<String>,
    /// 1 to 100, default 10.
    limit: Option<String>,
}

/// The caller's matches as customer: by default the open ones (suggested or viewed, not expired), best first.
#[utoipa::path(get, path = "/my-matches", tag = "matching", params(MyMatchesQuery), security(("bearer" = [])),
    responses((status = 200, body = schemas::MatchList), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn my_matches(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(q): AppQuery<MyMatchesQuery>,
) -> ApiResult<Json<Value>> {
    let mut errors = Vec::new();
    let category = q
        .service_category
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    check(
        &mut errors,
        category.as_deref().is_none_or(is_service_category),
        "serviceCategory",
        "Valid service category is required",
    );
    const STATUSES: [&str; 6] = [
        "suggested",
        "viewed",
        "contacted",
        "accepted",
        "rejected",
        "expired",
    ];
    let status = q
        .status
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    check(
        &mut errors,
        status.as_deref().is_none_or(|s| STATUSES.contains(&s)),
        "status",
        "status must be suggested, viewed, contacted, accepted, rejected or expired",
    );
    let session_id = q
        .session_id
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    check(
        &mut errors,
        session_id.as_deref().is_none_or(|s| s.len() <= 64),
        "sessionId",
        "sessionId is not valid",
    );
    let limit = match q.limit.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => MY_MATCHES_DEFAULT,
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if (1..=MY_MATCHES_MAX).contains(&n) => n,
            _ => {
                check(
                    &mut errors,
                    false,
                    "limit",
                    "limit must be a whole number from 1 to 100",
                );
                MY_MATCHES_DEFAULT
            }
        },
    };
    finish(errors)?;
    let filter = MatchFilter {
        category,
        status,
        session_id,
    };
    let uid = user.id.clone();
    let now = now_ms();
    let (rows, cards) = state
        .db
        .read(move |c| {
            let rows = store::customer_matches(c, &uid, &filter, now, limit)?;
            let ids: Vec<String> = rows.iter().map(|r| r.technician_id.clone()).collect();
            let cards = technician_cards(c, &ids)?;
            Ok((rows, cards))
        })
        .await?;
    let data: Vec<Value> = rows
        .iter()
        .map(|m| {
            document::match_json(
                m,
                card_or_id(&cards, &m.technician_id),
                json!(m.customer_id),
                now,
            )
        })
        .collect();
    Ok(Json(
        json!({"success": true, "count": data.len(), "data": data}),
    ))
}

/// The match of `id` if the caller is its customer or technician; 404 otherwise.
fn participant_match(conn: &Connection, id: &str, user_id: &str) -> ApiResult<MatchRow> {
    match store::find_match(conn, id)? {
        Some(m) if m.customer_id == user_id || m.technician_id == user_id => Ok(m),
        _ => Err(ApiError::not_found("Matching")),
    }
}

/// The match of `id` for an action only its customer may take: 404 for
/// strangers, 403 for the matched technician.
fn customer_match(conn: &Connection, id: &str, user_id: &str) -> ApiResult<MatchRow> {
    let m = participant_match(conn, id, user_id)?;
    if m.customer_id != user_id {
        return Err(ApiError::Forbidden("Not authorized".into()));
    }
    Ok(m)
}

/// The full document of one match, customer and technician populated.
fn populated(conn: &Connection, m: &MatchRow, now: i64) -> ApiResult<Value> {
    let tech = technician::find(conn, &m.technician_id)?
        .map(|t| document::technician_card(&t))
        .unwrap_or_else(|| document::missing_technician(&m.technician_id));
    let customer = crate::auth::store::find_by_id(conn, &m.customer_id)?
        .map(|a| document::customer_card(&a))
        .unwrap_or_else(|| json!(m.customer_id));
    Ok(document::match_json(m, tech, customer, now))
}

/// One match, for its customer or its technician. The customer opening a suggested match marks it viewed.
#[utoipa::path(get, path = "/{id}", tag = "matching", security(("bearer" = [])),
    params(("id" = String, Path, description = "Matching id")),
    responses((status = 200, body = schemas::MatchResponse), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn get_match(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    valid_id(&id, "Matching")?;
    let uid = user.id.clone();
    let m = {
        let (id, uid) = (id.clone(), uid.clone());
        state
            .db
            .read(move |c| participant_match(c, &id, &uid))
            .await?
    };
    let now = now_ms();
    let doc = if m.customer_id == uid && m.status == "suggested" {
        state
            .db
            .write(move |tx| {
                store::mark_viewed(tx, &id, now)?;
                let m = participant_match(tx, &id, &uid)?;
                populated(tx, &m, now)
            })
            .await?
    } else {
        state.db.read(move |c| populated(c, &m, now)).await?
    };
    Ok(Json(json!({"success": true, "data": doc})))
}

// ---------------------------------------------------------------- accept, reject, feedback

/// 409 explaining why a match cannot be answered any more.
fn not_open(m: &MatchRow, now: i64) -> ApiError {
    let message = match m.status.as_str() {
        "accepted" => "This match was already accepted",
        "rejected" => "This match was rejected",
        _ if m.expires_at <= now => "This match has expired; search again",
        _ => "This match is closed: another technician of the same search was booked",
    };
    ApiError::Conflict(message.into())
}

/// Applies learning for `signal` on match `m`, in the caller's transaction.
fn apply_learning(
    conn: &Connection,
    m: &MatchRow,
    signal: Signal,
    technician_name: &str,
) -> ApiResult<()> {
    let pref = store::ensure_preference(conn, &m.customer_id)?;
    let settings = with_defaults(&pref.settings);
    if !engine_settings(&settings).allow_learning {
        return Ok(());
    }
    let others = store::session_factors(conn, &m.session_id, &m.id)?;
    if let Some(adj) = learn(
        &pref.weights(),
        &pref.base_weights(),
        &m.factors,
        &others,
        signal,
        technician_name,
    ) {
        store::save_learned(conn, &m.customer_id, Some(&adj.after))?;
        store::add_adjustment(
            conn,
            &m.customer_id,
            Some(&m.id),
            &signal.as_str(),
            &adj.before,
            &adj.after,
            &adj.explanation,
        )?;
    }
    Ok(())
}

/// "John D." for explanations.
fn short_name(t: Option<&Technician>) -> String {
    match t {
        Some(t) => format!(
            "{} {}.",
            t.first_name,
            t.last_name
                .chars()
                .next()
                .map(String::from)
                .unwrap_or_default()
        ),
        None => "this technician".into(),
    }
}

struct AcceptInput {
    scheduled_at: i64,
    duration_mins: i64,
    description: String,
    service_type: Option<String>,
}

fn parse_accept(state: &AppState, body: &Map<String, Value>) -> ApiResult<AcceptInput> {
    let mut errors = Vec::new();
    let date_raw = body
        .get("scheduledDate")
        .and_then(Value::as_str)
        .map(str::trim);
    let time_raw = body.get("scheduledTime");
    let time = match time_raw {
        None | Some(Value::Null) => None,
        Some(v) => {
            let t = v
                .as_str()
                .map(str::trim)
                .filter(|s| {
                    let Some((h, m)) = s.split_once(':') else {
                        return false;
                    };
                    (1..=2).contains(&h.len())
                        && m.len() == 2
                        && h.chars().all(|c| c.is_ascii_digit())
                        && m.chars().all(|c| c.is_ascii_digit())
                })
                .and_then(|s| NaiveTime::parse_from_str(s, "%H:%M").ok());
            check(
                &mut errors,
                t.is_some(),
                "scheduledTime",
                "Valid time in HH:MM format is required",
            );
            t
        }
    };
    let mut scheduled_at = None;
    match date_raw.filter(|s| parse_datetime(s).is_some()) {
        None => check(
            &mut errors,
            false,
            "scheduledDate",
            "Valid scheduled date is required",
        ),
        Some(raw) => {
            let has_time = raw.contains('T');
            match (time, has_time) {
                (Some(t), _) => {
                    scheduled_at = raw
                        .get(..10)
                        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                        .map(|d| local_to_utc_ms(state, d, t));
                    check(
                        &mut errors,
                        scheduled_at.is_some(),
                        "scheduledDate",
                        "Valid scheduled date is required",
                    );
                }
                (None, true) => scheduled_at = parse_datetime(raw),
                (None, false) => {
                    if time_raw.is_none() || time_raw == Some(&Value::Null) {
                        check(
                            &mut errors,
                            false,
                            "scheduledTime",
                            "Valid time in HH:MM format is required",
                        );
                    }
                }
            }
        }
    }
    if let Some(at) = scheduled_at {
        check(
            &mut errors,
            at > now_ms() - 60_000,
            "scheduledDate",
            "Scheduled date must be in the future",
        );
    }
    let duration_mins = match body.get("estimatedDuration") {
        None | Some(Value::Null) => 120,
        Some(v) => {
            let x = v
                .as_f64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()));
            let mins = x.filter(|x| x.is_finite() && *x > 0.0).map(|x| {
                if x <= 24.0 {
                    (x * 60.0).round() as i64
                } else {
                    x.round() as i64
                }
            });
            let ok = mins.is_some_and(|m| (1..=1440).contains(&m));
            check(
                &mut errors,
                ok,
                "estimatedDuration",
                "Estimated duration must be up to 24 hours (or 25 to 1440 minutes)",
            );
            mins.unwrap_or(120)
        }
    };
    let description = opt_text(body, "description", 1000, &mut errors)
        .unwrap_or_else(|| "Booking from AI match".to_string());
    let service_type = opt_text(body, "serviceType", 100, &mut errors);
    finish(errors)?;
    let scheduled_at = scheduled_at
        .ok_or_else(|| ApiError::field("scheduledDate", "Valid scheduled date is required"))?;
    Ok(AcceptInput {
        scheduled_at,
        duration_mins,
        description,
        service_type,
    })
}

/// Accept a match: creates the booking with that technician (awaiting their acceptance) and closes the session's other matches.
#[utoipa::path(post, path = "/{id}/accept", tag = "matching", request_body = schemas::AcceptBody,
    security(("bearer" = [])), params(("id" = String, Path, description = "Matching id")),
    responses((status = 201, body = schemas::AcceptResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "Already accepted, rejected, expired or closed; or the technician can no longer be booked"),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn accept_match(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    valid_id(&id, "Matching")?;
    let body = object(body)?;
    let input = parse_accept(&state, &body)?;
    let uid = user.id.clone();
    let st = state.clone();
    let (doc, booking) = state
        .db
        .write(move |tx| {
            let now = now_ms();
            let m = customer_match(tx, &id, &uid)?;
            if !m.is_open(now) {
                return Err(not_open(&m, now));
            }
            if store::blocked_technicians(tx, &uid)?.contains(&m.technician_id) {
                return Err(ApiError::Conflict("You blocked this technician".into()));
            }
            let tech = technician::find(tx, &m.technician_id)?
                .filter(|t| t.is_bookable(st.config.require_technician_kyc) && t.offers(&m.service_category))
                .ok_or_else(|| ApiError::Conflict("This technician can no longer take this booking".into()))?;
            if !store::accept(tx, &id, now)? {
                return Err(not_open(&m, now));
            }
            let new = NewBooking {
                customer_id: uid.clone(),
                technician_id: Some(tech.id.clone()),
                service_category: m.service_category.clone(),
                service_type: input
                    .service_type
                    .clone()
                    .unwrap_or_else(|| m.service_category.clone()),
                description: input.description.clone(),
                urgency: m.urgency.clone(),
                scheduled_at: input.scheduled_at,
                estimated_duration_mins: input.duration_mins,
                location: m.location,
                address: m
                    .address
                    .clone()
                    .unwrap_or_else(|| format!("{:.5}, {:.5}", m.location.1, m.location.0)),
                budget_minor: m.budget_minor,
                source: "api".into(),
                match_score: Some(m.overall),
            };
            let booking_id = bookings::create(tx, &new, &uid)?;
            store::set_booking(tx, &id, &booking_id)?;
            store::close_others(tx, &m.session_id, &id, now)?;
            store::count_booking(tx, &uid)?;
            apply_learning(tx, &m, Signal::Accepted, &short_name(Some(&tech)))?;
            let parties = bookings::find_parties(tx, &booking_id)?;
            let row = store::find_match(tx, &id)?.ok_or_else(|| ApiError::internal("accepted match vanished"))?;
            let doc = document::match_json(&row, document::technician_card(&tech), json!(uid), now);
            let (date, start) = local_date_time(&st, input.scheduled_at);
            let (_, end) = local_date_time(&st, input.scheduled_at + input.duration_mins * 60_000);
            let location = json!({"type": "Point", "coordinates": [m.location.0, m.location.1], "address": new.address});
            let (status, total_minor, currency) = parties
                .map(|p| (p.status, p.total_minor, p.currency))
                .unwrap_or_else(|| ("awaiting_acceptance".into(), 0, "KES".into()));
            let booking = json!({
                "_id": booking_id,
                "id": booking_id,
                "status": status,
                "customer": uid,
                "technician": tech.id,
                "serviceCategory": new.service_category,
                "serviceType": new.service_type,
                "description": new.description,
                "urgency": new.urgency,
                "scheduledDate": iso(input.scheduled_at),
                "timeSlot": {"date": date, "startTime": start, "endTime": end, "estimatedDuration": input.duration_mins},
                "serviceLocation": location,
                "pricing": {"totalAmount": total_minor as f64 / 100.0, "currency": currency},
                "source": "api",
                "matchScore": m.overall,
                "matching": m.id,
            });
            Ok((doc, booking))
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "success": true,
            "message": "Match accepted and booking created",
            "data": {"matching": doc, "booking": booking},
        })),
    ))
}

/// Reject a match (optionally saying why); the engine learns from it.
#[utoipa::path(post, path = "/{id}/reject", tag = "matching", request_body = schemas::RejectBody,
    security(("bearer" = [])), params(("id" = String, Path, description = "Matching id")),
    responses((status = 200, body = schemas::MatchResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn reject_match(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Json<Value>> {
    valid_id(&id, "Matching")?;
    let body = object(body)?;
    let mut errors = Vec::new();
    let reason = opt_text(&body, "reason", 500, &mut errors);
    finish(errors)?;
    let uid = user.id.clone();
    let doc = state
        .db
        .write(move |tx| {
            let now = now_ms();
            let m = customer_match(tx, &id, &uid)?;
            if !store::reject(tx, &id, reason.as_deref(), now)? {
                return Err(not_open(&m, now));
            }
            let tech = technician::find(tx, &m.technician_id)?;
            apply_learning(tx, &m, Signal::Rejected, &short_name(tech.as_ref()))?;
            let row = store::find_match(tx, &id)?
                .ok_or_else(|| ApiError::internal("rejected match vanished"))?;
            let card = tech
                .as_ref()
                .map(document::technician_card)
                .unwrap_or_else(|| document::missing_technician(&m.technician_id));
            Ok(document::match_json(&row, card, json!(uid), now))
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Match rejected", "data": doc}),
    ))
}

/// Rate a match (1-5) and say whether it helped; the first rating teaches the engine.
#[utoipa::path(post, path = "/{id}/feedback", tag = "matching", request_body = schemas::FeedbackBody,
    security(("bearer" = [])), params(("id" = String, Path, description = "Matching id")),
    responses((status = 200, body = schemas::MatchResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn match_feedback(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Json<Value>> {
    valid_id(&id, "Matching")?;
    let body = object(body)?;
    let mut errors = Vec::new();
    let helpful = match body.get("helpful") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            check(
                &mut errors,
                false,
                "helpful",
                "helpful must be true or false",
            );
            None
        }
    };
    let rating = match body.get("rating") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let r = v.as_i64().filter(|r| (1..=5).contains(r));
            check(
                &mut errors,
                r.is_some(),
                "rating",
                "Rating must be a whole number from 1 to 5",
            );
            r
        }
    };
    if let Some(a) = body.get("accuracy").filter(|v| !v.is_null()) {
        check(
            &mut errors,
            matches!(
                a.as_str(),
                Some("accurate" | "partially_accurate" | "inaccurate")
            ),
            "accuracy",
            "accuracy must be accurate, partially_accurate or inaccurate",
        );
    }
    let comment = opt_text(&body, "comment", 500, &mut errors);
    finish(errors)?;
    let uid = user.id.clone();
    let doc = state
        .db
        .write(move |tx| {
            let now = now_ms();
            let m = customer_match(tx, &id, &uid)?;
            let signal = match (rating, helpful) {
                (Some(r), _) => Some(Signal::Rated(r as u8)),
                (None, Some(h)) => Some(Signal::Helpful(h)),
                (None, None) => None,
            };
            let learns = !m.feedback_learned && signal.is_some_and(|s| s.strength() != 0.0);
            store::set_feedback(tx, &id, helpful, rating, comment.as_deref(), learns, now)?;
            let tech = technician::find(tx, &m.technician_id)?;
            if let (true, Some(signal)) = (learns, signal) {
                apply_learning(tx, &m, signal, &short_name(tech.as_ref()))?;
            }
            let row =
                store::find_match(tx, &id)?.ok_or_else(|| ApiError::internal("match vanished"))?;
            let card = tech
                .as_ref()
                .map(document::technician_card)
                .unwrap_or_else(|| document::missing_technician(&m.technician_id));
            Ok(document::match_json(&row, card, json!(uid), now))
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Feedback added", "data": doc}),
    ))
}

// ---------------------------------------------------------------- preferences and blocks

/// The preference document of `user_id` (creating it with defaults), in the caller's transaction.
fn preference_document(conn: &Connection, user_id: &str) -> ApiResult<Value> {
    let pref = store::ensure_preference(conn, user_id)?;
    let blocks = store::blocks(conn, user_id)?;
    let favored = store::favored(conn, user_id)?;
    let categories = store::categories(conn, user_id)?;
    let adjustments = store::recent_adjustments(conn, user_id, ADJUSTMENTS_SHOWN)?;
    let enabled = engine_settings(&with_defaults(&pref.settings)).allow_learning;
    Ok(document::preference_json(
        &pref,
        &blocks,
        &favored,
        &categories,
        LearningView {
            enabled,
            adjustments: &adjustments,
        },
    ))
}

/// The caller's matching preferences, with the weights in use and what was learned (created with defaults on first call).
#[utoipa::path(get, path = "/preferences", tag = "matching", security(("bearer" = [])),
    responses((status = 200, body = schemas::PreferenceResponse), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn get_preferences(
    State(state): State<AppState>,
    user: CurrentUser,
) -> ApiResult<Json<Value>> {
    let uid = user.id.clone();
    let doc = state
        .db
        .write(move |tx| preference_document(tx, &uid))
        .await?;
    Ok(Json(json!({"success": true, "data": doc})))
}

/// Update matching preferences; `customWeights` replaces the weights (and restarts learning from them).
#[utoipa::path(put, path = "/preferences", tag = "matching", request_body = schemas::PreferencesBody,
    security(("bearer" = [])),
    responses((status = 200, body = schemas::PreferenceResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn update_preferences(
    State(state): State<AppState>,
    user: CurrentUser,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Json<Value>> {
    let body = object(body)?;
    let uid = user.id.clone();
    let doc = state
        .db
        .write(move |tx| {
            let pref = store::ensure_preference(tx, &uid)?;
            let merged = preferences::merge(&pref.settings, &body);
            let weights = match body.get("customWeights") {
                None | Some(Value::Null) => Ok(None),
                Some(v) => Weights::parse_custom(v, &pref.base_weights()).map(Some),
            };
            let (merged, weights) = match (merged, weights) {
                (Ok(m), Ok(w)) => (m, w),
                (m, w) => {
                    let mut errors = m.err().unwrap_or_default();
                    errors.extend(w.err().unwrap_or_default());
                    return Err(ApiError::Validation(errors));
                }
            };
            store::save_settings(tx, &uid, &merged, weights.as_ref())?;
            if let Some(w) = &weights {
                store::add_adjustment(
                    tx,
                    &uid,
                    None,
                    "custom",
                    &pref.weights(),
                    w,
                    "You set your own weights; learning starts again from them.",
                )?;
            }
            preference_document(tx, &uid)
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Preferences updated", "data": doc}),
    ))
}

/// Forget the learned weights: scoring goes back to the customer's own (or the default) weights.
#[utoipa::path(delete, path = "/preferences/learning", tag = "matching", security(("bearer" = [])),
    responses((status = 200, body = schemas::PreferenceResponse), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn reset_learning(
    State(state): State<AppState>,
    user: CurrentUser,
) -> ApiResult<Json<Value>> {
    let uid = user.id.clone();
    let doc = state
        .db
        .write(move |tx| {
            let pref = store::ensure_preference(tx, &uid)?;
            if pref.learned_weights.is_some() {
                store::save_learned(tx, &uid, None)?;
                store::add_adjustment(
                    tx,
                    &uid,
                    None,
                    "reset",
                    &pref.weights(),
                    &pref.base_weights(),
                    "You reset what was learned; your own weights apply again.",
                )?;
            }
            preference_document(tx, &uid)
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Learned weights reset", "data": doc}),
    ))
}

/// Block a technician: they never appear in the caller's matches (idempotent).
#[utoipa::path(post, path = "/block/{technicianId}", tag = "matching", request_body = schemas::BlockBody,
    security(("bearer" = [])), params(("technicianId" = String, Path, description = "Technician id")),
    responses((status = 200, body = schemas::PreferenceResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn block_technician(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(technician_id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Json<Value>> {
    user.require_role(&[Role::Customer, Role::Corporate])?;
    valid_id(&technician_id, "Technician")?;
    let body = object(body)?;
    let mut errors = Vec::new();
    let reason = opt_text(&body, "reason", 500, &mut errors);
    finish(errors)?;
    let uid = user.id.clone();
    let doc = state
        .db
        .write(move |tx| {
            if technician::find(tx, &technician_id)?.is_none() {
                return Err(ApiError::not_found("Technician"));
            }
            store::block(tx, &uid, &technician_id, reason.as_deref())?;
            preference_document(tx, &uid)
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Technician blocked", "data": doc}),
    ))
}

/// Unblock a technician (answers the same when they were not blocked).
#[utoipa::path(delete, path = "/block/{technicianId}", tag = "matching", security(("bearer" = [])),
    params(("technicianId" = String, Path, description = "Technician id")),
    responses((status = 200, body = schemas::PreferenceResponse), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn unblock_technician(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(technician_id): Path<String>,
) -> ApiResult<Json<Value>> {
    user.require_role(&[Role::Customer, Role::Corporate])?;
    valid_id(&technician_id, "Technician")?;
    let uid = user.id.clone();
    let doc = state
        .db
        .write(move |tx| {
            store::unblock(tx, &uid, &technician_id)?;
            preference_document(tx, &uid)
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Technician unblocked", "data": doc}),
    ))
}

// ---------------------------------------------------------------- analytics

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsQuery {
    /// Only the last N days (1 to 3650); default: everything kept plus purged days' counts.
    days: Option<String>,
}

/// Admin: sessions, acceptance rate by quality band, mean overall score of accepted matches.
#[utoipa::path(get, path = "/analytics", tag = "matching", params(AnalyticsQuery), security(("bearer" = [])),
    responses((status = 200, body = schemas::AnalyticsResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn analytics(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(q): AppQuery<AnalyticsQuery>,
) -> ApiResult<Json<Value>> {
    user.require_role(&[Role::Admin])?;
    let days = match q.days.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if (1..=3650).contains(&n) => Some(n),
            _ => {
                return Err(ApiError::field(
                    "days",
                    "days must be a whole number from 1 to 3650",
                ))
            }
        },
    };
    let since = days.map(|d| now_ms() - d * 86_400_000);
    let bands = state.db.read(move |c| store::analytics(c, since)).await?;
    let rate = |accepted: i64, shown: i64| {
        (shown > 0).then(|| round_to(accepted as f64 / shown as f64, 4))
    };
    let mut by_quality = Vec::new();
    let (mut sessions, mut shown, mut accepted, mut rejected, mut sum) = (0, 0, 0, 0, 0.0);
    for q in QUALITIES {
        let b = bands.get(q.as_str()).cloned().unwrap_or_default();
        sessions += b.sessions;
        shown += b.shown;
        accepted += b.accepted;
        rejected += b.rejected;
        sum += b.accepted_score_sum;
        by_quality.push(json!({
            "band": q.as_str(),
            "shown": b.shown,
            "accepted": b.accepted,
            "rejected": b.rejected,
            "acceptanceRate": rate(b.accepted, b.shown),
            "sessions": b.sessions,
        }));
    }
    let empty = bands.get("none").map(|b| b.sessions).unwrap_or(0);
    Ok(Json(json!({
        "success": true,
        "data": {
            "sessions": sessions + empty,
            "emptySessions": empty,
            "matchesShown": shown,
            "accepted": accepted,
            "rejected": rejected,
            "acceptanceRate": rate(accepted, shown),
            "averageAcceptedScore": (accepted > 0).then(|| round_to(sum / accepted as f64, 1)),
            "byQuality": by_quality,
            "since": since.map(iso),
            "retentionDays": state.config.matching_retention_days,
        },
    })))
}
