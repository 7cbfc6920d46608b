//! SQL for accounts, sessions, one-time tokens and login history.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::{json, Value};

use crate::auth::extract::Role;
use crate::error::{ApiError, ApiResult};
use crate::ids::{iso, new_id, now_ms, sha256_hex};

/// Default avatar, as the original server stored it.
pub const DEFAULT_AVATAR: &str = "https://res.cloudinary.com/default-avatar.png";

/// The account columns every request needs (the caller, owners, participants).
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub email: String,
    pub phone: String,
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub role: Role,
    pub status: String,
    pub is_email_verified: bool,
    pub two_factor_enabled: bool,
    pub two_factor_secret: Option<String>,
    pub totp_last_step: i64,
    pub token_version: i64,
    pub kyc_status: String,
    pub profile_picture_url: Option<String>,
    pub rating_avg: f64,
    pub rating_count: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// The public `@handle` (none only for accounts made by hand in SQL
    /// since the last start).
    pub handle: Option<String>,
}

const ACCOUNT_COLUMNS: &str = "id, email, phone, password_hash, first_name, last_name, role, status, \
     is_email_verified, two_factor_enabled, two_factor_secret, totp_last_step, token_version, kyc_status, \
     profile_picture_url, rating_avg, rating_count, created_at, updated_at, handle";

fn account_from_row(r: &Row) -> rusqlite::Result<Account> {
    let role: String = r.get(6)?;
    Ok(Account {
        id: r.get(0)?,
        email: r.get(1)?,
        phone: r.get(2)?,
        password_hash: r.get(3)?,
        first_name: r.get(4)?,
        last_name: r.get(5)?,
        role: Role::parse(&role).unwrap_or(Role::Customer),
        status: r.get(7)?,
        is_email_verified: r.get(8)?,
        two_factor_enabled: r.get(9)?,
        two_factor_secret: r.get(10)?,
        totp_last_step: r.get(11)?,
        token_version: r.get(12)?,
        kyc_status: r.get(13)?,
        profile_picture_url: r.get(14)?,
        rating_avg: r.get(15)?,
        rating_count: r.get(16)?,
        created_at: r.get(17)?,
        updated_at: r.get(18)?,
        handle: r.get(19)?,
    })
}

/// The account with this id, whatever its status.
pub fn find_by_id(conn: &Connection, id: &str) -> ApiResult<Option<Account>> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM users WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], account_from_row)
        .optional()?)
}

/// The account with this (normalised) email, whatever its status.
pub fn find_by_email(conn: &Connection, email: &str) -> ApiResult<Option<Account>> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM users WHERE email = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([email], account_from_row)
        .optional()?)
}

/// A new account's fields, already validated and normalised.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub email: String,
    pub phone: String,
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub role: Role,
    pub location: Option<NewLocation>,
}

/// A location given at registration.
#[derive(Debug, Clone)]
pub struct NewLocation {
    pub lng: f64,
    pub lat: f64,
    pub address: Option<String>,
    pub city: Option<String>,
    pub county: Option<String>,
    pub country: Option<String>,
}

/// Inserts an account; a taken email or phone is a 409 naming the field.
pub fn insert(conn: &Connection, new: &NewAccount) -> ApiResult<Account> {
    if exists(conn, "email", &new.email)? {
        return Err(ApiError::Conflict("Email already registered".into()));
    }
    if exists(conn, "phone", &new.phone)? {
        return Err(ApiError::Conflict("Phone number already registered".into()));
    }
    let id = new_id();
    let now = now_ms();
    let loc = new.location.as_ref();
    conn.execute(
        "INSERT INTO users (id, email, phone, password_hash, first_name, last_name, role,
            location_lng, location_lat, location_address, location_city, location_county, location_country,
            created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14)",
        params![
            id,
            new.email,
            new.phone,
            new.password_hash,
            new.first_name,
            new.last_name,
            new.role.as_str(),
            loc.map(|l| l.lng),
            loc.map(|l| l.lat),
            loc.and_then(|l| l.address.clone()),
            loc.and_then(|l| l.city.clone()),
            loc.and_then(|l| l.county.clone()),
            loc.map(|l| l.country.clone().unwrap_or_else(|| "Kenya".into())),
            now
        ],
    )
    .map_err(|e| {
        if crate::db::is_unique_violation(&e) {
            ApiError::Conflict("Email or phone number already registered".into())
        } else {
            e.into()
        }
    })?;
    crate::users::handle::assign(conn, &id, &new.first_name, &new.last_name)?;
    find_by_id(conn, &id)?.ok_or_else(|| ApiError::internal("inserted account vanished"))
}

