//! `Idempotency-Key` on every POST that moves money.
//!
//! The same key with the same request (route and body, compared in a
//! canonical form) replays the first successful response, status and body;
//! the same key with a different request is a 409. Keys are per user and
//! kept 24 hours (each recorded key deletes a few expired ones). The key is
//! recorded in the same transaction as the movement, so a crash can never
//! leave a movement without its key or a key without its movement. Failed
//! requests are not recorded: they can be retried with the same key. While
//! a request that calls a gateway is in flight its key is `pending`, and a
//! concurrent replay is a 409.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rusqlite::Connection;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::ids::{now_ms, sha256_hex};
use crate::payments::store;

/// The request header.
pub const HEADER: &str = "idempotency-key";

/// How long a key is remembered.
pub const TTL_MS: i64 = 24 * 3600 * 1000;

/// A key presented with a request, with the fingerprint of that request.
#[derive(Debug, Clone)]
pub struct Key {
    pub user_id: String,
    pub key: String,
    pub fingerprint: String,
}

/// `body` with object keys sorted at every depth, as text: two requests
/// that differ only in key order or whitespace have the same form.
pub fn canonical(body: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String((*k).clone()).to_string());
                    out.push(':');
                    write(&map[*k], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(body, &mut out);
    out
}

/// The key of this request, if the client sent one. A key that is empty,
/// longer than 255 characters or not printable ASCII is a 400 naming it.
pub fn from_request(
    headers: &HeaderMap,
    user_id: &str,
    route: &str,
    body: &Value,
) -> ApiResult<Option<Key>> {
    let Some(raw) = headers.get(HEADER) else {
        return Ok(None);
    };
    let key = raw.to_str().unwrap_or("").trim();
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(ApiError::field(
            "Idempotency-Key",
            "Idempotency-Key must be 1 to 255 printable characters",
        ));
    }
    Ok(Some(Key {
        user_id: user_id.to_string(),
        key: key.to_string(),
        fingerprint: sha256_hex(&format!("{route}\n{}", canonical(body))),
    }))
}

/// A response that may be the replay of an earlier one.
#[derive(Debug, Clone)]
pub struct Replayable {
    pub status: u16,
    pub body: Value,
    pub replayed: bool,
}

impl IntoResponse for Replayable {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let mut res = (status, Json(self.body)).into_response();
        if self.replayed {
            res.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        res
    }
}

/// Looks the key up in the caller's transaction: `Some(replay)` when this
/// request was answered before; 409 when the key belongs to another request
/// or its first request is still in flight; `None` to go ahead.
pub fn lookup(conn: &Connection, key: &Key) -> ApiResult<Option<Replayable>> {
    let Some(row) = store::find_idempotency(conn, &key.user_id, &key.key)? else {
        return Ok(None);
    };
    if row.expires_at <= now_ms() {
        store::delete_idempotency(conn, &key.user_id, &key.key)?;
        return Ok(None);
    }
    if row.fingerprint != key.fingerprint {
        return Err(ApiError::Conflict(
            "This Idempotency-Key was already used with a different request".into(),
        ));
    }
    match (row.state.as_str(), row.status_code, row.response) {
        ("done", Some(status), Some(body)) => Ok(Some(Replayable {
            status,
            body,
            replayed: true,
        })),
        _ => Err(ApiError::Conflict(
            "A request with this Idempotency-Key is still being processed".into(),
        )),
    }
}

/// Marks the key as taken by a request that is now calling a gateway.
pub fn reserve(conn: &Connection, key: &Key) -> ApiResult<()> {
    store::put_idempotency(
        conn,
        &key.user_id,
        &key.key,
        &key.fingerprint,
        "pending",
        None,
        None,
        TTL_MS,
    )
}

/// Records the answer to replay (and forgets a few expired keys).
pub fn complete(conn: &Connection, key: &Key, status: u16, body: &Value) -> ApiResult<()> {
    store::sweep_idempotency(conn, now_ms(), 16)?;
    store::put_idempotency(
        conn,
        &key.user_id,
        &key.key,
        &key.fingerprint,
        "done",
        Some(status),
        Some(body),
        TTL_MS,
    )
}

/// Forgets a reserved key whose request failed.
pub fn release(conn: &Connection, key: &Key) -> ApiResult<()> {
    store::delete_idempotency(conn, &key.user_id, &key.key)
}

/// Runs a one-transaction movement under `key`: replays an earlier answer,
/// or runs `f` and records its answer (in the caller's transaction).
pub fn once(
    conn: &Connection,
    key: Option<&Key>,
    status: u16,
    f: impl FnOnce() -> ApiResult<Value>,
) -> ApiResult<Replayable> {
    if let Some(k) = key {
        if let Some(replay) = lookup(conn, k)? {
            return Ok(replay);
        }
    }
    let body = f()?;
    if let Some(k) = key {
        complete(conn, k, status, &body)?;
    }
    Ok(Replayable {
        status,
        body,
        replayed: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_form_ignores_key_order_and_whitespace() {
        let a: Value =
            serde_json::from_str(r#"{"b": 1, "a": {"y": [1, {"d": 2, "c": 3}], "x": "s"}}"#)
                .unwrap();
        let b = json!({"a": {"x": "s", "y": [1, {"c": 3, "d": 2}]}, "b": 1});
        assert_eq!(canonical(&a), canonical(&b));
        assert_ne!(
            canonical(&json!({"amount": 1})),
            canonical(&json!({"amount": 2}))
        );
        assert_eq!(canonical(&json!({"k\"": 1})), r#"{"k\"":1}"#);
    }

    #[test]
    fn malformed_keys_are_refused_naming_the_header() {
        let mut h = HeaderMap::new();
        assert!(from_request(&h, "u", "/", &json!({})).unwrap().is_none());
        h.insert(HEADER, HeaderValue::from_static("   "));
        assert!(from_request(&h, "u", "/", &json!({})).is_err());
        h.insert(HEADER, HeaderValue::from_static("abc-123"));
        let k = from_request(&h, "u", "/", &json!({"a": 1}))
            .unwrap()
            .unwrap();
        let k2 = from_request(&h, "u", "/other", &json!({"a": 1}))
            .unwrap()
            .unwrap();
        assert_ne!(
            k.fingerprint, k2.fingerprint,
            "the route is part of the request"
        );
    }
}
