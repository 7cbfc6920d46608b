//! Object ids and timestamps as the original clients expect them.
//!
//! Ids are 24-hex strings shaped like MongoDB ObjectIds (4 bytes of seconds,
//! then 8 random bytes) so clients that validate ids keep working and ids
//! sort by creation time. Times are stored as integer milliseconds since the
//! epoch and written as JS `Date.toJSON` does (`2025-01-02T03:04:05.678Z`).

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use rand::RngCore;

/// A fresh ObjectId-shaped id; later ids sort after earlier ones (to the second).
pub fn new_id() -> String {
    let secs = (Utc::now().timestamp() as u32).to_be_bytes();
    let mut rest = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut rest);
    let mut out = String::with_capacity(24);
    out.push_str(&hex::encode(secs));
    out.push_str(&hex::encode(rest));
    out
}

/// Whether `s` can be an id at all; anything else is answered with 404 by callers.
pub fn is_valid_id(s: &str) -> bool {
    s.len() == 24
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Milliseconds since the Unix epoch, the storage form of every timestamp.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// The JS `Date.toJSON` form of a stored timestamp.
pub fn iso(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Like [`iso`] for optional columns: `None` stays JSON `null`.
pub fn iso_opt(ms: Option<i64>) -> serde_json::Value {
    ms.map(|m| serde_json::Value::String(iso(m)))
        .unwrap_or(serde_json::Value::Null)
}

/// Parses an ISO 8601 / RFC 3339 date-time or a plain `YYYY-MM-DD` date (midnight UTC).
pub fn parse_datetime(s: &str) -> Option<i64> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis());
    }
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|d| d.and_utc().timestamp_millis())
}

/// A random token of `bytes` bytes as lowercase hex, for links sent by email.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// SHA-256 of a token as hex: what we store instead of the token itself.
pub fn sha256_hex(s: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(s.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_objectid_shaped_and_time_ordered() {
        let a = new_id();
        assert!(is_valid_id(&a));
        let secs = u32::from_str_radix(&a[..8], 16).unwrap() as i64;
        assert!((Utc::now().timestamp() - secs).abs() <= 1);
        assert!(!is_valid_id("not-an-id"));
        assert!(!is_valid_id("ABCDEF0123456789abcdef01"));
    }

    #[test]
    fn iso_matches_js_date_to_json() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn parses_dates_and_datetimes() {
        assert_eq!(parse_datetime("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_datetime("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_datetime("1970-01-01T03:00:00+03:00"), Some(0));
        assert_eq!(parse_datetime("yesterday"), None);
    }
}
