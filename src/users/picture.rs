//! A user's profile picture, as the media module stores it after an upload.

use rusqlite::{params, Connection};

use crate::error::ApiResult;
use crate::ids::now_ms;

/// Sets `profilePicture = {url, publicId}` on user `user_id` (the fix of the
/// original, which wrote a bare URL string). Runs in the caller's
/// transaction, so the picture is set exactly when its upload commits.
/// Returns false when there is no such user.
pub fn set_profile_picture(
    conn: &Connection,
    user_id: &str,
    url: &str,
    public_id: &str,
) -> ApiResult<bool> {
    let changed = conn.execute(
        "UPDATE users SET profile_picture_url = ?2, profile_picture_public_id = ?3, updated_at = ?4 WHERE id = ?1",
        params![user_id, url, public_id, now_ms()],
    )?;
    Ok(changed == 1)
}
