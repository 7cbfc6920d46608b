//! The matching engine's pure rules: the nine factors and their weights,
//! [`score`] (one candidate for one request), the quality bands, the
//! sentences of `matchReasons`, and [`learn`] (how accepts, rejects and
//! feedback move a customer's weights). No clock, no database, no I/O: every
//! input is a parameter, so each rule is tested beside it.

use std::fmt::Write as _;

use serde_json::{json, Map, Value};

use crate::error::FieldError;
use crate::users::technician::Technician;

// ---------------------------------------------------------------- factors and weights

/// The nine factors, in the order of the spec's table (and of every array here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Factor {
    SkillMatch,
    LocationProximity,
    Availability,
    Rating,
    ExperienceLevel,
    Pricing,
    ResponseTime,
    CompletionRate,
    CustomerPreference,
}

/// Every factor, in order; index `i` of a weights or scores array is `FACTORS[i]`.
pub const FACTORS: [Factor; 9] = [
    Factor::SkillMatch,
    Factor::LocationProximity,
    Factor::Availability,
    Factor::Rating,
    Factor::ExperienceLevel,
    Factor::Pricing,
    Factor::ResponseTime,
    Factor::CompletionRate,
    Factor::CustomerPreference,
];

impl Factor {
    /// The wire key (`scores.<key>`, `customWeights.<key>`).
    pub fn key(self) -> &'static str {
        match self {
            Factor::SkillMatch => "skillMatch",
            Factor::LocationProximity => "locationProximity",
            Factor::Availability => "availability",
            Factor::Rating => "rating",
            Factor::ExperienceLevel => "experienceLevel",
            Factor::Pricing => "pricing",
            Factor::ResponseTime => "responseTime",
            Factor::CompletionRate => "completionRate",
            Factor::CustomerPreference => "customerPreference",
        }
    }

    /// How a customer would name it, for explanations.
    pub fn label(self) -> &'static str {
        match self {
            Factor::SkillMatch => "skill",
            Factor::LocationProximity => "distance",
            Factor::Availability => "availability",
            Factor::Rating => "rating",
            Factor::ExperienceLevel => "experience",
            Factor::Pricing => "price",
            Factor::ResponseTime => "response time",
            Factor::CompletionRate => "completion rate",
            Factor::CustomerPreference => "your history with them",
        }
    }

    /// The factor of a wire key.
    pub fn parse(key: &str) -> Option<Factor> {
        FACTORS.iter().copied().find(|f| f.key() == key)
    }

    /// Position in [`FACTORS`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// How much each factor counts; always non-negative and summing to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights(pub [f64; 9]);

impl Default for Weights {
    fn default() -> Self {
        Weights::DEFAULT
    }
}

impl Weights {
    /// The spec's weights: skill 25, proximity 20, availability 15, rating 15,
    /// experience 10, pricing 5, response time 5, completion rate 3,
    /// customer preference 2 (percent).
    pub const DEFAULT: Weights = Weights([0.25, 0.20, 0.15, 0.15, 0.10, 0.05, 0.05, 0.03, 0.02]);

    /// The weight of one factor.
    pub fn get(&self, f: Factor) -> f64 {
        self.0[f.index()]
    }

    /// `{skillMatch: 0.25, ...}` as fractions, rounded to 4 decimals.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        for f in FACTORS {
            map.insert(f.key().into(), json!(round_to(self.get(f), 4)));
        }
        Value::Object(map)
    }

    /// Reads weights stored by [`Weights::to_json`]; `None` when unreadable.
    pub fn from_stored(v: &Value) -> Option<Weights> {
        let mut w = [0.0; 9];
        for f in FACTORS {
            w[f.index()] = v.get(f.key())?.as_f64()?;
        }
        normalised(w)
    }

    /// Reads a customer's `customWeights` body, merged key by key over
    /// `base` (keys not sent keep their current value, as the original's
    /// shallow merge did). Unknown keys are dropped, as the wire does;
    /// every factor's value must be a number from 0 to 100 (a 400 naming
    /// it otherwise). Sent on the original's percent scale (any value
    /// above one) or as fractions; either way the weights are normalised
    /// as the wire does (each becomes `round(w / sum × 100)` percent), then
    /// kept as fractions summing exactly to 1.
    pub fn parse_custom(body: &Value, base: &Weights) -> Result<Weights, Vec<FieldError>> {
        let field = |k: &str, m: &str| FieldError {
            field: if k.is_empty() {
                "customWeights".into()
            } else {
                format!("customWeights.{k}")
            },
            message: m.into(),
        };
        let Some(obj) = body.as_object() else {
            return Err(vec![field(
                "",
                "customWeights must be an object of factor weights",
            )]);
        };
        let mut errors = Vec::new();
        let mut sent = [None::<f64>; 9];
        for (k, v) in obj {
            let Some(f) = Factor::parse(k) else {
                continue;
            };
            match v.as_f64() {
                Some(x) if x.is_finite() && (0.0..=100.0).contains(&x) => sent[f.index()] = Some(x),
                Some(x) if x.is_finite() && x < 0.0 => {
                    errors.push(field(k, "Weights cannot be negative"))
                }
                Some(x) if x.is_finite() => errors.push(field(k, "Weights are at most 100")),
                _ => errors.push(field(k, "Weight must be a number")),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        if !sent.iter().any(Option::is_some) {
            return Ok(*base);
        }
        // Percent when what was sent looks like the original's 0-100 scale.
        let percent = sent.iter().flatten().any(|&x| x > 1.0);
        let scale = if percent { 100.0 } else { 1.0 };
        let mut w = [0.0; 9];
        for i in 0..9 {
            w[i] = sent[i].unwrap_or(base.0[i] * scale);
        }
        let sum: f64 = w.iter().sum();
        if sum <= 0.0 {
            return Err(vec![field("", "At least one weight must be positive")]);
        }
        for x in &mut w {
            *x = (*x / sum * 100.0).round();
        }
        normalised(w).ok_or_else(|| vec![field("", "At least one weight must be positive")])
    }
}

/// `w` scaled to sum 1, or `None` when it has a negative, non-finite or only zero entries.
fn normalised(w: [f64; 9]) -> Option<Weights> {
    if w.iter().any(|x| !x.is_finite() || *x < 0.0) {
        return None;
    }
    let sum: f64 = w.iter().sum();
    if sum <= 0.0 {
        return None;
    }
    Some(Weights(w.map(|x| x / sum)))
}

/// `x` rounded to `places` decimals.
pub fn round_to(x: f64, places: i32) -> f64 {
    let m = 10f64.powi(places);
    (x * m).round() / m
}

// ---------------------------------------------------------------- requests and candidates

/// How soon the customer needs someone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    Low,
    Medium,
    High,
    Emergency,
}

