//! The matching documents as clients read them: Matching (with its
//! populated technician and customer), MatchingPreference, and the booking
//! an accepted match created.

use serde_json::{json, Map, Value};

use crate::auth::store::{Account, DEFAULT_AVATAR};
use crate::ids::{iso, iso_opt};
use crate::users::technician::Technician;

use super::model::{round_to, Quality, Weights, FACTORS};
use super::preferences::with_defaults;
use super::store::{AdjustmentRow, Block, Favored, MatchRow, NewMatch, NewSession, Preference};

/// Version of the scoring rules, written in `algorithm.version`.
pub const ALGORITHM_VERSION: &str = "2.0";
/// `algorithm.model`.
pub const ALGORITHM_MODEL: &str = "weighted_scoring";

/// The populated `technician` of a match: the booking card without the
/// phone number (a customer gets it once a booking exists), with location
/// and subscription plan.
pub fn technician_card(t: &Technician) -> Value {
    let mut card = t.card_json();
    if let Some(obj) = card.as_object_mut() {
        obj.remove("phoneNumber");
        obj.insert(
            "location".into(),
            match t.location {
                Some((lng, lat)) => json!({"type": "Point", "coordinates": [lng, lat]}),
                None => Value::Null,
            },
        );
        obj.insert("subscription".into(), json!({"plan": t.subscription_plan}));
        obj.insert("serviceRadius".into(), json!(t.service_radius_km));
    }
    card
}

/// A technician that no longer exists: only the id.
pub fn missing_technician(id: &str) -> Value {
    json!({"_id": id, "id": id})
}

/// The populated `customer` of `GET /matching/:id`.
pub fn customer_card(a: &Account) -> Value {
    json!({
        "_id": a.id,
        "id": a.id,
        "firstName": a.first_name,
        "lastName": a.last_name,
        "fullName": format!("{} {}", a.first_name, a.last_name),
        "profilePicture": {"url": a.profile_picture_url.clone().unwrap_or_else(|| DEFAULT_AVATAR.to_string())},
    })
}

/// The row a new match will have once stored (to answer without reading it back).
pub fn new_row(s: &NewSession, m: &NewMatch) -> MatchRow {
    MatchRow {
        id: m.id.clone(),
        session_id: s.id.clone(),
        customer_id: s.customer_id.clone(),
        technician_id: m.technician_id.clone(),
        rank: m.rank,
        service_category: s.category.clone(),
        location: s.location,
        address: s.address.clone(),
        urgency: s.urgency.clone(),
        overall: m.overall,
        factors: m.factors,
        distance_km: m.distance_km,
        reasons: m.reasons.clone(),
        status: "suggested".into(),
        action: "none".into(),
        is_active: true,
        viewed_at: None,
        responded_at: None,
        booking_id: None,
        feedback_helpful: None,
        feedback_rating: None,
        feedback_comment: None,
        feedback_at: None,
        feedback_learned: false,
        expires_at: s.expires_at,
        created_at: s.created_at,
        updated_at: s.created_at,
        weights: s.weights,
        budget_minor: s.budget_minor,
    }
}

/// The status clients see: an open match past its expiry reads `expired`.
pub fn wire_status(m: &MatchRow, now: i64) -> &str {
    if matches!(m.status.as_str(), "suggested" | "viewed") && m.expires_at <= now {
        "expired"
    } else {
        m.status.as_str()
    }
}

/// The Matching document; `technician` and `customer` are already
/// populated (or ids) as the endpoint requires.
pub fn match_json(m: &MatchRow, technician: Value, customer: Value, now: i64) -> Value {
    let mut scores = Map::new();
    scores.insert("overall".into(), json!(m.overall));
    for f in FACTORS {
        scores.insert(f.key().into(), json!(m.factors[f.index()]));
    }
    let mut location = json!({"type": "Point", "coordinates": [m.location.0, m.location.1]});
    if let Some(a) = &m.address {
        location["address"] = json!(a);
    }
    let mut doc = json!({
        "_id": m.id,
        "id": m.id,
        "customer": customer,
        "technician": technician,
        "serviceCategory": m.service_category,
        "location": location,
        "urgency": m.urgency,
        "scores": Value::Object(scores),
        "distance": round_to(m.distance_km, 1),
        "matchReasons": reasons_json(m),
        "algorithm": {"version": ALGORITHM_VERSION, "model": ALGORITHM_MODEL, "factors": m.weights.to_json()},
        "status": wire_status(m, now),
        "action": m.action,
        "expiresAt": iso(m.expires_at),
        "isActive": m.is_active && m.expires_at > now,
        "matchQuality": Quality::of(m.overall).as_str(),
        "sessionId": m.session_id,
        "rank": m.rank,
        "createdAt": iso(m.created_at),
        "updatedAt": iso(m.updated_at),
        "__v": 0,
    });
    let obj = doc.as_object_mut().expect("object");
    if let Some(v) = m.viewed_at {
        obj.insert("viewedAt".into(), json!(iso(v)));
    }
    if let Some(v) = m.responded_at {
        obj.insert("respondedAt".into(), json!(iso(v)));
    }
    if let Some(b) = &m.booking_id {
        obj.insert("bookingId".into(), json!(b));
    }
    if let Some(at) = m.feedback_at {
        let mut fb = Map::new();
        if let Some(h) = m.feedback_helpful {
            fb.insert("helpful".into(), json!(h));
        }
        if let Some(r) = m.feedback_rating {
            fb.insert("rating".into(), json!(r));
        }
        if let Some(c) = &m.feedback_comment {
            fb.insert("comment".into(), json!(c));
        }
        fb.insert("submittedAt".into(), json!(iso(at)));
        obj.insert("feedback".into(), Value::Object(fb));
    }
    doc
}

