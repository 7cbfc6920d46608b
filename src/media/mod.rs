//! Media: images and videos on local disk under `<data_dir>/media`, in
//! place of Cloudinary.
//!
//! Uploads stream to `tmp/` (never whole in memory), are typed by their
//! magic bytes, images are decoded under caps and re-encoded (metadata
//! dropped), and the result is moved into `files/<publicId>.<ext>` in the
//! same transaction that records its owner. Files are served by this
//! binary under `<public_url>/media/files/`, and signed transformations
//! under `<public_url>/media/t/`, rendered on first request and kept in
//! `cache/` under a byte budget. Direct uploads use HMAC-signed, expiring,
//! single-use grants. A recurring job sweeps abandoned temporary files.

pub mod cache;
pub mod delivery;
pub mod grants;
pub mod image_ops;
pub mod model;
pub mod routes;
pub mod schemas;
pub mod store;
pub mod upload;
pub mod video;
pub mod workers;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::config::Config;
use crate::error::ApiResult;
use crate::jobs::Job;
use crate::media::cache::RenderCache;
use crate::media::grants::{GrantClaims, GrantRefusal};
use crate::media::model::{Format, MediaItem, Transform};
use crate::state::AppState;

/// Kind of the recurring sweep job.
pub const SWEEP_JOB: &str = "media.sweep";
/// How often the sweep runs.
pub const SWEEP_EVERY_MS: i64 = 15 * 60 * 1000;

/// The media store of one data directory: paths, signing key, render cache
/// and the caps on concurrent decoding. One per process, in `AppState`.
pub struct Media {
    root: PathBuf,
    key: Vec<u8>,
    base: String,
    cache: RenderCache,
    images: workers::ImageWorkers,
    renders: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    ffmpeg: Option<PathBuf>,
    /// Lifetime of a direct-upload grant.
    pub grant_ttl_secs: u64,
    /// Largest width or height a transformation may ask for.
    pub transform_max_px: u32,
    tmp_max_age: Duration,
    sweep_scheduled: AtomicBool,
    /// publicIds of KYC documents: served to their owner and staff only.
    private: std::sync::RwLock<std::collections::HashSet<String>>,
}

impl Media {
    /// Creates the folders, loads (or generates) the signing secret and
    /// rebuilds the render-cache index, evicting what is over budget.
    pub fn open(config: &Config) -> Result<Media, String> {
        let root = config.data_dir.join("media");
        for sub in ["files", "tmp", "cache"] {
            let dir = root.join(sub);
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let key = signing_secret(config)?.into_bytes();
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let media = Media {
            cache: RenderCache::new(
                config.media_cache_max_bytes,
                config.media_cache_memory_bytes,
            ),
            root,
            key,
            base: config.public_url.trim_end_matches('/').to_string(),
            images: workers::ImageWorkers::start(cores.clamp(1, 8)),
            renders: Mutex::new(HashMap::new()),
            ffmpeg: video::find_ffmpeg(&config.media_ffmpeg),
            grant_ttl_secs: config.media_grant_ttl_secs.max(1),
            transform_max_px: config
                .media_transform_max_px
                .clamp(1, image_ops::MAX_DECODE_EDGE),
            tmp_max_age: Duration::from_secs(config.media_tmp_max_age_secs),
            sweep_scheduled: AtomicBool::new(false),
            private: Default::default(),
        };
        for key in media.cache.load(&media.cache_dir()) {
            let _ = std::fs::remove_file(media.cache_dir().join(key));
        }
        Ok(media)
    }

    /// Serves these publicIds to their owner and staff only from now on.
    pub fn keep_private(&self, public_ids: impl IntoIterator<Item = String>) {
        self.private
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .extend(public_ids);
    }

    /// Whether `public_id` is a private document (a KYC image).
    pub fn is_private(&self, public_id: &str) -> bool {
        self.private
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(public_id)
    }

    /// `<public_url>`, the base of every media URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn files_dir(&self) -> PathBuf {
        self.root.join("files")
    }

