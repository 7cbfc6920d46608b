//! `/api/v1/support`: tickets, messages, assignment, status, priority,
//! close, reopen, escalate, rate, the agents' dashboard and stats, and
//! availability. The original server's paths and the route summary's
//! aliases (`POST .../assign`, `.../message`, `POST .../escalate`,
//! `.../rating`, `PUT /tickets/:id`) are served by the same handlers.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::extract::CurrentUser;
use crate::auth::store::Account;
use crate::auth::Role;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::http::middleware::ClientIp;
use crate::http::{list_response, AppJson, AppQuery, Page};
use crate::ids::{is_valid_id, iso, now_ms, parse_datetime};
use crate::openapi::schemas::ErrorBody;
use crate::state::AppState;
use crate::support::document::{
    message_json, satisfaction_json, ticket_json, tickets_json, Detail, People, View,
};
use crate::support::model::{
    self, can_view, has_room, is_staff, median, one_of, optional_text, parse_message,
    parse_new_ticket, parse_rating, required_text, transition, within_reopen_window, Actor,
    Priority, Status, CATEGORIES, RESOLUTION_TYPES,
};
use crate::support::schemas::*;
use crate::support::store::{self, ListFilter, Scope, Ticket};
use crate::support::{self as desk};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(dashboard))
        .routes(routes!(stats))
        .routes(routes!(set_availability))
        .routes(routes!(set_agent_availability))
        .routes(routes!(list_tickets, create_ticket))
        .routes(routes!(get_ticket, update_ticket))
        .routes(routes!(add_message))
        .routes(routes!(add_message_alias))
        .routes(routes!(assign_ticket, assign_ticket_alias))
        .routes(routes!(set_status))
        .routes(routes!(set_priority))
        .routes(routes!(close_ticket))
        .routes(routes!(reopen_ticket))
        .routes(routes!(escalate_ticket, escalate_ticket_alias))
        .routes(routes!(rate_ticket))
        .routes(routes!(rate_ticket_alias))
}

// ---------------------------------------------------------------- shared

const STAFF: &[Role] = &[Role::Support, Role::Admin];

fn view_of(user: &Account) -> View {
    if is_staff(user.role) {
        View::Staff
    } else {
        View::Requester
    }
}

/// The ticket of a path id if the caller may see it; 404 otherwise (an
/// unparseable id, a missing ticket and someone else's ticket look alike).
fn visible_ticket(conn: &Connection, user: &Account, id: &str) -> ApiResult<Ticket> {
    if !is_valid_id(id) {
        return Err(ApiError::not_found("Ticket"));
    }
    let t = store::find(conn, id)?.ok_or_else(|| ApiError::not_found("Ticket"))?;
    if can_view(
        user.role,
        &user.id,
        &t.customer_id,
        t.assigned_to.as_deref(),
        t.escalated_to.as_deref(),
        t.status,
    ) {
        Ok(t)
    } else {
        Err(ApiError::not_found("Ticket"))
    }
}

fn render_full(conn: &Connection, t: &Ticket, view: View) -> ApiResult<Value> {
    ticket_json(conn, t, view, Detail::Full, &mut People::default())
}

fn refusal(r: model::Refusal) -> ApiError {
    ApiError::Conflict(r.message())
}

fn validation(errors: Vec<FieldError>) -> ApiError {
    ApiError::Validation(errors)
}

/// Attachments as stored and shown: `{url, fileName, fileSize, fileType,
/// uploadedAt, _id, id}` of the caller's own media items.
fn own_attachments(
    conn: &Connection,
    base: &str,
    owner: &str,
    keys: &[String],
    now: i64,
) -> ApiResult<Value> {
    let refs = crate::media::store::owned_media(conn, base, owner, "attachments", keys)?;
    Ok(Value::Array(
        refs.into_iter()
            .map(|m| {
                json!({"_id": m.id, "id": m.id, "publicId": m.public_id, "url": m.url,
                       "fileName": format!("{}.{}", m.public_id, m.format.ext()),
                       "fileSize": m.size, "fileType": format!("{}/{}", m.kind.as_str(), m.format.ext()),
                       "uploadedAt": iso(now)})
            })
            .collect(),
    ))
}

/// The cap of `agent_id` (their own setting, or the default).
fn cap_of(conn: &Connection, agent_id: &str, default_max: i64) -> ApiResult<i64> {
    Ok(store::agent(conn, agent_id)?
        .map(|a| a.max_concurrent)
        .unwrap_or(default_max))
}

/// Why a manual assignment was refused.
enum AssignRefusal {
    Api(ApiError),
    /// The agent is at their cap: `(max, current workload)`.
    Full(i64, i64),
}

impl From<ApiError> for AssignRefusal {
    fn from(e: ApiError) -> Self {
        AssignRefusal::Api(e)
    }
}

impl From<rusqlite::Error> for AssignRefusal {
    fn from(e: rusqlite::Error) -> Self {
        AssignRefusal::Api(e.into())
    }
}

impl IntoResponse for AssignRefusal {
    fn into_response(self) -> Response {
        match self {
            AssignRefusal::Api(e) => e.into_response(),
            AssignRefusal::Full(max, load) => (
                StatusCode::BAD_REQUEST,
                Json(json!({"success": false,
                    "message": format!("Agent has reached maximum concurrent tickets ({max})"),
                    "currentWorkload": load})),
            )
                .into_response(),
        }
    }
}

