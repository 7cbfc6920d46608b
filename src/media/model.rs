//! Media types and the pure rules around them: which formats are accepted
//! (decided by magic bytes), the limits of each upload route, what a
//! `publicId` and a folder may look like, and transformations.

use crate::error::{ApiError, ApiResult};

/// Largest image accepted on any route (5 MiB).
pub const IMAGE_MAX_BYTES: u64 = 5 * 1024 * 1024;
/// Largest video accepted (100 MiB).
pub const VIDEO_MAX_BYTES: u64 = 100 * 1024 * 1024;
/// Largest profile picture accepted (2 MiB).
pub const PROFILE_MAX_BYTES: u64 = 2 * 1024 * 1024;
/// Files per request on the multi-file routes.
pub const MAX_FILES: usize = 10;
/// Uploaded images are scaled down to fit this box (the original's `c_limit` 1200×1200).
pub const UPLOAD_MAX_EDGE: u32 = 1200;
/// Profile pictures are cropped to this square.
pub const PROFILE_EDGE: u32 = 500;
/// Bytes looked at to decide a file's type.
pub const SNIFF_BYTES: usize = 4096;

/// Image or video: the `type` / `resourceType` of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Image,
    Video,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Image => "image",
            Kind::Video => "video",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "image" => Some(Kind::Image),
            "video" => Some(Kind::Video),
            _ => None,
        }
    }
}

/// Every stored format. The file extension and Content-Type come from here
/// only, so nothing is ever served with a type we did not decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    Gif,
    Webp,
    Mp4,
    Mov,
    Avi,
    Wmv,
    Flv,
    Mkv,
    Webm,
}

impl Format {
    /// The extension on disk and in URLs, and the `format` on the wire.
    pub fn ext(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
            Format::Gif => "gif",
            Format::Webp => "webp",
            Format::Mp4 => "mp4",
            Format::Mov => "mov",
            Format::Avi => "avi",
            Format::Wmv => "wmv",
            Format::Flv => "flv",
            Format::Mkv => "mkv",
            Format::Webm => "webm",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Gif => "image/gif",
            Format::Webp => "image/webp",
            Format::Mp4 => "video/mp4",
            Format::Mov => "video/quicktime",
            Format::Avi => "video/x-msvideo",
            Format::Wmv => "video/x-ms-wmv",
            Format::Flv => "video/x-flv",
            Format::Mkv => "video/x-matroska",
            Format::Webm => "video/webm",
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            Format::Jpeg | Format::Png | Format::Gif | Format::Webp => Kind::Image,
            _ => Kind::Video,
        }
    }

    /// The format whose stored extension is `ext` (canonical extensions only).
    pub fn from_ext(ext: &str) -> Option<Format> {
        Some(match ext {
            "jpg" => Format::Jpeg,
            "png" => Format::Png,
            "gif" => Format::Gif,
            "webp" => Format::Webp,
            "mp4" => Format::Mp4,
            "mov" => Format::Mov,
            "avi" => Format::Avi,
            "wmv" => Format::Wmv,
            "flv" => Format::Flv,
            "mkv" => Format::Mkv,
            "webm" => Format::Webm,
            _ => return None,
        })
    }

    /// The format the file's first bytes prove, if it is one we accept.
    /// Names and declared Content-Types are never consulted.
    pub fn sniff(head: &[u8]) -> Option<Format> {
        let t = infer::get(head)?;
        Some(match t.mime_type() {
            "image/jpeg" => Format::Jpeg,
            "image/png" => Format::Png,
            "image/gif" => Format::Gif,
            "image/webp" => Format::Webp,
            "video/mp4" => Format::Mp4,
            "video/quicktime" => Format::Mov,
            "video/x-msvideo" => Format::Avi,
            "video/x-ms-wmv" => Format::Wmv,
            "video/x-flv" => Format::Flv,
            "video/x-matroska" => Format::Mkv,
            "video/webm" => Format::Webm,
            _ => return None,
        })
    }
}

/// Which kinds of file a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    Image,
    Video,
    Mixed,
}

impl Accept {
    pub fn allows(self, kind: Kind) -> bool {
        matches!(
            (self, kind),
            (Accept::Mixed, _) | (Accept::Image, Kind::Image) | (Accept::Video, Kind::Video)
        )
    }

