//! The support desk's vocabulary and rules as pure functions: the status
//! state machine, SLA clocks over a clock the caller passes in, the
//! auto-assignment pick, and the parsers of request bodies. Nothing here
//! touches the database or HTTP, so all of it is unit-tested below.

use serde_json::Value;

use crate::auth::Role;
use crate::error::FieldError;

// ---------------------------------------------------------------- vocabulary

/// The spec's ticket categories.
pub const CATEGORIES: &[&str] = &[
    "account",
    "booking",
    "payment",
    "technical",
    "billing",
    "complaint",
    "feature_request",
    "bug_report",
    "general",
    "other",
];

/// Where a ticket came from (the wire's `source`).
pub const CHANNELS: &[&str] = &["web", "mobile", "email", "phone", "chat", "admin"];

/// How a closed ticket ended.
pub const RESOLUTION_TYPES: &[&str] = &[
    "solved",
    "workaround",
    "duplicate",
    "cannot_reproduce",
    "wont_fix",
    "other",
];

/// An agent's availability.
pub const AVAILABILITIES: &[&str] = &["available", "busy", "away", "offline"];

/// Longest subject the wire accepts.
pub const SUBJECT_MAX: usize = 200;
/// Longest description or message body we store.
pub const TEXT_MAX: usize = 10_000;
/// Most attachments on one ticket or message.
pub const ATTACHMENTS_MAX: usize = 10;
/// Most tags on one ticket.
pub const TAGS_MAX: usize = 20;

/// Ticket priority; the derived order is the rank (urgent highest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    Low,
    Medium,
    High,
    Urgent,
}

impl Priority {
    pub const ALL: [Priority; 4] = [
        Priority::Urgent,
        Priority::High,
        Priority::Medium,
        Priority::Low,
    ];

    pub fn parse(s: &str) -> Option<Priority> {
        Some(match s {
            "low" => Priority::Low,
            "medium" => Priority::Medium,
            "high" => Priority::High,
            "urgent" => Priority::Urgent,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    /// Sort key stored beside the name, so "priority descending" means
    /// urgent > high > medium > low (not the alphabet, the original's bug).
    pub fn rank(self) -> i64 {
        self as i64
    }

    /// SLA targets in minutes: (first response, resolution), the wire's table.
    pub fn sla_targets(self) -> (i64, i64) {
        match self {
            Priority::Urgent => (15, 120),
            Priority::High => (30, 240),
            Priority::Medium => (60, 480),
            Priority::Low => (120, 1440),
        }
    }
}

/// Ticket status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Open,
    Assigned,
    InProgress,
    WaitingCustomer,
    WaitingInternal,
    Resolved,
    Closed,
    Reopened,
}

impl Status {
    pub const ALL: [Status; 8] = [
        Status::Open,
        Status::Assigned,
        Status::InProgress,
        Status::WaitingCustomer,
        Status::WaitingInternal,
        Status::Resolved,
        Status::Closed,
        Status::Reopened,
    ];

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Assigned => "assigned",
            Status::InProgress => "in_progress",
            Status::WaitingCustomer => "waiting_customer",
            Status::WaitingInternal => "waiting_internal",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
            Status::Reopened => "reopened",
        }
    }

    /// Whether a ticket in this status counts towards its assignee's load
    /// (`maxConcurrentTickets`).
    pub fn counts_as_load(self) -> bool {
        !matches!(self, Status::Open | Status::Resolved | Status::Closed)
    }

    /// Whether the resolution clock is finished.
    pub fn is_finished(self) -> bool {
        matches!(self, Status::Resolved | Status::Closed)
    }
}

/// Statuses that count towards an agent's load, as SQL `IN (...)` text.
pub const LOAD_STATUSES_SQL: &str =
    "'assigned','in_progress','waiting_customer','waiting_internal','reopened'";

/// Who moves a ticket: the staff (support agents and admins), the
/// requester (the ticket's customer), or the desk itself (a customer's
/// reply, an assignment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Staff,
    Requester,
    System,
}

impl Actor {
    /// Support and admin are staff; customers, technicians and corporate
    /// accounts open tickets as requesters.
    pub fn of(role: Role) -> Actor {
        if is_staff(role) {
            Actor::Staff
        } else {
            Actor::Requester
        }
    }
}

/// Support agents and admins.
pub fn is_staff(role: Role) -> bool {
    matches!(role, Role::Support | Role::Admin)
}

/// Who sees a ticket: admins all; a support agent the tickets assigned or
/// escalated to them and the unassigned queue; everyone their own. Anyone
/// else is answered 404, as if the ticket did not exist.
pub fn can_view(
    role: Role,
    me: &str,
    customer_id: &str,
    assigned_to: Option<&str>,
    escalated_to: Option<&str>,
    status: Status,
) -> bool {
    match role {
        Role::Admin => true,
        Role::Support => {
            customer_id == me
                || assigned_to == Some(me)
                || escalated_to == Some(me)
                || (assigned_to.is_none() && matches!(status, Status::Open | Status::Reopened))
        }
        _ => customer_id == me,
    }
}

// ---------------------------------------------------------------- state machine

