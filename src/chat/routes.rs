//! `/api/v1/conversations` and `/api/v1/messages`: handlers authorise,
//! call the parsers in `model`, run one write, and render with `document`.
//! A caller who is not an active participant gets 404 on every object
//! route (platform admins may read, never write).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::extract::CurrentUser;
use crate::chat::document::{reactions_json, settings_json, Renderer};
use crate::chat::model::{
    direct_key, may_delete_for_everyone, may_send, parse_emoji, parse_new_conversation,
    parse_new_message, parse_settings, preview, ConversationCreateBody, ConversationSettingsBody,
    ConversationType, DeleteRefusal, MessageSendBody, MessageType, NewMessage,
};
use crate::chat::schemas::{
    ChatDone, ChatMessageList, ChatMessageSent, ChatReactions, ConversationList, ConversationOne,
    ConversationSettingsSaved,
};
use crate::chat::store::{self, Conversation, Member};
use crate::chat::{Chat, OPEN_RULES};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::http::{list_response, AppJson, AppQuery, Page};
use crate::ids::{is_valid_id, new_id, now_ms, parse_datetime};
use crate::openapi::schemas::ErrorBody;
use crate::state::AppState;

/// The conversations router.
pub fn conversation_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_conversations, create_conversation))
        .routes(routes!(get_conversation))
        .routes(routes!(update_settings))
        .routes(routes!(add_participant))
        .routes(routes!(remove_participant))
}

/// The messages router.
pub fn message_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_messages, send_message))
        .routes(routes!(mark_read))
        .routes(routes!(delete_for_me))
        .routes(routes!(delete_for_everyone))
        .routes(routes!(react, unreact))
}

// ---------------------------------------------------------------- access

fn not_found() -> ApiError {
    ApiError::not_found("Conversation")
}

/// The conversation and the caller's active membership: 404 for anyone
/// else, except platform admins when `admin_may_read` (membership `None`).
fn access(
    conn: &Connection,
    id: &str,
    user: &CurrentUser,
    admin_may_read: bool,
) -> ApiResult<(Conversation, Option<Member>)> {
    if !is_valid_id(id) {
        return Err(not_found());
    }
    let conv = store::find_conversation(conn, id)?.ok_or_else(not_found)?;
    match store::membership(conn, id, &user.id)? {
        Some(m) => Ok((conv, Some(m))),
        None if admin_may_read && user.is_admin() => Ok((conv, None)),
        None => Err(not_found()),
    }
}

/// Like [`access`] for writers: the membership is required.
fn member_access(
    conn: &Connection,
    id: &str,
    user: &CurrentUser,
) -> ApiResult<(Conversation, Member)> {
    let (c, m) = access(conn, id, user, false)?;
    Ok((c, m.ok_or_else(not_found)?))
}

fn render_conversation(
    conn: &Connection,
    chat: &Chat,
    c: &Conversation,
    viewer: &str,
) -> ApiResult<Value> {
    Renderer::new(conn, &chat.cipher).conversation(c, viewer)
}

fn one_message(conn: &Connection, chat: &Chat, id: &str) -> ApiResult<Value> {
    let m = store::find_message(conn, id)?.ok_or_else(|| ApiError::not_found("Message"))?;
    Ok(Renderer::new(conn, &chat.cipher)
        .messages(std::slice::from_ref(&m))?
        .pop()
        .unwrap_or(Value::Null))
}

// ---------------------------------------------------------------- conversations

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConversationListQuery {
    /// direct, group, booking or support.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    kind: Option<String>,
    /// `active` (the default) or `archived`: the caller's archived ones.
    status: Option<String>,
    /// Page number, from 1.
    page: Option<String>,
    /// Items per page, 1 to 100.
    limit: Option<String>,
}

