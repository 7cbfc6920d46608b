//! The booking's pure rules: the state machine, pricing, money, fees and
//! windows. Nothing here touches HTTP or the database, so every rule is
//! unit-tested beside its definition.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::payments::model::{platform_fee, FeePolicy};

// ---------------------------------------------------------------- statuses

/// Where a booking is in its life (DESIGN.md "Decisions on the contract").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = BookingStatus)]
pub enum Status {
    Pending,
    AwaitingAcceptance,
    Accepted,
    EnRoute,
    Arrived,
    InProgress,
    Completed,
    Cancelled,
    Disputed,
    Refunded,
}

impl Status {
    /// Every status, in the order of the job's life.
    pub const ALL: [Status; 10] = [
        Status::Pending,
        Status::AwaitingAcceptance,
        Status::Accepted,
        Status::EnRoute,
        Status::Arrived,
        Status::InProgress,
        Status::Completed,
        Status::Cancelled,
        Status::Disputed,
        Status::Refunded,
    ];

    /// The stored and wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::AwaitingAcceptance => "awaiting_acceptance",
            Status::Accepted => "accepted",
            Status::EnRoute => "en_route",
            Status::Arrived => "arrived",
            Status::InProgress => "in_progress",
            Status::Completed => "completed",
            Status::Cancelled => "cancelled",
            Status::Disputed => "disputed",
            Status::Refunded => "refunded",
        }
    }

    /// Reads a stored or sent status; `assigned` (the original model's
    /// word) is read as `awaiting_acceptance`.
    pub fn parse(s: &str) -> Option<Status> {
        if s == "assigned" {
            return Some(Status::AwaitingAcceptance);
        }
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether no ordinary move leaves this status (a completed booking can
    /// still be disputed within the window, through its own route).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Status::Completed | Status::Cancelled | Status::Refunded
        )
    }

    /// Whether the price may still change: not once the job is completed,
    /// cancelled, refunded or under dispute.
    pub fn is_pricing_editable(self) -> bool {
        !matches!(
            self,
            Status::Completed | Status::Cancelled | Status::Refunded | Status::Disputed
        )
    }

    /// The original model's `isUpcoming` statuses.
    pub fn is_upcoming(self) -> bool {
        matches!(
            self,
            Status::Pending | Status::AwaitingAcceptance | Status::Accepted
        )
    }

    /// The original model's `isActive`: the technician is on the job.
    pub fn is_active(self) -> bool {
        matches!(self, Status::EnRoute | Status::Arrived | Status::InProgress)
    }

    /// Statuses that end the time pressure (`isPastDue` is false for them).
    pub fn is_settled(self) -> bool {
        matches!(
            self,
            Status::Completed | Status::Cancelled | Status::Disputed | Status::Refunded
        )
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------- actors

/// What the caller is to this booking; decides what they may see and do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Relation {
    /// The account the booking belongs to (a customer or a corporate account).
    Customer,
    /// The technician the booking is currently assigned to.
    AssignedTechnician,
    /// A technician the booking is not assigned to.
    OtherTechnician,
    Admin,
    /// Support staff: may read every booking, may change none.
    Support,
    /// Anyone else.
    Stranger,
}

impl Relation {
    /// Every relation, for exhaustive tables.
    pub const ALL: [Relation; 6] = [
        Relation::Customer,
        Relation::AssignedTechnician,
        Relation::OtherTechnician,
        Relation::Admin,
        Relation::Support,
        Relation::Stranger,
    ];

    /// The relation of the account `user_id` with role `role` to a booking.
    pub fn of(
        role: crate::auth::Role,
        user_id: &str,
        customer_id: &str,
        technician_id: Option<&str>,
    ) -> Relation {
        use crate::auth::Role;
        if role == Role::Admin {
            Relation::Admin
        } else if user_id == customer_id {
            Relation::Customer
        } else if technician_id == Some(user_id) {
            Relation::AssignedTechnician
        } else if role == Role::Support {
            Relation::Support
        } else if role == Role::Technician {
            Relation::OtherTechnician
        } else {
            Relation::Stranger
        }
    }

    /// Whether the booking exists for this caller at all (others get 404).
    pub fn can_view(self) -> bool {
        !matches!(self, Relation::OtherTechnician | Relation::Stranger)
    }

    /// The participants named on the booking.
    pub fn is_party(self) -> bool {
        matches!(self, Relation::Customer | Relation::AssignedTechnician)
    }
}

// ---------------------------------------------------------------- actions

/// Everything that moves a booking from one status to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// An admin names the technician.
    Assign,
    Accept,
    /// The technician says no: the booking goes back to `pending`, unassigned.
    Decline,
    EnRoute,
    Arrive,
    Start,
    Complete,
    Cancel,
    Dispute,
    /// An admin closes a dispute with the job standing.
    ResolveCompleted,
    /// An admin closes a dispute with the money going back.
    ResolveRefunded,
}

impl Action {
    /// Every action, for exhaustive tables.
    pub const ALL: [Action; 11] = [
        Action::Assign,
        Action::Accept,
        Action::Decline,
        Action::EnRoute,
        Action::Arrive,
        Action::Start,
        Action::Complete,
        Action::Cancel,
        Action::Dispute,
        Action::ResolveCompleted,
        Action::ResolveRefunded,
    ];