/// The statuses `actor` may move a ticket to from `from`. `assigned` is
/// only reached through an assignment (the desk's move), never by hand.
pub fn allowed_moves(from: Status, actor: Actor) -> &'static [Status] {
    use Status::*;
    match actor {
        Actor::Staff => match from {
            Open | Reopened => &[
                InProgress,
                WaitingCustomer,
                WaitingInternal,
                Resolved,
                Closed,
            ],
            Assigned => &[
                InProgress,
                WaitingCustomer,
                WaitingInternal,
                Resolved,
                Closed,
            ],
            InProgress => &[WaitingCustomer, WaitingInternal, Resolved, Closed],
            WaitingCustomer => &[InProgress, WaitingInternal, Resolved, Closed],
            WaitingInternal => &[InProgress, WaitingCustomer, Resolved, Closed],
            Resolved => &[Closed, Reopened],
            Closed => &[Reopened],
        },
        Actor::Requester => match from {
            Resolved | Closed => &[Reopened],
            _ => &[],
        },
        Actor::System => match from {
            Open | Reopened => &[Assigned],
            WaitingCustomer => &[InProgress],
            _ => &[],
        },
    }
}

/// A refused move, with the moves that were allowed (for the 409).
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub from: Status,
    pub to: Status,
    pub allowed: Vec<Status>,
}

impl Refusal {
    /// "Cannot move a ticket from X to Y; allowed: a, b" (or "none").
    pub fn message(&self) -> String {
        let allowed: Vec<&str> = self.allowed.iter().map(|s| s.as_str()).collect();
        format!(
            "Cannot move a ticket from {} to {}; allowed: {}",
            self.from.as_str(),
            self.to.as_str(),
            if allowed.is_empty() {
                "none".to_string()
            } else {
                allowed.join(", ")
            }
        )
    }
}

/// The ticket status machine: `Ok(to)` when `actor` may move `from` to `to`.
pub fn transition(from: Status, to: Status, actor: Actor) -> Result<Status, Refusal> {
    let allowed = allowed_moves(from, actor);
    if allowed.contains(&to) {
        Ok(to)
    } else {
        Err(Refusal {
            from,
            to,
            allowed: allowed.to_vec(),
        })
    }
}

/// Whether the requester may still reopen: within `window_ms` of the time
/// the ticket was closed (or resolved).
pub fn within_reopen_window(finished_at: Option<i64>, now: i64, window_ms: i64) -> bool {
    finished_at.is_some_and(|at| now - at <= window_ms)
}

// ---------------------------------------------------------------- SLA clocks

/// The two SLA clocks of a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    FirstResponse,
    Resolution,
}

impl Clock {
    pub fn as_str(self) -> &'static str {
        match self {
            Clock::FirstResponse => "first_response",
            Clock::Resolution => "resolution",
        }
    }
}

/// The time facts of a ticket the SLA clocks run on (all in ms).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlaTimes {
    pub created_at: i64,
    /// Paused time already accumulated (closed pauses).
    pub paused_ms: i64,
    /// Start of the pause in progress (the ticket waits on the customer).
    pub paused_at: Option<i64>,
}

impl SlaTimes {
    /// Time the clocks have run at `now`: wall time since creation less
    /// every pause, the one in progress included.
    pub fn elapsed_ms(&self, now: i64) -> i64 {
        let open_pause = self.paused_at.map(|p| (now - p).max(0)).unwrap_or(0);
        (now - self.created_at - self.paused_ms - open_pause).max(0)
    }

    /// Elapsed clock time in whole minutes (rounded), the wire's `actual`.
    pub fn elapsed_minutes(&self, now: i64) -> i64 {
        (self.elapsed_ms(now) + 30_000) / 60_000
    }

    /// The wall-clock instant at which `minutes` of clock time will have
    /// run, assuming no further pause; `None` while paused (the deadline
    /// moves until the pause ends).
    pub fn due_at(&self, minutes: i64) -> Option<i64> {
        if self.paused_at.is_some() {
            return None;
        }
        Some(self.created_at + self.paused_ms + minutes * 60_000)
    }

    /// The times after entering (`pause = true`) or leaving a pause at `now`.
    pub fn with_pause(self, pause: bool, now: i64) -> SlaTimes {
        match (pause, self.paused_at) {
            (true, None) => SlaTimes {
                paused_at: Some(now),
                ..self
            },
            (false, Some(p)) => SlaTimes {
                paused_ms: self.paused_ms + (now - p).max(0),
                paused_at: None,
                ..self
            },
            _ => self,
        }
    }
}

/// The clocks pause exactly while the ticket waits on the customer.
pub fn pauses_clock(status: Status) -> bool {
    status == Status::WaitingCustomer
}

/// `(actual minutes, met)` when a clock stops at `now`.
pub fn stop_clock(times: &SlaTimes, target_minutes: i64, now: i64) -> (i64, bool) {
    let actual = times.elapsed_minutes(now);
    (actual, times.elapsed_ms(now) <= target_minutes * 60_000)
}

/// Where one clock stands for the SLA job.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockState {
    pub clock: Clock,
    pub target_minutes: i64,
    /// The clock stopped (first response given, or resolved/closed).
    pub is_stopped: bool,
    pub is_warned: bool,
    pub is_breached: bool,
}

/// What the SLA job does for one clock at `now`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SlaStep {
    /// Nothing more to do for this clock (stopped, paused, or breached).
    Idle,
    /// Not yet at the warning point: look again at this instant.
    WaitUntil(i64),
    /// Past the warning point: warn (once), then look again at the deadline.
    Warn { due_at: i64 },
    /// Past the deadline: breach (once) and escalate.
    Breach { due_at: i64 },
}

