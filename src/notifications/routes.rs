//! `/api/v1/notifications`: the caller's own notifications (list, one,
//! read, delete, mark all read, clear read), preferences, and the admin's
//! create (one recipient or a broadcast). Only the recipient sees a
//! notification: anyone else gets 404. axum matches the static segments
//! (`/preferences`, `/mark-all-read`, `/clear-read`) before `/{id}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::extract::{CurrentUser, Role};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::http::{list_response, AppJson, AppQuery, Page};
use crate::ids::{is_valid_id, now_ms};
use crate::jobs;
use crate::notifications::model::{self, Audience, CATEGORIES, PRIORITIES};
use crate::notifications::schemas::{
    NotificationCreateBody, NotificationCreated, NotificationDone, NotificationList,
    NotificationOne, NotificationPrefsAnswer, NotificationPrefsBody,
};
use crate::notifications::store::{self, Filter, Stored};
use crate::notifications::{deliver, delivery, JOB_BROADCAST};
use crate::openapi::schemas::ErrorBody;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_notifications, create_notification))
        .routes(routes!(get_preferences, update_preferences))
        .routes(routes!(mark_all_read))
        .routes(routes!(clear_read))
        .routes(routes!(get_notification, delete_notification))
        .routes(routes!(mark_read))
}

/// The caller's notification of a path id; 404 for a bad id, a missing one
/// or someone else's.
async fn own(state: &AppState, user: &CurrentUser, id: String) -> ApiResult<Stored> {
    if !is_valid_id(&id) {
        return Err(ApiError::not_found("Notification"));
    }
    let me = user.id.clone();
    state
        .db
        .read(move |c| store::find(c, &id))
        .await?
        .filter(|n| n.recipient_id == me)
        .ok_or_else(|| ApiError::not_found("Notification"))
}

fn done(message: &str) -> Json<Value> {
    Json(json!({"success": true, "message": message}))
}

// ---------------------------------------------------------------- list

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct NotificationListQuery {
    /// `true` for read ones; any other value for unread ones.
    is_read: Option<String>,
    /// One of the 35 types.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    kind: Option<String>,
    /// `low`, `normal`, `high` or `urgent`.
    priority: Option<String>,
    /// `booking`, `payment`, `social`, `message`, `system` or `achievement`.
    category: Option<String>,
    /// Page number, from 1.
    page: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    limit: Option<String>,
}

fn parse_filter(q: &NotificationListQuery) -> Result<Filter, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut pick =
        |field: &str, v: &Option<String>, allowed: &[&str]| match v.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) if allowed.contains(&s) => Some(s.to_string()),
            Some(_) => {
                errors.push(FieldError {
                    field: field.into(),
                    message: format!("{field} must be one of {}", allowed.join(", ")),
                });
                None
            }
        };
    let f = Filter {
        is_read: q.is_read.as_deref().map(|v| v == "true"),
        kind: pick("type", &q.kind, &model::TYPES),
        priority: pick("priority", &q.priority, &PRIORITIES),
        category: pick("category", &q.category, &CATEGORIES),
    };
    if errors.is_empty() {
        Ok(f)
    } else {
        Err(errors)
    }
}