/// The caller's conversations, pinned first, then by last activity.
#[utoipa::path(get, path = "", tag = "conversations", params(ConversationListQuery), security(("bearer" = [])),
    responses((status = 200, body = ConversationList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn list_conversations(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(q): AppQuery<ConversationListQuery>,
) -> ApiResult<Json<Value>> {
    let page = Page::of(q.page.as_deref(), q.limit.as_deref(), 20)?;
    let kind = match q.kind.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(k) => Some(
            ConversationType::parse(k)
                .ok_or_else(|| {
                    ApiError::field("type", "type must be direct, group, booking or support")
                })?
                .as_str(),
        ),
    };
    let archived = match q.status.as_deref().map(str::trim).unwrap_or("") {
        "" | "active" => false,
        "archived" => true,
        _ => {
            return Err(ApiError::field(
                "status",
                "status must be active or archived",
            ))
        }
    };
    let chat = state.chat.clone();
    let (items, total) = state
        .db
        .read(move |c| {
            let (convs, total) = store::list_for_user(
                c,
                &user.id,
                kind,
                archived,
                page.offset(),
                page.limit as i64,
            )?;
            let mut r = Renderer::new(c, &chat.cipher);
            let items = convs
                .iter()
                .map(|conv| r.conversation(conv, &user.id))
                .collect::<ApiResult<Vec<_>>>()?;
            Ok((items, total))
        })
        .await?;
    Ok(Json(list_response("conversations", items, total, page)))
}

/// Starts a conversation. Direct: found or created (200 with the existing
/// one). Group: the caller is its admin. Booking: between the booking's
/// customer and technician (the caller must be one). Support: the caller
/// and whoever is named.
#[utoipa::path(post, path = "", tag = "conversations", request_body = ConversationCreateBody, security(("bearer" = [])),
    responses((status = 201, body = ConversationOne), (status = 200, body = ConversationOne),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn create_conversation(
    State(state): State<AppState>,
    user: CurrentUser,
    AppJson(body): AppJson<ConversationCreateBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let new = parse_new_conversation(&body, &user.id).map_err(ApiError::Validation)?;
    let chat = state.chat.clone();
    let caller = user.id.clone();
    let (created, doc) = state
        .db
        .write(move |tx| {
            let missing: Vec<String> = {
                let found = store::active_users(tx, &new.others)?;
                new.others.iter().filter(|o| !found.contains(o)).cloned().collect()
            };
            if !missing.is_empty() {
                return Err(ApiError::Validation(
                    missing
                        .iter()
                        .map(|m| FieldError {
                            field: "participants".into(),
                            message: format!("User {m} not found"),
                        })
                        .collect(),
                ));
            }
            let now = now_ms();
            let mut members: Vec<(String, bool)> = vec![(caller.clone(), new.kind == ConversationType::Group)];
            members.extend(new.others.iter().map(|o| (o.clone(), false)));
            let mut key = None;
            let mut booking_id = None;
            match new.kind {
                ConversationType::Direct => {
                    let k = direct_key(&caller, &new.others[0]);
                    if let Some(id) = store::find_direct(tx, &k)? {
                        let c = store::find_conversation(tx, &id)?.ok_or_else(not_found)?;
                        // A pair's conversation is theirs for good: a left member comes back.
                        for (m, _) in &members {
                            if store::membership(tx, &id, m)?.is_none() {
                                store::add_member(tx, &id, m, false, now)?;
                            }
                        }
                        return Ok((false, render_conversation(tx, &chat, &c, &caller)?));
                    }
                    key = Some(k);
                }
                ConversationType::Booking => {
                    if let Some(b) = &new.booking_id {
                        let parties = crate::bookings::store::find_parties(tx, b)?
                            .ok_or_else(|| ApiError::not_found("Booking"))?;
                        let Some(tech) = parties.technician_id.clone() else {
                            return Err(ApiError::BadRequest("The booking has no technician yet".into()));
                        };
                        if caller != parties.customer_id && caller != tech {
                            return Err(ApiError::not_found("Booking"));
                        }
                        let existed = store::find_for_booking(tx, b)?.is_some();
                        let id = crate::chat::ensure_booking_conversation(tx, b, &parties.customer_id, &tech, &caller)?;
                        let c = store::find_conversation(tx, &id)?.ok_or_else(not_found)?;
                        return Ok((!existed, render_conversation(tx, &chat, &c, &caller)?));
                    }
                    if let Some(id) = store::find_booking_pair(tx, &caller, &new.others[0])? {
                        let c = store::find_conversation(tx, &id)?.ok_or_else(not_found)?;
                        return Ok((false, render_conversation(tx, &chat, &c, &caller)?));
                    }
                    booking_id = None;
                }
                _ => {}
            }
            let c = Conversation {
                id: new_id(),
                kind: new.kind,
                name: new.name.clone(),
                description: new.description.clone(),
                booking_id,
                created_by: Some(caller.clone()),
                status: "active".into(),
                rules: OPEN_RULES,
                last_message_id: None,
                last_preview: None,
                last_sender_id: None,
                last_message_at: now,
                total_messages: 0,
                created_at: now,
                updated_at: now,
            };
            store::insert_conversation(tx, &c, key.as_deref(), &members)?;
            let ids: Vec<&str> = members.iter().map(|(m, _)| m.as_str()).collect();
            crate::events::emit(
                tx,
                "conversation.created",
                Some(&c.id),
                Some(&caller),
                &json!({"conversationId": c.id, "type": c.kind.as_str(), "participantIds": ids, "createdBy": caller}),
            )?;
            Ok((true, render_conversation(tx, &chat, &c, &caller)?))
        })
        .await?;
    Ok(if created {
        (
            StatusCode::CREATED,
            Json(
                json!({"success": true, "message": "Conversation created successfully", "conversation": doc}),
            ),
        )
    } else {
        (
            StatusCode::OK,
            Json(
                json!({"success": true, "message": "Conversation already exists", "conversation": doc}),
            ),
        )
    })
}

/// One conversation, to its participants (and platform admins), with its
/// booking populated.
#[utoipa::path(get, path = "/{id}", tag = "conversations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = ConversationOne), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn get_conversation(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let chat = state.chat.clone();
    let base = state.config.public_url.clone();
    let doc = state
        .db
        .read(move |c| {
            let (conv, _) = access(c, &id, &user, true)?;
            let mut doc = render_conversation(c, &chat, &conv, &user.id)?;
            // The wire populates the booking here (only here): its parties
            // are this conversation's participants.
            if let Some(b) = &conv.booking_id {
                if let Some(booking) = crate::bookings::document::document(c, &base, b)? {
                    doc["booking"] = booking;
                }
            }
            Ok(doc)
        })
        .await?;
    Ok(Json(json!({"success": true, "conversation": doc})))
}

/// The caller's own mute, pin and archive marks; a group admin may also
/// change the group's name, description and `settings`.
#[utoipa::path(put, path = "/{id}/settings", tag = "conversations", request_body = ConversationSettingsBody,
    security(("bearer" = [])), params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = ConversationSettingsSaved), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn update_settings(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<ConversationSettingsBody>,
) -> ApiResult<Json<Value>> {
    let (own, group) = parse_settings(&body).map_err(ApiError::Validation)?;
    let chat = state.chat.clone();
    let (settings, doc) = state
        .db
        .write(move |tx| {
            let (conv, me) = member_access(tx, &id, &user)?;
            if !group.is_empty() {
                if conv.kind != ConversationType::Group || !me.is_admin {
                    return Err(ApiError::Forbidden(
                        "Only group admins can change the group's name or settings".into(),
                    ));
                }
                store::apply_group_change(tx, &conv.id, &group, now_ms())?;
                let ids = store::member_ids(tx, &conv.id)?;
                crate::events::emit(
                    tx,
                    "conversation.updated",
                    Some(&conv.id),
                    Some(&user.id),
                    &json!({"conversationId": conv.id, "participantIds": ids}),
                )?;
            }
            store::set_marks(tx, &conv.id, &user.id, &own)?;
            let me = store::membership(tx, &conv.id, &user.id)?.ok_or_else(not_found)?;
            let conv = store::find_conversation(tx, &conv.id)?.ok_or_else(not_found)?;
            Ok((
                settings_json(&me),
                render_conversation(tx, &chat, &conv, &user.id)?,
            ))
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Settings updated successfully",
                   "settings": settings, "conversation": doc}),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationMemberBody {
    /// The user to add.
    user_id: Option<String>,
}

/// A group admin adds a member (groups only).
#[utoipa::path(post, path = "/{id}/participants", tag = "conversations", request_body = ConversationMemberBody,
    security(("bearer" = [])), params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = ConversationOne), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn add_participant(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<ConversationMemberBody>,
) -> ApiResult<Json<Value>> {
    let target = body
        .user_id
        .as_deref()
        .map(str::trim)
        .filter(|s| is_valid_id(s))
        .map(String::from)
        .ok_or_else(|| ApiError::field("userId", "Valid user ID is required"))?;
    let chat = state.chat.clone();
    let doc = state
        .db
        .write(move |tx| {
            let (conv, me) = member_access(tx, &id, &user)?;
            if conv.kind != ConversationType::Group {
                return Err(ApiError::BadRequest(
                    "Can only add participants to group conversations".into(),
                ));
            }
            if !me.is_admin {
                return Err(ApiError::Forbidden(
                    "Only group admins can add participants".into(),
                ));
            }
            if store::active_users(tx, std::slice::from_ref(&target))?.is_empty() {
                return Err(ApiError::field("userId", "User not found"));
            }
            if store::membership(tx, &conv.id, &target)?.is_some() {
                return Err(ApiError::BadRequest("User is already a participant".into()));
            }
            let ids = store::member_ids(tx, &conv.id)?;
            if ids.len() >= crate::chat::model::GROUP_MAX {
                return Err(ApiError::BadRequest(
                    "A group has at most 1000 participants".into(),
                ));
            }
            store::add_member(tx, &conv.id, &target, false, now_ms())?;
            let ids = store::member_ids(tx, &conv.id)?;
            crate::events::emit(
                tx,
                "conversation.updated",
                Some(&conv.id),
                Some(&user.id),
                &json!({"conversationId": conv.id, "participantIds": ids, "addedIds": [target]}),
            )?;
            render_conversation(tx, &chat, &conv, &user.id)
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Participant added successfully", "conversation": doc}),
    ))
}

