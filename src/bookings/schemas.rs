//! Response shapes of the bookings routes as documented: the wire keys
//! each endpoint answers with. These types exist for the OpenAPI document;
//! `document.rs` builds the same keys.

#![allow(dead_code)]

use serde::Serialize;
use utoipa::ToSchema;

use crate::bookings::model::{ItemKind, Resolution, Status};

/// BookingUrgency as stored and sent.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BookingUrgency {
    Low,
    Medium,
    High,
    Emergency,
}

/// Where a booking came from.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BookingSource {
    MobileApp,
    WebApp,
    AdminPanel,
    Api,
}

/// `serviceLocation`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookingLocation {
    /// Always "Point".
    #[serde(rename = "type")]
    pub kind: String,
    /// `[lng, lat]`.
    pub coordinates: Vec<f64>,
    pub address: Option<String>,
    pub city: Option<String>,
    pub county: Option<String>,
    pub landmarks: Option<String>,
    pub access_instructions: Option<String>,
}

/// `timeSlot`: local start and end times of the job.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookingTimeSlot {
    pub date: String,
    /// HH:MM, local.
    pub start_time: String,
    /// HH:MM, local.
    pub end_time: String,
    /// Minutes.
    pub estimated_duration: i64,
}

/// One timeline entry.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookingHistoryEntry {
    /// The status the booking moved to.
    pub status: Status,
    /// The status it left (null for the creation).
    pub from: Option<Status>,
    /// create, assign, accept, decline, en_route, arrive, start, complete, cancel, dispute, resolve_completed, resolve_refunded.
    pub action: String,
    pub changed_by: Option<String>,
    pub changed_at: String,
    pub reason: Option<String>,
    pub notes: String,
}

/// One line of a price.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookingLineItem {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub kind: ItemKind,
    pub description: String,
    pub quantity: i64,
    pub unit_price: f64,
    pub amount: f64,
}

/// `pricing`, amounts in major units. `totalAmount` is what the customer
/// pays; `platformFee` is the platform's share of it and
/// `technicianEarnings` the rest.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookingPricing {
    /// Labour lines.
    pub base_price: f64,
    /// Same as basePrice.
    pub service_charge: f64,
    /// Parts and materials lines.
    pub materials_total: f64,
    /// Transport lines.
    pub additional_costs: f64,
    pub discount: f64,
    pub tax: f64,
    pub subtotal: f64,
    pub platform_fee: f64,
    pub total_amount: f64,
    pub technician_earnings: f64,
    pub currency: String,
    pub updated_at: Option<String>,
    /// The line items (single-booking views).
    pub items: Option<Vec<BookingLineItem>>,
}

/// One past price.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookingPricingChange {
    pub changed_by: String,
    pub changed_at: String,
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Value>,
    pub subtotal: f64,
    pub platform_fee: f64,
    pub total_amount: f64,
    pub currency: String,
    pub note: Option<String>,
}

/// `cancellation`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookingCancellation {
    pub cancelled_by: Option<String>,
    pub cancelled_at: Option<String>,
    pub reason: Option<String>,
    /// Major units.
    pub cancellation_fee: f64,
}

/// Status of a dispute.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BookingDisputeStatus {
    Open,
    Investigating,
    Resolved,
    Closed,
}

/// What a resolution did to the booking.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BookingDisputeOutcome {
    Completed,
    Refunded,
}

/// `dispute`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookingDispute {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub id: String,
    pub raised_by: String,
    pub raised_at: String,
    pub reason: String,
    pub description: String,
    pub evidence: Vec<String>,
    pub status: BookingDisputeStatus,
    pub resolution: Option<Resolution>,
    pub outcome: Option<BookingDisputeOutcome>,
    /// Major units; null with outcome refunded means the full amount.
    pub refund_amount: Option<f64>,
    pub resolution_notes: Option<String>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<String>,
}

/// Whether a QA check passed.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum QaCheckpointStatus {
    Passed,
    Failed,
}

/// One QA checkpoint.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QaCheckpoint {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub id: String,
    pub name: String,
    /// Same as name.
    pub description: String,
    pub passed: bool,
    pub status: QaCheckpointStatus,
    pub notes: Option<String>,
    /// Media ids.
    pub photos: Vec<String>,
    #[schema(value_type = Vec<Object>)]
    pub images: Vec<serde_json::Value>,
    #[schema(value_type = Vec<Object>)]
    pub checklist: Vec<serde_json::Value>,
    /// The technician's id.
    pub technician: String,
    pub timestamp: String,
    pub created_at: String,
}

/// `qualityAssurance`.
#[derive(Serialize, ToSchema)]
pub struct BookingQualityAssurance {
    pub checkpoints: Vec<QaCheckpoint>,
}

