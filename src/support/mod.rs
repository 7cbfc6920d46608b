//! Support desk: tickets with a status state machine, SLA clocks that pause
//! while the desk waits on the customer, warning and breach jobs on the job
//! queue, auto-assignment by load, internal notes, dashboard and stats.
//!
//! Every change to a ticket is one write transaction that also records the
//! status history and emits the `ticket.*` events the notifications module
//! consumes: `ticket.created`, `ticket.assigned`, `ticket.replied` (never
//! for internal notes), `ticket.escalated`, `ticket.sla_warning`,
//! `ticket.sla_breached` and `ticket.status_changed`. Assignment picks and
//! inserts in the same transaction on the single writer, so no agent ever
//! goes over their `maxConcurrentTickets`, however many tickets arrive at
//! once.

pub mod document;
pub mod model;
pub mod routes;
pub mod schemas;
pub mod store;

use rusqlite::Connection;
use serde_json::{json, Value};

use crate::error::ApiResult;
use crate::events::EventBus;
use crate::ids::now_ms;
use crate::jobs::{Job, JobRegistry};
use crate::state::AppState;
use model::{
    pauses_clock, pick_agent, place_reopened, sla_step, stop_clock, Clock, ClockState,
    PreviousAssignee, ReopenPlacement, SlaStep, Status,
};
use store::Ticket;

/// Kind of the per-ticket SLA job: it warns before a clock's deadline,
/// breaches and escalates after it, and schedules its own next look.
pub const SLA_JOB: &str = "support.sla";

/// Registers the support desk's job handlers (one line in `build_state`).
pub fn install(jobs: &mut JobRegistry, _events: &mut EventBus) {
    jobs.register(SLA_JOB, sla_job);
}

/// Emits a `ticket.*` event in the caller's transaction.
pub fn emit(
    conn: &Connection,
    kind: &str,
    t: &Ticket,
    actor: Option<&str>,
    payload: Value,
) -> ApiResult<()> {
    crate::events::emit(conn, kind, Some(&t.id), actor, &payload)?;
    Ok(())
}

/// Where a new ticket came from (kept on the ticket for the desk).
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

/// Opens a ticket for `customer_id` in the caller's transaction, as the
/// create route does: its number and SLA targets, the description as the
/// first message, `ticket.created`, assignment by load within the caps,
/// and the SLA job due at `warn_percent` of the first-response target.
/// `attachments` are the stored items of `new.attachment_keys`.
pub fn open_ticket(
    conn: &Connection,
    customer_id: &str,
    new: model::NewTicket,
    attachments: Value,
    origin: Origin,
    warn_percent: i64,
    now: i64,
) -> ApiResult<Ticket> {
    let seq = store::next_seq(conn)?;
    let (first_target, resolution_target) = new.priority.sla_targets();
    let mut t = Ticket {
        id: crate::ids::new_id(),
        ticket_number: model::ticket_number(now, seq),
        customer_id: customer_id.to_string(),
        assigned_to: None,
        subject: new.subject,
        description: new.description,
        category: new.category,
        subcategory: new.subcategory,
        priority: new.priority,
        status: Status::Open,
        related_booking: new.related_booking,
        related_transaction: new.related_transaction,
        attachments,
        tags: new.tags,
        source: new.source,
        ip_address: origin.ip_address,
        user_agent: origin.user_agent,
        first_response_target: first_target,
        resolution_target,
        first_response_actual: None,
        first_response_met: None,
        resolution_actual: None,
        resolution_met: None,
        paused_at: None,
        paused_ms: 0,
        warned_first: false,
        warned_resolution: false,
        breached_first: false,
        breached_resolution: false,
        assigned_at: None,
        first_response_at: None,
        resolved_at: None,
        closed_at: None,
        reopened_at: None,
        resolution_summary: None,
        resolution_type: None,
        resolution_notes: None,
        resolved_by: None,
        rating: None,
        rating_feedback: None,
        rated_at: None,
        is_escalated: false,
        escalation_level: 0,
        escalated_to: None,
        escalated_at: None,
        escalation_reason: None,
        created_at: now,
        updated_at: now,
    };
    store::insert(conn, &t, seq)?;
    store::insert_message(
        conn,
        &t.id,
        customer_id,
        "customer",
        &t.description,
        &t.attachments,
        false,
        now,
    )?;
    emit(
        conn,
        "ticket.created",
        &t,
        Some(customer_id),
        json!({"ticketId": t.id, "ticketNumber": t.ticket_number, "customerId": t.customer_id,
               "priority": t.priority.as_str()}),
    )?;
    if auto_assign(conn, &mut t, now)? {
        store::save(conn, &t)?;
    }
    schedule_sla(
        conn,
        &t,
        now + first_target * 60_000 * warn_percent.clamp(0, 100) / 100,
    )?;
    Ok(t)
}

