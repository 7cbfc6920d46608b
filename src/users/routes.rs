//! `/api/v1/users`: profiles, lists, nearby technicians, follows,
//! portfolio, availability, push tokens and KYC. Handlers parse, authorise,
//! call the store in one transaction, and answer; every committed change to
//! what the nearby index holds refreshes it after the commit.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::{CurrentUser, OptionalUser, Role};
use crate::error::{check, finish, ApiError, ApiResult, FieldError};
use crate::events::emit;
use crate::http::{list_response, AppJson, AppQuery, Page, PageQuery};
use crate::ids::{is_valid_id, now_ms};
use crate::openapi::schemas::{ErrorBody, Message};
use crate::state::AppState;
use crate::users::document::{user_document, Viewer};
use crate::users::model::{self, FollowOutcome, UpdateContext};
use crate::users::schemas::*;
use crate::users::store::{self, Basics, ListFilter, Near, StatusFilter};

/// Every `/api/v1/users` route with its OpenAPI path (mounted by `api_router`).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users))
        .routes(routes!(nearby_technicians))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(follow))
        .routes(routes!(followers))
        .routes(routes!(following))
        .routes(routes!(portfolio, add_portfolio_item))
        .routes(routes!(update_portfolio_item, delete_portfolio_item))
        .routes(routes!(update_availability))
        .routes(routes!(add_fcm_token, remove_fcm_token))
        .routes(routes!(submit_kyc, review_kyc))
}

/// The account `id` unless it cannot exist, does not exist, or was deleted
/// (deleted accounts are visible to admins only when `admin_sees_deleted`).
async fn load_target(state: &AppState, id: &str, admin_sees_deleted: bool) -> ApiResult<Basics> {
    if !is_valid_id(id) {
        return Err(ApiError::not_found("User"));
    }
    let lookup = id.to_string();
    let found = state.db.read(move |c| store::basics(c, &lookup)).await?;
    match found {
        Some(b) if !b.is_deleted() || admin_sees_deleted => Ok(b),
        _ => Err(ApiError::not_found("User")),
    }
}

/// Refreshes the nearby index for `id` after a commit (holding the writer)
/// and drops matching's cached record of it, so a technician's change
/// (availability, location, skills, KYC) shows in the very next search.
fn refresh_index<T>(
    state: &AppState,
    id: &str,
) -> impl FnOnce(&rusqlite::Connection, &T) + Send + 'static {
    let (geo, matching, id) = (state.geo.clone(), state.matching.clone(), id.to_string());
    move |conn, _| {
        matching.profiles.forget(&id);
        if let Err(e) = geo.refresh(conn, &id) {
            tracing::error!(user = %id, error = %e, "nearby index refresh failed");
        }
    }
}

// ---------------------------------------------------------------- lists

/// `GET /users` filters; all combinable.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// customer, technician, corporate, admin or support.
    role: Option<String>,
    /// Admins only (others always see active accounts): active, suspended, deactivated, banned or deleted.
    status: Option<String>,
    /// Text in names, bio, business name and skills.
    search: Option<String>,
    /// Comma-separated skill names or service categories; any one matches.
    skills: Option<String>,
    /// Minimum average rating, 0-5.
    min_rating: Option<String>,
    /// Latitude of the centre, with `lng`.
    lat: Option<String>,
    /// Longitude of the centre, with `lat`.
    lng: Option<String>,
    /// km around lat/lng (default 10, capped).
    radius: Option<String>,
    /// e.g. `-createdAt`, `rating`, `-rating.average createdAt`, `distance`.
    sort: Option<String>,
    /// Admins only: none, pending, approved or rejected.
    kyc_status: Option<String>,
    /// Page number, from 1.
    page: Option<String>,
    /// Items per page, 1 to 100.
    limit: Option<String>,
}

/// The optional `lat`/`lng`/`radius` triple of a query.
fn parse_near(
    lat: Option<&str>,
    lng: Option<&str>,
    radius: Option<&str>,
    cap: f64,
    required: bool,
    errors: &mut Vec<FieldError>,
) -> Option<Near> {
    let given = |v: Option<&str>| v.is_some_and(|s| !s.trim().is_empty());
    if !required && !given(lat) && !given(lng) {
        return None;
    }
    let lat = model::parse_coordinate(lat, "lat", -90.0, 90.0)
        .map_err(|e| errors.push(e))
        .ok();
    let lng = model::parse_coordinate(lng, "lng", -180.0, 180.0)
        .map_err(|e| errors.push(e))
        .ok();
    let radius = model::parse_radius(radius, 10.0, cap)
        .map_err(|e| errors.push(e))
        .ok();
    Some(Near {
        lat: lat?,
        lng: lng?,
        radius_km: radius?,
    })
}

