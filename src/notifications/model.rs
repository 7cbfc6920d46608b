//! Notification types, the event → notification mapping table, preferences,
//! quiet hours, grouping and the document's derived keys: pure rules, unit
//! tested here, no database and no HTTP.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::error::FieldError;

/// The model's 35 types, as the wire spells them.
pub const TYPES: [&str; 35] = [
    "booking_created",
    "booking_assigned",
    "booking_accepted",
    "booking_rejected",
    "booking_started",
    "booking_completed",
    "booking_cancelled",
    "booking_reminder",
    "payment_received",
    "payment_sent",
    "payment_failed",
    "payout_processed",
    "refund_processed",
    "new_message",
    "message_reaction",
    "mention",
    "new_follower",
    "post_liked",
    "post_commented",
    "post_shared",
    "comment_liked",
    "comment_reply",
    "review_received",
    "review_response",
    "account_verified",
    "profile_approved",
    "profile_rejected",
    "subscription_expiring",
    "subscription_renewed",
    "promotion",
    "system_update",
    "security_alert",
    "milestone_reached",
    "badge_earned",
    "level_up",
];

/// The six categories.
pub const CATEGORIES: [&str; 6] = [
    "booking",
    "payment",
    "social",
    "message",
    "system",
    "achievement",
];

/// The four priorities, lowest first.
pub const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];

/// The wire's recommended category of a type (`None` for an unknown type).
pub fn category_of(kind: &str) -> Option<&'static str> {
    if !TYPES.contains(&kind) {
        return None;
    }
    Some(match kind {
        k if k.starts_with("booking_") => "booking",
        k if k.starts_with("payment_") => "payment",
        "payout_processed" | "refund_processed" => "payment",
        "new_message" | "message_reaction" | "mention" => "message",
        "new_follower" => "social",
        k if k.starts_with("post_") || k.starts_with("comment_") || k.starts_with("review_") => {
            "social"
        }
        "milestone_reached" | "badge_earned" | "level_up" => "achievement",
        _ => "system",
    })
}

/// Channels besides in-app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    Push,
    Email,
    Sms,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Push, Channel::Email, Channel::Sms];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Push => "push",
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Channels a type goes out on by default (before preferences): push for
/// everything; email for what a user wants on record (bookings, money,
/// account); SMS only for what matters when offline.
pub fn default_channels(kind: &str) -> Vec<Channel> {
    let mut out = vec![Channel::Push];
    let email = matches!(
        kind,
        "booking_created"
            | "booking_assigned"
            | "booking_accepted"
            | "booking_cancelled"
            | "booking_completed"
            | "booking_reminder"
            | "payment_received"
            | "payment_sent"
            | "payment_failed"
            | "payout_processed"
            | "refund_processed"
            | "review_received"
            | "profile_approved"
            | "profile_rejected"
            | "account_verified"
            | "security_alert"
    );
    let sms = matches!(
        kind,
        "booking_created"
            | "booking_assigned"
            | "booking_accepted"
            | "booking_cancelled"
            | "booking_reminder"
            | "payment_received"
            | "payout_processed"
            | "security_alert"
    );
    if email {
        out.push(Channel::Email);
    }
    if sms {
        out.push(Channel::Sms);
    }
    out
}

// ------------------------------------------------------------ the mapping

