//! Rotating refresh tokens.
//!
//! A refresh token is `<id>.<secret>`; only the SHA-256 of the whole string
//! is stored. Each use rotates it: the presented token is marked rotated and a
//! new one of the same family is issued. Presenting a rotated token again
//! means it leaked, so the whole family (that sign-in) is revoked.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{ApiError, ApiResult};
use crate::ids::{new_id, now_ms, random_token, sha256_hex};

/// Who is signing in from where, kept with the session.
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub ip: String,
    pub user_agent: String,
}

/// Starts a new family for `user_id`; returns the family id (the access
/// token's `sid`) and the raw refresh token.
pub fn start(
    conn: &Connection,
    user_id: &str,
    ttl_secs: u64,
    client: &Client,
) -> ApiResult<(String, String)> {
    let family = new_id();
    let raw = issue(conn, user_id, &family, ttl_secs, client)?;
    Ok((family, raw))
}

fn issue(
    conn: &Connection,
    user_id: &str,
    family: &str,
    ttl_secs: u64,
    client: &Client,
) -> ApiResult<String> {
    let id = new_id();
    let raw = format!("{id}.{}", random_token(32));
    let now = now_ms();
    conn.execute(
        "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, created_at, expires_at, user_agent, ip)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![id, user_id, family, sha256_hex(&raw), now, now + ttl_secs as i64 * 1000, client.user_agent, client.ip],
    )?;
    Ok(raw)
}

/// The refusal every unusable refresh token gets.
pub fn invalid_refresh() -> ApiError {
    ApiError::Unauthorized("Invalid or expired refresh token. Please login again.".into())
}

/// A stored refresh token: id, user, family, expiry, rotated and revoked times.
type StoredToken = (String, String, String, i64, Option<i64>, Option<i64>);

/// Exchanges a refresh token for a new one: `Some((user_id, family, new_raw_token))`,
/// or `None` when the token is unusable. On reuse the family is revoked
/// here, so the caller must commit even when it answers `None`.
pub fn rotate(
    conn: &Connection,
    raw: &str,
    ttl_secs: u64,
    client: &Client,
) -> ApiResult<Option<(String, String, String)>> {
    let row: Option<StoredToken> = conn
        .query_row(
            "SELECT id, user_id, family_id, expires_at, rotated_at, revoked_at FROM refresh_tokens WHERE token_hash = ?1",
            [sha256_hex(raw)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )
        .optional()?;
    let Some((id, user_id, family, expires_at, rotated_at, revoked_at)) = row else {
        return Ok(None);
    };
    let now = now_ms();
    if revoked_at.is_some() || expires_at <= now {
        return Ok(None);
    }
    if rotated_at.is_some() {
        revoke_family(conn, &family)?;
        tracing::warn!(user = %user_id, family = %family, "refresh token reused; family revoked");
        return Ok(None);
    }
    conn.execute(
        "UPDATE refresh_tokens SET rotated_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    let fresh = issue(conn, &user_id, &family, ttl_secs, client)?;
    Ok(Some((user_id, family, fresh)))
}

/// Revokes every token of a family.
pub fn revoke_family(conn: &Connection, family: &str) -> ApiResult<()> {
    conn.execute(
        "UPDATE refresh_tokens SET revoked_at = ?2 WHERE family_id = ?1 AND revoked_at IS NULL",
        params![family, now_ms()],
    )?;
    Ok(())
}

/// Revokes the family of a presented token (logout); unknown tokens are ignored.
pub fn revoke_by_token(conn: &Connection, raw: &str, user_id: &str) -> ApiResult<()> {
    let family: Option<String> = conn
        .query_row(
            "SELECT family_id FROM refresh_tokens WHERE token_hash = ?1 AND user_id = ?2",
            params![sha256_hex(raw), user_id],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(family) = family {
        revoke_family(conn, &family)?;
    }
    Ok(())
}

/// Whether the sign-in `family` of `user_id` is still live (not revoked,
/// not deleted): an access token of a revoked sign-in is refused.
pub fn is_live(conn: &Connection, user_id: &str, family: &str) -> ApiResult<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM refresh_tokens WHERE family_id = ?1 AND user_id = ?2 AND revoked_at IS NULL LIMIT 1",
        )?
        .query_row(params![family, user_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Signs the account out everywhere, in the caller's transaction: every
/// access token stops working (token version bump) and every refresh
/// token is revoked. Role changes, suspensions, deletions and the CLI's
/// `user set-role` call this before they answer.
pub fn sign_out_everywhere(conn: &Connection, user_id: &str) -> ApiResult<()> {
    conn.execute(
        "UPDATE users SET token_version = token_version + 1 WHERE id = ?1",
        [user_id],
    )?;
    conn.execute(
        "UPDATE refresh_tokens SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
        params![user_id, now_ms()],
    )?;
    Ok(())
}