/// The page asked for (20 by default), or `None` with its field errors
/// added to the others, so one 400 names every bad parameter.
fn page_collecting_errors(
    page: &Option<String>,
    limit: &Option<String>,
    errors: &mut Vec<FieldError>,
) -> Option<Page> {
    Page::of(page.as_deref(), limit.as_deref(), 20)
        .map_err(|e| {
            if let ApiError::Validation(v) = e {
                errors.extend(v)
            }
        })
        .ok()
}

/// Users, filtered and sorted; private fields only for admins.
#[utoipa::path(get, path = "", tag = "users", params(ListQuery),
    responses((status = 200, body = UserList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn list_users(
    State(state): State<AppState>,
    caller: OptionalUser,
    AppQuery(q): AppQuery<ListQuery>,
) -> ApiResult<Json<Value>> {
    let is_admin = caller.is_admin();
    let mut errors = Vec::new();
    let page = page_collecting_errors(&q.page, &q.limit, &mut errors);
    let role = match q.role.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(r) => {
            let role = Role::parse(r);
            check(
                &mut errors,
                role.is_some(),
                "role",
                "role must be customer, technician, corporate, admin or support",
            );
            role
        }
    };
    let status = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        _ if !is_admin => StatusFilter::Active,
        None => StatusFilter::NotDeleted,
        Some(s) => {
            let ok = model::ADMIN_STATUSES.contains(&s) || s == "deleted";
            check(
                &mut errors,
                ok,
                "status",
                "status must be active, suspended, deactivated, banned or deleted",
            );
            StatusFilter::Only(s.to_string())
        }
    };
    let kyc_status = match q
        .kyc_status
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(k) if is_admin => {
            let ok = ["none", "pending", "approved", "rejected"].contains(&k);
            check(
                &mut errors,
                ok,
                "kycStatus",
                "kycStatus must be none, pending, approved or rejected",
            );
            Some(k.to_string())
        }
        _ => None,
    };
    let min_rating = model::parse_min_rating(q.min_rating.as_deref())
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    let near = parse_near(
        q.lat.as_deref(),
        q.lng.as_deref(),
        q.radius.as_deref(),
        state.config.nearby_max_radius_km,
        false,
        &mut errors,
    );
    let sort = model::parse_sort(q.sort.as_deref(), near.is_some())
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    let search = q.search.as_deref().map(str::trim).filter(|s| !s.is_empty());
    check(
        &mut errors,
        search.is_none_or(|s| s.chars().count() <= 100),
        "search",
        "search must be at most 100 characters",
    );
    finish(errors)?;
    let page = page.ok_or_else(|| ApiError::field("page", "Invalid page"))?;
    let filter = ListFilter {
        role,
        status,
        skills: model::parse_list_param(q.skills.as_deref()),
        min_rating,
        near,
        // The search index supplies ranked candidates instead.
        text: None,
        kyc_status,
        sort,
        hide_staff: !caller.is_staff(),
    };
    let caller_id = caller.id().map(String::from);
    let viewer = move |id: &str| Viewer::of(caller_id.as_deref(), is_admin, id);
    let Some(text) = search else {
        let (users, total) = state
            .db
            .read(move |c| store::list_users(c, &filter, None, page, &viewer))
            .await?;
        return Ok(Json(list_response("users", users, total, page)));
    };
    // The search index ranks. Unless a sort other than by rating, a place
    // or a KYC status is asked for, it also filters (status, role, skills, rating), pages and
    // counts, and SQL loads just that page; otherwise every match is a
    // candidate and the filters apply to them in SQL. SQL applies every
    // filter to what it loads either way, so the index can never let a
    // user through that the list would not show.
    // A sort by rating alone is the index's too (a fast field); other sorts
    // need SQL over every match.
    let by_rating = match filter.sort.as_deref() {
        Some([key]) if key.expr == "u.rating_avg" => Some(key.descending),
        _ => None,
    };
    // The index cannot leave staff out by itself: SQL does, over every match.
    let index_pages = filter.near.is_none()
        && filter.kyc_status.is_none()
        && (!filter.hide_staff
            || filter
                .role
                .is_some_and(|r| !matches!(r, Role::Admin | Role::Support)))
        && (filter.sort.is_none() || by_rating.is_some());
    let status = match &filter.status {
        StatusFilter::Active => Some("active".to_string()),
        StatusFilter::Only(s) => Some(s.clone()),
        StatusFilter::NotDeleted => None,
    };
    let role = filter.role.map(|r| r.as_str().to_string());
    let (skills, min_rating) = (filter.skills.clone(), filter.min_rating);
    let (index, text) = (state.search.clone(), text.to_string());
    let ranked = tokio::task::spawn_blocking(move || {
        let scope = crate::search::Scope {
            status: status.as_deref(),
            role: role.as_deref(),
            skills: &skills,
            min_rating,
            by_rating: by_rating.filter(|_| index_pages),
        };
        if index_pages {
            let offset = page.offset() as usize;
            index.search_page(&text, scope, offset, page.limit as usize)
        } else {
            index.search_page(&text, scope, 0, crate::search::MAX_RESULTS)
        }
    })
    .await??;
    let (users, total) = state
        .db
        .read(move |c| {
            if index_pages {
                let first = Page {
                    page: 1,
                    limit: page.limit,
                };
                let (users, _) = store::list_users(c, &filter, Some(&ranked.ids), first, &viewer)?;
                Ok((users, ranked.total as i64))
            } else {
                store::list_users(c, &filter, Some(&ranked.ids), page, &viewer)
            }
        })
        .await?;
    Ok(Json(list_response("users", users, total, page)))
}