/// Queues the SLA job of `t` at `at` (ms).
pub fn schedule_sla(conn: &Connection, t: &Ticket, at: i64) -> ApiResult<()> {
    crate::jobs::enqueue(conn, SLA_JOB, &json!({"ticketId": t.id}), Some(at))?;
    Ok(())
}

/// Moves `t` to `to` with every side effect: the clock pauses while
/// waiting on the customer and resumes after, `resolved` stops the
/// resolution clock, `closed`/`reopened` set their times, a history entry
/// is written and `ticket.status_changed` emitted. The caller has checked
/// the move with [`model::transition`] and saves `t` afterwards.
pub fn change_status(
    conn: &Connection,
    t: &mut Ticket,
    to: Status,
    actor: Option<&str>,
    now: i64,
) -> ApiResult<()> {
    let from = t.status;
    if from == to {
        return Ok(());
    }
    let was_paused = t.paused_at.is_some();
    let times = t.sla_times().with_pause(pauses_clock(to), now);
    t.paused_at = times.paused_at;
    t.paused_ms = times.paused_ms;
    match to {
        Status::Assigned => {
            t.assigned_at.get_or_insert(now);
        }
        Status::Resolved if t.resolved_at.is_none() => {
            t.resolved_at = Some(now);
            let (actual, met) = stop_clock(&times, t.resolution_target, now);
            t.resolution_actual = Some(actual);
            t.resolution_met = Some(met);
        }
        Status::Closed => {
            t.closed_at.get_or_insert(now);
        }
        Status::Reopened => {
            t.reopened_at = Some(now);
            t.closed_at = None;
            t.resolved_at = None;
        }
        _ => {}
    }
    t.status = to;
    t.updated_at = now;
    store::insert_history(conn, &t.id, to, actor, None, now)?;
    emit(
        conn,
        "ticket.status_changed",
        t,
        actor,
        json!({"ticketId": t.id, "ticketNumber": t.ticket_number, "customerId": t.customer_id,
               "from": from.as_str(), "to": to.as_str()}),
    )?;
    if was_paused && t.paused_at.is_none() {
        schedule_sla(conn, t, now)?;
    }
    Ok(())
}

/// Gives `t` to `agent_id`: an `open` or `reopened` ticket becomes
/// `assigned`; emits `ticket.assigned`. The caller checked the cap in this
/// same transaction and saves `t` afterwards.
pub fn assign(
    conn: &Connection,
    t: &mut Ticket,
    agent_id: &str,
    actor: Option<&str>,
    now: i64,
) -> ApiResult<()> {
    t.assigned_to = Some(agent_id.to_string());
    t.assigned_at = Some(now);
    t.updated_at = now;
    if matches!(t.status, Status::Open | Status::Reopened) {
        change_status(conn, t, Status::Assigned, actor, now)?;
    }
    store::touch_assigned(conn, agent_id, now)?;
    emit(
        conn,
        "ticket.assigned",
        t,
        actor,
        json!({"ticketId": t.id, "ticketNumber": t.ticket_number, "customerId": t.customer_id,
               "assigneeId": agent_id}),
    )
}

/// Assigns `t` to the available agent with the fewest open tickets, if any
/// is under their cap (see [`model::pick_agent`]). Returns whether it did.
pub fn auto_assign(conn: &Connection, t: &mut Ticket, now: i64) -> ApiResult<bool> {
    let agents = store::available_agents(conn)?;
    let Some(agent) = pick_agent(&agents) else {
        return Ok(false);
    };
    let agent_id = agent.user_id.clone();
    assign(conn, t, &agent_id, None, now)?;
    Ok(true)
}

/// Where a ticket just moved to `reopened` (in memory, not yet saved)
/// goes, by [`model::place_reopened`]: it stays with its previous agent
/// only if they are active, not offline and under their cap; otherwise it
/// leaves them (with an internal note saying why) and auto-assignment
/// picks by load, or it waits in the queue. Runs in the caller's write
/// transaction, so two reopens at once cannot both take an agent's last
/// slot. Returns where it went.
pub fn place_reopened_ticket(
    conn: &Connection,
    t: &mut Ticket,
    actor: Option<&str>,
    default_max: i64,
    now: i64,
) -> ApiResult<ReopenPlacement> {
    let previous = match t.assigned_to.as_deref() {
        None => None,
        Some(agent_id) => {
            let is_active_staff = crate::auth::store::find_by_id(conn, agent_id)?
                .is_some_and(|a| model::is_staff(a.role) && a.status == "active");
            let row = store::agent(conn, agent_id)?;
            Some(PreviousAssignee {
                is_active_staff,
                is_offline: row.as_ref().is_none_or(|a| a.availability == "offline"),
                load: store::load_of(conn, agent_id)?,
                max_concurrent: row.map_or(default_max, |a| a.max_concurrent),
            })
        }
    };
    let placement = place_reopened(previous.as_ref());
    if let ReopenPlacement::Requeue(reason) = &placement {
        if let Some(note) = reason.note() {
            store::insert_note(conn, &t.id, &note, actor, now)?;
        }
        t.assigned_to = None;
        t.assigned_at = None;
        auto_assign(conn, t, now)?;
    }
    Ok(placement)
}