/// The SLA job's decision for one clock. The warning fires when
/// `warn_percent` of the target has run. A paused clock is idle (leaving
/// the pause schedules the job again).
pub fn sla_step(times: &SlaTimes, state: &ClockState, warn_percent: i64, now: i64) -> SlaStep {
    if state.is_stopped || state.is_breached {
        return SlaStep::Idle;
    }
    let Some(due_at) = times.due_at(state.target_minutes) else {
        return SlaStep::Idle;
    };
    let warn_at = times.created_at
        + times.paused_ms
        + state.target_minutes * 60_000 * warn_percent.clamp(0, 100) / 100;
    if now >= due_at {
        SlaStep::Breach { due_at }
    } else if now >= warn_at {
        if state.is_warned {
            SlaStep::WaitUntil(due_at)
        } else {
            SlaStep::Warn { due_at }
        }
    } else {
        SlaStep::WaitUntil(warn_at)
    }
}

// ---------------------------------------------------------------- assignment

/// An agent as the auto-assignment sees them.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentLoad {
    pub user_id: String,
    pub is_available: bool,
    pub load: i64,
    pub max_concurrent: i64,
    pub last_assigned_at: i64,
}

/// The agent a new ticket goes to: available, under their cap, with the
/// fewest open tickets; ties go to the one who waited longest since their
/// last assignment (then the smaller id, for determinism). `None` when no
/// one qualifies (the ticket waits in the unassigned queue).
pub fn pick_agent(agents: &[AgentLoad]) -> Option<&AgentLoad> {
    agents
        .iter()
        .filter(|a| a.is_available && a.load < a.max_concurrent)
        .min_by(|a, b| {
            (a.load, a.last_assigned_at, &a.user_id).cmp(&(b.load, b.last_assigned_at, &b.user_id))
        })
}

/// Whether a manual assignment keeps the agent within their cap.
pub fn has_room(load: i64, max_concurrent: i64) -> bool {
    load < max_concurrent
}

/// The lowest and highest `maxConcurrentTickets` an admin may set: at
/// least one ticket (an agent who should take none sets themselves
/// `offline`), and a ceiling that keeps a typo from flooding one person.
pub const MAX_CONCURRENT_RANGE: std::ops::RangeInclusive<i64> = 1..=200;

/// The previous assignee of a ticket being reopened, as the reopen rule
/// sees them. `load` does not include the ticket being reopened (a
/// resolved or closed ticket does not count).
#[derive(Debug, Clone, PartialEq)]
pub struct PreviousAssignee {
    /// Still an active support agent or admin.
    pub is_active_staff: bool,
    /// Availability `offline` (also when the agent never set one).
    pub is_offline: bool,
    pub load: i64,
    pub max_concurrent: i64,
}

/// Where a reopened ticket goes.
#[derive(Debug, Clone, PartialEq)]
pub enum ReopenPlacement {
    /// Back to the agent who worked it: the customer keeps talking to the
    /// person who knows the history.
    KeepAssignee,
    /// Back to the queue, then to whoever auto-assignment picks by load
    /// (possibly no one yet), for this reason.
    Requeue(RequeueReason),
}

/// Why a reopened ticket did not go back to its previous agent.
#[derive(Debug, Clone, PartialEq)]
pub enum RequeueReason {
    /// It had no assignee.
    Unassigned,
    /// The account is gone, suspended or no longer staff.
    AssigneeInactive,
    /// The agent is offline, so it would wait unseen.
    AssigneeOffline,
    /// Taking it would put the agent over their cap: `(load, max)`.
    AssigneeAtCap(i64, i64),
}

impl RequeueReason {
    /// The internal note left on the ticket (`None` when there is
    /// nothing worth telling the staff).
    pub fn note(&self) -> Option<String> {
        match self {
            RequeueReason::Unassigned => None,
            RequeueReason::AssigneeInactive => {
                Some("Reopened ticket returned to the queue: the previous assignee is no longer an active agent".into())
            }
            RequeueReason::AssigneeOffline => {
                Some("Reopened ticket returned to the queue: the previous assignee is offline".into())
            }
            RequeueReason::AssigneeAtCap(load, max) => Some(format!(
                "Reopened ticket returned to the queue: the previous assignee is at capacity ({load} of {max})"
            )),
        }
    }
}

/// The reopen rule. A reopened ticket counts towards its assignee's load
/// again, so it goes back to the previous agent only when they are an
/// active staff member, not offline, and still under their cap; otherwise
/// it returns to the queue, and auto-assignment picks by load in the same
/// transaction. The cap (`maxConcurrentTickets`) is never exceeded.
pub fn place_reopened(previous: Option<&PreviousAssignee>) -> ReopenPlacement {
    let Some(p) = previous else {
        return ReopenPlacement::Requeue(RequeueReason::Unassigned);
    };
    if !p.is_active_staff {
        ReopenPlacement::Requeue(RequeueReason::AssigneeInactive)
    } else if p.is_offline {
        ReopenPlacement::Requeue(RequeueReason::AssigneeOffline)
    } else if !has_room(p.load, p.max_concurrent) {
        ReopenPlacement::Requeue(RequeueReason::AssigneeAtCap(p.load, p.max_concurrent))
    } else {
        ReopenPlacement::KeepAssignee
    }
}

/// A change to an agent's availability: their status, their cap, or both.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AvailabilityChange {
    /// available, busy, away or offline.
    pub status: Option<String>,
    /// Within [`MAX_CONCURRENT_RANGE`].
    pub max_concurrent: Option<i64>,
}

