//! `/api/v1/media`: uploads, deletes, details, direct-upload grants,
//! transformation URLs; and `POST /api/v1/users/{id}/profile-picture`.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::extract::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::http::{AppJson, AppQuery};
use crate::ids::{is_valid_id, iso, now_ms, random_token};
use crate::media::grants::{GrantClaims, GrantRefusal};
use crate::media::model::{
    parse_folder, parse_output_format, parse_public_id, Crop, Kind, MediaItem, Quality, Transform,
    UploadRule, FOLDER_IMAGES, FOLDER_MEDIA, FOLDER_PROFILES, FOLDER_VIDEOS, IMAGE_MAX_BYTES,
    VIDEO_MAX_BYTES,
};
use crate::media::schemas::{
    DeleteMany, DeleteOne, Details, DirectForm, ImageForm, ImagesForm, MediaForm, Optimized,
    ProfilePictureForm, ProfilePictureUpload, Signature, UploadMany, UploadOne, UserProfilePicture,
    VideoForm,
};
use crate::media::{store, upload};
use crate::openapi::schemas::ErrorBody;
use crate::state::AppState;
use crate::users::document::{user_document, Viewer};
use crate::users::picture::{set_profile_picture, PictureChange};

/// Most publicIds in one delete-multiple call (the Cloudinary admin API's cap).
const MAX_DELETE_IDS: usize = 100;

/// The routes nested at `/api/v1/media`. Upload routes lift the global JSON
/// body limit: they count bytes per file themselves while streaming.
pub fn routes() -> OpenApiRouter<AppState> {
    let uploads = OpenApiRouter::new()
        .routes(routes!(upload_image))
        .routes(routes!(upload_images))
        .routes(routes!(upload_video))
        .routes(routes!(upload_media))
        .routes(routes!(upload_profile_picture))
        .routes(routes!(upload_direct))
        .layer(DefaultBodyLimit::disable());
    OpenApiRouter::new()
        .merge(uploads)
        .routes(routes!(delete_media))
        .routes(routes!(delete_multiple))
        .routes(routes!(details))
        .routes(routes!(generate_signature))
        .routes(routes!(optimize_url))
}

/// `POST /api/v1/users/{id}/profile-picture`, with its full path: merge at
/// the root of the API router (beside the users router).
pub fn profile_picture_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(user_profile_picture))
        .layer(DefaultBodyLimit::disable())
}

/// The routes serving files (`/media/files/...`, `/media/t/...`); merge at the root.
pub fn file_routes() -> OpenApiRouter<AppState> {
    crate::media::delivery::routes()
}

// ---------------------------------------------------------------- uploads

async fn multipart(state: &AppState, req: Request, missing: &str) -> ApiResult<Multipart> {
    Multipart::from_request(req, state)
        .await
        .map_err(|_| ApiError::BadRequest(missing.to_string()))
}

fn folder_from(texts: &HashMap<String, String>, default: &str) -> ApiResult<String> {
    match texts
        .get("folder")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        Some(f) => parse_folder(f),
        None => Ok(default.to_string()),
    }
}

/// Streams, validates, processes and stores the files of a request for
/// `owner_id`; `folder` decides the folder from the text fields.
async fn store_upload(
    state: &AppState,
    owner_id: &str,
    req: Request,
    rule: UploadRule,
    folder: impl FnOnce(&HashMap<String, String>) -> ApiResult<String>,
) -> ApiResult<Vec<MediaItem>> {
    let mut mp = multipart(state, req, rule.missing).await?;
    let missing = rule.missing;
    let received = upload::receive(&state.media, &mut mp, |_| async move { Ok(rule) }).await?;
    if received.files.is_empty() {
        return Err(ApiError::BadRequest(missing.into()));
    }
    let folder = folder(&received.texts)?;
    let (media, owner) = (state.media.clone(), owner_id.to_string());
    state
        .db
        .write(move |tx| upload::commit(tx, &media, &owner, &folder, received.files))
        .await
}

