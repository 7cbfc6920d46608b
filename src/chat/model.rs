//! Chat's types and pure rules: what a conversation or message body must
//! hold, who may send what, the delete-for-everyone window, previews.
//! Everything here is free of HTTP and SQL and tested beside it.

use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::error::FieldError;
use crate::ids::is_valid_id;

/// The four kinds of conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationType {
    Direct,
    Group,
    Booking,
    Support,
}

impl ConversationType {
    pub fn parse(s: &str) -> Option<ConversationType> {
        Some(match s {
            "direct" => ConversationType::Direct,
            "group" => ConversationType::Group,
            "booking" => ConversationType::Booking,
            "support" => ConversationType::Support,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ConversationType::Direct => "direct",
            ConversationType::Group => "group",
            ConversationType::Booking => "booking",
            ConversationType::Support => "support",
        }
    }
}

/// What a message is; `System` is written by the server only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Text,
    Image,
    Video,
    Audio,
    Document,
    Location,
    Booking,
    VoiceCall,
    VideoCall,
    System,
}

impl MessageType {
    /// The types a client may send (`system` is not one of them).
    pub fn parse_sendable(s: &str) -> Option<MessageType> {
        Some(match s {
            "text" => MessageType::Text,
            "image" => MessageType::Image,
            "video" => MessageType::Video,
            "audio" => MessageType::Audio,
            "document" => MessageType::Document,
            "location" => MessageType::Location,
            "booking" => MessageType::Booking,
            "voice_call" => MessageType::VoiceCall,
            "video_call" => MessageType::VideoCall,
            _ => return None,
        })
    }

    /// Any stored type.
    pub fn parse(s: &str) -> Option<MessageType> {
        if s == "system" {
            return Some(MessageType::System);
        }
        Self::parse_sendable(s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Text => "text",
            MessageType::Image => "image",
            MessageType::Video => "video",
            MessageType::Audio => "audio",
            MessageType::Document => "document",
            MessageType::Location => "location",
            MessageType::Booking => "booking",
            MessageType::VoiceCall => "voice_call",
            MessageType::VideoCall => "video_call",
            MessageType::System => "system",
        }
    }

    /// Types that carry uploaded media.
    pub fn is_media(self) -> bool {
        matches!(
            self,
            MessageType::Image | MessageType::Video | MessageType::Audio | MessageType::Document
        )
    }

    pub fn is_call(self) -> bool {
        matches!(self, MessageType::VoiceCall | MessageType::VideoCall)
    }
}

/// `"a:b"` with the smaller id first: the one direct conversation of a pair.
pub fn direct_key(a: &str, b: &str) -> String {
    if a <= b {
        format!("{a}:{b}")
    } else {
        format!("{b}:{a}")
    }
}

// ---------------------------------------------------------------- conversations

/// `POST /conversations`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationCreateBody {
    /// `direct`, `group`, `booking` or `support`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// User ids besides the caller (the caller is always added).
    pub participants: Option<Vec<String>>,
    /// Group or support conversation name (required for a group).
    pub name: Option<String>,
    pub description: Option<String>,
    /// For `booking`: the booking (its customer and technician take part).
    pub booking: Option<String>,
}

/// A validated create request.
#[derive(Debug, Clone, PartialEq)]
pub struct NewConversation {
    pub kind: ConversationType,
    /// Everyone but the caller, deduplicated, in the order given.
    pub others: Vec<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub booking_id: Option<String>,
}

/// Longest conversation name.
pub const NAME_MAX: usize = 100;
/// Longest conversation description.
pub const DESCRIPTION_MAX: usize = 500;
/// Most members a group may have.
pub const GROUP_MAX: usize = 1000;

