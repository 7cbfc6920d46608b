//! Request and response shapes of `/api/v1/matching` as documented in the
//! OpenAPI document (the wire keys handlers build with `json!`).

#![allow(dead_code)]

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// A service category.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceCategory {
    Plumbing,
    Electrical,
    Carpentry,
    Masonry,
    Painting,
    Hvac,
    Welding,
    Cleaning,
    ApplianceRepair,
    Locksmith,
    Landscaping,
    Roofing,
    Flooring,
    PestControl,
    GeneralHandyman,
    Other,
}

/// How soon the job is needed (`normal` is read as medium, `urgent` as emergency).
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MatchUrgency {
    Low,
    Medium,
    High,
    Emergency,
}

/// Where a match is in its life.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MatchStatus {
    Suggested,
    Viewed,
    Contacted,
    Accepted,
    Rejected,
    Expired,
}

/// What the customer did with a match.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MatchAction {
    None,
    Contacted,
    Booked,
    Skipped,
    Reported,
}

/// The band of `scores.overall`: excellent 90-100, very_good 75-89, good 60-74, fair 40-59, poor 0-39.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchQuality {
    Excellent,
    VeryGood,
    Good,
    Fair,
    Poor,
}

/// How accurate the customer found a match.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Accuracy {
    Accurate,
    PartiallyAccurate,
    Inaccurate,
}

// ---------------------------------------------------------------- requests

/// A job location: GeoJSON point plus an optional address.
#[derive(Deserialize, ToSchema)]
pub struct JobLocation {
    /// "Point".
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `[longitude, latitude]`.
    pub coordinates: Vec<f64>,
    pub address: Option<String>,
}

/// `POST /matching/find-technicians`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FindBody {
    pub service_category: ServiceCategory,
    pub location: JobLocation,
    /// Default: the preference `general.defaultUrgency` (medium). High and
    /// emergency only match technicians available now.
    pub urgency: Option<MatchUrgency>,
    /// What the customer means to pay per hour (KES, at most 2 decimals).
    pub budget: Option<f64>,
    /// When the job should be done (ISO 8601); scored against weekly schedules.
    pub preferred_date: Option<String>,
    /// Up to 1000 characters.
    pub description: Option<String>,
    /// How many matches to return: 1 to 20, default 5.
    pub limit: Option<u32>,
}

/// `POST /matching/:id/accept`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcceptBody {
    /// `YYYY-MM-DD` (with `scheduledTime`) or a full ISO 8601 date-time; in the future.
    pub scheduled_date: String,
    /// `H:MM` or `HH:MM`, 24-hour, local time; required with a date-only `scheduledDate`.
    pub scheduled_time: Option<String>,
    /// Up to 1000 characters; default "Booking from AI match".
    pub description: Option<String>,
    /// Hours when 24 or less (default 2), minutes above that; at most 1440 minutes.
    pub estimated_duration: Option<f64>,
    /// Up to 100 characters; default: the category's name.
    pub service_type: Option<String>,
}

/// `POST /matching/:id/reject`.
#[derive(Deserialize, ToSchema)]
pub struct RejectBody {
    /// Up to 500 characters.
    pub reason: Option<String>,
}

/// `POST /matching/:id/feedback`.
#[derive(Deserialize, ToSchema)]
pub struct FeedbackBody {
    pub helpful: Option<bool>,
    /// 1 to 5.
    pub rating: Option<u8>,
    /// Validated, not stored (as the original).
    pub accuracy: Option<Accuracy>,
    /// Up to 500 characters.
    pub comment: Option<String>,
}

/// `PUT /matching/preferences`: any of the groups; each key replaces the stored one.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreferencesBody {
    /// maxDistance (1-100 km), priceRange {min, max, preference}, responseTime, languages, defaultUrgency.
    #[schema(value_type = Option<Object>)]
    pub general: Option<Value>,
    /// ratingImportance (0-10), minRating (0-5), maxHourlyRate (KES or null), minYearsExperience,
    /// preferredTechnicians (ids), experienceLevel, genderPreference, agePreference, require* flags.
    #[schema(value_type = Option<Object>)]
    pub technician_preferences: Option<Value>,
    /// preferredTimeSlots [{day, startTime, endTime}], bookingAdvanceTime, availabilityRequired.
    #[schema(value_type = Option<Object>)]
    pub scheduling: Option<Value>,
    /// preferredMethod, expectedResponseTime, notifyOnMatch, notifyOnBetterMatch, matchNotificationFrequency.
    #[schema(value_type = Option<Object>)]
    pub communication: Option<Value>,
    /// enableAIRecommendations, autoMatch, enableSmartScheduling, enablePricePrediction,
    /// allowBehaviorLearning, personalizationLevel.
    #[schema(value_type = Option<Object>)]
    pub ai: Option<Value>,
    pub custom_weights: Option<FactorWeights>,
}