    /// The name recorded in the timeline.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Assign => "assign",
            Action::Accept => "accept",
            Action::Decline => "decline",
            Action::EnRoute => "en_route",
            Action::Arrive => "arrive",
            Action::Start => "start",
            Action::Complete => "complete",
            Action::Cancel => "cancel",
            Action::Dispute => "dispute",
            Action::ResolveCompleted => "resolve_completed",
            Action::ResolveRefunded => "resolve_refunded",
        }
    }

    /// The verb of error messages ("cannot start a booking that is ...").
    fn verb(self) -> &'static str {
        match self {
            Action::Assign => "assign a technician to",
            Action::Accept => "accept",
            Action::Decline => "decline",
            Action::EnRoute => "set en route",
            Action::Arrive => "mark arrived",
            Action::Start => "start",
            Action::Complete => "complete",
            Action::Cancel => "cancel",
            Action::Dispute => "dispute",
            Action::ResolveCompleted | Action::ResolveRefunded => "resolve a dispute on",
        }
    }

    /// Actions that only an admin may take, whatever the booking.
    pub fn is_admin_only(self) -> bool {
        matches!(
            self,
            Action::Assign | Action::ResolveCompleted | Action::ResolveRefunded
        )
    }

    /// The action a `PUT /bookings/:id/status` with `status` asks for. The
    /// other statuses have their own routes (assign, dispute, resolve).
    pub fn from_requested_status(status: &str) -> Option<Action> {
        Some(match status {
            "accepted" => Action::Accept,
            "rejected" | "declined" => Action::Decline,
            "en_route" => Action::EnRoute,
            "arrived" => Action::Arrive,
            "in_progress" => Action::Start,
            "completed" => Action::Complete,
            "cancelled" => Action::Cancel,
            _ => return None,
        })
    }

    fn forbidden_message(self) -> &'static str {
        match self {
            Action::Assign => "Only an admin can assign a technician",
            Action::Accept | Action::Decline => {
                "Only the assigned technician can accept or decline this booking"
            }
            Action::EnRoute | Action::Arrive => {
                "Only the assigned technician can update the job's progress"
            }
            Action::Start => "Only the assigned technician can start the job",
            Action::Complete => "Only the assigned technician can mark the job as completed",
            Action::Cancel => "Not authorized to cancel this booking",
            Action::Dispute => "Only the booking's customer or technician can open a dispute",
            Action::ResolveCompleted | Action::ResolveRefunded => {
                "Only an admin can resolve a dispute"
            }
        }
    }
}

/// Why a move is refused; each maps to one HTTP status.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The caller may not know the booking exists (404).
    Hidden,
    /// The caller's role or relation may never take this action (403).
    Forbidden(&'static str),
    /// The caller may take this action, but not from the current status (409).
    Conflict {
        status: Status,
        action: Action,
        /// The moves the caller may make from `status`.
        allowed: Vec<(Action, Status)>,
    },
}

