//! `/api/v1/reviews`: post a review after a completed booking, read and
//! list reviews, edit within the window, delete, mark helpful, respond.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::extract::CurrentUser;
use crate::bookings::store::find_parties;
use crate::error::{check, finish, ApiError, ApiResult};
use crate::http::{list_response, AppJson, AppQuery, Page};
use crate::ids::{is_valid_id, iso_opt, now_ms};
use crate::openapi::schemas::ErrorBody;
use crate::reviews::model::{
    direction, is_editable, parse_images, parse_ratings, parse_text, Ratings, Refusal, Review,
    ReviewerRole, Sort, COMMENT_MAX, RESPONSE_MAX, TITLE_MAX,
};
use crate::reviews::schemas::{HelpfulToggled, ResponseSaved, ReviewList, ReviewOne, ReviewSaved};
use crate::reviews::store::{self, Filter, NewReview};
use crate::state::AppState;
use crate::users::document::{user_document, Viewer};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_reviews, create_review))
        .routes(routes!(get_review, update_review, delete_review))
        .routes(routes!(mark_helpful))
        .routes(routes!(add_response, edit_response))
}

// ---------------------------------------------------------------- shared

/// Moves the reviewee's aggregate from `before` to `after` and stores it,
/// with the rating every other module shows, in the caller's transaction.
fn restate(
    conn: &Connection,
    reviewee_id: &str,
    before: Option<&Ratings>,
    after: Option<&Ratings>,
) -> ApiResult<()> {
    let mut aggregate = store::aggregate(conn, reviewee_id)?;
    aggregate.apply(before, after);
    store::save_aggregate(conn, reviewee_id, &aggregate)?;
    crate::users::technician::set_rating(conn, reviewee_id, aggregate.average(), aggregate.count)
}

/// The payload of every `review.*` event.
fn event_payload(r: &Review) -> Value {
    json!({
        "revieweeId": r.reviewee_id,
        "reviewerId": r.reviewer_id,
        "bookingId": r.booking_id,
        "rating": r.ratings.overall,
    })
}

fn emit(conn: &Connection, kind: &str, r: &Review, actor: &str) -> ApiResult<()> {
    crate::events::emit(conn, kind, Some(&r.id), Some(actor), &event_payload(r))?;
    Ok(())
}

/// The review of a path id, 404 when the id cannot be one or nothing matches.
fn find_review(conn: &Connection, id: &str) -> ApiResult<Review> {
    if !is_valid_id(id) {
        return Err(ApiError::not_found("Review"));
    }
    store::find(conn, id)?.ok_or_else(|| ApiError::not_found("Review"))
}

/// How much of a review's relations an answer populates (as the wire has it).
#[derive(Clone, Copy, PartialEq)]
enum Populate {
    /// Ids only (update).
    Nothing,
    /// Reviewer and reviewee (create).
    People,
    /// Reviewer, reviewee with role, and the booking (list, get).
    All,
}

/// `{_id, id, firstName, lastName, fullName, profilePicture, [role], age}`.
fn person_card(conn: &Connection, id: &str, with_role: bool) -> ApiResult<Value> {
    let Some(doc) = user_document(conn, id, Viewer::Public)? else {
        return Ok(Value::Null);
    };
    let mut picture = doc["profilePicture"].clone();
    if picture["publicId"].is_null() {
        if let Some(o) = picture.as_object_mut() {
            o.remove("publicId");
        }
    }
    let mut card = json!({
        "_id": doc["_id"],
        "firstName": doc["firstName"],
        "lastName": doc["lastName"],
        "profilePicture": picture,
        "fullName": doc["fullName"],
        "age": null,
        "id": doc["id"],
    });
    if with_role {
        card["role"] = doc["role"].clone();
    }
    Ok(card)
}

/// The booking as reviews show it: `{_id, id, status, completedAt}`.
fn booking_card(conn: &Connection, id: &str) -> ApiResult<Value> {
    Ok(match find_parties(conn, id)? {
        Some(b) => {
            json!({"_id": b.id, "id": b.id, "bookingNumber": b.booking_number,
                   "serviceType": b.service_type, "status": b.status,
                   "completedAt": iso_opt(b.completed_at)})
        }
        None => Value::Null,
    })
}