/// The nine factor weights. Sent as fractions summing to 1 (or percent
/// summing to 100); keys not sent keep their value; stored normalised.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FactorWeights {
    pub skill_match: Option<f64>,
    pub location_proximity: Option<f64>,
    pub availability: Option<f64>,
    pub rating: Option<f64>,
    pub experience_level: Option<f64>,
    pub pricing: Option<f64>,
    pub response_time: Option<f64>,
    pub completion_rate: Option<f64>,
    pub customer_preference: Option<f64>,
}

/// `POST /matching/block/:technicianId`.
#[derive(Deserialize, ToSchema)]
pub struct BlockBody {
    /// Up to 500 characters.
    pub reason: Option<String>,
}

// ---------------------------------------------------------------- responses

/// One score per factor (0-100) and their weighted sum.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Scores {
    pub overall: f64,
    pub skill_match: f64,
    pub location_proximity: f64,
    pub availability: f64,
    pub rating: f64,
    pub experience_level: f64,
    pub pricing: f64,
    pub response_time: f64,
    pub completion_rate: f64,
    pub customer_preference: f64,
}

/// Why a technician scored as they did on one factor.
#[derive(Serialize, ToSchema)]
pub struct MatchReason {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub id: String,
    /// The factor's key (as in `scores`).
    pub factor: String,
    /// A sentence for the customer, e.g. "3.2 km away".
    pub reason: String,
    /// The factor's weight (fraction).
    pub weight: f64,
    /// The factor's score (0-100).
    pub score: f64,
    /// Points it added to the overall score.
    pub contribution: f64,
}

/// A GeoJSON point.
#[derive(Serialize, ToSchema)]
pub struct Point {
    #[serde(rename = "type")]
    pub kind: String,
    /// `[longitude, latitude]`.
    pub coordinates: Vec<f64>,
    pub address: Option<String>,
}

/// The populated technician of a match.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchTechnician {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub full_name: Option<String>,
    /// `{url}`.
    #[schema(value_type = Option<Object>)]
    pub profile_picture: Option<Value>,
    /// `{average, count}`.
    #[schema(value_type = Option<Object>)]
    pub rating: Option<Value>,
    /// `[{name, category, proficiency, yearsOfExperience, verified}]`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub skills: Option<Vec<Value>>,
    /// KES per hour.
    pub hourly_rate: Option<f64>,
    pub years_of_experience: Option<i64>,
    /// `{status, schedule[]}`.
    #[schema(value_type = Option<Object>)]
    pub availability: Option<Value>,
    pub completed_jobs: Option<i64>,
    #[schema(value_type = Option<Object>)]
    pub location: Option<Value>,
    /// `{plan}`.
    #[schema(value_type = Option<Object>)]
    pub subscription: Option<Value>,
    /// km.
    pub service_radius: Option<f64>,
}

/// The populated customer of `GET /matching/:id`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchCustomer {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub full_name: String,
    #[schema(value_type = Object)]
    pub profile_picture: Value,
}

/// The customer: an id in lists, populated in `GET /matching/:id`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum CustomerRef {
    Id(String),
    User(MatchCustomer),
}

/// The rules a match was scored with.
#[derive(Serialize, ToSchema)]
pub struct Algorithm {
    pub version: String,
    pub model: String,
    pub factors: FactorWeights,
}

/// The customer's feedback on a match.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchFeedback {
    pub helpful: Option<bool>,
    pub rating: Option<i64>,
    pub comment: Option<String>,
    pub submitted_at: String,
}

/// The Matching document.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Matching {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub id: String,
    pub customer: CustomerRef,
    pub technician: MatchTechnician,
    pub service_category: ServiceCategory,
    pub location: Point,
    pub urgency: MatchUrgency,
    pub scores: Scores,
    /// km, one decimal.
    pub distance: f64,
    pub match_reasons: Vec<MatchReason>,
    pub algorithm: Algorithm,
    pub status: MatchStatus,
    pub action: MatchAction,
    pub viewed_at: Option<String>,
    pub responded_at: Option<String>,
    pub booking_id: Option<String>,
    pub feedback: Option<MatchFeedback>,
    pub expires_at: String,
    pub is_active: bool,
    pub match_quality: MatchQuality,
    pub session_id: String,
    /// 1 = best of its session.
    pub rank: i64,
    pub created_at: String,
    pub updated_at: String,
    #[serde(rename = "__v")]
    pub version: i64,
}

/// The caller's limits echoed by find-technicians.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EchoedPreferences {
    pub max_distance: f64,
    pub min_rating: f64,
}

/// `{success, count, data, sessionId, preferences}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FindResponse {
    pub success: bool,
    pub count: i64,
    pub data: Vec<Matching>,
    /// UUID v4 of this search.
    pub session_id: String,
    pub preferences: EchoedPreferences,
}