impl Urgency {
    /// Reads a wire value; `normal` is `medium` and `urgent` is `emergency` (DESIGN.md).
    pub fn parse(s: &str) -> Option<Urgency> {
        Some(match s {
            "low" => Urgency::Low,
            "medium" | "normal" => Urgency::Medium,
            "high" => Urgency::High,
            "emergency" | "urgent" => Urgency::Emergency,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Low => "low",
            Urgency::Medium => "medium",
            Urgency::High => "high",
            Urgency::Emergency => "emergency",
        }
    }

    /// High and emergency requests only go to technicians available now.
    pub fn needs_available_now(self) -> bool {
        matches!(self, Urgency::High | Urgency::Emergency)
    }
}

/// One find-technicians request with the customer's preferences applied.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchRequest {
    pub category: String,
    /// `(lng, lat)` of the job.
    pub location: (f64, f64),
    pub urgency: Urgency,
    /// What the customer means to pay per hour, in minor units.
    pub budget_minor: Option<i64>,
    /// When the customer wants the job done, ms since the epoch.
    pub preferred_at: Option<i64>,
    /// The farthest the customer accepts, km.
    pub max_distance_km: f64,
    /// Smoothed stars below this exclude a technician.
    pub min_rating: f64,
    /// Hourly rates above this (minor units) exclude a technician.
    pub max_rate_minor: Option<i64>,
    pub min_years_experience: i64,
    /// Offset of the marketplace's local time (weekly schedules) from UTC.
    pub utc_offset_mins: i64,
    /// Only KYC-approved technicians qualify (`require_technician_kyc`).
    pub require_kyc: bool,
}

/// A technician in range, as the engine sees it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub technician: &'a Technician,
    pub distance_km: f64,
}

/// What this customer and this technician have done together.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    pub completed_bookings: i64,
    /// Ratings this customer gave this technician (reviews, match feedback).
    pub rating_sum: f64,
    pub rating_count: i64,
    /// Listed in the customer's `preferredTechnicians`.
    pub is_preferred: bool,
}

/// Why a technician is not a candidate for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exclusion {
    NotBookable,
    NotOffered,
    OutOfRange,
    NotAvailableNow,
    BelowMinRating,
    AboveMaxRate,
    TooLittleExperience,
}

/// One candidate's scores: each factor 0-100 (one decimal) and the weighted sum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    pub factors: [f64; 9],
    pub overall: f64,
}

impl Score {
    pub fn get(&self, f: Factor) -> f64 {
        self.factors[f.index()]
    }

    pub fn quality(&self) -> Quality {
        Quality::of(self.overall)
    }
}

/// The spec's match quality levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quality {
    /// 90-100
    Excellent,
    /// 75-89
    VeryGood,
    /// 60-74
    Good,
    /// 40-59
    Fair,
    /// 0-39
    Poor,
}

/// Every band, best first.
pub const QUALITIES: [Quality; 5] = [
    Quality::Excellent,
    Quality::VeryGood,
    Quality::Good,
    Quality::Fair,
    Quality::Poor,
];

impl Quality {
    /// The band of an overall score.
    pub fn of(overall: f64) -> Quality {
        if overall >= 90.0 {
            Quality::Excellent
        } else if overall >= 75.0 {
            Quality::VeryGood
        } else if overall >= 60.0 {
            Quality::Good
        } else if overall >= 40.0 {
            Quality::Fair
        } else {
            Quality::Poor
        }
    }

    /// The wire value of `matchQuality`.
    pub fn as_str(self) -> &'static str {
        match self {
            Quality::Excellent => "excellent",
            Quality::VeryGood => "very_good",
            Quality::Good => "good",
            Quality::Fair => "fair",
            Quality::Poor => "poor",
        }
    }

    /// The lowest overall score in the band (for SQL).
    pub fn floor(self) -> f64 {
        match self {
            Quality::Excellent => 90.0,
            Quality::VeryGood => 75.0,
            Quality::Good => 60.0,
            Quality::Fair => 40.0,
            Quality::Poor => 0.0,
        }
    }
}

// ---------------------------------------------------------------- the score

/// Stars a technician's rating counts for before it has this many reviews
/// are blended with [`RATING_PRIOR`]; from then on the average counts fully.
pub const RATING_FULL_AT: i64 = 20;
/// The neutral rating a technician with no reviews is treated as having.
pub const RATING_PRIOR: f64 = 3.5;

/// The rating the engine uses: the average, blended with a neutral 3.5 in
/// proportion to how far the review count is from [`RATING_FULL_AT`], so one
/// 5-star review (3.58) does not beat a hundred 4.9s (4.9).
pub fn smoothed_stars(average: f64, count: i64) -> f64 {
    let avg = average.clamp(0.0, 5.0);
    let n = count.clamp(0, RATING_FULL_AT) as f64;
    let full = RATING_FULL_AT as f64;
    (n * avg + (full - n) * RATING_PRIOR) / full
}

/// The best possible smoothed rating of a technician whose average is
/// `average` (over any review count): a cheap pre-filter for `min_rating`.
pub fn best_possible_stars(average: f64) -> f64 {
    average.clamp(0.0, 5.0).max(RATING_PRIOR)
}

fn skill_score(t: &Technician, category: &str) -> f64 {
    if t.skills.iter().any(|s| s.category == category) {
        t.proficiency_in(category).clamp(0, 100) as f64
    } else {
        // Offered through the profile's list, without a rated skill.
        50.0
    }
}

fn proximity_limit(t: &Technician, req: &MatchRequest) -> f64 {
    t.service_radius_km.min(req.max_distance_km).max(0.0)
}

fn proximity_score(distance: f64, limit: f64) -> f64 {
    if limit <= 0.0 {
        return if distance <= 0.0 { 100.0 } else { 0.0 };
    }
    (100.0 * (1.0 - distance / limit)).clamp(0.0, 100.0)
}

fn status_score(status: &str) -> f64 {
    match status {
        "available" => 100.0,
        "busy" => 40.0,
        _ => 10.0,
    }
}

/// Local weekday (0 = Sunday) and minute of the day of `at_ms`.
fn local_time(at_ms: i64, offset_mins: i64) -> Option<(u8, u32)> {
    const DAY: i64 = 86_400_000;
    let local = at_ms.checked_add(offset_mins.checked_mul(60_000)?)?;
    let days = local.div_euclid(DAY);
    // 1970-01-01 was a Thursday (4).
    let weekday = (days + 4).rem_euclid(7) as u8;
    let minute = (local.rem_euclid(DAY) / 60_000) as u32;
    Some((weekday, minute))
}