/// The wire documents of `reviews`, populated as `populate` says; each
/// user and booking is read once however often it appears.
fn render(conn: &Connection, reviews: &[Review], populate: Populate) -> ApiResult<Vec<Value>> {
    let ids: Vec<&str> = reviews.iter().map(|r| r.id.as_str()).collect();
    let helpful = store::helpful_ids(conn, &ids)?;
    let mut people: HashMap<(String, bool), Value> = HashMap::new();
    let mut bookings: HashMap<String, Value> = HashMap::new();
    let mut person = |conn: &Connection, id: &str, with_role: bool| -> ApiResult<Value> {
        let key = (id.to_string(), with_role);
        if let Some(v) = people.get(&key) {
            return Ok(v.clone());
        }
        let v = person_card(conn, id, with_role)?;
        people.insert(key, v.clone());
        Ok(v)
    };
    let mut out = Vec::with_capacity(reviews.len());
    for r in reviews {
        let marks = helpful.get(&r.id).map(Vec::as_slice).unwrap_or(&[]);
        let mut doc = r.to_json(marks);
        if populate != Populate::Nothing {
            doc["reviewer"] = person(conn, &r.reviewer_id, false)?;
            doc["reviewee"] = person(conn, &r.reviewee_id, populate == Populate::All)?;
        }
        if populate == Populate::All {
            let card = match bookings.get(&r.booking_id) {
                Some(v) => v.clone(),
                None => {
                    let v = booking_card(conn, &r.booking_id)?;
                    bookings.insert(r.booking_id.clone(), v.clone());
                    v
                }
            };
            doc["booking"] = card;
        }
        out.push(doc);
    }
    Ok(out)
}

async fn render_one(state: &AppState, review: Review, populate: Populate) -> ApiResult<Value> {
    state
        .db
        .read(move |c| {
            render(c, std::slice::from_ref(&review), populate)
                .map(|mut v| v.pop().unwrap_or(Value::Null))
        })
        .await
}

// ---------------------------------------------------------------- bodies

/// Category stars, each a whole number from 1 to 5 (`timeliness` is read
/// as `punctuality`, `value` as `valueForMoney`; other keys are ignored).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct DetailedRatingsBody {
    #[schema(minimum = 1, maximum = 5)]
    quality: Option<u8>,
    #[schema(minimum = 1, maximum = 5)]
    punctuality: Option<u8>,
    #[schema(minimum = 1, maximum = 5)]
    timeliness: Option<u8>,
    #[schema(minimum = 1, maximum = 5)]
    professionalism: Option<u8>,
    #[schema(minimum = 1, maximum = 5)]
    communication: Option<u8>,
    #[schema(minimum = 1, maximum = 5)]
    value_for_money: Option<u8>,
    #[schema(minimum = 1, maximum = 5)]
    value: Option<u8>,
}

