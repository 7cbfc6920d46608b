//! SQL for the support desk's own tables. Functions take `&Connection` so
//! they run alone or inside the caller's write transaction.

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use serde_json::Value;

use crate::error::ApiResult;
use crate::ids::new_id;
use crate::support::model::{AgentLoad, Priority, SlaTimes, Status, LOAD_STATUSES_SQL};

/// One ticket row. Mutated in memory by the routes, then written back
/// whole with [`save`] inside the same transaction that read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    pub id: String,
    pub ticket_number: String,
    pub customer_id: String,
    pub assigned_to: Option<String>,
    pub subject: String,
    pub description: String,
    pub category: String,
    pub subcategory: Option<String>,
    pub priority: Priority,
    pub status: Status,
    pub related_booking: Option<String>,
    pub related_transaction: Option<String>,
    pub attachments: Value,
    pub tags: Vec<String>,
    pub source: String,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub first_response_target: i64,
    pub resolution_target: i64,
    pub first_response_actual: Option<i64>,
    pub first_response_met: Option<bool>,
    pub resolution_actual: Option<i64>,
    pub resolution_met: Option<bool>,
    pub paused_at: Option<i64>,
    pub paused_ms: i64,
    pub warned_first: bool,
    pub warned_resolution: bool,
    pub breached_first: bool,
    pub breached_resolution: bool,
    pub assigned_at: Option<i64>,
    pub first_response_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub reopened_at: Option<i64>,
    pub resolution_summary: Option<String>,
    pub resolution_type: Option<String>,
    pub resolution_notes: Option<String>,
    pub resolved_by: Option<String>,
    pub rating: Option<i64>,
    pub rating_feedback: Option<String>,
    pub rated_at: Option<i64>,
    pub is_escalated: bool,
    pub escalation_level: i64,
    pub escalated_to: Option<String>,
    pub escalated_at: Option<i64>,
    pub escalation_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Ticket {
    /// The SLA clock facts of this ticket.
    pub fn sla_times(&self) -> SlaTimes {
        SlaTimes {
            created_at: self.created_at,
            paused_ms: self.paused_ms,
            paused_at: self.paused_at,
        }
    }
}

const COLUMNS: &str = "id, ticket_number, customer_id, assigned_to, subject, description, category, subcategory,
    priority, status, related_booking, related_transaction, attachments, tags, source, ip_address, user_agent,
    first_response_target, resolution_target, first_response_actual, first_response_met, resolution_actual,
    resolution_met, paused_at, paused_ms, warned_first, warned_resolution, breached_first, breached_resolution,
    assigned_at, first_response_at, resolved_at, closed_at, reopened_at, resolution_summary, resolution_type,
    resolution_notes, resolved_by, rating, rating_feedback, rated_at, is_escalated, escalation_level,
    escalated_to, escalated_at, escalation_reason, created_at, updated_at";