/// Manual assignment of `t` to `agent_id` within the agent's cap, in the
/// caller's transaction (the count and the write cannot be split).
fn assign_manually(
    conn: &Connection,
    t: &mut Ticket,
    agent_id: &str,
    actor: &str,
    default_max: i64,
    now: i64,
) -> Result<(), AssignRefusal> {
    let agent = crate::auth::store::find_by_id(conn, agent_id)?
        .filter(|a| is_staff(a.role) && a.status == "active");
    if agent.is_none() {
        return Err(ApiError::BadRequest("Invalid support agent".into()).into());
    }
    if t.status.is_finished() {
        return Err(ApiError::Conflict(format!(
            "Cannot assign a {} ticket; reopen it first",
            t.status.as_str()
        ))
        .into());
    }
    if t.assigned_to.as_deref() == Some(agent_id) {
        return Ok(());
    }
    let load = store::load_of(conn, agent_id)?;
    let max = cap_of(conn, agent_id, default_max)?;
    if !has_room(load, max) {
        return Err(AssignRefusal::Full(max, load));
    }
    desk::assign(conn, t, agent_id, Some(actor), now)?;
    Ok(())
}

/// A staff status move with its optional note; frees a slot (and drains
/// the queue) when the ticket stops counting towards its agent's load.
fn move_status(
    conn: &Connection,
    t: &mut Ticket,
    to: Status,
    actor: &str,
    notes: Option<&str>,
    default_max: i64,
    now: i64,
) -> ApiResult<()> {
    transition(t.status, to, Actor::Staff).map_err(refusal)?;
    desk::change_status(conn, t, to, Some(actor), now)?;
    if let Some(n) = notes {
        store::insert_note(conn, &t.id, n, Some(actor), now)?;
    }
    if to == Status::Reopened {
        desk::place_reopened_ticket(conn, t, Some(actor), default_max, now)?;
    }
    Ok(())
}

fn parse_status_field(v: Option<&Value>, errors: &mut Vec<FieldError>) -> Option<Status> {
    let names: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
    one_of(
        v,
        "status",
        &names,
        None,
        "Valid status is required",
        errors,
    )
    .and_then(|s| Status::parse(&s))
}

fn parse_priority_field(v: Option<&Value>, errors: &mut Vec<FieldError>) -> Option<Priority> {
    one_of(
        v,
        "priority",
        &["low", "medium", "high", "urgent"],
        None,
        "Valid priority is required",
        errors,
    )
    .and_then(|s| Priority::parse(&s))
}

fn default_max(state: &AppState) -> i64 {
    state.config.support_max_concurrent_tickets as i64
}

// ---------------------------------------------------------------- dashboard, stats, availability

