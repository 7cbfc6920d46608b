//! `GET /`, `GET /health` and `GET /metrics`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::error::ApiError;
use crate::ids::{iso, now_ms};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(root))
        .routes(routes!(health))
        .routes(routes!(metrics))
}

/// Names the API.
#[utoipa::path(get, path = "/", tag = "system", responses((status = 200, description = "Service description", body = Object)))]
async fn root() -> Json<Value> {
    Json(json!({
        "name": "BaiTech API",
        "version": "v1",
        "description": "AI-Powered Technician & Community Platform",
        "documentation": "/api-docs",
        "health": "/health",
        "status": "running",
    }))
}

/// Liveness and whether the database answers correctly (503 when it is
/// corrupt, unreadable or not writable).
#[utoipa::path(get, path = "/health", tag = "system",
    responses((status = 200, body = crate::openapi::schemas::Health), (status = 503, body = crate::openapi::schemas::Health)))]
async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let checked = state.db.check_health().await;
    if let Err(why) = &checked {
        tracing::error!(problem = %why, "health check failed");
    }
    let ok = checked.is_ok();
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ok { "healthy" } else { "unhealthy" },
            "timestamp": iso(now_ms()),
            "uptime": state.started.elapsed().as_secs_f64(),
            "version": env!("CARGO_PKG_VERSION"),
            "database": {"status": if ok { "connected" } else { "error" }, "isHealthy": ok, "engine": "sqlite"},
        })),
    )
}

/// Who may scrape `/metrics`: with `metrics_token` set, a request bearing
/// it; without, a request from loopback that did not come through a proxy
/// (no `X-Forwarded-For`). Pure, so the rule is tested beside it.
pub fn metrics_access(
    token: &str,
    bearer: Option<&str>,
    peer_is_loopback: bool,
    forwarded: bool,
) -> Result<(), ApiError> {
    if !token.is_empty() {
        let given = bearer.unwrap_or_default();
        let same = given.len() == token.len()
            && given
                .bytes()
                .zip(token.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        return if same {
            Ok(())
        } else {
            Err(ApiError::Unauthorized(
                "A valid metrics token is required".into(),
            ))
        };
    }
    if peer_is_loopback && !forwarded {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "Metrics are served on loopback only (or set metrics_token)".into(),
        ))
    }
}

/// Prometheus metrics in the text exposition format: with the configured
/// `metrics_token` as bearer, or from loopback when no token is set.
#[utoipa::path(get, path = "/metrics", tag = "system", security((), ("bearer" = [])),
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
              (status = 401, body = crate::openapi::schemas::ErrorBody, description = "metrics_token set and not presented"),
              (status = 403, body = crate::openapi::schemas::ErrorBody, description = "No metrics_token and the caller is not on loopback")))]
async fn metrics(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    metrics_access(
        &state.config.metrics_token,
        crate::auth::extract::bearer_in(&headers),
        peer.ip().is_loopback(),
        headers.contains_key("x-forwarded-for") || headers.contains_key("forwarded"),
    )?;
    let (queued, running, dead) = state
        .db
        .read(crate::jobs::queue_depth)
        .await
        .unwrap_or((0, 0, 0));
    let (busy, idle) = state.db.pool_state();
    let text = state.metrics.render(&[
        ("baitech_jobs_queued", "Jobs waiting to run.", queued as f64),
        ("baitech_jobs_running", "Jobs running now.", running as f64),
        (
            "baitech_jobs_dead",
            "Jobs that failed every attempt.",
            dead as f64,
        ),
        (
            "baitech_db_pool_in_use",
            "Read connections in use.",
            busy as f64,
        ),
        (
            "baitech_db_pool_idle",
            "Read connections idle.",
            idle as f64,
        ),
        (
            "baitech_uptime_seconds",
            "Seconds since start.",
            state.started.elapsed().as_secs_f64(),
        ),
    ]);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text))
}

#[cfg(test)]
mod tests {
    use super::metrics_access;

    #[test]
    fn metrics_need_the_token_or_loopback() {
        // (token, bearer, loopback, forwarded, allowed)
        let cases = [
            ("", None, true, false, true),
            ("", None, false, false, false),
            ("", None, true, true, false),
            ("", Some("x"), false, false, false),
            ("s3cret", Some("s3cret"), false, false, true),
            ("s3cret", Some("s3cret"), false, true, true),
            ("s3cret", None, true, false, false),
            ("s3cret", Some("s3cre"), true, false, false),
            ("s3cret", Some("s3creT"), true, false, false),
        ];
        for (token, bearer, loopback, fwd, ok) in cases {
            assert_eq!(
                metrics_access(token, bearer, loopback, fwd).is_ok(),
                ok,
                "{token:?} {bearer:?} {loopback} {fwd}"
            );
        }
    }
}