    /// Where uploads in progress live (`*.part`).
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("cache")
    }

    /// The stored file of `public_id` (validated by the caller).
    pub fn file_path(&self, public_id: &str, format: Format) -> PathBuf {
        self.files_dir()
            .join(format!("{public_id}.{}", format.ext()))
    }

    /// The thumbnail of a video.
    pub fn thumb_path(&self, public_id: &str) -> PathBuf {
        self.files_dir().join(format!("{public_id}.thumb.jpg"))
    }

    /// The ffmpeg used for thumbnails, when there is one.
    pub fn ffmpeg(&self) -> Option<&Path> {
        self.ffmpeg.as_deref()
    }

    /// The render cache index.
    pub fn cache(&self) -> &RenderCache {
        &self.cache
    }

    /// The image threads: all decoding and encoding runs there, one image
    /// per core at a time, which bounds memory whatever the number of uploads.
    pub fn images(&self) -> &workers::ImageWorkers {
        &self.images
    }

    /// A lock per render key, so one transformation is rendered once even
    /// when many clients ask for it at the same moment.
    pub fn render_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.renders.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 1024 {
            map.retain(|_, l| Arc::strong_count(l) > 1);
        }
        map.entry(key.to_string()).or_default().clone()
    }

    /// Signs a direct-upload grant: `(token, signature)`.
    pub fn sign_grant(&self, claims: &GrantClaims) -> (String, String) {
        grants::sign_grant(&self.key, claims)
    }

    /// The claims of a genuine, unexpired grant.
    pub fn verify_grant(&self, token: &str, now_secs: i64) -> Result<GrantClaims, GrantRefusal> {
        grants::verify_grant(&self.key, token, now_secs)
    }

    /// The signed URL of a transformation of `public_id`.
    pub fn transform_url(&self, public_id: &str, t: &Transform) -> String {
        let canonical = t.canonical();
        let sig = grants::sign_transform(&self.key, &canonical, public_id);
        format!(
            "{}/media/t/{sig}/{canonical}/{public_id}.{}",
            self.base,
            t.format.ext()
        )
    }

    /// Whether a transformation URL's signature is ours.
    pub fn transform_is_signed(&self, canonical: &str, public_id: &str, sig: &str) -> bool {
        grants::transform_is_signed(&self.key, canonical, public_id, sig)
    }

    /// Removes a deleted item's file, thumbnail and renders (blocking).
    pub fn remove_files(&self, item: &MediaItem) {
        let _ = std::fs::remove_file(self.file_path(&item.public_id, item.format));
        let _ = std::fs::remove_file(self.thumb_path(&item.public_id));
        let _ = std::fs::remove_dir_all(self.cache_dir().join(&item.public_id));
        self.cache.forget_prefix(&format!("{}/", item.public_id));
    }
}

/// The configured signing secret, or one generated on first start and kept
/// in `<data_dir>/media.secret` (mode 0600).
fn signing_secret(config: &Config) -> Result<String, String> {
    if !config.media_secret.is_empty() {
        if config.media_secret.len() < 32 {
            return Err("media_secret must be at least 32 characters".into());
        }
        return Ok(config.media_secret.clone());
    }
    let path = config.data_dir.join("media.secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim().to_string();
        if existing.len() >= 32 {
            return Ok(existing);
        }
    }
    let secret = crate::ids::random_token(32);
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(secret.as_bytes()).map_err(|e| e.to_string())?;
    f.sync_all().map_err(|e| e.to_string())?;
    Ok(secret)
}

fn ensure_sweep_job(conn: &rusqlite::Connection) -> ApiResult<()> {
    crate::jobs::ensure_scheduled(conn, SWEEP_JOB, crate::ids::now_ms() + SWEEP_EVERY_MS)
}

/// At start: schedules the sweep when a previous process left temporary
/// files behind (it crashed mid-upload).
pub fn schedule_sweep_for_leftovers(media: &Media, db: &crate::db::Db) -> Result<(), String> {
    let leftovers = std::fs::read_dir(media.tmp_dir())
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if leftovers {
        db.write_blocking(ensure_sweep_job)
            .map_err(|e| format!("media sweep schedule: {e}"))?;
        media.sweep_scheduled.store(true, Ordering::SeqCst);
    }
    Ok(())
}