/// `GET /users/nearby-technicians` parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct NearbyQuery {
    /// Latitude, -90 to 90 (required).
    lat: Option<String>,
    /// Longitude, -180 to 180 (required).
    lng: Option<String>,
    /// km (default 10; capped by the nearby_max_radius_km setting).
    radius: Option<String>,
    /// Comma-separated skill names or service categories; any one matches.
    skills: Option<String>,
    /// true (default): only technicians available now; false: any availability.
    available: Option<String>,
    /// Minimum average rating, 0-5.
    min_rating: Option<String>,
    /// Page number, from 1.
    page: Option<String>,
    /// Items per page, 1 to 100.
    limit: Option<String>,
}

/// Active technicians around a point, nearest first, with the distance in km.
#[utoipa::path(get, path = "/nearby-technicians", tag = "users", params(NearbyQuery),
    responses((status = 200, body = NearbyList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn nearby_technicians(
    State(state): State<AppState>,
    caller: OptionalUser,
    AppQuery(q): AppQuery<NearbyQuery>,
) -> ApiResult<Json<Value>> {
    let mut errors = Vec::new();
    let page = page_collecting_errors(&q.page, &q.limit, &mut errors);
    let near = parse_near(
        q.lat.as_deref(),
        q.lng.as_deref(),
        q.radius.as_deref(),
        state.config.nearby_max_radius_km,
        true,
        &mut errors,
    );
    let available_only = match q
        .available
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => Some(true),
        Some(a) => {
            let b = model::bool_of(&Value::String(a.to_string()));
            check(
                &mut errors,
                b.is_some(),
                "available",
                "available must be true or false",
            );
            b
        }
    };
    let min_rating = model::parse_min_rating(q.min_rating.as_deref())
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    finish(errors)?;
    let (Some(page), Some(near), Some(available_only)) = (page, near, available_only) else {
        return Err(ApiError::field(
            "lat",
            "Please provide latitude and longitude",
        ));
    };
    let skills = model::parse_list_param(q.skills.as_deref());
    let geo = state.geo.clone();
    let caller_id = caller.id().map(String::from);
    let (items, total) = state
        .db
        .read(move |c| {
            // A customer never sees the technicians they blocked in matching.
            let blocked = match &caller_id {
                Some(id) => crate::matching::store::blocked_technicians(c, id)?,
                None => Default::default(),
            };
            let found = geo.within_tagged(near.lng, near.lat, near.radius_km, &skills, |p| {
                (!available_only || p.is_available)
                    && min_rating.is_none_or(|m| p.rating >= m)
                    && !blocked.contains(p.id.as_ref())
            });
            let total = found.len() as i64;
            let slice: Vec<_> = found
                .into_iter()
                .skip(page.offset() as usize)
                .take(page.limit as usize)
                .collect();
            let ids: Vec<String> = slice.iter().map(|(p, _)| p.id.to_string()).collect();
            let mut cards = store::technician_cards(c, &ids)?;
            let items = slice
                .into_iter()
                .filter_map(|(p, d)| {
                    let mut card = cards.remove(p.id.as_ref())?;
                    card["distance"] = json!(store::round_km(d));
                    Some(card)
                })
                .collect::<Vec<_>>();
            Ok((items, total))
        })
        .await?;
    Ok(Json(list_response("technicians", items, total, page)))
}

// ---------------------------------------------------------------- one user

/// One user's profile; private fields for the owner and admins only.
#[utoipa::path(get, path = "/{id}", tag = "users", params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = UserProfile), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn get_user(
    State(state): State<AppState>,
    caller: OptionalUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let is_admin = caller.is_admin();
    load_target(&state, &id, is_admin).await?;
    let caller_id = caller.id().map(String::from);
    let realtime = state.realtime.clone();
    let doc = state
        .db
        .read(move |c| {
            let viewer = Viewer::of(caller_id.as_deref(), is_admin, &id);
            let Some(mut doc) = user_document(c, &id, viewer)? else {
                return Ok(None);
            };
            if let Some(me) = caller_id.as_deref().filter(|me| *me != id) {
                doc["isFollowing"] = json!(store::is_following(c, me, &id)?);
            }
            doc["isOnline"] = json!(realtime.is_online(&id));
            Ok(Some(doc))
        })
        .await?
        .ok_or_else(|| ApiError::not_found("User"))?;
    Ok(Json(json!({"success": true, "user": doc, "data": doc})))
}