/// The caller's unexpired notifications, newest first, with `unreadCount`.
#[utoipa::path(get, path = "", tag = "notifications", params(NotificationListQuery), security(("bearer" = [])),
    responses((status = 200, body = NotificationList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn list_notifications(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(q): AppQuery<NotificationListQuery>,
) -> ApiResult<Json<Value>> {
    let page = Page::of(q.page.as_deref(), q.limit.as_deref(), 20);
    let filter = parse_filter(&q);
    let (page, filter) = match (page, filter) {
        (Ok(p), Ok(f)) => (p, f),
        (p, f) => {
            let mut errors = match p {
                Err(ApiError::Validation(e)) => e,
                _ => Vec::new(),
            };
            errors.extend(f.err().unwrap_or_default());
            return Err(ApiError::Validation(errors));
        }
    };
    let me = user.id.clone();
    let now = now_ms();
    let (rows, total, unread) = state
        .db
        .read(move |c| store::list(c, &me, &filter, page.limit as i64, page.offset(), now))
        .await?;
    let docs = rows.iter().map(|n| n.to_json(now)).collect();
    let mut body = list_response("notifications", docs, total, page);
    body["unreadCount"] = json!(unread);
    Ok(Json(body))
}

// ---------------------------------------------------------------- one

/// One of the caller's notifications (expired ones too).
#[utoipa::path(get, path = "/{id}", tag = "notifications", security(("bearer" = [])),
    params(("id" = String, Path, description = "Notification id")),
    responses((status = 200, body = NotificationOne), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn get_notification(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let n = own(&state, &user, id).await?;
    Ok(Json(
        json!({"success": true, "notification": n.to_json(now_ms())}),
    ))
}

/// Marks one of the caller's notifications read.
#[utoipa::path(put, path = "/{id}/read", tag = "notifications", security(("bearer" = [])),
    params(("id" = String, Path, description = "Notification id")),
    responses((status = 200, body = NotificationDone), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn mark_read(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let n = own(&state, &user, id).await?;
    state
        .db
        .write(move |tx| store::mark_read(tx, &n.id, now_ms()))
        .await?;
    Ok(done("Notification marked as read"))
}

/// Deletes one of the caller's notifications.
#[utoipa::path(delete, path = "/{id}", tag = "notifications", security(("bearer" = [])),
    params(("id" = String, Path, description = "Notification id")),
    responses((status = 200, body = NotificationDone), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn delete_notification(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let n = own(&state, &user, id).await?;
    state.db.write(move |tx| store::delete(tx, &n.id)).await?;
    Ok(done("Notification deleted successfully"))
}

// ---------------------------------------------------------------- bulk

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationCategoryQuery {
    /// Only this category (`booking`, `payment`, `social`, `message`, `system`, `achievement`).
    category: Option<String>,
}

/// Marks all of the caller's unread notifications read (of one category if given).
#[utoipa::path(put, path = "/mark-all-read", tag = "notifications", params(NotificationCategoryQuery), security(("bearer" = [])),
    responses((status = 200, body = NotificationDone), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn mark_all_read(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(q): AppQuery<NotificationCategoryQuery>,
) -> ApiResult<Json<Value>> {
    let category =
        match q.category.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(c) if CATEGORIES.contains(&c) => Some(c.to_string()),
            Some(_) => return Err(ApiError::field(
                "category",
                "category must be one of booking, payment, social, message, system, achievement",
            )),
        };
    let me = user.id.clone();
    state
        .db
        .write(move |tx| store::mark_all_read(tx, &me, category.as_deref(), now_ms()))
        .await?;
    Ok(done("All notifications marked as read"))
}

/// Deletes all of the caller's read notifications.
#[utoipa::path(delete, path = "/clear-read", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = NotificationDone), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn clear_read(State(state): State<AppState>, user: CurrentUser) -> ApiResult<Json<Value>> {
    let me = user.id.clone();
    state.db.write(move |tx| store::clear_read(tx, &me)).await?;
    Ok(done("Read notifications cleared successfully"))
}

// ---------------------------------------------------------------- preferences

/// The caller's preferences (the defaults until saved).
#[utoipa::path(get, path = "/preferences", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = NotificationPrefsAnswer), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn get_preferences(
    State(state): State<AppState>,
    user: CurrentUser,
) -> ApiResult<Json<Value>> {
    let me = user.id.clone();
    let prefs = state.db.read(move |c| store::preferences(c, &me)).await?;
    Ok(Json(
        json!({"success": true, "preferences": prefs.to_json()}),
    ))
}

/// Saves the caller's preferences (merged over the stored ones) and answers them all.
#[utoipa::path(put, path = "/preferences", tag = "notifications", request_body = NotificationPrefsBody, security(("bearer" = [])),
    responses((status = 200, body = NotificationPrefsAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn update_preferences(
    State(state): State<AppState>,
    user: CurrentUser,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Json<Value>> {
    let me = user.id.clone();
    let prefs = state
        .db
        .write(move |tx| {
            let mut prefs = store::preferences(tx, &me)?;
            prefs.apply(&body).map_err(ApiError::Validation)?;
            store::save_preferences(tx, &me, &prefs, now_ms())?;
            Ok(prefs)
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Notification preferences updated successfully",
                   "preferences": prefs.to_json()}),
    ))
}

// ---------------------------------------------------------------- admin create

/// An admin tells one user (delivered at once, over the asked channels as
/// the recipient's preferences allow) or broadcasts to a role or everyone
/// (queued, delivered in batches through the same pipeline).
#[utoipa::path(post, path = "", tag = "notifications", request_body = NotificationCreateBody, security(("bearer" = [])),
    responses((status = 201, body = NotificationCreated), (status = 202, body = NotificationCreated),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn create_notification(
    State(state): State<AppState>,
    user: CurrentUser,
    AppJson(body): AppJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    user.require_role(&[Role::Admin])?;
    let now = now_ms();
    let notice = model::parse_admin_notice(&body, now).map_err(ApiError::Validation)?;
    let mut draft = notice.draft;
    draft.sender_id = Some(user.id.clone());
    let offset = state.config.notification_utc_offset_mins;
    match notice.audience {
        Audience::One(recipient) => {
            let (user_id, doc) = state
                .db
                .write(move |tx| {
                    if !store::is_live_user(tx, &recipient)? {
                        return Err(ApiError::not_found("Recipient"));
                    }
                    let prefs = store::preferences(tx, &recipient)?;
                    deliver(tx, &draft, &prefs, offset, now)
                })
                .await?;
            crate::notifications::announce(&state, &user_id, &doc);
            Ok((
                StatusCode::CREATED,
                Json(
                    json!({"success": true, "message": "Notification created successfully", "notification": doc}),
                ),
            ))
        }
        audience => {
            let role = match &audience {
                Audience::Role(r) => Some(r.clone()),
                _ => None,
            };
            let label = role.clone().unwrap_or_else(|| "all".into());
            let payload =
                json!({"role": role, "after": "", "draft": delivery::draft_to_json(&draft)});
            state
                .db
                .write(move |tx| jobs::enqueue(tx, JOB_BROADCAST, &payload, None))
                .await?;
            Ok((
                StatusCode::ACCEPTED,
                Json(
                    json!({"success": true, "message": "Notification broadcast queued", "broadcast": label}),
                ),
            ))
        }
    }
}