fn from_row(r: &Row) -> rusqlite::Result<Ticket> {
    let priority: String = r.get(8)?;
    let status: String = r.get(9)?;
    let attachments: String = r.get(12)?;
    let tags: String = r.get(13)?;
    Ok(Ticket {
        id: r.get(0)?,
        ticket_number: r.get(1)?,
        customer_id: r.get(2)?,
        assigned_to: r.get(3)?,
        subject: r.get(4)?,
        description: r.get(5)?,
        category: r.get(6)?,
        subcategory: r.get(7)?,
        priority: Priority::parse(&priority).unwrap_or(Priority::Medium),
        status: Status::parse(&status).unwrap_or(Status::Open),
        related_booking: r.get(10)?,
        related_transaction: r.get(11)?,
        attachments: serde_json::from_str(&attachments).unwrap_or(Value::Array(vec![])),
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        source: r.get(14)?,
        ip_address: r.get(15)?,
        user_agent: r.get(16)?,
        first_response_target: r.get(17)?,
        resolution_target: r.get(18)?,
        first_response_actual: r.get(19)?,
        first_response_met: r.get(20)?,
        resolution_actual: r.get(21)?,
        resolution_met: r.get(22)?,
        paused_at: r.get(23)?,
        paused_ms: r.get(24)?,
        warned_first: r.get(25)?,
        warned_resolution: r.get(26)?,
        breached_first: r.get(27)?,
        breached_resolution: r.get(28)?,
        assigned_at: r.get(29)?,
        first_response_at: r.get(30)?,
        resolved_at: r.get(31)?,
        closed_at: r.get(32)?,
        reopened_at: r.get(33)?,
        resolution_summary: r.get(34)?,
        resolution_type: r.get(35)?,
        resolution_notes: r.get(36)?,
        resolved_by: r.get(37)?,
        rating: r.get(38)?,
        rating_feedback: r.get(39)?,
        rated_at: r.get(40)?,
        is_escalated: r.get(41)?,
        escalation_level: r.get(42)?,
        escalated_to: r.get(43)?,
        escalated_at: r.get(44)?,
        escalation_reason: r.get(45)?,
        created_at: r.get(46)?,
        updated_at: r.get(47)?,
    })
}

/// The next ticket sequence number. Unique because every create runs on
/// the single writer inside its own transaction.
pub fn next_seq(conn: &Connection) -> ApiResult<i64> {
    Ok(conn
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) + 1 FROM support_tickets")?
        .query_row([], |r| r.get(0))?)
}

/// Inserts a new ticket (the caller filled every field).
pub fn insert(conn: &Connection, t: &Ticket, seq: i64) -> ApiResult<()> {
    conn.prepare_cached(
        "INSERT INTO support_tickets (id, seq, ticket_number, customer_id, subject, description, category,
            subcategory, priority, priority_rank, status, related_booking, related_transaction, attachments,
            tags, source, ip_address, user_agent, first_response_target, resolution_target, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?21)",
    )?
    .execute(params![
        t.id,
        seq,
        t.ticket_number,
        t.customer_id,
        t.subject,
        t.description,
        t.category,
        t.subcategory,
        t.priority.as_str(),
        t.priority.rank(),
        t.status.as_str(),
        t.related_booking,
        t.related_transaction,
        t.attachments.to_string(),
        serde_json::to_string(&t.tags)?,
        t.source,
        t.ip_address,
        t.user_agent,
        t.first_response_target,
        t.resolution_target,
        t.created_at,
    ])?;
    Ok(())
}

/// Writes back every mutable column of `t`.
pub fn save(conn: &Connection, t: &Ticket) -> ApiResult<()> {
    conn.prepare_cached(
        "UPDATE support_tickets SET assigned_to = ?2, priority = ?3, priority_rank = ?4, status = ?5, tags = ?6,
            first_response_actual = ?7, first_response_met = ?8, resolution_actual = ?9, resolution_met = ?10,
            paused_at = ?11, paused_ms = ?12, warned_first = ?13, warned_resolution = ?14, breached_first = ?15,
            breached_resolution = ?16, assigned_at = ?17, first_response_at = ?18, resolved_at = ?19,
            closed_at = ?20, reopened_at = ?21, resolution_summary = ?22, resolution_type = ?23,
            resolution_notes = ?24, resolved_by = ?25, rating = ?26, rating_feedback = ?27, rated_at = ?28,
            is_escalated = ?29, escalation_level = ?30, escalated_to = ?31, escalated_at = ?32,
            escalation_reason = ?33, updated_at = ?34, subcategory = ?35, category = ?36
         WHERE id = ?1",
    )?
    .execute(params![
        t.id,
        t.assigned_to,
        t.priority.as_str(),
        t.priority.rank(),
        t.status.as_str(),
        serde_json::to_string(&t.tags)?,
        t.first_response_actual,
        t.first_response_met,
        t.resolution_actual,
        t.resolution_met,
        t.paused_at,
        t.paused_ms,
        t.warned_first,
        t.warned_resolution,
        t.breached_first,
        t.breached_resolution,
        t.assigned_at,
        t.first_response_at,
        t.resolved_at,
        t.closed_at,
        t.reopened_at,
        t.resolution_summary,
        t.resolution_type,
        t.resolution_notes,
        t.resolved_by,
        t.rating,
        t.rating_feedback,
        t.rated_at,
        t.is_escalated,
        t.escalation_level,
        t.escalated_to,
        t.escalated_at,
        t.escalation_reason,
        t.updated_at,
        t.subcategory,
        t.category,
    ])?;
    Ok(())
}