/// Validates `{status?, maxConcurrentTickets?}`; at least one is needed.
pub fn parse_availability_change(body: &Value) -> Result<AvailabilityChange, Vec<FieldError>> {
    let mut errors = Vec::new();
    let present = |k: &str| body.get(k).is_some_and(|v| !v.is_null());
    let status = present("status")
        .then(|| {
            one_of(
                body.get("status"),
                "status",
                AVAILABILITIES,
                None,
                "Status must be available, busy, away or offline",
                &mut errors,
            )
        })
        .flatten();
    let max_concurrent = if present("maxConcurrentTickets") {
        let n = body["maxConcurrentTickets"]
            .as_i64()
            .filter(|n| MAX_CONCURRENT_RANGE.contains(n));
        if n.is_none() {
            field(
                &mut errors,
                "maxConcurrentTickets",
                &format!(
                    "maxConcurrentTickets must be a whole number from {} to {}",
                    MAX_CONCURRENT_RANGE.start(),
                    MAX_CONCURRENT_RANGE.end()
                ),
            );
        }
        n
    } else {
        None
    };
    if errors.is_empty() && status.is_none() && max_concurrent.is_none() {
        field(
            &mut errors,
            "status",
            "Give status (available, busy, away or offline) or maxConcurrentTickets",
        );
    }
    if errors.is_empty() {
        Ok(AvailabilityChange {
            status,
            max_concurrent,
        })
    } else {
        Err(errors)
    }
}

/// Who may change whose availability: an admin anyone's, status and cap;
/// a support agent only their own status (the cap is the admin's call, or
/// an agent could lift their own limit); nobody else. `Err` is the 403's
/// message. Whether the target exists (404) is checked after this.
pub fn may_change_availability(
    role: Role,
    is_self: bool,
    change: &AvailabilityChange,
) -> Result<(), String> {
    match role {
        Role::Admin => Ok(()),
        Role::Support if !is_self => {
            Err("Support agents can only change their own availability".into())
        }
        Role::Support if change.max_concurrent.is_some() => {
            Err("Only an admin can change maxConcurrentTickets".into())
        }
        Role::Support => Ok(()),
        other => Err(format!(
            "User role '{}' is not authorized to access this route",
            other.as_str()
        )),
    }
}

// ---------------------------------------------------------------- parsers

/// A validated new ticket (relations and attachments still to be checked
/// against the caller's own bookings, transactions and media).
#[derive(Debug, Clone, PartialEq)]
pub struct NewTicket {
    pub subject: String,
    pub description: String,
    pub category: String,
    pub subcategory: Option<String>,
    pub priority: Priority,
    pub related_booking: Option<String>,
    pub related_transaction: Option<String>,
    pub attachment_keys: Vec<String>,
    pub tags: Vec<String>,
    pub source: String,
}

fn field(errors: &mut Vec<FieldError>, name: &str, message: &str) {
    errors.push(FieldError {
        field: name.into(),
        message: message.into(),
    });
}

/// A required trimmed string of at most `max` characters.
pub fn required_text(
    v: Option<&Value>,
    name: &str,
    max: usize,
    missing: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match v {
        Some(Value::String(s)) if !s.trim().is_empty() => {
            let s = s.trim();
            if s.chars().count() > max {
                field(
                    errors,
                    name,
                    &format!("{name} must be at most {max} characters"),
                );
                None
            } else {
                Some(s.to_string())
            }
        }
        _ => {
            field(errors, name, missing);
            None
        }
    }
}

/// An optional trimmed string (empty is absent).
pub fn optional_text(
    v: Option<&Value>,
    name: &str,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) if s.trim().chars().count() <= max => Some(s.trim().to_string()),
        Some(Value::String(_)) => {
            field(
                errors,
                name,
                &format!("{name} must be at most {max} characters"),
            );
            None
        }
        Some(_) => {
            field(errors, name, &format!("{name} must be a string"));
            None
        }
    }
}

/// One of `allowed`, or the default when absent.
pub fn one_of(
    v: Option<&Value>,
    name: &str,
    allowed: &[&str],
    default: Option<&str>,
    message: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match v {
        None | Some(Value::Null) if default.is_some() => default.map(String::from),
        Some(Value::String(s)) if allowed.contains(&s.trim()) => Some(s.trim().to_string()),
        _ => {
            field(errors, name, message);
            None
        }
    }
}

/// An optional object id (24 hex).
pub fn optional_id(v: Option<&Value>, name: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) if crate::ids::is_valid_id(s.trim()) => Some(s.trim().to_string()),
        _ => {
            field(errors, name, &format!("{name} must be a valid id"));
            None
        }
    }
}

/// Attachments: media ids (or public ids) of the caller's uploads, given
/// as strings or as upload answers `{publicId}` / `{id}` / `{_id}`.
pub fn parse_attachment_keys(v: Option<&Value>, errors: &mut Vec<FieldError>) -> Vec<String> {
    let items = match v {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => {
            field(
                errors,
                "attachments",
                "attachments must be a list of media ids",
            );
            return Vec::new();
        }
    };
    if items.len() > ATTACHMENTS_MAX {
        field(
            errors,
            "attachments",
            &format!("At most {ATTACHMENTS_MAX} attachments"),
        );
        return Vec::new();
    }
    let mut keys = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let key = match item {
            Value::String(s) => Some(s.trim().to_string()),
            Value::Object(o) => ["publicId", "id", "_id"]
                .iter()
                .find_map(|k| o.get(*k).and_then(Value::as_str))
                .map(|s| s.trim().to_string()),
            _ => None,
        };
        match key.filter(|k| !k.is_empty() && k.len() <= 200) {
            Some(k) => keys.push(k),
            None => field(
                errors,
                &format!("attachments[{i}]"),
                "Each attachment must be the id of a file you uploaded",
            ),
        }
    }
    keys
}

