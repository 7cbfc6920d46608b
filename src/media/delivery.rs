//! Serving media: stored files under `/media/files/<publicId>.<ext>` and
//! signed transformations under `/media/t/<sig>/<transformation>/<publicId>.<ext>`.
//!
//! Both live outside `/api` (no per-IP API limit), answer Range requests
//! (players seek in videos), send the Content-Type of the stored format
//! only (never HTML, with `nosniff`), and are cached for a year: a publicId
//! is never reused, and a transformation URL names its exact output.
//! Transformations are rendered on first request and then served from the
//! render cache without touching the database.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::ServiceExt;
use tower_http::services::ServeFile;
use utoipa_axum::router::OpenApiRouter;

use crate::error::{ApiError, ApiResult};
use crate::media::cache::{Hit, MEMORY_ITEM_MAX};
use crate::media::model::{parse_public_id, Format, Kind, Transform};
use crate::media::upload::TempFile;
use crate::media::{image_ops, store};
use crate::state::AppState;

/// The file-serving routes, mounted at the root (not documented in OpenAPI:
/// they answer bytes, not JSON).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/media/files/{*path}", get(serve_stored))
        .route("/media/t/{*path}", get(serve_transformed))
}

fn not_found() -> Response {
    ApiError::NotFound("File not found".into()).into_response()
}

/// `<publicId>.<ext>` or `<publicId>.thumb.jpg`, strictly.
fn stored_target(rel: &str) -> Option<(String, Format)> {
    let (stem, format) = match rel.strip_suffix(".thumb.jpg") {
        Some(stem) => (stem, Format::Jpeg),
        None => {
            let (stem, ext) = rel.rsplit_once('.')?;
            (stem, Format::from_ext(ext)?)
        }
    };
    let id = parse_public_id(stem).ok().filter(|id| id == stem)?;
    Some((format!("{id}{}", &rel[stem.len()..]), format))
}

fn set_media_headers(res: &mut Response, format: Format) {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Images are embedded by web clients on other origins.
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("cross-origin"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox",
        ),
    );
}

/// A render held in memory, whole (Range requests go to the disk copy).
fn memory_response(bytes: Bytes, format: Format, cache: &'static str) -> Response {
    let mut res = Response::new(Body::from(bytes));
    set_media_headers(&mut res, format);
    res.headers_mut()
        .insert("x-media-cache", HeaderValue::from_static(cache));
    res
}

/// Serves one file from disk with Range and conditional-request support.
async fn serve_path(path: std::path::PathBuf, format: Format, req: Request) -> Response {
    let res = match ServeFile::new(path).oneshot(req).await {
        Ok(res) => res.map(Body::new),
        Err(never) => match never {},
    };
    if res.status() == StatusCode::NOT_FOUND {
        return not_found();
    }
    let mut res = res;
    if res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED {
        set_media_headers(&mut res, format);
    }
    res
}

async fn serve_stored(
    State(state): State<AppState>,
    Path(rel): Path<String>,
    req: Request,
) -> Response {
    let Some((rel, format)) = stored_target(&rel) else {
        return not_found();
    };
    let stem = rel.split('.').next().unwrap_or_default().to_string();
    if state.media.is_private(&stem) {
        // Only private documents look at who is asking.
        use axum::extract::FromRequestParts;
        let (mut parts, body) = req.into_parts();
        let caller = crate::auth::OptionalUser::from_request_parts(&mut parts, &state).await;
        let req = Request::from_parts(parts, body);
        let caller = match caller {
            Ok(c) => c,
            Err(e) => return e.into_response(),
        };
        match may_see_private(&state, &caller, stem).await {
            Ok(true) => {}
            Ok(false) => return not_found(),
            Err(e) => return e.into_response(),
        }
        let path = state.media.files_dir().join(rel);
        let mut res = serve_path(path, format, req).await;
        // Never kept by shared caches.
        res.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
        return res;
    }
    let path = state.media.files_dir().join(rel);
    serve_path(path, format, req).await
}

/// A private document (KYC image) is for its owner and staff: anyone else,
/// signed in or not, gets the same 404 as for a file that does not exist.
async fn may_see_private(
    state: &AppState,
    caller: &crate::auth::OptionalUser,
    public_id: String,
) -> ApiResult<bool> {
    let Some(account) = caller.0.as_ref() else {
        return Ok(false);
    };
    if matches!(
        account.role,
        crate::auth::Role::Admin | crate::auth::Role::Support
    ) {
        return Ok(true);
    }
    let owner = state
        .db
        .read(move |c| Ok(store::find_by_key(c, &public_id)?.map(|m| m.owner_id)))
        .await?;
    Ok(owner.as_deref() == Some(account.id.as_str()))
}

/// A parsed, signature-checked transformation request.
struct Wanted {
    public_id: String,
    transform: Transform,
    key: String,
}