fn trimmed(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

fn err(errors: &mut Vec<FieldError>, field: &str, message: &str) {
    errors.push(FieldError {
        field: field.into(),
        message: message.into(),
    });
}

/// Checks a create body: the type, the participants (ids, not the caller
/// alone, exactly one other for direct), a name for groups.
pub fn parse_new_conversation(
    body: &ConversationCreateBody,
    caller_id: &str,
) -> Result<NewConversation, Vec<FieldError>> {
    let mut errors = Vec::new();
    let kind = body.kind.as_deref().and_then(ConversationType::parse);
    if kind.is_none() {
        err(&mut errors, "type", "Valid conversation type is required");
    }
    let mut others: Vec<String> = Vec::new();
    for (i, raw) in body.participants.iter().flatten().enumerate() {
        let id = raw.trim();
        if !is_valid_id(id) {
            err(
                &mut errors,
                &format!("participants[{i}]"),
                "Valid user ID is required",
            );
        } else if id != caller_id && !others.iter().any(|o| o == id) {
            others.push(id.to_string());
        }
    }
    let name = trimmed(&body.name);
    let description = trimmed(&body.description);
    if name.as_ref().is_some_and(|n| n.chars().count() > NAME_MAX) {
        err(&mut errors, "name", "Name must be at most 100 characters");
    }
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > DESCRIPTION_MAX)
    {
        err(
            &mut errors,
            "description",
            "Description must be at most 500 characters",
        );
    }
    let booking_id = trimmed(&body.booking);
    if booking_id.as_deref().is_some_and(|b| !is_valid_id(b)) {
        err(&mut errors, "booking", "Valid booking ID is required");
    }
    // The original's validator: at least one participant, whatever the type.
    // Support (the web client sends `[]`) and a named booking need none.
    let none_given = body.participants.as_ref().is_none_or(Vec::is_empty);
    let may_be_empty = kind == Some(ConversationType::Support)
        || (kind == Some(ConversationType::Booking) && booking_id.is_some());
    if kind.is_some() && none_given && !may_be_empty {
        err(
            &mut errors,
            "participants",
            "At least one participant is required",
        );
    }
    match kind {
        _ if none_given && !may_be_empty => {}
        Some(ConversationType::Direct) if others.len() != 1 => err(
            &mut errors,
            "participants",
            "A direct conversation has exactly one other participant",
        ),
        Some(ConversationType::Group) if others.is_empty() => err(
            &mut errors,
            "participants",
            "At least one participant is required",
        ),
        Some(ConversationType::Group) if others.len() + 1 > GROUP_MAX => err(
            &mut errors,
            "participants",
            "A group has at most 1000 participants",
        ),
        Some(ConversationType::Booking) if booking_id.is_none() && others.len() != 1 => err(
            &mut errors,
            "booking",
            "Name the booking, or the one other participant",
        ),
        _ => {}
    }
    if kind == Some(ConversationType::Group) && name.is_none() {
        err(&mut errors, "name", "A group needs a name");
    }
    match (kind, errors.is_empty()) {
        (Some(kind), true) => Ok(NewConversation {
            kind,
            others,
            name,
            description,
            booking_id,
        }),
        _ => Err(errors),
    }
}

/// `PUT /conversations/:id/settings`: the caller's own marks, and for
/// group admins the group's name and `settings`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationSettingsBody {
    pub is_muted: Option<bool>,
    /// ISO 8601 end of a mute (null: muted until unmuted).
    pub muted_until: Option<String>,
    pub is_pinned: Option<bool>,
    pub is_archived: Option<bool>,
    /// Group admins only.
    pub name: Option<String>,
    /// Group admins only.
    pub description: Option<String>,
    /// Group admins only.
    pub settings: Option<ConversationRulesBody>,
}

/// The group's rules.
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationRulesBody {
    pub allow_media_sharing: Option<bool>,
    pub allow_calls: Option<bool>,
    pub only_admins_can_send: Option<bool>,
}

/// The caller's per-conversation marks to change (`None`: leave as is).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct OwnMarks {
    pub is_muted: Option<bool>,
    /// `Some(None)` clears the end of a mute.
    pub muted_until: Option<Option<i64>>,
    pub is_pinned: Option<bool>,
    pub is_archived: Option<bool>,
}

/// Group-wide changes (admins only).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct GroupChange {
    pub name: Option<String>,
    pub description: Option<String>,
    pub allow_media_sharing: Option<bool>,
    pub allow_calls: Option<bool>,
    pub only_admins_can_send: Option<bool>,
}

impl GroupChange {
    pub fn is_empty(&self) -> bool {
        *self == GroupChange::default()
    }
}