/// Loads the publicIds of every KYC document ever submitted as private
/// (call at start, after [`Media::open`]).
pub fn load_private_documents(media: &Media, db: &crate::db::Db) -> Result<(), String> {
    let ids = db
        .read_blocking(|c| {
            let mut stmt = c.prepare(
                "SELECT id_front_public_id FROM kyc_submissions WHERE id_front_public_id IS NOT NULL
                 UNION SELECT id_back_public_id FROM kyc_submissions WHERE id_back_public_id IS NOT NULL
                 UNION SELECT selfie_public_id FROM kyc_submissions WHERE selfie_public_id IS NOT NULL",
            )?;
            let ids = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(ids)
        })
        .map_err(|e| format!("loading private media: {e}"))?;
    media.keep_private(ids);
    Ok(())
}

/// Makes sure the recurring sweep is queued once this process receives
/// uploads (whose failures can leave temporary files): one write per
/// process lifetime, then the job keeps rescheduling itself.
pub async fn ensure_sweep(state: &AppState) {
    if state.media.sweep_scheduled.swap(true, Ordering::SeqCst) {
        return;
    }
    if let Err(e) = state.db.write(ensure_sweep_job).await {
        state.media.sweep_scheduled.store(false, Ordering::SeqCst);
        tracing::warn!(error = %e, "could not schedule the media sweep");
    }
}

/// What one sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Temporary files of failed or abandoned uploads.
    pub temp_files: usize,
    /// Stored files whose row never committed (a crash mid-upload).
    pub orphans: usize,
    /// Spent grant nonces past their expiry.
    pub grants: usize,
}

/// Removes temporary files older than `media_tmp_max_age_secs`, stored
/// files of the same age that no row claims, and expired grant nonces.
/// Files younger than that are left alone: they may belong to an upload
/// in progress.
pub async fn sweep(state: &AppState) -> ApiResult<SweepReport> {
    let media = state.media.clone();
    let db = state.db.clone();
    let mut report = tokio::task::spawn_blocking(move || -> ApiResult<SweepReport> {
        let cutoff = SystemTime::now()
            .checked_sub(media.tmp_max_age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let is_old = |p: &Path| {
            p.metadata()
                .and_then(|m| m.modified())
                .map(|t| t <= cutoff)
                .unwrap_or(false)
        };
        let mut report = SweepReport::default();
        if let Ok(entries) = std::fs::read_dir(media.tmp_dir()) {
            for entry in entries.flatten() {
                let p = entry.path();
                if p.is_file() && is_old(&p) && std::fs::remove_file(&p).is_ok() {
                    report.temp_files += 1;
                }
            }
        }
        let files = media.files_dir();
        let mut stored = Vec::new();
        collect_files(&files, &mut stored);
        for p in stored.into_iter().filter(|p| is_old(p)) {
            let Some(rel) = p.strip_prefix(&files).ok().and_then(|r| r.to_str()) else {
                continue;
            };
            let stem = rel
                .strip_suffix(".thumb.jpg")
                .or_else(|| rel.rsplit_once('.').map(|(s, _)| s));
            let Some(public_id) = stem.and_then(|s| model::parse_public_id(s).ok()) else {
                continue;
            };
            let claimed = db.read_blocking(|c| store::public_id_exists(c, &public_id))?;
            if !claimed && std::fs::remove_file(&p).is_ok() {
                report.orphans += 1;
            }
        }
        Ok(report)
    })
    .await??;
    report.grants = state
        .db
        .write(|tx| store::forget_expired_grants(tx, crate::ids::now_ms()))
        .await?;
    Ok(report)
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let p = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => collect_files(&p, out),
                Ok(t) if t.is_file() => out.push(p),
                _ => {}
            }
        }
    }
}

/// The `media.sweep` job: sweeps, then schedules the next run.
pub async fn sweep_job(state: AppState, _job: Job) -> Result<(), String> {
    let report = sweep(&state).await.map_err(|e| e.to_string())?;
    if report != SweepReport::default() {
        tracing::info!(?report, "media sweep");
    }
    state
        .db
        .write(|tx| {
            crate::jobs::enqueue(
                tx,
                SWEEP_JOB,
                &Value::Null,
                Some(crate::ids::now_ms() + SWEEP_EVERY_MS),
            )
        })
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