/// Who receives a rule's notification: payload keys holding one id or an
/// array of ids, or the event's subject.
#[derive(Debug, Clone, Copy)]
pub enum Who {
    Key(&'static str),
    Subject,
}

/// One row of the mapping table: an event kind (optionally only when
/// payload keys hold given values) becomes a notification of `kind` for
/// `to`, with a title, a body template (`{key}` is replaced by the
/// payload's value), a priority and a deep link `baitech://<link.0>/<id>`
/// where the id is the payload's `link.1` key (or the subject).
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub event: &'static str,
    pub when: &'static [(&'static str, &'static str)],
    pub kind: &'static str,
    pub to: &'static [Who],
    pub title: &'static str,
    pub body: &'static str,
    pub priority: &'static str,
    pub link: (&'static str, Who),
    /// Whether the actor may be told of their own action (money and
    /// security alerts about one's own account); otherwise the actor is skipped.
    pub tell_actor: bool,
    /// Payload key whose value groups repeats (`<kind>:<value>`).
    pub group_by: Option<&'static str>,
}

#[allow(clippy::too_many_arguments)] // one table row: the fields in reading order
const fn rule(
    event: &'static str,
    when: &'static [(&'static str, &'static str)],
    kind: &'static str,
    to: &'static [Who],
    title: &'static str,
    body: &'static str,
    priority: &'static str,
    link: (&'static str, Who),
) -> Rule {
    Rule {
        event,
        when,
        kind,
        to,
        title,
        body,
        priority,
        link,
        tell_actor: false,
        group_by: None,
    }
}

const fn own(mut r: Rule) -> Rule {
    r.tell_actor = true;
    r
}

const fn grouped(mut r: Rule, key: &'static str) -> Rule {
    r.group_by = Some(key);
    r
}

use Who::{Key, Subject};

const CUSTOMER: &[Who] = &[Key("customerId")];
const TECHNICIAN: &[Who] = &[Key("technicianId")];
const BOTH: &[Who] = &[Key("customerId"), Key("technicianId")];
const BOOKING: (&str, Who) = ("booking", Subject);
const BOOKING_OF_PAYMENT: (&str, Who) = ("booking", Key("bookingId"));
const TRANSACTION: (&str, Who) = ("transaction", Subject);
const SECURITY: (&str, Who) = ("settings", Key("-security"));

/// THE mapping: every domain event that tells someone something. Events of
/// modules still being written (chat, posts, support) are mapped with the
/// payload keys they promise; adding a kind is one row here.
#[rustfmt::skip]
pub static RULES: &[Rule] = &[
    // bookings
    rule("booking.created", &[("status", "awaiting_acceptance")], "booking_created", TECHNICIAN,
         "New Booking Request", "You have a new booking request; please accept or decline it", "high", BOOKING),
    rule("booking.status_changed", &[("to", "awaiting_acceptance")], "booking_assigned", TECHNICIAN,
         "Booking Assigned", "A booking was assigned to you; please accept or decline it", "high", BOOKING),
    rule("booking.status_changed", &[("to", "accepted")], "booking_accepted", CUSTOMER,
         "Booking Update", "Your booking has been accepted by the technician", "normal", BOOKING),
    rule("booking.status_changed", &[("from", "awaiting_acceptance"), ("to", "pending")], "booking_rejected", CUSTOMER,
         "Booking Update", "The technician declined your booking; we are finding another", "normal", BOOKING),
    rule("booking.status_changed", &[("to", "in_progress")], "booking_started", CUSTOMER,
         "Booking Update", "Your booking is now in progress", "normal", BOOKING),
    rule("booking.status_changed", &[("to", "completed")], "booking_completed", BOTH,
         "Booking Update", "Your booking has been completed", "normal", BOOKING),
    rule("booking.status_changed", &[("to", "cancelled")], "booking_cancelled", BOTH,
         "Booking Update", "Your booking has been cancelled", "high", BOOKING),
    own(rule("booking.reminder_due", &[], "booking_reminder", BOTH,
         "Booking Reminder", "Your booking starts at {startsAt}", "high", BOOKING)),
    // payments
    own(rule("payment.held", &[], "payment_sent", &[Key("payerId")],
         "Payment Sent", "Your payment of {currency} {amount} is held safely until the job is done", "normal", BOOKING_OF_PAYMENT)),
    rule("payment.held", &[], "payment_received", &[Key("payeeId")],
         "Payment Received", "{currency} {amount} was paid for your booking and is held in escrow", "normal", BOOKING_OF_PAYMENT),
    own(rule("payment.released", &[], "payment_received", &[Key("payeeId")],
         "Payment Received", "{currency} {net} was released to your wallet", "normal", TRANSACTION)),
    own(rule("wallet.credited", &[], "payment_received", &[Key("payerId")],
         "Payment Received", "{currency} {amount} was added to your wallet", "normal", TRANSACTION)),
    own(rule("payment.failed", &[], "payment_failed", &[Key("payerId")],
         "Payment Failed", "Your payment of {currency} {amount} failed", "high", TRANSACTION)),
    own(rule("payment.refunded", &[], "refund_processed", &[Key("payerId")],
         "Refund Processed", "{currency} {refundAmount} was refunded to you", "normal", TRANSACTION)),
    own(rule("wallet.withdrawal_settled", &[], "payout_processed", &[Key("payerId")],
         "Payout Processed", "{currency} {amount} was sent to your M-Pesa", "normal", TRANSACTION)),
    // reviews and follows
    rule("review.created", &[], "review_received", &[Key("revieweeId")],
         "New Review", "You received a {rating}-star review", "low", ("review", Subject)),
    rule("review.responded", &[], "review_response", &[Key("reviewerId")],
         "Review Response", "Your review received a response", "low", ("review", Subject)),
    grouped(rule("user.followed", &[], "new_follower", &[Key("followingId")],
         "New Follower", "Someone started following you", "low", ("user", Key("followerId"))), "followingId"),
    // account
    own(rule("user.kyc_reviewed", &[("status", "approved")], "profile_approved", &[Key("userId")],
         "Profile Approved", "Your identity verification was approved", "high", ("profile", Key("userId")))),
    own(rule("user.kyc_reviewed", &[("status", "rejected")], "profile_rejected", &[Key("userId")],
         "Profile Rejected", "Your identity verification was rejected: {reason}", "high", ("profile", Key("userId")))),
    own(rule("user.new_device_login", &[], "security_alert", &[Subject],
         "New Sign-in", "Your account was signed in from a new device ({device})", "urgent", SECURITY)),
    own(rule("user.password_changed", &[], "security_alert", &[Subject],
         "Password Changed", "Your password was changed. If this was not you, reset it now", "high", SECURITY)),
    own(rule("user.password_reset", &[], "security_alert", &[Subject],
         "Password Reset", "Your password was reset. If this was not you, contact support", "high", SECURITY)),
    own(rule("user.2fa_disabled", &[], "security_alert", &[Subject],
         "Two-Factor Authentication Off", "Two-factor authentication was turned off on your account", "urgent", SECURITY)),
    // chat (recipientIds holds only participants who have not muted the conversation)
    // A system line (a booking's status change) is already notified as that change.
    grouped(rule("message.sent", &[("type", "!system")], "new_message", &[Key("recipientIds")],
         "New Message", "You have a new message", "normal", ("conversation", Key("conversationId"))), "conversationId"),
    rule("message.sent", &[("type", "!system")], "mention", &[Key("mentionIds")],
         "Mention", "You were mentioned in a conversation", "high", ("conversation", Key("conversationId"))),
    rule("message.reaction", &[("added", "true")], "message_reaction", &[Key("authorId")],
         "New Reaction", "Someone reacted {emoji} to your message", "low", ("conversation", Key("conversationId"))),
    // posts
    rule("post.created", &[], "mention", &[Key("mentionIds")],
         "Mention", "You were mentioned in a post", "normal", ("post", Key("postId"))),
    grouped(rule("post.liked", &[], "post_liked", &[Key("authorId")],
         "Post Liked", "Someone liked your post", "low", ("post", Key("postId"))), "postId"),
    grouped(rule("post.commented", &[], "post_commented", &[Key("authorId")],
         "New Comment", "Someone commented on your post", "normal", ("post", Key("postId"))), "postId"),
    rule("post.shared", &[], "post_shared", &[Key("authorId")],
         "Post Shared", "Someone shared your post", "low", ("post", Key("postId"))),
    rule("post.removed", &[], "system_update", &[Key("authorId")],
         "Post Removed", "Your post was removed: {reason}", "high", ("post", Key("postId"))),
    // support
    rule("ticket.replied", &[("fromStaff", "true")], "system_update", &[Key("customerId")],
         "Support Reply", "Support replied to ticket {ticketNumber}", "normal", ("ticket", Key("ticketId"))),
    rule("ticket.replied", &[("fromStaff", "false")], "system_update", &[Key("assigneeId")],
         "Customer Reply", "The customer replied to ticket {ticketNumber}", "normal", ("ticket", Key("ticketId"))),
    rule("ticket.assigned", &[], "system_update", &[Key("assigneeId")],
         "Ticket Assigned", "Ticket {ticketNumber} was assigned to you", "normal", ("ticket", Key("ticketId"))),
    rule("ticket.escalated", &[], "system_update", &[Key("assigneeId")],
         "Ticket Escalated", "Ticket {ticketNumber} was escalated to level {level}", "high", ("ticket", Key("ticketId"))),
    rule("ticket.sla_warning", &[], "system_update", &[Key("assigneeId")],
         "SLA Warning", "Ticket {ticketNumber}: the {clock} deadline is near", "high", ("ticket", Key("ticketId"))),
    rule("ticket.sla_breached", &[], "system_update", &[Key("assigneeId")],
         "SLA Breached", "Ticket {ticketNumber}: the {clock} deadline has passed", "urgent", ("ticket", Key("ticketId"))),
    rule("ticket.status_changed", &[], "system_update", &[Key("customerId")],
         "Ticket Update", "Ticket {ticketNumber} is now {to}", "low", ("ticket", Key("ticketId"))),
];

/// The facts of one event the mapping reads.
#[derive(Debug, Clone)]
pub struct EventFacts<'a> {
    pub kind: &'a str,
    pub subject_id: Option<&'a str>,
    pub actor_id: Option<&'a str>,
    pub payload: &'a Value,
}

/// What one notification will hold, before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub recipient_id: String,
    pub sender_id: Option<String>,
    pub kind: String,
    pub category: String,
    pub title: String,
    pub body: String,
    pub image: Option<String>,
    pub priority: String,
    pub deep_link: Option<String>,
    pub action_data: Option<Value>,
    pub related: Related,
    pub group_key: Option<String>,
    pub expires_at: Option<i64>,
    /// Channels asked for (preferences still apply).
    pub channels: Vec<Channel>,
    /// For a new message: the conversation whose viewers need no notification.
    pub unless_viewing: Option<String>,
}