impl Refusal {
    /// The client-facing message; a conflict names the current status and
    /// the moves allowed from it.
    pub fn message(&self) -> String {
        match self {
            Refusal::Hidden => "Booking not found".into(),
            Refusal::Forbidden(m) => (*m).into(),
            Refusal::Conflict {
                status,
                action,
                allowed,
            } => {
                let list = if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed
                        .iter()
                        .map(|(a, to)| format!("{} (to {})", a.as_str(), to))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                format!(
                    "Cannot {} a booking that is {status}. Moves allowed from {status}: {list}",
                    action.verb()
                )
            }
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> ApiError {
        match &r {
            Refusal::Hidden => ApiError::not_found("Booking"),
            Refusal::Forbidden(_) => ApiError::Forbidden(r.message()),
            Refusal::Conflict { .. } => ApiError::Conflict(r.message()),
        }
    }
}

/// One line of the machine: who may take `action` from which statuses, and where it leads.
struct Rule {
    action: Action,
    by: Relation,
    from: &'static [Status],
    to: Status,
}

use Status as S;

/// The whole machine. Anything not listed here is refused.
const RULES: &[Rule] = &[
    Rule {
        action: Action::Assign,
        by: Relation::Admin,
        from: &[S::Pending],
        to: S::AwaitingAcceptance,
    },
    Rule {
        action: Action::Accept,
        by: Relation::AssignedTechnician,
        from: &[S::AwaitingAcceptance],
        to: S::Accepted,
    },
    Rule {
        action: Action::Decline,
        by: Relation::AssignedTechnician,
        from: &[S::AwaitingAcceptance],
        to: S::Pending,
    },
    Rule {
        action: Action::EnRoute,
        by: Relation::AssignedTechnician,
        from: &[S::Accepted],
        to: S::EnRoute,
    },
    Rule {
        action: Action::Arrive,
        by: Relation::AssignedTechnician,
        from: &[S::Accepted, S::EnRoute],
        to: S::Arrived,
    },
    Rule {
        action: Action::Start,
        by: Relation::AssignedTechnician,
        from: &[S::Accepted, S::EnRoute, S::Arrived],
        to: S::InProgress,
    },
    Rule {
        action: Action::Complete,
        by: Relation::AssignedTechnician,
        from: &[S::InProgress],
        to: S::Completed,
    },
    Rule {
        action: Action::Cancel,
        by: Relation::Customer,
        from: &[S::Pending, S::AwaitingAcceptance, S::Accepted],
        to: S::Cancelled,
    },
    Rule {
        action: Action::Cancel,
        by: Relation::AssignedTechnician,
        from: &[S::Accepted, S::EnRoute, S::Arrived],
        to: S::Cancelled,
    },
    Rule {
        action: Action::Cancel,
        by: Relation::Admin,
        from: &[
            S::Pending,
            S::AwaitingAcceptance,
            S::Accepted,
            S::EnRoute,
            S::Arrived,
            S::InProgress,
        ],
        to: S::Cancelled,
    },
    Rule {
        action: Action::Dispute,
        by: Relation::Customer,
        from: &[S::InProgress, S::Completed],
        to: S::Disputed,
    },
    Rule {
        action: Action::Dispute,
        by: Relation::AssignedTechnician,
        from: &[S::InProgress, S::Completed],
        to: S::Disputed,
    },
    Rule {
        action: Action::ResolveCompleted,
        by: Relation::Admin,
        from: &[S::Disputed],
        to: S::Completed,
    },
    Rule {
        action: Action::ResolveRefunded,
        by: Relation::Admin,
        from: &[S::Disputed],
        to: S::Refunded,
    },
];

/// Decides one move: the status `action` by `relation` leads to from
/// `status`, or why it is refused. Strangers and other technicians do not
/// see the booking (Hidden), except that admin-only actions are refused
/// for their role first (Forbidden), as the routes check the role before
/// looking the booking up. A relation that may never take the action is
/// Forbidden; one that may, but not from `status`, is a Conflict.
pub fn transition(status: Status, relation: Relation, action: Action) -> Result<Status, Refusal> {
    if !relation.can_view() {
        return Err(if action.is_admin_only() {
            Refusal::Forbidden(action.forbidden_message())
        } else {
            Refusal::Hidden
        });
    }
    let mut permitted = false;
    for rule in RULES
        .iter()
        .filter(|r| r.action == action && r.by == relation)
    {
        permitted = true;
        if rule.from.contains(&status) {
            return Ok(rule.to);
        }
    }
    if !permitted {
        return Err(Refusal::Forbidden(action.forbidden_message()));
    }
    Err(Refusal::Conflict {
        status,
        action,
        allowed: moves(status, relation),
    })
}

/// Every move `relation` may make from `status`, in the order of [`Action::ALL`].
pub fn moves(status: Status, relation: Relation) -> Vec<(Action, Status)> {
    Action::ALL
        .into_iter()
        .filter_map(|a| {
            RULES
                .iter()
                .find(|r| r.action == a && r.by == relation && r.from.contains(&status))
                .map(|r| (a, r.to))
        })
        .collect()
}

/// Whether `relation` may change the price of a booking in `status`:
/// the assigned technician or an admin, while the job is not over.
pub fn may_price(status: Status, relation: Relation) -> Result<(), Refusal> {
    match relation {
        Relation::OtherTechnician | Relation::Stranger => Err(Refusal::Hidden),
        Relation::Customer | Relation::Support => {
            Err(Refusal::Forbidden("Not authorized to update pricing"))
        }
        Relation::AssignedTechnician | Relation::Admin if status.is_pricing_editable() => Ok(()),
        Relation::AssignedTechnician | Relation::Admin => Err(Refusal::Conflict {
            status,
            action: Action::Complete,
            allowed: Vec::new(),
        }),
    }
}

/// The message of a refused price change on a closed booking.
pub fn pricing_closed_message(status: Status) -> String {
    format!("Pricing cannot change once a booking is {status}")
}

/// Whether `relation` may add a QA checkpoint to a booking in `status`:
/// only the assigned technician, only while the job is in progress.
pub fn may_add_checkpoint(status: Status, relation: Relation) -> Result<(), Refusal> {
    match relation {
        Relation::OtherTechnician | Relation::Stranger => Err(Refusal::Hidden),
        Relation::AssignedTechnician if status == Status::InProgress => Ok(()),
        Relation::AssignedTechnician => Err(Refusal::Conflict {
            status,
            action: Action::Start,
            allowed: Vec::new(),
        }),
        _ => Err(Refusal::Forbidden(
            "Only assigned technician can add QA checkpoints",
        )),
    }
}

/// The message of a refused checkpoint outside the job.
pub fn checkpoint_closed_message(status: Status) -> String {
    format!(
        "QA checkpoints can be added only while the job is in_progress; this booking is {status}"
    )
}

// ---------------------------------------------------------------- derived figures

/// How one move changes the figures of the booking's technician.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FigureChange {
    /// +1 when a job becomes completed, -1 when a completed job is refunded.
    pub completed: i64,
    /// +1 when the technician cancels a job they accepted.
    pub cancelled: i64,
    /// Whether this move is the technician's answer to an assignment
    /// (its delay counts in the average response time).
    pub answered: bool,
}

impl FigureChange {
    pub fn is_none(&self) -> bool {
        *self == FigureChange::default()
    }
}

/// The change to the technician's figures caused by `action` by
/// `relation`; `was_completed` says whether the job had been completed
/// before (a dispute raised after completion).
pub fn figure_change(action: Action, relation: Relation, was_completed: bool) -> FigureChange {
    let mut c = FigureChange::default();
    match action {
        Action::Complete => c.completed = 1,
        Action::ResolveCompleted if !was_completed => c.completed = 1,
        Action::ResolveRefunded if was_completed => c.completed = -1,
        Action::Cancel if relation == Relation::AssignedTechnician => c.cancelled = 1,
        Action::Accept | Action::Decline => c.answered = true,
        _ => {}
    }
    c
}

/// Completion rate (percent of completed among completed + cancelled by
/// the technician, 2 decimals) and average response (minutes, 1 decimal),
/// `None` before there is anything to average.
pub fn job_figures(
    completed: i64,
    cancelled: i64,
    answers: i64,
    answer_ms_total: i64,
) -> (Option<f64>, Option<f64>) {
    let finished = completed + cancelled;
    let rate =
        (finished > 0).then(|| ((completed as f64 * 10_000.0 / finished as f64).round()) / 100.0);
    let avg = (answers > 0)
        .then(|| ((answer_ms_total as f64 / answers as f64 / 60_000.0) * 10.0).round() / 10.0);
    (rate, avg)
}

// ---------------------------------------------------------------- money

/// The most any single amount may be, in minor units (10 billion in major units).
pub const MAX_MINOR: i64 = 1_000_000_000_000;

/// Reads a money amount in major units (a JSON number or numeric string,
/// at most two decimals, not negative) as integer minor units
/// (see [`crate::money`]).
pub fn parse_money_minor(v: &Value) -> Result<i64, &'static str> {
    let minor = crate::money::parse_major(v).map_err(crate::money::MoneyError::as_str)?;
    if minor > MAX_MINOR {
        return Err("is too large");
    }
    Ok(minor)
}

/// Minor units as the JSON number in major units (KES 5000.5 is `5000.5`).
pub fn major(minor: i64) -> Value {
    if minor % 100 == 0 {
        Value::from(minor / 100)
    } else {
        Value::from(minor as f64 / 100.0)
    }
}

