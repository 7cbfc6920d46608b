//! Middleware: client address, request ids, security headers, the global
//! rate limit, metrics, and the JSON 404 for unknown routes.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::{header, request::Parts, HeaderName, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::state::AppState;

/// The caller's IP: the socket peer, or the first X-Forwarded-For hop when
/// `trust_proxy` is set.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

fn client_ip(parts: &Parts, trust_proxy: bool) -> IpAddr {
    if trust_proxy {
        if let Some(ip) = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok())
        {
            return ip;
        }
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts, state.config.trust_proxy)))
    }
}

/// The request id header, set by the request-id layer and echoed back.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Headers helmet sets, plus a strict CSP for API responses; HSTS only when
/// the request reached us over TLS (through a trusted proxy).
pub async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let behind_tls = state.config.trust_proxy
        && req
            .headers()
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let is_docs =
        req.uri().path().starts_with("/api-docs") || req.uri().path().starts_with("/admin");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let mut set = |name: &'static str, value: &'static str| {
        h.entry(HeaderName::from_static(name))
            .or_insert(HeaderValue::from_static(value));
    };
    set("x-content-type-options", "nosniff");
    set("x-frame-options", "DENY");
    set("referrer-policy", "no-referrer");
    set("cross-origin-opener-policy", "same-origin");
    set("cross-origin-resource-policy", "same-origin");
    set("origin-agent-cluster", "?1");
    set("x-dns-prefetch-control", "off");
    set("x-download-options", "noopen");
    set("x-permitted-cross-domain-policies", "none");
    set("x-xss-protection", "0");
    if !is_docs {
        set(
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        );
    }
    if behind_tls {
        set(
            "strict-transport-security",
            "max-age=15552000; includeSubDomains",
        );
    }
    res
}

/// The global per-IP limit, on `/api` only (health and docs are not limited).
pub async fn global_rate_limit(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if req.uri().path().starts_with("/api/") && req.method() != axum::http::Method::OPTIONS {
        let (parts, body) = req.into_parts();
        let ip = client_ip(&parts, state.config.trust_proxy);
        if let Err(e) = state.limits.check_global_ip(ip) {
            return e.into_response();
        }
        return next.run(Request::from_parts(parts, body)).await;
    }
    next.run(req).await
}

/// Who made the request, filled in by authentication once it knows, for
/// the access line written when the response leaves.
#[derive(Debug, Clone, Default)]
pub struct AccessCaller(std::sync::Arc<std::sync::OnceLock<String>>);

impl AccessCaller {
    /// Records the signed-in account (the first one wins).
    pub fn set(&self, user_id: &str) {
        let _ = self.0.set(user_id.to_string());
    }
}

/// One `info` line per request (target `baitech::access`): method, route
/// template, status, latency, request id and the signed-in user's id.
pub async fn access_log(mut req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    let caller = AccessCaller::default();
    req.extensions_mut().insert(caller.clone());
    let res = next.run(req).await;
    tracing::info!(
        target: "baitech::access",
        method = %method,
        route = %route,
        status = res.status().as_u16(),
        latency_ms = (started.elapsed().as_secs_f64() * 1000.0 * 10.0).round() / 10.0,
        request_id = %request_id,
        user_id = %caller.0.get().map(String::as_str).unwrap_or("-"),
        "request"
    );
    res
}

/// Counts requests and their latency by route template and status.
pub async fn record_metrics(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().clone();
    let started = std::time::Instant::now();
    let res = next.run(req).await;
    state.metrics.observe_request(
        method.as_str(),
        &route,
        res.status().as_u16(),
        started.elapsed(),
    );
    res
}

/// Unknown routes: 404 in the envelope, with the path asked for.
pub async fn not_found(uri: Uri) -> impl IntoResponse {
    let path = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or(uri.path())
        .to_string();
    (
        StatusCode::NOT_FOUND,
        Json(json!({"success": false, "message": "Route not found", "path": path})),
    )
}

/// Turns axum's plain-text rejections and empty error bodies (413 from the
/// body limit, 405, panics) into our envelope.
pub async fn envelope_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "request entity too large".to_string(),
        StatusCode::METHOD_NOT_ALLOWED => "Route not found".to_string(),
        StatusCode::INTERNAL_SERVER_ERROR => "Internal Server Error".to_string(),
        s => s.canonical_reason().unwrap_or("Error").to_string(),
    };
    let status = if status == StatusCode::METHOD_NOT_ALLOWED {
        StatusCode::NOT_FOUND
    } else {
        status
    };
    let (mut parts, _) = res.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.status = status;
    let body =
        serde_json::to_vec(&json!({"success": false, "message": message})).unwrap_or_default();
    Response::from_parts(parts, axum::body::Body::from(body))
}