    /// The original server's file-filter message (answered with 415).
    pub fn rejection(self) -> &'static str {
        match self {
            Accept::Image => "Only image files are allowed (jpeg, jpg, png, gif, webp)",
            Accept::Video => "Only video files are allowed (mp4, avi, mov, wmv, flv, mkv, webm)",
            Accept::Mixed => "Only image and video files are allowed",
        }
    }
}

/// What happens to an uploaded image's pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Scaled down (never up) to fit an `n`×`n` box.
    Limit(u32),
    /// Scaled and centre-cropped to exactly `n`×`n`.
    Fill(u32),
}

/// The rules of one upload route.
#[derive(Debug, Clone)]
pub struct UploadRule {
    /// The multipart field that carries the file(s).
    pub field: &'static str,
    pub max_files: usize,
    pub accept: Accept,
    pub image_max_bytes: u64,
    pub video_max_bytes: u64,
    pub shape: Shape,
    /// The 400 message when no file came.
    pub missing: &'static str,
}

impl UploadRule {
    /// The byte limit of one file of `kind`.
    pub fn max_bytes(&self, kind: Kind) -> u64 {
        match kind {
            Kind::Image => self.image_max_bytes,
            Kind::Video => self.video_max_bytes,
        }
    }

    /// The largest file this rule could take, before its type is known.
    pub fn largest(&self) -> u64 {
        match self.accept {
            Accept::Image => self.image_max_bytes,
            Accept::Video => self.video_max_bytes,
            Accept::Mixed => self.image_max_bytes.max(self.video_max_bytes),
        }
    }

    /// `POST /upload/image`.
    pub fn image() -> UploadRule {
        UploadRule {
            field: "image",
            max_files: 1,
            accept: Accept::Image,
            image_max_bytes: IMAGE_MAX_BYTES,
            video_max_bytes: 0,
            shape: Shape::Limit(UPLOAD_MAX_EDGE),
            missing: "Please upload an image file",
        }
    }

    /// `POST /upload/images`.
    pub fn images() -> UploadRule {
        UploadRule {
            field: "images",
            max_files: MAX_FILES,
            missing: "Please upload at least one image",
            ..UploadRule::image()
        }
    }

    /// `POST /upload/video`.
    pub fn video() -> UploadRule {
        UploadRule {
            field: "video",
            max_files: 1,
            accept: Accept::Video,
            image_max_bytes: 0,
            video_max_bytes: VIDEO_MAX_BYTES,
            shape: Shape::Limit(UPLOAD_MAX_EDGE),
            missing: "Please upload a video file",
        }
    }

    /// `POST /upload/media`: images keep their 5 MiB limit, videos 100 MiB.
    pub fn mixed() -> UploadRule {
        UploadRule {
            field: "media",
            max_files: MAX_FILES,
            accept: Accept::Mixed,
            image_max_bytes: IMAGE_MAX_BYTES,
            video_max_bytes: VIDEO_MAX_BYTES,
            shape: Shape::Limit(UPLOAD_MAX_EDGE),
            missing: "Please upload at least one media file",
        }
    }

    /// Both profile-picture routes (`missing` differs between them).
    pub fn profile(missing: &'static str) -> UploadRule {
        UploadRule {
            field: "profilePicture",
            max_files: 1,
            accept: Accept::Image,
            image_max_bytes: PROFILE_MAX_BYTES,
            video_max_bytes: 0,
            shape: Shape::Fill(PROFILE_EDGE),
            missing,
        }
    }
}

/// Default folders, as the spec names them.
pub const FOLDER_IMAGES: &str = "baitech/images";
pub const FOLDER_VIDEOS: &str = "baitech/videos";
pub const FOLDER_MEDIA: &str = "baitech/media";
pub const FOLDER_PROFILES: &str = "baitech/profiles";

fn is_safe_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A folder given by a client: up to six `/`-separated segments of letters,
/// digits, `_` and `-`. Anything else (dots, `..`, absolute paths,
/// backslashes, percent signs) is a 400 naming `folder`.
pub fn parse_folder(raw: &str) -> ApiResult<String> {
    let s = raw.trim().trim_end_matches('/');
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.split('/').count() <= 6
        && s.split('/').all(is_safe_segment);
    if ok {
        Ok(s.to_string())
    } else {
        Err(ApiError::field(
            "folder",
            "Folder must be path segments of letters, digits, '_' or '-' separated by '/'",
        ))
    }
}

