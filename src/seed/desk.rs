//! The support desk's demo data through the support module's own
//! functions: agents available for assignment, tickets created as `POST
//! /support/tickets` creates them (first message, `ticket.created`,
//! assignment by the desk's load rule, the SLA job queued), replies, staff
//! moves by the desk's state machine up to where each ticket ends, the
//! queue drained as tickets finish, and ratings.

use rand::Rng;
use rusqlite::Connection;
use serde_json::json;

use super::model::{self, TicketEnd, TicketPlan};
use super::{bar, err, insert_account, Ctx};
use crate::auth::store::NewAccount;
use crate::auth::Role;
use crate::error::ApiResult;
use crate::ids::now_ms;
use crate::support::model::{stop_clock, transition, Actor, NewTicket, Status};
use crate::support::store::{self, Ticket};
use crate::support::{self as desk};

/// Generated support agents besides `support@baitech.com`.
pub const AGENTS: usize = 3;

/// Agents, then tickets (`customers / 20`, from 24 to 400).
pub fn support_step(ctx: &mut Ctx) -> Result<(), String> {
    let hash = ctx.demo_hash.clone();
    let cap = ctx.config.support_max_concurrent_tickets as i64;
    let mut agents: Vec<String> = Some(ctx.support_id.clone())
        .filter(|s| !s.is_empty())
        .into_iter()
        .collect();
    let generated = ctx
        .db
        .write_blocking(|tx| {
            let mut ids = Vec::new();
            for i in 0..AGENTS {
                ids.push(insert_account(
                    tx,
                    &NewAccount {
                        email: model::agent_email(i),
                        phone: format!("+25473{i:07}"),
                        password_hash: hash.clone(),
                        first_name: ["Grace", "Brian", "Faith"][i % 3].into(),
                        last_name: "Support".into(),
                        role: Role::Support,
                        location: None,
                    },
                )?);
            }
            Ok(ids)
        })
        .map_err(err)?;
    agents.extend(generated);
    ctx.db
        .write_blocking(|tx| {
            for a in &agents {
                store::set_agent(tx, a, Some("available"), Some(cap), cap, now_ms())?;
            }
            Ok(())
        })
        .map_err(err)?;
    ctx.support_agents = agents;
    if ctx.customers.is_empty() {
        return Ok(());
    }
    let total = (ctx.customers.len() / 20).clamp(24, 400);
    let plans: Vec<(String, TicketPlan)> = (0..total)
        .map(|i| {
            // The named customer has two; a few come from technicians.
            let requester = if i < 2 {
                ctx.customers[0].clone()
            } else if !ctx.technicians.is_empty() && ctx.rng.gen_bool(0.15) {
                ctx.technicians[ctx.rng.gen_range(0..ctx.technicians.len())]
                    .id
                    .clone()
            } else {
                ctx.customers[ctx.rng.gen_range(0..ctx.customers.len())].clone()
            };
            (requester, model::ticket(&mut ctx.rng))
        })
        .collect();
    let warn = ctx.config.support_sla_warn_percent as i64;
    let progress = bar(plans.len() as u64, "support tickets");
    ctx.db
        .write_blocking(|tx| {
            for (i, (requester, plan)) in plans.iter().enumerate() {
                work_ticket(tx, requester, plan, warn)?;
                progress.set_position(i as u64 + 1);
            }
            Ok(())
        })
        .map_err(err)?;
    progress.finish();
    Ok(())
}

/// Opens the ticket as the create route does and returns it.
fn open(conn: &Connection, requester: &str, p: &TicketPlan, warn: i64) -> ApiResult<Ticket> {
    let new = NewTicket {
        subject: p.subject.into(),
        description: p.description.into(),
        category: p.category.into(),
        subcategory: None,
        priority: p.priority,
        related_booking: None,
        related_transaction: None,
        attachment_keys: Vec::new(),
        tags: Vec::new(),
        source: p.source.into(),
    };
    desk::open_ticket(
        conn,
        requester,
        new,
        json!([]),
        desk::Origin::default(),
        warn,
        now_ms(),
    )
}

/// A message on the ticket as the messages route records it: the first
/// staff answer stops the first-response clock; a customer's answer takes
/// a ticket waiting on them back to `in_progress`.
fn reply(
    conn: &Connection,
    t: &mut Ticket,
    author: &str,
    staff: bool,
    text: &str,
) -> ApiResult<()> {
    let now = now_ms();
    let role = if staff { "support" } else { "customer" };
    store::insert_message(conn, &t.id, author, role, text, &json!([]), false, now)?;
    if !staff && t.status == Status::WaitingCustomer {
        transition(t.status, Status::InProgress, Actor::System).map_err(refused)?;
        desk::change_status(conn, t, Status::InProgress, Some(author), now)?;
    }
    if staff && t.first_response_at.is_none() {
        t.first_response_at = Some(now);
        let (actual, met) = stop_clock(&t.sla_times(), t.first_response_target, now);
        t.first_response_actual = Some(actual);
        t.first_response_met = Some(met);
    }
    desk::emit(
        conn,
        "ticket.replied",
        t,
        Some(author),
        json!({"ticketId": t.id, "ticketNumber": t.ticket_number, "customerId": t.customer_id,
               "authorId": author, "fromStaff": staff}),
    )?;
    t.updated_at = now;
    store::save(conn, t)
}

fn refused(r: crate::support::model::Refusal) -> crate::error::ApiError {
    crate::error::ApiError::internal(r.message())
}

/// Creates one ticket and, when the desk assigned it, works it to its end.
fn work_ticket(conn: &Connection, requester: &str, p: &TicketPlan, warn: i64) -> ApiResult<()> {
    let mut t = open(conn, requester, p, warn)?;
    // Unassigned tickets wait in the queue as they are.
    let Some(agent) = t.assigned_to.clone() else {
        return Ok(());
    };
    if p.end == TicketEnd::AsCreated {
        return Ok(());
    }
    reply(conn, &mut t, &agent, true, model::STAFF_REPLY)?;
    for to in model::staff_path(p.end) {
        let now = now_ms();
        match to {
            Status::WaitingCustomer => reply(conn, &mut t, &agent, true, model::STAFF_ASK)?,
            Status::Resolved => reply(conn, &mut t, requester, false, model::CUSTOMER_REPLY)?,
            _ => {}
        }
        transition(t.status, *to, Actor::Staff).map_err(refused)?;
        desk::change_status(conn, &mut t, *to, Some(&agent), now)?;
        if *to == Status::Closed {
            t.resolution_summary = Some(model::RESOLUTION.into());
            t.resolution_type = Some("solved".into());
            t.resolved_by = Some(agent.clone());
        }
        store::save(conn, &t)?;
        if to.is_finished() {
            desk::drain_queue(conn, now, 10)?;
        }
    }
    if p.end == TicketEnd::Closed(true) {
        let now = now_ms();
        t.rating = Some(p.rating);
        t.rated_at = Some(now);
        t.updated_at = now;
        store::save(conn, &t)?;
        store::add_agent_rating(conn, &agent, p.rating, now)?;
    }
    Ok(())
}