/// Splits a settings body into the caller's marks and group changes.
pub fn parse_settings(
    body: &ConversationSettingsBody,
) -> Result<(OwnMarks, GroupChange), Vec<FieldError>> {
    let mut errors = Vec::new();
    let muted_until = match body.muted_until.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(s) => match crate::ids::parse_datetime(s) {
            Some(ms) => Some(Some(ms)),
            None => {
                err(
                    &mut errors,
                    "mutedUntil",
                    "mutedUntil must be an ISO 8601 date",
                );
                None
            }
        },
    };
    let own = OwnMarks {
        is_muted: body.is_muted.or(muted_until.flatten().map(|_| true)),
        muted_until,
        is_pinned: body.is_pinned,
        is_archived: body.is_archived,
    };
    let rules = body.settings.clone().unwrap_or_default();
    let group = GroupChange {
        name: trimmed(&body.name),
        description: body.description.as_ref().map(|d| d.trim().to_string()),
        allow_media_sharing: rules.allow_media_sharing,
        allow_calls: rules.allow_calls,
        only_admins_can_send: rules.only_admins_can_send,
    };
    if body.name.is_some() && group.name.is_none() {
        err(&mut errors, "name", "Name cannot be empty");
    }
    if group
        .name
        .as_ref()
        .is_some_and(|n| n.chars().count() > NAME_MAX)
    {
        err(&mut errors, "name", "Name must be at most 100 characters");
    }
    if group
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > DESCRIPTION_MAX)
    {
        err(
            &mut errors,
            "description",
            "Description must be at most 500 characters",
        );
    }
    if errors.is_empty() {
        Ok((own, group))
    } else {
        Err(errors)
    }
}

// ---------------------------------------------------------------- messages

/// A shared place: `coordinates [lng, lat]` or `latitude`/`longitude`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageLocationBody {
    pub coordinates: Option<Vec<f64>>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub address: Option<String>,
    pub name: Option<String>,
}

/// A call notice's details.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageCallBody {
    /// Seconds.
    pub duration: Option<u32>,
    /// `missed`, `completed` or `declined`.
    pub status: Option<String>,
}

/// `POST /messages`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageSendBody {
    pub conversation: Option<String>,
    /// One of text, image, video, audio, document, location, booking,
    /// voice_call, video_call (default text).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Required for text; a caption otherwise.
    pub text: Option<String>,
    /// The original's swagger name for `text` (used when `text` is absent).
    pub content: Option<String>,
    /// Media ids (or publicIds) the sender uploaded; required for media types.
    pub media: Option<Vec<String>>,
    pub location: Option<MessageLocationBody>,
    /// For `booking`: a booking the sender is a party to.
    pub booking: Option<String>,
    /// A message of the same conversation this one answers.
    pub reply_to: Option<String>,
    /// Participants mentioned.
    pub mentions: Option<Vec<String>>,
    pub call_info: Option<MessageCallBody>,
}

/// A place as stored and sent: `{coordinates: [lng, lat], address?, name?}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub lng: f64,
    pub lat: f64,
    pub address: Option<String>,
    pub name: Option<String>,
}

impl Place {
    pub fn to_json(&self) -> Value {
        let mut v = json!({"type": "Point", "coordinates": [self.lng, self.lat],
                           "latitude": self.lat, "longitude": self.lng});
        if let Some(a) = &self.address {
            v["address"] = json!(a);
        }
        if let Some(n) = &self.name {
            v["name"] = json!(n);
        }
        v
    }
}

/// A validated send request (media, booking and reply still to be checked
/// against the database).
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub conversation_id: String,
    pub kind: MessageType,
    pub text: Option<String>,
    pub media: Vec<String>,
    pub location: Option<Place>,
    pub booking_id: Option<String>,
    pub reply_to: Option<String>,
    pub mentions: Vec<String>,
    /// `{type: voice|video, duration, status}` for call notices.
    pub call_info: Option<Value>,
}

/// Most attachments on one message.
pub const MEDIA_MAX: usize = 10;