/// A photo: a media id from an upload, with its URL and a caption.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct ImageBody {
    public_id: String,
    url: Option<String>,
    caption: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateReviewBody {
    /// The completed booking the review is about.
    booking: Option<String>,
    /// The other party of the booking.
    reviewee: Option<String>,
    /// Overall stars (a `{overall, quality, ...}` object is also read).
    #[schema(value_type = Option<u8>, minimum = 1, maximum = 5)]
    rating: Option<Value>,
    #[schema(value_type = Option<DetailedRatingsBody>)]
    detailed_ratings: Option<Value>,
    /// At most 100 characters.
    title: Option<String>,
    /// At most 1000 characters.
    comment: Option<String>,
    /// Media ids (or upload answers `{publicId, url}`), at most 10.
    #[schema(value_type = Option<Vec<ImageBody>>)]
    images: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateReviewBody {
    #[schema(value_type = Option<u8>, minimum = 1, maximum = 5)]
    rating: Option<Value>,
    /// A category set to null is cleared.
    #[schema(value_type = Option<DetailedRatingsBody>)]
    detailed_ratings: Option<Value>,
    title: Option<String>,
    comment: Option<String>,
    /// Replaces the photos.
    #[schema(value_type = Option<Vec<ImageBody>>)]
    images: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResponseBody {
    /// At most 1000 characters.
    text: Option<String>,
}

// ---------------------------------------------------------------- create

fn refusal(r: Refusal) -> ApiError {
    match r {
        Refusal::NotParty => ApiError::not_found("Booking"),
        Refusal::SelfReview => ApiError::BadRequest("You cannot review yourself".into()),
        Refusal::NotCompleted => ApiError::BadRequest("Can only review completed bookings".into()),
        Refusal::WrongReviewee => ApiError::BadRequest("Invalid reviewee for this booking".into()),
    }
}

fn valid_id(raw: &Option<String>) -> Option<String> {
    raw.as_deref()
        .map(str::trim)
        .filter(|s| is_valid_id(s))
        .map(String::from)
}

/// Review the other party of a completed booking (one review per booking
/// and direction); the reviewee's aggregates move in the same transaction.
#[utoipa::path(post, path = "", tag = "reviews", request_body = CreateReviewBody, security(("bearer" = [])),
    responses((status = 201, body = ReviewSaved), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn create_review(
    State(state): State<AppState>,
    user: CurrentUser,
    AppJson(body): AppJson<CreateReviewBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut errors = Vec::new();
    let booking_id = valid_id(&body.booking);
    check(
        &mut errors,
        booking_id.is_some(),
        "booking",
        "Valid booking ID is required",
    );
    let reviewee_id = valid_id(&body.reviewee);
    check(
        &mut errors,
        reviewee_id.is_some(),
        "reviewee",
        "Valid reviewee ID is required",
    );
    let before = errors.len();
    let patch = parse_ratings(
        body.rating.as_ref(),
        body.detailed_ratings.as_ref(),
        &mut errors,
    );
    let rating_named = errors[before..]
        .iter()
        .any(|e| e.field.starts_with("rating"));
    check(
        &mut errors,
        patch.overall.is_some() || rating_named,
        "rating",
        "Rating must be a whole number from 1 to 5",
    );
    let title = parse_text(
        body.title.as_deref(),
        "title",
        TITLE_MAX,
        Some("Review title is required"),
        &mut errors,
    );
    let comment = parse_text(
        body.comment.as_deref(),
        "comment",
        COMMENT_MAX,
        Some("Review comment is required"),
        &mut errors,
    );
    let images = match &body.images {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => parse_images(v, &mut errors),
    };
    finish(errors)?;
    let (Some(booking_id), Some(reviewee_id), Some(ratings), Some(title), Some(comment)) =
        (booking_id, reviewee_id, patch.to_new(), title, comment)
    else {
        return Err(ApiError::field("body", "Validation failed"));
    };
    let reviewer_id = user.id.clone();
    let geo = state.geo.clone();
    let base = state.config.public_url.clone();
    let mut images = images;
    let review = state
        .db
        .write_then(
            move |tx| {
                own_photos(tx, &base, &reviewer_id, &mut images)?;
                let booking =
                    find_parties(tx, &booking_id)?.ok_or_else(|| ApiError::not_found("Booking"))?;
                let role = direction(&booking, &reviewer_id, &reviewee_id).map_err(refusal)?;
                if store::exists_for(tx, &booking.id, role)? {
                    return Err(ApiError::Conflict(
                        "You have already reviewed this booking".into(),
                    ));
                }
                let review = store::insert(
                    tx,
                    &NewReview {
                        booking_id: booking.id.clone(),
                        reviewer_id: reviewer_id.clone(),
                        reviewee_id,
                        reviewer_role: role,
                        ratings,
                        title,
                        comment,
                        images,
                        is_verified: booking.status == "completed",
                    },
                )?;
                restate(tx, &review.reviewee_id, None, Some(&review.ratings))?;
                emit(tx, "review.created", &review, &reviewer_id)?;
                Ok(review)
            },
            move |conn, review| {
                let _ = geo.refresh(conn, &review.reviewee_id);
            },
        )
        .await?;
    let doc = render_one(&state, review, Populate::People).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"success": true, "message": "Review submitted successfully", "review": doc})),
    ))
}