/// Tags: strings, trimmed, lowercased, at most 20 of at most 50 characters.
pub fn parse_tags(v: Option<&Value>, errors: &mut Vec<FieldError>) -> Vec<String> {
    let items = match v {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(items)) if items.len() <= TAGS_MAX => items,
        _ => {
            field(
                errors,
                "tags",
                &format!("tags must be a list of at most {TAGS_MAX} strings"),
            );
            return Vec::new();
        }
    };
    let mut tags: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item.as_str().map(str::trim) {
            Some(t) if !t.is_empty() && t.chars().count() <= 50 => {
                let t = t.to_lowercase();
                if !tags.contains(&t) {
                    tags.push(t);
                }
            }
            _ => field(
                errors,
                &format!("tags[{i}]"),
                "Each tag must be a non-empty string of at most 50 characters",
            ),
        }
    }
    tags
}

/// `source` of a new ticket: the body's `channel` or `source` when given
/// (web, mobile, email, phone, chat; `admin` only for staff), else
/// `mobile` when the User-Agent says Mobile, else `web`.
pub fn parse_source(
    v: Option<&Value>,
    user_agent: Option<&str>,
    is_staff: bool,
    errors: &mut Vec<FieldError>,
) -> String {
    match v {
        None | Some(Value::Null) => {
            if user_agent.is_some_and(|ua| ua.contains("Mobile")) {
                "mobile".into()
            } else {
                "web".into()
            }
        }
        Some(Value::String(s)) if CHANNELS.contains(&s.trim()) && (is_staff || s != "admin") => {
            s.trim().to_string()
        }
        _ => {
            field(
                errors,
                "channel",
                "channel must be one of web, mobile, email, phone, chat",
            );
            "web".into()
        }
    }
}

/// Validates a create-ticket body (`channel` is read as `source`).
pub fn parse_new_ticket(
    body: &Value,
    user_agent: Option<&str>,
    is_staff: bool,
) -> Result<NewTicket, Vec<FieldError>> {
    let mut errors = Vec::new();
    let subject = required_text(
        body.get("subject"),
        "subject",
        SUBJECT_MAX,
        "Subject is required",
        &mut errors,
    );
    let description = required_text(
        body.get("description"),
        "description",
        TEXT_MAX,
        "Description is required",
        &mut errors,
    );
    let category = one_of(
        body.get("category"),
        "category",
        CATEGORIES,
        None,
        "Valid category is required",
        &mut errors,
    );
    let priority = one_of(
        body.get("priority"),
        "priority",
        &["low", "medium", "high", "urgent"],
        Some("medium"),
        "Invalid priority",
        &mut errors,
    );
    let subcategory = optional_text(body.get("subcategory"), "subcategory", 100, &mut errors);
    let related_booking = optional_id(body.get("relatedBooking"), "relatedBooking", &mut errors);
    let related_transaction = optional_id(
        body.get("relatedTransaction"),
        "relatedTransaction",
        &mut errors,
    );
    let attachment_keys = parse_attachment_keys(body.get("attachments"), &mut errors);
    let tags = parse_tags(body.get("tags"), &mut errors);
    let source = parse_source(
        body.get("channel").or_else(|| body.get("source")),
        user_agent,
        is_staff,
        &mut errors,
    );
    match (subject, description, category, priority) {
        (Some(subject), Some(description), Some(category), Some(priority)) if errors.is_empty() => {
            Ok(NewTicket {
                subject,
                description,
                category,
                subcategory,
                priority: Priority::parse(&priority).unwrap_or(Priority::Medium),
                related_booking,
                related_transaction,
                attachment_keys,
                tags,
                source,
            })
        }
        _ => Err(errors),
    }
}

/// A validated reply.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub message: String,
    pub attachment_keys: Vec<String>,
    /// Honoured only for staff; a requester's `isInternal` is ignored.
    pub is_internal: bool,
}

/// Validates a message body; `isInternal` counts only when `is_staff`.
pub fn parse_message(body: &Value, is_staff: bool) -> Result<NewMessage, Vec<FieldError>> {
    let mut errors = Vec::new();
    let message = required_text(
        body.get("message"),
        "message",
        TEXT_MAX,
        "Message is required",
        &mut errors,
    );
    let attachment_keys = parse_attachment_keys(body.get("attachments"), &mut errors);
    let is_internal = match body.get("isInternal") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            field(&mut errors, "isInternal", "isInternal must be a boolean");
            false
        }
    };
    match message {
        Some(message) if errors.is_empty() => Ok(NewMessage {
            message,
            attachment_keys,
            is_internal: is_internal && is_staff,
        }),
        _ => Err(errors),
    }
}

/// A satisfaction rating: a whole number 1 to 5 (a numeric string is read
/// as its number, never concatenated) with optional feedback.
pub fn parse_rating(body: &Value) -> Result<(i64, Option<String>), Vec<FieldError>> {
    let mut errors = Vec::new();
    let rating = match body.get("rating") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
    .filter(|r| (1..=5).contains(r));
    if rating.is_none() {
        field(&mut errors, "rating", "Rating must be between 1 and 5");
    }
    let feedback = optional_text(body.get("feedback"), "feedback", 2000, &mut errors);
    match rating {
        Some(r) if errors.is_empty() => Ok((r, feedback)),
        _ => Err(errors),
    }
}

