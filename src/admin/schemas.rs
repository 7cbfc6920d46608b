//! Documented shapes of the `/api/v1/admin` answers (these types exist for
//! the OpenAPI document; names are prefixed `Admin` so no module's collide).

#![allow(dead_code)]

use serde::Serialize;
use utoipa::ToSchema;

/// Accounts of one role (deleted ones left out).
#[derive(Serialize, ToSchema)]
pub struct AdminRoleCount {
    pub role: String,
    pub count: i64,
}

/// One local day of bookings; `gmv` is the total of bookings completed that day.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminBookingDay {
    /// `YYYY-MM-DD`, in the bookings' time zone.
    pub date: String,
    pub created: i64,
    pub completed: i64,
    pub cancelled: i64,
    pub gmv: f64,
    pub platform_fees: f64,
}

/// Jobs per state.
#[derive(Serialize, ToSchema)]
pub struct AdminQueueDepth {
    pub queued: i64,
    pub running: i64,
    pub dead: i64,
}

/// `GET /admin/overview`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminOverview {
    pub success: bool,
    pub days: u32,
    pub currency: String,
    pub users_by_role: Vec<AdminRoleCount>,
    pub bookings_per_day: Vec<AdminBookingDay>,
    /// Booking payments still held in escrow, major units.
    pub escrow_held: f64,
    /// Platform fees on released payments, major units.
    pub platform_fees: f64,
    pub jobs: AdminQueueDepth,
}

/// A job as an operator sees it (payload left out).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminJob {
    pub id: i64,
    pub kind: String,
    /// queued, running, done or dead.
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    /// When it is due (ms since the epoch).
    pub run_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// `GET /admin/jobs`.
#[derive(Serialize, ToSchema)]
pub struct AdminJobList {
    pub success: bool,
    pub count: i64,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
    pub jobs: Vec<AdminJob>,
}

/// One setting; a set secret shows as `********` with `isSecret`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminConfigEntry {
    pub name: String,
    pub value: String,
    pub is_secret: bool,
    pub help: String,
}

/// `GET /admin/config`.
#[derive(Serialize, ToSchema)]
pub struct AdminConfig {
    pub success: bool,
    pub settings: Vec<AdminConfigEntry>,
}

/// A payment webhook as stored.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminWebhook {
    pub id: i64,
    /// stripe or mpesa.
    pub provider: String,
    pub event_key: String,
    pub event_type: Option<String>,
    /// received, processed, ignored or review.
    pub outcome: String,
    pub detail: Option<String>,
    pub transaction_id: Option<String>,
    /// The body exactly as the provider sent it.
    pub raw_body: String,
    pub received_at: i64,
    pub processed_at: Option<i64>,
}

/// `GET /admin/webhooks`.
#[derive(Serialize, ToSchema)]
pub struct AdminWebhookList {
    pub success: bool,
    pub count: i64,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
    pub webhooks: Vec<AdminWebhook>,
}

/// Sum of all balances in one currency (0 when the ledger balances).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminLedgerTotal {
    pub currency: String,
    pub total_minor: i64,
}

/// `GET /admin/ledger-check`.
#[derive(Serialize, ToSchema)]
pub struct AdminLedgerCheck {
    pub success: bool,
    /// Whether every invariant holds.
    pub ok: bool,
    pub accounts: i64,
    pub entries: i64,
    pub postings: i64,
    pub totals: Vec<AdminLedgerTotal>,
    /// One line per broken invariant (at most 50 of each kind).
    pub problems: Vec<String>,
    /// The same text `baitech ledger-check` prints.
    pub summary: String,
}
