//! KYC as other modules see it: the guard behind the spec's `requireKYC`
//! for accounts other than the caller (the caller's own is
//! `CurrentUser::require_kyc`).

use rusqlite::Connection;

use crate::error::{ApiError, ApiResult};

/// The KYC status of `user_id` (`none`, `pending`, `approved`, `rejected`),
/// or `None` when there is no such account.
pub fn status(conn: &Connection, user_id: &str) -> ApiResult<Option<String>> {
    Ok(crate::users::store::basics(conn, user_id)?.map(|b| b.kyc_status))
}

/// 403 unless `user_id`'s KYC was approved by an admin: call it before
/// letting a technician accept or be assigned a job.
pub fn require_approved(conn: &Connection, user_id: &str) -> ApiResult<()> {
    match status(conn, user_id)?.as_deref() {
        Some("approved") => Ok(()),
        Some(other) => Err(ApiError::Forbidden(format!(
            "KYC verification is required (current status: {other})"
        ))),
        None => Err(ApiError::not_found("User")),
    }
}