fn parse_wanted(state: &AppState, rel: &str) -> Result<Wanted, Box<Response>> {
    let parsed = (|| {
        let (sig, rest) = rel.split_once('/')?;
        let (canonical, file) = rest.split_once('/')?;
        let (stem, ext) = file.rsplit_once('.')?;
        let public_id = parse_public_id(stem).ok().filter(|id| id == stem)?;
        let t = Transform::parse_canonical(canonical, state.media.transform_max_px)?;
        (t.format.ext() == ext).then(|| (sig.to_string(), canonical.to_string(), public_id, t))
    })();
    let Some((sig, canonical, public_id, transform)) = parsed else {
        return Err(Box::new(not_found()));
    };
    if !state
        .media
        .transform_is_signed(&canonical, &public_id, &sig)
    {
        return Err(Box::new(
            ApiError::Forbidden("Invalid transformation signature".into()).into_response(),
        ));
    }
    let key = format!("{public_id}/{canonical}.{}", transform.format.ext());
    Ok(Wanted {
        public_id,
        transform,
        key,
    })
}

async fn serve_transformed(
    State(state): State<AppState>,
    Path(rel): Path<String>,
    req: Request,
) -> Response {
    let wanted = match parse_wanted(&state, &rel) {
        Ok(w) => w,
        Err(res) => return *res,
    };
    if state.media.is_private(&wanted.public_id) {
        return not_found();
    }
    let path = state.media.cache_dir().join(&wanted.key);
    let format = wanted.transform.format;
    let ranged = req.headers().contains_key(header::RANGE);
    let cache = state.media.cache();
    match cache.touch(&wanted.key) {
        Some(Hit::Memory(bytes)) if !ranged => return memory_response(bytes, format, "hit"),
        Some(_) => {
            let small = path
                .metadata()
                .map(|m| m.is_file() && m.len() <= MEMORY_ITEM_MAX)
                .ok();
            if small == Some(true) && !ranged {
                if let Ok(bytes) = tokio::fs::read(&path).await {
                    let bytes = Bytes::from(bytes);
                    cache.remember(&wanted.key, bytes.clone());
                    return memory_response(bytes, format, "hit");
                }
            }
            if small.is_some() {
                let mut res = serve_path(path, format, req).await;
                res.headers_mut()
                    .insert("x-media-cache", HeaderValue::from_static("hit"));
                return res;
            }
        }
        None => {}
    }
    match render(&state, &wanted).await {
        Ok(Some(bytes)) if !ranged => memory_response(bytes, format, "miss"),
        Ok(_) => {
            let mut res = serve_path(path, format, req).await;
            res.headers_mut()
                .insert("x-media-cache", HeaderValue::from_static("miss"));
            res
        }
        Err(e) => e.into_response(),
    }
}

/// Renders `wanted` into the cache unless another request just did; the
/// bytes when this call rendered them.
async fn render(state: &AppState, wanted: &Wanted) -> ApiResult<Option<Bytes>> {
    let media = state.media.clone();
    let lock = media.render_lock(&wanted.key);
    let _guard = lock.lock().await;
    let target = media.cache_dir().join(&wanted.key);
    match media.cache().touch(&wanted.key) {
        Some(Hit::Memory(bytes)) => return Ok(Some(bytes)),
        Some(Hit::Disk) if target.is_file() => return Ok(None),
        _ => {}
    }
    let public_id = wanted.public_id.clone();
    let original = state
        .db
        .read(move |c| store::find_by_public_id(c, &public_id))
        .await?
        .filter(|m| m.kind() == Kind::Image)
        .ok_or_else(|| ApiError::NotFound("File not found".into()))?;
    let source = media.file_path(&original.public_id, original.format);
    let transform = wanted.transform;
    let key = wanted.key.clone();
    let m = media.clone();
    let bytes = media
        .images()
        .run(move || -> ApiResult<Bytes> {
            if !source.is_file() {
                return Err(ApiError::NotFound("File not found".into()));
            }
            let encoded = image_ops::render(&source, original.format, &transform)?;
            let temp = TempFile::new_in(&m.tmp_dir());
            std::fs::write(temp.path(), &encoded.bytes)
                .and_then(|_| temp.persist(&target))
                .map_err(|e| ApiError::internal(format!("media cache: {e}")))?;
            let bytes = Bytes::from(encoded.bytes);
            let size = bytes.len() as u64;
            for old in m.cache().insert(&key, size, Some(bytes.clone())) {
                if old != key {
                    let _ = std::fs::remove_file(m.cache_dir().join(old));
                }
            }
            Ok(bytes)
        })
        .await??;
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_targets_are_strict() {
        assert_eq!(
            stored_target("baitech/images/abc.png"),
            Some(("baitech/images/abc.png".into(), Format::Png))
        );
        assert_eq!(
            stored_target("baitech/videos/abc.thumb.jpg"),
            Some(("baitech/videos/abc.thumb.jpg".into(), Format::Jpeg))
        );
        for bad in [
            "../baitech.db",
            "baitech/../../baitech.db",
            "baitech.db",
            "/etc/passwd.png",
            "a/b.html",
            "a/b.jpg.png",
            "a/b",
            "a//b.png",
        ] {
            assert_eq!(stored_target(bad), None, "{bad}");
        }
    }
}