/// A group admin removes a member, or a member leaves (groups only). The
/// removed member loses access at once.
#[utoipa::path(delete, path = "/{id}/participants/{userId}", tag = "conversations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Conversation id"), ("userId" = String, Path, description = "Member to remove")),
    responses((status = 200, body = ChatDone), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn remove_participant(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, target)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    state
        .db
        .write(move |tx| {
            let (conv, me) = member_access(tx, &id, &user)?;
            if conv.kind != ConversationType::Group {
                return Err(ApiError::BadRequest(
                    "Can only remove participants from group conversations".into(),
                ));
            }
            if target != user.id && !me.is_admin {
                return Err(ApiError::Forbidden("Only group admins can remove other participants".into()));
            }
            if store::remove_member(tx, &conv.id, &target, now_ms())? {
                let ids = store::member_ids(tx, &conv.id)?;
                if !ids.is_empty()
                    && !store::members(tx, &conv.id)?.iter().any(|m| m.is_admin)
                {
                    // The last admin left: the longest-standing member takes over.
                    tx.execute(
                        "UPDATE conversation_participants SET role = 'admin' WHERE conversation_id = ?1 AND user_id = ?2",
                        rusqlite::params![conv.id, ids[0]],
                    )?;
                }
                crate::events::emit(
                    tx,
                    "conversation.updated",
                    Some(&conv.id),
                    Some(&user.id),
                    &json!({"conversationId": conv.id, "participantIds": ids, "removedIds": [target]}),
                )?;
            }
            Ok(())
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Participant removed successfully"}),
    ))
}

