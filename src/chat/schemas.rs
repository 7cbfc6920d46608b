//! Documented shapes of the conversation and message endpoints: the wire
//! keys the handlers build (these types exist for the OpenAPI document).

#![allow(dead_code)]

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// A conversation (social.md §2's recommended wire form).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationDoc {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub id: String,
    /// direct, group, booking or support.
    #[serde(rename = "type")]
    pub kind: String,
    /// Populated users; each also carries `user` (the same card) and its `unreadCount`.
    #[schema(value_type = Vec<Object>)]
    pub participants: Vec<Value>,
    /// `{user, role, unreadCount, isMuted, mutedUntil?, isPinned, isArchived, lastReadAt?, joinedAt}` per member.
    #[schema(value_type = Vec<Object>)]
    pub participant_settings: Vec<Value>,
    pub admins: Vec<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    /// A booking conversation's booking: its id, populated by `GET /conversations/{id}`.
    pub booking: Option<ConversationBookingRef>,
    /// `{_id, text, sender: {_id, id, firstName, lastName, fullName, age}, timestamp}`.
    #[schema(value_type = Option<Object>)]
    pub last_message: Option<Value>,
    pub last_message_at: String,
    pub status: String,
    pub created_by: Option<String>,
    /// `{allowMediaSharing, allowCalls, onlyAdminsCanSend}`.
    #[schema(value_type = Object)]
    pub settings: Value,
    /// `{totalMessages, lastActivity}`.
    #[schema(value_type = Object)]
    pub metadata: Value,
    pub participant_count: i64,
    /// The caller's unread messages here.
    pub unread_count: i64,
    pub created_at: String,
    pub updated_at: String,
    #[serde(rename = "__v")]
    pub version: i64,
}

/// The booking of a booking conversation: an id in lists and answers to
/// writes; the whole Booking document in `GET /conversations/{id}`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum ConversationBookingRef {
    Id(String),
    Booking(Box<crate::bookings::schemas::Booking>),
}

/// `{success, message?, conversation}`.
#[derive(Serialize, ToSchema)]
pub struct ConversationOne {
    pub success: bool,
    pub message: Option<String>,
    pub conversation: ConversationDoc,
}

/// `{success, count, total, page, pages, limit, conversations}`.
#[derive(Serialize, ToSchema)]
pub struct ConversationList {
    pub success: bool,
    pub count: i64,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
    pub limit: i64,
    pub conversations: Vec<ConversationDoc>,
}

/// `{success, message, settings, conversation}`.
#[derive(Serialize, ToSchema)]
pub struct ConversationSettingsSaved {
    pub success: bool,
    pub message: String,
    /// The caller's own entry of `participantSettings`.
    #[schema(value_type = Object)]
    pub settings: Value,
    pub conversation: ConversationDoc,
}

/// A message (social.md §3), with plaintext `text` and populated `sender`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessageDoc {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub id: String,
    pub conversation: String,
    /// The populated sender; null for system messages.
    #[schema(value_type = Option<Object>)]
    pub sender: Option<Value>,
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
    pub is_encrypted: bool,
    /// sent, delivered or read.
    pub status: String,
    /// `{type, url, publicId, thumbnail?, filename?, size, mimeType, duration?, width?, height?}`,
    /// or for a place `{type: location, url: geo:<lat>,<lng>, coordinates: {latitude, longitude}, locationName?}`.
    #[schema(value_type = Vec<Object>)]
    pub attachments: Vec<Value>,
    pub mentions: Vec<String>,
    #[schema(value_type = Option<Object>)]
    pub location: Option<Value>,
    pub booking_ref: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub call_info: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub system_info: Option<Value>,
    /// The answered message `{_id, type, text, sender, isDeleted}`.
    #[schema(value_type = Option<Object>)]
    pub reply_to: Option<Value>,
    /// `[{user, readAt}]`.
    #[schema(value_type = Vec<Object>)]
    pub read_by: Vec<Value>,
    /// `[{user, deliveredAt}]`.
    #[schema(value_type = Vec<Object>)]
    pub delivered_to: Vec<Value>,
    pub reactions: Vec<ChatReactionDoc>,
    pub is_edited: bool,
    pub is_deleted: bool,
    /// Deleted for everyone: when and by whom, and the text to show instead.
    pub deleted_at: Option<String>,
    pub deleted_by: Option<String>,
    pub placeholder: Option<String>,
    pub deleted_for: Vec<String>,
    pub is_read: bool,
    pub read_count: i64,
    pub created_at: String,
    pub updated_at: String,
    #[serde(rename = "__v")]
    pub version: i64,
}

/// `{success, message}` where `message` is the sent message object.
#[derive(Serialize, ToSchema)]
pub struct ChatMessageSent {
    pub success: bool,
    pub message: ChatMessageDoc,
}

/// `{success, count, total, page, pages, limit, messages}`.
#[derive(Serialize, ToSchema)]
pub struct ChatMessageList {
    pub success: bool,
    pub count: i64,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
    pub limit: i64,
    pub messages: Vec<ChatMessageDoc>,
}

/// `{success, message, reactions}`: every reaction on the message, at most one per user.
#[derive(Serialize, ToSchema)]
pub struct ChatReactions {
    pub success: bool,
    pub message: String,
    pub reactions: Vec<ChatReactionDoc>,
}

/// One reaction: `{_id, id, user, emoji, createdAt}` (`user` is an id).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatReactionDoc {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub id: String,
    pub user: String,
    pub emoji: String,
    pub created_at: String,
}

/// `{success, message, count?}`.
#[derive(Serialize, ToSchema)]
pub struct ChatDone {
    pub success: bool,
    pub message: String,
    /// Messages newly marked read (mark-read only).
    pub count: Option<i64>,
}
