//! The User document as clients read it (`GET /auth/me`, `GET /users/:id`...).
//!
//! Private fields (email, phone, KYC documents, billing details, login data)
//! appear only for the owner and admins, FCM tokens only for the owner;
//! secrets (hashes, 2FA secret, token hashes) never.

use chrono::NaiveDate;
use rusqlite::{Connection, OptionalExtension};
use serde_json::{json, Map, Value};

use crate::auth::store::DEFAULT_AVATAR;
use crate::error::ApiResult;
use crate::ids::{iso, iso_opt};
use crate::users::model::{age_on, minor_to_major};
use crate::users::store;
use crate::users::technician;

/// Who is looking, which decides the private fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    Owner,
    Admin,
    Public,
}

impl Viewer {
    /// Whether this viewer sees email, phone, KYC documents and login data.
    pub fn sees_private(self) -> bool {
        matches!(self, Viewer::Owner | Viewer::Admin)
    }

    /// The viewer of account `target` for a caller (`None`: anonymous).
    pub fn of(caller_id: Option<&str>, caller_is_admin: bool, target: &str) -> Viewer {
        if caller_id == Some(target) {
            Viewer::Owner
        } else if caller_is_admin {
            Viewer::Admin
        } else {
            Viewer::Public
        }
    }
}

/// Whole years since a stored `YYYY-MM-DD` birth date, or JSON `null`.
pub fn age_of(date_of_birth: Option<&str>) -> Value {
    date_of_birth
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .map(|d| json!(age_on(d, chrono::Utc::now().date_naive())))
        .unwrap_or(Value::Null)
}