/// Checks a send body field by field (every failing field is listed).
pub fn parse_new_message(
    body: &MessageSendBody,
    text_max: usize,
) -> Result<NewMessage, Vec<FieldError>> {
    let mut errors = Vec::new();
    let conversation_id = trimmed(&body.conversation).filter(|c| is_valid_id(c));
    if conversation_id.is_none() {
        err(
            &mut errors,
            "conversation",
            "Valid conversation ID is required",
        );
    }
    let kind = match body.kind.as_deref().map(str::trim) {
        None | Some("") => Some(MessageType::Text),
        Some(s) => MessageType::parse_sendable(s),
    };
    if kind.is_none() {
        err(&mut errors, "type", "Valid message type is required");
    }
    let text = body
        .text
        .as_deref()
        .or(body.content.as_deref())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from);
    if text.as_ref().is_some_and(|t| t.chars().count() > text_max) {
        err(
            &mut errors,
            "text",
            &format!("Message text must be at most {text_max} characters"),
        );
    }
    let mut media = Vec::new();
    for (i, raw) in body.media.iter().flatten().enumerate() {
        let id = raw.trim();
        if id.is_empty() || id.len() > 200 {
            err(
                &mut errors,
                &format!("media[{i}]"),
                "Valid media ID is required",
            );
        } else if !media.iter().any(|m| m == id) {
            media.push(id.to_string());
        }
    }
    if media.len() > MEDIA_MAX {
        err(&mut errors, "media", "At most 10 attachments per message");
    }
    let location = body
        .location
        .as_ref()
        .and_then(|l| parse_place(l, &mut errors));
    let booking_id = trimmed(&body.booking);
    if booking_id.as_deref().is_some_and(|b| !is_valid_id(b)) {
        err(&mut errors, "booking", "Valid booking ID is required");
    }
    let reply_to = trimmed(&body.reply_to);
    if reply_to.as_deref().is_some_and(|r| !is_valid_id(r)) {
        err(&mut errors, "replyTo", "Valid message ID is required");
    }
    let mut mentions: Vec<String> = Vec::new();
    for (i, raw) in body.mentions.iter().flatten().enumerate() {
        let id = raw.trim();
        if !is_valid_id(id) {
            err(
                &mut errors,
                &format!("mentions[{i}]"),
                "Valid user ID is required",
            );
        } else if !mentions.iter().any(|m| m == id) {
            mentions.push(id.to_string());
        }
    }
    let mut call_info = None;
    if let Some(kind) = kind {
        match kind {
            MessageType::Text if text.is_none() => {
                err(&mut errors, "text", "Message text is required")
            }
            k if k.is_media() && media.is_empty() => err(
                &mut errors,
                "media",
                "At least one media ID is required for this message type",
            ),
            MessageType::Location if body.location.is_none() => {
                err(&mut errors, "location", "A location is required")
            }
            MessageType::Booking if booking_id.is_none() => {
                err(&mut errors, "booking", "A booking ID is required")
            }
            k if k.is_call() => {
                let info = body.call_info.as_ref();
                let status = info
                    .and_then(|c| c.status.as_deref())
                    .unwrap_or("completed");
                if !matches!(status, "missed" | "completed" | "declined") {
                    err(
                        &mut errors,
                        "callInfo.status",
                        "Call status must be missed, completed or declined",
                    );
                }
                call_info = Some(json!({
                    "type": if k == MessageType::VoiceCall { "voice" } else { "video" },
                    "duration": info.and_then(|c| c.duration).unwrap_or(0),
                    "status": status,
                }));
            }
            _ => {}
        }
        if !kind.is_media() && !media.is_empty() {
            err(&mut errors, "media", "Only media messages carry media");
        }
    }
    match (conversation_id, kind, errors.is_empty()) {
        (Some(conversation_id), Some(kind), true) => Ok(NewMessage {
            conversation_id,
            kind,
            text,
            media,
            location,
            booking_id,
            reply_to,
            mentions,
            call_info,
        }),
        _ => Err(errors),
    }
}

fn parse_place(l: &MessageLocationBody, errors: &mut Vec<FieldError>) -> Option<Place> {
    let (lng, lat) = match (&l.coordinates, l.latitude, l.longitude) {
        (Some(c), _, _) if c.len() == 2 => (c[0], c[1]),
        (None, Some(lat), Some(lng)) => (lng, lat),
        _ => {
            err(
                errors,
                "location",
                "Location needs coordinates [lng, lat] or latitude and longitude",
            );
            return None;
        }
    };
    if !(-180.0..=180.0).contains(&lng) || !(-90.0..=90.0).contains(&lat) {
        err(errors, "location", "Coordinates are out of range");
        return None;
    }
    let short = |s: &Option<String>| trimmed(s).map(|s| s.chars().take(300).collect());
    Some(Place {
        lng,
        lat,
        address: short(&l.address),
        name: short(&l.name),
    })
}