/// The ticket `id`, if any.
pub fn find(conn: &Connection, id: &str) -> ApiResult<Option<Ticket>> {
    let sql = format!("SELECT {COLUMNS} FROM support_tickets WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], from_row)
        .optional()?)
}

// ---------------------------------------------------------------- messages, history, notes

/// One message of a ticket's conversation.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub sender_id: String,
    pub sender_role: String,
    pub message: String,
    pub attachments: Value,
    pub is_internal: bool,
    pub created_at: i64,
}

/// Adds a message; returns it.
#[allow(clippy::too_many_arguments)]
pub fn insert_message(
    conn: &Connection,
    ticket_id: &str,
    sender_id: &str,
    sender_role: &str,
    message: &str,
    attachments: &Value,
    is_internal: bool,
    now: i64,
) -> ApiResult<Message> {
    let id = new_id();
    conn.prepare_cached(
        "INSERT INTO support_messages (id, ticket_id, sender_id, sender_role, message, attachments, is_internal, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![id, ticket_id, sender_id, sender_role, message, attachments.to_string(), is_internal, now])?;
    Ok(Message {
        id,
        sender_id: sender_id.into(),
        sender_role: sender_role.into(),
        message: message.into(),
        attachments: attachments.clone(),
        is_internal,
        created_at: now,
    })
}

/// A ticket's messages, oldest first; internal ones only when asked.
pub fn messages(
    conn: &Connection,
    ticket_id: &str,
    with_internal: bool,
) -> ApiResult<Vec<Message>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, sender_id, sender_role, message, attachments, is_internal, created_at
         FROM support_messages WHERE ticket_id = ?1 AND (?2 OR is_internal = 0) ORDER BY created_at, rowid",
    )?;
    let rows = stmt.query_map(params![ticket_id, with_internal], |r| {
        let attachments: String = r.get(4)?;
        Ok(Message {
            id: r.get(0)?,
            sender_id: r.get(1)?,
            sender_role: r.get(2)?,
            message: r.get(3)?,
            attachments: serde_json::from_str(&attachments).unwrap_or(Value::Array(vec![])),
            is_internal: r.get(5)?,
            created_at: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Records a status change.
pub fn insert_history(
    conn: &Connection,
    ticket_id: &str,
    status: Status,
    changed_by: Option<&str>,
    notes: Option<&str>,
    now: i64,
) -> ApiResult<()> {
    conn.prepare_cached(
        "INSERT INTO support_status_history (id, ticket_id, status, changed_by, changed_at, notes) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![new_id(), ticket_id, status.as_str(), changed_by, now, notes])?;
    Ok(())
}

/// `(id, status, changedBy, changedAt, notes)` entries, oldest first.
pub type HistoryEntry = (String, String, Option<String>, i64, Option<String>);

pub fn history(conn: &Connection, ticket_id: &str) -> ApiResult<Vec<HistoryEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, status, changed_by, changed_at, notes FROM support_status_history
         WHERE ticket_id = ?1 ORDER BY changed_at, rowid",
    )?;
    let rows = stmt.query_map([ticket_id], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Adds a staff-only note.
pub fn insert_note(
    conn: &Connection,
    ticket_id: &str,
    note: &str,
    added_by: Option<&str>,
    now: i64,
) -> ApiResult<()> {
    conn.prepare_cached(
        "INSERT INTO support_internal_notes (id, ticket_id, note, added_by, added_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![new_id(), ticket_id, note, added_by, now])?;
    Ok(())
}

/// `(id, note, addedBy, addedAt)`, oldest first.
pub type NoteEntry = (String, String, Option<String>, i64);

pub fn notes(conn: &Connection, ticket_id: &str) -> ApiResult<Vec<NoteEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, note, added_by, added_at FROM support_internal_notes WHERE ticket_id = ?1 ORDER BY added_at, rowid",
    )?;
    let rows = stmt.query_map([ticket_id], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Visible message count of a ticket.
pub fn message_count(conn: &Connection, ticket_id: &str, with_internal: bool) -> ApiResult<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT COUNT(*) FROM support_messages WHERE ticket_id = ?1 AND (?2 OR is_internal = 0)",
        )?
        .query_row(params![ticket_id, with_internal], |r| r.get(0))?)
}

// ---------------------------------------------------------------- agents

/// An agent's availability row.
#[derive(Debug, Clone)]
pub struct Agent {
    pub user_id: String,
    pub availability: String,
    pub max_concurrent: i64,
    pub last_assigned_at: i64,
    pub rating_sum: i64,
    pub rating_count: i64,
}

/// The agent row of `user_id`, if they ever set their availability.
pub fn agent(conn: &Connection, user_id: &str) -> ApiResult<Option<Agent>> {
    Ok(conn
        .prepare_cached(
            "SELECT user_id, availability, max_concurrent, last_assigned_at, rating_sum, rating_count
             FROM support_agents WHERE user_id = ?1",
        )?
        .query_row([user_id], |r| {
            Ok(Agent {
                user_id: r.get(0)?,
                availability: r.get(1)?,
                max_concurrent: r.get(2)?,
                last_assigned_at: r.get(3)?,
                rating_sum: r.get(4)?,
                rating_count: r.get(5)?,
            })
        })
        .optional()?)
}

/// Sets an agent's availability and/or cap, leaving what is `None` as it
/// was (a new row starts `offline` with `default_max`). Lowering the cap
/// below the current load keeps every ticket the agent holds; the pick
/// and manual assignment give them nothing new until they are under it.
pub fn set_agent(
    conn: &Connection,
    user_id: &str,
    availability: Option<&str>,
    max_concurrent: Option<i64>,
    default_max: i64,
    now: i64,
) -> ApiResult<Agent> {
    conn.prepare_cached(
        "INSERT INTO support_agents (user_id, availability, max_concurrent, updated_at)
         VALUES (?1, COALESCE(?2, 'offline'), COALESCE(?3, ?4), ?5)
         ON CONFLICT (user_id) DO UPDATE SET availability = COALESCE(?2, availability),
             max_concurrent = COALESCE(?3, max_concurrent), updated_at = excluded.updated_at",
    )?
    .execute(params![
        user_id,
        availability,
        max_concurrent,
        default_max,
        now
    ])?;
    Ok(agent(conn, user_id)?.expect("just written"))
}

/// Tickets counting towards `agent_id`'s load (kept by the migration's
/// triggers; counted when the agent has no row yet).
pub fn load_of(conn: &Connection, agent_id: &str) -> ApiResult<i64> {
    if let Some(n) = conn
        .prepare_cached("SELECT active_count FROM support_agents WHERE user_id = ?1")?
        .query_row([agent_id], |r| r.get(0))
        .optional()?
    {
        return Ok(n);
    }
    let sql = format!(
        "SELECT COUNT(*) FROM support_tickets WHERE assigned_to = ?1 AND status IN ({LOAD_STATUSES_SQL})"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([agent_id], |r| r.get(0))?)
}

/// Every available, active support agent with their load, for the pick.
pub fn available_agents(conn: &Connection) -> ApiResult<Vec<AgentLoad>> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.user_id, a.max_concurrent, a.last_assigned_at, a.active_count
         FROM support_agents a JOIN users u ON u.id = a.user_id
         WHERE a.availability = 'available' AND a.active_count < a.max_concurrent
           AND u.role = 'support' AND u.status = 'active'",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(AgentLoad {
            user_id: r.get(0)?,
            is_available: true,
            max_concurrent: r.get(1)?,
            last_assigned_at: r.get(2)?,
            load: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Marks the moment `agent_id` last got a ticket (the pick's tie-break).
pub fn touch_assigned(conn: &Connection, agent_id: &str, now: i64) -> ApiResult<()> {
    conn.prepare_cached(
        "INSERT INTO support_agents (user_id, last_assigned_at, updated_at) VALUES (?1, ?2, ?2)
         ON CONFLICT (user_id) DO UPDATE SET last_assigned_at = MAX(last_assigned_at, excluded.last_assigned_at)",
    )?
    .execute(params![agent_id, now])?;
    Ok(())
}

/// Adds one rating to an agent's satisfaction figures.
pub fn add_agent_rating(conn: &Connection, agent_id: &str, rating: i64, now: i64) -> ApiResult<()> {
    conn.prepare_cached(
        "INSERT INTO support_agents (user_id, rating_sum, rating_count, updated_at) VALUES (?1, ?2, 1, ?3)
         ON CONFLICT (user_id) DO UPDATE SET rating_sum = rating_sum + excluded.rating_sum,
             rating_count = rating_count + 1",
    )?
    .execute(params![agent_id, rating, now])?;
    Ok(())
}

/// The oldest, most urgent tickets waiting in the unassigned queue.
pub fn queue_head(conn: &Connection, limit: i64) -> ApiResult<Vec<Ticket>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM support_tickets WHERE assigned_to IS NULL AND status IN ('open','reopened')
         ORDER BY priority_rank DESC, created_at LIMIT ?1"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([limit], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

// ---------------------------------------------------------------- lists

/// Which tickets a list may show, by the caller's role.
#[derive(Debug, Clone)]
pub enum Scope {
    /// Everything (admin).
    All,
    /// The requester's own.
    Customer(String),
    /// A support agent: their tickets and the unassigned queue.
    AgentWithQueue(String),
    /// Only tickets assigned to this agent.
    AssignedTo(String),
}

/// Filters of the ticket list.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<String>,
    pub priority: Option<String>,
    pub category: Option<String>,
    pub search: Option<String>,
    pub start: Option<i64>,
    pub end: Option<i64>,
}

/// `ORDER BY` text of an allowed sort key (`-createdAt` default).
pub fn order_by(sort: &str) -> Option<&'static str> {
    Some(match sort {
        "-createdAt" | "" => "created_at DESC, id DESC",
        "createdAt" => "created_at, id",
        "-updatedAt" => "updated_at DESC, id DESC",
        "updatedAt" => "updated_at, id",
        "-priority" => "priority_rank DESC, created_at",
        "priority" => "priority_rank, created_at",
        "status" => "status, created_at DESC",
        _ => return None,
    })
}

/// A page of tickets and the total that match.
pub fn list(
    conn: &Connection,
    scope: &Scope,
    f: &ListFilter,
    order: &str,
    limit: i64,
    offset: i64,
) -> ApiResult<(Vec<Ticket>, i64)> {
    let mut clauses: Vec<String> = Vec::new();
    let mut args: Vec<SqlValue> = Vec::new();
    let arg = |v: SqlValue, args: &mut Vec<SqlValue>| {
        args.push(v);
        format!("?{}", args.len())
    };
    match scope {
        Scope::All => {}
        Scope::Customer(id) => {
            let p = arg(SqlValue::Text(id.clone()), &mut args);
            clauses.push(format!("customer_id = {p}"));
        }
        Scope::AssignedTo(id) => {
            let p = arg(SqlValue::Text(id.clone()), &mut args);
            clauses.push(format!("assigned_to = {p}"));
        }
        Scope::AgentWithQueue(id) => {
            let p = arg(SqlValue::Text(id.clone()), &mut args);
            clauses.push(format!(
                "(assigned_to = {p} OR escalated_to = {p} OR (assigned_to IS NULL AND status IN ('open','reopened')))"
            ));
        }
    }
    for (col, v) in [
        ("status", &f.status),
        ("priority", &f.priority),
        ("category", &f.category),
    ] {
        if let Some(v) = v {
            let p = arg(SqlValue::Text(v.clone()), &mut args);
            clauses.push(format!("{col} = {p}"));
        }
    }
    if let Some(s) = &f.search {
        let like = format!(
            "%{}%",
            s.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let p = arg(SqlValue::Text(like), &mut args);
        clauses.push(format!(
            "(ticket_number LIKE {p} ESCAPE '\\' OR subject LIKE {p} ESCAPE '\\' OR description LIKE {p} ESCAPE '\\' OR tags LIKE {p} ESCAPE '\\')"
        ));
    }
    if let Some(s) = f.start {
        let p = arg(SqlValue::Integer(s), &mut args);
        clauses.push(format!("created_at >= {p}"));
    }
    if let Some(e) = f.end {
        let p = arg(SqlValue::Integer(e), &mut args);
        clauses.push(format!("created_at <= {p}"));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let total: i64 = conn
        .prepare_cached(&format!("SELECT COUNT(*) FROM support_tickets {filter}"))?
        .query_row(params_from_iter(args.iter()), |r| r.get(0))?;
    let lp = args.len() + 1;
    let sql = format!(
        "SELECT {COLUMNS} FROM support_tickets {filter} ORDER BY {order} LIMIT ?{lp} OFFSET ?{}",
        lp + 1
    );
    args.push(SqlValue::Integer(limit));
    args.push(SqlValue::Integer(offset));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args.iter()), from_row)?;
    Ok((rows.collect::<Result<_, _>>()?, total))
}

// ---------------------------------------------------------------- dashboard

/// An agent's own tickets being worked, most urgent then oldest first.
pub fn agent_active(conn: &Connection, agent_id: &str, limit: i64) -> ApiResult<Vec<Ticket>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM support_tickets WHERE assigned_to = ?1 AND status IN ({LOAD_STATUSES_SQL})
         ORDER BY priority_rank DESC, created_at LIMIT ?2"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![agent_id, limit], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Urgent tickets not yet resolved or closed, oldest first.
pub fn urgent_open(conn: &Connection, limit: i64) -> ApiResult<Vec<Ticket>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM support_tickets WHERE priority = 'urgent' AND status NOT IN ('resolved','closed')
         ORDER BY created_at LIMIT ?1"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([limit], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

// ---------------------------------------------------------------- stats

/// The facts the stats endpoint aggregates, per matching ticket.
#[derive(Debug, Clone)]
pub struct StatRow {
    pub status: String,
    pub priority: String,
    pub category: String,
    pub first_response_actual: Option<i64>,
    pub first_response_met: Option<bool>,
    pub resolution_actual: Option<i64>,
    pub resolution_met: Option<bool>,
    pub rating: Option<i64>,
}

/// Stat rows of tickets created in `[start, end]` (when both are given),
/// assigned to `agent` when given.
pub fn stat_rows(
    conn: &Connection,
    agent: Option<&str>,
    range: Option<(i64, i64)>,
) -> ApiResult<Vec<StatRow>> {
    let (start, end) = range.unwrap_or((i64::MIN, i64::MAX));
    let mut stmt = conn.prepare_cached(
        "SELECT status, priority, category, first_response_actual, first_response_met, resolution_actual,
                resolution_met, rating
         FROM support_tickets
         WHERE (?1 IS NULL OR assigned_to = ?1) AND created_at BETWEEN ?2 AND ?3",
    )?;
    let rows = stmt.query_map(params![agent, start, end], |r| {
        Ok(StatRow {
            status: r.get(0)?,
            priority: r.get(1)?,
            category: r.get(2)?,
            first_response_actual: r.get(3)?,
            first_response_met: r.get(4)?,
            resolution_actual: r.get(5)?,
            resolution_met: r.get(6)?,
            rating: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