fn exists(conn: &Connection, column: &str, value: &str) -> ApiResult<bool> {
    let sql = format!("SELECT 1 FROM users WHERE {column} = ?1");
    Ok(conn
        .query_row(&sql, [value], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Replaces the password and revokes every session (token version bump, refresh tokens gone).
pub fn set_password(conn: &Connection, user_id: &str, password_hash: &str) -> ApiResult<i64> {
    conn.execute(
        "UPDATE users SET password_hash = ?2, token_version = token_version + 1, updated_at = ?3 WHERE id = ?1",
        params![user_id, password_hash, now_ms()],
    )?;
    conn.execute("DELETE FROM refresh_tokens WHERE user_id = ?1", [user_id])?;
    Ok(conn.query_row(
        "SELECT token_version FROM users WHERE id = ?1",
        [user_id],
        |r| r.get(0),
    )?)
}

/// Whether a sign-in of `user_id` comes from a device (user agent) never
/// seen in an earlier successful sign-in or registration, while there were
/// earlier ones: the security alert's "new sign-in from a new device".
pub fn is_new_device(conn: &Connection, user_id: &str, user_agent: &str) -> ApiResult<bool> {
    let (earlier, same): (i64, i64) = conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(user_agent = ?2), 0) FROM login_history
         WHERE user_id = ?1 AND outcome IN ('success', 'registered')",
        params![user_id, user_agent],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(earlier > 0 && same == 0)
}

/// Records one sign-in attempt; a successful one from a new device emits
/// `user.new_device_login` {userId, device, ip} (notifications alert the user).
pub fn record_login(
    conn: &Connection,
    user_id: Option<&str>,
    email: &str,
    outcome: &str,
    ip: &str,
    user_agent: &str,
) -> ApiResult<()> {
    if let (Some(id), "success") = (user_id, outcome) {
        if is_new_device(conn, id, user_agent)? {
            crate::events::emit(
                conn,
                "user.new_device_login",
                Some(id),
                Some(id),
                &serde_json::json!({"userId": id, "device": user_agent, "ip": ip}),
            )?;
        }
    }
    conn.execute(
        "INSERT INTO login_history (user_id, email, outcome, ip, user_agent, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![user_id, email, outcome, ip, user_agent, now_ms()],
    )?;
    if outcome == "success" {
        conn.execute(
            "UPDATE users SET last_login_at = ?2 WHERE id = ?1",
            params![user_id, now_ms()],
        )?;
    }
    Ok(())
}

/// Failed attempts (bad password or 2FA) for this email since `since` and the oldest one's time.
pub fn recent_failures(
    conn: &Connection,
    email: &str,
    since: i64,
) -> ApiResult<(i64, Option<i64>)> {
    Ok(conn.query_row(
        "SELECT COUNT(*), MIN(at) FROM login_history
         WHERE email = ?1 AND at >= ?2 AND outcome IN ('bad_password','2fa_failed')",
        params![email, since],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

/// One page of a user's login history, newest first, and the total.
pub fn login_history(
    conn: &Connection,
    user_id: &str,
    limit: i64,
    offset: i64,
) -> ApiResult<(Vec<Value>, i64)> {
    let total = conn.query_row(
        "SELECT COUNT(*) FROM login_history WHERE user_id = ?1",
        [user_id],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare(
        "SELECT id, outcome, ip, user_agent, at FROM login_history WHERE user_id = ?1 ORDER BY at DESC, id DESC LIMIT ?2 OFFSET ?3",
    )?;
    let rows = stmt
        .query_map(params![user_id, limit, offset], |r| {
            let at: i64 = r.get(4)?;
            Ok(json!({
                "_id": r.get::<_, i64>(0)?.to_string(),
                "outcome": r.get::<_, String>(1)?,
                "success": r.get::<_, String>(1)? == "success",
                "ipAddress": r.get::<_, Option<String>>(2)?,
                "device": r.get::<_, Option<String>>(3)?,
                "timestamp": iso(at),
            }))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((rows, total))
}

/// Stores a single-use token of `purpose` for `user_id`, valid `ttl_ms`; returns the raw token.
pub fn issue_one_time_token(
    conn: &Connection,
    user_id: &str,
    purpose: &str,
    ttl_ms: i64,
) -> ApiResult<String> {
    let raw = crate::ids::random_token(32);
    let now = now_ms();
    conn.execute(
        "DELETE FROM auth_tokens WHERE user_id = ?1 AND purpose = ?2 AND used_at IS NULL",
        params![user_id, purpose],
    )?;
    conn.execute(
        "INSERT INTO auth_tokens (token_hash, user_id, purpose, expires_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![sha256_hex(&raw), user_id, purpose, now + ttl_ms, now],
    )?;
    Ok(raw)
}

/// Consumes a single-use token: the user id when it is valid, unused and unexpired.
pub fn consume_one_time_token(
    conn: &Connection,
    raw: &str,
    purpose: &str,
) -> ApiResult<Option<String>> {
    let now = now_ms();
    Ok(conn
        .query_row(
            "UPDATE auth_tokens SET used_at = ?3
             WHERE token_hash = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3
             RETURNING user_id",
            params![sha256_hex(raw), purpose, now],
            |r| r.get(0),
        )
        .optional()?)
}

/// The "auth user" object of register, login and verify-2fa responses.
pub fn auth_user_json(a: &Account) -> Value {
    json!({
        "_id": a.id,
        "id": a.id,
        "firstName": a.first_name,
        "lastName": a.last_name,
        "handle": a.handle,
        "email": a.email,
        "phoneNumber": a.phone,
        "role": a.role.as_str(),
        "profilePicture": a.profile_picture_url.clone().unwrap_or_else(|| DEFAULT_AVATAR.to_string()),
        "status": a.status,
        "isEmailVerified": a.is_email_verified,
        "twoFactorEnabled": a.two_factor_enabled,
        "rating": {"average": a.rating_avg, "count": a.rating_count},
        "createdAt": iso(a.created_at),
        "updatedAt": iso(a.updated_at),
    })
}
