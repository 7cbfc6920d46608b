//! `/api/v1/posts`: the feed, one post, create / update / delete, like,
//! share, bookmark, comment and delete a comment. Handlers authorise,
//! call the parsers of `model.rs`, run one read or one write, and render.

use std::collections::{HashMap, HashSet};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::extract::{CurrentUser, OptionalUser};
use crate::auth::Role;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::http::{list_response, AppJson, AppQuery, Page};
use crate::ids::{is_valid_id, iso, new_id, now_ms};
use crate::openapi::schemas::ErrorBody;
use crate::posts::model::{
    self, boost_of, can_see, feed_score, feed_window, may_delete_comment, rank, MediaKey, Post,
    Viewer, POST_TYPES,
};
use crate::posts::schemas::{
    PostBookmarkToggled, PostCommentAdded, PostCommentBody, PostCommentDeleted, PostCreateBody,
    PostDeleteBody, PostLikeToggled, PostList, PostOne, PostSaved, PostShared, PostUpdateBody,
    PostUpdated,
};
use crate::posts::store::{self, Comment, FeedFilter, FeedViewer};
use crate::search::posts::MAX_POST_RESULTS;
use crate::state::AppState;
use crate::users::store::{add_to_posts_count, author_cards, existing_user_ids, followee_ids};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_posts, create_post))
        .routes(routes!(get_post, update_post, delete_post))
        .routes(routes!(like_post))
        .routes(routes!(share_post))
        .routes(routes!(bookmark_post))
        .routes(routes!(add_comment))
        .routes(routes!(delete_comment))
}

// ---------------------------------------------------------------- shared

fn not_found() -> ApiError {
    ApiError::not_found("Post")
}

/// A signed-in viewer.
fn viewer(me: &str, is_admin: bool) -> Viewer<'_> {
    Viewer {
        id: Some(me),
        is_admin,
    }
}

/// The post `id` if `viewer` may see it; 404 otherwise (also for an id
/// that cannot be one), so a stranger cannot tell private from absent.
fn visible_post(conn: &Connection, id: &str, viewer: Viewer) -> ApiResult<Post> {
    if !is_valid_id(id) {
        return Err(not_found());
    }
    let post = store::find(conn, id)?.ok_or_else(not_found)?;
    let follows = match viewer.id {
        Some(me) if post.visibility == "followers" && me != post.author_id => {
            crate::users::store::is_following(conn, me, &post.author_id)?
        }
        _ => false,
    };
    if can_see(
        viewer,
        &post.author_id,
        &post.visibility,
        &post.status,
        follows,
    ) {
        Ok(post)
    } else {
        Err(not_found())
    }
}

/// The published post `id` that `me` may see: what likes, shares,
/// bookmarks, comments and deletes act on (an admin sees a removed post
/// but cannot act on it); 404 otherwise.
fn live_post(conn: &Connection, id: &str, me: &str, is_admin: bool) -> ApiResult<Post> {
    let post = visible_post(conn, id, viewer(me, is_admin))?;
    if post.status != "published" {
        return Err(not_found());
    }
    Ok(post)
}