// ---------------------------------------------------------------- messages

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageListQuery {
    /// The conversation (required).
    conversation: Option<String>,
    /// Only messages sent before this ISO 8601 time (a cursor for older pages).
    before: Option<String>,
    /// Page number, from 1.
    page: Option<String>,
    /// Items per page, 1 to 100.
    limit: Option<String>,
}

/// A conversation's messages, newest page first, each page oldest to
/// newest; without the caller's deleted-for-me ones.
#[utoipa::path(get, path = "", tag = "messages", params(MessageListQuery), security(("bearer" = [])),
    responses((status = 200, body = ChatMessageList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn list_messages(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(q): AppQuery<MessageListQuery>,
) -> ApiResult<Json<Value>> {
    let page = Page::of(q.page.as_deref(), q.limit.as_deref(), 50)?;
    let conversation = q
        .conversation
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::field("conversation", "Conversation ID is required"))?
        .to_string();
    let before = match q.before.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(b) => Some(
            parse_datetime(b)
                .ok_or_else(|| ApiError::field("before", "before must be an ISO 8601 date"))?,
        ),
    };
    let chat = state.chat.clone();
    let (items, total) = state
        .db
        .read(move |c| {
            let (conv, _) = access(c, &conversation, &user, true)?;
            let (msgs, total) = store::list_messages(
                c,
                &conv.id,
                &user.id,
                before,
                page.offset(),
                page.limit as i64,
            )?;
            Ok((Renderer::new(c, &chat.cipher).messages(&msgs)?, total))
        })
        .await?;
    Ok(Json(list_response("messages", items, total, page)))
}