/// `{success, count, data}`.
#[derive(Serialize, ToSchema)]
pub struct MatchList {
    pub success: bool,
    pub count: i64,
    pub data: Vec<Matching>,
}

/// `{success, message?, data}`.
#[derive(Serialize, ToSchema)]
pub struct MatchResponse {
    pub success: bool,
    pub message: Option<String>,
    pub data: Matching,
}

/// The booking an accepted match created.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchBooking {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub id: String,
    /// `awaiting_acceptance` (the technician still has to accept).
    pub status: String,
    pub customer: String,
    pub technician: String,
    pub service_category: ServiceCategory,
    pub service_type: String,
    pub description: String,
    pub urgency: MatchUrgency,
    pub scheduled_date: String,
    /// `{date, startTime, endTime, estimatedDuration (minutes)}`.
    #[schema(value_type = Object)]
    pub time_slot: Value,
    #[schema(value_type = Object)]
    pub service_location: Value,
    /// `{totalAmount, currency}`.
    #[schema(value_type = Object)]
    pub pricing: Value,
    pub source: String,
    pub match_score: f64,
    pub matching: String,
}

/// `{matching, booking}`.
#[derive(Serialize, ToSchema)]
pub struct AcceptData {
    pub matching: Matching,
    pub booking: MatchBooking,
}

/// `{success, message, data: {matching, booking}}`.
#[derive(Serialize, ToSchema)]
pub struct AcceptResponse {
    pub success: bool,
    pub message: String,
    pub data: AcceptData,
}

/// `successRate`: the number 0 before any match, then a string with 2 decimals ("12.50").
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum SuccessRate {
    Zero(f64),
    Percent(String),
}

/// One change learning made to the weights.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WeightAdjustment {
    /// accepted, rejected, rated_N, helpful_true/false, reset.
    pub signal: String,
    pub match_id: Option<String>,
    pub explanation: String,
    pub before: FactorWeights,
    pub after: FactorWeights,
    pub created_at: String,
}

/// What the engine learned and uses.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Learning {
    /// `ai.allowBehaviorLearning`.
    pub enabled: bool,
    /// The weights scoring uses now.
    pub weights: FactorWeights,
    /// The customer's own (or default) weights: where learning starts and a reset returns.
    pub base_weights: FactorWeights,
    /// `null` until something was learned.
    pub learned_weights: Option<FactorWeights>,
    pub steps: i64,
    /// The newest changes first.
    pub adjustments: Vec<WeightAdjustment>,
}

/// The MatchingPreference document.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Preference {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub id: String,
    pub user: String,
    #[schema(value_type = Object)]
    pub general: Value,
    #[schema(value_type = Object)]
    pub technician_preferences: Value,
    #[schema(value_type = Object)]
    pub scheduling: Value,
    /// `{favoredTechnicians[], blockedTechnicians[], preferredCategories[]}`.
    #[schema(value_type = Object)]
    pub learned_preferences: Value,
    #[schema(value_type = Object)]
    pub communication: Value,
    #[schema(value_type = Object)]
    pub ai: Value,
    /// The customer's own weights (fractions), or the defaults.
    pub custom_weights: FactorWeights,
    #[schema(value_type = Object)]
    pub privacy: Value,
    pub learning: Learning,
    pub last_updated: String,
    pub last_match_request: Option<String>,
    pub total_matches: i64,
    pub successful_bookings: i64,
    pub success_rate: SuccessRate,
    pub created_at: String,
    pub updated_at: String,
    #[serde(rename = "__v")]
    pub version: i64,
}

/// `{success, message?, data}`.
#[derive(Serialize, ToSchema)]
pub struct PreferenceResponse {
    pub success: bool,
    pub message: Option<String>,
    pub data: Preference,
}

/// Counts of one quality band.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BandStats {
    pub band: MatchQuality,
    pub shown: i64,
    pub accepted: i64,
    pub rejected: i64,
    /// accepted / shown, 0-1 (`null` when none shown).
    pub acceptance_rate: Option<f64>,
    /// Sessions whose best match was in this band.
    pub sessions: i64,
}

/// Matching analytics for admins.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsData {
    pub sessions: i64,
    /// Sessions that found nobody.
    pub empty_sessions: i64,
    pub matches_shown: i64,
    pub accepted: i64,
    pub rejected: i64,
    /// accepted / shown (`null` when none shown).
    pub acceptance_rate: Option<f64>,
    /// Mean overall score of accepted matches (`null` when none).
    pub average_accepted_score: Option<f64>,
    pub by_quality: Vec<BandStats>,
    /// Start of the window (null: everything kept, purged days included as counts).
    pub since: Option<String>,
    pub retention_days: i64,
}

/// `{success, data}`.
#[derive(Serialize, ToSchema)]
pub struct AnalyticsResponse {
    pub success: bool,
    pub data: AnalyticsData,
}