/// The `related*` ids of a notification.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Related {
    pub booking: Option<String>,
    pub post: Option<String>,
    pub review: Option<String>,
    pub message: Option<String>,
    pub transaction: Option<String>,
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn who_values(who: Who, e: &EventFacts) -> Vec<String> {
    match who {
        Subject => e.subject_id.map(str::to_string).into_iter().collect(),
        Key(k) if k.starts_with('-') => vec![k[1..].to_string()],
        Key(k) => match e.payload.get(k) {
            Some(Value::Array(items)) => items.iter().filter_map(text_of).collect(),
            Some(v) => text_of(v).into_iter().collect(),
            None => Vec::new(),
        },
    }
}

/// Replaces every `{key}` by the payload's value (empty when absent).
pub fn fill(template: &str, payload: &Value) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        match rest[start..].find('}') {
            Some(len) => {
                let key = &rest[start + 1..start + len];
                if let Some(v) = payload.get(key).and_then(text_of) {
                    out.push_str(&v);
                }
                rest = &rest[start + len + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out.trim_end_matches([':', ' ']).to_string()
}

/// Every `(key, value)` of the rule holds; a value written `!x` means the
/// key is anything but `x` (or absent).
fn matches_when(rule: &Rule, payload: &Value) -> bool {
    rule.when.iter().all(|(k, want)| {
        let got = payload.get(*k).and_then(text_of);
        match want.strip_prefix('!') {
            Some(not) => got.is_none_or(|v| v != not),
            None => got.is_some_and(|v| v == *want),
        }
    })
}

/// Every notification one event produces, by the [`RULES`] table: one draft
/// per rule and recipient (a recipient named twice by one rule once; the
/// actor skipped unless the rule says otherwise).
pub fn plan(e: &EventFacts) -> Vec<Draft> {
    let mut out: Vec<Draft> = Vec::new();
    for rule in RULES
        .iter()
        .filter(|r| r.event == e.kind && matches_when(r, e.payload))
    {
        let link_id = who_values(rule.link.1, e).into_iter().next();
        let deep_link = link_id
            .as_ref()
            .map(|id| format!("baitech://{}/{}", rule.link.0, id));
        let mut related = Related::default();
        let slot = match rule.link.0 {
            "booking" => Some(&mut related.booking),
            "post" => Some(&mut related.post),
            "review" => Some(&mut related.review),
            "transaction" => Some(&mut related.transaction),
            _ => None,
        };
        if let Some(slot) = slot {
            slot.clone_from(&link_id);
        }
        if let Some(b) = e.payload.get("bookingId").and_then(text_of) {
            related.booking = Some(b);
        }
        if let Some(t) = e.payload.get("transactionId").and_then(text_of) {
            related.transaction = Some(t);
        }
        if let Some(m) = e.payload.get("messageId").and_then(text_of) {
            related.message = Some(m);
        }
        let mut action = Map::new();
        action.insert("type".into(), json!(rule.kind));
        action.insert("event".into(), json!(e.kind));
        if let Some(id) = &link_id {
            action.insert(format!("{}Id", rule.link.0), json!(id));
        }
        let group_key = rule.group_by.and_then(|k| {
            e.payload
                .get(k)
                .and_then(text_of)
                .map(|v| format!("{}:{v}", rule.kind))
        });
        let unless_viewing = (rule.kind == "new_message")
            .then(|| e.payload.get("conversationId").and_then(text_of))
            .flatten();
        for recipient in rule.to.iter().flat_map(|w| who_values(*w, e)) {
            if !crate::ids::is_valid_id(&recipient) {
                continue;
            }
            if !rule.tell_actor && Some(recipient.as_str()) == e.actor_id {
                continue;
            }
            if out
                .iter()
                .any(|d| d.recipient_id == recipient && d.kind == rule.kind)
            {
                continue;
            }
            out.push(Draft {
                recipient_id: recipient,
                sender_id: e
                    .actor_id
                    .filter(|a| crate::ids::is_valid_id(a))
                    .map(str::to_string),
                kind: rule.kind.to_string(),
                category: category_of(rule.kind).unwrap_or("system").to_string(),
                title: rule.title.to_string(),
                body: fill(rule.body, e.payload),
                image: None,
                priority: rule.priority.to_string(),
                deep_link: deep_link.clone(),
                action_data: Some(Value::Object(action.clone())),
                related: related.clone(),
                group_key: group_key.clone(),
                expires_at: None,
                channels: default_channels(rule.kind),
                unless_viewing: unless_viewing.clone(),
            });
        }
    }
    out
}

// ------------------------------------------------------------ preferences

/// A user's preferences: per channel, flags by preference key (the wire's
/// shape (a): `bookings`, `messages`, `marketing`, `updates`, `social`),
/// and quiet hours.
#[derive(Debug, Clone, PartialEq)]
pub struct Preferences {
    pub email: BTreeMap<String, bool>,
    pub sms: BTreeMap<String, bool>,
    pub push: BTreeMap<String, bool>,
    pub quiet: QuietHours,
}

/// Local times (minutes after midnight) between which push and SMS wait.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuietHours {
    pub enabled: bool,
    pub start: u32,
    pub end: u32,
}

fn flags(pairs: &[(&str, bool)]) -> BTreeMap<String, bool> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

impl Default for Preferences {
    /// The wire's defaults for `User.notificationPreferences`; quiet hours off (22:00-07:00 when turned on).
    fn default() -> Self {
        Preferences {
            email: flags(&[
                ("bookings", true),
                ("messages", true),
                ("marketing", false),
                ("updates", true),
            ]),
            sms: flags(&[
                ("bookings", true),
                ("messages", false),
                ("marketing", false),
            ]),
            push: flags(&[
                ("bookings", true),
                ("messages", true),
                ("social", true),
                ("updates", true),
            ]),
            quiet: QuietHours {
                enabled: false,
                start: 22 * 60,
                end: 7 * 60,
            },
        }
    }
}

fn hhmm(m: u32) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && s.trim().len() == 5).then_some(h * 60 + m)
}