/// Minutes since midnight of `"H:MM"` / `"HH:MM"` (up to 24:00).
fn minutes_of(hhmm: &str) -> Option<u32> {
    let digit = |b: u8| b.is_ascii_digit().then(|| (b - b'0') as u32);
    let (h, m) = match hhmm.trim().as_bytes() {
        [h, b':', m1, m2] => (digit(*h)?, digit(*m1)? * 10 + digit(*m2)?),
        [h1, h2, b':', m1, m2] => (
            digit(*h1)? * 10 + digit(*h2)?,
            digit(*m1)? * 10 + digit(*m2)?,
        ),
        _ => return None,
    };
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

/// Whether the weekly schedule covers `at_ms`: `None` when the technician
/// has no schedule (unknown), else whether an available slot contains it.
pub fn schedule_covers(t: &Technician, at_ms: i64, offset_mins: i64) -> Option<bool> {
    if t.schedule.is_empty() {
        return None;
    }
    let (day, minute) = local_time(at_ms, offset_mins)?;
    Some(t.schedule.iter().any(|slot| {
        if !slot.is_available || slot.day_of_week != day {
            return false;
        }
        match (minutes_of(&slot.start_time), minutes_of(&slot.end_time)) {
            (Some(s), Some(e)) if s < e => (s..e).contains(&minute),
            (Some(s), Some(e)) if s > e => minute >= s || minute < e,
            _ => false,
        }
    }))
}

fn availability_score(t: &Technician, req: &MatchRequest) -> f64 {
    let now = status_score(&t.availability_status);
    match req
        .preferred_at
        .and_then(|at| schedule_covers(t, at, req.utc_offset_mins))
    {
        Some(covered) => 0.3 * now + 0.7 * if covered { 100.0 } else { 20.0 },
        None => now,
    }
}

fn experience_years(t: &Technician, category: &str) -> i64 {
    t.skills
        .iter()
        .filter(|s| s.category == category)
        .map(|s| s.years_of_experience)
        .max()
        .unwrap_or(0)
        .max(t.years_experience)
        .max(0)
}

fn experience_score(years: i64, jobs: i64) -> f64 {
    50.0 * (years.clamp(0, 10) as f64 / 10.0) + 50.0 * (jobs.clamp(0, 100) as f64 / 100.0)
}

fn pricing_score(rate_minor: Option<i64>, budget_minor: Option<i64>) -> f64 {
    let (Some(rate), Some(budget)) = (rate_minor, budget_minor) else {
        return 60.0;
    };
    if budget <= 0 {
        return 60.0;
    }
    let r = rate as f64 / budget as f64;
    if r <= 0.8 {
        100.0
    } else if r <= 1.0 {
        100.0 - (r - 0.8) * 75.0
    } else if r <= 1.5 {
        85.0 - (r - 1.0) * 170.0
    } else {
        0.0
    }
}

fn response_score(mins: Option<f64>) -> f64 {
    let Some(t) = mins.filter(|t| t.is_finite()) else {
        return 60.0;
    };
    let t = t.max(0.0);
    if t <= 15.0 {
        100.0
    } else if t <= 60.0 {
        100.0 - (t - 15.0) * 30.0 / 45.0
    } else if t <= 240.0 {
        70.0 - (t - 60.0) * 60.0 / 180.0
    } else {
        10.0
    }
}

fn completion_score(rate: Option<f64>) -> f64 {
    rate.filter(|r| r.is_finite())
        .map(|r| r.clamp(0.0, 100.0))
        .unwrap_or(80.0)
}

fn preference_score(h: &History) -> f64 {
    let mut s = 50.0 + (h.completed_bookings.max(0) as f64 * 15.0).min(40.0);
    if h.rating_count > 0 {
        let avg = h.rating_sum / h.rating_count as f64;
        s += (avg - 3.0) * 12.5 * (h.rating_count.min(2) as f64 / 2.0);
    }
    if h.is_preferred {
        s += 30.0;
    }
    s.clamp(0.0, 100.0)
}

/// The weighted sum of factor scores, rounded to one decimal.
pub fn combine(factors: &[f64; 9], weights: &Weights) -> f64 {
    let sum: f64 = factors
        .iter()
        .zip(weights.0.iter())
        .map(|(s, w)| s * w)
        .sum();
    round_to(sum, 1).clamp(0.0, 100.0)
}

/// Scores one candidate for one request, or says why it is not a candidate.
///
/// Each factor is 0-100: skill = proficiency in the category; proximity =
/// 100 at the job falling to 0 at the nearer of the technician's service
/// radius and the customer's maximum distance; availability = now (available
/// 100, busy 40, offline 10), mixed 30/70 with whether the weekly schedule
/// covers `preferred_at`; rating = smoothed stars × 20; experience = years
/// (to 10) and completed jobs (to 100), half each; pricing = hourly rate
/// against the budget; response time and completion rate from the derived
/// figures; customer preference = 50 moved by past bookings, ratings and the
/// preferred list. Overall = Σ weight × factor.
pub fn score(
    req: &MatchRequest,
    cand: &Candidate,
    weights: &Weights,
    history: &History,
) -> Result<Score, Exclusion> {
    let t = cand.technician;
    if !t.is_bookable(req.require_kyc) {
        return Err(Exclusion::NotBookable);
    }
    if !t.offers(&req.category) {
        return Err(Exclusion::NotOffered);
    }
    let limit = proximity_limit(t, req);
    if cand.distance_km.is_nan() || cand.distance_km > limit + 1e-9 {
        return Err(Exclusion::OutOfRange);
    }
    if req.urgency.needs_available_now() && t.availability_status != "available" {
        return Err(Exclusion::NotAvailableNow);
    }
    let stars = smoothed_stars(t.rating_avg, t.rating_count);
    if stars + 1e-9 < req.min_rating {
        return Err(Exclusion::BelowMinRating);
    }
    if let (Some(max), Some(rate)) = (req.max_rate_minor, t.hourly_rate_minor) {
        if rate > max {
            return Err(Exclusion::AboveMaxRate);
        }
    }
    let years = experience_years(t, &req.category);
    if years < req.min_years_experience {
        return Err(Exclusion::TooLittleExperience);
    }
    let raw = [
        skill_score(t, &req.category),
        proximity_score(cand.distance_km, limit),
        availability_score(t, req),
        stars * 20.0,
        experience_score(years, t.completed_jobs),
        pricing_score(t.hourly_rate_minor, req.budget_minor),
        response_score(t.avg_response_mins),
        completion_score(t.completion_rate),
        preference_score(history),
    ];
    let factors = raw.map(|x| round_to(x.clamp(0.0, 100.0), 1));
    Ok(Score {
        overall: combine(&factors, weights),
        factors,
    })
}

// ---------------------------------------------------------------- reasons

/// One entry of `matchReasons`: a sentence about one factor.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    pub factor: Factor,
    pub text: String,
    /// The factor's weight (fraction).
    pub weight: f64,
    /// The factor's score (0-100).
    pub score: f64,
    /// Points this factor added to the overall score.
    pub contribution: f64,
}

/// `KES 1,500` (or `KES 1,500.50`) for an amount in minor units.
pub fn money(currency: &str, minor: i64) -> String {
    let major = minor / 100;
    let cents = (minor % 100).abs();
    let digits = major.abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if minor < 0 { "-" } else { "" };
    if cents == 0 {
        format!("{currency} {sign}{grouped}")
    } else {
        format!("{currency} {sign}{grouped}.{cents:02}")
    }
}