// ---------------------------------------------------------------- pricing

/// What a line of the price is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = BookingItemKind)]
pub enum ItemKind {
    Labour,
    Parts,
    Materials,
    Transport,
    /// Subtracted from the other lines.
    Discount,
}

impl ItemKind {
    pub const ALL: [ItemKind; 5] = [
        ItemKind::Labour,
        ItemKind::Parts,
        ItemKind::Materials,
        ItemKind::Transport,
        ItemKind::Discount,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Labour => "labour",
            ItemKind::Parts => "parts",
            ItemKind::Materials => "materials",
            ItemKind::Transport => "transport",
            ItemKind::Discount => "discount",
        }
    }

    /// Reads a kind; `labor` and `service` are read as labour, `material` and `part` as their plural.
    pub fn parse(s: &str) -> Option<ItemKind> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "labour" | "labor" | "service" => ItemKind::Labour,
            "parts" | "part" => ItemKind::Parts,
            "materials" | "material" => ItemKind::Materials,
            "transport" | "travel" => ItemKind::Transport,
            "discount" => ItemKind::Discount,
            _ => return None,
        })
    }
}

/// One line of a booking's price, in minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineItem {
    pub kind: ItemKind,
    pub description: String,
    pub quantity: i64,
    pub unit_minor: i64,
}

impl LineItem {
    /// quantity × unit price (checked by [`price`] to stay within [`MAX_MINOR`]).
    pub fn amount_minor(&self) -> i64 {
        self.quantity.saturating_mul(self.unit_minor)
    }
}

/// The most lines one price may have.
pub const MAX_ITEMS: usize = 50;
/// The largest quantity of one line.
pub const MAX_QUANTITY: i64 = 100_000;

/// A computed price. `total` is what the customer pays; the platform fee
/// is the platform's share of it and the technician earns the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pricing {
    pub labour_minor: i64,
    /// Parts and materials.
    pub materials_minor: i64,
    pub transport_minor: i64,
    pub discount_minor: i64,
    pub subtotal_minor: i64,
    pub platform_fee_minor: i64,
    pub total_minor: i64,
}

impl Pricing {
    /// What the technician keeps of the total.
    pub fn technician_earnings_minor(&self) -> i64 {
        self.total_minor - self.platform_fee_minor
    }
}

/// Why a set of line items has no price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PricingError {
    TooManyItems,
    /// Quantity or unit price out of range on the item at this index.
    BadItem(usize, &'static str),
    /// Discounts larger than everything else.
    DiscountTooLarge,
    TooLarge,
}

impl PricingError {
    /// The field the client should fix and what is wrong.
    pub fn field_error(&self) -> (String, String) {
        match self {
            PricingError::TooManyItems => (
                "items".into(),
                format!("A price has at most {MAX_ITEMS} items"),
            ),
            PricingError::BadItem(i, m) => (format!("items[{i}]"), (*m).to_string()),
            PricingError::DiscountTooLarge => (
                "items".into(),
                "Discounts cannot exceed the other items".into(),
            ),
            PricingError::TooLarge => ("items".into(), "The total is too large".into()),
        }
    }
}

/// Prices line items: subtotal = labour + parts + materials + transport −
/// discounts (never negative); the platform fee is the payments module's
/// fee on it (`payments::model::platform_fee`: percent rounded half up, at
/// least the minimum, at most the subtotal), so the fee a booking shows is
/// the fee its release takes; the total is the subtotal.
pub fn price(items: &[LineItem], fee: FeePolicy) -> Result<Pricing, PricingError> {
    if items.len() > MAX_ITEMS {
        return Err(PricingError::TooManyItems);
    }
    let mut p = Pricing::default();
    for (i, item) in items.iter().enumerate() {
        if !(1..=MAX_QUANTITY).contains(&item.quantity) {
            return Err(PricingError::BadItem(
                i,
                "Quantity must be a whole number from 1 to 100000",
            ));
        }
        if !(0..=MAX_MINOR).contains(&item.unit_minor) {
            return Err(PricingError::BadItem(i, "Unit price is out of range"));
        }
        let amount = item
            .quantity
            .checked_mul(item.unit_minor)
            .filter(|a| *a <= MAX_MINOR)
            .ok_or(PricingError::BadItem(i, "Amount is too large"))?;
        let slot = match item.kind {
            ItemKind::Labour => &mut p.labour_minor,
            ItemKind::Parts | ItemKind::Materials => &mut p.materials_minor,
            ItemKind::Transport => &mut p.transport_minor,
            ItemKind::Discount => &mut p.discount_minor,
        };
        *slot += amount;
    }
    let gross = p.labour_minor + p.materials_minor + p.transport_minor;
    if gross > MAX_MINOR {
        return Err(PricingError::TooLarge);
    }
    if p.discount_minor > gross {
        return Err(PricingError::DiscountTooLarge);
    }
    p.subtotal_minor = gross - p.discount_minor;
    p.platform_fee_minor = platform_fee(p.subtotal_minor, fee);
    p.total_minor = p.subtotal_minor;
    Ok(p)
}

// ---------------------------------------------------------------- cancellation and disputes

/// The fee a cancellation costs the customer: `percent` of the total when
/// the customer cancels after the technician accepted and less than
/// `late_window_ms` before the scheduled start; otherwise nothing.
pub fn cancellation_fee_minor(
    relation: Relation,
    from: Status,
    scheduled_at: Option<i64>,
    now: i64,
    total_minor: i64,
    late_window_ms: i64,
    percent: u32,
) -> i64 {
    let after_acceptance = matches!(
        from,
        Status::Accepted | Status::EnRoute | Status::Arrived | Status::InProgress
    );
    let late = scheduled_at.is_none_or(|at| at - now < late_window_ms);
    if relation == Relation::Customer && after_acceptance && late {
        (total_minor as i128 * percent.min(100) as i128 / 100) as i64
    } else {
        0
    }
}