/// The agent's desk: their tickets being worked, the unassigned queue and
/// urgent tickets (each most urgent first, 10 at most), and their load.
#[utoipa::path(get, path = "/dashboard", tag = "support", security(("bearer" = [])),
    responses((status = 200, body = SupportDashboard), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn dashboard(State(state): State<AppState>, user: CurrentUser) -> ApiResult<Json<Value>> {
    user.require_role(STAFF)?;
    let me = user.0.clone();
    let dashboard = state
        .db
        .read(move |c| {
            let mut people = People::default();
            let is_agent = me.role == Role::Support;
            let assigned = if is_agent {
                store::agent_active(c, &me.id, 10)?
            } else {
                Vec::new()
            };
            let workload = if is_agent {
                store::load_of(c, &me.id)?
            } else {
                0
            };
            let unassigned = store::queue_head(c, 10)?;
            let urgent = store::urgent_open(c, 10)?;
            let availability = store::agent(c, &me.id)?;
            Ok(json!({
                "assignedTickets": tickets_json(c, &assigned, View::Staff, &mut people)?,
                "unassignedTickets": tickets_json(c, &unassigned, View::Staff, &mut people)?,
                "urgentTickets": tickets_json(c, &urgent, View::Staff, &mut people)?,
                "currentWorkload": workload,
                "availability": availability.map(|a| json!({"status": a.availability, "maxConcurrentTickets": a.max_concurrent})),
            }))
        })
        .await?;
    Ok(Json(json!({"success": true, "dashboard": dashboard})))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SupportStatsQuery {
    /// With `endDate`: tickets created from this date.
    start_date: Option<String>,
    /// With `startDate`: tickets created up to this date.
    end_date: Option<String>,
    /// Only tickets assigned to this agent (a support agent defaults to themselves).
    agent_id: Option<String>,
}

fn breakdown(counts: BTreeMap<String, i64>) -> Vec<Value> {
    let mut v: Vec<(String, i64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter()
        .map(|(k, n)| json!({"_id": k, "count": n}))
        .collect()
}

fn percent(n: usize, d: usize) -> Value {
    if d == 0 {
        json!(0)
    } else {
        json!(format!("{:.2}", n as f64 * 100.0 / d as f64))
    }
}

/// Totals and breakdowns by status, priority (urgent first) and category,
/// SLA attainment, first-response and resolution medians, satisfaction,
/// and per-agent figures when an agent filter applies.
#[utoipa::path(get, path = "/stats", tag = "support", params(SupportStatsQuery), security(("bearer" = [])),
    responses((status = 200, body = SupportStats), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn stats(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(q): AppQuery<SupportStatsQuery>,
) -> ApiResult<Json<Value>> {
    user.require_role(STAFF)?;
    let mut errors = Vec::new();
    let mut date = |raw: &Option<String>, name: &str| -> Option<i64> {
        let raw = raw.as_deref().map(str::trim).filter(|s| !s.is_empty())?;
        let parsed = parse_datetime(raw);
        if parsed.is_none() {
            errors.push(FieldError {
                field: name.into(),
                message: format!("{name} must be a date"),
            });
        }
        parsed
    };
    let start = date(&q.start_date, "startDate");
    let end = date(&q.end_date, "endDate");
    let agent = match q
        .agent_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(id) if is_valid_id(id) => Some(id.to_string()),
        Some(_) => {
            errors.push(FieldError {
                field: "agentId".into(),
                message: "agentId must be a valid id".into(),
            });
            None
        }
        None if user.role == Role::Support => Some(user.id.clone()),
        None => None,
    };
    if !errors.is_empty() {
        return Err(validation(errors));
    }
    let range = start.zip(end);
    let rows = state
        .db
        .read(move |c| store::stat_rows(c, agent.as_deref(), range).map(|r| (r, agent)))
        .await?;
    let (rows, agent) = rows;
    let mut by_status = BTreeMap::new();
    let mut by_category = BTreeMap::new();
    let mut by_priority: BTreeMap<String, i64> = BTreeMap::new();
    let (mut first, mut resolution, mut ratings) = (Vec::new(), Vec::new(), Vec::new());
    let (mut first_met, mut first_known, mut res_met, mut res_known, mut both_met) =
        (0, 0, 0, 0, 0);
    for r in &rows {
        *by_status.entry(r.status.clone()).or_insert(0) += 1;
        *by_category.entry(r.category.clone()).or_insert(0) += 1;
        *by_priority.entry(r.priority.clone()).or_insert(0) += 1;
        if let Some(a) = r.first_response_actual {
            first.push(a);
        }
        if let Some(a) = r.resolution_actual {
            resolution.push(a);
        }
        if let Some(m) = r.first_response_met {
            first_known += 1;
            first_met += m as usize;
        }
        if let Some(m) = r.resolution_met {
            res_known += 1;
            res_met += m as usize;
        }
        if r.first_response_met == Some(true) && r.resolution_met == Some(true) {
            both_met += 1;
        }
        if let Some(x) = r.rating {
            ratings.push(x);
        }
    }
    let priority_breakdown: Vec<Value> = Priority::ALL
        .iter()
        .filter_map(|p| {
            by_priority
                .get(p.as_str())
                .map(|n| json!({"_id": p.as_str(), "count": n}))
        })
        .collect();
    let avg = |v: &[i64]| -> Value {
        if v.is_empty() {
            json!(0)
        } else {
            json!((v.iter().sum::<i64>() as f64 / v.len() as f64).round() as i64)
        }
    };
    let satisfaction = if ratings.is_empty() {
        json!(0)
    } else {
        json!(format!(
            "{:.2}",
            ratings.iter().sum::<i64>() as f64 / ratings.len() as f64
        ))
    };
    let agent_stats = agent.as_ref().map(|_| {
        let count = |s: &str| rows.iter().filter(|r| r.status == s).count();
        json!({
            "total": rows.len(),
            "open": rows.iter().filter(|r| !matches!(r.status.as_str(), "resolved" | "closed")).count(),
            "closed": count("closed"),
            "resolved": count("resolved"),
            "avgResponseTime": avg(&first),
            "avgResolutionTime": avg(&resolution),
            "satisfactionRating": satisfaction,
            "slaCompliance": percent(both_met, rows.len()),
        })
    });
    Ok(Json(json!({
        "success": true,
        "total": rows.len(),
        "statusBreakdown": breakdown(by_status),
        "priorityBreakdown": priority_breakdown,
        "categoryBreakdown": breakdown(by_category),
        "agentStats": agent_stats,
        "sla": {
            "firstResponseAttainment": percent(first_met, first_known),
            "resolutionAttainment": percent(res_met, res_known),
            "firstResponseMedian": median(&mut first.clone()),
            "resolutionMedian": median(&mut resolution.clone()),
        },
        "satisfaction": {"average": satisfaction, "count": ratings.len()},
    })))
}

/// A support agent's own availability (`status`); becoming `available`
/// hands them tickets waiting in the unassigned queue, up to their cap.
/// The cap itself is the admin's (`PUT /agents/:id/availability`): an
/// agent sending `maxConcurrentTickets` is answered 403.
#[utoipa::path(put, path = "/availability", tag = "support", request_body = SupportAvailabilityBody,
    security(("bearer" = [])),
    responses((status = 200, body = SupportAvailabilitySaved), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn set_availability(
    State(state): State<AppState>,
    user: CurrentUser,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Json<Value>> {
    user.require_role(&[Role::Support])?;
    let me = user.id.clone();
    change_availability(&state, &user, me, &body).await
}

/// An agent's availability set by the agent (`status` only) or by an
/// admin (`status` and `maxConcurrentTickets`, 1 to 200). Lowering the cap
/// below the agent's current load keeps their tickets but gives them
/// nothing new until they are under it (`currentWorkload` shows where they
/// stand); raising it, or becoming available, takes from the queue.
#[utoipa::path(put, path = "/agents/{id}/availability", tag = "support", request_body = SupportAgentAvailabilityBody,
    security(("bearer" = [])), params(("id" = String, Path, description = "The support agent's user id")),
    responses((status = 200, body = SupportAvailabilitySaved), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn set_agent_availability(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Json<Value>> {
    change_availability(&state, &user, id, &body).await
}

/// Checks who may change `agent_id`'s availability (403), validates the
/// body (400), finds the agent (404 unless an active support agent), and
/// writes the change and any queue drain in one transaction.
async fn change_availability(
    state: &AppState,
    user: &Account,
    agent_id: String,
    body: &Value,
) -> ApiResult<Json<Value>> {
    let is_self = agent_id == user.id;
    // The role comes first: a caller who may change nothing here gets 403
    // whatever the body says.
    model::may_change_availability(user.role, is_self, &Default::default())
        .map_err(ApiError::Forbidden)?;
    let change = model::parse_availability_change(body).map_err(validation)?;
    model::may_change_availability(user.role, is_self, &change).map_err(ApiError::Forbidden)?;
    let default_max = default_max(state);
    let (agent, load) = state
        .db
        .write(move |tx| {
            let now = now_ms();
            let is_agent = is_valid_id(&agent_id)
                && crate::auth::store::find_by_id(tx, &agent_id)?
                    .is_some_and(|a| a.role == Role::Support && a.status != "deleted");
            if !is_agent {
                return Err(ApiError::not_found("Support agent"));
            }
            let agent = store::set_agent(
                tx,
                &agent_id,
                change.status.as_deref(),
                change.max_concurrent,
                default_max,
                now,
            )?;
            let load = store::load_of(tx, &agent_id)?;
            if agent.availability == "available" && has_room(load, agent.max_concurrent) {
                desk::drain_queue(tx, now, (agent.max_concurrent - load) as usize)?;
            }
            Ok((agent, store::load_of(tx, &agent_id)?))
        })
        .await?;
    Ok(Json(json!({
        "success": true,
        "message": "Availability updated successfully",
        "availability": {"status": agent.availability, "maxConcurrentTickets": agent.max_concurrent},
        "currentWorkload": load,
    })))
}

// ---------------------------------------------------------------- tickets

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct TicketListQuery {
    status: Option<String>,
    priority: Option<String>,
    category: Option<String>,
    /// Staff: `me` or an agent id (a support agent may only name themselves).
    assigned_to: Option<String>,
    /// Text in the number, subject, description or tags.
    search: Option<String>,
    /// Created from this date.
    start_date: Option<String>,
    /// Created up to this date.
    end_date: Option<String>,
    /// `-createdAt` (default), `createdAt`, `-updatedAt`, `updatedAt`,
    /// `-priority`, `priority` or `status`.
    sort: Option<String>,
    page: Option<String>,
    limit: Option<String>,
}

/// Tickets the caller may see: a requester their own, a support agent
/// theirs and the unassigned queue, an admin all.
#[utoipa::path(get, path = "/tickets", tag = "support", params(TicketListQuery), security(("bearer" = [])),
    responses((status = 200, body = TicketList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn list_tickets(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(q): AppQuery<TicketListQuery>,
) -> ApiResult<Json<Value>> {
    let page = Page::of(q.page.as_deref(), q.limit.as_deref(), 20)?;
    let mut errors = Vec::new();
    let mut filter = ListFilter::default();
    let text = |v: &Option<String>| v.as_deref().map(|s| Value::String(s.trim().to_string()));
    if q.status.as_deref().is_some_and(|s| !s.trim().is_empty()) {
        filter.status = parse_status_field(text(&q.status).as_ref(), &mut errors)
            .map(|s| s.as_str().to_string());
    }
    if q.priority.as_deref().is_some_and(|s| !s.trim().is_empty()) {
        filter.priority = parse_priority_field(text(&q.priority).as_ref(), &mut errors)
            .map(|p| p.as_str().to_string());
    }
    if q.category.as_deref().is_some_and(|s| !s.trim().is_empty()) {
        filter.category = one_of(
            text(&q.category).as_ref(),
            "category",
            CATEGORIES,
            None,
            "Invalid category",
            &mut errors,
        );
    }
    filter.search = q
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.chars().take(100).collect());
    for (raw, name, slot) in [
        (&q.start_date, "startDate", &mut filter.start),
        (&q.end_date, "endDate", &mut filter.end),
    ] {
        if let Some(raw) = raw.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            *slot = parse_datetime(raw);
            if slot.is_none() {
                errors.push(FieldError {
                    field: name.into(),
                    message: format!("{name} must be a date"),
                });
            }
        }
    }
    let order = store::order_by(q.sort.as_deref().unwrap_or("").trim());
    if order.is_none() {
        errors.push(FieldError {
            field: "sort".into(),
            message: "sort must be one of -createdAt, createdAt, -updatedAt, updatedAt, -priority, priority, status".into(),
        });
    }
    let assigned = q
        .assigned_to
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if let Some(a) = assigned {
        if a != "me" && !is_valid_id(a) {
            errors.push(FieldError {
                field: "assignedTo".into(),
                message: "assignedTo must be `me` or a user id".into(),
            });
        }
    }
    if !errors.is_empty() {
        return Err(validation(errors));
    }
    let scope = match (user.role, assigned) {
        (Role::Admin, None) => Scope::All,
        (Role::Admin, Some("me")) => Scope::AssignedTo(user.id.clone()),
        (Role::Admin, Some(id)) => Scope::AssignedTo(id.to_string()),
        (Role::Support, None) => Scope::AgentWithQueue(user.id.clone()),
        (Role::Support, Some(id)) if id == "me" || id == user.id => {
            Scope::AssignedTo(user.id.clone())
        }
        (Role::Support, Some(_)) => {
            return Err(ApiError::Forbidden(
                "Support agents see their own tickets and the unassigned queue".into(),
            ))
        }
        _ => Scope::Customer(user.id.clone()),
    };
    let view = view_of(&user);
    let order = order.unwrap_or("created_at DESC, id DESC");
    let (items, total) = state
        .db
        .read(move |c| {
            let (tickets, total) =
                store::list(c, &scope, &filter, order, page.limit as i64, page.offset())?;
            Ok((
                tickets_json(c, &tickets, view, &mut People::default())?,
                total,
            ))
        })
        .await?;
    Ok(Json(list_response("tickets", items, total, page)))
}

/// Opens a ticket (any signed-in user) and hands it to the available agent
/// with the fewest open tickets, in the same transaction.
#[utoipa::path(post, path = "/tickets", tag = "support", request_body = TicketCreateBody, security(("bearer" = [])),
    responses((status = 201, body = TicketSaved), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn create_ticket(
    State(state): State<AppState>,
    user: CurrentUser,
    ip: ClientIp,
    headers: HeaderMap,
    AppJson(body): AppJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let user_agent = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(500).collect::<String>());
    let new =
        parse_new_ticket(&body, user_agent.as_deref(), is_staff(user.role)).map_err(validation)?;
    let me = user.0.clone();
    let base = state.config.public_url.clone();
    let warn = state.config.support_sla_warn_percent as i64;
    let view = view_of(&me);
    let doc = state
        .db
        .write(move |tx| {
            let now = now_ms();
            if let Some(b) = &new.related_booking {
                let own = crate::bookings::store::find_parties(tx, b)?.is_some_and(|p| {
                    p.customer_id == me.id || p.technician_id.as_deref() == Some(me.id.as_str())
                });
                if !own {
                    return Err(ApiError::field("relatedBooking", "Booking not found"));
                }
            }
            if let Some(x) = &new.related_transaction {
                let own = crate::payments::store::find(tx, x)?.is_some_and(|p| {
                    p.payer_id == me.id || p.payee_id.as_deref() == Some(me.id.as_str())
                });
                if !own {
                    return Err(ApiError::field(
                        "relatedTransaction",
                        "Transaction not found",
                    ));
                }
            }
            let attachments = own_attachments(tx, &base, &me.id, &new.attachment_keys, now)?;
            let t = desk::open_ticket(
                tx,
                &me.id,
                new,
                attachments,
                desk::Origin {
                    ip_address: Some(ip.0.to_string()),
                    user_agent,
                },
                warn,
                now,
            )?;
            render_full(tx, &t, view)
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"success": true, "message": "Support ticket created successfully", "ticket": doc}),
        ),
    ))
}

/// One ticket with its messages and status history; internal notes and
/// internal messages only for staff.
#[utoipa::path(get, path = "/tickets/{id}", tag = "support", security(("bearer" = [])),
    params(("id" = String, Path, description = "Ticket id")),
    responses((status = 200, body = TicketOne), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn get_ticket(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let me = user.0.clone();
    let doc = state
        .db
        .read(move |c| {
            let t = visible_ticket(c, &me, &id)?;
            render_full(c, &t, view_of(&me))
        })
        .await?;
    Ok(Json(json!({"success": true, "ticket": doc})))
}

/// The summary's general staff update: any of status, priority, category,
/// subcategory, tags and assignee, in one transaction.
#[utoipa::path(put, path = "/tickets/{id}", tag = "support", request_body = TicketUpdateBody, security(("bearer" = [])),
    params(("id" = String, Path, description = "Ticket id")),
    responses((status = 200, body = TicketSaved), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn update_ticket(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> Result<Json<Value>, AssignRefusal> {
    user.require_role(STAFF)?;
    let mut errors = Vec::new();
    let present = |k: &str| body.get(k).is_some_and(|v| !v.is_null());
    let status = present("status")
        .then(|| parse_status_field(body.get("status"), &mut errors))
        .flatten();
    let priority = present("priority")
        .then(|| parse_priority_field(body.get("priority"), &mut errors))
        .flatten();
    let category = present("category")
        .then(|| {
            one_of(
                body.get("category"),
                "category",
                CATEGORIES,
                None,
                "Valid category is required",
                &mut errors,
            )
        })
        .flatten();
    let subcategory = optional_text(body.get("subcategory"), "subcategory", 100, &mut errors);
    let tags = present("tags").then(|| model::parse_tags(body.get("tags"), &mut errors));
    let assignee = model::optional_id(body.get("assignedTo"), "assignedTo", &mut errors);
    let notes = optional_text(body.get("notes"), "notes", 2000, &mut errors);
    if !errors.is_empty() {
        return Err(validation(errors).into());
    }
    let me = user.0.clone();
    let max = default_max(&state);
    let doc = state
        .db
        .write(move |tx| {
            let now = now_ms();
            let mut t = visible_ticket(tx, &me, &id)?;
            let result = (|| -> Result<(), AssignRefusal> {
                if let Some(a) = &assignee {
                    assign_manually(tx, &mut t, a, &me.id, max, now)?;
                }
                if let Some(s) = status {
                    move_status(tx, &mut t, s, &me.id, None, max, now)?;
                }
                Ok(())
            })();
            match result {
                Ok(()) => {}
                Err(AssignRefusal::Api(e)) => return Err(e),
                Err(AssignRefusal::Full(max, load)) => {
                    return Ok(Err((max, load)));
                }
            }
            if let Some(p) = priority {
                if p != t.priority {
                    t.priority = p;
                    store::insert_note(
                        tx,
                        &t.id,
                        &format!("Priority changed to {}", p.as_str()),
                        Some(&me.id),
                        now,
                    )?;
                }
            }
            if let Some(c) = category {
                t.category = c;
            }
            if subcategory.is_some() {
                t.subcategory = subcategory;
            }
            if let Some(tags) = tags {
                t.tags = tags;
            }
            if let Some(n) = &notes {
                store::insert_note(tx, &t.id, n, Some(&me.id), now)?;
            }
            t.updated_at = now;
            store::save(tx, &t)?;
            desk::drain_queue(tx, now, 10)?;
            render_full(tx, &t, View::Staff).map(Ok)
        })
        .await?;
    match doc {
        Ok(doc) => Ok(Json(
            json!({"success": true, "message": "Ticket updated successfully", "ticket": doc}),
        )),
        Err((max, load)) => Err(AssignRefusal::Full(max, load)),
    }
}

// ---------------------------------------------------------------- messages

/// A reply. Staff may post internal notes (`isInternal`), which the
/// customer never sees; a customer's reply moves `waiting_customer` back to
/// `in_progress`; the first staff reply stops the first-response clock.
#[utoipa::path(post, path = "/tickets/{id}/messages", tag = "support", request_body = TicketMessageBody,
    security(("bearer" = [])), params(("id" = String, Path, description = "Ticket id")),
    responses((status = 201, body = TicketMessageSaved), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn add_message(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let staff = is_staff(user.role);
    let new = parse_message(&body, staff).map_err(validation)?;
    let me = user.0.clone();
    let base = state.config.public_url.clone();
    let doc = state
        .db
        .write(move |tx| {
            let now = now_ms();
            let mut t = visible_ticket(tx, &me, &id)?;
            if t.status == Status::Closed {
                return Err(ApiError::Conflict(
                    "This ticket is closed; reopen it to add a message".into(),
                ));
            }
            let attachments = own_attachments(tx, &base, &me.id, &new.attachment_keys, now)?;
            let sender_role = match me.role {
                Role::Support => "support",
                Role::Admin => "admin",
                _ => "customer",
            };
            let msg = store::insert_message(
                tx,
                &t.id,
                &me.id,
                sender_role,
                &new.message,
                &attachments,
                new.is_internal,
                now,
            )?;
            let from_staff = staff && me.id != t.customer_id;
            if !from_staff && t.status == Status::WaitingCustomer {
                transition(t.status, Status::InProgress, Actor::System).map_err(refusal)?;
                desk::change_status(tx, &mut t, Status::InProgress, Some(&me.id), now)?;
            }
            if from_staff && !new.is_internal && t.first_response_at.is_none() {
                t.first_response_at = Some(now);
                let (actual, met) = model::stop_clock(&t.sla_times(), t.first_response_target, now);
                t.first_response_actual = Some(actual);
                t.first_response_met = Some(met);
            }
            if !new.is_internal {
                desk::emit(
                    tx,
                    "ticket.replied",
                    &t,
                    Some(&me.id),
                    json!({"ticketId": t.id, "ticketNumber": t.ticket_number, "customerId": t.customer_id,
                           "authorId": me.id, "fromStaff": from_staff}),
                )?;
            }
            t.updated_at = now;
            store::save(tx, &t)?;
            let view = if staff { View::Staff } else { View::Requester };
            message_json(tx, &msg, view, &t.customer_id, &mut People::default())
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"success": true, "message": "Message added successfully", "newMessage": doc})),
    ))
}

/// The summary's path for [`add_message`].
#[utoipa::path(post, path = "/tickets/{id}/message", tag = "support", request_body = TicketMessageBody,
    security(("bearer" = [])), params(("id" = String, Path, description = "Ticket id")),
    responses((status = 201, body = TicketMessageSaved), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn add_message_alias(
    state: State<AppState>,
    user: CurrentUser,
    id: Path<String>,
    body: AppJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    add_message(state, user, id, body).await
}

// ---------------------------------------------------------------- staff moves

/// Assigns the ticket to a support agent (or admin) within their cap.
#[utoipa::path(put, path = "/tickets/{id}/assign", tag = "support", request_body = TicketAssignBody,
    security(("bearer" = [])), params(("id" = String, Path, description = "Ticket id")),
    responses((status = 200, body = TicketSaved), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn assign_ticket(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> Result<Json<Value>, AssignRefusal> {
    user.require_role(STAFF)?;
    let agent_id = match body.get("agentId").and_then(Value::as_str).map(str::trim) {
        Some(a) if is_valid_id(a) => a.to_string(),
        _ => return Err(ApiError::field("agentId", "Valid agent ID is required").into()),
    };
    let mut update = json!({"assignedTo": agent_id});
    if let Some(n) = body.get("notes").cloned() {
        update["notes"] = n;
    }
    let answer = update_ticket(State(state), user, Path(id), AppJson(update)).await?;
    let mut v = answer.0;
    v["message"] = json!("Ticket assigned successfully");
    Ok(Json(v))
}

/// The summary's `POST` for [`assign_ticket`].
#[utoipa::path(post, path = "/tickets/{id}/assign", tag = "support", request_body = TicketAssignBody,
    security(("bearer" = [])), params(("id" = String, Path, description = "Ticket id")),
    responses((status = 200, body = TicketSaved), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn assign_ticket_alias(
    state: State<AppState>,
    user: CurrentUser,
    id: Path<String>,
    body: AppJson<Value>,
) -> Result<Json<Value>, AssignRefusal> {
    assign_ticket(state, user, id, body).await
}

/// A staff status move through the state machine (409 names the allowed
/// moves); `notes` become an internal note.
#[utoipa::path(put, path = "/tickets/{id}/status", tag = "support", request_body = TicketStatusBody,
    security(("bearer" = [])), params(("id" = String, Path, description = "Ticket id")),
    responses((status = 200, body = TicketSaved), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn set_status(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> Result<Json<Value>, AssignRefusal> {
    user.require_role(STAFF)?;
    let mut errors = Vec::new();
    let status = parse_status_field(body.get("status"), &mut errors);
    let notes = optional_text(body.get("notes"), "notes", 2000, &mut errors);
    let Some(status) = status.filter(|_| errors.is_empty()) else {
        return Err(validation(errors).into());
    };
    let body = json!({"status": status.as_str(), "notes": notes});
    let mut v = update_ticket(State(state), user, Path(id), AppJson(body))
        .await?
        .0;
    v["message"] = json!("Ticket status updated successfully");
    Ok(Json(v))
}

/// Changes the priority (SLA targets stay as set at creation), noted internally.
#[utoipa::path(put, path = "/tickets/{id}/priority", tag = "support", request_body = TicketPriorityBody,
    security(("bearer" = [])), params(("id" = String, Path, description = "Ticket id")),
    responses((status = 200, body = TicketSaved), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn set_priority(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> Result<Json<Value>, AssignRefusal> {
    user.require_role(STAFF)?;
    let mut errors = Vec::new();
    let Some(p) = parse_priority_field(body.get("priority"), &mut errors) else {
        return Err(validation(errors).into());
    };
    let body = json!({"priority": p.as_str()});
    let mut v = update_ticket(State(state), user, Path(id), AppJson(body))
        .await?
        .0;
    v["message"] = json!("Ticket priority updated successfully");
    Ok(Json(v))
}

/// Closes the ticket with a resolution summary (staff).
#[utoipa::path(put, path = "/tickets/{id}/close", tag = "support", request_body = TicketCloseBody,
    security(("bearer" = [])), params(("id" = String, Path, description = "Ticket id")),
    responses((status = 200, body = TicketSaved), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn close_ticket(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Json<Value>> {
    user.require_role(STAFF)?;
    let mut errors = Vec::new();
    let summary = required_text(
        body.get("summary"),
        "summary",
        2000,
        "Summary is required",
        &mut errors,
    );
    let kind = one_of(
        body.get("resolutionType"),
        "resolutionType",
        RESOLUTION_TYPES,
        None,
        "Valid resolution type is required",
        &mut errors,
    );
    let notes = optional_text(
        body.get("resolutionNotes"),
        "resolutionNotes",
        2000,
        &mut errors,
    );
    let (Some(summary), Some(kind)) = (summary, kind) else {
        return Err(validation(errors));
    };
    if !errors.is_empty() {
        return Err(validation(errors));
    }
    let me = user.0.clone();
    let max = default_max(&state);
    let doc = state
        .db
        .write(move |tx| {
            let now = now_ms();
            let mut t = visible_ticket(tx, &me, &id)?;
            move_status(tx, &mut t, Status::Closed, &me.id, None, max, now)?;
            t.resolution_summary = Some(summary);
            t.resolution_type = Some(kind);
            t.resolution_notes = notes;
            t.resolved_by = Some(me.id.clone());
            store::save(tx, &t)?;
            desk::drain_queue(tx, now, 10)?;
            render_full(tx, &t, View::Staff)
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Ticket closed successfully", "ticket": doc}),
    ))
}

/// Reopens a resolved or closed ticket: the ticket's customer within the
/// configured window, staff at any time. It stays with its agent only if
/// they have room under their cap (and are active and not offline);
/// otherwise it goes to the least-loaded available agent or the queue.
#[utoipa::path(put, path = "/tickets/{id}/reopen", tag = "support", request_body = TicketReopenBody,
    security(("bearer" = [])), params(("id" = String, Path, description = "Ticket id")),
    responses((status = 200, body = TicketSaved), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn reopen_ticket(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Json<Value>> {
    let mut errors = Vec::new();
    let Some(reason) = required_text(
        body.get("reason"),
        "reason",
        2000,
        "Reason is required",
        &mut errors,
    ) else {
        return Err(validation(errors));
    };
    let me = user.0.clone();
    let window_hours = state.config.support_reopen_window_hours as i64;
    let max = default_max(&state);
    let doc = state
        .db
        .write(move |tx| {
            let now = now_ms();
            let mut t = visible_ticket(tx, &me, &id)?;
            let actor = Actor::of(me.role);
            transition(t.status, Status::Reopened, actor).map_err(refusal)?;
            if actor == Actor::Requester
                && !within_reopen_window(
                    t.closed_at.or(t.resolved_at),
                    now,
                    window_hours * 3_600_000,
                )
            {
                return Err(ApiError::BadRequest(format!(
                    "Tickets can only be reopened within {window_hours} hours of closing"
                )));
            }
            desk::change_status(tx, &mut t, Status::Reopened, Some(&me.id), now)?;
            store::insert_note(
                tx,
                &t.id,
                &format!("Ticket reopened: {reason}"),
                Some(&me.id),
                now,
            )?;
            desk::place_reopened_ticket(tx, &mut t, Some(&me.id), max, now)?;
            store::save(tx, &t)?;
            render_full(tx, &t, view_of(&me))
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Ticket reopened successfully", "ticket": doc}),
    ))
}

/// Escalates to a staff member with a reason: level + 1, status and
/// assignee unchanged, `ticket.escalated` emitted.
#[utoipa::path(put, path = "/tickets/{id}/escalate", tag = "support", request_body = TicketEscalateBody,
    security(("bearer" = [])), params(("id" = String, Path, description = "Ticket id")),
    responses((status = 200, body = TicketSaved), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn escalate_ticket(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Json<Value>> {
    user.require_role(STAFF)?;
    let mut errors = Vec::new();
    let to = match body
        .get("escalatedTo")
        .and_then(Value::as_str)
        .map(str::trim)
    {
        Some(a) if is_valid_id(a) => Some(a.to_string()),
        _ => {
            errors.push(FieldError {
                field: "escalatedTo".into(),
                message: "Valid user ID is required".into(),
            });
            None
        }
    };
    let reason = required_text(
        body.get("reason"),
        "reason",
        2000,
        "Escalation reason is required",
        &mut errors,
    );
    let (Some(to), Some(reason)) = (to, reason) else {
        return Err(validation(errors));
    };
    let me = user.0.clone();
    let doc = state
        .db
        .write(move |tx| {
            let now = now_ms();
            let mut t = visible_ticket(tx, &me, &id)?;
            let target = crate::auth::store::find_by_id(tx, &to)?
                .filter(|a| is_staff(a.role) && a.status == "active");
            if target.is_none() {
                return Err(ApiError::field(
                    "escalatedTo",
                    "Escalate to an active support agent or admin",
                ));
            }
            if t.status == Status::Closed {
                return Err(ApiError::Conflict("Cannot escalate a closed ticket".into()));
            }
            desk::escalate(tx, &mut t, Some(&to), &reason, Some(&me.id), now)?;
            store::save(tx, &t)?;
            render_full(tx, &t, View::Staff)
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Ticket escalated successfully", "ticket": doc}),
    ))
}

/// The summary's `POST` for [`escalate_ticket`].
#[utoipa::path(post, path = "/tickets/{id}/escalate", tag = "support", request_body = TicketEscalateBody,
    security(("bearer" = [])), params(("id" = String, Path, description = "Ticket id")),
    responses((status = 200, body = TicketSaved), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn escalate_ticket_alias(
    state: State<AppState>,
    user: CurrentUser,
    id: Path<String>,
    body: AppJson<Value>,
) -> ApiResult<Json<Value>> {
    escalate_ticket(state, user, id, body).await
}

// ---------------------------------------------------------------- rating

/// The customer rates a resolved or closed ticket once (1 to 5); the
/// assignee's satisfaction figures move in the same transaction.
#[utoipa::path(post, path = "/tickets/{id}/rate", tag = "support", request_body = TicketRateBody,
    security(("bearer" = [])), params(("id" = String, Path, description = "Ticket id")),
    responses((status = 200, body = TicketRated), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn rate_ticket(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Json<Value>> {
    let (rating, feedback) = parse_rating(&body).map_err(validation)?;
    let me = user.0.clone();
    let rated = state
        .db
        .write(move |tx| {
            let now = now_ms();
            let mut t = visible_ticket(tx, &me, &id)?;
            if t.customer_id != me.id {
                return Err(ApiError::Forbidden("Only ticket creator can rate".into()));
            }
            if !t.status.is_finished() {
                return Err(ApiError::BadRequest(
                    "Can only rate closed or resolved tickets".into(),
                ));
            }
            if t.rating.is_some() {
                return Err(ApiError::Conflict(
                    "You have already rated this ticket".into(),
                ));
            }
            t.rating = Some(rating);
            t.rating_feedback = feedback.clone();
            t.rated_at = Some(now);
            t.updated_at = now;
            store::save(tx, &t)?;
            if let Some(a) = &t.assigned_to {
                store::add_agent_rating(tx, a, rating, now)?;
            }
            Ok(satisfaction_json(rating, feedback.as_deref(), Some(now)))
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Thank you for your feedback!", "rating": rated}),
    ))
}

/// The summary's path for [`rate_ticket`].
#[utoipa::path(post, path = "/tickets/{id}/rating", tag = "support", request_body = TicketRateBody,
    security(("bearer" = [])), params(("id" = String, Path, description = "Ticket id")),
    responses((status = 200, body = TicketRated), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn rate_ticket_alias(
    state: State<AppState>,
    user: CurrentUser,
    id: Path<String>,
    body: AppJson<Value>,
) -> ApiResult<Json<Value>> {
    rate_ticket(state, user, id, body).await
}