/// The Booking document. Lists carry the summary; single-booking answers
/// add `timeline`, `materialsUsed`, `pricingHistory`, `qualityAssurance`
/// and `dispute`, and the parties' email and location.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Booking {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub id: String,
    pub booking_number: String,
    /// The customer (or corporate account): `{_id, id, firstName, lastName, fullName, phoneNumber, profilePicture{url}, role, email?, location?}`.
    #[schema(value_type = Object)]
    pub customer: serde_json::Value,
    /// The technician's card, or null before one is assigned.
    #[schema(value_type = Option<Object>)]
    pub technician: Option<serde_json::Value>,
    pub service_category: String,
    pub service_type: String,
    pub description: String,
    pub urgency: BookingUrgency,
    #[schema(value_type = Vec<Object>)]
    pub images: Vec<serde_json::Value>,
    /// Media ids.
    pub photos: Vec<String>,
    pub service_location: BookingLocation,
    pub scheduled_date: Option<String>,
    pub time_slot: Option<BookingTimeSlot>,
    pub actual_start_time: Option<String>,
    pub actual_end_time: Option<String>,
    /// Minutes.
    pub actual_duration: Option<i64>,
    /// Hours with two decimals, as a string.
    pub duration_in_hours: Option<String>,
    pub status: Status,
    pub status_history: Vec<BookingHistoryEntry>,
    pub pricing: BookingPricing,
    /// Major units.
    pub budget: Option<f64>,
    pub source: BookingSource,
    pub assigned_at: Option<String>,
    pub accepted_at: Option<String>,
    pub completed_at: Option<String>,
    pub is_upcoming: bool,
    pub is_active: bool,
    pub is_past_due: bool,
    #[schema(value_type = Option<Object>)]
    pub matching_details: Option<serde_json::Value>,
    pub cancellation: Option<BookingCancellation>,
    pub timeline: Option<Vec<BookingHistoryEntry>>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub materials_used: Option<Vec<serde_json::Value>>,
    pub pricing_history: Option<Vec<BookingPricingChange>>,
    pub quality_assurance: Option<BookingQualityAssurance>,
    pub dispute: Option<BookingDispute>,
    pub created_at: String,
    pub updated_at: String,
}

/// `{success, message?, booking}`.
#[derive(Serialize, ToSchema)]
pub struct BookingResponse {
    pub success: bool,
    pub message: Option<String>,
    pub booking: Booking,
}

/// `{success, count, total, page, pages, limit, bookings}`.
#[derive(Serialize, ToSchema)]
pub struct BookingList {
    pub success: bool,
    pub count: i64,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
    pub limit: i64,
    pub bookings: Vec<Booking>,
}

/// Bookings of one status.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookingStatusCount {
    #[serde(rename = "_id")]
    pub status: Status,
    pub count: i64,
    /// Sum of the totals, major units.
    pub total_revenue: f64,
}

/// One local day of platform-wide figures.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookingDayStat {
    /// YYYY-MM-DD, local.
    pub date: String,
    pub created: i64,
    pub completed: i64,
    pub cancelled: i64,
    pub revenue: f64,
    pub platform_fees: f64,
}

/// `GET /bookings/stats`: `{success, total, stats}` for everyone, plus
/// `totalSpent` (customers), the job figures (technicians), or `range`,
/// `revenue` and `daily` (admins and support).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookingStats {
    pub success: bool,
    pub total: i64,
    pub stats: Vec<BookingStatusCount>,
    pub currency: String,
    pub total_spent: Option<f64>,
    pub earnings: Option<f64>,
    pub completed_jobs: Option<i64>,
    pub cancelled_jobs: Option<i64>,
    /// Percent.
    pub completion_rate: Option<f64>,
    /// Minutes from assignment to answer.
    pub average_response_time: Option<f64>,
    #[schema(value_type = Option<Object>)]
    pub range: Option<serde_json::Value>,
    pub revenue: Option<f64>,
    pub daily: Option<Vec<BookingDayStat>>,
}

/// `{success, message, pricing, pricingHistory, booking}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookingPricingResponse {
    pub success: bool,
    pub message: String,
    pub pricing: BookingPricing,
    pub pricing_history: Vec<BookingPricingChange>,
    pub booking: Booking,
}

/// `{success, message, checkpoint, booking}`.
#[derive(Serialize, ToSchema)]
pub struct QaCheckpointResponse {
    pub success: bool,
    pub message: String,
    pub checkpoint: QaCheckpoint,
    pub booking: Booking,
}

/// `{success, message, dispute, booking}`.
#[derive(Serialize, ToSchema)]
pub struct BookingDisputeResponse {
    pub success: bool,
    pub message: String,
    pub dispute: Option<BookingDispute>,
    pub booking: Booking,
}