// ---------------------------------------------------------------- list

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Reviews of this user.
    reviewee: Option<String>,
    /// Reviews written by this user.
    reviewer: Option<String>,
    /// Reviews of this booking.
    booking: Option<String>,
    /// `customer` or `technician`: who wrote them.
    reviewer_role: Option<String>,
    /// Exact overall stars, 1 to 5.
    rating: Option<String>,
    /// Overall stars at least this (1 to 5).
    min_rating: Option<String>,
    /// Overall stars at most this (1 to 5).
    max_rating: Option<String>,
    /// `true` or `false`: only reviews backed (or not) by a completed booking.
    verified: Option<String>,
    /// `true` or `false`: only reviews with (or without) a response.
    has_response: Option<String>,
    /// `newest` (default), `oldest`, `highest`, `lowest` or `helpful`.
    sort: Option<String>,
    /// Page number, from 1.
    page: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    limit: Option<String>,
}

fn id_param(
    raw: &Option<String>,
    name: &str,
    errors: &mut Vec<crate::error::FieldError>,
) -> Option<String> {
    let raw = raw.as_deref().map(str::trim).filter(|s| !s.is_empty())?;
    check(
        errors,
        is_valid_id(raw),
        name,
        &format!("{name} must be a valid id"),
    );
    is_valid_id(raw).then(|| raw.to_string())
}

fn bool_param(
    raw: &Option<String>,
    name: &str,
    errors: &mut Vec<crate::error::FieldError>,
) -> Option<bool> {
    match raw.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some("true") | Some("1") => Some(true),
        Some("false") | Some("0") => Some(false),
        Some(_) => {
            check(
                errors,
                false,
                name,
                &format!("{name} must be true or false"),
            );
            None
        }
    }
}

fn stars_param(
    raw: &Option<String>,
    name: &str,
    whole: bool,
    errors: &mut Vec<crate::error::FieldError>,
) -> Option<f64> {
    let raw = raw.as_deref().map(str::trim).filter(|s| !s.is_empty())?;
    match raw.parse::<f64>() {
        Ok(n) if (1.0..=5.0).contains(&n) && (!whole || n.fract() == 0.0) => Some(n),
        _ => {
            let what = if whole { "a whole number" } else { "a number" };
            check(
                errors,
                false,
                name,
                &format!("{name} must be {what} from 1 to 5"),
            );
            None
        }
    }
}

/// Published reviews, filtered by reviewee, reviewer, booking, stars,
/// verified badge; newest first unless `sort` says otherwise.
#[utoipa::path(get, path = "", tag = "reviews", params(ListQuery),
    responses((status = 200, body = ReviewList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn list_reviews(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<ListQuery>,
) -> ApiResult<Json<Value>> {
    let mut errors = Vec::new();
    let page = match Page::of(q.page.as_deref(), q.limit.as_deref(), 20) {
        Ok(p) => Some(p),
        Err(ApiError::Validation(e)) => {
            errors.extend(e);
            None
        }
        Err(e) => return Err(e),
    };
    let reviewer_role = match q
        .reviewer_role
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(r) => {
            let role = ReviewerRole::parse(r);
            check(
                &mut errors,
                role.is_some(),
                "reviewerRole",
                "reviewerRole must be customer or technician",
            );
            role
        }
    };
    let sort = match q.sort.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Some(Sort::Newest),
        Some(s) => {
            let sort = Sort::parse(s);
            check(
                &mut errors,
                sort.is_some(),
                "sort",
                "sort must be newest, oldest, highest, lowest or helpful",
            );
            sort
        }
    };
    let filter = Filter {
        reviewee_id: id_param(&q.reviewee, "reviewee", &mut errors),
        reviewer_id: id_param(&q.reviewer, "reviewer", &mut errors),
        booking_id: id_param(&q.booking, "booking", &mut errors),
        reviewer_role,
        rating: stars_param(&q.rating, "rating", true, &mut errors).map(|n| n as u8),
        min_rating: stars_param(&q.min_rating, "minRating", false, &mut errors),
        max_rating: stars_param(&q.max_rating, "maxRating", false, &mut errors),
        is_verified: bool_param(&q.verified, "verified", &mut errors),
        has_response: bool_param(&q.has_response, "hasResponse", &mut errors),
    };
    finish(errors)?;
    let (Some(page), Some(sort)) = (page, sort) else {
        return Err(ApiError::field("query", "Validation failed"));
    };
    let (items, total) = state
        .db
        .read(move |c| {
            let (reviews, total) = store::list(c, &filter, sort, page)?;
            Ok((render(c, &reviews, Populate::All)?, total))
        })
        .await?;
    Ok(Json(list_response("reviews", items, total, page)))
}

