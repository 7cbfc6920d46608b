//! Documented shapes of the support endpoints: request bodies and the wire
//! keys the handlers build (these types exist for the OpenAPI document;
//! handlers parse bodies with the pure parsers in `model.rs`).

#![allow(dead_code)]

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// A new ticket.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketCreateBody {
    /// At most 200 characters.
    pub subject: String,
    pub description: String,
    /// account, booking, payment, technical, billing, complaint,
    /// feature_request, bug_report, general or other.
    pub category: String,
    /// low, medium (default), high or urgent.
    pub priority: Option<String>,
    pub subcategory: Option<String>,
    /// A booking of the caller's.
    pub related_booking: Option<String>,
    /// A transaction of the caller's.
    pub related_transaction: Option<String>,
    /// Media ids (or public ids) of the caller's uploads, at most 10.
    pub attachments: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    /// web, mobile, email, phone or chat (default: from the User-Agent).
    pub channel: Option<String>,
}

/// A reply or (staff) internal note.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketMessageBody {
    pub message: String,
    /// Media ids of the caller's uploads.
    pub attachments: Option<Vec<String>>,
    /// Staff only: an internal note the customer never sees.
    pub is_internal: Option<bool>,
}

/// Manual assignment.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketAssignBody {
    /// A support agent's (or admin's) user id.
    pub agent_id: String,
}

/// A status move.
#[derive(Deserialize, ToSchema)]
pub struct TicketStatusBody {
    /// in_progress, waiting_customer, waiting_internal, resolved, closed or reopened.
    pub status: String,
    /// Kept as an internal note.
    pub notes: Option<String>,
}

/// A priority change (SLA targets stay those set at creation).
#[derive(Deserialize, ToSchema)]
pub struct TicketPriorityBody {
    pub priority: String,
}

/// The general staff update (the summary's `PUT /tickets/:id`).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketUpdateBody {
    pub status: Option<String>,
    pub priority: Option<String>,
    pub category: Option<String>,
    pub subcategory: Option<String>,
    pub tags: Option<Vec<String>>,
    /// Assigns to this agent (same cap as manual assignment).
    pub assigned_to: Option<String>,
    /// Kept as an internal note.
    pub notes: Option<String>,
}

/// Closing.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketCloseBody {
    pub summary: String,
    /// solved, workaround, duplicate, cannot_reproduce, wont_fix or other.
    pub resolution_type: String,
    pub resolution_notes: Option<String>,
}

/// Reopening.
#[derive(Deserialize, ToSchema)]
pub struct TicketReopenBody {
    pub reason: String,
}

/// Escalation.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketEscalateBody {
    /// The staff member it goes to.
    pub escalated_to: String,
    pub reason: String,
}

/// A satisfaction rating.
#[derive(Deserialize, ToSchema)]
pub struct TicketRateBody {
    /// 1 to 5.
    pub rating: i64,
    pub feedback: Option<String>,
}

/// An agent's availability.
#[derive(Deserialize, ToSchema)]
pub struct SupportAvailabilityBody {
    /// available, busy, away or offline.
    pub status: String,
}

/// An agent's availability as the agent (status) or an admin (both) sets it.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SupportAgentAvailabilityBody {
    /// available, busy, away or offline.
    pub status: Option<String>,
    /// Admins only: the most tickets the agent works at once, 1 to 200.
    pub max_concurrent_tickets: Option<i64>,
}

/// `{success, ticket}`.
#[derive(Serialize, ToSchema)]
pub struct TicketOne {
    pub success: bool,
    /// The ticket (`messages`, `statusHistory`, and for staff `internalNotes`).
    #[schema(value_type = Object)]
    pub ticket: Value,
}

/// `{success, message, ticket}`.
#[derive(Serialize, ToSchema)]
pub struct TicketSaved {
    pub success: bool,
    pub message: String,
    #[schema(value_type = Object)]
    pub ticket: Value,
}

/// `{success, count, total, page, pages, tickets}`.
#[derive(Serialize, ToSchema)]
pub struct TicketList {
    pub success: bool,
    pub count: i64,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
    #[schema(value_type = Vec<Object>)]
    pub tickets: Vec<Value>,
}

/// `{success, message, newMessage}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketMessageSaved {
    pub success: bool,
    pub message: String,
    #[schema(value_type = Object)]
    pub new_message: Value,
}

/// `{success, message, rating: {rating, feedback, ratedAt}}`.
#[derive(Serialize, ToSchema)]
pub struct TicketRated {
    pub success: bool,
    pub message: String,
    #[schema(value_type = Object)]
    pub rating: Value,
}

/// `{success, dashboard: {assignedTickets, unassignedTickets, urgentTickets, currentWorkload}}`.
#[derive(Serialize, ToSchema)]
pub struct SupportDashboard {
    pub success: bool,
    #[schema(value_type = Object)]
    pub dashboard: Value,
}

/// `{success, total, statusBreakdown, priorityBreakdown, categoryBreakdown, agentStats, sla, ...}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SupportStats {
    pub success: bool,
    pub total: i64,
    #[schema(value_type = Vec<Object>)]
    pub status_breakdown: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub priority_breakdown: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub category_breakdown: Vec<Value>,
    #[schema(value_type = Option<Object>)]
    pub agent_stats: Option<Value>,
}

/// `{success, message, availability: {status, maxConcurrentTickets}, currentWorkload}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SupportAvailabilitySaved {
    pub success: bool,
    pub message: String,
    #[schema(value_type = Object)]
    pub availability: Value,
    /// Tickets the agent is working now; above `maxConcurrentTickets`
    /// after the cap was lowered, until they finish some.
    pub current_workload: i64,
}