/// A `publicId` given by a client (already URL-decoded once by the router),
/// with an optional known extension dropped. Traversal attempts (`..`,
/// absolute paths, backslashes, still-encoded characters) are a 400.
pub fn parse_public_id(raw: &str) -> ApiResult<String> {
    let mut s = raw.trim();
    if let Some((stem, ext)) = s.rsplit_once('.') {
        if Format::from_ext(&ext.to_ascii_lowercase()).is_some() && !stem.ends_with('.') {
            s = stem;
        }
    }
    let ok = !s.is_empty()
        && s.len() <= 200
        && !s.starts_with('/')
        && s.split('/').count() <= 8
        && s.split('/').all(is_safe_segment);
    if ok {
        Ok(s.to_string())
    } else {
        Err(ApiError::field("publicId", "Invalid public ID"))
    }
}

/// The random last segment of a new publicId: 20 lowercase letters and digits.
pub fn random_name() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// How a transformation fits the image into the asked box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crop {
    /// Exactly width×height, scaled and centre-cropped.
    Fill,
    /// Inside width×height, aspect kept.
    Fit,
    /// As `Fill`, for small previews.
    Thumb,
}

impl Crop {
    pub fn as_str(self) -> &'static str {
        match self {
            Crop::Fill => "fill",
            Crop::Fit => "fit",
            Crop::Thumb => "thumb",
        }
    }

    pub fn parse(s: &str) -> Option<Crop> {
        match s {
            "fill" => Some(Crop::Fill),
            "fit" => Some(Crop::Fit),
            "thumb" => Some(Crop::Thumb),
            _ => None,
        }
    }
}

/// Encoder quality: `auto` or 1–100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    Auto,
    Value(u8),
}

impl Quality {
    /// The JPEG quality to encode with.
    pub fn jpeg(self) -> u8 {
        match self {
            Quality::Auto => 80,
            Quality::Value(q) => q,
        }
    }
}

/// A transformation of a stored image, as the server signs and renders it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transform {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub crop: Option<Crop>,
    pub quality: Option<Quality>,
    /// The output format (always set once resolved against the original).
    pub format: Format,
}

/// Formats a transformation may produce.
pub fn parse_output_format(s: &str) -> Option<Format> {
    match s {
        "webp" => Some(Format::Webp),
        "jpeg" | "jpg" => Some(Format::Jpeg),
        "png" => Some(Format::Png),
        _ => None,
    }
}

impl Transform {
    /// The canonical form used in URLs, signatures and cache keys:
    /// comma-joined, alphabetical (`c_fill,f_webp,h_200,q_80,w_300`).
    pub fn canonical(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = self.crop {
            parts.push(format!("c_{}", c.as_str()));
        }
        parts.push(format!("f_{}", self.format.ext()));
        if let Some(h) = self.height {
            parts.push(format!("h_{h}"));
        }
        match self.quality {
            Some(Quality::Auto) => parts.push("q_auto".into()),
            Some(Quality::Value(q)) => parts.push(format!("q_{q}")),
            None => {}
        }
        if let Some(w) = self.width {
            parts.push(format!("w_{w}"));
        }
        parts.join(",")
    }

    /// Reads a canonical form back; anything not exactly canonical (order,
    /// duplicates, unknown keys, out-of-range values) is refused, so each
    /// transformation has one URL and one cache entry.
    pub fn parse_canonical(s: &str, max_edge: u32) -> Option<Transform> {
        let mut t = Transform {
            width: None,
            height: None,
            crop: None,
            quality: None,
            format: Format::Jpeg,
        };
        let mut has_format = false;
        for part in s.split(',') {
            let (key, value) = part.split_once('_')?;
            match key {
                "c" => t.crop = Some(Crop::parse(value)?),
                "f" => {
                    t.format = Format::from_ext(value).filter(|f| f.kind() == Kind::Image)?;
                    has_format = true;
                }
                "h" => t.height = Some(parse_edge(value, max_edge)?),
                "w" => t.width = Some(parse_edge(value, max_edge)?),
                "q" => {
                    t.quality = Some(if value == "auto" {
                        Quality::Auto
                    } else {
                        Quality::Value(value.parse::<u8>().ok().filter(|q| (1..=100).contains(q))?)
                    })
                }
                _ => return None,
            }
        }
        (has_format && t.canonical() == s).then_some(t)
    }