// ---------------------------------------------------------------- one

/// One review with its reviewer, reviewee and booking.
#[utoipa::path(get, path = "/{id}", tag = "reviews",
    params(("id" = String, Path, description = "Review id")),
    responses((status = 200, body = ReviewOne), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn get_review(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let doc = state
        .db
        .read(move |c| {
            let review = find_review(c, &id)?;
            render(c, std::slice::from_ref(&review), Populate::All).map(|mut v| v.pop())
        })
        .await?;
    Ok(Json(json!({"success": true, "review": doc})))
}

/// The reviewer edits stars, texts or photos within the edit window
/// (`review_edit_window_days`); the aggregates follow in the same transaction.
#[utoipa::path(put, path = "/{id}", tag = "reviews", request_body = UpdateReviewBody, security(("bearer" = [])),
    params(("id" = String, Path, description = "Review id")),
    responses((status = 200, body = ReviewSaved), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn update_review(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<UpdateReviewBody>,
) -> ApiResult<Json<Value>> {
    if !is_valid_id(&id) {
        return Err(ApiError::not_found("Review"));
    }
    let mut errors = Vec::new();
    let patch = parse_ratings(
        body.rating.as_ref(),
        body.detailed_ratings.as_ref(),
        &mut errors,
    );
    let title = parse_text(body.title.as_deref(), "title", TITLE_MAX, None, &mut errors);
    let comment = parse_text(
        body.comment.as_deref(),
        "comment",
        COMMENT_MAX,
        None,
        &mut errors,
    );
    let images = match &body.images {
        None | Some(Value::Null) => None,
        Some(v) => Some(parse_images(v, &mut errors)),
    };
    finish(errors)?;
    if patch.is_empty() && title.is_none() && comment.is_none() && images.is_none() {
        return Err(ApiError::field(
            "body",
            "Nothing to update: send rating, detailedRatings, title, comment or images",
        ));
    }
    let window = state.config.review_edit_window_days;
    let caller = user.id.clone();
    let geo = state.geo.clone();
    let base = state.config.public_url.clone();
    let mut images = images;
    let review = state
        .db
        .write_then(
            move |tx| {
                if let Some(i) = images.as_mut() {
                    own_photos(tx, &base, &caller, i)?;
                }
                let old = find_review(tx, &id)?;
                if old.reviewer_id != caller {
                    return Err(ApiError::Forbidden(
                        "Not authorized to update this review".into(),
                    ));
                }
                if !is_editable(old.created_at, now_ms(), window) {
                    return Err(ApiError::Forbidden(format!(
                        "Reviews can only be edited within {window} days of posting"
                    )));
                }
                let mut new = old.clone();
                new.ratings = patch.apply(&old.ratings);
                if let Some(t) = title {
                    new.title = t;
                }
                if let Some(c) = comment {
                    new.comment = c;
                }
                if let Some(i) = images {
                    new.images = i;
                }
                store::save_edit(tx, &new)?;
                if old.counts() && old.ratings != new.ratings {
                    restate(tx, &old.reviewee_id, Some(&old.ratings), Some(&new.ratings))?;
                }
                let saved = find_review(tx, &old.id)?;
                emit(tx, "review.updated", &saved, &caller)?;
                Ok(saved)
            },
            move |conn, review| {
                let _ = geo.refresh(conn, &review.reviewee_id);
            },
        )
        .await?;
    let doc = render_one(&state, review, Populate::Nothing).await?;
    Ok(Json(
        json!({"success": true, "message": "Review updated successfully", "review": doc}),
    ))
}

/// The reviewer or an admin deletes a review; the aggregates follow in the
/// same transaction.
#[utoipa::path(delete, path = "/{id}", tag = "reviews", security(("bearer" = [])),
    params(("id" = String, Path, description = "Review id")),
    responses((status = 200, body = crate::openapi::schemas::Message), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn delete_review(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let caller = user.id.clone();
    let is_admin = user.is_admin();
    let geo = state.geo.clone();
    state
        .db
        .write_then(
            move |tx| {
                let review = find_review(tx, &id)?;
                if review.reviewer_id != caller && !is_admin {
                    return Err(ApiError::Forbidden(
                        "Not authorized to delete this review".into(),
                    ));
                }
                store::delete(tx, &review.id)?;
                if review.counts() {
                    restate(tx, &review.reviewee_id, Some(&review.ratings), None)?;
                }
                emit(tx, "review.deleted", &review, &caller)?;
                Ok(review.reviewee_id)
            },
            move |conn, reviewee_id| {
                let _ = geo.refresh(conn, reviewee_id);
            },
        )
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Review deleted successfully"}),
    ))
}

// ---------------------------------------------------------------- helpful

/// Toggles the caller's helpful mark (once per user; not on one's own review).
#[utoipa::path(post, path = "/{id}/helpful", tag = "reviews", security(("bearer" = [])),
    params(("id" = String, Path, description = "Review id")),
    responses((status = 200, body = HelpfulToggled), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn mark_helpful(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let caller = user.id.clone();
    let (marked, count) = state
        .db
        .write(move |tx| {
            let review = find_review(tx, &id)?;
            if review.reviewer_id == caller {
                return Err(ApiError::Forbidden(
                    "You cannot mark your own review as helpful".into(),
                ));
            }
            store::toggle_helpful(tx, &review.id, &caller)
        })
        .await?;
    let message = if marked {
        "Marked as helpful"
    } else {
        "Removed helpful mark"
    };
    Ok(Json(
        json!({"success": true, "message": message, "helpfulCount": count}),
    ))
}

// ---------------------------------------------------------------- response

async fn respond(
    state: AppState,
    user: CurrentUser,
    id: String,
    body: ResponseBody,
) -> ApiResult<Json<Value>> {
    if !is_valid_id(&id) {
        return Err(ApiError::not_found("Review"));
    }
    let mut errors = Vec::new();
    let text = parse_text(
        body.text.as_deref(),
        "text",
        RESPONSE_MAX,
        Some("Response text is required"),
        &mut errors,
    );
    finish(errors)?;
    let text = text.unwrap_or_default();
    let caller = user.id.clone();
    let (response, is_edit) = state
        .db
        .write(move |tx| {
            let review = find_review(tx, &id)?;
            if review.reviewee_id != caller {
                return Err(ApiError::Forbidden(
                    "Only the reviewee can respond to this review".into(),
                ));
            }
            let response = store::set_response(tx, &review.id, &text, &caller)?;
            emit(tx, "review.responded", &review, &caller)?;
            Ok((response, review.response.is_some()))
        })
        .await?;
    let message = if is_edit {
        "Response updated successfully"
    } else {
        "Response added successfully"
    };
    Ok(Json(
        json!({"success": true, "message": message, "response": response.to_json()}),
    ))
}

/// The reviewee's one response; sending it again edits it.
#[utoipa::path(post, path = "/{id}/response", tag = "reviews", request_body = ResponseBody, security(("bearer" = [])),
    params(("id" = String, Path, description = "Review id")),
    responses((status = 200, body = ResponseSaved), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn add_response(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<ResponseBody>,
) -> ApiResult<Json<Value>> {
    respond(state, user, id, body).await
}

/// Edits the reviewee's response (the same as sending it again).
#[utoipa::path(put, path = "/{id}/response", tag = "reviews", request_body = ResponseBody, security(("bearer" = [])),
    params(("id" = String, Path, description = "Review id")),
    responses((status = 200, body = ResponseSaved), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn edit_response(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<ResponseBody>,
) -> ApiResult<Json<Value>> {
    respond(state, user, id, body).await
}

/// Review photos must be the reviewer's own uploads (a 400 naming
/// `images[i]` otherwise); each keeps the URL this server gives it.
fn own_photos(
    conn: &rusqlite::Connection,
    base: &str,
    owner: &str,
    photos: &mut [crate::reviews::model::Photo],
) -> ApiResult<()> {
    for (i, photo) in photos.iter_mut().enumerate() {
        let own = crate::media::store::owned_picture(
            conn,
            base,
            owner,
            &format!("images[{i}]"),
            "",
            Some(&photo.public_id),
        )?;
        photo.public_id = own.public_id;
        photo.url = Some(own.url);
    }
    Ok(())
}
