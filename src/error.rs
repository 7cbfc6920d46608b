//! The one error type every handler returns, and its JSON envelope.
//!
//! Every failure leaves the server as `{success: false, message, errors?}`
//! with the right status; internals (SQL, I/O) are logged with the request id
//! and never shown to the client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

/// One invalid input field, named as the client sent it (dotted for nesting).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Every way a request can fail; each variant maps to one status code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Validation failed")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("Too many requests, please try again later.")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("{0}")]
    ServiceUnavailable(String),
    /// A failure that is ours, not the client's: logged in full, answered as a bare 500.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The result type of every handler and store function that can fail.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// One invalid field, the most common validation failure.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    /// A 404 with the given message; also what an unparseable id gets.
    pub fn not_found(what: &str) -> Self {
        ApiError::NotFound(format!("{what} not found"))
    }

    /// Wraps any internal failure; the detail goes to the log only.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::Internal(e.to_string())
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = match &self {
            ApiError::Validation(errors) => {
                let message = errors
                    .first()
                    .map(|e| format!("Validation failed: {}", e.message))
                    .unwrap_or_else(|| "Validation failed".into());
                json!({"success": false, "message": message, "errors": errors})
            }
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                json!({"success": false, "message": "Internal Server Error"})
            }
            other => json!({"success": false, "message": other.to_string()}),
        };
        let mut res = (status, axum::Json(body)).into_response();
        if let ApiError::TooManyRequests { retry_after_secs } = self {
            res.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs.max(1)),
            );
        }
        res
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        crate::db::health::note(&e);
        ApiError::Internal(format!("sqlite: {e}"))
    }
}

impl From<r2d2::Error> for ApiError {
    fn from(e: r2d2::Error) -> Self {
        ApiError::ServiceUnavailable(format!("database unavailable: {e}"))
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        ApiError::Internal(format!("json: {e}"))
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::Internal(format!("task: {e}"))
    }
}

/// Adds a field error to a list when `ok` is false: the building block of validators.
pub fn check(errors: &mut Vec<FieldError>, ok: bool, field: &str, message: &str) {
    if !ok {
        errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }
}

/// Turns collected field errors into a 400, or passes.
pub fn finish(errors: Vec<FieldError>) -> ApiResult<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}