/// The user document of `id` for `viewer`, or `None` when there is no such user.
pub fn user_document(conn: &Connection, id: &str, viewer: Viewer) -> ApiResult<Option<Value>> {
    let row = conn
        .prepare_cached(
            "SELECT u.id, u.email, u.phone, u.first_name, u.last_name, u.role, u.status, u.is_email_verified,
                    u.is_phone_verified, u.two_factor_enabled, u.profile_picture_url, u.profile_picture_public_id,
                    u.bio, u.location_lng, u.location_lat, u.location_address, u.location_city, u.location_county,
                    u.location_country, u.rating_avg, u.rating_count, u.kyc_status, u.last_login_at, u.created_at,
                    u.updated_at, u.deleted_at,
                    p.gender, p.date_of_birth, p.company_name, p.company_registration, p.department, p.employee_count,
                    p.billing_tax_id, p.billing_email, p.billing_address, p.billing_contact_name,
                    p.billing_contact_phone, p.payment_terms, COALESCE(p.followers_count, 0),
                    COALESCE(p.following_count, 0), COALESCE(p.posts_count, 0), u.handle, cp.last_seen_at
             FROM users u LEFT JOIN user_profiles p ON p.user_id = u.id
                  LEFT JOIN chat_presence cp ON cp.user_id = u.id
             WHERE u.id = ?1",
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
            let dob: Option<String> = r.get(27)?;
            let role: String = r.get(5)?;
            let mut doc = json!({
                "_id": r.get::<_, String>(0)?,
                "id": r.get::<_, String>(0)?,
                "firstName": first,
                "lastName": last,
                "fullName": format!("{first} {last}"),
                "handle": r.get::<_, Option<String>>(41)?,
                "age": age_of(dob.as_deref()),
                "role": role,
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
                "gender": r.get::<_, Option<String>>(26)?,
                "followersCount": r.get::<_, i64>(38)?,
                "followingCount": r.get::<_, i64>(39)?,
                "postsCount": r.get::<_, i64>(40)?,
                // Live presence is the realtime module's; callers that
                // hold it overwrite `isOnline` (GET /users/:id does).
                "isOnline": false,
                "lastSeen": iso_opt(r.get(42)?),
                "createdAt": iso(r.get(23)?),
                "updatedAt": iso(r.get(24)?),
            });
            let obj = doc.as_object_mut().expect("object");
            if role == "corporate" {
                obj.insert("companyName".into(), json!(r.get::<_, Option<String>>(28)?));
                obj.insert("companyRegistration".into(), json!(r.get::<_, Option<String>>(29)?));
                obj.insert("department".into(), json!(r.get::<_, Option<String>>(30)?));
                obj.insert("employeeCount".into(), json!(r.get::<_, Option<i64>>(31)?));
                if viewer.sees_private() {
                    obj.insert(
                        "billingInfo".into(),
                        json!({
                            "taxId": r.get::<_, Option<String>>(32)?,
                            "billingEmail": r.get::<_, Option<String>>(33)?,
                            "billingAddress": r.get::<_, Option<String>>(34)?,
                            "contactName": r.get::<_, Option<String>>(35)?,
                            "contactPhone": r.get::<_, Option<String>>(36)?,
                            "paymentTerms": r.get::<_, Option<String>>(37)?,
                        }),
                    );
                }
            }
            if viewer.sees_private() {
                obj.insert("email".into(), json!(r.get::<_, String>(1)?));
                obj.insert("phoneNumber".into(), json!(r.get::<_, String>(2)?));
                obj.insert("twoFactorEnabled".into(), json!(r.get::<_, bool>(9)?));
                obj.insert("lastLogin".into(), iso_opt(r.get(22)?));
                obj.insert("dateOfBirth".into(), json!(dob));
                obj.insert("deletedAt".into(), iso_opt(r.get(25)?));
            }
            Ok((doc, r.get::<_, String>(21)?))
        })
        .optional()?;
    let Some((mut doc, kyc_status)) = row else {
        return Ok(None);
    };
    let obj = doc.as_object_mut().expect("object");
    obj.insert(
        "kyc".into(),
        store::kyc_json(conn, id, &kyc_status, viewer.sees_private())?,
    );
    let is_staff = obj["role"] == "support" || obj["role"] == "admin";
    obj.insert(
        "supportInfo".into(),
        crate::support::document::support_info(conn, id, is_staff)?,
    );
    if obj["role"] == "technician" {
        if let Some(t) = technician::find(conn, id)? {
            add_technician_fields(conn, obj, &t)?;
        }
    }
    if viewer == Viewer::Owner {
        let tokens: Vec<Value> = store::fcm_tokens(conn, id)?
            .into_iter()
            .map(|t| json!({"token": t.token, "platform": t.platform, "device": t.device, "addedAt": iso(t.added_at)}))
            .collect();
        obj.insert("fcmTokens".into(), Value::Array(tokens));
    }
    Ok(Some(doc))
}

/// The technician part of a document: trade, prices, availability and the
/// figures the platform derives (never set by clients).
fn add_technician_fields(
    conn: &Connection,
    obj: &mut Map<String, Value>,
    t: &technician::Technician,
) -> ApiResult<()> {
    let business_name: Option<String> = conn
        .prepare_cached("SELECT business_name FROM technician_profiles WHERE user_id = ?1")?
        .query_row([&t.id], |r| r.get(0))
        .optional()?
        .flatten();
    let fields = json!({
        "skills": t.skills,
        "serviceCategories": t.service_categories,
        "hourlyRate": t.hourly_rate_minor.map(minor_to_major),
        "currency": t.currency,
        "serviceRadius": t.service_radius_km,
        "yearsOfExperience": t.years_experience,
        "businessName": business_name,
        "availability": store::availability_json(&t.availability_status, &t.schedule),
        "subscription": {"plan": t.subscription_plan},
        "completedJobs": t.completed_jobs,
        "cancelledJobs": t.cancelled_jobs,
        "completionRate": t.completion_rate,
        "averageResponseTime": t.avg_response_mins,
        "stats": {
            "completedBookings": t.completed_jobs,
            "cancelledBookings": t.cancelled_jobs,
            "completionRate": t.completion_rate,
            "responseTime": t.avg_response_mins,
            "reviews": {"avgRating": t.rating_avg, "totalReviews": t.rating_count},
        },
    });
    if let Value::Object(m) = fields {
        obj.extend(m);
    }
    Ok(())
}