/// The users `keys` (ids or handles, from [`model::mentions`]) name, in
/// order, each once; keys naming nobody are left out.
fn resolve_mentions(conn: &Connection, keys: &[String]) -> ApiResult<Vec<String>> {
    let mut ids: Vec<String> = Vec::new();
    for key in keys.iter().take(model::MENTIONS_MAX) {
        let found = if is_valid_id(key) {
            existing_user_ids(conn, std::slice::from_ref(key))?
        } else {
            crate::users::handle::resolve(conn, std::slice::from_ref(key))?
        };
        for id in found {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    Ok(ids)
}

fn validation(errors: Vec<FieldError>) -> ApiError {
    ApiError::Validation(errors)
}

fn emit(
    conn: &Connection,
    kind: &str,
    post: &Post,
    actor: &str,
    mut payload: Value,
) -> ApiResult<()> {
    payload["postId"] = json!(post.id);
    payload["authorId"] = json!(post.author_id);
    crate::events::emit(conn, kind, Some(&post.id), Some(actor), &payload)?;
    Ok(())
}

/// The author card with only the keys the answer populates.
fn card_with(card: &Value, keys: &[&str]) -> Value {
    let mut out = json!({"_id": card["_id"], "id": card["id"], "fullName": card["fullName"], "age": Value::Null});
    for k in keys {
        if let Some(v) = card.get(*k) {
            out[*k] = v.clone();
        }
    }
    out
}

const AUTHOR_KEYS: &[&str] = &["firstName", "lastName", "profilePicture", "role"];
const FEED_AUTHOR_KEYS: &[&str] = &[
    "firstName",
    "lastName",
    "profilePicture",
    "role",
    "rating",
    "subscription",
];
const COMMENT_USER_KEYS: &[&str] = &["firstName", "lastName", "profilePicture"];

fn comment_json(c: &Comment, user: Value) -> Value {
    json!({
        "_id": c.id,
        "user": user,
        "text": c.text,
        "likes": [],
        "likesCount": 0,
        "replies": [],
        "isEdited": false,
        "createdAt": iso(c.created_at),
    })
}

/// The media items of a body, checked to be `owner`'s uploads, as stored
/// on the post: `{type, url, publicId, thumbnail, width, height, size, order}`.
fn media_items(conn: &Connection, base: &str, owner: &str, keys: &[MediaKey]) -> ApiResult<Value> {
    let raw: Vec<String> = keys.iter().map(|k| k.key.clone()).collect();
    let refs = crate::media::store::owned_media(conn, base, owner, "media", &raw)?;
    let items = refs
        .iter()
        .map(|r| {
            let order = keys
                .iter()
                .find(|k| k.key == r.id || k.key == r.public_id)
                .map(|k| k.order)
                .unwrap_or(0);
            let mut item = r.to_json();
            if let Some(o) = item.as_object_mut() {
                o.remove("format");
            }
            item["order"] = json!(order);
            item
        })
        .collect();
    Ok(Value::Array(items))
}

// ---------------------------------------------------------------- feed

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PostListQuery {
    /// `text`, `image`, `video`, `portfolio`, `tip` or `question`.
    #[serde(rename = "type")]
    kind: Option<String>,
    /// Posts by this user id.
    author: Option<String>,
    /// Posts with this hashtag (case-insensitive, `#` optional).
    hashtag: Option<String>,
    /// `true`: only posts of the accounts the caller follows (signed in).
    following: Option<String>,
    /// Words of captions and hashtags, typo-tolerant; ranks by relevance.
    search: Option<String>,
    /// Page number, from 1.
    page: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    limit: Option<String>,
}

/// The validated feed filters.
fn feed_filter(q: &PostListQuery) -> ApiResult<(FeedFilter, bool, Option<String>)> {
    let mut errors = Vec::new();
    let nonempty = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    let kind = nonempty(&q.kind);
    if let Some(k) = &kind {
        if !POST_TYPES.contains(&k.as_str()) {
            errors.push(FieldError {
                field: "type".into(),
                message: "type must be one of text, image, video, portfolio, tip, question".into(),
            });
        }
    }
    let author = nonempty(&q.author);
    if let Some(a) = &author {
        if !is_valid_id(a) {
            errors.push(FieldError {
                field: "author".into(),
                message: "author must be a user id".into(),
            });
        }
    }
    let hashtag = nonempty(&q.hashtag).map(|h| h.trim_start_matches('#').to_lowercase());
    let following = match nonempty(&q.following).as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            errors.push(FieldError {
                field: "following".into(),
                message: "following must be true or false".into(),
            });
            false
        }
    };
    let search = nonempty(&q.search);
    if search.as_deref().is_some_and(|s| s.chars().count() > 200) {
        errors.push(FieldError {
            field: "search".into(),
            message: "search is at most 200 characters".into(),
        });
    }
    if !errors.is_empty() {
        return Err(validation(errors));
    }
    Ok((
        FeedFilter {
            kind,
            author,
            hashtag: hashtag.filter(|h| !h.is_empty()),
            authors_in: None,
        },
        following,
        search,
    ))
}