impl Preferences {
    /// The flags of one channel.
    pub fn channel(&self, c: Channel) -> &BTreeMap<String, bool> {
        match c {
            Channel::Push => &self.push,
            Channel::Email => &self.email,
            Channel::Sms => &self.sms,
        }
    }

    fn channel_mut(&mut self, c: Channel) -> &mut BTreeMap<String, bool> {
        match c {
            Channel::Push => &mut self.push,
            Channel::Email => &mut self.email,
            Channel::Sms => &mut self.sms,
        }
    }

    /// Whether `kind` (of `category`) may go out on `channel`. Security
    /// alerts always do: they are how a user learns someone else is in.
    pub fn allows(&self, channel: Channel, kind: &str, category: &str) -> bool {
        if kind == "security_alert" {
            return true;
        }
        let key = preference_key(kind, category);
        self.channel(channel).get(key).copied().unwrap_or(false)
    }

    /// The stored and answered shape: `{email, sms, push, quietHours}`.
    pub fn to_json(&self) -> Value {
        json!({
            "email": self.email,
            "sms": self.sms,
            "push": self.push,
            "quietHours": {"enabled": self.quiet.enabled, "start": hhmm(self.quiet.start), "end": hhmm(self.quiet.end)},
        })
    }

    /// Reads the stored JSON over the defaults (unknown or bad parts ignored).
    pub fn from_stored(v: &Value) -> Preferences {
        let mut p = Preferences::default();
        let _ = p.apply(v);
        p
    }