/// Whether a dispute may still be opened: always while in progress, and
/// within `window_ms` of completion for a completed job.
pub fn dispute_window_open(
    status: Status,
    completed_at: Option<i64>,
    now: i64,
    window_ms: i64,
) -> bool {
    match status {
        Status::Completed => completed_at.is_some_and(|at| now - at <= window_ms),
        _ => true,
    }
}

/// How an admin closes a dispute (the original's vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = DisputeResolution)]
pub enum Resolution {
    /// The customer gets the money back (all of it unless `refundAmount` says less).
    CustomerFavor,
    /// The job stands; the technician is paid.
    TechnicianFavor,
    /// Part of the money goes back (`refundAmount` required).
    PartialRefund,
    /// The job stands; nothing moves.
    NoAction,
}

impl Resolution {
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::CustomerFavor => "customer_favor",
            Resolution::TechnicianFavor => "technician_favor",
            Resolution::PartialRefund => "partial_refund",
            Resolution::NoAction => "no_action",
        }
    }

    pub fn parse(s: &str) -> Option<Resolution> {
        Some(match s {
            "customer_favor" | "customer_favour" => Resolution::CustomerFavor,
            "technician_favor" | "technician_favour" => Resolution::TechnicianFavor,
            "partial_refund" => Resolution::PartialRefund,
            "no_action" => Resolution::NoAction,
            _ => return None,
        })
    }

    /// The move this resolution makes.
    pub fn action(self) -> Action {
        match self {
            Resolution::CustomerFavor | Resolution::PartialRefund => Action::ResolveRefunded,
            Resolution::TechnicianFavor | Resolution::NoAction => Action::ResolveCompleted,
        }
    }
}

// ---------------------------------------------------------------- input vocabulary

/// Reads an urgency; `normal` is read as `medium` and `urgent` as `emergency`.
pub fn parse_urgency(s: &str) -> Option<&'static str> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "low" => "low",
        "medium" | "normal" => "medium",
        "high" => "high",
        "emergency" | "urgent" => "emergency",
        _ => return None,
    })
}

/// The service category of a booking: the given one if it is a category,
/// else the service type if it names one, else `other` (the wire fix).
pub fn service_category(given: Option<&str>, service_type: &str) -> &'static str {
    use crate::users::technician::SERVICE_CATEGORIES;
    let norm = |s: &str| s.trim().to_ascii_lowercase().replace([' ', '-'], "_");
    for candidate in [given.map(norm), Some(norm(service_type))]
        .into_iter()
        .flatten()
    {
        if let Some(c) = SERVICE_CATEGORIES.iter().find(|c| **c == candidate) {
            return c;
        }
    }
    "other"
}

/// Whether `s` can name a media item at all (a media id or publicId);
/// whether it does, and belongs to the caller, the media module says.
pub fn is_media_key(s: &str) -> bool {
    !s.is_empty() && s.chars().count() <= 300 && !s.chars().any(char::is_control)
}

// ---------------------------------------------------------------- time

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

/// Reads `H:MM` / `HH:MM` (24-hour) as minutes after midnight.
pub fn parse_hhmm(s: &str) -> Option<i64> {
    let (h, m) = s.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m)).then_some(h * 60 + m)
}

/// The start of a job in ms since the epoch from the client's
/// `scheduledDate` and optional `scheduledTime`, read in the local zone
/// `offset_mins` east of UTC. A date-time with a zone is exact; a date with
/// a time is local; a bare date is local midnight.
pub fn schedule_ms(date: &str, time: Option<&str>, offset_mins: i32) -> Option<i64> {
    let date = date.trim();
    let offset_ms = offset_mins as i64 * MINUTE_MS;
    let local_day = |d: &str| {
        chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc().timestamp_millis() - offset_ms)
    };
    if let Some(t) = time.map(str::trim).filter(|t| !t.is_empty()) {
        let mins = parse_hhmm(t)?;
        let day = local_day(date.get(..10)?)?;
        return Some(day + mins * MINUTE_MS);
    }
    if date.len() == 10 {
        return local_day(date);
    }
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(date) {
        return Some(dt.timestamp_millis());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(d) = chrono::NaiveDateTime::parse_from_str(date, fmt) {
            return Some(d.and_utc().timestamp_millis() - offset_ms);
        }
    }
    None
}

/// `HH:MM` of the instant `ms` in the zone `offset_mins` east of UTC.
pub fn local_hhmm(ms: i64, offset_mins: i32) -> String {
    let mins = (ms + offset_mins as i64 * MINUTE_MS).rem_euclid(DAY_MS) / MINUTE_MS;
    format!("{:02}:{:02}", mins / 60, mins % 60)
}

/// The local day number (days since the epoch) of `ms`, for daily figures.
pub fn local_day(ms: i64, offset_mins: i32) -> i64 {
    (ms + offset_mins as i64 * MINUTE_MS).div_euclid(DAY_MS)
}