/// Longest emoji accepted in a reaction, in characters.
pub const EMOJI_MAX: usize = 16;

/// A reaction's emoji, trimmed: the original's 'Emoji is required' when
/// empty; our cap on its length.
pub fn parse_emoji(raw: Option<&str>) -> Result<String, String> {
    let e = raw.map(str::trim).unwrap_or("");
    if e.is_empty() {
        return Err("Emoji is required".into());
    }
    if e.chars().count() > EMOJI_MAX {
        return Err(format!("Emoji must be at most {EMOJI_MAX} characters"));
    }
    Ok(e.to_string())
}

/// What stops a participant from sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendRefusal {
    OnlyAdmins,
    NoMedia,
    NoCalls,
}

impl SendRefusal {
    pub fn message(self) -> &'static str {
        match self {
            SendRefusal::OnlyAdmins => "Only admins can send messages in this conversation",
            SendRefusal::NoMedia => "Media sharing is turned off in this conversation",
            SendRefusal::NoCalls => "Calls are turned off in this conversation",
        }
    }
}

/// The conversation-wide rules (`settings` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    pub allow_media_sharing: bool,
    pub allow_calls: bool,
    pub only_admins_can_send: bool,
}

impl Rules {
    pub fn to_json(self) -> Value {
        json!({"allowMediaSharing": self.allow_media_sharing, "allowCalls": self.allow_calls,
               "onlyAdminsCanSend": self.only_admins_can_send})
    }
}

/// Whether a member (`is_admin` of the conversation) may send `kind` under `rules`.
pub fn may_send(rules: Rules, is_admin: bool, kind: MessageType) -> Result<(), SendRefusal> {
    if rules.only_admins_can_send && !is_admin {
        return Err(SendRefusal::OnlyAdmins);
    }
    if kind.is_media() && !rules.allow_media_sharing {
        return Err(SendRefusal::NoMedia);
    }
    if kind.is_call() && !rules.allow_calls {
        return Err(SendRefusal::NoCalls);
    }
    Ok(())
}

/// Why a delete for everyone is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteRefusal {
    NotSender,
    WindowPassed,
    AlreadyDeleted,
}

/// Only the sender, within `window_secs` of sending (0: never), once.
pub fn may_delete_for_everyone(
    sender_id: Option<&str>,
    caller_id: &str,
    is_deleted: bool,
    sent_at_ms: i64,
    now_ms: i64,
    window_secs: u64,
) -> Result<(), DeleteRefusal> {
    if sender_id != Some(caller_id) {
        return Err(DeleteRefusal::NotSender);
    }
    if is_deleted {
        return Err(DeleteRefusal::AlreadyDeleted);
    }
    if now_ms - sent_at_ms > (window_secs as i64).saturating_mul(1000) || window_secs == 0 {
        return Err(DeleteRefusal::WindowPassed);
    }
    Ok(())
}

/// The list preview of a message: its text for text (and system) messages,
/// else `[<type>]`.
pub fn preview(kind: MessageType, text: Option<&str>) -> String {
    match (kind, text) {
        (MessageType::Text | MessageType::System, Some(t)) => t.chars().take(200).collect(),
        _ => format!("[{}]", kind.as_str()),
    }
}