/// Update a profile (owner or admin); only whitelisted fields are read.
#[utoipa::path(put, path = "/{id}", tag = "users", params(("id" = String, Path, description = "User id")),
    request_body = UpdateUserBody, security(("bearer" = [])),
    responses((status = 200, body = UserUpdated), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn update_user(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Json<Value>> {
    let target = load_target(&state, &id, false).await?;
    if !model::may_edit(&user.id, user.is_admin(), &id) {
        return Err(ApiError::Forbidden(
            "Not authorized to update this profile".into(),
        ));
    }
    let ctx = UpdateContext {
        target_role: target.role,
        by_admin: user.is_admin(),
        is_self: user.id == id,
        today: chrono::Utc::now().date_naive(),
    };
    let update = model::parse_update(&body, ctx).map_err(ApiError::Validation)?;
    let viewer = Viewer::of(Some(&user.id), user.is_admin(), &id);
    let (actor, tid) = (user.id.clone(), id.clone());
    let after = refresh_index(&state, &id);
    let doc = state
        .db
        .write_then(
            move |tx| {
                let now = now_ms();
                let before = store::basics(tx, &tid)?
                    .filter(|b| !b.is_deleted())
                    .ok_or_else(|| ApiError::not_found("User"))?;
                store::apply_update(tx, &tid, &update, now)?;
                let role = update.role.unwrap_or(before.role);
                emit(
                    tx,
                    "user.updated",
                    Some(&tid),
                    Some(&actor),
                    &json!({"userId": tid, "role": role.as_str(), "changed": update.changed_fields()}),
                )?;
                let role_changed = update.role.is_some_and(|r| r != before.role);
                if role_changed || update.status.as_deref().is_some_and(|s| s != before.status) {
                    // A changed role or status takes effect on the very next request.
                    crate::auth::sessions::sign_out_everywhere(tx, &tid)?;
                }
                if let Some(status) = update.status.as_deref().filter(|s| *s != before.status) {
                    emit(tx, "user.status_changed", Some(&tid), Some(&actor),
                        &json!({"userId": tid, "from": before.status, "to": status}))?;
                }
                if let Some(r) = update.role.filter(|r| *r != before.role) {
                    emit(tx, "user.role_changed", Some(&tid), Some(&actor),
                        &json!({"userId": tid, "from": before.role.as_str(), "to": r.as_str()}))?;
                }
                user_document(tx, &tid, viewer)?.ok_or_else(|| ApiError::not_found("User"))
            },
            after,
        )
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Profile updated successfully", "user": doc}),
    ))
}

/// Soft-delete an account (owner or admin): it can no longer sign in and
/// leaves every list; bookings and money records stay; personal data is
/// scrubbed after the retention period.
#[utoipa::path(delete, path = "/{id}", tag = "users", params(("id" = String, Path, description = "User id")),
    request_body = DeleteUserBody, security(("bearer" = [])),
    responses((status = 200, body = Message), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn delete_user(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Json<Value>> {
    let target = load_target(&state, &id, false).await?;
    if !model::may_edit(&user.id, user.is_admin(), &id) {
        return Err(ApiError::Forbidden(
            "Not authorized to delete this account".into(),
        ));
    }
    let mut errors = Vec::new();
    let reason = model::text_patch(body.get("reason"), "reason", 500, &mut errors).flatten();
    finish(errors)?;
    let (actor, tid) = (user.id.clone(), id.clone());
    let retention = state.config.user_scrub_after_days;
    let after = refresh_index(&state, &id);
    state
        .db
        .write_then(
            move |tx| {
                let now = now_ms();
                let others = store::soft_delete(tx, &tid, reason.as_deref(), now)?
                    .ok_or_else(|| ApiError::not_found("User"))?;
                crate::jobs::enqueue(
                    tx,
                    store::SCRUB_JOB,
                    &json!({"userId": tid}),
                    Some(model::scrub_due(now, retention)),
                )?;
                let role = target.role.as_str();
                emit(
                    tx,
                    "user.deleted",
                    Some(&tid),
                    Some(&actor),
                    &json!({"userId": tid, "role": role, "byAdmin": actor != tid}),
                )?;
                emit(
                    tx,
                    "user.updated",
                    Some(&tid),
                    Some(&actor),
                    &json!({"userId": tid, "role": role, "changed": ["status"]}),
                )?;
                for other in others {
                    emit(
                        tx,
                        "user.updated",
                        Some(&other),
                        Some(&actor),
                        &json!({"userId": other, "changed": ["followersCount", "followingCount"]}),
                    )?;
                }
                Ok(Value::Null)
            },
            after,
        )
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Account deleted successfully"}),
    ))
}