fn plural(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

fn category_words(category: &str) -> String {
    category.replace('_', " ")
}

/// One sentence per factor, in factor order, saying what the score rests on
/// in words a customer understands ("3.2 km away", "Rated 4.8 from 120 reviews").
pub fn reasons(
    req: &MatchRequest,
    cand: &Candidate,
    history: &History,
    score: &Score,
    weights: &Weights,
) -> Vec<Reason> {
    let t = cand.technician;
    let cat = category_words(&req.category);
    FACTORS
        .iter()
        .map(|&f| {
            let s = score.get(f);
            let text = match f {
                Factor::SkillMatch => {
                    if s >= 90.0 {
                        "Expert in required service category".to_string()
                    } else if s >= 75.0 {
                        "Highly skilled in required service".to_string()
                    } else if t.skills.iter().any(|k| k.category == req.category) {
                        format!(
                            "Offers {cat} (skill level {}/100)",
                            t.proficiency_in(&req.category)
                        )
                    } else {
                        format!("Offers {cat}")
                    }
                }
                Factor::LocationProximity => {
                    let d = round_to(cand.distance_km, 1);
                    if s >= 85.0 {
                        format!("{d} km away: very close to your location")
                    } else {
                        format!("{d} km away")
                    }
                }
                Factor::Availability => {
                    let mut text = match t.availability_status.as_str() {
                        "available" => "Available now".to_string(),
                        "busy" => "Busy right now".to_string(),
                        _ => "Offline right now".to_string(),
                    };
                    if let Some(at) = req.preferred_at {
                        let when = local_time(at, req.utc_offset_mins)
                            .map(|(d, m)| {
                                format!("{} {:02}:{:02}", WEEKDAYS[d as usize], m / 60, m % 60)
                            })
                            .unwrap_or_default();
                        match schedule_covers(t, at, req.utc_offset_mins) {
                            Some(true) => {
                                let _ = write!(text, "; works at your preferred time ({when})");
                            }
                            Some(false) => {
                                let _ = write!(
                                    text,
                                    "; does not usually work at your preferred time ({when})"
                                );
                            }
                            None => {}
                        }
                    }
                    text
                }
                Factor::Rating => {
                    if t.rating_count <= 0 {
                        "New on BaiTech: no reviews yet".to_string()
                    } else {
                        format!(
                            "Rated {:.1} from {}",
                            t.rating_avg,
                            plural(t.rating_count, "review", "reviews")
                        )
                    }
                }
                Factor::ExperienceLevel => {
                    let years = experience_years(t, &req.category);
                    format!(
                        "{} of experience, {} completed",
                        plural(years, "year", "years"),
                        plural(t.completed_jobs, "job", "jobs")
                    )
                }
                Factor::Pricing => match (t.hourly_rate_minor, req.budget_minor) {
                    (None, _) => "No hourly rate listed".to_string(),
                    (Some(rate), None) => format!("{}/hour", money(&t.currency, rate)),
                    (Some(rate), Some(budget)) if rate <= budget => format!(
                        "{}/hour, within your budget of {}",
                        money(&t.currency, rate),
                        money(&t.currency, budget)
                    ),
                    (Some(rate), Some(budget)) => format!(
                        "{}/hour, above your budget of {}",
                        money(&t.currency, rate),
                        money(&t.currency, budget)
                    ),
                },
                Factor::ResponseTime => match t.avg_response_mins {
                    Some(m) if m.is_finite() => {
                        let m = m.max(0.0).round() as i64;
                        if m < 120 {
                            format!(
                                "Usually responds within {}",
                                plural(m.max(1), "minute", "minutes")
                            )
                        } else {
                            format!(
                                "Usually responds within {}",
                                plural((m + 59) / 60, "hour", "hours")
                            )
                        }
                    }
                    _ => "Response time not known yet".to_string(),
                },
                Factor::CompletionRate => match t.completion_rate {
                    Some(r) if r.is_finite() => {
                        format!("Completes {:.0}% of accepted jobs", r.clamp(0.0, 100.0))
                    }
                    _ => "No finished jobs yet".to_string(),
                },
                Factor::CustomerPreference => {
                    let mut parts = Vec::new();
                    if history.is_preferred {
                        parts.push("One of your preferred technicians".to_string());
                    }
                    if history.completed_bookings > 0 {
                        parts.push(format!(
                            "You booked them {} before",
                            plural(history.completed_bookings, "time", "times")
                        ));
                    }
                    if history.rating_count > 0 {
                        parts.push(format!(
                            "You rated them {:.1}",
                            history.rating_sum / history.rating_count as f64
                        ));
                    }
                    if parts.is_empty() {
                        "No history with you yet".to_string()
                    } else {
                        parts.join("; ")
                    }
                }
            };
            let weight = weights.get(f);
            Reason {
                factor: f,
                text,
                weight: round_to(weight, 4),
                score: s,
                contribution: round_to(weight * s, 2),
            }
        })
        .collect()
}

// ---------------------------------------------------------------- learning

/// What the customer did with a match.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Signal {
    Accepted,
    Rejected,
    /// Feedback with a 1-5 rating.
    Rated(u8),
    /// Feedback with only `helpful`.
    Helpful(bool),
}

impl Signal {
    /// Direction and strength: positive moves weights toward the factors on
    /// which this technician stood out, negative away from them.
    pub fn strength(self) -> f64 {
        match self {
            Signal::Accepted => 1.0,
            Signal::Rejected => -0.5,
            Signal::Rated(r) => (r.clamp(1, 5) as f64 - 3.0) / 4.0,
            Signal::Helpful(true) => 0.25,
            Signal::Helpful(false) => -0.25,
        }
    }

    /// Stored name.
    pub fn as_str(self) -> String {
        match self {
            Signal::Accepted => "accepted".into(),
            Signal::Rejected => "rejected".into(),
            Signal::Rated(r) => format!("rated_{r}"),
            Signal::Helpful(h) => format!("helpful_{h}"),
        }
    }

    fn verb(self) -> String {
        match self {
            Signal::Accepted => "You accepted".into(),
            Signal::Rejected => "You rejected".into(),
            Signal::Rated(r) => format!("You rated {r}/5"),
            Signal::Helpful(true) => "You found helpful".into(),
            Signal::Helpful(false) => "You found unhelpful".into(),
        }
    }
}

/// Learning rate: weight moved per unit of signal × advantage (fraction of 100 points).
pub const LEARNING_RATE: f64 = 0.05;
/// The most one signal moves any one weight before renormalising.
pub const MAX_STEP: f64 = 0.02;
/// No learned weight goes below this (unless the customer set the factor to 0)...
pub const WEIGHT_FLOOR: f64 = 0.02;
/// ...or above this (unless the customer set it higher).
pub const WEIGHT_CAP: f64 = 0.5;

/// One change learning made, with its reasons.
#[derive(Debug, Clone, PartialEq)]
pub struct Adjustment {
    pub before: Weights,
    pub after: Weights,
    /// Points by which the technician beat (or trailed) the session's others, per factor.
    pub advantages: [f64; 9],
    pub explanation: String,
}

/// The bounds learning keeps each weight in: factors the customer set to 0
/// stay 0; the others stay within [`WEIGHT_FLOOR`] and [`WEIGHT_CAP`]
/// (widened to include the customer's own setting).
pub fn bounds(base: &Weights) -> [(f64, f64); 9] {
    base.0.map(|b| {
        if b <= 0.0 {
            (0.0, 0.0)
        } else {
            (WEIGHT_FLOOR.min(b), WEIGHT_CAP.max(b))
        }
    })
}

/// The point nearest `x` whose entries lie within `bounds` and sum to 1
/// (shifting every entry by the same amount, then clamping; the shift is
/// found by bisection).
fn project(x: [f64; 9], bounds: &[(f64, f64); 9]) -> [f64; 9] {
    let at = |shift: f64| -> [f64; 9] {
        let mut out = [0.0; 9];
        for i in 0..9 {
            out[i] = (x[i] + shift).clamp(bounds[i].0, bounds[i].1);
        }
        out
    };
    let (mut lo, mut hi) = (-2.0, 2.0);
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if at(mid).iter().sum::<f64>() < 1.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let out = at((lo + hi) / 2.0);
    let sum: f64 = out.iter().sum();
    if sum > 0.0 {
        out.map(|v| v / sum)
    } else {
        out
    }
}

