//! SQL for the bookings module's tables.

use rusqlite::{Connection, OptionalExtension};

use crate::error::ApiResult;

/// What other modules (payments, matching, reviews) may know of a booking.
#[derive(Debug, Clone, PartialEq)]
pub struct BookingParties {
    pub id: String,
    pub customer_id: String,
    pub technician_id: Option<String>,
    pub status: String,
    pub total_minor: i64,
    pub currency: String,
    pub completed_at: Option<i64>,
}

/// The parties, status and amount of a booking, or `None`.
pub fn find_parties(conn: &Connection, id: &str) -> ApiResult<Option<BookingParties>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, customer_id, technician_id, status, total_amount_minor, currency, completed_at
             FROM bookings WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok(BookingParties {
                id: r.get(0)?,
                customer_id: r.get(1)?,
                technician_id: r.get(2)?,
                status: r.get(3)?,
                total_minor: r.get(4)?,
                currency: r.get(5)?,
                completed_at: r.get(6)?,
            })
        })
        .optional()?)
}

/// A booking to create, already validated by the caller. The bookings
/// routes and matching's accept both create bookings through [`create`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewBooking {
    pub customer_id: String,
    /// `Some` puts the booking straight into `awaiting_acceptance`.
    pub technician_id: Option<String>,
    pub service_category: String,
    pub service_type: String,
    pub description: String,
    /// `low`, `medium`, `high` or `emergency`.
    pub urgency: String,
    /// Start of the job, ms since the epoch.
    pub scheduled_at: i64,
    pub estimated_duration_mins: i64,
    /// `(lng, lat)`.
    pub location: (f64, f64),
    pub address: String,
    pub budget_minor: Option<i64>,
    /// `mobile_app`, `web_app`, `admin_panel` or `api`.
    pub source: String,
    /// The match score when the booking came from matching.
    pub match_score: Option<f64>,
}

/// Creates a booking in the caller's transaction and returns its id: status
/// `pending`, or `awaiting_acceptance` when a technician is named (the
/// caller has checked the technician), with a `booking.created` event.
pub fn create(conn: &Connection, new: &NewBooking, actor_id: &str) -> ApiResult<String> {
    let id = crate::ids::new_id();
    let now = crate::ids::now_ms();
    let status = if new.technician_id.is_some() {
        "awaiting_acceptance"
    } else {
        "pending"
    };
    let number = format!("BKG-{now}-{}", &id[18..]);
    conn.execute(
        "INSERT INTO bookings (id, booking_number, customer_id, technician_id, status, service_category,
            service_type, description, urgency, scheduled_at, estimated_duration_mins, location_lng,
            location_lat, location_address, budget_minor, source, match_score, assigned_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?19)",
        rusqlite::params![
            id,
            number,
            new.customer_id,
            new.technician_id,
            status,
            new.service_category,
            new.service_type,
            new.description,
            new.urgency,
            new.scheduled_at,
            new.estimated_duration_mins,
            new.location.0,
            new.location.1,
            new.address,
            new.budget_minor,
            new.source,
            new.match_score,
            new.technician_id.as_ref().map(|_| now),
            now
        ],
    )?;
    crate::events::emit(
        conn,
        "booking.created",
        Some(&id),
        Some(actor_id),
        &serde_json::json!({"status": status, "customerId": new.customer_id, "technicianId": new.technician_id}),
    )?;
    Ok(id)
}
