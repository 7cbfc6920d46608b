//! The User document as clients read it (`GET /auth/me`, `GET /users/:id`...).
//!
//! Private fields (email, phone, KYC, FCM tokens, login data) appear only for
//! the owner and admins; secrets (hashes, 2FA secret, token hashes) never.

use rusqlite::{Connection, OptionalExtension};
use serde_json::{json, Value};

use crate::auth::store::DEFAULT_AVATAR;
use crate::error::ApiResult;
use crate::ids::{iso, iso_opt};

/// Who is looking, which decides the private fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    Owner,
    Admin,
    Public,
}

impl Viewer {
    pub fn sees_private(self) -> bool {
        matches!(self, Viewer::Owner | Viewer::Admin)
    }
}

/// The user document of `id` for `viewer`, or `None` when there is no such user.
pub fn user_document(conn: &Connection, id: &str, viewer: Viewer) -> ApiResult<Option<Value>> {
    let row = conn
        .prepare_cached(
            "SELECT id, email, phone, first_name, last_name, role, status, is_email_verified, is_phone_verified,
                    two_factor_enabled, profile_picture_url, profile_picture_public_id, bio,
                    location_lng, location_lat, location_address, location_city, location_county, location_country,
                    rating_avg, rating_count, kyc_status, last_login_at, created_at, updated_at
             FROM users WHERE id = ?1",
        )?
        .query_row([id], |r| {
                let first: String = r.get(3)?;
                let last: String = r.get(4)?;
                let lng: Option<f64> = r.get(13)?;
                let lat: Option<f64> = r.get(14)?;
                let location = match (lng, lat) {
                    (Some(lng), Some(lat)) => json!({
                        "type": "Point",
                        "coordinates": [lng, lat],
                        "address": r.get::<_, Option<String>>(15)?,
                        "city": r.get::<_, Option<String>>(16)?,
                        "county": r.get::<_, Option<String>>(17)?,
                        "country": r.get::<_, Option<String>>(18)?.unwrap_or_else(|| "Kenya".into()),
                    }),
                    _ => Value::Null,
                };
                let mut doc = json!({
                    "_id": r.get::<_, String>(0)?,
                    "id": r.get::<_, String>(0)?,
                    "firstName": first,
                    "lastName": last,
                    "fullName": format!("{first} {last}"),
                    "role": r.get::<_, String>(5)?,
                    "status": r.get::<_, String>(6)?,
                    "isEmailVerified": r.get::<_, bool>(7)?,
                    "isPhoneVerified": r.get::<_, bool>(8)?,
                    "profilePicture": {
                        "url": r.get::<_, Option<String>>(10)?.unwrap_or_else(|| DEFAULT_AVATAR.to_string()),
                        "publicId": r.get::<_, Option<String>>(11)?,
                    },
                    "bio": r.get::<_, Option<String>>(12)?,
                    "location": location,
                    "rating": {"average": r.get::<_, f64>(19)?, "count": r.get::<_, i64>(20)?},
                    "createdAt": iso(r.get(23)?),
                    "updatedAt": iso(r.get(24)?),
                });
                if viewer.sees_private() {
                    let obj = doc.as_object_mut().expect("object");
                    obj.insert("email".into(), json!(r.get::<_, String>(1)?));
                    obj.insert("phoneNumber".into(), json!(r.get::<_, String>(2)?));
                    obj.insert("twoFactorEnabled".into(), json!(r.get::<_, bool>(9)?));
                    obj.insert("kyc".into(), json!({"status": r.get::<_, String>(21)?}));
                    obj.insert("lastLogin".into(), iso_opt(r.get(22)?));
                }
                Ok(doc)
            },
        )
        .optional()?;
    Ok(row)
}