/// Hands tickets waiting in the unassigned queue (most urgent, then
/// oldest first) to agents with room, up to `max` of them. Called when an
/// agent becomes available or frees a slot.
pub fn drain_queue(conn: &Connection, now: i64, max: usize) -> ApiResult<usize> {
    let mut done = 0;
    while done < max {
        let Some(mut t) = store::queue_head(conn, 1)?.pop() else {
            break;
        };
        if !auto_assign(conn, &mut t, now)? {
            break;
        }
        store::save(conn, &t)?;
        done += 1;
    }
    Ok(done)
}

/// The state of both clocks of `t`.
pub fn clock_states(t: &Ticket) -> [ClockState; 2] {
    [
        ClockState {
            clock: Clock::FirstResponse,
            target_minutes: t.first_response_target,
            is_stopped: t.first_response_at.is_some() || t.status.is_finished(),
            is_warned: t.warned_first,
            is_breached: t.breached_first,
        },
        ClockState {
            clock: Clock::Resolution,
            target_minutes: t.resolution_target,
            is_stopped: t.status.is_finished(),
            is_warned: t.warned_resolution,
            is_breached: t.breached_resolution,
        },
    ]
}

/// One look of the SLA job at ticket `id` at `now`: warns, breaches and
/// escalates as [`model::sla_step`] says, and queues the next look.
/// Idempotent: flags on the ticket make each warning and breach fire once.
pub fn run_sla(conn: &Connection, id: &str, now: i64, warn_percent: i64) -> ApiResult<()> {
    let Some(mut t) = store::find(conn, id)? else {
        return Ok(());
    };
    let times = t.sla_times();
    let mut next: Option<i64> = None;
    let mut changed = false;
    for state in clock_states(&t) {
        let step = sla_step(&times, &state, warn_percent, now);
        let (warn, breach, wake, due_at) = match step {
            SlaStep::Idle => continue,
            SlaStep::WaitUntil(at) => (false, false, Some(at), None),
            SlaStep::Warn { due_at } => (true, false, Some(due_at), Some(due_at)),
            SlaStep::Breach { due_at } => (false, true, None, Some(due_at)),
        };
        if let Some(at) = wake {
            next = Some(next.map_or(at, |n: i64| n.min(at)));
        }
        let payload = json!({"ticketId": t.id, "ticketNumber": t.ticket_number, "assigneeId": t.assigned_to,
                             "clock": state.clock.as_str(), "dueAt": due_at.map(crate::ids::iso)});
        if warn {
            match state.clock {
                Clock::FirstResponse => t.warned_first = true,
                Clock::Resolution => t.warned_resolution = true,
            }
            emit(conn, "ticket.sla_warning", &t, None, payload)?;
            changed = true;
        } else if breach {
            match state.clock {
                Clock::FirstResponse => t.breached_first = true,
                Clock::Resolution => t.breached_resolution = true,
            }
            emit(conn, "ticket.sla_breached", &t, None, payload)?;
            escalate(
                conn,
                &mut t,
                None,
                &format!("SLA breached: {}", state.clock.as_str()),
                None,
                now,
            )?;
            changed = true;
        }
    }
    if changed {
        t.updated_at = now;
        store::save(conn, &t)?;
    }
    if let Some(at) = next {
        schedule_sla(conn, &t, at)?;
    }
    Ok(())
}

/// Raises `t`'s escalation level, noting why and to whom, and emits
/// `ticket.escalated`. Status and assignee stay as they are.
pub fn escalate(
    conn: &Connection,
    t: &mut Ticket,
    to: Option<&str>,
    reason: &str,
    actor: Option<&str>,
    now: i64,
) -> ApiResult<()> {
    t.is_escalated = true;
    t.escalation_level += 1;
    if let Some(to) = to {
        t.escalated_to = Some(to.to_string());
    }
    t.escalated_at = Some(now);
    t.escalation_reason = Some(reason.to_string());
    t.updated_at = now;
    emit(
        conn,
        "ticket.escalated",
        t,
        actor,
        json!({"ticketId": t.id, "ticketNumber": t.ticket_number, "customerId": t.customer_id,
               "assigneeId": t.assigned_to, "level": t.escalation_level}),
    )
}

async fn sla_job(state: AppState, job: Job) -> Result<(), String> {
    let Some(id) = job.payload["ticketId"].as_str().map(String::from) else {
        return Ok(());
    };
    let warn = state.config.support_sla_warn_percent as i64;
    state
        .db
        .write(move |tx| run_sla(tx, &id, now_ms(), warn))
        .await
        .map_err(|e| e.to_string())
}