/// `YYYY-MM-DD` of a local day number.
pub fn day_string(day: i64) -> String {
    chrono::DateTime::from_timestamp_millis(day * DAY_MS)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use Action as A;
    use Relation as R;

    /// The machine written out independently of RULES: (status, action) →
    /// [(who may, target)]. Every cell of status × action × relation is
    /// checked against it.
    fn expected(status: Status, action: Action) -> Vec<(Relation, Status)> {
        use Status::*;
        match (status, action) {
            (Pending, A::Assign) => vec![(R::Admin, AwaitingAcceptance)],
            (AwaitingAcceptance, A::Accept) => vec![(R::AssignedTechnician, Accepted)],
            (AwaitingAcceptance, A::Decline) => vec![(R::AssignedTechnician, Pending)],
            (Accepted, A::EnRoute) => vec![(R::AssignedTechnician, EnRoute)],
            (Accepted | EnRoute, A::Arrive) => vec![(R::AssignedTechnician, Arrived)],
            (Accepted | EnRoute | Arrived, A::Start) => vec![(R::AssignedTechnician, InProgress)],
            (InProgress, A::Complete) => vec![(R::AssignedTechnician, Completed)],
            (Pending | AwaitingAcceptance, A::Cancel) => {
                vec![(R::Customer, Cancelled), (R::Admin, Cancelled)]
            }
            (Accepted, A::Cancel) => vec![
                (R::Customer, Cancelled),
                (R::AssignedTechnician, Cancelled),
                (R::Admin, Cancelled),
            ],
            (EnRoute | Arrived, A::Cancel) => {
                vec![(R::AssignedTechnician, Cancelled), (R::Admin, Cancelled)]
            }
            (InProgress, A::Cancel) => vec![(R::Admin, Cancelled)],
            (InProgress | Completed, A::Dispute) => {
                vec![(R::Customer, Disputed), (R::AssignedTechnician, Disputed)]
            }
            (Disputed, A::ResolveCompleted) => vec![(R::Admin, Completed)],
            (Disputed, A::ResolveRefunded) => vec![(R::Admin, Refunded)],
            _ => vec![],
        }
    }

    /// Who may ever take each action.
    fn permitted(action: Action) -> &'static [Relation] {
        match action {
            A::Assign | A::ResolveCompleted | A::ResolveRefunded => &[R::Admin],
            A::Accept | A::Decline | A::EnRoute | A::Arrive | A::Start | A::Complete => {
                &[R::AssignedTechnician]
            }
            A::Cancel => &[R::Customer, R::AssignedTechnician, R::Admin],
            A::Dispute => &[R::Customer, R::AssignedTechnician],
        }
    }

    #[test]
    fn the_whole_table() {
        let mut cells = 0;
        for status in Status::ALL {
            for action in Action::ALL {
                let allowed = expected(status, action);
                for relation in Relation::ALL {
                    cells += 1;
                    let got = transition(status, relation, action);
                    let want = allowed
                        .iter()
                        .find(|(r, _)| *r == relation)
                        .map(|(_, to)| *to);
                    match (want, got) {
                        (Some(to), Ok(got)) => {
                            assert_eq!(got, to, "{status:?} {action:?} {relation:?}")
                        }
                        (Some(to), Err(e)) => {
                            panic!("{status:?} {action:?} {relation:?}: wanted {to:?}, got {e:?}")
                        }
                        (None, Ok(to)) => panic!(
                            "{status:?} {action:?} {relation:?}: wanted a refusal, got {to:?}"
                        ),
                        (None, Err(e)) => {
                            let kind = match e {
                                Refusal::Hidden => "hidden",
                                Refusal::Forbidden(_) => "forbidden",
                                Refusal::Conflict { .. } => "conflict",
                            };
                            let want_kind = if matches!(relation, R::OtherTechnician | R::Stranger)
                            {
                                if action.is_admin_only() {
                                    "forbidden"
                                } else {
                                    "hidden"
                                }
                            } else if permitted(action).contains(&relation) {
                                "conflict"
                            } else {
                                "forbidden"
                            };
                            assert_eq!(kind, want_kind, "{status:?} {action:?} {relation:?}");
                        }
                    }
                }
            }
        }
        assert_eq!(cells, 10 * 11 * 6);
    }

    #[test]
    fn conflicts_name_the_status_and_the_moves_from_it() {
        let e = transition(Status::Completed, R::AssignedTechnician, A::Start).unwrap_err();
        assert_eq!(
            e.message(),
            "Cannot start a booking that is completed. Moves allowed from completed: dispute (to disputed)"
        );
        let e = transition(Status::Cancelled, R::Customer, A::Cancel).unwrap_err();
        assert_eq!(
            e.message(),
            "Cannot cancel a booking that is cancelled. Moves allowed from cancelled: none"
        );
        let e = transition(Status::Accepted, R::AssignedTechnician, A::Accept).unwrap_err();
        assert!(e.message().contains("en_route (to en_route), arrive (to arrived), start (to in_progress), cancel (to cancelled)"), "{}", e.message());
        assert!(matches!(ApiError::from(e), ApiError::Conflict(_)));
    }

    #[test]
    fn final_statuses_have_no_ordinary_moves() {
        for s in [Status::Cancelled, Status::Refunded] {
            for r in Relation::ALL {
                assert!(moves(s, r).is_empty(), "{s:?} {r:?}");
            }
        }
        assert_eq!(moves(Status::Completed, R::Admin), vec![]);
        assert_eq!(
            moves(Status::Completed, R::Customer),
            vec![(A::Dispute, Status::Disputed)]
        );
    }

    #[test]
    fn statuses_round_trip_and_alias() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), json!(s.as_str()));
        }
        assert_eq!(Status::parse("assigned"), Some(Status::AwaitingAcceptance));
        assert_eq!(Status::parse("paid"), None);
    }

    #[test]
    fn requested_statuses_map_to_actions() {
        assert_eq!(Action::from_requested_status("rejected"), Some(A::Decline));
        assert_eq!(Action::from_requested_status("in_progress"), Some(A::Start));
        assert_eq!(Action::from_requested_status("disputed"), None);
        assert_eq!(Action::from_requested_status("pending"), None);
    }

    #[test]
    fn relations_follow_role_and_ids() {
        use crate::auth::Role;
        assert_eq!(Relation::of(Role::Admin, "a", "c", None), R::Admin);
        assert_eq!(Relation::of(Role::Corporate, "c", "c", None), R::Customer);
        assert_eq!(
            Relation::of(Role::Technician, "t", "c", Some("t")),
            R::AssignedTechnician
        );
        assert_eq!(
            Relation::of(Role::Technician, "u", "c", Some("t")),
            R::OtherTechnician
        );
        assert_eq!(
            Relation::of(Role::Technician, "u", "c", None),
            R::OtherTechnician
        );
        assert_eq!(Relation::of(Role::Support, "s", "c", None), R::Support);
        assert_eq!(Relation::of(Role::Customer, "x", "c", None), R::Stranger);
    }

    #[test]
    fn pricing_and_checkpoint_permissions() {
        for s in Status::ALL {
            for r in Relation::ALL {
                let p = may_price(s, r);
                match r {
                    R::OtherTechnician | R::Stranger => assert_eq!(p, Err(Refusal::Hidden)),
                    R::Customer | R::Support => assert!(matches!(p, Err(Refusal::Forbidden(_)))),
                    _ => assert_eq!(
                        p.is_ok(),
                        !matches!(
                            s,
                            Status::Completed
                                | Status::Cancelled
                                | Status::Refunded
                                | Status::Disputed
                        ),
                        "{s:?} {r:?}"
                    ),
                }
                let q = may_add_checkpoint(s, r);
                match r {
                    R::OtherTechnician | R::Stranger => assert_eq!(q, Err(Refusal::Hidden)),
                    R::AssignedTechnician => assert_eq!(q.is_ok(), s == Status::InProgress),
                    _ => assert!(matches!(q, Err(Refusal::Forbidden(_)))),
                }
            }
        }
    }

    fn fee(basis_points: i64) -> FeePolicy {
        FeePolicy {
            basis_points,
            minimum_minor: 0,
        }
    }

    fn item(kind: ItemKind, quantity: i64, unit_minor: i64) -> LineItem {
        LineItem {
            kind,
            description: String::new(),
            quantity,
            unit_minor,
        }
    }

    #[test]
    fn prices_line_items() {
        let p = price(
            &[
                item(ItemKind::Labour, 2, 150_000),
                item(ItemKind::Parts, 3, 10_050),
                item(ItemKind::Materials, 1, 5_000),
                item(ItemKind::Transport, 1, 20_000),
                item(ItemKind::Discount, 1, 10_000),
            ],
            fee(1000),
        )
        .unwrap();
        assert_eq!(p.labour_minor, 300_000);
        assert_eq!(p.materials_minor, 35_150);
        assert_eq!(p.transport_minor, 20_000);
        assert_eq!(p.discount_minor, 10_000);
        assert_eq!(p.subtotal_minor, 345_150);
        assert_eq!(p.platform_fee_minor, 34_515);
        assert_eq!(p.total_minor, 345_150);
        assert_eq!(p.technician_earnings_minor(), 310_635);
        assert_eq!(price(&[], fee(1000)).unwrap(), Pricing::default());
    }

    #[test]
    fn fee_rounds_half_up() {
        assert_eq!(
            price(&[item(ItemKind::Labour, 1, 5)], fee(1000))
                .unwrap()
                .platform_fee_minor,
            1
        );
        assert_eq!(
            price(&[item(ItemKind::Labour, 1, 4)], fee(1000))
                .unwrap()
                .platform_fee_minor,
            0
        );
        assert_eq!(
            price(&[item(ItemKind::Labour, 1, 100)], fee(0))
                .unwrap()
                .platform_fee_minor,
            0
        );
        assert_eq!(
            price(&[item(ItemKind::Labour, 1, 100)], fee(20_000))
                .unwrap()
                .platform_fee_minor,
            100
        );
    }

    #[test]
    fn fee_has_the_payments_minimum() {
        let policy = FeePolicy {
            basis_points: 1000,
            minimum_minor: 50,
        };
        assert_eq!(
            price(&[item(ItemKind::Labour, 1, 100)], policy)
                .unwrap()
                .platform_fee_minor,
            50
        );
        assert_eq!(
            price(&[item(ItemKind::Labour, 1, 30)], policy)
                .unwrap()
                .platform_fee_minor,
            30
        );
        assert_eq!(
            price(&[item(ItemKind::Labour, 1, 10_000)], policy)
                .unwrap()
                .platform_fee_minor,
            1000
        );
        assert_eq!(price(&[], policy).unwrap().platform_fee_minor, 0);
    }

    #[test]
    fn refuses_bad_prices() {
        assert_eq!(
            price(
                &[
                    item(ItemKind::Labour, 1, 100),
                    item(ItemKind::Discount, 1, 101)
                ],
                fee(1000)
            ),
            Err(PricingError::DiscountTooLarge)
        );
        assert!(matches!(
            price(&[item(ItemKind::Labour, 0, 100)], fee(1000)),
            Err(PricingError::BadItem(0, _))
        ));
        assert!(matches!(
            price(&[item(ItemKind::Parts, 1, -1)], fee(1000)),
            Err(PricingError::BadItem(0, _))
        ));
        assert!(matches!(
            price(&[item(ItemKind::Parts, MAX_QUANTITY, MAX_MINOR)], fee(1000)),
            Err(PricingError::BadItem(0, _))
        ));
        let many = vec![item(ItemKind::Labour, 1, 1); MAX_ITEMS + 1];
        assert_eq!(price(&many, fee(1000)), Err(PricingError::TooManyItems));
        let big = vec![item(ItemKind::Labour, 1, MAX_MINOR); 2];
        assert_eq!(price(&big, fee(1000)), Err(PricingError::TooLarge));
    }

    #[test]
    fn reads_money_in_major_units() {
        assert_eq!(parse_money_minor(&json!(5000)), Ok(500_000));
        assert_eq!(parse_money_minor(&json!(19.99)), Ok(1999));
        assert_eq!(parse_money_minor(&json!(0.1)), Ok(10));
        assert_eq!(parse_money_minor(&json!("1500.5")), Ok(150_050));
        assert_eq!(parse_money_minor(&json!("7")), Ok(700));
        assert!(parse_money_minor(&json!(1.005)).is_err());
        assert!(parse_money_minor(&json!(5000.555)).is_err());
        assert!(parse_money_minor(&json!(-1)).is_err());
        assert!(parse_money_minor(&json!("1.234")).is_err());
        assert!(parse_money_minor(&json!("abc")).is_err());
        assert!(parse_money_minor(&json!("-3")).is_err());
        assert!(parse_money_minor(&json!(true)).is_err());
        assert!(parse_money_minor(&json!(1e300)).is_err());
        assert_eq!(major(500_000), json!(5000));
        assert_eq!(major(150_050), json!(1500.5));
    }

    #[test]
    fn late_customer_cancellation_costs_a_fee() {
        let h = 3_600_000;
        let fee =
            |r, from, at: Option<i64>| cancellation_fee_minor(r, from, at, 0, 10_000, 24 * h, 20);
        assert_eq!(fee(R::Customer, Status::Accepted, Some(2 * h)), 2_000);
        assert_eq!(fee(R::Customer, Status::Accepted, Some(48 * h)), 0);
        assert_eq!(fee(R::Customer, Status::Pending, Some(h)), 0);
        assert_eq!(fee(R::Customer, Status::AwaitingAcceptance, Some(h)), 0);
        assert_eq!(fee(R::AssignedTechnician, Status::Accepted, Some(h)), 0);
        assert_eq!(fee(R::Admin, Status::Accepted, Some(h)), 0);
        assert_eq!(fee(R::Customer, Status::Accepted, None), 2_000);
    }

    #[test]
    fn dispute_window() {
        let w = 72 * 3_600_000;
        assert!(dispute_window_open(Status::InProgress, None, 10, w));
        assert!(dispute_window_open(Status::Completed, Some(0), w, w));
        assert!(!dispute_window_open(Status::Completed, Some(0), w + 1, w));
        assert!(!dispute_window_open(Status::Completed, None, 0, w));
    }

    #[test]
    fn figures_follow_the_moves() {
        assert_eq!(
            figure_change(A::Complete, R::AssignedTechnician, false).completed,
            1
        );
        assert_eq!(
            figure_change(A::ResolveCompleted, R::Admin, false).completed,
            1
        );
        assert_eq!(
            figure_change(A::ResolveCompleted, R::Admin, true).completed,
            0
        );
        assert_eq!(
            figure_change(A::ResolveRefunded, R::Admin, true).completed,
            -1
        );
        assert_eq!(
            figure_change(A::ResolveRefunded, R::Admin, false).completed,
            0
        );
        assert_eq!(
            figure_change(A::Cancel, R::AssignedTechnician, false).cancelled,
            1
        );
        assert!(figure_change(A::Cancel, R::Customer, false).is_none());
        assert!(figure_change(A::Cancel, R::Admin, false).is_none());
        assert!(figure_change(A::Accept, R::AssignedTechnician, false).answered);
        assert!(figure_change(A::Decline, R::AssignedTechnician, false).answered);
        assert!(figure_change(A::Start, R::AssignedTechnician, false).is_none());
        assert_eq!(job_figures(0, 0, 0, 0), (None, None));
        assert_eq!(job_figures(2, 1, 2, 3 * 60_000), (Some(66.67), Some(1.5)));
        assert_eq!(job_figures(5, 0, 1, 90_000), (Some(100.0), Some(1.5)));
    }

    #[test]
    fn resolutions_map_to_outcomes() {
        assert_eq!(
            Resolution::parse("customer_favor").unwrap().action(),
            A::ResolveRefunded
        );
        assert_eq!(
            Resolution::parse("partial_refund").unwrap().action(),
            A::ResolveRefunded
        );
        assert_eq!(
            Resolution::parse("technician_favor").unwrap().action(),
            A::ResolveCompleted
        );
        assert_eq!(
            Resolution::parse("no_action").unwrap().action(),
            A::ResolveCompleted
        );
        assert_eq!(Resolution::parse("whatever"), None);
    }

    #[test]
    fn vocabulary() {
        assert_eq!(parse_urgency("normal"), Some("medium"));
        assert_eq!(parse_urgency("URGENT"), Some("emergency"));
        assert_eq!(parse_urgency("high"), Some("high"));
        assert_eq!(parse_urgency("asap"), None);
        assert_eq!(service_category(Some("hvac"), "AC repair"), "hvac");
        assert_eq!(service_category(None, "Plumbing"), "plumbing");
        assert_eq!(
            service_category(Some("nonsense"), "Appliance Repair"),
            "appliance_repair"
        );
        assert_eq!(service_category(None, "Fix my sink"), "other");
        assert_eq!(ItemKind::parse("Labor"), Some(ItemKind::Labour));
        assert_eq!(ItemKind::parse("fees"), None);
    }

    #[test]
    fn reads_schedules_in_the_local_zone() {
        let eat = 180;
        // 2030-06-01 09:30 in Nairobi is 06:30Z.
        let at = schedule_ms("2030-06-01", Some("09:30"), eat).unwrap();
        assert_eq!(crate::ids::iso(at), "2030-06-01T06:30:00.000Z");
        assert_eq!(local_hhmm(at, eat), "09:30");
        assert_eq!(
            schedule_ms("2030-06-01T00:00:00.000Z", Some("9:30"), eat),
            Some(at)
        );
        assert_eq!(schedule_ms("2030-06-01T06:30:00Z", None, eat), Some(at));
        assert_eq!(schedule_ms("2030-06-01T09:30:00", None, eat), Some(at));
        assert_eq!(
            crate::ids::iso(schedule_ms("2030-06-01", None, eat).unwrap()),
            "2030-05-31T21:00:00.000Z"
        );
        assert_eq!(schedule_ms("2030-06-01", Some("25:00"), eat), None);
        assert_eq!(schedule_ms("tomorrow", None, eat), None);
        assert_eq!(parse_hhmm("23:59"), Some(1439));
        assert_eq!(parse_hhmm("7:05"), Some(425));
        assert_eq!(parse_hhmm("7:5"), None);
        assert_eq!(local_hhmm(at + 150 * 60_000, eat), "12:00");
        assert_eq!(day_string(local_day(at, eat)), "2030-06-01");
    }
}
