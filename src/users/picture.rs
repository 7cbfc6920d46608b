//! A user's profile picture, as the media module stores it after an upload
//! (and takes it away when that file is deleted).

use rusqlite::{params, Connection};

use crate::error::ApiResult;
use crate::ids::now_ms;

/// What to do with a user's profile picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PictureChange<'a> {
    /// Store `profilePicture = {url, publicId}` (the fix of the original,
    /// which wrote a bare URL string).
    Set { url: &'a str, public_id: &'a str },
    /// Back to the default avatar, but only while the picture is still the
    /// file `public_id` (it was just deleted).
    ClearIf { public_id: &'a str },
}

/// Applies `change` to user `user_id` in the caller's transaction, so the
/// picture follows its file's upload or deletion exactly. Returns whether
/// the user's row changed (false: no such user, or `ClearIf` did not match).
pub fn set_profile_picture(
    conn: &Connection,
    user_id: &str,
    change: PictureChange<'_>,
) -> ApiResult<bool> {
    let changed = match change {
        PictureChange::Set { url, public_id } => conn.execute(
            "UPDATE users SET profile_picture_url = ?2, profile_picture_public_id = ?3, updated_at = ?4 WHERE id = ?1",
            params![user_id, url, public_id, now_ms()],
        )?,
        PictureChange::ClearIf { public_id } => conn.execute(
            "UPDATE users SET profile_picture_url = NULL, profile_picture_public_id = NULL, updated_at = ?3
             WHERE id = ?1 AND profile_picture_public_id = ?2",
            params![user_id, public_id, now_ms()],
        )?,
    };
    Ok(changed == 1)
}