    /// The output size for an original of `w`×`h`: `(width, height, crop)`.
    /// `Fill`/`Thumb` need both edges; with one, they behave as `Fit`.
    pub fn target(&self, w: u32, h: u32) -> (u32, u32, bool) {
        let fill = matches!(self.crop, Some(Crop::Fill | Crop::Thumb));
        match (self.width, self.height) {
            (Some(tw), Some(th)) if fill => (tw, th, true),
            (None, None) => (w, h, false),
            (tw, th) => {
                let (bw, bh) = (tw.unwrap_or(u32::MAX), th.unwrap_or(u32::MAX));
                let ratio = (bw as f64 / w.max(1) as f64).min(bh as f64 / h.max(1) as f64);
                let nw = ((w as f64 * ratio).round() as u32).max(1);
                let nh = ((h as f64 * ratio).round() as u32).max(1);
                (nw, nh, false)
            }
        }
    }
}

fn parse_edge(s: &str, max_edge: u32) -> Option<u32> {
    if s.starts_with('0') {
        return None;
    }
    s.parse::<u32>().ok().filter(|n| (1..=max_edge).contains(n))
}

/// The size of a box that fits `w`×`h` into `edge`×`edge`, never enlarging.
pub fn fit_within(w: u32, h: u32, edge: u32) -> (u32, u32) {
    if w <= edge && h <= edge {
        return (w, h);
    }
    let ratio = (edge as f64 / w as f64).min(edge as f64 / h as f64);
    (
        ((w as f64 * ratio).round() as u32).clamp(1, edge),
        ((h as f64 * ratio).round() as u32).clamp(1, edge),
    )
}

/// The URL of a stored file, served by this binary under `base`.
pub fn file_url(base: &str, public_id: &str, format: Format) -> String {
    format!("{base}/media/files/{public_id}.{}", format.ext())
}

/// The URL of a video's thumbnail.
pub fn thumbnail_url(base: &str, public_id: &str) -> String {
    format!("{base}/media/files/{public_id}.thumb.jpg")
}

/// The publicId inside a URL this server issued (`…/media/files/<id>.<ext>`).
pub fn public_id_from_url(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("/media/files/")?;
    let rest = rest.split(['?', '#']).next()?;
    let stem = rest.strip_suffix(".thumb.jpg").unwrap_or(rest);
    parse_public_id(stem).ok()
}