/// Renders posts for a list: author populated with the feed's keys, the
/// viewer's flags, the boost of the author's plan, pending views added.
fn render_feed(
    conn: &Connection,
    posts: &[Post],
    cards: &HashMap<String, Value>,
    viewer: Option<&str>,
    pending: &dyn Fn(&str) -> i64,
    now: i64,
) -> ApiResult<Vec<Value>> {
    let ids: Vec<String> = posts.iter().map(|p| p.id.clone()).collect();
    let (likes, bookmarks) = match viewer {
        Some(me) if !ids.is_empty() => store::viewer_marks(conn, me, &ids)?,
        _ => (HashSet::new(), HashSet::new()),
    };
    Ok(posts
        .iter()
        .map(|p| {
            let mut post = p.clone();
            post.counters.views += pending(&p.id);
            let mut doc = post.to_json(now);
            let card = cards.get(&p.author_id);
            let plan = card.and_then(|c| c["subscription"]["plan"].as_str());
            let (_, level) = boost_of(plan);
            doc["author"] = card
                .map(|c| card_with(c, FEED_AUTHOR_KEYS))
                .unwrap_or_else(|| json!(p.author_id));
            doc["isLiked"] = json!(likes.contains(&p.id));
            doc["isBookmarked"] = json!(bookmarks.contains(&p.id));
            doc["isBoosted"] = json!(level.is_some());
            doc["boostLevel"] = json!(level);
            doc
        })
        .collect())
}