// ---------------------------------------------------------------- follows

/// Follow or unfollow (a toggle; a double click is answered, not applied
/// twice). `{"follow": true|false}` asks for a state instead of a toggle.
#[utoipa::path(post, path = "/{id}/follow", tag = "users", params(("id" = String, Path, description = "User to follow")),
    request_body = FollowBody, security(("bearer" = [])),
    responses((status = 200, body = FollowResult), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn follow(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Json<Value>> {
    if user.id == id {
        return Err(ApiError::BadRequest("You cannot follow yourself".into()));
    }
    load_target(&state, &id, false).await?;
    let wanted = match body.get("follow").or_else(|| body.get("action")) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s == "follow" => Some(true),
        Some(Value::String(s)) if s == "unfollow" => Some(false),
        Some(v) => Some(
            model::bool_of(v)
                .ok_or_else(|| ApiError::field("follow", "follow must be true or false"))?,
        ),
    };
    let debounce = state.config.follow_debounce_ms as i64;
    let me = user.id.clone();
    let (is_following, followers) = state
        .db
        .write(move |tx| {
            let now = now_ms();
            store::basics(tx, &id)?
                .filter(|b| !b.is_deleted())
                .ok_or_else(|| ApiError::not_found("User"))?;
            let edge = store::follow_edge(tx, &me, &id)?;
            let is_following = match model::follow_decision(edge, wanted, now, debounce) {
                FollowOutcome::Unchanged { is_following } => is_following,
                outcome => {
                    let follows = outcome == FollowOutcome::Follow;
                    store::set_follow(tx, &me, &id, follows, now)?;
                    let kind = if follows {
                        "user.followed"
                    } else {
                        "user.unfollowed"
                    };
                    emit(
                        tx,
                        kind,
                        Some(&id),
                        Some(&me),
                        &json!({"followerId": me, "followingId": id}),
                    )?;
                    follows
                }
            };
            Ok((is_following, store::follow_counts(tx, &id)?.0))
        })
        .await?;
    let message = if is_following {
        "Followed successfully"
    } else {
        "Unfollowed successfully"
    };
    Ok(Json(
        json!({"success": true, "message": message, "isFollowing": is_following, "followersCount": followers}),
    ))
}

async fn follow_page(
    state: AppState,
    id: String,
    q: PageQuery,
    followers: bool,
) -> ApiResult<Json<Value>> {
    let page = Page::parse(&q, 20)?;
    load_target(&state, &id, false).await?;
    let (items, total) = state
        .db
        .read(move |c| store::follow_list(c, &id, followers, page))
        .await?;
    Ok(Json(list_response(
        if followers { "followers" } else { "following" },
        items,
        total,
        page,
    )))
}

/// The people who follow a user, newest first.
#[utoipa::path(get, path = "/{id}/followers", tag = "users", params(("id" = String, Path, description = "User id"), PageQuery),
    responses((status = 200, body = FollowersList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn followers(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<PageQuery>,
) -> ApiResult<Json<Value>> {
    follow_page(state, id, q, true).await
}

/// The people a user follows, newest first.
#[utoipa::path(get, path = "/{id}/following", tag = "users", params(("id" = String, Path, description = "User id"), PageQuery),
    responses((status = 200, body = FollowingList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn following(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<PageQuery>,
) -> ApiResult<Json<Value>> {
    follow_page(state, id, q, false).await
}

// ---------------------------------------------------------------- portfolio

/// A technician's portfolio.
#[utoipa::path(get, path = "/{id}/portfolio", tag = "users", params(("id" = String, Path, description = "Technician id")),
    responses((status = 200, body = PortfolioList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn portfolio(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let target = load_target(&state, &id, false).await?;
    if target.role != Role::Technician {
        return Err(ApiError::BadRequest("User is not a technician".into()));
    }
    let items = state.db.read(move |c| store::portfolio(c, &id)).await?;
    Ok(Json(
        json!({"success": true, "portfolio": items, "posts": []}),
    ))
}

/// The technician whose portfolio the caller may change (owner or admin).
async fn portfolio_owner(state: &AppState, user: &CurrentUser, id: &str) -> ApiResult<()> {
    let target = load_target(state, id, false).await?;
    if !model::may_edit(&user.id, user.is_admin(), id) {
        return Err(ApiError::Forbidden("Not authorized".into()));
    }
    if target.role != Role::Technician {
        return Err(ApiError::BadRequest("User is not a technician".into()));
    }
    Ok(())
}

fn portfolio_event(tx: &rusqlite::Connection, id: &str, actor: &str) -> ApiResult<()> {
    emit(
        tx,
        "user.updated",
        Some(id),
        Some(actor),
        &json!({"userId": id, "role": "technician", "changed": ["portfolio"]}),
    )?;
    Ok(())
}

/// Add a portfolio item (the technician or an admin).
#[utoipa::path(post, path = "/{id}/portfolio", tag = "users", params(("id" = String, Path, description = "Technician id")),
    request_body = PortfolioBody, security(("bearer" = [])),
    responses((status = 201, body = PortfolioItemSaved), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn add_portfolio_item(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    portfolio_owner(&state, &user, &id).await?;
    let mut item = model::parse_portfolio_item(&body, None).map_err(ApiError::Validation)?;
    let max = state.config.portfolio_items_per_user;
    let actor = user.id.clone();
    let base_url = state.config.public_url.clone();
    let saved = state
        .db
        .write(move |tx| {
            own_portfolio_images(tx, &base_url, &id, &mut item.images)?;
            let item_id = store::add_portfolio_item(tx, &id, &item, max, now_ms())?;
            portfolio_event(tx, &id, &actor)?;
            store::portfolio_item(tx, &id, &item_id)?
                .ok_or_else(|| ApiError::internal("portfolio item vanished"))
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"success": true, "message": "Portfolio item added", "item": saved})),
    ))
}

/// Change a portfolio item (absent keys keep their values).
#[utoipa::path(put, path = "/{id}/portfolio/{item_id}", tag = "users",
    params(("id" = String, Path, description = "Technician id"), ("item_id" = String, Path, description = "Portfolio item id")),
    request_body = PortfolioBody, security(("bearer" = [])),
    responses((status = 200, body = PortfolioItemSaved), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn update_portfolio_item(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, item_id)): Path<(String, String)>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Json<Value>> {
    portfolio_owner(&state, &user, &id).await?;
    if !is_valid_id(&item_id) {
        return Err(ApiError::not_found("Portfolio item"));
    }
    let actor = user.id.clone();
    let base_url = state.config.public_url.clone();
    let saved = state
        .db
        .write(move |tx| {
            let base = store::portfolio_input(tx, &id, &item_id)?
                .ok_or_else(|| ApiError::not_found("Portfolio item"))?;
            let mut item =
                model::parse_portfolio_item(&body, Some(base)).map_err(ApiError::Validation)?;
            if body.get("images").is_some() {
                own_portfolio_images(tx, &base_url, &id, &mut item.images)?;
            }
            store::update_portfolio_item(tx, &id, &item_id, &item, now_ms())?;
            portfolio_event(tx, &id, &actor)?;
            store::portfolio_item(tx, &id, &item_id)?
                .ok_or_else(|| ApiError::not_found("Portfolio item"))
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Portfolio item updated", "item": saved}),
    ))
}

/// Remove a portfolio item.
#[utoipa::path(delete, path = "/{id}/portfolio/{item_id}", tag = "users",
    params(("id" = String, Path, description = "Technician id"), ("item_id" = String, Path, description = "Portfolio item id")),
    security(("bearer" = [])),
    responses((status = 200, body = Message), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn delete_portfolio_item(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, item_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    portfolio_owner(&state, &user, &id).await?;
    if !is_valid_id(&item_id) {
        return Err(ApiError::not_found("Portfolio item"));
    }
    let actor = user.id.clone();
    state
        .db
        .write(move |tx| {
            if !store::delete_portfolio_item(tx, &id, &item_id)? {
                return Err(ApiError::not_found("Portfolio item"));
            }
            portfolio_event(tx, &id, &actor)
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Portfolio item removed"}),
    ))
}

// ---------------------------------------------------------------- availability

/// A technician sets their own availability status and weekly schedule.
#[utoipa::path(put, path = "/{id}/availability", tag = "users", params(("id" = String, Path, description = "Technician id")),
    request_body = AvailabilityBody, security(("bearer" = [])),
    responses((status = 200, body = AvailabilityUpdated), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn update_availability(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Json<Value>> {
    user.require_role(&[Role::Technician])?;
    if !is_valid_id(&id) {
        return Err(ApiError::not_found("User"));
    }
    if user.id != id {
        return Err(ApiError::Forbidden("Not authorized".into()));
    }
    let mut errors = Vec::new();
    let change = model::parse_availability_change(
        body.get("isAvailable"),
        body.get("status"),
        body.get("schedule").or_else(|| body.get("availability")),
        "",
        &mut errors,
    );
    finish(errors)?;
    let change = change.unwrap_or_default();
    let actor = user.id.clone();
    let after = refresh_index(&state, &id);
    let availability = state
        .db
        .write_then(
            move |tx| {
                let now = now_ms();
                let (before, current) = store::availability(tx, &actor)?;
                let status = change.status.clone().unwrap_or_else(|| before.clone());
                let schedule = model::apply_availability(&current, &change);
                store::set_availability(tx, &actor, &status, &schedule, now)?;
                emit(
                    tx,
                    "user.availability_changed",
                    Some(&actor),
                    Some(&actor),
                    &json!({"userId": actor, "from": before, "to": status}),
                )?;
                emit(
                    tx,
                    "user.updated",
                    Some(&actor),
                    Some(&actor),
                    &json!({"userId": actor, "role": "technician", "changed": ["availability"]}),
                )?;
                Ok(store::availability_json(&status, &schedule))
            },
            after,
        )
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Availability updated successfully", "availability": availability}),
    ))
}

// ---------------------------------------------------------------- FCM tokens

/// 404 for an id that cannot exist, 403 unless it is the caller's own.
fn own_account_only(user: &CurrentUser, id: &str) -> ApiResult<()> {
    if !is_valid_id(id) {
        return Err(ApiError::not_found("User"));
    }
    if user.id != id {
        return Err(ApiError::Forbidden("Not authorized".into()));
    }
    Ok(())
}

fn fcm_token_of(body: &Value, errors: &mut Vec<FieldError>) -> Option<String> {
    let token = body
        .get("token")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty());
    check(errors, token.is_some(), "token", "FCM token is required");
    let token = token?;
    let ok = token.len() <= 4096 && !token.chars().any(|c| c.is_whitespace() || c.is_control());
    check(errors, ok, "token", "FCM token is malformed");
    ok.then(|| token.to_string())
}

/// Register a push token for the caller's device (deduplicated, capped).
#[utoipa::path(post, path = "/{id}/fcm-token", tag = "users", params(("id" = String, Path, description = "The caller's own id")),
    request_body = FcmTokenBody, security(("bearer" = [])),
    responses((status = 200, body = Message), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn add_fcm_token(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Json<Value>> {
    own_account_only(&user, &id)?;
    let mut errors = Vec::new();
    let token = fcm_token_of(&body, &mut errors);
    let platform = body
        .get("platform")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|p| model::FCM_PLATFORMS.contains(p));
    check(
        &mut errors,
        platform.is_some(),
        "platform",
        "Invalid platform",
    );
    let device = model::text_patch(body.get("device"), "device", 200, &mut errors).flatten();
    finish(errors)?;
    let (token, platform) = (
        token.unwrap_or_default(),
        platform.unwrap_or("web").to_string(),
    );
    let cap = state.config.fcm_tokens_per_user;
    state
        .db
        .write(move |tx| {
            store::add_fcm_token(tx, &id, &token, &platform, device.as_deref(), cap, now_ms())
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "FCM token added successfully"}),
    ))
}

/// Forget a push token of the caller's.
#[utoipa::path(delete, path = "/{id}/fcm-token", tag = "users", params(("id" = String, Path, description = "The caller's own id")),
    request_body = FcmTokenRemoveBody, security(("bearer" = [])),
    responses((status = 200, body = Message), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn remove_fcm_token(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Json<Value>> {
    own_account_only(&user, &id)?;
    let mut errors = Vec::new();
    let token = fcm_token_of(&body, &mut errors);
    finish(errors)?;
    let token = token.unwrap_or_default();
    state
        .db
        .write(move |tx| store::remove_fcm_token(tx, &id, &token))
        .await?;
    Ok(Json(
        json!({"success": true, "message": "FCM token removed successfully"}),
    ))
}

// ---------------------------------------------------------------- KYC

/// Records the caller's KYC submission (technicians only), in one transaction.
async fn submit_kyc_for(state: &AppState, user: &CurrentUser, body: &Value) -> ApiResult<Value> {
    user.require_role(&[Role::Technician])?;
    let mut submission = model::parse_kyc_submission(body).map_err(ApiError::Validation)?;
    let id = user.id.clone();
    let base = state.config.public_url.clone();
    let media = state.media.clone();
    let (doc, documents) = state
        .db
        .write(move |tx| {
            let documents = own_kyc_documents(tx, &base, &id, &mut submission)?;
            store::submit_kyc(tx, &id, &submission, now_ms())?;
            emit(
                tx,
                "user.kyc_submitted",
                Some(&id),
                Some(&id),
                &json!({"userId": id, "idType": submission.id_type}),
            )?;
            emit(
                tx,
                "user.updated",
                Some(&id),
                Some(&id),
                &json!({"userId": id, "role": "technician", "changed": ["kyc"]}),
            )?;
            let doc = user_document(tx, &id, Viewer::Owner)?
                .ok_or_else(|| ApiError::not_found("User"))?;
            Ok((doc, documents))
        })
        .await?;
    // Identity documents are served to their owner and staff only.
    media.keep_private(documents);
    Ok(doc)
}

/// Points each picture of a KYC submission at the caller's own upload
/// (400 naming the field otherwise); returns their publicIds.
fn own_kyc_documents(
    conn: &rusqlite::Connection,
    base: &str,
    owner: &str,
    s: &mut model::KycSubmission,
) -> ApiResult<Vec<String>> {
    let mut ids = Vec::new();
    let slots = [
        ("idFrontImage", Some(&mut s.front)),
        ("idBackImage", s.back.as_mut()),
        ("selfieImage", s.selfie.as_mut()),
    ];
    for (field, pic) in slots {
        let Some(pic) = pic else { continue };
        let own = crate::media::store::owned_picture(
            conn,
            base,
            owner,
            field,
            &pic.url,
            pic.public_id.as_deref(),
        )?;
        pic.url = own.url;
        pic.public_id = Some(own.public_id.clone());
        ids.push(own.public_id);
    }
    Ok(ids)
}

/// Points every portfolio image at an upload of the portfolio's owner.
fn own_portfolio_images(
    conn: &rusqlite::Connection,
    base: &str,
    owner: &str,
    images: &mut [model::Picture],
) -> ApiResult<()> {
    for (i, pic) in images.iter_mut().enumerate() {
        let own = crate::media::store::owned_picture(
            conn,
            base,
            owner,
            &format!("images[{i}]"),
            &pic.url,
            pic.public_id.as_deref(),
        )?;
        pic.url = own.url;
        pic.public_id = Some(own.public_id);
    }
    Ok(())
}

/// A technician submits KYC details for review.
#[utoipa::path(post, path = "/{id}/kyc", tag = "users", params(("id" = String, Path, description = "The caller's own id")),
    request_body = KycSubmissionBody, security(("bearer" = [])),
    responses((status = 201, body = UserUpdated), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn submit_kyc(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    own_account_only(&user, &id)?;
    let doc = submit_kyc_for(&state, &user, &body).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"success": true, "message": "KYC submitted for review", "user": doc})),
    ))
}

/// An admin approves or rejects (with a reason) a pending KYC submission;
/// sent by the technician themself, it is a submission.
#[utoipa::path(put, path = "/{id}/kyc", tag = "users", params(("id" = String, Path, description = "User id")),
    request_body = KycReviewBody, security(("bearer" = [])),
    responses((status = 200, body = UserUpdated), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn review_kyc(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Json<Value>> {
    if !user.is_admin() {
        own_account_only(&user, &id)?;
        let doc = submit_kyc_for(&state, &user, &body).await?;
        return Ok(Json(
            json!({"success": true, "message": "KYC submitted for review", "user": doc}),
        ));
    }
    load_target(&state, &id, false).await?;
    let decision = model::parse_kyc_decision(&body).map_err(ApiError::Validation)?;
    let admin = user.id.clone();
    let after = refresh_index(&state, &id);
    let (status, doc) = state
        .db
        .write_then(
            move |tx| {
                let status = store::review_kyc(tx, &id, &decision, &admin, now_ms())?;
                let reason = match &decision {
                    model::KycDecision::Reject { reason } => Some(reason.clone()),
                    model::KycDecision::Approve => None,
                };
                emit(
                    tx,
                    "user.kyc_reviewed",
                    Some(&id),
                    Some(&admin),
                    &json!({"userId": id, "status": status, "reason": reason}),
                )?;
                emit(
                    tx,
                    "user.updated",
                    Some(&id),
                    Some(&admin),
                    &json!({"userId": id, "changed": ["kyc"]}),
                )?;
                let doc = user_document(tx, &id, Viewer::Admin)?
                    .ok_or_else(|| ApiError::not_found("User"))?;
                Ok((status, doc))
            },
            after,
        )
        .await?;
    let message = if status == "approved" {
        "KYC approved"
    } else {
        "KYC rejected"
    };
    Ok(Json(
        json!({"success": true, "message": message, "user": doc}),
    ))
}