    /// Applies a PUT body: `email` / `push` / `sms` (or the original's
    /// `emailNotifications` / `pushNotifications` / `smsNotifications`) as a
    /// boolean (every flag of the channel) or an object of booleans (those
    /// flags), and `quietHours: {enabled, start: "HH:MM", end: "HH:MM"}`.
    /// Every bad field is named.
    pub fn apply(&mut self, body: &Value) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let Some(obj) = body.as_object() else {
            return Err(vec![FieldError {
                field: "body".into(),
                message: "Preferences must be an object".into(),
            }]);
        };
        for channel in Channel::ALL {
            let name = channel.as_str();
            let legacy = format!("{name}Notifications");
            for field in [name, legacy.as_str()] {
                match obj.get(field) {
                    None | Some(Value::Null) => {}
                    Some(Value::Bool(on)) => {
                        for v in self.channel_mut(channel).values_mut() {
                            *v = *on;
                        }
                    }
                    Some(Value::Object(map)) => {
                        for (k, v) in map {
                            if k.starts_with('$') || k.contains('.') {
                                continue;
                            }
                            match v {
                                Value::Bool(b) => {
                                    self.channel_mut(channel).insert(k.clone(), *b);
                                }
                                _ => errors.push(FieldError {
                                    field: format!("{field}.{k}"),
                                    message: format!("{field}.{k} must be true or false"),
                                }),
                            }
                        }
                    }
                    Some(_) => errors.push(FieldError {
                        field: field.to_string(),
                        message: format!("{field} must be a boolean or an object of booleans"),
                    }),
                }
            }
        }
        match obj.get("quietHours") {
            None | Some(Value::Null) => {}
            Some(Value::Object(q)) => {
                match q.get("enabled") {
                    None => {}
                    Some(Value::Bool(b)) => self.quiet.enabled = *b,
                    Some(_) => errors.push(FieldError {
                        field: "quietHours.enabled".into(),
                        message: "quietHours.enabled must be true or false".into(),
                    }),
                }
                for (key, slot) in [("start", 0), ("end", 1)] {
                    match q.get(key) {
                        None => {}
                        Some(v) => match v.as_str().and_then(parse_hhmm) {
                            Some(m) if slot == 0 => self.quiet.start = m,
                            Some(m) => self.quiet.end = m,
                            None => errors.push(FieldError {
                                field: format!("quietHours.{key}"),
                                message: format!("quietHours.{key} must be a time like 22:00"),
                            }),
                        },
                    }
                }
            }
            Some(_) => errors.push(FieldError {
                field: "quietHours".into(),
                message: "quietHours must be an object".into(),
            }),
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// The preference flag that governs a type: `marketing` for promotions,
/// `bookings` for booking and payment news, `messages`, `social` (also
/// achievements) and `updates` (system).
pub fn preference_key(kind: &str, category: &str) -> &'static str {
    if kind == "promotion" {
        return "marketing";
    }
    match category {
        "booking" | "payment" => "bookings",
        "message" => "messages",
        "social" | "achievement" => "social",
        _ => "updates",
    }
}

/// When push or SMS may go out: `None` for now, or the end of the quiet
/// hours (ms) when `now_ms` falls inside them (local time at
/// `utc_offset_mins`). Urgent notifications never wait.
pub fn held_until(
    now_ms: i64,
    quiet: &QuietHours,
    utc_offset_mins: i32,
    priority: &str,
) -> Option<i64> {
    if !quiet.enabled || priority == "urgent" || quiet.start == quiet.end {
        return None;
    }
    let minute_ms = 60_000i64;
    let local_minute =
        (now_ms.div_euclid(minute_ms) + utc_offset_mins as i64).rem_euclid(1440) as u32;
    let inside = if quiet.start < quiet.end {
        local_minute >= quiet.start && local_minute < quiet.end
    } else {
        local_minute >= quiet.start || local_minute < quiet.end
    };
    if !inside {
        return None;
    }
    let wait = (quiet.end as i64 - local_minute as i64).rem_euclid(1440);
    Some((now_ms.div_euclid(minute_ms) + wait) * minute_ms)
}

// ------------------------------------------------------------ documents

/// The model's `age` virtual: `Just now`, `<n>m ago`, `<n>h ago`, `<n>d ago`.
pub fn age(created_ms: i64, now_ms: i64) -> String {
    let mins = (now_ms - created_ms).max(0) / 60_000;
    match mins {
        0 => "Just now".into(),
        m if m < 60 => format!("{m}m ago"),
        m if m < 1440 => format!("{}h ago", m / 60),
        m => format!("{}d ago", m / 1440),
    }
}

/// Repeats fold into one unread notification within this window.
pub const GROUP_WINDOW_MS: i64 = 24 * 3600 * 1000;

/// The body of a folded group: "3 new likes".
pub fn grouped_body(count: i64, kind: &str) -> String {
    let noun = match kind {
        "new_message" => "messages",
        "new_follower" => "followers",
        "post_liked" => "likes",
        "post_commented" => "comments",
        "mention" => "mentions",
        "message_reaction" => "reactions",
        other => return format!("{count} new {other} notifications"),
    };
    format!("{count} new {noun}")
}

/// The body of `POST /notifications` (admin), validated.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminNotice {
    pub audience: Audience,
    pub draft: Draft,
}