/// One stored media item, as its row holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaItem {
    pub id: String,
    pub public_id: String,
    pub owner_id: String,
    pub folder: String,
    pub format: Format,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub size: u64,
    pub duration_ms: Option<i64>,
    pub has_thumbnail: bool,
    pub original_name: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl MediaItem {
    pub fn kind(&self) -> Kind {
        self.format.kind()
    }

    pub fn url(&self, base: &str) -> String {
        file_url(base, &self.public_id, self.format)
    }

    pub fn thumbnail(&self, base: &str) -> Option<String> {
        self.has_thumbnail
            .then(|| thumbnail_url(base, &self.public_id))
    }

    /// The upload answer: `{type, url, publicId, width, height, format, size}`
    /// (+ `duration`, `thumbnail` for videos), plus our `id`.
    pub fn upload_json(&self, base: &str) -> serde_json::Value {
        let mut v = serde_json::json!({
            "type": self.kind().as_str(),
            "id": self.id,
            "url": self.url(base),
            "publicId": self.public_id,
            "width": self.width,
            "height": self.height,
            "format": self.format.ext(),
            "size": self.size,
        });
        if self.kind() == Kind::Video {
            v["duration"] = serde_json::json!(self.duration_ms.map(|ms| ms as f64 / 1000.0));
            v["thumbnail"] = serde_json::json!(self.thumbnail(base));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_come_from_magic_bytes_only() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(Format::sniff(png), Some(Format::Png));
        assert_eq!(Format::sniff(b"GIF89a\x01\0\x01\0"), Some(Format::Gif));
        assert_eq!(
            Format::sniff(b"\xff\xd8\xff\xe0\0\x10JFIF"),
            Some(Format::Jpeg)
        );
        let mut mp4 = vec![0, 0, 0, 0x18];
        mp4.extend_from_slice(b"ftypisom\0\0\x02\0isomiso2");
        assert_eq!(Format::sniff(&mp4), Some(Format::Mp4));
        assert_eq!(Format::sniff(b"<!DOCTYPE html><html>"), None);
        assert_eq!(Format::sniff(b""), None);
        for f in [Format::Jpeg, Format::Webp, Format::Mkv, Format::Mov] {
            assert_eq!(Format::from_ext(f.ext()), Some(f));
        }
        assert_eq!(Format::from_ext("html"), None);
    }

    #[test]
    fn accept_matches_kinds() {
        assert!(Accept::Image.allows(Kind::Image));
        assert!(!Accept::Image.allows(Kind::Video));
        assert!(!Accept::Video.allows(Kind::Image));
        assert!(Accept::Mixed.allows(Kind::Video));
        assert_eq!(UploadRule::mixed().max_bytes(Kind::Image), IMAGE_MAX_BYTES);
        assert_eq!(UploadRule::mixed().largest(), VIDEO_MAX_BYTES);
    }

    #[test]
    fn public_ids_refuse_traversal() {
        assert_eq!(
            parse_public_id("baitech/posts/abc123").unwrap(),
            "baitech/posts/abc123"
        );
        assert_eq!(
            parse_public_id("baitech/posts/abc123.jpg").unwrap(),
            "baitech/posts/abc123"
        );
        for bad in [
            "",
            "../etc/passwd",
            "baitech/../../x",
            "/etc/passwd",
            "baitech//x",
            "baitech/./x",
            "baitech%2F..%2Fx",
            "baitech\\x",
            "a/b.c",
            "baitech/x/",
        ] {
            assert!(parse_public_id(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn folders_are_safe_relative_paths() {
        assert_eq!(parse_folder("baitech/posts/").unwrap(), "baitech/posts");
        for bad in [
            "",
            "..",
            "baitech/../x",
            "/abs",
            "a b",
            "a/b/c/d/e/f/g",
            "x%2Fy",
        ] {
            assert!(parse_folder(bad).is_err(), "{bad} accepted");
        }
        let n = random_name();
        assert_eq!(n.len(), 20);
        assert!(parse_public_id(&format!("{FOLDER_IMAGES}/{n}")).is_ok());
    }

    #[test]
    fn transforms_have_one_canonical_form() {
        let t = Transform {
            width: Some(300),
            height: Some(200),
            crop: Some(Crop::Fill),
            quality: Some(Quality::Auto),
            format: Format::Webp,
        };
        let c = t.canonical();
        assert_eq!(c, "c_fill,f_webp,h_200,q_auto,w_300");
        assert_eq!(Transform::parse_canonical(&c, 2000), Some(t));
        assert_eq!(
            Transform::parse_canonical("w_300,c_fill,f_webp,h_200,q_auto", 2000),
            None
        );
        assert_eq!(Transform::parse_canonical("f_webp,w_3000", 2000), None);
        assert_eq!(Transform::parse_canonical("f_webp,w_0300", 2000), None);
        assert_eq!(Transform::parse_canonical("f_mp4", 2000), None);
        assert_eq!(Transform::parse_canonical("w_300", 2000), None);
        assert_eq!(Transform::parse_canonical("f_png,q_101", 2000), None);
        assert!(Transform::parse_canonical("f_png", 2000).is_some());
    }

    #[test]
    fn targets_fit_or_fill() {
        let mut t = Transform {
            width: Some(300),
            height: Some(300),
            crop: Some(Crop::Fill),
            quality: None,
            format: Format::Png,
        };
        assert_eq!(t.target(1200, 600), (300, 300, true));
        t.crop = Some(Crop::Fit);
        assert_eq!(t.target(1200, 600), (300, 150, false));
        t.crop = None;
        t.height = None;
        assert_eq!(t.target(1200, 600), (300, 150, false));
        t.width = None;
        assert_eq!(t.target(1200, 600), (1200, 600, false));
        assert_eq!(fit_within(2400, 1600, 1200), (1200, 800));
        assert_eq!(fit_within(800, 600, 1200), (800, 600));
    }
}
