//! Receiving uploads: a multipart body is streamed field by field, each
//! file to its own temporary file, with byte counting against the limit of
//! its kind as soon as its magic bytes have told the kind. Nothing partial
//! survives a failure: temporary files are removed when their guard drops
//! (on any error, and when the request itself is dropped because the
//! client went away), and [`commit`] moves files into place inside the
//! database transaction that records them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::multipart::{Field, Multipart};
use tokio::io::AsyncWriteExt;

use crate::error::{ApiError, ApiResult};
use crate::ids::{new_id, now_ms, random_token};
use crate::media::model::{Format, Kind, MediaItem, UploadRule, SNIFF_BYTES};
use crate::media::{image_ops, store, video, Media};

/// Text fields accepted per request, and bytes per text field.
const MAX_TEXT_FIELDS: usize = 20;
const MAX_TEXT_BYTES: usize = 1024;
/// After a refusal, this much of the rest of the body is read and dropped so
/// the client receives the answer instead of a reset connection.
const DRAIN_BYTES: u64 = 16 * 1024 * 1024;

/// A file in the temporary folder, removed on drop unless persisted.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    /// A fresh name in `dir` (the file is not created).
    pub fn new_in(dir: &Path) -> TempFile {
        TempFile {
            path: dir.join(format!("{}.part", random_token(12))),
            armed: true,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Moves the file to `to` (creating folders); it is then no longer removed on drop.
    pub fn persist(mut self, to: &Path) -> std::io::Result<()> {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::rename(&self.path, to)?;
        self.armed = false;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// One received file, processed and waiting for [`commit`].
#[derive(Debug)]
pub struct Incoming {
    /// 0-based position among the request's files.
    pub order: usize,
    pub format: Format,
    pub file: TempFile,
    pub size: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<i64>,
    pub thumbnail: Option<TempFile>,
    pub original_name: Option<String>,
}

/// What a multipart body held.
#[derive(Debug, Default)]
pub struct Received {
    pub files: Vec<Incoming>,
    pub texts: HashMap<String, String>,
}

fn too_large() -> ApiError {
    ApiError::PayloadTooLarge("File too large. Please upload a smaller file.".into())
}

fn interrupted(e: axum::extract::multipart::MultipartError) -> ApiError {
    ApiError::BadRequest(format!(
        "Malformed or interrupted upload: {}",
        e.body_text()
    ))
}

/// Reads the whole body. `rule_for` is called once, with the text fields
/// seen so far, when the first file starts (direct uploads decide their
/// rule from a grant field); errors it returns end the upload.
pub async fn receive<F, Fut>(
    media: &Arc<Media>,
    mp: &mut Multipart,
    rule_for: F,
) -> ApiResult<Received>
where
    F: FnOnce(&HashMap<String, String>) -> Fut,
    Fut: std::future::Future<Output = ApiResult<UploadRule>>,
{
    let result = receive_all(media, mp, rule_for).await;
    if result.is_err() {
        drain(mp).await;
    }
    result
}

async fn receive_all<F, Fut>(
    media: &Arc<Media>,
    mp: &mut Multipart,
    rule_for: F,
) -> ApiResult<Received>
where
    F: FnOnce(&HashMap<String, String>) -> Fut,
    Fut: std::future::Future<Output = ApiResult<UploadRule>>,
{
    let mut received = Received::default();
    let mut rule_for = Some(rule_for);
    let mut rule: Option<UploadRule> = None;
    let mut fields = 0usize;
    while let Some(mut field) = mp.next_field().await.map_err(interrupted)? {
        fields += 1;
        let name = field.name().unwrap_or("").to_string();
        let is_file = field.file_name().is_some() || rule.as_ref().is_some_and(|r| r.field == name);
        if !is_file {
            if fields > MAX_TEXT_FIELDS + 10 || received.texts.len() >= MAX_TEXT_FIELDS {
                return Err(ApiError::BadRequest("Too many fields in form data.".into()));
            }
            let value = read_text(&mut field).await?;
            received.texts.entry(name).or_insert(value);
            continue;
        }
        if rule.is_none() {
            if let Some(f) = rule_for.take() {
                rule = Some(f(&received.texts).await?);
            }
        }
        let Some(r) = rule.as_ref() else {
            return Err(ApiError::internal("upload rule missing"));
        };
        if name != r.field {
            return Err(ApiError::BadRequest(
                "Unexpected field in form data.".into(),
            ));
        }
        if received.files.len() >= r.max_files {
            return Err(ApiError::BadRequest(if r.max_files == 1 {
                "Unexpected field in form data.".into()
            } else {
                "Too many files. Please upload fewer files.".into()
            }));
        }
        let order = received.files.len();
        let incoming = receive_file(media, field, r, order).await?;
        received.files.push(incoming);
    }
    Ok(received)
}

async fn read_text(field: &mut Field<'_>) -> ApiResult<String> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(interrupted)? {
        if buf.len() + chunk.len() > MAX_TEXT_BYTES {
            return Err(ApiError::BadRequest("Field value too long.".into()));
        }
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf)
        .map_err(|_| ApiError::BadRequest("Field value is not UTF-8 text.".into()))
}

/// Reads and drops the rest of the body, up to [`DRAIN_BYTES`].
async fn drain(mp: &mut Multipart) {
    let mut seen = 0u64;
    while let Ok(Some(mut field)) = mp.next_field().await {
        while let Ok(Some(chunk)) = field.chunk().await {
            seen += chunk.len() as u64;
            if seen > DRAIN_BYTES {
                return;
            }
        }
    }
}

fn decide(head: &[u8], rule: &UploadRule) -> ApiResult<Format> {
    match Format::sniff(head) {
        Some(f) if rule.accept.allows(f.kind()) => Ok(f),
        _ => Err(ApiError::UnsupportedMediaType(
            rule.accept.rejection().into(),
        )),
    }
}

async fn receive_file(
    media: &Arc<Media>,
    mut field: Field<'_>,
    rule: &UploadRule,
    order: usize,
) -> ApiResult<Incoming> {
    let original_name = field.file_name().map(|n| {
        n.chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect::<String>()
    });
    let raw = TempFile::new_in(&media.tmp_dir());
    let file = tokio::fs::File::create(raw.path())
        .await
        .map_err(|e| ApiError::internal(format!("media tmp: {e}")))?;
    let mut out = tokio::io::BufWriter::with_capacity(256 * 1024, file);
    let mut head: Vec<u8> = Vec::with_capacity(SNIFF_BYTES);
    let mut format: Option<Format> = None;
    let mut limit = rule.largest();
    let mut size = 0u64;
    let io = |e: std::io::Error| ApiError::internal(format!("media tmp: {e}"));
    while let Some(chunk) = field.chunk().await.map_err(interrupted)? {
        size += chunk.len() as u64;
        if format.is_none() {
            let want = SNIFF_BYTES - head.len();
            head.extend_from_slice(&chunk[..chunk.len().min(want)]);
            if head.len() >= SNIFF_BYTES {
                let f = decide(&head, rule)?;
                limit = rule.max_bytes(f.kind());
                format = Some(f);
            }
        }
        if size > limit {
            return Err(too_large());
        }
        out.write_all(&chunk).await.map_err(io)?;
    }
    let format = match format {
        Some(f) => f,
        None => {
            let f = decide(&head, rule)?;
            if size > rule.max_bytes(f.kind()) {
                return Err(too_large());
            }
            f
        }
    };
    out.flush().await.map_err(io)?;
    let file = out.into_inner();
    if format.kind() == Kind::Video {
        // Kept as is: it must be durable. An image is re-encoded (and that copy synced).
        file.sync_data().await.map_err(io)?;
    }
    drop(file);

    match format.kind() {
        Kind::Image => {
            let shape = rule.shape;
            // Pixels on an image thread; the write and fsync on the blocking
            // pool, so image threads never wait on the disk.
            let encoded = media
                .images()
                .run(move || {
                    let encoded = image_ops::process_upload(raw.path(), format, shape);
                    drop(raw);
                    encoded
                })
                .await??;
            let processed = TempFile::new_in(&media.tmp_dir());
            let (w, h, len) = (encoded.width, encoded.height, encoded.bytes.len());
            let processed = tokio::task::spawn_blocking(move || {
                write_synced(processed.path(), &encoded.bytes).map(|_| processed)
            })
            .await?
            .map_err(|e| ApiError::internal(format!("media tmp: {e}")))?;
            let encoded = (len, w, h);
            Ok(Incoming {
                order,
                format,
                file: processed,
                size: encoded.0 as u64,
                width: Some(encoded.1),
                height: Some(encoded.2),
                duration_ms: None,
                thumbnail: None,
                original_name,
            })
        }
        Kind::Video => {
            let path = raw.path().to_path_buf();
            let meta = tokio::task::spawn_blocking(move || video::probe(&path, format)).await?;
            let mut thumbnail = None;
            if let Some(ffmpeg) = media.ffmpeg() {
                let thumb = TempFile::new_in(&media.tmp_dir());
                if video::thumbnail(ffmpeg, raw.path(), thumb.path()).await {
                    thumbnail = Some(thumb);
                }
            }
            Ok(Incoming {
                order,
                format,
                file: raw,
                size,
                width: meta.width,
                height: meta.height,
                duration_ms: meta.duration_secs.map(|s| (s * 1000.0).round() as i64),
                thumbnail,
                original_name,
            })
        }
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_data()
}

/// Records every received file as owned by `owner_id` in `folder` and
/// moves it into place, inside the caller's transaction: the files exist
/// exactly when the rows commit. Returns the items in request order.
pub fn commit(
    conn: &rusqlite::Connection,
    media: &Media,
    owner_id: &str,
    folder: &str,
    files: Vec<Incoming>,
) -> ApiResult<Vec<MediaItem>> {
    let mut items = Vec::new();
    let mut placed: Vec<PathBuf> = Vec::new();
    let result = (|| {
        for f in files {
            let now = now_ms();
            let item = MediaItem {
                id: new_id(),
                public_id: format!("{folder}/{}", crate::media::model::random_name()),
                owner_id: owner_id.to_string(),
                folder: folder.to_string(),
                format: f.format,
                width: f.width,
                height: f.height,
                size: f.size,
                duration_ms: f.duration_ms,
                has_thumbnail: f.thumbnail.is_some(),
                original_name: f.original_name,
                created_at: now,
                updated_at: now,
            };
            store::insert(conn, &item)?;
            let to = media.file_path(&item.public_id, item.format);
            f.file
                .persist(&to)
                .map_err(|e| ApiError::internal(format!("media place: {e}")))?;
            placed.push(to);
            if let Some(thumb) = f.thumbnail {
                let to = media.thumb_path(&item.public_id);
                thumb
                    .persist(&to)
                    .map_err(|e| ApiError::internal(format!("media place: {e}")))?;
                placed.push(to);
            }
            items.push(item);
        }
        Ok::<_, ApiError>(())
    })();
    if let Err(e) = result {
        for p in placed {
            let _ = std::fs::remove_file(p);
        }
        return Err(e);
    }
    Ok(items)
}
