//! Request-body and query extractors whose failures speak our envelope.
//!
//! Bodies and queries are sanitised the way the original server's
//! `express-mongo-sanitize` did (keys starting with `$` or containing `.` are
//! dropped at any depth), then deserialised with the failing field named.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

/// Drops keys that start with `$` or contain `.`, at any depth.
pub fn sanitize(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| !k.starts_with('$') && !k.contains('.'));
            map.values_mut().for_each(sanitize);
        }
        Value::Array(items) => items.iter_mut().for_each(sanitize),
        _ => {}
    }
}

/// Deserialises a sanitised JSON value, naming the offending field on failure.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "body".to_string()
        } else {
            path
        };
        let inner = e.into_inner().to_string();
        let message = match inner.find(" at line") {
            Some(i) => inner[..i].to_string(),
            None => inner,
        };
        ApiError::field(field, message)
    })
}

/// A JSON (or urlencoded) body, sanitised; an empty body reads as `{}`.
pub struct AppJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge("request entity too large".into())
                } else {
                    ApiError::BadRequest(format!("Could not read the request body: {e}"))
                }
            })?;
        let mut value = if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            Value::Object(Default::default())
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
                .map_err(|e| ApiError::BadRequest(format!("Malformed form body: {e}")))?;
            Value::Object(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            )
        } else if content_type.is_empty() || content_type.contains("json") {
            serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::BadRequest(format!("Malformed JSON in request body: {e}")))?
        } else {
            return Err(ApiError::UnsupportedMediaType(
                "Content-Type must be application/json".into(),
            ));
        };
        sanitize(&mut value);
        from_value(value).map(AppJson)
    }
}

/// A query string, sanitised, with the failing parameter named in a 400.
pub struct AppQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for AppQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
            .map_err(|e| ApiError::BadRequest(format!("Malformed query string: {e}")))?;
        let mut map = serde_json::Map::new();
        for (k, v) in pairs {
            map.entry(k).or_insert(Value::String(v));
        }
        let mut value = Value::Object(map);
        sanitize(&mut value);
        from_value(value).map(AppQuery)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strips_operator_and_dotted_keys_at_any_depth() {
        let mut v = json!({"n": {"$gt": 1}, "b.c": 2, "ok": [{"$where": "x", "k": 1}]});
        sanitize(&mut v);
        assert_eq!(v, json!({"n": {}, "ok": [{"k": 1}]}));
    }

    #[test]
    fn names_the_failing_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Body {
            inner: Inner,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Inner {
            count: u32,
        }
        let err = from_value::<Body>(json!({"inner": {"count": "x"}})).unwrap_err();
        match err {
            ApiError::Validation(errs) => assert_eq!(errs[0].field, "inner.count"),
            other => panic!("{other:?}"),
        }
    }
}