fn many_json(state: &AppState, items: &[MediaItem]) -> Vec<Value> {
    items
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let mut v = m.upload_json(state.media.base());
            v["order"] = json!(i);
            v
        })
        .collect()
}

fn created(body: Value) -> (StatusCode, Json<Value>) {
    (StatusCode::CREATED, Json(body))
}

/// Upload one image (field `image`): re-encoded, metadata stripped, scaled to fit 1200×1200.
#[utoipa::path(post, path = "/upload/image", tag = "media", security(("bearer" = [])),
    request_body(content = ImageForm, content_type = "multipart/form-data"),
    responses((status = 201, body = UploadOne), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn upload_image(
    State(state): State<AppState>,
    user: CurrentUser,
    req: Request,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let items = store_upload(&state, &user.id, req, UploadRule::image(), |t| {
        folder_from(t, FOLDER_IMAGES)
    })
    .await?;
    Ok(created(json!({
        "success": true,
        "message": "Image uploaded successfully",
        "data": items[0].upload_json(state.media.base()),
    })))
}

/// Upload 1 to 10 images (field `images`).
#[utoipa::path(post, path = "/upload/images", tag = "media", security(("bearer" = [])),
    request_body(content = ImagesForm, content_type = "multipart/form-data"),
    responses((status = 201, body = UploadMany), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn upload_images(
    State(state): State<AppState>,
    user: CurrentUser,
    req: Request,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let items = store_upload(&state, &user.id, req, UploadRule::images(), |t| {
        folder_from(t, FOLDER_IMAGES)
    })
    .await?;
    Ok(created(json!({
        "success": true,
        "message": format!("{} images uploaded successfully", items.len()),
        "data": many_json(&state, &items),
        "count": items.len(),
    })))
}

/// Upload one video (field `video`); a thumbnail is made when ffmpeg is installed.
#[utoipa::path(post, path = "/upload/video", tag = "media", security(("bearer" = [])),
    request_body(content = VideoForm, content_type = "multipart/form-data"),
    responses((status = 201, body = UploadOne), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn upload_video(
    State(state): State<AppState>,
    user: CurrentUser,
    req: Request,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let items = store_upload(&state, &user.id, req, UploadRule::video(), |t| {
        folder_from(t, FOLDER_VIDEOS)
    })
    .await?;
    Ok(created(json!({
        "success": true,
        "message": "Video uploaded successfully",
        "data": items[0].upload_json(state.media.base()),
    })))
}

/// Upload 1 to 10 images or videos (field `media`).
#[utoipa::path(post, path = "/upload/media", tag = "media", security(("bearer" = [])),
    request_body(content = MediaForm, content_type = "multipart/form-data"),
    responses((status = 201, body = UploadMany), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn upload_media(
    State(state): State<AppState>,
    user: CurrentUser,
    req: Request,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let items = store_upload(&state, &user.id, req, UploadRule::mixed(), |t| {
        folder_from(t, FOLDER_MEDIA)
    })
    .await?;
    Ok(created(json!({
        "success": true,
        "message": format!("{} media files uploaded successfully", items.len()),
        "data": many_json(&state, &items),
        "count": items.len(),
    })))
}

/// Stores a profile picture for `owner_id` and sets it on the user, in one transaction.
async fn store_profile_picture(
    state: &AppState,
    owner_id: &str,
    req: Request,
    missing: &'static str,
) -> ApiResult<(MediaItem, Value)> {
    let mut mp = multipart(state, req, missing).await?;
    let rule = UploadRule::profile(missing);
    let received = upload::receive(&state.media, &mut mp, |_| async move { Ok(rule) }).await?;
    if received.files.is_empty() {
        return Err(ApiError::BadRequest(missing.into()));
    }
    let (media, owner) = (state.media.clone(), owner_id.to_string());
    state
        .db
        .write(move |tx| {
            let mut items = upload::commit(tx, &media, &owner, FOLDER_PROFILES, received.files)?;
            let item = items.remove(0);
            let url = item.url(media.base());
            let change = PictureChange::Set {
                url: &url,
                public_id: &item.public_id,
            };
            if !set_profile_picture(tx, &owner, change)? {
                return Err(ApiError::not_found("User"));
            }
            let user = user_document(tx, &owner, Viewer::Owner)?.unwrap_or(Value::Null);
            Ok((item, user))
        })
        .await
}

/// Upload and set the caller's profile picture (field `profilePicture`, 2 MiB, cropped to 500×500).
#[utoipa::path(post, path = "/upload/profile-picture", tag = "media", security(("bearer" = [])),
    request_body(content = ProfilePictureForm, content_type = "multipart/form-data"),
    responses((status = 200, body = ProfilePictureUpload), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn upload_profile_picture(
    State(state): State<AppState>,
    user: CurrentUser,
    req: Request,
) -> ApiResult<Json<Value>> {
    let (item, doc) =
        store_profile_picture(&state, &user.id, req, "Please upload an image file").await?;
    Ok(Json(json!({
        "success": true,
        "message": "Profile picture updated successfully",
        "data": {"url": item.url(state.media.base()), "publicId": item.public_id, "user": doc},
    })))
}

/// Upload and set a user's profile picture: the user themself or an admin.
#[utoipa::path(post, path = "/api/v1/users/{id}/profile-picture", tag = "media", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    request_body(content = ProfilePictureForm, content_type = "multipart/form-data"),
    responses((status = 200, body = UserProfilePicture), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn user_profile_picture(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Json<Value>> {
    if !is_valid_id(&id) {
        return Err(ApiError::not_found("User"));
    }
    if user.id != id && !user.is_admin() {
        return Err(ApiError::Forbidden("Not authorized".into()));
    }
    if user.id != id {
        let target = id.clone();
        state
            .db
            .read(move |c| crate::auth::store::find_by_id(c, &target))
            .await?
            .ok_or_else(|| ApiError::not_found("User"))?;
    }
    let (item, _) = store_profile_picture(&state, &id, req, "Please upload an image").await?;
    let url = item.url(state.media.base());
    Ok(Json(json!({
        "success": true,
        "message": "Profile picture uploaded successfully",
        "profilePicture": {"url": url, "publicId": item.public_id},
        "publicId": item.public_id,
    })))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DirectQuery {
    /// The grant from `generate-signature` (or send it as the form field `grant`, before the file).
    grant: Option<String>,
}

/// Checks a grant and spends its nonce; the rule it allows.
async fn redeem_grant(state: &AppState, token: &str) -> ApiResult<(GrantClaims, UploadRule)> {
    let claims = state
        .media
        .verify_grant(token, now_ms() / 1000)
        .map_err(|r| match r {
            GrantRefusal::Invalid => ApiError::Forbidden("Invalid upload grant".into()),
            GrantRefusal::Expired => ApiError::Forbidden("Upload grant has expired".into()),
        })?;
    let c = claims.clone();
    state
        .db
        .write(move |tx| {
            let owner = crate::auth::store::find_by_id(tx, &c.owner)?;
            if owner.is_none_or(|o| o.status != "active") {
                return Err(ApiError::Forbidden("Invalid upload grant".into()));
            }
            if !store::spend_grant(tx, &c.nonce, &c.owner, c.exp * 1000)? {
                return Err(ApiError::Conflict(
                    "Upload grant has already been used".into(),
                ));
            }
            Ok(())
        })
        .await?;
    let base = match claims.resource_type.as_str() {
        "video" => UploadRule::video(),
        "auto" => UploadRule::mixed(),
        _ => UploadRule::image(),
    };
    let rule = UploadRule {
        field: "file",
        max_files: 1,
        image_max_bytes: base.image_max_bytes.min(claims.max),
        video_max_bytes: base.video_max_bytes.min(claims.max),
        missing: "Please upload a file",
        ..base
    };
    Ok((claims, rule))
}

/// Upload one file (field `file`) with a grant from `generate-signature`, without a JWT.
#[utoipa::path(post, path = "/upload/direct", tag = "media", params(DirectQuery),
    request_body(content = DirectForm, content_type = "multipart/form-data"),
    responses((status = 201, body = UploadOne), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn upload_direct(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<DirectQuery>,
    req: Request,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let query_grant = q.grant.filter(|g| !g.trim().is_empty());
    let mut redeemed: Option<(GrantClaims, UploadRule)> = None;
    if let Some(token) = &query_grant {
        redeemed = Some(redeem_grant(&state, token).await?);
    }
    let Ok(mut mp) = Multipart::from_request(req, &state).await else {
        return Err(match redeemed {
            Some(_) => ApiError::BadRequest("Please upload a file".into()),
            None => ApiError::Unauthorized("Upload grant required".into()),
        });
    };
    let mut claims_out: Option<GrantClaims> = redeemed.as_ref().map(|(c, _)| c.clone());
    let preset = redeemed.map(|(_, r)| r);
    let st = state.clone();
    let claims_slot = &mut claims_out;
    let received = upload::receive(&state.media, &mut mp, |texts| {
        let field_grant = texts.get("grant").cloned();
        async move {
            if let Some(rule) = preset {
                return Ok(rule);
            }
            let token = field_grant
                .filter(|g| !g.trim().is_empty())
                .ok_or_else(|| ApiError::Unauthorized("Upload grant required".into()))?;
            let (claims, rule) = redeem_grant(&st, &token).await?;
            *claims_slot = Some(claims);
            Ok(rule)
        }
    })
    .await?;
    let Some(claims) = claims_out else {
        return Err(ApiError::Unauthorized("Upload grant required".into()));
    };
    if received.files.is_empty() {
        return Err(ApiError::BadRequest("Please upload a file".into()));
    }
    let (media, folder) = (state.media.clone(), claims.folder.clone());
    let owner = claims.owner.clone();
    let items = state
        .db
        .write(move |tx| upload::commit(tx, &media, &owner, &folder, received.files))
        .await?;
    let message = match items[0].kind() {
        Kind::Image => "Image uploaded successfully",
        Kind::Video => "Video uploaded successfully",
    };
    Ok(created(json!({
        "success": true,
        "message": message,
        "data": items[0].upload_json(state.media.base()),
    })))
}

// ---------------------------------------------------------------- delete, details

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ResourceQuery {
    /// `image` (default), `video`, `raw` or `auto`; accepted for compatibility,
    /// the publicId alone names the item.
    resource_type: Option<String>,
}

fn check_resource_type(raw: Option<&str>) -> ApiResult<()> {
    match raw.map(str::trim) {
        None | Some("") | Some("image") | Some("video") | Some("raw") | Some("auto") => Ok(()),
        Some(_) => Err(ApiError::field(
            "resourceType",
            "resourceType must be image, video, raw or auto",
        )),
    }
}

fn may_manage(user: &CurrentUser, item: &MediaItem) -> bool {
    item.owner_id == user.id || user.is_admin()
}

/// Deletes an item's row, and takes it off its owner's profile if it was the picture.
fn delete_item(tx: &rusqlite::Connection, item: &MediaItem) -> ApiResult<()> {
    store::delete(tx, &item.id)?;
    let change = PictureChange::ClearIf {
        public_id: &item.public_id,
    };
    set_profile_picture(tx, &item.owner_id, change)?;
    Ok(())
}

/// Removes deleted items' files after their rows are gone.
async fn remove_files(state: &AppState, items: Vec<MediaItem>) {
    let media = state.media.clone();
    let _ = tokio::task::spawn_blocking(move || {
        for item in &items {
            media.remove_files(item);
        }
    })
    .await;
}

/// Delete a file: its owner or an admin (anyone else gets 404).
#[utoipa::path(delete, path = "/{publicId}", tag = "media", security(("bearer" = [])),
    params(("publicId" = String, Path, description = "URL-encoded publicId, e.g. baitech%2Fposts%2Fabc123"), ResourceQuery),
    responses((status = 200, body = DeleteOne), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn delete_media(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(public_id): Path<String>,
    AppQuery(q): AppQuery<ResourceQuery>,
) -> ApiResult<Json<Value>> {
    check_resource_type(q.resource_type.as_deref())?;
    let public_id = parse_public_id(&public_id)?;
    let u = user.clone();
    let item = state
        .db
        .write(move |tx| {
            let item = store::find_by_public_id(tx, &public_id)?
                .filter(|m| may_manage(&u, m))
                .ok_or_else(|| ApiError::NotFound("File not found".into()))?;
            delete_item(tx, &item)?;
            Ok(item)
        })
        .await?;
    remove_files(&state, vec![item]).await;
    Ok(Json(json!({
        "success": true,
        "message": "File deleted successfully",
        "data": {"success": true, "result": "ok"},
    })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeleteMultipleBody {
    /// 1 to 100 publicIds.
    #[schema(value_type = Vec<String>)]
    public_ids: Option<Value>,
    /// Accepted for compatibility.
    resource_type: Option<String>,
}

/// Delete several files; ids the caller may not manage answer `not_found`.
#[utoipa::path(post, path = "/delete-multiple", tag = "media", security(("bearer" = [])),
    request_body = DeleteMultipleBody,
    responses((status = 200, body = DeleteMany), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn delete_multiple(
    State(state): State<AppState>,
    user: CurrentUser,
    AppJson(body): AppJson<DeleteMultipleBody>,
) -> ApiResult<Json<Value>> {
    check_resource_type(body.resource_type.as_deref())?;
    let raw: Vec<String> = match &body.public_ids {
        Some(Value::Array(items)) if !items.is_empty() && items.len() <= MAX_DELETE_IDS => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ApiError::BadRequest("Please provide an array of public IDs".into()))?,
        _ => {
            return Err(ApiError::BadRequest(
                "Please provide an array of public IDs".into(),
            ))
        }
    };
    let mut ids = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let id = parse_public_id(r)
            .map_err(|_| ApiError::field(format!("publicIds[{i}]"), "Invalid public ID"))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let u = user.clone();
    let (outcome, removed) = state
        .db
        .write(move |tx| {
            let mut outcome = BTreeMap::new();
            let mut removed = Vec::new();
            for id in ids {
                match store::find_by_public_id(tx, &id)?.filter(|m| may_manage(&u, m)) {
                    Some(item) => {
                        delete_item(tx, &item)?;
                        outcome.insert(id, "deleted");
                        removed.push(item);
                    }
                    None => {
                        outcome.insert(id, "not_found");
                    }
                }
            }
            Ok((outcome, removed))
        })
        .await?;
    remove_files(&state, removed).await;
    let count = outcome.len();
    Ok(Json(json!({
        "success": true,
        "message": format!("{count} files deleted successfully"),
        "data": {"success": true, "deleted": outcome, "deletedCount": count},
    })))
}

/// Details of a file: its owner or an admin (anyone else gets 404).
#[utoipa::path(get, path = "/{publicId}/details", tag = "media", security(("bearer" = [])),
    params(("publicId" = String, Path, description = "URL-encoded publicId"), ResourceQuery),
    responses((status = 200, body = Details), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn details(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(public_id): Path<String>,
    AppQuery(q): AppQuery<ResourceQuery>,
) -> ApiResult<Json<Value>> {
    check_resource_type(q.resource_type.as_deref())?;
    let public_id = parse_public_id(&public_id)?;
    let item = state
        .db
        .read(move |c| store::find_by_public_id(c, &public_id))
        .await?
        .filter(|m| may_manage(&user, m))
        .ok_or_else(|| ApiError::NotFound("File not found".into()))?;
    let base = state.media.base();
    let mut data = json!({
        "publicId": item.public_id,
        "url": item.url(base),
        "format": item.format.ext(),
        "width": item.width,
        "height": item.height,
        "size": item.size,
        "createdAt": iso(item.created_at),
        "resourceType": item.kind().as_str(),
    });
    if item.kind() == Kind::Video {
        data["duration"] = json!(item.duration_ms.map(|ms| ms as f64 / 1000.0));
        data["thumbnail"] = json!(item.thumbnail(base));
    }
    Ok(Json(json!({"success": true, "data": data})))
}

// ---------------------------------------------------------------- signatures, URLs

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignatureBody {
    /// Default `baitech/users/<your id>`.
    folder: Option<String>,
    /// `image` (default), `video` or `auto` (either).
    resource_type: Option<String>,
    /// Byte limit, at most the kind's limit (the default).
    #[schema(value_type = Option<u64>)]
    max_size: Option<Value>,
}

/// A signed, expiring, single-use grant to upload one file to `/upload/direct` without a JWT.
#[utoipa::path(post, path = "/generate-signature", tag = "media", security(("bearer" = [])),
    request_body = SignatureBody,
    responses((status = 200, body = Signature), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn generate_signature(
    State(state): State<AppState>,
    user: CurrentUser,
    AppJson(body): AppJson<SignatureBody>,
) -> ApiResult<Json<Value>> {
    let folder = match body
        .folder
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(f) => parse_folder(f)?,
        None => format!("baitech/users/{}", user.id),
    };
    let resource_type = match body.resource_type.as_deref().map(str::trim) {
        None | Some("") | Some("image") => "image",
        Some("video") => "video",
        Some("auto") => "auto",
        Some(_) => {
            return Err(ApiError::field(
                "resourceType",
                "resourceType must be image, video or auto",
            ))
        }
    };
    let ceiling = if resource_type == "image" {
        IMAGE_MAX_BYTES
    } else {
        VIDEO_MAX_BYTES
    };
    let max = match &body.max_size {
        None | Some(Value::Null) => ceiling,
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .filter(|n| (1..=ceiling).contains(n))
            .ok_or_else(|| {
                ApiError::field(
                    "maxSize",
                    format!("maxSize must be a whole number of bytes from 1 to {ceiling}"),
                )
            })?,
    };
    let iat = now_ms() / 1000;
    let claims = GrantClaims {
        owner: user.id.clone(),
        folder: folder.clone(),
        resource_type: resource_type.into(),
        max,
        iat,
        exp: iat + state.media.grant_ttl_secs as i64,
        nonce: random_token(12),
    };
    let (grant, signature) = state.media.sign_grant(&claims);
    Ok(Json(json!({
        "success": true,
        "data": {
            "signature": signature,
            "timestamp": iat,
            "folder": folder,
            "resourceType": resource_type,
            "maxSize": max,
            "expiresAt": iso(claims.exp * 1000),
            "grant": grant,
            "uploadUrl": format!("{}/api/v1/media/upload/direct?grant={}", state.media.base(), grant),
        },
    })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OptimizeBody {
    #[schema(value_type = String)]
    public_id: Option<Value>,
    #[schema(value_type = Option<u32>)]
    width: Option<Value>,
    #[schema(value_type = Option<u32>)]
    height: Option<Value>,
    /// `fill`, `fit` or `thumb`.
    #[schema(value_type = Option<String>)]
    crop: Option<Value>,
    /// `auto` or 1–100.
    #[schema(value_type = Option<String>)]
    quality: Option<Value>,
    /// `webp`, `jpeg` (`jpg`) or `png`.
    #[schema(value_type = Option<String>)]
    format: Option<Value>,
}

/// JS truthiness of a supplied value (the original parsed only truthy values).
fn truthy(v: &Option<Value>) -> Option<&Value> {
    v.as_ref().filter(|v| match v {
        Value::Null | Value::Bool(false) => false,
        Value::String(s) => !s.is_empty(),
        Value::Number(n) => n.as_f64() != Some(0.0),
        _ => true,
    })
}

fn whole(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

fn edge(v: &Option<Value>, field: &str, max: u32) -> ApiResult<Option<u32>> {
    let Some(v) = truthy(v) else {
        return Ok(None);
    };
    whole(v)
        .filter(|n| (1..=max as u64).contains(n))
        .map(|n| Some(n as u32))
        .ok_or_else(|| {
            ApiError::field(
                field,
                format!("{field} must be a whole number from 1 to {max}"),
            )
        })
}

/// A URL of a stored image with transformations, signed by this server and
/// rendered (then cached) on first request. Public.
#[utoipa::path(post, path = "/optimize-url", tag = "media", request_body = OptimizeBody,
    responses((status = 200, body = Optimized), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn optimize_url(
    State(state): State<AppState>,
    AppJson(body): AppJson<OptimizeBody>,
) -> ApiResult<Json<Value>> {
    let raw_id = match truthy(&body.public_id) {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(_) => return Err(ApiError::field("publicId", "Invalid public ID")),
        None => return Err(ApiError::BadRequest("Public ID is required".into())),
    };
    let public_id = parse_public_id(&raw_id)?;
    let max = state.media.transform_max_px;
    let width = edge(&body.width, "width", max)?;
    let height = edge(&body.height, "height", max)?;
    let crop = match truthy(&body.crop) {
        None => None,
        Some(v) => Some(
            v.as_str()
                .and_then(Crop::parse)
                .ok_or_else(|| ApiError::field("crop", "crop must be fill, fit or thumb"))?,
        ),
    };
    let quality_bad = || {
        ApiError::field(
            "quality",
            "quality must be auto or a whole number from 1 to 100",
        )
    };
    let (quality, quality_echo) = match truthy(&body.quality) {
        None => (None, None),
        Some(Value::String(s)) if s.trim() == "auto" => (Some(Quality::Auto), Some(json!("auto"))),
        Some(v) => {
            let q = whole(v)
                .filter(|q| (1..=100).contains(q))
                .ok_or_else(quality_bad)?;
            (Some(Quality::Value(q as u8)), Some(json!(q)))
        }
    };
    let (format, format_echo) = match truthy(&body.format) {
        None => (None, None),
        Some(v) => {
            let s = v.as_str().unwrap_or("");
            let f = parse_output_format(s.trim())
                .ok_or_else(|| ApiError::field("format", "format must be webp, jpeg or png"))?;
            (Some(f), Some(s.trim().to_string()))
        }
    };
    let lookup = public_id.clone();
    let item = state
        .db
        .read(move |c| store::find_by_public_id(c, &lookup))
        .await?
        .ok_or_else(|| ApiError::NotFound("File not found".into()))?;
    if item.kind() != Kind::Image {
        return Err(ApiError::field(
            "publicId",
            "Only images can be transformed",
        ));
    }
    let mut transformations = serde_json::Map::new();
    if let Some(w) = width {
        transformations.insert("width".into(), json!(w));
    }
    if let Some(h) = height {
        transformations.insert("height".into(), json!(h));
    }
    if let Some(c) = crop {
        transformations.insert("crop".into(), json!(c.as_str()));
    }
    if let Some(q) = quality_echo {
        transformations.insert("quality".into(), q);
    }
    if let Some(f) = format_echo {
        transformations.insert("format".into(), json!(f));
    }
    let url = if transformations.is_empty() {
        item.url(state.media.base())
    } else {
        let t = Transform {
            width,
            height,
            crop,
            quality,
            format: format.unwrap_or(item.format),
        };
        state.media.transform_url(&item.public_id, &t)
    };
    Ok(Json(json!({
        "success": true,
        "data": {"url": url, "transformations": transformations},
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truthiness_follows_js() {
        assert!(truthy(&None).is_none());
        assert!(truthy(&Some(json!(0))).is_none());
        assert!(truthy(&Some(json!(""))).is_none());
        assert!(truthy(&Some(json!(false))).is_none());
        assert!(truthy(&Some(json!(300))).is_some());
        assert_eq!(edge(&Some(json!("300")), "width", 2000).unwrap(), Some(300));
        assert!(edge(&Some(json!(3000)), "width", 2000).is_err());
        assert!(edge(&Some(json!("wide")), "width", 2000).is_err());
        assert!(check_resource_type(Some("video")).is_ok());
        assert!(check_resource_type(Some("html")).is_err());
    }
}