/// The system line posted into a booking conversation when its status moves.
pub fn booking_status_line(booking_number: &str, to: &str) -> String {
    let what = match to {
        "awaiting_acceptance" => "is waiting for the technician to accept",
        "accepted" => "was accepted",
        "en_route" => "has a technician on the way",
        "arrived" => "has a technician on site",
        "in_progress" => "is in progress",
        "completed" => "was completed",
        "cancelled" => "was cancelled",
        "disputed" => "is disputed",
        "refunded" => "was refunded",
        "pending" => "is looking for a technician again",
        _ => "changed status",
    };
    format!("Booking {booking_number} {what} ({to})")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "aaaaaaaaaaaaaaaaaaaaaaaa";
    const YOU: &str = "bbbbbbbbbbbbbbbbbbbbbbbb";
    const THEM: &str = "cccccccccccccccccccccccc";

    fn conv(kind: &str, parts: &[&str], name: Option<&str>) -> ConversationCreateBody {
        ConversationCreateBody {
            kind: Some(kind.into()),
            participants: Some(parts.iter().map(|s| s.to_string()).collect()),
            name: name.map(String::from),
            ..Default::default()
        }
    }

    #[test]
    fn conversation_bodies() {
        // (body, Ok(others) or Err(fields))
        type Case = (
            ConversationCreateBody,
            Result<Vec<&'static str>, Vec<&'static str>>,
        );
        let cases: Vec<Case> = vec![
            (conv("direct", &[YOU], None), Ok(vec![YOU])),
            (conv("direct", &[YOU, ME, YOU], None), Ok(vec![YOU])),
            (conv("direct", &[ME], None), Err(vec!["participants"])),
            (
                conv("direct", &[YOU, THEM], None),
                Err(vec!["participants"]),
            ),
            (
                conv("group", &[YOU, THEM], Some("Crew")),
                Ok(vec![YOU, THEM]),
            ),
            (conv("group", &[YOU], None), Err(vec!["name"])),
            (conv("group", &[], Some("x")), Err(vec!["participants"])),
            (conv("group", &[], None), Err(vec!["participants", "name"])),
            (conv("support", &[], Some("Help")), Ok(vec![])),
            (conv("booking", &[YOU], None), Ok(vec![YOU])),
            (conv("booking", &[], None), Err(vec!["participants"])),
            (conv("direct", &[], None), Err(vec!["participants"])),
            (conv("chat", &[YOU], None), Err(vec!["type"])),
            (
                conv("direct", &["nope"], None),
                Err(vec!["participants[0]", "participants"]),
            ),
        ];
        for (body, want) in cases {
            let got = parse_new_conversation(&body, ME);
            match (got, want) {
                (Ok(n), Ok(others)) => assert_eq!(n.others, others, "{body:?}"),
                (Err(e), Err(fields)) => {
                    let got: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
                    assert_eq!(got, fields, "{body:?}");
                }
                (got, want) => panic!("{body:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    fn msg(kind: &str) -> MessageSendBody {
        MessageSendBody {
            conversation: Some(ME.into()),
            kind: Some(kind.into()),
            ..Default::default()
        }
    }

    #[test]
    fn message_bodies_per_type() {
        let with = |mut b: MessageSendBody, f: &dyn Fn(&mut MessageSendBody)| {
            f(&mut b);
            b
        };
        let cases: Vec<(MessageSendBody, Result<(), Vec<&str>>)> = vec![
            (with(msg("text"), &|b| b.text = Some(" hi ".into())), Ok(())),
            (msg("text"), Err(vec!["text"])),
            (
                with(msg("text"), &|b| b.text = Some("x".repeat(11))),
                Err(vec!["text"]),
            ),
            (msg("image"), Err(vec!["media"])),
            (
                with(msg("image"), &|b| b.media = Some(vec!["m1".into()])),
                Ok(()),
            ),
            (
                with(msg("text"), &|b| {
                    b.text = Some("x".into());
                    b.media = Some(vec!["m1".into()])
                }),
                Err(vec!["media"]),
            ),
            (msg("location"), Err(vec!["location"])),
            (
                with(msg("location"), &|b| {
                    b.location = Some(MessageLocationBody {
                        coordinates: Some(vec![36.8, -1.3]),
                        ..Default::default()
                    })
                }),
                Ok(()),
            ),
            (
                with(msg("location"), &|b| {
                    b.location = Some(MessageLocationBody {
                        latitude: Some(95.0),
                        longitude: Some(1.0),
                        ..Default::default()
                    })
                }),
                Err(vec!["location"]),
            ),
            (msg("booking"), Err(vec!["booking"])),
            (
                with(msg("booking"), &|b| b.booking = Some(YOU.into())),
                Ok(()),
            ),
            (msg("voice_call"), Ok(())),
            (
                with(msg("text"), &|b| b.content = Some("swagger".into())),
                Ok(()),
            ),
            (
                with(msg("video_call"), &|b| {
                    b.call_info = Some(MessageCallBody {
                        duration: Some(3),
                        status: Some("lost".into()),
                    })
                }),
                Err(vec!["callInfo.status"]),
            ),
            (msg("system"), Err(vec!["type"])),
            (
                with(msg("text"), &|b| {
                    b.text = Some("x".into());
                    b.conversation = Some("1".into());
                    b.reply_to = Some("2".into());
                }),
                Err(vec!["conversation", "replyTo"]),
            ),
        ];
        for (body, want) in cases {
            let got = parse_new_message(&body, 10);
            match (got, want) {
                (Ok(_), Ok(())) => {}
                (Err(e), Err(fields)) => {
                    let got: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
                    assert_eq!(got, fields, "{body:?}");
                }
                (got, want) => panic!("{body:?}: got {got:?}, want {want:?}"),
            }
        }
        let call = parse_new_message(&msg("video_call"), 10).unwrap();
        assert_eq!(call.call_info.unwrap()["type"], "video");
    }

    #[test]
    fn emojis() {
        assert_eq!(parse_emoji(Some(" 👍 ")), Ok("👍".to_string()));
        assert_eq!(parse_emoji(None), Err("Emoji is required".to_string()));
        assert_eq!(
            parse_emoji(Some("  ")),
            Err("Emoji is required".to_string())
        );
        assert!(parse_emoji(Some(&"x".repeat(17))).is_err());
    }

    #[test]
    fn who_may_send_what() {
        let open = Rules {
            allow_media_sharing: true,
            allow_calls: true,
            only_admins_can_send: false,
        };
        let locked = Rules {
            allow_media_sharing: false,
            allow_calls: false,
            only_admins_can_send: true,
        };
        assert_eq!(may_send(open, false, MessageType::Image), Ok(()));
        assert_eq!(
            may_send(locked, false, MessageType::Text),
            Err(SendRefusal::OnlyAdmins)
        );
        assert_eq!(
            may_send(locked, true, MessageType::Image),
            Err(SendRefusal::NoMedia)
        );
        assert_eq!(
            may_send(locked, true, MessageType::VoiceCall),
            Err(SendRefusal::NoCalls)
        );
        assert_eq!(may_send(locked, true, MessageType::Text), Ok(()));
    }

    #[test]
    fn delete_for_everyone_window() {
        let t = 1_000_000;
        let cases = [
            (Some(ME), ME, false, t, 3600, Ok(())),
            (Some(ME), ME, false, t + 3_600_000, 3600, Ok(())),
            (
                Some(ME),
                ME,
                false,
                t + 3_600_001,
                3600,
                Err(DeleteRefusal::WindowPassed),
            ),
            (Some(ME), ME, false, t, 0, Err(DeleteRefusal::WindowPassed)),
            (Some(YOU), ME, false, t, 3600, Err(DeleteRefusal::NotSender)),
            (None, ME, false, t, 3600, Err(DeleteRefusal::NotSender)),
            (
                Some(ME),
                ME,
                true,
                t,
                3600,
                Err(DeleteRefusal::AlreadyDeleted),
            ),
        ];
        for (sender, caller, deleted, now, window, want) in cases {
            assert_eq!(
                may_delete_for_everyone(sender, caller, deleted, t, now, window),
                want
            );
        }
    }

    #[test]
    fn previews_and_keys() {
        assert_eq!(preview(MessageType::Text, Some("hello")), "hello");
        assert_eq!(preview(MessageType::Image, Some("caption")), "[image]");
        assert_eq!(direct_key(YOU, ME), direct_key(ME, YOU));
        assert!(booking_status_line("BKG-1", "accepted").contains("accepted"));
    }

    #[test]
    fn settings_split() {
        let body = ConversationSettingsBody {
            is_pinned: Some(true),
            muted_until: Some("2030-01-01T00:00:00Z".into()),
            settings: Some(ConversationRulesBody {
                only_admins_can_send: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (own, group) = parse_settings(&body).unwrap();
        assert_eq!(own.is_pinned, Some(true));
        assert_eq!(own.is_muted, Some(true));
        assert!(own.muted_until.unwrap().is_some());
        assert_eq!(group.only_admins_can_send, Some(true));
        let bad = ConversationSettingsBody {
            muted_until: Some("soon".into()),
            name: Some("  ".into()),
            ..Default::default()
        };
        let fields: Vec<String> = parse_settings(&bad)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["mutedUntil", "name"]);
    }
}