/// Median of `values` (mean of the middle two for an even count); `None` when empty.
pub fn median(values: &mut [i64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2] as f64
    } else {
        (values[n / 2 - 1] + values[n / 2]) as f64 / 2.0
    })
}

/// `TKT-<ms, 13 digits>-<sequence, 6 digits>`; the sequence comes from one
/// counter under the single writer, so numbers are unique however many
/// tickets are created at once.
pub fn ticket_number(now_ms: i64, seq: i64) -> String {
    format!("TKT-{now_ms:013}-{seq:06}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use Status::*;

    /// The whole table: every (from, to) for every actor, against the
    /// moves the desk allows.
    #[test]
    fn status_table_by_actor() {
        let staff: &[(Status, &[Status])] = &[
            (
                Open,
                &[
                    InProgress,
                    WaitingCustomer,
                    WaitingInternal,
                    Resolved,
                    Closed,
                ],
            ),
            (
                Assigned,
                &[
                    InProgress,
                    WaitingCustomer,
                    WaitingInternal,
                    Resolved,
                    Closed,
                ],
            ),
            (
                InProgress,
                &[WaitingCustomer, WaitingInternal, Resolved, Closed],
            ),
            (
                WaitingCustomer,
                &[InProgress, WaitingInternal, Resolved, Closed],
            ),
            (
                WaitingInternal,
                &[InProgress, WaitingCustomer, Resolved, Closed],
            ),
            (Resolved, &[Closed, Reopened]),
            (Closed, &[Reopened]),
            (
                Reopened,
                &[
                    InProgress,
                    WaitingCustomer,
                    WaitingInternal,
                    Resolved,
                    Closed,
                ],
            ),
        ];
        let requester: &[(Status, &[Status])] = &[(Resolved, &[Reopened]), (Closed, &[Reopened])];
        let system: &[(Status, &[Status])] = &[
            (Open, &[Assigned]),
            (Reopened, &[Assigned]),
            (WaitingCustomer, &[InProgress]),
        ];
        for (actor, table) in [
            (Actor::Staff, staff),
            (Actor::Requester, requester),
            (Actor::System, system),
        ] {
            for from in Status::ALL {
                let allowed: &[Status] = table
                    .iter()
                    .find(|(f, _)| *f == from)
                    .map(|(_, a)| *a)
                    .unwrap_or(&[]);
                for to in Status::ALL {
                    let got = transition(from, to, actor);
                    if allowed.contains(&to) {
                        assert_eq!(got, Ok(to), "{actor:?} {from:?} -> {to:?}");
                    } else {
                        let refusal = got.expect_err(&format!("{actor:?} {from:?} -> {to:?}"));
                        assert_eq!(refusal.allowed, allowed.to_vec());
                    }
                }
            }
        }
    }

    #[test]
    fn who_sees_a_ticket() {
        use Role::*;
        let cases = [
            (Admin, "x", None, None, Closed, true),
            (Customer, "me", None, None, Open, true),
            (Customer, "x", None, None, Open, false),
            (Technician, "x", Some("me"), None, Assigned, false),
            (Corporate, "me", None, None, Closed, true),
            (Support, "x", Some("me"), None, InProgress, true),
            (Support, "x", Some("other"), None, InProgress, false),
            (Support, "x", Some("other"), Some("me"), InProgress, true),
            (Support, "x", None, None, Open, true),
            (Support, "x", None, None, Reopened, true),
            (Support, "x", None, None, Closed, false),
            (Support, "me", Some("other"), None, Closed, true),
        ];
        for (role, customer, assigned, escalated, status, want) in cases {
            assert_eq!(
                can_view(role, "me", customer, assigned, escalated, status),
                want,
                "{role:?} {customer} {assigned:?} {escalated:?} {status:?}"
            );
        }
    }

    #[test]
    fn refusal_names_the_allowed_moves() {
        let r = transition(Closed, InProgress, Actor::Staff).unwrap_err();
        assert_eq!(
            r.message(),
            "Cannot move a ticket from closed to in_progress; allowed: reopened"
        );
        let r = transition(Open, Closed, Actor::Requester).unwrap_err();
        assert!(r.message().ends_with("allowed: none"));
    }

    #[test]
    fn reopen_window() {
        let day = 86_400_000;
        for (finished, now, ok) in [
            (Some(0), day, true),
            (Some(0), day + 1, false),
            (None, 0, false),
        ] {
            assert_eq!(within_reopen_window(finished, now, day), ok);
        }
    }

    #[test]
    fn priority_rank_and_targets() {
        let mut ps = vec![
            Priority::Medium,
            Priority::Urgent,
            Priority::Low,
            Priority::High,
        ];
        ps.sort_by_key(|p| std::cmp::Reverse(p.rank()));
        assert_eq!(ps, Priority::ALL.to_vec());
        for (p, t) in [
            (Priority::Urgent, (15, 120)),
            (Priority::High, (30, 240)),
            (Priority::Medium, (60, 480)),
            (Priority::Low, (120, 1440)),
        ] {
            assert_eq!(p.sla_targets(), t);
        }
    }

    const MIN: i64 = 60_000;

    /// A controllable clock: pause for 30 minutes of a 60-minute target,
    /// and the deadline moves by 30 minutes.
    #[test]
    fn clocks_pause_while_waiting_on_the_customer() {
        let t0 = 1_000_000;
        let times = SlaTimes {
            created_at: t0,
            paused_ms: 0,
            paused_at: None,
        };
        assert_eq!(times.elapsed_minutes(t0 + 10 * MIN), 10);
        assert_eq!(times.due_at(60), Some(t0 + 60 * MIN));
        let paused = times.with_pause(true, t0 + 10 * MIN);
        assert_eq!(
            paused.elapsed_minutes(t0 + 40 * MIN),
            10,
            "frozen while paused"
        );
        assert_eq!(paused.due_at(60), None);
        assert_eq!(
            paused.with_pause(true, t0 + 20 * MIN),
            paused,
            "no double pause"
        );
        let resumed = paused.with_pause(false, t0 + 40 * MIN);
        assert_eq!(resumed.paused_ms, 30 * MIN);
        assert_eq!(resumed.elapsed_minutes(t0 + 50 * MIN), 20);
        assert_eq!(resumed.due_at(60), Some(t0 + 90 * MIN));
        assert_eq!(resumed.with_pause(false, t0 + 60 * MIN), resumed);
        assert_eq!(stop_clock(&resumed, 60, t0 + 90 * MIN), (60, true));
        assert_eq!(stop_clock(&resumed, 60, t0 + 90 * MIN + 1), (60, false));
        assert_eq!(stop_clock(&times, 60, t0 + 61 * MIN), (61, false));
    }

    #[test]
    fn sla_job_steps() {
        let t0 = 0;
        let times = SlaTimes {
            created_at: t0,
            paused_ms: 0,
            paused_at: None,
        };
        let clock = ClockState {
            clock: Clock::FirstResponse,
            target_minutes: 60,
            is_stopped: false,
            is_warned: false,
            is_breached: false,
        };
        let warned = ClockState {
            is_warned: true,
            ..clock
        };
        let cases = [
            (times, clock, 10 * MIN, SlaStep::WaitUntil(48 * MIN)),
            (times, clock, 48 * MIN, SlaStep::Warn { due_at: 60 * MIN }),
            (times, warned, 50 * MIN, SlaStep::WaitUntil(60 * MIN)),
            (
                times,
                warned,
                60 * MIN,
                SlaStep::Breach { due_at: 60 * MIN },
            ),
            (
                times,
                ClockState {
                    is_stopped: true,
                    ..clock
                },
                90 * MIN,
                SlaStep::Idle,
            ),
            (
                times,
                ClockState {
                    is_breached: true,
                    ..clock
                },
                90 * MIN,
                SlaStep::Idle,
            ),
            (
                times.with_pause(true, 5 * MIN),
                clock,
                90 * MIN,
                SlaStep::Idle,
            ),
            (
                times.with_pause(true, 5 * MIN).with_pause(false, 35 * MIN),
                clock,
                70 * MIN,
                SlaStep::WaitUntil(78 * MIN),
            ),
            (
                times.with_pause(true, 5 * MIN).with_pause(false, 35 * MIN),
                clock,
                80 * MIN,
                SlaStep::Warn { due_at: 90 * MIN },
            ),
        ];
        for (i, (times, state, now, want)) in cases.into_iter().enumerate() {
            assert_eq!(sla_step(&times, &state, 80, now), want, "case {i}");
        }
    }

    fn agent(id: &str, available: bool, load: i64, max: i64, last: i64) -> AgentLoad {
        AgentLoad {
            user_id: id.into(),
            is_available: available,
            load,
            max_concurrent: max,
            last_assigned_at: last,
        }
    }

    #[test]
    fn pick_fewest_open_then_longest_waiting() {
        let cases: Vec<(Vec<AgentLoad>, Option<&str>)> = vec![
            (vec![], None),
            (vec![agent("a", false, 0, 5, 0)], None),
            (vec![agent("a", true, 5, 5, 0)], None),
            (
                vec![agent("a", true, 2, 5, 0), agent("b", true, 1, 5, 9)],
                Some("b"),
            ),
            (
                vec![agent("a", true, 1, 5, 10), agent("b", true, 1, 5, 5)],
                Some("b"),
            ),
            (
                vec![agent("a", true, 0, 0, 0), agent("b", true, 3, 5, 5)],
                Some("b"),
            ),
            (
                vec![agent("b", true, 1, 5, 5), agent("a", true, 1, 5, 5)],
                Some("a"),
            ),
        ];
        for (agents, want) in cases {
            assert_eq!(
                pick_agent(&agents).map(|a| a.user_id.as_str()),
                want,
                "{agents:?}"
            );
        }
        assert!(has_room(4, 5) && !has_room(5, 5));
    }

    #[test]
    fn reopened_ticket_goes_back_only_with_room() {
        let prev = |active: bool, offline: bool, load: i64, max: i64| PreviousAssignee {
            is_active_staff: active,
            is_offline: offline,
            load,
            max_concurrent: max,
        };
        use ReopenPlacement::*;
        use RequeueReason::*;
        let cases = [
            (None, Requeue(Unassigned)),
            (Some(prev(true, false, 0, 5)), KeepAssignee),
            (Some(prev(true, false, 4, 5)), KeepAssignee),
            (Some(prev(true, false, 5, 5)), Requeue(AssigneeAtCap(5, 5))),
            (Some(prev(true, false, 7, 2)), Requeue(AssigneeAtCap(7, 2))),
            (Some(prev(true, true, 0, 5)), Requeue(AssigneeOffline)),
            (Some(prev(false, false, 0, 5)), Requeue(AssigneeInactive)),
            (Some(prev(false, true, 9, 1)), Requeue(AssigneeInactive)),
        ];
        for (p, want) in cases {
            assert_eq!(place_reopened(p.as_ref()), want, "{p:?}");
        }
        assert_eq!(RequeueReason::Unassigned.note(), None);
        assert!(RequeueReason::AssigneeAtCap(5, 5)
            .note()
            .unwrap()
            .contains("(5 of 5)"));
    }

    #[test]
    fn availability_changes_and_who_may_make_them() {
        let ok = |b: Value| parse_availability_change(&b).unwrap();
        assert_eq!(
            ok(json!({"status": "busy"})),
            AvailabilityChange {
                status: Some("busy".into()),
                max_concurrent: None
            }
        );
        assert_eq!(
            ok(json!({"maxConcurrentTickets": 200})).max_concurrent,
            Some(200)
        );
        assert_eq!(
            ok(json!({"maxConcurrentTickets": 1, "status": null})).status,
            None
        );
        for (body, field) in [
            (json!({}), "status"),
            (json!({"status": "asleep"}), "status"),
            (json!({"maxConcurrentTickets": 0}), "maxConcurrentTickets"),
            (json!({"maxConcurrentTickets": 201}), "maxConcurrentTickets"),
            (json!({"maxConcurrentTickets": 2.5}), "maxConcurrentTickets"),
            (
                json!({"maxConcurrentTickets": "10"}),
                "maxConcurrentTickets",
            ),
        ] {
            let errors = parse_availability_change(&body).unwrap_err();
            assert!(
                errors.iter().any(|e| e.field == field),
                "{body}: {errors:?}"
            );
        }
        let status = AvailabilityChange {
            status: Some("away".into()),
            max_concurrent: None,
        };
        let cap = AvailabilityChange {
            status: None,
            max_concurrent: Some(3),
        };
        use Role::*;
        for (role, is_self, change, allowed) in [
            (Admin, false, &cap, true),
            (Admin, false, &status, true),
            (Support, true, &status, true),
            (Support, true, &cap, false),
            (Support, false, &status, false),
            (Customer, true, &status, false),
            (Technician, false, &cap, false),
        ] {
            assert_eq!(
                may_change_availability(role, is_self, change).is_ok(),
                allowed,
                "{role:?} self={is_self} {change:?}"
            );
        }
    }

    #[test]
    fn new_ticket_parser() {
        let ok = parse_new_ticket(
            &json!({"subject": " Help ", "description": "It broke", "category": "booking",
                    "tags": ["A", "a", "b"], "attachments": ["x", {"publicId": "y"}]}),
            Some("Mozilla Mobile"),
            false,
        )
        .unwrap();
        assert_eq!(ok.subject, "Help");
        assert_eq!(ok.priority, Priority::Medium);
        assert_eq!(ok.tags, vec!["a", "b"]);
        assert_eq!(ok.attachment_keys, vec!["x", "y"]);
        assert_eq!(ok.source, "mobile");
        let cases: Vec<(Value, &str)> = vec![
            (
                json!({"description": "d", "category": "booking"}),
                "subject",
            ),
            (
                json!({"subject": "s", "category": "booking"}),
                "description",
            ),
            (json!({"subject": "s", "description": "d"}), "category"),
            (
                json!({"subject": "s", "description": "d", "category": "x"}),
                "category",
            ),
            (
                json!({"subject": "s", "description": "d", "category": "other", "priority": "asap"}),
                "priority",
            ),
            (
                json!({"subject": "s".repeat(201), "description": "d", "category": "other"}),
                "subject",
            ),
            (
                json!({"subject": "s", "description": "d", "category": "other", "relatedBooking": "nope"}),
                "relatedBooking",
            ),
            (
                json!({"subject": "s", "description": "d", "category": "other", "attachments": [1]}),
                "attachments[0]",
            ),
            (
                json!({"subject": "s", "description": "d", "category": "other", "channel": "admin"}),
                "channel",
            ),
            (
                json!({"subject": "s", "description": "d", "category": "other", "tags": "x"}),
                "tags",
            ),
        ];
        for (body, field) in cases {
            let errors = parse_new_ticket(&body, None, false).unwrap_err();
            assert!(
                errors.iter().any(|e| e.field == field),
                "{body}: {errors:?}"
            );
        }
    }

    #[test]
    fn message_and_rating_parsers() {
        let m = parse_message(&json!({"message": "hi", "isInternal": true}), false).unwrap();
        assert!(!m.is_internal, "a requester cannot post internal notes");
        let m = parse_message(&json!({"message": "hi", "isInternal": true}), true).unwrap();
        assert!(m.is_internal);
        assert!(parse_message(&json!({"message": "  "}), true).is_err());
        for (body, want) in [
            (json!({"rating": 5}), Some(5)),
            (json!({"rating": "4"}), Some(4)),
            (json!({"rating": 0}), None),
            (json!({"rating": 6}), None),
            (json!({"rating": 2.5}), None),
            (json!({}), None),
        ] {
            assert_eq!(parse_rating(&body).ok().map(|r| r.0), want, "{body}");
        }
    }

    #[test]
    fn medians_and_numbers() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [5, 1, 3]), Some(3.0));
        assert_eq!(median(&mut [4, 1, 3, 2]), Some(2.5));
        assert_eq!(
            ticket_number(1_728_563_421_123, 1),
            "TKT-1728563421123-000001"
        );
    }
}