/// The feed: published posts the caller may see (public; followers-only
/// ones of accounts they follow; their own), filtered by `type`, `author`,
/// `hashtag`, `following`; ranked by engagement within aligned windows of
/// three pages (every page reachable), or by relevance with `search`.
#[utoipa::path(get, path = "", tag = "posts", params(PostListQuery),
    responses((status = 200, body = PostList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn list_posts(
    State(state): State<AppState>,
    user: OptionalUser,
    AppQuery(q): AppQuery<PostListQuery>,
) -> ApiResult<Json<Value>> {
    let page = Page::of(q.page.as_deref(), q.limit.as_deref(), 20)?;
    let (mut filter, following, search) = feed_filter(&q)?;
    let me = user.id().map(String::from);
    if following && me.is_none() {
        return Err(ApiError::Unauthorized(
            "Not authorized to access this route. Please login.".into(),
        ));
    }
    let ranked: Option<Vec<String>> = match search {
        Some(text) => {
            let index = state.posts.index.clone();
            Some(
                tokio::task::spawn_blocking(move || index.search(&text, MAX_POST_RESULTS))
                    .await??,
            )
        }
        None => None,
    };
    let posts = state.posts.clone();
    let (items, total) = state
        .db
        .read(move |c| {
            let now = now_ms();
            let viewer = FeedViewer {
                followees: match &me {
                    Some(id) => followee_ids(c, id)?,
                    None => Vec::new(),
                },
                id: me.clone(),
            };
            // The plain following feed (or by type) has its own walk;
            // with an author or hashtag the general one narrows enough.
            let following_walk = following
                && ranked.is_none()
                && filter.author.is_none()
                && filter.hashtag.is_none();
            if following {
                filter.authors_in = Some(viewer.followees.clone());
            }
            let pending = |id: &str| posts.views.pending(id);
            let (chosen, total) = match ranked {
                Some(ids) => {
                    // Filters and visibility over the light candidate rows;
                    // whole rows only for the page.
                    let kept: Vec<String> = store::candidates(c, &ids)?
                        .into_iter()
                        .filter(|cand| store::keeps(cand, &filter, &viewer))
                        .map(|cand| cand.id)
                        .collect();
                    let page_ids: Vec<String> = kept
                        .iter()
                        .skip(page.offset() as usize)
                        .take(page.limit as usize)
                        .cloned()
                        .collect();
                    (store::posts_in_order(c, &page_ids)?, kept.len() as i64)
                }
                None => {
                    let (offset, len, skip) = feed_window(page.page, page.limit);
                    let (rows, total) = if following_walk {
                        store::following_window(
                            c,
                            &viewer.followees,
                            filter.kind.as_deref(),
                            offset,
                            len,
                        )?
                    } else {
                        (
                            store::feed_rows(c, &filter, &viewer, offset, len)?,
                            store::feed_total(c, &filter, &viewer)?,
                        )
                    };
                    let authors: Vec<String> = rows
                        .iter()
                        .map(|p| p.author_id.clone())
                        .collect::<HashSet<_>>()
                        .into_iter()
                        .collect();
                    let cards = author_cards(c, &authors)?;
                    let mut scored: Vec<(f64, Post)> = rows
                        .into_iter()
                        .map(|p| {
                            let plan = cards
                                .get(&p.author_id)
                                .and_then(|c| c["subscription"]["plan"].as_str());
                            let mut counters = p.counters;
                            counters.views += pending(&p.id);
                            (feed_score(&counters, p.age_days(now), boost_of(plan).0), p)
                        })
                        .collect();
                    rank(&mut scored);
                    let chosen: Vec<Post> = scored
                        .into_iter()
                        .skip(skip)
                        .take(page.limit as usize)
                        .map(|(_, p)| p)
                        .collect();
                    let items = render_feed(c, &chosen, &cards, me.as_deref(), &pending, now)?;
                    return Ok((items, total));
                }
            };
            let authors: Vec<String> = chosen.iter().map(|p| p.author_id.clone()).collect();
            let cards = author_cards(c, &authors)?;
            let items = render_feed(c, &chosen, &cards, me.as_deref(), &pending, now)?;
            Ok((items, total))
        })
        .await?;
    Ok(Json(list_response("posts", items, total, page)))
}

// ---------------------------------------------------------------- one post

/// One post with its author and comments populated; counts a view (in
/// memory, flushed in batches). Removed, private and followers-only posts
/// are 404 to anyone who may not see them (authors and admins may).
#[utoipa::path(get, path = "/{id}", tag = "posts", params(("id" = String, Path, description = "Post id")),
    responses((status = 200, body = PostOne), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn get_post(
    State(state): State<AppState>,
    user: OptionalUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let me = user.id().map(String::from);
    let is_admin = user.is_admin();
    let lookup = id.clone();
    let viewer_id = me.clone();
    state
        .db
        .read(move |c| {
            visible_post(
                c,
                &lookup,
                Viewer {
                    id: viewer_id.as_deref(),
                    is_admin,
                },
            )
            .map(|_| ())
        })
        .await?;
    let (_, due) = state.posts.views.record(&id);
    if let Some(tally) = due {
        let copy = tally.clone();
        if state
            .db
            .write(move |tx| crate::posts::views::flush(tx, &copy))
            .await
            .is_err()
        {
            state.posts.views.restore(tally);
        }
    }
    let posts = state.posts.clone();
    let post = state
        .db
        .read(move |c| {
            let now = now_ms();
            let mut post = store::find(c, &id)?.ok_or_else(not_found)?;
            post.counters.views += posts.views.pending(&id);
            let comments = store::comments(c, &id, 500)?;
            let mut people: Vec<String> = comments.iter().map(|c| c.user_id.clone()).collect();
            people.push(post.author_id.clone());
            people.sort();
            people.dedup();
            let cards = author_cards(c, &people)?;
            let mut doc = post.to_json(now);
            doc["author"] = cards
                .get(&post.author_id)
                .map(|c| {
                    card_with(
                        c,
                        &["firstName", "lastName", "profilePicture", "role", "rating"],
                    )
                })
                .unwrap_or_else(|| json!(post.author_id));
            doc["comments"] = Value::Array(
                comments
                    .iter()
                    .map(|cm| {
                        let user = cards
                            .get(&cm.user_id)
                            .map(|c| card_with(c, COMMENT_USER_KEYS))
                            .unwrap_or_else(|| json!(cm.user_id));
                        comment_json(cm, user)
                    })
                    .collect(),
            );
            if let Some(me) = &me {
                let (liked, bookmarked) = store::viewer_marks_one(c, me, &id)?;
                doc["isLiked"] = json!(liked);
                doc["isBookmarked"] = json!(bookmarked);
            }
            Ok(doc)
        })
        .await?;
    Ok(Json(json!({"success": true, "post": post})))
}

// ---------------------------------------------------------------- create

/// Create a post (any signed-in role; `portfolio` posts by technicians).
/// Media must be the caller's own uploads. The author's `postsCount` +1
/// and `post.created` in the same transaction.
#[utoipa::path(post, path = "", tag = "posts", request_body = PostCreateBody, security(("bearer" = [])),
    responses((status = 201, body = PostSaved), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn create_post(
    State(state): State<AppState>,
    user: CurrentUser,
    AppJson(body): AppJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let new = model::parse_new_post(&body).map_err(validation)?;
    if new.kind == "portfolio" && user.role != Role::Technician {
        return Err(ApiError::Forbidden(
            "Only technicians can post portfolio work".into(),
        ));
    }
    let author = user.id.clone();
    let base = state.config.public_url.clone();
    let doc = state
        .db
        .write(move |tx| {
            let now = now_ms();
            let media = media_items(tx, &base, &author, &new.media)?;
            let mentions = resolve_mentions(tx, &new.mentions)?;
            let post = Post {
                id: new_id(),
                author_id: author.clone(),
                kind: new.kind,
                caption: new.caption,
                media,
                hashtags: new.hashtags,
                mentions,
                portfolio: new.portfolio,
                visibility: new.visibility,
                status: "published".into(),
                counters: Default::default(),
                edited_at: None,
                deleted_at: None,
                deleted_by: None,
                delete_reason: None,
                removal_reason: None,
                created_at: now,
                updated_at: now,
            };
            store::insert(tx, &post)?;
            add_to_posts_count(tx, &author, 1, now)?;
            emit(
                tx,
                "post.created",
                &post,
                &author,
                json!({"mentionIds": post.mentions}),
            )?;
            let cards = author_cards(tx, std::slice::from_ref(&author))?;
            let mut doc = post.to_json(now);
            if let Some(card) = cards.get(&author) {
                doc["author"] = card_with(card, AUTHOR_KEYS);
            }
            doc["comments"] = json!([]);
            Ok(doc)
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"success": true, "message": "Post created successfully", "post": doc})),
    ))
}

// ---------------------------------------------------------------- update

/// Update a post's caption, media, hashtags or visibility (its author
/// only; an empty value leaves the field as it is). Marks it edited.
#[utoipa::path(put, path = "/{id}", tag = "posts", request_body = PostUpdateBody, security(("bearer" = [])),
    params(("id" = String, Path, description = "Post id")),
    responses((status = 200, body = PostUpdated), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn update_post(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Json<Value>> {
    let update = model::parse_update(&body).map_err(validation)?;
    let me = user.id.clone();
    let is_admin = user.is_admin();
    let base = state.config.public_url.clone();
    let doc = state
        .db
        .write(move |tx| {
            let before = visible_post(tx, &id, viewer(&me, is_admin))?;
            if before.author_id != me || before.status != "published" {
                return Err(ApiError::Forbidden(
                    "Not authorized to update this post".into(),
                ));
            }
            let now = now_ms();
            let mut after = before.clone();
            if let Some(caption) = update.caption {
                after.mentions = resolve_mentions(tx, &model::mentions(&caption))?;
                after.caption = caption;
            }
            if let Some(keys) = &update.media {
                after.media = media_items(tx, &base, &me, keys)?;
            }
            let sent = update
                .hashtags
                .clone()
                .unwrap_or_else(|| before.hashtags.clone());
            after.hashtags = model::resolve_hashtags(&after.caption, &sent);
            if let Some(v) = update.visibility {
                after.visibility = v;
            }
            after.edited_at = Some(now);
            after.updated_at = now;
            store::save(tx, &before, &after)?;
            emit(tx, "post.updated", &after, &me, json!({}))?;
            Ok(after.to_json(now))
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Post updated successfully", "post": doc}),
    ))
}

// ---------------------------------------------------------------- delete

/// Soft-delete a post (its author), or remove it as moderation (an admin,
/// with an optional `reason`, emitting `post.removed`). Hidden everywhere
/// after; the author's `postsCount` −1.
#[utoipa::path(delete, path = "/{id}", tag = "posts", request_body(content = PostDeleteBody, description = "Optional reason"),
    security(("bearer" = [])), params(("id" = String, Path, description = "Post id")),
    responses((status = 200, body = crate::openapi::schemas::Message), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn delete_post(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Json<Value>> {
    let reason = match body.get("reason") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= 500 => {
            Some(s.trim().to_string()).filter(|s| !s.is_empty())
        }
        Some(_) => {
            return Err(ApiError::field(
                "reason",
                "reason is a string of at most 500 characters",
            ))
        }
    };
    let me = user.id.clone();
    let is_admin = user.is_admin();
    state
        .db
        .write(move |tx| {
            let before = live_post(tx, &id, &me, is_admin)?;
            let is_author = before.author_id == me;
            if !is_author && !is_admin {
                return Err(ApiError::Forbidden(
                    "Not authorized to delete this post".into(),
                ));
            }
            let now = now_ms();
            let mut after = before.clone();
            after.status = "removed".into();
            after.deleted_at = Some(now);
            after.deleted_by = Some(me.clone());
            after.delete_reason = reason.clone();
            after.updated_at = now;
            if !is_author {
                after.removal_reason = Some(
                    reason
                        .clone()
                        .unwrap_or_else(|| "Removed by a moderator".into()),
                );
            }
            store::save(tx, &before, &after)?;
            add_to_posts_count(tx, &before.author_id, -1, now)?;
            if is_author {
                emit(tx, "post.deleted", &after, &me, json!({}))?;
            } else {
                emit(
                    tx,
                    "post.removed",
                    &after,
                    &me,
                    json!({"reason": after.removal_reason}),
                )?;
            }
            Ok(())
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Post deleted successfully"}),
    ))
}

// ---------------------------------------------------------------- like, share, bookmark

/// Like or unlike (a toggle: one like per user and post, the counter kept
/// equal to the likes in the same transaction). Emits `post.liked` on a like.
#[utoipa::path(post, path = "/{id}/like", tag = "posts", security(("bearer" = [])),
    params(("id" = String, Path, description = "Post id")),
    responses((status = 200, body = PostLikeToggled), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn like_post(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let me = user.id.clone();
    let is_admin = user.is_admin();
    let (liked, count) = state
        .db
        .write(move |tx| {
            let post = live_post(tx, &id, &me, is_admin)?;
            let (liked, count) = store::toggle_like(tx, &post.id, &me, now_ms())?;
            if liked {
                emit(tx, "post.liked", &post, &me, json!({"likerId": me}))?;
            }
            Ok((liked, count))
        })
        .await?;
    let message = if liked { "Post liked" } else { "Post unliked" };
    Ok(Json(
        json!({"success": true, "message": message, "isLiked": liked, "likesCount": count}),
    ))
}

/// Share a post (each share is recorded with who shared; the same user may
/// share again). Emits `post.shared`.
#[utoipa::path(post, path = "/{id}/share", tag = "posts", security(("bearer" = [])),
    params(("id" = String, Path, description = "Post id")),
    responses((status = 200, body = PostShared), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn share_post(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let me = user.id.clone();
    let is_admin = user.is_admin();
    let count = state
        .db
        .write(move |tx| {
            let post = live_post(tx, &id, &me, is_admin)?;
            let count = store::add_share(tx, &post.id, &me, now_ms())?;
            emit(tx, "post.shared", &post, &me, json!({"sharerId": me}))?;
            Ok(count)
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Post shared successfully", "sharesCount": count}),
    ))
}

/// Bookmark or un-bookmark (a toggle, exact like likes).
#[utoipa::path(post, path = "/{id}/bookmark", tag = "posts", security(("bearer" = [])),
    params(("id" = String, Path, description = "Post id")),
    responses((status = 200, body = PostBookmarkToggled), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn bookmark_post(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let me = user.id.clone();
    let is_admin = user.is_admin();
    let (on, count) = state
        .db
        .write(move |tx| {
            let post = live_post(tx, &id, &me, is_admin)?;
            store::toggle_bookmark(tx, &post.id, &me, now_ms())
        })
        .await?;
    let message = if on {
        "Post bookmarked"
    } else {
        "Bookmark removed"
    };
    Ok(Json(
        json!({"success": true, "message": message, "bookmarked": on, "bookmarksCount": count}),
    ))
}

// ---------------------------------------------------------------- comments

/// Comment on a post (1 to 1000 characters). Emits `post.commented`.
#[utoipa::path(post, path = "/{id}/comment", tag = "posts", request_body = PostCommentBody, security(("bearer" = [])),
    params(("id" = String, Path, description = "Post id")),
    responses((status = 201, body = PostCommentAdded), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn add_comment(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let text = model::parse_comment(body.get("text")).map_err(validation)?;
    let me = user.id.clone();
    let is_admin = user.is_admin();
    let (comment, count) = state
        .db
        .write(move |tx| {
            let post = live_post(tx, &id, &me, is_admin)?;
            let comment = Comment {
                id: new_id(),
                post_id: post.id.clone(),
                user_id: me.clone(),
                text,
                created_at: now_ms(),
            };
            let count = store::add_comment(tx, &comment)?;
            emit(
                tx,
                "post.commented",
                &post,
                &me,
                json!({"commentId": comment.id, "commenterId": me}),
            )?;
            let cards = author_cards(tx, std::slice::from_ref(&me))?;
            let user = cards
                .get(&me)
                .map(|c| card_with(c, COMMENT_USER_KEYS))
                .unwrap_or_else(|| json!(me));
            Ok((comment_json(&comment, user), count))
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"success": true, "message": "Comment added successfully",
                    "comment": comment, "commentsCount": count}),
        ),
    ))
}

/// Delete a comment: its author, the post's author or an admin.
#[utoipa::path(delete, path = "/{id}/comment/{comment_id}", tag = "posts", security(("bearer" = [])),
    params(("id" = String, Path, description = "Post id"), ("comment_id" = String, Path, description = "Comment id")),
    responses((status = 200, body = PostCommentDeleted), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn delete_comment(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, comment_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let me = user.id.clone();
    let is_admin = user.is_admin();
    let count = state
        .db
        .write(move |tx| {
            let post = live_post(tx, &id, &me, is_admin)?;
            let comment = if is_valid_id(&comment_id) {
                store::find_comment(tx, &post.id, &comment_id)?
            } else {
                None
            }
            .ok_or_else(|| ApiError::not_found("Comment"))?;
            if !may_delete_comment(&me, is_admin, &comment.user_id, &post.author_id) {
                return Err(ApiError::Forbidden(
                    "Not authorized to delete this comment".into(),
                ));
            }
            store::delete_comment(tx, &post.id, &comment.id)
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Comment deleted successfully", "commentsCount": count}),
    ))
}
