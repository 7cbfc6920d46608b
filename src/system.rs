//! `GET /`, `GET /health` and `GET /metrics`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};
use utoipa_axum::{router::OpenApiRouter, routes};

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

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "system", responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
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
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
