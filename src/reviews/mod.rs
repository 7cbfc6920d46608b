//! Reviews: what a customer and a technician say of each other after a
//! completed booking, and the rating aggregates kept on the reviewee.
//!
//! A review needs a completed booking between reviewer and reviewee (one
//! per booking and direction). Every create, edit and delete moves the
//! reviewee's aggregate in the same transaction: the overall rating goes to
//! the users table through [`crate::users::technician::set_rating`], the
//! per-category figures stay here ([`aggregates`]). Each change emits
//! `review.created`, `review.updated`, `review.deleted` or
//! `review.responded` (subject: the review; payload: `revieweeId`,
//! `reviewerId`, `bookingId`, `rating`).

pub mod model;
pub mod routes;
pub mod schemas;
pub mod store;

use rusqlite::Connection;

use crate::error::ApiResult;

pub use model::Aggregate;

/// A user's rating aggregate as reviewee: count, overall average and
/// per-category averages over their published reviews (zeros before the
/// first). `Aggregate::to_json` gives `{average, count, categories,
/// categoryCounts, distribution}` for profile pages.
pub fn aggregates(conn: &Connection, user_id: &str) -> ApiResult<Aggregate> {
    store::aggregate(conn, user_id)
}
