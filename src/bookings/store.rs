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