/// Checks what a message refers to (media the sender owns, a booking they
/// are party to, a reply in the same conversation, mentioned members) and
/// returns the attachments to store.
fn resolve_refs(
    conn: &Connection,
    state_media: &crate::media::Media,
    new: &mut NewMessage,
    sender: &str,
) -> ApiResult<Value> {
    let mut errors = Vec::new();
    let mut attachments = Vec::new();
    for (i, key) in new.media.iter().enumerate() {
        let item = if is_valid_id(key) {
            conn.query_row(
                "SELECT public_id FROM media WHERE id = ?1 AND owner_id = ?2",
                rusqlite::params![key, sender],
                |r| r.get::<_, String>(0),
            )
            .ok()
        } else {
            Some(key.clone())
        };
        let item = match item {
            Some(pid) => crate::media::store::find_by_public_id(conn, &pid)?,
            None => None,
        };
        let Some(item) = item.filter(|m| m.owner_id == sender) else {
            errors.push(FieldError {
                field: format!("media[{i}]"),
                message: "Media not found among your uploads".into(),
            });
            continue;
        };
        let kind = format!("{:?}", item.kind()).to_lowercase();
        let fits = match new.kind {
            MessageType::Image => kind == "image",
            MessageType::Video => kind == "video",
            _ => true,
        };
        if !fits {
            errors.push(FieldError {
                field: format!("media[{i}]"),
                message: format!(
                    "A {} message takes {} media",
                    new.kind.as_str(),
                    new.kind.as_str()
                ),
            });
            continue;
        }
        attachments.push(json!({
            "type": if new.kind.is_media() { new.kind.as_str().to_string() } else { kind },
            "url": item.url(state_media.base()),
            "publicId": item.public_id,
            "thumbnail": item.thumbnail(state_media.base()),
            "size": item.size,
            "width": item.width, "height": item.height,
            "duration": item.duration_ms.map(|d| d as f64 / 1000.0),
            "filename": item.original_name,
            "mimeType": item.format.content_type(),
        }));
    }
    if let Some(b) = &new.booking_id {
        let ok = crate::bookings::store::find_parties(conn, b)?
            .is_some_and(|p| p.customer_id == sender || p.technician_id.as_deref() == Some(sender));
        if !ok {
            errors.push(FieldError {
                field: "booking".into(),
                message: "Booking not found among yours".into(),
            });
        }
    }
    if let Some(r) = &new.reply_to {
        let ok =
            store::find_message(conn, r)?.is_some_and(|m| m.conversation_id == new.conversation_id);
        if !ok {
            errors.push(FieldError {
                field: "replyTo".into(),
                message: "The replied message is not in this conversation".into(),
            });
        }
    }
    if !new.mentions.is_empty() {
        let members = store::member_ids(conn, &new.conversation_id)?;
        new.mentions.retain(|m| members.contains(m));
    }
    crate::error::finish(errors)?;
    Ok(Value::Array(attachments))
}

