//! The dashboard's files, embedded in the binary at build time (plain
//! HTML, ES modules and CSS committed under `assets/admin/`: no network and
//! no JavaScript toolchain needed). Served at `/admin` with a strict
//! Content-Security-Policy: scripts and styles only from this origin, no
//! inline code, API calls only to this origin.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

/// The policy every dashboard file is served with. Images may come from
/// this origin, `data:` URLs and the media CDN (KYC documents, post media).
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: https:; \
     connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// `(name, content type, bytes)` of every embedded file.
const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../assets/admin/index.html"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/admin/style.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/admin/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/admin/api.js"),
    ),
    (
        "charts.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/admin/charts.js"),
    ),
    (
        "pages.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/admin/pages.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../../assets/admin/favicon.svg"),
    ),
];

/// The embedded file `name` and its content type, if there is one.
pub fn file(name: &str) -> Option<(&'static str, &'static str)> {
    FILES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, ct, body)| (*ct, *body))
}

/// `/admin` (the single page) and `/admin/<file>`; the page's own routes
/// live after `#`, so every deep link loads `/admin`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(|| serve("index.html")))
        .route("/admin/", get(|| serve("index.html")))
        .route(
            "/admin/{file}",
            get(|Path(name): Path<String>| serve_owned(name)),
        )
}

async fn serve_owned(name: String) -> Response {
    serve(&name).await
}

async fn serve(name: &str) -> Response {
    let Some((content_type, body)) = file(name) else {
        return crate::error::ApiError::not_found("File").into_response();
    };
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_embedded_and_index_loads_only_local_modules() {
        for name in [
            "index.html",
            "app.js",
            "api.js",
            "charts.js",
            "pages.js",
            "style.css",
        ] {
            assert!(file(name).is_some_and(|(_, b)| !b.is_empty()), "{name}");
        }
        assert!(file("../Cargo.toml").is_none());
        let (_, index) = file("index.html").unwrap();
        assert!(index.contains(r#"<script type="module" src="/admin/app.js">"#));
        assert!(
            !index.contains("<script>"),
            "no inline scripts under the CSP"
        );
        assert!(!index.contains("http"), "no external resources");
    }
}