/// A stable ObjectId-shaped id for the `n`th reason of a match (the
/// match's time prefix, then a hash), so reasons need no stored ids.
fn reason_id(match_id: &str, n: usize) -> String {
    let prefix = match_id.get(..8).unwrap_or("00000000");
    let hash = crate::ids::sha256_hex(&format!("{match_id}:{n}"));
    format!("{prefix}{}", &hash[..16])
}

/// `matchReasons[]`: `{_id, id, factor, reason, weight, score, contribution}`
/// per factor, from the stored sentences, the factor scores and the weights.
pub fn reasons_json(m: &MatchRow) -> Value {
    Value::Array(
        FACTORS
            .iter()
            .zip(&m.reasons)
            .enumerate()
            .map(|(n, (f, text))| {
                let id = reason_id(&m.id, n);
                let weight = m.weights.get(*f);
                let score = m.factors[f.index()];
                json!({
                    "_id": id,
                    "id": id,
                    "factor": f.key(),
                    "reason": text,
                    "weight": round_to(weight, 4),
                    "score": score,
                    "contribution": round_to(weight * score, 2),
                })
            })
            .collect(),
    )
}

/// What the preference document shows of learning.
pub struct LearningView<'a> {
    pub enabled: bool,
    pub adjustments: &'a [AdjustmentRow],
}

/// The MatchingPreference document, with what was learned.
pub fn preference_json(
    p: &Preference,
    blocks: &[Block],
    favored: &[Favored],
    categories: &[(String, i64, i64)],
    learning: LearningView,
) -> Value {
    let settings = with_defaults(&p.settings);
    let success_rate = if p.total_matches == 0 {
        json!(0)
    } else {
        json!(format!(
            "{:.2}",
            p.successful_bookings as f64 / p.total_matches as f64 * 100.0
        ))
    };
    let blocked: Vec<Value> = blocks
        .iter()
        .map(|b| {
            let mut v = json!({"_id": b.id, "id": b.id, "technician": b.technician_id, "blockedAt": iso(b.blocked_at)});
            if let Some(r) = &b.reason {
                v["reason"] = json!(r);
            }
            v
        })
        .collect();
    let favored: Vec<Value> = favored
        .iter()
        .map(|f| {
            let mut v = json!({"technician": f.technician_id, "hireCount": f.count, "lastHired": iso(f.last_at)});
            if let Some(r) = f.avg_rating {
                v["avgRating"] = json!(round_to(r, 2));
            }
            v
        })
        .collect();
    let categories: Vec<Value> = categories
        .iter()
        .map(|(c, n, last)| json!({"category": c, "frequency": n, "lastUsed": iso(*last)}))
        .collect();
    let adjustments: Vec<Value> = learning
        .adjustments
        .iter()
        .map(|a| {
            json!({
                "signal": a.signal,
                "matchId": a.match_id,
                "explanation": a.explanation,
                "before": a.before,
                "after": a.after,
                "createdAt": iso(a.created_at),
            })
        })
        .collect();
    let base: Weights = p.base_weights();
    json!({
        "_id": p.id,
        "id": p.id,
        "user": p.user_id,
        "general": settings["general"],
        "technicianPreferences": settings["technicianPreferences"],
        "scheduling": settings["scheduling"],
        "learnedPreferences": {
            "favoredTechnicians": favored,
            "blockedTechnicians": blocked,
            "preferredCategories": categories,
        },
        "communication": settings["communication"],
        "ai": settings["ai"],
        "customWeights": base.to_json(),
        "privacy": settings["privacy"],
        "learning": {
            "enabled": learning.enabled,
            "weights": p.weights().to_json(),
            "baseWeights": base.to_json(),
            "learnedWeights": p.learned_weights.map(|w| w.to_json()),
            "steps": p.learning_steps,
            "adjustments": adjustments,
        },
        "lastUpdated": iso(p.last_updated),
        "lastMatchRequest": iso_opt(p.last_match_request),
        "totalMatches": p.total_matches,
        "successfulBookings": p.successful_bookings,
        "successRate": success_rate,
        "createdAt": iso(p.created_at),
        "updatedAt": iso(p.updated_at),
        "__v": 0,
    })
}
