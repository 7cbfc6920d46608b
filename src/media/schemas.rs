//! Request forms and response shapes of the media routes, as documented.
//! These types exist for the OpenAPI document; handlers build the same keys.

#![allow(dead_code)]

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::media::model::Kind;

/// Binary file part of a multipart form.
type Binary = Vec<u8>;

/// `multipart/form-data` of `POST /upload/image`.
#[derive(Serialize, ToSchema)]
pub struct ImageForm {
    /// The image (jpeg, png, gif, webp; at most 5 MiB).
    #[schema(value_type = String, format = Binary)]
    pub image: Binary,
    /// Folder, default `baitech/images`.
    pub folder: Option<String>,
}

/// `multipart/form-data` of `POST /upload/images`.
#[derive(Serialize, ToSchema)]
pub struct ImagesForm {
    /// 1 to 10 images.
    #[schema(value_type = Vec<String>, format = Binary)]
    pub images: Vec<Binary>,
    /// Folder, default `baitech/images`.
    pub folder: Option<String>,
}

/// `multipart/form-data` of `POST /upload/video`.
#[derive(Serialize, ToSchema)]
pub struct VideoForm {
    /// The video (mp4, avi, mov, wmv, flv, mkv, webm; at most 100 MiB).
    #[schema(value_type = String, format = Binary)]
    pub video: Binary,
    /// Folder, default `baitech/videos`.
    pub folder: Option<String>,
}

/// `multipart/form-data` of `POST /upload/media`.
#[derive(Serialize, ToSchema)]
pub struct MediaForm {
    /// 1 to 10 images or videos.
    #[schema(value_type = Vec<String>, format = Binary)]
    pub media: Vec<Binary>,
    /// Folder, default `baitech/media`.
    pub folder: Option<String>,
}

/// `multipart/form-data` of the profile-picture routes.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfilePictureForm {
    /// The picture (at most 2 MiB); cropped to 500×500.
    #[schema(value_type = String, format = Binary)]
    pub profile_picture: Binary,
}

/// `multipart/form-data` of `POST /upload/direct`.
#[derive(Serialize, ToSchema)]
pub struct DirectForm {
    /// The file.
    #[schema(value_type = String, format = Binary)]
    pub file: Binary,
    /// The grant from `generate-signature`, unless given in the query string.
    pub grant: Option<String>,
}

/// One uploaded file. Videos add `duration` and `thumbnail`; multi-file
/// uploads add `order`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MediaItemBody {
    #[serde(rename = "type")]
    pub kind: Kind,
    /// Our id of the item (24-hex).
    pub id: String,
    pub url: String,
    pub public_id: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub format: String,
    /// Bytes.
    pub size: u64,
    /// Seconds (videos).
    pub duration: Option<f64>,
    /// Thumbnail URL (videos; null without ffmpeg).
    pub thumbnail: Option<String>,
    /// 0-based position in the request (multi-file routes).
    pub order: Option<u32>,
}

/// `{success, message, data}`.
#[derive(Serialize, ToSchema)]
pub struct UploadOne {
    pub success: bool,
    pub message: String,
    pub data: MediaItemBody,
}

/// `{success, message, data: [..], count}`.
#[derive(Serialize, ToSchema)]
pub struct UploadMany {
    pub success: bool,
    pub message: String,
    pub data: Vec<MediaItemBody>,
    pub count: u32,
}

/// `data` of the media profile-picture upload.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfilePictureData {
    pub url: String,
    pub public_id: String,
    /// The caller's user document.
    #[schema(value_type = Object)]
    pub user: serde_json::Value,
}

/// `{success, message, data: {url, publicId, user}}`.
#[derive(Serialize, ToSchema)]
pub struct ProfilePictureUpload {
    pub success: bool,
    pub message: String,
    pub data: ProfilePictureData,
}

/// `{url, publicId}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PictureRef {
    pub url: String,
    pub public_id: String,
}

/// `{success, message, profilePicture: {url, publicId}, publicId}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserProfilePicture {
    pub success: bool,
    pub message: String,
    pub profile_picture: PictureRef,
    pub public_id: String,
}

/// `data` of a delete.
#[derive(Serialize, ToSchema)]
pub struct DeleteResult {
    pub success: bool,
    /// `ok`.
    pub result: String,
}

/// `{success, message, data: {success, result}}`.
#[derive(Serialize, ToSchema)]
pub struct DeleteOne {
    pub success: bool,
    pub message: String,
    pub data: DeleteResult,
}

/// Outcome per publicId.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeleteOutcome {
    Deleted,
    NotFound,
}

/// `data` of delete-multiple.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeleteManyResult {
    pub success: bool,
    pub deleted: BTreeMap<String, DeleteOutcome>,
    /// Number of keys in `deleted` (not_found included, as the original).
    pub deleted_count: u32,
}

/// `{success, message, data: {success, deleted, deletedCount}}`.
#[derive(Serialize, ToSchema)]
pub struct DeleteMany {
    pub success: bool,
    pub message: String,
    pub data: DeleteManyResult,
}

/// `data` of details.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DetailsData {
    pub public_id: String,
    pub url: String,
    pub format: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub size: u64,
    pub created_at: String,
    pub resource_type: Kind,
    pub duration: Option<f64>,
    pub thumbnail: Option<String>,
}

/// `{success, data}`.
#[derive(Serialize, ToSchema)]
pub struct Details {
    pub success: bool,
    pub data: DetailsData,
}

/// Kinds a grant may allow.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GrantKind {
    Image,
    Video,
    Auto,
}

/// `data` of generate-signature.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignatureData {
    /// Hex HMAC-SHA256 of the grant.
    pub signature: String,
    /// Issued at, Unix seconds.
    pub timestamp: i64,
    pub folder: String,
    pub resource_type: GrantKind,
    /// Byte limit of the file.
    pub max_size: u64,
    pub expires_at: String,
    /// The single-use grant to send to `/upload/direct` (field or query `grant`).
    pub grant: String,
    /// `/api/v1/media/upload/direct?grant=…`, ready to post the file to.
    pub upload_url: String,
}

/// `{success, data}`.
#[derive(Serialize, ToSchema)]
pub struct Signature {
    pub success: bool,
    pub data: SignatureData,
}

/// Crop modes.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CropMode {
    Fill,
    Fit,
    Thumb,
}

/// The transformations applied, as parsed (only the keys supplied).
#[derive(Serialize, ToSchema)]
pub struct Transformations {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub crop: Option<CropMode>,
    /// `auto` or 1–100, as given.
    pub quality: Option<serde_json::Value>,
    pub format: Option<String>,
}

/// `data` of optimize-url.
#[derive(Serialize, ToSchema)]
pub struct OptimizedData {
    pub url: String,
    pub transformations: Transformations,
}

/// `{success, data: {url, transformations}}`.
#[derive(Serialize, ToSchema)]
pub struct Optimized {
    pub success: bool,
    pub data: OptimizedData,
}