/// Moves `current` weights after `signal` on a technician whose factor
/// scores were `chosen`, against the other suggestions of the same session
/// (`others`). For each factor the advantage is the technician's score
/// minus the others' mean; each weight moves by `LEARNING_RATE × strength ×
/// advantage/100`, at most [`MAX_STEP`], then the weights are brought back
/// to sum 1 within [`bounds`] of `base` (the customer's own or default
/// weights). `None` when nothing would change (no others to compare with,
/// a neutral signal, or no factor stood out).
pub fn learn(
    current: &Weights,
    base: &Weights,
    chosen: &[f64; 9],
    others: &[[f64; 9]],
    signal: Signal,
    technician_name: &str,
) -> Option<Adjustment> {
    let strength = signal.strength();
    if others.is_empty() || strength == 0.0 {
        return None;
    }
    let n = others.len() as f64;
    let mut advantages = [0.0; 9];
    for i in 0..9 {
        let mean = others.iter().map(|o| o[i]).sum::<f64>() / n;
        advantages[i] = chosen[i] - mean;
    }
    let limits = bounds(base);
    let mut moved = current.0;
    for i in 0..9 {
        let step = (LEARNING_RATE * strength * advantages[i] / 100.0).clamp(-MAX_STEP, MAX_STEP);
        moved[i] += step;
    }
    let after = Weights(project(moved, &limits));
    let delta = |i: usize| after.0[i] - current.0[i];
    if (0..9).all(|i| delta(i).abs() < 1e-4) {
        return None;
    }
    // The moves worth telling: at least 0.1 point, largest first, at most four.
    let mut changed: Vec<usize> = (0..9).filter(|&i| delta(i).abs() >= 0.001).collect();
    changed.sort_by(|&a, &b| delta(b).abs().total_cmp(&delta(a).abs()));
    changed.truncate(4);
    let mut standouts: Vec<usize> = (0..9).filter(|&i| advantages[i].abs() >= 5.0).collect();
    standouts.sort_by(|&a, &b| advantages[b].abs().total_cmp(&advantages[a].abs()));
    standouts.truncate(3);
    let stood = standouts
        .iter()
        .map(|&i| {
            let a = advantages[i];
            format!(
                "{} ({}{:.0} points)",
                FACTORS[i].label(),
                if a >= 0.0 { "+" } else { "" },
                a
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let moves = changed
        .iter()
        .map(|&i| {
            format!(
                "{} {:.1}% → {:.1}%",
                FACTORS[i].label(),
                current.0[i] * 100.0,
                after.0[i] * 100.0
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let compared = plural(others.len() as i64, "other suggestion", "other suggestions");
    let moves = if moves.is_empty() {
        "small shifts only".to_string()
    } else {
        moves
    };
    let explanation = if stood.is_empty() {
        format!(
            "{} {technician_name}, compared with {compared}: {moves} (the rest shift to keep the total at 100%).",
            signal.verb()
        )
    } else {
        format!(
            "{} {technician_name}, who differed from {compared} on {stood}: {moves} (the rest shift to keep the total at 100%).",
            signal.verb()
        )
    };
    Some(Adjustment {
        before: *current,
        after,
        advantages,
        explanation,
    })
}

// ---------------------------------------------------------------- tests

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::technician::{ScheduleSlot, Skill};

    fn tech() -> Technician {
        Technician {
            id: "0123456789abcdef01234567".into(),
            first_name: "John".into(),
            last_name: "Doe".into(),
            phone: "+254700000000".into(),
            profile_picture: None,
            status: "active".into(),
            kyc_status: "approved".into(),
            rating_avg: 4.8,
            rating_count: 120,
            location: Some((36.8, -1.28)),
            hourly_rate_minor: Some(150_000),
            currency: "KES".into(),
            service_radius_km: 25.0,
            years_experience: 10,
            availability_status: "available".into(),
            schedule: Vec::new(),
            service_categories: Vec::new(),
            skills: vec![Skill {
                name: "Pipes".into(),
                category: "plumbing".into(),
                proficiency: 90,
                years_of_experience: 5,
                verified: true,
            }],
            subscription_plan: "free".into(),
            completed_jobs: 0,
            cancelled_jobs: 0,
            completion_rate: Some(70.0),
            avg_response_mins: Some(60.0),
        }
    }

    fn request() -> MatchRequest {
        MatchRequest {
            category: "plumbing".into(),
            location: (36.817223, -1.286389),
            urgency: Urgency::Medium,
            budget_minor: Some(500_000),
            preferred_at: None,
            max_distance_km: 25.0,
            min_rating: 0.0,
            max_rate_minor: None,
            min_years_experience: 0,
            utc_offset_mins: 180,
            require_kyc: true,
        }
    }

    fn run(t: &Technician, req: &MatchRequest, d: f64) -> Result<Score, Exclusion> {
        score(
            req,
            &Candidate {
                technician: t,
                distance_km: d,
            },
            &Weights::DEFAULT,
            &History::default(),
        )
    }

    fn factor(t: &Technician, req: &MatchRequest, d: f64, f: Factor) -> f64 {
        run(t, req, d).unwrap().get(f)
    }

    #[test]
    fn default_weights_are_the_specs_and_sum_to_one() {
        let w = Weights::DEFAULT;
        assert_eq!(w.get(Factor::SkillMatch), 0.25);
        assert_eq!(w.get(Factor::LocationProximity), 0.20);
        assert_eq!(w.get(Factor::Availability), 0.15);
        assert_eq!(w.get(Factor::Rating), 0.15);
        assert_eq!(w.get(Factor::ExperienceLevel), 0.10);
        assert_eq!(w.get(Factor::Pricing), 0.05);
        assert_eq!(w.get(Factor::ResponseTime), 0.05);
        assert_eq!(w.get(Factor::CompletionRate), 0.03);
        assert_eq!(w.get(Factor::CustomerPreference), 0.02);
        assert!((w.0.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn the_specs_example_scores_give_its_overall() {
        // The spec's example: skill 90, proximity 95, availability 100,
        // rating 96 (4.8 stars) → overall 87.5. With the default weights:
        // 0.25·90 + 0.20·95 + 0.15·100 + 0.15·96 = 70.9, so the remaining
        // 25% must bring 16.6: experience 50 (5.0), pricing 100 (5.0),
        // response time 70 (3.5), completion 70 (2.1), preference 50 (1.0).
        let factors = [90.0, 95.0, 100.0, 96.0, 50.0, 100.0, 70.0, 70.0, 50.0];
        assert_eq!(combine(&factors, &Weights::DEFAULT), 87.5);
        assert_eq!(Quality::of(87.5), Quality::VeryGood);

        // The same figures from a technician: 90 proficiency, 1.25 km of a
        // 25 km range, available, 4.8 from 120 reviews, 10 years and no jobs,
        // KES 1,500 against KES 5,000, 60-minute answers, 70% completion.
        let s = run(&tech(), &request(), 1.25).unwrap();
        assert_eq!(s.factors, factors);
        assert_eq!(s.overall, 87.5);
    }

    #[test]
    fn quality_bands_follow_the_spec() {
        for (x, q) in [
            (100.0, Quality::Excellent),
            (90.0, Quality::Excellent),
            (89.9, Quality::VeryGood),
            (75.0, Quality::VeryGood),
            (74.9, Quality::Good),
            (60.0, Quality::Good),
            (59.9, Quality::Fair),
            (40.0, Quality::Fair),
            (39.9, Quality::Poor),
            (0.0, Quality::Poor),
        ] {
            assert_eq!(Quality::of(x), q, "{x}");
        }
        assert_eq!(Quality::VeryGood.as_str(), "very_good");
    }

    #[test]
    fn skill_is_proficiency_and_not_offering_is_no_candidate() {
        let req = request();
        let mut t = tech();
        t.skills[0].proficiency = 100;
        assert_eq!(factor(&t, &req, 1.0, Factor::SkillMatch), 100.0);
        t.skills[0].proficiency = 0;
        assert_eq!(factor(&t, &req, 1.0, Factor::SkillMatch), 0.0);
        t.skills[0].category = "electrical".into();
        assert_eq!(run(&t, &req, 1.0), Err(Exclusion::NotOffered));
        t.service_categories = vec!["plumbing".into()];
        assert_eq!(factor(&t, &req, 1.0, Factor::SkillMatch), 50.0);
    }

    #[test]
    fn only_bookable_technicians_are_candidates() {
        let mut req = request();
        let mut t = tech();
        t.kyc_status = "pending".into();
        assert_eq!(run(&t, &req, 1.0), Err(Exclusion::NotBookable));
        req.require_kyc = false;
        assert!(run(&t, &req, 1.0).is_ok(), "KYC not required: matched");
        let req = request();
        let mut t = tech();
        t.status = "suspended".into();
        assert_eq!(run(&t, &req, 1.0), Err(Exclusion::NotBookable));
    }

    #[test]
    fn proximity_falls_from_100_to_0_at_the_nearer_limit() {
        let mut req = request();
        let mut t = tech();
        assert_eq!(factor(&t, &req, 0.0, Factor::LocationProximity), 100.0);
        assert_eq!(factor(&t, &req, 12.5, Factor::LocationProximity), 50.0);
        assert_eq!(factor(&t, &req, 25.0, Factor::LocationProximity), 0.0);
        assert_eq!(run(&t, &req, 25.1), Err(Exclusion::OutOfRange));
        // The technician serves 10 km only: the scale ends there.
        t.service_radius_km = 10.0;
        assert_eq!(factor(&t, &req, 5.0, Factor::LocationProximity), 50.0);
        assert_eq!(run(&t, &req, 10.5), Err(Exclusion::OutOfRange));
        // The customer accepts 4 km only.
        req.max_distance_km = 4.0;
        assert_eq!(factor(&t, &req, 1.0, Factor::LocationProximity), 75.0);
        assert_eq!(run(&t, &req, 4.5), Err(Exclusion::OutOfRange));
    }

    #[test]
    fn availability_now_and_the_weekly_schedule() {
        let mut req = request();
        let mut t = tech();
        assert_eq!(factor(&t, &req, 1.0, Factor::Availability), 100.0);
        t.availability_status = "busy".into();
        assert_eq!(factor(&t, &req, 1.0, Factor::Availability), 40.0);
        t.availability_status = "offline".into();
        assert_eq!(factor(&t, &req, 1.0, Factor::Availability), 10.0);

        // 2025-10-15T07:00:00Z is Wednesday 10:00 in Nairobi (UTC+3).
        req.preferred_at = crate::ids::parse_datetime("2025-10-15T07:00:00Z");
        // No schedule: unknown, only "now" counts.
        assert_eq!(factor(&t, &req, 1.0, Factor::Availability), 10.0);
        t.schedule = vec![ScheduleSlot {
            day_of_week: 3,
            start_time: "08:00".into(),
            end_time: "17:00".into(),
            is_available: true,
        }];
        // Offline now but works then: 0.3·10 + 0.7·100.
        assert_eq!(factor(&t, &req, 1.0, Factor::Availability), 73.0);
        t.availability_status = "available".into();
        assert_eq!(factor(&t, &req, 1.0, Factor::Availability), 100.0);
        // Thursday is not covered: 0.3·100 + 0.7·20.
        req.preferred_at = crate::ids::parse_datetime("2025-10-16T07:00:00Z");
        assert_eq!(factor(&t, &req, 1.0, Factor::Availability), 44.0);
        // Wednesday 17:00 local is the end of the slot, not in it.
        req.preferred_at = crate::ids::parse_datetime("2025-10-15T14:00:00Z");
        assert_eq!(factor(&t, &req, 1.0, Factor::Availability), 44.0);
        // A slot marked unavailable covers nothing.
        req.preferred_at = crate::ids::parse_datetime("2025-10-15T07:00:00Z");
        t.schedule[0].is_available = false;
        assert_eq!(factor(&t, &req, 1.0, Factor::Availability), 44.0);
        // Overnight slots wrap.
        t.schedule = vec![ScheduleSlot {
            day_of_week: 3,
            start_time: "22:00".into(),
            end_time: "06:00".into(),
            is_available: true,
        }];
        req.preferred_at = crate::ids::parse_datetime("2025-10-15T20:00:00Z"); // 23:00 local
        assert_eq!(factor(&t, &req, 1.0, Factor::Availability), 100.0);
    }

    #[test]
    fn local_times_and_clock_strings() {
        // 2025-10-15T07:00:00Z: Wednesday 10:00 in Nairobi, Wednesday 07:00 UTC.
        let at = crate::ids::parse_datetime("2025-10-15T07:00:00Z").unwrap();
        assert_eq!(local_time(at, 180), Some((3, 600)));
        assert_eq!(local_time(at, 0), Some((3, 420)));
        // Crossing midnight backwards: Tuesday 23:00 at UTC-8.
        assert_eq!(local_time(at, -480), Some((2, 1380)));
        assert_eq!(local_time(0, 0), Some((4, 0)), "1970-01-01 was a Thursday");
        assert_eq!(local_time(-1, 0), Some((3, 1439)));
        assert_eq!(minutes_of("8:05"), Some(485));
        assert_eq!(minutes_of("17:00"), Some(1020));
        assert_eq!(minutes_of("24:00"), Some(1440));
        for bad in ["24:01", "7:60", "noon", "1700", "1:2", ""] {
            assert_eq!(minutes_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn urgent_requests_need_someone_available_now() {
        let mut req = request();
        let mut t = tech();
        t.availability_status = "busy".into();
        for u in [Urgency::High, Urgency::Emergency] {
            req.urgency = u;
            assert_eq!(run(&t, &req, 1.0), Err(Exclusion::NotAvailableNow));
        }
        req.urgency = Urgency::Low;
        assert!(run(&t, &req, 1.0).is_ok());
        assert_eq!(Urgency::parse("urgent"), Some(Urgency::Emergency));
        assert_eq!(Urgency::parse("normal"), Some(Urgency::Medium));
        assert_eq!(Urgency::parse("soon"), None);
    }

    #[test]
    fn rating_is_stars_times_20_smoothed_for_few_reviews() {
        let req = request();
        let mut t = tech();
        assert_eq!(factor(&t, &req, 1.0, Factor::Rating), 96.0);
        t.rating_avg = 5.0;
        t.rating_count = 500;
        assert_eq!(factor(&t, &req, 1.0, Factor::Rating), 100.0);
        // No reviews: the neutral 3.5.
        t.rating_avg = 0.0;
        t.rating_count = 0;
        assert_eq!(factor(&t, &req, 1.0, Factor::Rating), 70.0);
        // One 5-star review does not beat a hundred 4.9s.
        let one = smoothed_stars(5.0, 1);
        let hundred = smoothed_stars(4.9, 100);
        assert!(one < hundred, "{one} vs {hundred}");
        assert!((hundred - 4.9).abs() < 1e-9);
        // Half way to full confidence: half the average, half the prior.
        assert_eq!(smoothed_stars(4.5, 10), 4.0);
        assert_eq!(best_possible_stars(2.0), RATING_PRIOR);
        assert_eq!(best_possible_stars(4.7), 4.7);
    }

    #[test]
    fn minimum_rating_maximum_rate_and_years_filter() {
        let mut req = request();
        let mut t = tech();
        req.min_rating = 4.9;
        assert_eq!(run(&t, &req, 1.0), Err(Exclusion::BelowMinRating));
        req.min_rating = 4.8;
        assert!(run(&t, &req, 1.0).is_ok());
        // The default minimum (3.5) lets technicians without reviews through.
        req.min_rating = 3.5;
        t.rating_avg = 0.0;
        t.rating_count = 0;
        assert!(run(&t, &req, 1.0).is_ok());
        req.max_rate_minor = Some(100_000);
        assert_eq!(run(&t, &req, 1.0), Err(Exclusion::AboveMaxRate));
        t.hourly_rate_minor = None;
        assert!(run(&t, &req, 1.0).is_ok());
        req.min_years_experience = 11;
        assert_eq!(run(&t, &req, 1.0), Err(Exclusion::TooLittleExperience));
    }

    #[test]
    fn experience_saturates_at_ten_years_and_a_hundred_jobs() {
        let req = request();
        let mut t = tech();
        t.years_experience = 0;
        t.skills[0].years_of_experience = 0;
        assert_eq!(factor(&t, &req, 1.0, Factor::ExperienceLevel), 0.0);
        t.years_experience = 10;
        t.completed_jobs = 100;
        assert_eq!(factor(&t, &req, 1.0, Factor::ExperienceLevel), 100.0);
        t.years_experience = 40;
        t.completed_jobs = 5000;
        assert_eq!(factor(&t, &req, 1.0, Factor::ExperienceLevel), 100.0);
        t.years_experience = 2;
        t.completed_jobs = 30;
        assert_eq!(factor(&t, &req, 1.0, Factor::ExperienceLevel), 25.0);
        // Years in the requested skill count when the profile says fewer.
        t.skills[0].years_of_experience = 8;
        assert_eq!(factor(&t, &req, 1.0, Factor::ExperienceLevel), 55.0);
    }

    #[test]
    fn pricing_compares_the_rate_with_the_budget() {
        assert_eq!(pricing_score(Some(80), Some(100)), 100.0);
        assert_eq!(pricing_score(Some(100), Some(100)), 85.0);
        assert_eq!(pricing_score(Some(150), Some(100)), 0.0);
        assert_eq!(pricing_score(Some(1000), Some(100)), 0.0);
        assert_eq!(round_to(pricing_score(Some(125), Some(100)), 1), 42.5);
        assert_eq!(pricing_score(None, Some(100)), 60.0);
        assert_eq!(pricing_score(Some(100), None), 60.0);
        assert_eq!(pricing_score(Some(0), Some(100)), 100.0);
    }

    #[test]
    fn response_time_and_completion_rate_edges() {
        assert_eq!(response_score(Some(0.0)), 100.0);
        assert_eq!(response_score(Some(15.0)), 100.0);
        assert_eq!(response_score(Some(60.0)), 70.0);
        assert_eq!(response_score(Some(240.0)), 10.0);
        assert_eq!(response_score(Some(10_000.0)), 10.0);
        assert_eq!(response_score(None), 60.0);
        assert_eq!(response_score(Some(f64::NAN)), 60.0);
        assert_eq!(completion_score(Some(100.0)), 100.0);
        assert_eq!(completion_score(Some(0.0)), 0.0);
        assert_eq!(completion_score(Some(130.0)), 100.0);
        assert_eq!(completion_score(None), 80.0);
    }

    #[test]
    fn customer_preference_from_history() {
        assert_eq!(preference_score(&History::default()), 50.0);
        let booked = History {
            completed_bookings: 1,
            ..History::default()
        };
        assert_eq!(preference_score(&booked), 65.0);
        let many = History {
            completed_bookings: 10,
            ..History::default()
        };
        assert_eq!(preference_score(&many), 90.0);
        let loved = History {
            completed_bookings: 3,
            rating_sum: 10.0,
            rating_count: 2,
            is_preferred: true,
        };
        assert_eq!(preference_score(&loved), 100.0);
        let disliked = History {
            rating_sum: 2.0,
            rating_count: 2,
            ..History::default()
        };
        assert_eq!(preference_score(&disliked), 25.0);
        let preferred = History {
            is_preferred: true,
            ..History::default()
        };
        assert_eq!(preference_score(&preferred), 80.0);
    }

    #[test]
    fn overall_uses_the_weights_given() {
        let req = request();
        let t = tech();
        let mut only_rating = [0.0; 9];
        only_rating[Factor::Rating.index()] = 1.0;
        let s = score(
            &req,
            &Candidate {
                technician: &t,
                distance_km: 1.0,
            },
            &Weights(only_rating),
            &History::default(),
        )
        .unwrap();
        assert_eq!(s.overall, 96.0);
    }

    #[test]
    fn every_factor_has_a_sentence() {
        let mut req = request();
        req.preferred_at = crate::ids::parse_datetime("2025-10-15T07:00:00Z");
        let mut t = tech();
        t.completed_jobs = 120;
        let history = History {
            completed_bookings: 2,
            ..History::default()
        };
        let cand = Candidate {
            technician: &t,
            distance_km: 3.21,
        };
        let s = score(&req, &cand, &Weights::DEFAULT, &history).unwrap();
        let rs = reasons(&req, &cand, &history, &s, &Weights::DEFAULT);
        assert_eq!(rs.len(), 9);
        let text: Vec<&str> = rs.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(text[0], "Expert in required service category");
        assert_eq!(text[1], "3.2 km away: very close to your location");
        assert_eq!(text[2], "Available now");
        assert_eq!(text[3], "Rated 4.8 from 120 reviews");
        assert_eq!(text[4], "10 years of experience, 120 jobs completed");
        assert_eq!(text[5], "KES 1,500/hour, within your budget of KES 5,000");
        assert_eq!(text[6], "Usually responds within 60 minutes");
        assert_eq!(text[7], "Completes 70% of accepted jobs");
        assert_eq!(text[8], "You booked them 2 times before");
        assert_eq!(rs[0].weight, 0.25);
        assert_eq!(rs[0].score, 90.0);
        assert_eq!(rs[0].contribution, 22.5);
        let total: f64 = rs.iter().map(|r| r.contribution).sum();
        assert!((total - s.overall).abs() < 0.1);
        assert_eq!(money("KES", 123_456_789), "KES 1,234,567.89");
        assert_eq!(money("KES", 50), "KES 0.50");
    }

    #[test]
    fn custom_weights_are_validated_and_normalised() {
        let base = Weights::DEFAULT;
        // All nine as fractions.
        let w = Weights::parse_custom(
            &json!({"skillMatch": 0.3, "locationProximity": 0.3, "availability": 0.1, "rating": 0.1,
                    "experienceLevel": 0.1, "pricing": 0.05, "responseTime": 0.05, "completionRate": 0.0,
                    "customerPreference": 0.0}),
            &base,
        )
        .unwrap();
        assert!((w.get(Factor::SkillMatch) - 0.3).abs() < 1e-12);
        assert!((w.0.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // Percent, as the original stored them; merged over the base.
        let w = Weights::parse_custom(&json!({"skillMatch": 35, "locationProximity": 10}), &base)
            .unwrap();
        assert!((w.get(Factor::SkillMatch) - 0.35).abs() < 1e-12);
        assert!((w.get(Factor::Rating) - 0.15).abs() < 1e-12);
        // Within the tolerance, normalised exactly.
        let w = Weights::parse_custom(&json!({"customerPreference": 0.025}), &base).unwrap();
        assert!((w.0.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // Not summing to 100: each becomes round(w / sum × 100), as the wire.
        let all = |v: f64| -> Value {
            Value::Object(
                FACTORS
                    .iter()
                    .map(|f| (f.key().to_string(), json!(v)))
                    .collect(),
            )
        };
        let w = Weights::parse_custom(&all(50.0), &base).unwrap();
        assert!((w.get(Factor::Rating) - 1.0 / 9.0).abs() < 1e-12);
        let w = Weights::parse_custom(&json!({"skillMatch": 75, "locationProximity": 20}), &base)
            .unwrap();
        // 75, 20, 15, 15, 10, 5, 5, 3, 2 = 150: 50, 13, 10, 10, 7, 3, 3, 2, 1 (sum 99).
        assert!((w.get(Factor::SkillMatch) - 50.0 / 99.0).abs() < 1e-12);
        assert!((w.get(Factor::LocationProximity) - 13.0 / 99.0).abs() < 1e-12);
        // Unknown factors are dropped.
        assert_eq!(
            Weights::parse_custom(&json!({"charm": 0.1}), &base).unwrap(),
            base
        );
        // Refusals.
        let field_of = |v: Value| {
            Weights::parse_custom(&v, &base).unwrap_err()[0]
                .field
                .clone()
        };
        assert_eq!(
            field_of(json!({"skillMatch": -0.05, "rating": 0.2})),
            "customWeights.skillMatch"
        );
        assert_eq!(field_of(json!({"rating": "high"})), "customWeights.rating");
        assert_eq!(field_of(json!({"rating": 101})), "customWeights.rating");
        assert_eq!(field_of(json!([1, 2])), "customWeights");
        let zeros: Map<String, Value> = FACTORS
            .iter()
            .map(|f| (f.key().to_string(), json!(0)))
            .collect();
        assert!(Weights::parse_custom(&Value::Object(zeros), &base).is_err());
        // Stored form round-trips.
        assert_eq!(Weights::from_stored(&base.to_json()), Some(base));
    }

    fn others() -> Vec<[f64; 9]> {
        vec![
            [80.0, 90.0, 100.0, 70.0, 50.0, 60.0, 60.0, 80.0, 50.0],
            [80.0, 80.0, 100.0, 72.0, 50.0, 60.0, 60.0, 80.0, 50.0],
        ]
    }

    #[test]
    fn accepting_a_better_rated_farther_technician_moves_weight_to_rating() {
        let chosen = [80.0, 40.0, 100.0, 98.0, 50.0, 60.0, 60.0, 80.0, 50.0];
        let w = Weights::DEFAULT;
        let adj = learn(&w, &w, &chosen, &others(), Signal::Accepted, "John D.").unwrap();
        assert!(adj.after.get(Factor::Rating) > w.get(Factor::Rating));
        assert!(adj.after.get(Factor::LocationProximity) < w.get(Factor::LocationProximity));
        assert!((adj.after.0.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        // Bounded: no weight moved by more than one step plus the shared shift.
        for i in 0..9 {
            assert!(
                (adj.after.0[i] - w.0[i]).abs() <= 2.0 * MAX_STEP + 1e-9,
                "{i}"
            );
        }
        assert!(adj.explanation.contains("rating"), "{}", adj.explanation);
        assert!(adj.explanation.contains("distance"), "{}", adj.explanation);
        // Rejecting the same technician moves the other way.
        let adj = learn(&w, &w, &chosen, &others(), Signal::Rejected, "John D.").unwrap();
        assert!(adj.after.get(Factor::Rating) < w.get(Factor::Rating));
        assert!(adj.after.get(Factor::LocationProximity) > w.get(Factor::LocationProximity));
    }

    #[test]
    fn nothing_to_learn_without_alternatives_or_with_a_neutral_signal() {
        let w = Weights::DEFAULT;
        let chosen = [80.0; 9];
        assert_eq!(learn(&w, &w, &chosen, &[], Signal::Accepted, "x"), None);
        assert_eq!(
            learn(&w, &w, &chosen, &others(), Signal::Rated(3), "x"),
            None
        );
        assert_eq!(
            learn(&w, &w, &[80.0; 9], &[[80.0; 9]], Signal::Accepted, "x"),
            None
        );
        assert!(Signal::Rated(5).strength() > 0.0 && Signal::Rated(1).strength() < 0.0);
    }

    #[test]
    fn a_long_run_of_the_same_choice_stays_within_floors_and_caps() {
        let base = Weights::DEFAULT;
        let mut w = base;
        // Always picks the best-rated, farthest, priciest technician.
        let chosen = [60.0, 0.0, 40.0, 100.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let other = [[100.0; 9], [90.0; 9]];
        let mut last_rating = w.get(Factor::Rating);
        for step in 0..500 {
            if let Some(adj) = learn(&w, &base, &chosen, &other, Signal::Accepted, "x") {
                w = adj.after;
            }
            let sum: f64 = w.0.iter().sum();
            assert!((sum - 1.0).abs() < 1e-9, "step {step}: {sum}");
            for (i, x) in w.0.iter().enumerate() {
                assert!(
                    *x >= WEIGHT_FLOOR - 1e-9 && *x <= WEIGHT_CAP + 1e-9,
                    "step {step} factor {i}: {x}"
                );
            }
            assert!(w.get(Factor::Rating) >= last_rating - 1e-12);
            last_rating = w.get(Factor::Rating);
        }
        assert!((w.get(Factor::Rating) - WEIGHT_CAP).abs() < 1e-6);
        assert!(w.get(Factor::LocationProximity) < base.get(Factor::LocationProximity) - 0.02);
    }

    #[test]
    fn factors_the_customer_switched_off_stay_off() {
        let mut base = Weights::DEFAULT.0;
        base[Factor::Pricing.index()] = 0.0;
        let base = normalised(base).unwrap();
        let chosen = [50.0, 50.0, 50.0, 50.0, 50.0, 100.0, 50.0, 50.0, 50.0];
        let adj = learn(&base, &base, &chosen, &[[50.0; 9]], Signal::Accepted, "x");
        // Pricing was the only standout, and it may not move: nothing changes.
        assert_eq!(adj, None);
        assert_eq!(bounds(&base)[Factor::Pricing.index()], (0.0, 0.0));
    }
}
