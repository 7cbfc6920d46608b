//! Documented shapes of the notifications endpoints: the wire keys the
//! handlers build (these types exist for the OpenAPI document).

#![allow(dead_code)]

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// One channel's outcome: `sent`, `failed`, and when known `sentAt`,
/// `error`, `heldUntil` (quiet hours) or `skipped` (e.g. no device).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationChannelStatusDoc {
    pub sent: bool,
    pub failed: bool,
    pub sent_at: Option<String>,
    pub error: Option<String>,
    pub held_until: Option<String>,
    pub skipped: Option<String>,
}

/// `{push, email, sms}`, always all three.
#[derive(Serialize, ToSchema)]
pub struct NotificationDeliveryDoc {
    pub push: NotificationChannelStatusDoc,
    pub email: NotificationChannelStatusDoc,
    pub sms: NotificationChannelStatusDoc,
}

/// The Notification document (the original's model, virtuals included).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationDoc {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub id: String,
    pub recipient: String,
    pub sender: Option<String>,
    /// One of the model's 35 types.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub body: String,
    pub image: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub action_data: Option<Value>,
    /// `baitech://<kind>/<id>`.
    pub deep_link: Option<String>,
    pub related_booking: Option<String>,
    pub related_post: Option<String>,
    pub related_review: Option<String>,
    pub related_message: Option<String>,
    pub related_transaction: Option<String>,
    pub is_read: bool,
    pub read_at: Option<String>,
    pub delivery_status: NotificationDeliveryDoc,
    /// `low`, `normal`, `high` or `urgent`.
    pub priority: String,
    /// `booking`, `payment`, `social`, `message`, `system` or `achievement`.
    pub category: String,
    pub expires_at: Option<String>,
    /// Present only when `expiresAt` is set.
    pub is_expired: Option<bool>,
    pub is_grouped: bool,
    pub group_key: Option<String>,
    pub group_count: i64,
    pub created_at: String,
    pub updated_at: String,
    #[serde(rename = "__v")]
    pub version: i64,
    /// `Just now`, `5m ago`, `3h ago`, `2d ago`.
    pub age: String,
}

/// `{success, count, total, unreadCount, page, pages, limit, notifications}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationList {
    pub success: bool,
    pub count: i64,
    pub total: i64,
    /// All unread notifications of the caller (expired included, filters ignored).
    pub unread_count: i64,
    pub page: i64,
    pub pages: i64,
    pub limit: i64,
    pub notifications: Vec<NotificationDoc>,
}

/// `{success, notification}`.
#[derive(Serialize, ToSchema)]
pub struct NotificationOne {
    pub success: bool,
    pub notification: NotificationDoc,
}

/// `{success, message, notification?, recipients?}`: a single notification
/// is returned; a broadcast answers how many it was queued for.
#[derive(Serialize, ToSchema)]
pub struct NotificationCreated {
    pub success: bool,
    pub message: String,
    pub notification: Option<NotificationDoc>,
    pub broadcast: Option<String>,
}

/// `{success, message}`.
#[derive(Serialize, ToSchema)]
pub struct NotificationDone {
    pub success: bool,
    pub message: String,
}

/// Quiet hours: local `HH:MM` times.
#[derive(Serialize, ToSchema)]
pub struct NotificationQuietHoursDoc {
    pub enabled: bool,
    pub start: String,
    pub end: String,
}

/// Preferences: flags per channel (`bookings`, `messages`, `marketing`,
/// `updates`, `social`) and quiet hours.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationPrefsDoc {
    pub email: BTreeMap<String, bool>,
    pub sms: BTreeMap<String, bool>,
    pub push: BTreeMap<String, bool>,
    pub quiet_hours: NotificationQuietHoursDoc,
}

/// `{success, preferences}` (PUT adds `message`).
#[derive(Serialize, ToSchema)]
pub struct NotificationPrefsAnswer {
    pub success: bool,
    pub message: Option<String>,
    pub preferences: NotificationPrefsDoc,
}

/// A channel's setting: a boolean (every flag) or an object of flags.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum NotificationChannelSetting {
    All(bool),
    Flags(BTreeMap<String, bool>),
}

/// PUT /preferences: any of the channels (also under the original's
/// `emailNotifications`, `pushNotifications`, `smsNotifications`) and quiet hours.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationPrefsBody {
    pub email: Option<NotificationChannelSetting>,
    pub push: Option<NotificationChannelSetting>,
    pub sms: Option<NotificationChannelSetting>,
    pub email_notifications: Option<NotificationChannelSetting>,
    pub push_notifications: Option<NotificationChannelSetting>,
    pub sms_notifications: Option<NotificationChannelSetting>,
    #[schema(value_type = Option<Object>)]
    pub quiet_hours: Option<Value>,
}

/// POST (admin): to `recipient`, or `broadcast` to `all` or a role.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationCreateBody {
    pub recipient: Option<String>,
    pub broadcast: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub message: String,
    pub category: Option<String>,
    pub priority: Option<String>,
    /// `push`, `email`, `sms` (default `["push"]`).
    pub channels: Option<Vec<String>>,
    pub deep_link: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub action_data: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
    pub image: Option<String>,
    pub expires_at: Option<String>,
}