/// Sends a message: stored (text sealed), the conversation's last message
/// and the others' unread counts move, `message.sent` is emitted, all in
/// one transaction; sockets hear of it after commit.
#[utoipa::path(post, path = "", tag = "messages", request_body = MessageSendBody, security(("bearer" = [])),
    responses((status = 201, body = ChatMessageSent), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn send_message(
    State(state): State<AppState>,
    user: CurrentUser,
    AppJson(body): AppJson<MessageSendBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut new =
        parse_new_message(&body, state.chat.text_max_chars).map_err(ApiError::Validation)?;
    let chat = state.chat.clone();
    let media = state.media.clone();
    let id = state
        .db
        .write(move |tx| {
            let (conv, me) = member_access(tx, &new.conversation_id, &user)?;
            may_send(conv.rules, me.is_admin, new.kind).map_err(|r| ApiError::Forbidden(r.message().into()))?;
            let attachments = resolve_refs(tx, &media, &mut new, &user.id)?;
            let now = now_ms();
            let sealed = new.text.as_deref().map(|t| chat.cipher.seal(t));
            let shown = preview(new.kind, new.text.as_deref());
            let preview_sealed = if new.kind == MessageType::Text {
                sealed.clone()
            } else {
                Some(chat.cipher.seal(&shown))
            };
            let m = store::Message {
                id: new_id(),
                conversation_id: conv.id.clone(),
                sender_id: Some(user.id.clone()),
                kind: new.kind,
                text: sealed,
                attachments,
                location: new.location.as_ref().map(|p| p.to_json()),
                booking_ref: new.booking_id.clone(),
                call_info: new.call_info.clone(),
                system_info: None,
                mentions: new.mentions.clone(),
                reply_to: new.reply_to.clone(),
                status: "sent".into(),
                is_deleted: false,
                deleted_at: None,
                deleted_by: None,
                created_at: now,
                updated_at: now,
            };
            store::insert_message(tx, &m, preview_sealed.as_deref())?;
            let recipients: Vec<String> = store::member_ids(tx, &conv.id)?
                .into_iter()
                .filter(|u| *u != user.id)
                .collect();
            crate::events::emit(
                tx,
                "message.sent",
                Some(&m.id),
                Some(&user.id),
                &json!({"messageId": m.id, "conversationId": conv.id, "senderId": user.id,
                        "type": m.kind.as_str(), "recipientIds": recipients, "mentionIds": m.mentions}),
            )?;
            Ok(m.id)
        })
        .await?;
    // Rendered from a reader so the single writer only does the write.
    let chat = state.chat.clone();
    let doc = state.db.read(move |c| one_message(c, &chat, &id)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"success": true, "message": doc})),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MessageMarkReadBody {
    /// The conversation whose messages the caller has read.
    conversation: Option<String>,
}

/// Marks every message of others in the conversation read by the caller
/// and resets the caller's unread count.
#[utoipa::path(put, path = "/mark-read", tag = "messages", request_body = MessageMarkReadBody, security(("bearer" = [])),
    responses((status = 200, body = ChatDone), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn mark_read(
    State(state): State<AppState>,
    user: CurrentUser,
    AppJson(body): AppJson<MessageMarkReadBody>,
) -> ApiResult<Json<Value>> {
    let conversation = body
        .conversation
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::field("conversation", "Conversation ID is required"))?
        .to_string();
    let count = state
        .db
        .write(move |tx| {
            let (conv, _) = member_access(tx, &conversation, &user)?;
            let ids = store::mark_read(tx, &conv.id, &user.id, now_ms())?;
            if !ids.is_empty() {
                crate::events::emit(
                    tx,
                    "message.read",
                    Some(&conv.id),
                    Some(&user.id),
                    &json!({"conversationId": conv.id, "readerId": user.id, "messageIds": ids}),
                )?;
            }
            Ok(ids.len())
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Messages marked as read", "count": count}),
    ))
}

/// The message and the caller's membership of its conversation (404 otherwise).
fn message_access(conn: &Connection, id: &str, user: &CurrentUser) -> ApiResult<store::Message> {
    let missing = || ApiError::not_found("Message");
    if !is_valid_id(id) {
        return Err(missing());
    }
    let m = store::find_message(conn, id)?.ok_or_else(missing)?;
    if store::membership(conn, &m.conversation_id, &user.id)?.is_none() {
        return Err(missing());
    }
    Ok(m)
}