/// Who an admin notification is for.
#[derive(Debug, Clone, PartialEq)]
pub enum Audience {
    One(String),
    Role(String),
    Everyone,
}

const ROLES: [&str; 5] = ["customer", "technician", "corporate", "admin", "support"];

fn opt_text(obj: &Map<String, Value>, key: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    match obj.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::String(_)) => None,
        Some(_) => {
            errors.push(FieldError {
                field: key.into(),
                message: format!("{key} must be a string"),
            });
            None
        }
    }
}

/// Parses the admin's body: `recipient` (an id) or `broadcast` (`all` or a
/// role); `type` (one of the 35), `title`, `message` (or `body`); optional
/// `category` (else derived from the type), `priority`, `channels`
/// (default `["push"]`), `deepLink`, `actionData` (or `data`), `image`,
/// `expiresAt`. Every bad field is named.
pub fn parse_admin_notice(body: &Value, now_ms: i64) -> Result<AdminNotice, Vec<FieldError>> {
    let mut errors = Vec::new();
    let empty = Map::new();
    let obj = body.as_object().unwrap_or(&empty);
    let mut err = |field: &str, message: &str| {
        errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        })
    };
    let recipient = obj.get("recipient").and_then(Value::as_str).map(str::trim);
    let broadcast = obj.get("broadcast").and_then(Value::as_str).map(str::trim);
    let audience = match (recipient, broadcast) {
        (Some(r), _) if crate::ids::is_valid_id(r) => Some(Audience::One(r.to_string())),
        (None, Some("all")) => Some(Audience::Everyone),
        (None, Some(role)) if ROLES.contains(&role) => Some(Audience::Role(role.to_string())),
        (None, Some(_)) => {
            err("broadcast", "broadcast must be 'all' or a role");
            None
        }
        _ => {
            err("recipient", "Valid recipient ID is required");
            None
        }
    };
    let kind = obj.get("type").and_then(Value::as_str).unwrap_or("").trim();
    if kind.is_empty() {
        err("type", "Notification type is required");
    } else if !TYPES.contains(&kind) {
        err("type", "Notification type is not one of the known types");
    }
    let title = obj
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim();
    if title.is_empty() {
        err("title", "Title is required");
    } else if title.chars().count() > 200 {
        err("title", "Title must be at most 200 characters");
    }
    let text = obj
        .get("message")
        .or_else(|| obj.get("body"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim();
    if text.is_empty() {
        err("message", "Message is required");
    } else if text.chars().count() > 2000 {
        err("message", "Message must be at most 2000 characters");
    }
    let category = match obj.get("category") {
        None | Some(Value::Null) => category_of(kind).map(str::to_string),
        Some(Value::String(c)) if CATEGORIES.contains(&c.as_str()) => Some(c.clone()),
        Some(_) => {
            err(
                "category",
                "category must be one of booking, payment, social, message, system, achievement",
            );
            None
        }
    };
    let priority = match obj.get("priority") {
        None | Some(Value::Null) => "normal".to_string(),
        Some(Value::String(p)) if PRIORITIES.contains(&p.as_str()) => p.clone(),
        Some(_) => {
            err("priority", "priority must be low, normal, high or urgent");
            "normal".into()
        }
    };
    let channels = match obj.get("channels") {
        None | Some(Value::Null) => vec![Channel::Push],
        Some(Value::Array(items)) => {
            let parsed: Vec<Option<Channel>> = items
                .iter()
                .map(|v| v.as_str().and_then(Channel::parse))
                .collect();
            if parsed.iter().any(Option::is_none) {
                err("channels", "channels may hold push, email and sms");
            }
            let mut cs: Vec<Channel> = parsed.into_iter().flatten().collect();
            cs.sort();
            cs.dedup();
            cs
        }
        Some(_) => {
            err("channels", "channels must be an array");
            Vec::new()
        }
    };
    let action_data = match obj.get("actionData").or_else(|| obj.get("data")) {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(Value::Object(m.clone())),
        Some(_) => {
            err("actionData", "actionData must be an object");
            None
        }
    };
    let expires_at = match obj.get("expiresAt") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_str().and_then(crate::ids::parse_datetime) {
            Some(t) if t > now_ms => Some(t),
            _ => {
                err("expiresAt", "expiresAt must be a future date-time");
                None
            }
        },
    };
    let deep_link = opt_text(obj, "deepLink", &mut errors);
    let image = opt_text(obj, "image", &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let (Some(audience), Some(category)) = (audience, category) else {
        return Err(errors);
    };
    let recipient_id = match &audience {
        Audience::One(id) => id.clone(),
        _ => String::new(),
    };
    Ok(AdminNotice {
        audience,
        draft: Draft {
            recipient_id,
            sender_id: None,
            kind: kind.to_string(),
            category,
            title: title.to_string(),
            body: text.to_string(),
            image,
            priority,
            deep_link,
            action_data,
            related: Related::default(),
            group_key: None,
            expires_at,
            channels,
            unless_viewing: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbb";
    const C: &str = "cccccccccccccccccccccccc";

    fn facts<'a>(kind: &'a str, actor: Option<&'a str>, payload: &'a Value) -> EventFacts<'a> {
        EventFacts {
            kind,
            subject_id: Some(C),
            actor_id: actor,
            payload,
        }
    }

    #[test]
    fn every_type_has_its_recommended_category() {
        let table = [
            ("booking_reminder", "booking"),
            ("payment_failed", "payment"),
            ("payout_processed", "payment"),
            ("refund_processed", "payment"),
            ("mention", "message"),
            ("new_follower", "social"),
            ("comment_reply", "social"),
            ("review_response", "social"),
            ("account_verified", "system"),
            ("security_alert", "system"),
            ("level_up", "achievement"),
        ];
        for (kind, cat) in table {
            assert_eq!(category_of(kind), Some(cat), "{kind}");
        }
        assert!(TYPES.iter().all(|t| category_of(t).is_some()));
        assert_eq!(category_of("booking"), None);
    }

    #[test]
    fn every_rule_names_a_known_type_and_priority() {
        for r in RULES {
            assert!(TYPES.contains(&r.kind), "{}", r.event);
            assert!(PRIORITIES.contains(&r.priority), "{}", r.event);
        }
    }

    #[test]
    fn the_table_maps_events_to_recipients() {
        // (event, actor, payload, expected (recipient, type) pairs)
        type Case<'a> = (&'a str, Option<&'a str>, Value, Vec<(&'a str, &'a str)>);
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            ("booking.created", Some(A), json!({"status": "awaiting_acceptance", "customerId": A, "technicianId": B}), vec![(B, "booking_created")]),
            ("booking.created", Some(A), json!({"status": "pending", "customerId": A, "technicianId": null}), vec![]),
            ("booking.status_changed", Some(B), json!({"from": "awaiting_acceptance", "to": "accepted", "customerId": A, "technicianId": B}), vec![(A, "booking_accepted")]),
            ("booking.status_changed", Some(B), json!({"from": "awaiting_acceptance", "to": "pending", "customerId": A, "technicianId": null}), vec![(A, "booking_rejected")]),
            ("booking.status_changed", Some(A), json!({"from": "accepted", "to": "cancelled", "customerId": A, "technicianId": B}), vec![(B, "booking_cancelled")]),
            ("booking.status_changed", Some(B), json!({"from": "accepted", "to": "en_route", "customerId": A, "technicianId": B}), vec![]),
            ("payment.held", Some(A), json!({"payerId": A, "payeeId": B, "amount": 50, "currency": "KES"}), vec![(A, "payment_sent"), (B, "payment_received")]),
            ("user.password_changed", Some(C), json!({}), vec![(C, "security_alert")]),
            ("user.followed", Some(A), json!({"followerId": A, "followingId": B}), vec![(B, "new_follower")]),
            ("message.sent", Some(A), json!({"conversationId": C, "senderId": A, "recipientIds": [A, B], "mentionIds": [B]}), vec![(B, "new_message"), (B, "mention")]),
            ("message.reaction", Some(A), json!({"authorId": B, "reactorId": A, "emoji": "👍", "added": false}), vec![]),
            ("message.sent", None, json!({"conversationId": C, "senderId": null, "type": "system", "recipientIds": [A, B], "mentionIds": []}), vec![]),
            ("ticket.replied", Some(A), json!({"ticketId": C, "customerId": B, "authorId": A, "fromStaff": true}), vec![(B, "system_update")]),
            ("user.kyc_reviewed", Some(A), json!({"userId": B, "status": "rejected", "reason": "blurry"}), vec![(B, "profile_rejected")]),
            ("review.updated", Some(A), json!({"revieweeId": B}), vec![]),
        ];
        for (kind, actor, payload, want) in cases {
            let got: Vec<(String, String)> = plan(&facts(kind, actor, &payload))
                .into_iter()
                .map(|d| (d.recipient_id, d.kind))
                .collect();
            let want: Vec<(String, String)> = want
                .into_iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            assert_eq!(got, want, "{kind} {payload}");
        }
    }

    #[test]
    fn drafts_carry_links_groups_and_filled_text() {
        let payload = json!({"postId": C, "authorId": B});
        let d = &plan(&facts("post.liked", Some(A), &payload))[0];
        assert_eq!(
            d.deep_link.as_deref(),
            Some(format!("baitech://post/{C}").as_str())
        );
        assert_eq!(d.related.post.as_deref(), Some(C));
        assert_eq!(
            d.group_key.as_deref(),
            Some(format!("post_liked:{C}").as_str())
        );
        assert_eq!(d.action_data.as_ref().unwrap()["postId"], C);
        let p = json!({"userId": B, "status": "rejected", "reason": null});
        assert_eq!(
            plan(&facts("user.kyc_reviewed", Some(A), &p))[0].body,
            "Your identity verification was rejected"
        );
        let m = json!({"conversationId": C, "recipientIds": [B]});
        assert_eq!(
            plan(&facts("message.sent", Some(A), &m))[0]
                .unless_viewing
                .as_deref(),
            Some(C)
        );
        assert_eq!(
            fill(
                "{currency} {amount} paid",
                &json!({"currency": "KES", "amount": 50.5})
            ),
            "KES 50.5 paid"
        );
    }

    #[test]
    fn preferences_default_apply_and_allow() {
        let mut p = Preferences::default();
        assert!(p.allows(Channel::Push, "booking_accepted", "booking"));
        assert!(!p.allows(Channel::Sms, "new_message", "message"));
        assert!(!p.allows(Channel::Email, "post_liked", "social"));
        assert!(p.allows(Channel::Sms, "security_alert", "system"));
        p.apply(&json!({"smsNotifications": false, "email": {"bookings": false}, "quietHours": {"enabled": true, "start": "21:30"}}))
            .unwrap();
        assert!(!p.allows(Channel::Sms, "booking_accepted", "booking"));
        assert!(!p.allows(Channel::Email, "payment_received", "payment"));
        assert!(p.allows(Channel::Email, "new_message", "message"));
        assert_eq!(
            p.quiet,
            QuietHours {
                enabled: true,
                start: 21 * 60 + 30,
                end: 7 * 60
            }
        );
        assert_eq!(Preferences::from_stored(&p.to_json()), p);
        let errs = p
            .apply(&json!({"push": "yes", "email": {"bookings": 1}, "quietHours": {"end": "25:00", "enabled": "no"}}))
            .unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "push",
                "email.bookings",
                "quietHours.enabled",
                "quietHours.end"
            ]
        );
    }

    #[test]
    fn quiet_hours_hold_push_until_they_end_except_urgent() {
        let q = QuietHours {
            enabled: true,
            start: 22 * 60,
            end: 7 * 60,
        };
        // 2026-01-01 20:30 UTC = 23:30 in Nairobi (UTC+3): held until 07:00 local = 04:00 UTC.
        let t = 1_767_299_400_000i64;
        assert_eq!(
            held_until(t, &q, 180, "normal"),
            Some(t + (7 * 60 + 30) * 60_000)
        );
        assert_eq!(held_until(t, &q, 180, "urgent"), None);
        assert_eq!(held_until(t, &q, 0, "normal"), None); // 20:30 at UTC is outside
        let day = QuietHours {
            enabled: true,
            start: 9 * 60,
            end: 17 * 60,
        };
        assert_eq!(
            held_until(t, &day, -600, "low"),
            Some(t + 6 * 60 * 60_000 + 30 * 60_000)
        ); // 10:30 local
        assert_eq!(
            held_until(
                t,
                &QuietHours {
                    enabled: false,
                    ..q
                },
                180,
                "low"
            ),
            None
        );
    }

    #[test]
    fn age_and_group_bodies() {
        let now = 10_000_000_000;
        for (ago, want) in [
            (0, "Just now"),
            (59_999, "Just now"),
            (60_000, "1m ago"),
            (3_600_000, "1h ago"),
            (3 * 86_400_000, "3d ago"),
        ] {
            assert_eq!(age(now - ago, now), want);
        }
        assert_eq!(grouped_body(3, "post_liked"), "3 new likes");
        assert_eq!(
            grouped_body(2, "promotion"),
            "2 new promotion notifications"
        );
    }

    #[test]
    fn admin_notice_parses_and_names_bad_fields() {
        let ok = parse_admin_notice(
            &json!({"recipient": A, "type": "promotion", "title": "Hi", "message": "Sale", "data": {"x": 1}}),
            0,
        )
        .unwrap();
        assert_eq!(ok.audience, Audience::One(A.into()));
        assert_eq!(ok.draft.category, "system");
        assert_eq!(ok.draft.channels, vec![Channel::Push]);
        assert_eq!(ok.draft.action_data, Some(json!({"x": 1})));
        let b = parse_admin_notice(
            &json!({"broadcast": "technician", "type": "level_up", "title": "t", "body": "b"}),
            0,
        )
        .unwrap();
        assert_eq!(b.audience, Audience::Role("technician".into()));
        assert_eq!(b.draft.category, "achievement");
        let errs = parse_admin_notice(
            &json!({"recipient": "x", "type": "booking", "title": "", "priority": "medium", "channels": ["fax"], "category": 3}),
            0,
        )
        .unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "recipient",
                "type",
                "title",
                "message",
                "category",
                "priority",
                "channels"
            ]
        );
    }
}