/// Hides a message from the caller's own list (idempotent).
#[utoipa::path(delete, path = "/{id}", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path, description = "Message id")),
    responses((status = 200, body = ChatDone), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn delete_for_me(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    state
        .db
        .write(move |tx| {
            let m = message_access(tx, &id, &user)?;
            store::hide_message(tx, &m.id, &user.id)
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Message deleted for you"}),
    ))
}

/// The sender blanks a message for everyone within `chat_delete_window_secs`
/// of sending; a "message deleted" placeholder stays.
#[utoipa::path(delete, path = "/{id}/everyone", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path, description = "Message id")),
    responses((status = 200, body = ChatDone), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn delete_for_everyone(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let window = state.chat.delete_window_secs;
    state
        .db
        .write(move |tx| {
            let m = message_access(tx, &id, &user)?;
            let now = now_ms();
            may_delete_for_everyone(
                m.sender_id.as_deref(),
                &user.id,
                m.is_deleted,
                m.created_at,
                now,
                window,
            )
            .map_err(|r| match r {
                DeleteRefusal::NotSender => {
                    ApiError::Forbidden("You can only delete your own messages for everyone".into())
                }
                DeleteRefusal::WindowPassed => ApiError::Forbidden(format!(
                    "Messages can only be deleted for everyone within {} of sending",
                    window_text(window)
                )),
                DeleteRefusal::AlreadyDeleted => {
                    ApiError::Conflict("The message is already deleted".into())
                }
            })?;
            store::delete_for_everyone(tx, &m, &user.id, now)?;
            crate::events::emit(
                tx,
                "message.deleted",
                Some(&m.id),
                Some(&user.id),
                &json!({"messageId": m.id, "conversationId": m.conversation_id}),
            )?;
            Ok(())
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Message deleted for everyone"}),
    ))
}

fn window_text(secs: u64) -> String {
    match secs {
        3600 => "1 hour".into(),
        s if s % 3600 == 0 => format!("{} hours", s / 3600),
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MessageReactionBody {
    /// The emoji (at most 16 characters); it replaces the caller's earlier one.
    emoji: Option<String>,
}

/// Sets the caller's one reaction on a message (social.md §3): a new emoji
/// replaces the earlier one, which keeps its `_id` and `createdAt`.
#[utoipa::path(post, path = "/{id}/reaction", tag = "messages", request_body = MessageReactionBody,
    security(("bearer" = [])), params(("id" = String, Path, description = "Message id")),
    responses((status = 200, body = ChatReactions), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn react(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<MessageReactionBody>,
) -> ApiResult<Json<Value>> {
    let emoji = parse_emoji(body.emoji.as_deref()).map_err(|m| ApiError::field("emoji", m))?;
    let reactions = change_reaction(&state, user, id, Some(emoji)).await?;
    Ok(Json(
        json!({"success": true, "message": "Reaction added successfully",
                   "reactions": reactions}),
    ))
}

/// Takes the caller's reaction off a message (an addition to the
/// original, which had no way to remove one).
#[utoipa::path(delete, path = "/{id}/reaction", tag = "messages",
    security(("bearer" = [])), params(("id" = String, Path, description = "Message id")),
    responses((status = 200, body = ChatReactions), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn unreact(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let reactions = change_reaction(&state, user, id, None).await?;
    Ok(Json(
        json!({"success": true, "message": "Reaction removed successfully",
                   "reactions": reactions}),
    ))
}

/// Sets (`Some`) or removes (`None`) the caller's reaction in one write,
/// emitting `message.reaction` when something changed; returns all reactions.
async fn change_reaction(
    state: &AppState,
    user: CurrentUser,
    id: String,
    emoji: Option<String>,
) -> ApiResult<Value> {
    state
        .db
        .write(move |tx| {
            let m = message_access(tx, &id, &user)?;
            if m.is_deleted {
                return Err(ApiError::Conflict("The message was deleted".into()));
            }
            let changed = match &emoji {
                Some(e) => store::set_reaction(tx, &m.id, &user.id, e, now_ms())?,
                None => store::remove_reaction(tx, &m.id, &user.id)?,
            };
            if changed {
                crate::events::emit(
                    tx,
                    "message.reaction",
                    Some(&m.id),
                    Some(&user.id),
                    &json!({"messageId": m.id, "conversationId": m.conversation_id, "authorId": m.sender_id,
                            "reactorId": user.id, "emoji": emoji, "added": emoji.is_some()}),
                )?;
            }
            let all = store::reactions(tx, &[m.id.as_str()])?;
            Ok(reactions_json(all.get(&m.id).map(Vec::as_slice).unwrap_or(&[])))
        })
        .await
}
