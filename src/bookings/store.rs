//! SQL for the bookings module's tables.
//!
//! Every change to a booking runs inside the caller's transaction and keeps
//! four things with it: the timeline (`booking_status_history`), the
//! per-party counts (`booking_counts`, so list totals and stats never count
//! a million rows), the technician's derived figures (through
//! `users::technician::set_job_stats`), and a domain event in the outbox.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::{json, Value};

use crate::bookings::model::{self, Action, ItemKind, LineItem, Pricing, Relation, Status};
use crate::error::{ApiError, ApiResult};
use crate::ids::{new_id, now_ms};

/// What other modules (payments, matching, reviews) may know of a booking.
#[derive(Debug, Clone, PartialEq)]
pub struct BookingParties {
    pub id: String,
    /// `BKG-…`, what people quote on the phone.
    pub booking_number: String,
    pub service_type: String,
    pub customer_id: String,
    pub technician_id: Option<String>,
    pub status: String,
    pub total_minor: i64,
    pub currency: String,
    pub completed_at: Option<i64>,
}

/// The parties, status and amount of a booking, or `None`.
pub fn find_parties(conn: &Connection, id: &str) -> ApiResult<Option<BookingParties>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, customer_id, technician_id, status, total_amount_minor, currency, completed_at,
                    booking_number, service_type
             FROM bookings WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok(BookingParties {
                id: r.get(0)?,
                customer_id: r.get(1)?,
                technician_id: r.get(2)?,
                status: r.get(3)?,
                total_minor: r.get(4)?,
                currency: r.get(5)?,
                completed_at: r.get(6)?,
                booking_number: r.get(7)?,
                service_type: r.get(8)?,
            })
        })
        .optional()?)
}

/// A booking to create, already validated by the caller. The bookings
/// routes and matching's accept both create bookings through [`create`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewBooking {
    pub customer_id: String,
    /// `Some` puts the booking straight into `awaiting_acceptance`.
    pub technician_id: Option<String>,
    pub service_category: String,
    pub service_type: String,
    pub description: String,
    /// `low`, `medium`, `high` or `emergency`.
    pub urgency: String,
    /// Start of the job, ms since the epoch.
    pub scheduled_at: i64,
    pub estimated_duration_mins: i64,
    /// `(lng, lat)`.
    pub location: (f64, f64),
    pub address: String,
    pub budget_minor: Option<i64>,
    /// `mobile_app`, `web_app`, `admin_panel` or `api`.
    pub source: String,
    /// The match score when the booking came from matching.
    pub match_score: Option<f64>,
}

/// What the bookings routes know of a new booking beyond [`NewBooking`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Details {
    pub city: Option<String>,
    pub county: Option<String>,
    pub landmarks: Option<String>,
    pub access_instructions: Option<String>,
    /// Minutes east of UTC of the client's local times; `None` = the default (EAT, +180).
    pub utc_offset_mins: Option<i32>,
    /// Media ids of photos of the problem.
    pub photo_ids: Vec<String>,
}

/// Creates a booking in the caller's transaction and returns its id: status
/// `pending`, or `awaiting_acceptance` when a technician is named (the
/// caller has checked the technician), with its booking number, first
/// timeline entry, counts and a `booking.created` event.
pub fn create(conn: &Connection, new: &NewBooking, actor_id: &str) -> ApiResult<String> {
    Ok(create_with(conn, new, &Details::default(), actor_id)?.id)
}

/// [`create`] with the route's details; returns the stored booking.
pub fn create_with(
    conn: &Connection,
    new: &NewBooking,
    details: &Details,
    actor_id: &str,
) -> ApiResult<BookingRow> {
    let id = new_id();
    let now = now_ms();
    let status = if new.technician_id.is_some() {
        Status::AwaitingAcceptance
    } else {
        Status::Pending
    };
    let seq: i64 = conn
        .prepare_cached(
            "UPDATE booking_number_seq SET last = last + 1 WHERE id = 1 RETURNING last",
        )?
        .query_row([], |r| r.get(0))?;
    let number = format!("BKG-{now}-{seq:05}");
    let row = BookingRow {
        id: id.clone(),
        booking_number: number,
        customer_id: new.customer_id.clone(),
        technician_id: new.technician_id.clone(),
        status,
        service_category: new.service_category.clone(),
        service_type: new.service_type.clone(),
        description: new.description.clone(),
        urgency: new.urgency.clone(),
        scheduled_at: Some(new.scheduled_at),
        estimated_duration_mins: new.estimated_duration_mins,
        location: Some(new.location),
        address: Some(new.address.clone()),
        city: details.city.clone(),
        county: details.county.clone(),
        landmarks: details.landmarks.clone(),
        access_instructions: details.access_instructions.clone(),
        utc_offset_mins: details.utc_offset_mins.unwrap_or(DEFAULT_UTC_OFFSET_MINS),
        photo_ids: details.photo_ids.clone(),
        budget_minor: new.budget_minor,
        source: new.source.clone(),
        match_score: new.match_score,
        currency: "KES".into(),
        total_minor: 0,
        labour_minor: 0,
        materials_minor: 0,
        transport_minor: 0,
        discount_minor: 0,
        platform_fee_minor: 0,
        priced_at: None,
        assigned_at: new.technician_id.as_ref().map(|_| now),
        accepted_at: None,
        started_at: None,
        completed_at: None,
        cancelled_at: None,
        cancelled_by: None,
        cancellation_reason: None,
        cancellation_fee_minor: None,
        created_at: now,
        updated_at: now,
    };
    conn.prepare_cached(
        "INSERT INTO bookings (id, booking_number, customer_id, technician_id, status, service_category,
            service_type, description, urgency, scheduled_at, estimated_duration_mins, location_lng,
            location_lat, location_address, budget_minor, source, match_score, assigned_at, created_at, updated_at,
            location_city, location_county, location_landmarks, location_access, utc_offset_mins, photo_ids)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?19,
                 ?20, ?21, ?22, ?23, ?24, ?25)",
    )?
    .execute(params![
        row.id,
        row.booking_number,
        row.customer_id,
        row.technician_id,
        status.as_str(),
        row.service_category,
        row.service_type,
        row.description,
        row.urgency,
        new.scheduled_at,
        row.estimated_duration_mins,
        new.location.0,
        new.location.1,
        new.address,
        row.budget_minor,
        row.source,
        row.match_score,
        row.assigned_at,
        now,
        row.city,
        row.county,
        row.landmarks,
        row.access_instructions,
        row.utc_offset_mins,
        serde_json::to_string(&row.photo_ids)?,
    ])?;
    record_history(conn, &id, None, status, "create", Some(actor_id), None, now)?;
    move_counts(conn, None, Some(&row))?;
    if let Some(tech) = &row.technician_id {
        crate::chat::ensure_booking_conversation(conn, &id, &row.customer_id, tech, actor_id)?;
    }
    crate::events::emit(
        conn,
        "booking.created",
        Some(&id),
        Some(actor_id),
        &json!({"status": status.as_str(), "customerId": new.customer_id, "technicianId": new.technician_id}),
    )?;
    Ok(row)
}

/// The zone of local times when nobody said otherwise: East Africa Time.
pub const DEFAULT_UTC_OFFSET_MINS: i32 = 180;

// ---------------------------------------------------------------- reading

/// A booking as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct BookingRow {
    pub id: String,
    pub booking_number: String,
    pub customer_id: String,
    pub technician_id: Option<String>,
    pub status: Status,
    pub service_category: String,
    pub service_type: String,
    pub description: String,
    pub urgency: String,
    pub scheduled_at: Option<i64>,
    pub estimated_duration_mins: i64,
    /// `(lng, lat)`.
    pub location: Option<(f64, f64)>,
    pub address: Option<String>,
    pub city: Option<String>,
    pub county: Option<String>,
    pub landmarks: Option<String>,
    pub access_instructions: Option<String>,
    pub utc_offset_mins: i32,
    pub photo_ids: Vec<String>,
    pub budget_minor: Option<i64>,
    pub source: String,
    pub match_score: Option<f64>,
    pub currency: String,
    pub total_minor: i64,
    pub labour_minor: i64,
    pub materials_minor: i64,
    pub transport_minor: i64,
    pub discount_minor: i64,
    pub platform_fee_minor: i64,
    pub priced_at: Option<i64>,
    pub assigned_at: Option<i64>,
    pub accepted_at: Option<i64>,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub cancelled_at: Option<i64>,
    pub cancelled_by: Option<String>,
    pub cancellation_reason: Option<String>,
    pub cancellation_fee_minor: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl BookingRow {
    /// What `user` is to this booking.
    pub fn relation(&self, user: &crate::auth::store::Account) -> Relation {
        Relation::of(
            user.role,
            &user.id,
            &self.customer_id,
            self.technician_id.as_deref(),
        )
    }

    /// The booking's price as computed.
    pub fn pricing(&self) -> Pricing {
        Pricing {
            labour_minor: self.labour_minor,
            materials_minor: self.materials_minor,
            transport_minor: self.transport_minor,
            discount_minor: self.discount_minor,
            subtotal_minor: self.total_minor,
            platform_fee_minor: self.platform_fee_minor,
            total_minor: self.total_minor,
        }
    }
}

const COLUMNS: &str = "id, booking_number, customer_id, technician_id, status, service_category, service_type,
    description, urgency, scheduled_at, estimated_duration_mins, location_lng, location_lat, location_address,
    location_city, location_county, location_landmarks, location_access, utc_offset_mins, photo_ids,
    budget_minor, source, match_score, currency, total_amount_minor, labour_minor, materials_minor,
    transport_minor, discount_minor, platform_fee_minor, priced_at, assigned_at, accepted_at, started_at,
    completed_at, cancelled_at, cancelled_by, cancellation_reason, cancellation_fee_minor, created_at, updated_at";

fn parse_status(raw: String, index: usize) -> rusqlite::Result<Status> {
    Status::parse(&raw).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            format!("unknown booking status {raw:?}").into(),
        )
    })
}

fn from_row(r: &Row) -> rusqlite::Result<BookingRow> {
    let lng: Option<f64> = r.get(11)?;
    let lat: Option<f64> = r.get(12)?;
    let photos: String = r.get(19)?;
    Ok(BookingRow {
        id: r.get(0)?,
        booking_number: r.get(1)?,
        customer_id: r.get(2)?,
        technician_id: r.get(3)?,
        status: parse_status(r.get(4)?, 4)?,
        service_category: r.get(5)?,
        service_type: r.get(6)?,
        description: r.get(7)?,
        urgency: r.get(8)?,
        scheduled_at: r.get(9)?,
        estimated_duration_mins: r.get(10)?,
        location: lng.zip(lat),
        address: r.get(13)?,
        city: r.get(14)?,
        county: r.get(15)?,
        landmarks: r.get(16)?,
        access_instructions: r.get(17)?,
        utc_offset_mins: r.get(18)?,
        photo_ids: serde_json::from_str(&photos).unwrap_or_default(),
        budget_minor: r.get(20)?,
        source: r.get(21)?,
        match_score: r.get(22)?,
        currency: r.get(23)?,
        total_minor: r.get(24)?,
        labour_minor: r.get(25)?,
        materials_minor: r.get(26)?,
        transport_minor: r.get(27)?,
        discount_minor: r.get(28)?,
        platform_fee_minor: r.get(29)?,
        priced_at: r.get(30)?,
        assigned_at: r.get(31)?,
        accepted_at: r.get(32)?,
        started_at: r.get(33)?,
        completed_at: r.get(34)?,
        cancelled_at: r.get(35)?,
        cancelled_by: r.get(36)?,
        cancellation_reason: r.get(37)?,
        cancellation_fee_minor: r.get(38)?,
        created_at: r.get(39)?,
        updated_at: r.get(40)?,
    })
}

/// The booking with this id, or `None`.
pub fn find(conn: &Connection, id: &str) -> ApiResult<Option<BookingRow>> {
    let sql = format!("SELECT {COLUMNS} FROM bookings WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], from_row)
        .optional()?)
}

/// One entry of a booking's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub from: Option<Status>,
    pub to: Status,
    pub action: String,
    pub actor_id: Option<String>,
    pub reason: Option<String>,
    pub at: i64,
}

#[allow(clippy::too_many_arguments)]
fn record_history(
    conn: &Connection,
    booking_id: &str,
    from: Option<Status>,
    to: Status,
    action: &str,
    actor_id: Option<&str>,
    reason: Option<&str>,
    at: i64,
) -> ApiResult<()> {
    conn.prepare_cached(
        "INSERT INTO booking_status_history (booking_id, from_status, to_status, action, actor_id, reason, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        booking_id,
        from.map(Status::as_str),
        to.as_str(),
        action,
        actor_id,
        reason,
        at
    ])?;
    Ok(())
}

/// The timelines of the given bookings, oldest entry first, in one query.
pub fn histories(conn: &Connection, ids: &[&str]) -> ApiResult<HashMap<String, Vec<HistoryEntry>>> {
    let mut out: HashMap<String, Vec<HistoryEntry>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let list = serde_json::to_string(ids)?;
    let mut stmt = conn.prepare_cached(
        "SELECT booking_id, from_status, to_status, action, actor_id, reason, at FROM booking_status_history
         WHERE booking_id IN (SELECT value FROM json_each(?1)) ORDER BY booking_id, id",
    )?;
    let rows = stmt.query_map([list], |r| {
        let from: Option<String> = r.get(1)?;
        Ok((
            r.get::<_, String>(0)?,
            HistoryEntry {
                from: from.map(|s| parse_status(s, 1)).transpose()?,
                to: parse_status(r.get(2)?, 2)?,
                action: r.get(3)?,
                actor_id: r.get(4)?,
                reason: r.get(5)?,
                at: r.get(6)?,
            },
        ))
    })?;
    for row in rows {
        let (id, entry) = row?;
        out.entry(id).or_default().push(entry);
    }
    Ok(out)
}

// ---------------------------------------------------------------- lists

/// How a list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    NewestFirst,
    OldestFirst,
    ScheduledFirst,
    ScheduledLast,
}

impl Sort {
    /// Reads the `sort` parameter (`-createdAt`, `createdAt`, `scheduledDate`, `-scheduledDate`).
    pub fn parse(s: &str) -> Option<Sort> {
        Some(match s.trim() {
            "-createdAt" | "-created_at" => Sort::NewestFirst,
            "createdAt" | "created_at" => Sort::OldestFirst,
            "scheduledDate" | "timeSlot.date" | "scheduled_at" => Sort::ScheduledFirst,
            "-scheduledDate" | "-timeSlot.date" | "-scheduled_at" => Sort::ScheduledLast,
            _ => return None,
        })
    }

    fn sql(self) -> &'static str {
        match self {
            Sort::NewestFirst => "created_at DESC, rowid DESC",
            Sort::OldestFirst => "created_at ASC, rowid ASC",
            Sort::ScheduledFirst => "scheduled_at ASC, rowid ASC",
            Sort::ScheduledLast => "scheduled_at DESC, rowid DESC",
        }
    }
}

/// Which bookings a list shows: the caller's scope plus the query's filters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListFilter {
    pub customer_id: Option<String>,
    pub technician_id: Option<String>,
    /// Any of these (empty = all).
    pub statuses: Vec<Status>,
    pub service_type: Option<String>,
    pub service_category: Option<String>,
    /// `scheduled_at >= from`.
    pub scheduled_from: Option<i64>,
    /// `scheduled_at <= to`.
    pub scheduled_to: Option<i64>,
    pub sort: Sort,
}

impl ListFilter {
    fn where_clause(&self) -> (String, Vec<rusqlite::types::Value>) {
        use rusqlite::types::Value as V;
        let mut sql = String::from(" WHERE 1 = 1");
        let mut args: Vec<V> = Vec::new();
        let mut bind = |sql: &mut String, clause: &str, v: V| {
            args.push(v);
            sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
        };
        if let Some(c) = &self.customer_id {
            bind(&mut sql, " AND customer_id = ?", V::Text(c.clone()));
        }
        if let Some(t) = &self.technician_id {
            bind(&mut sql, " AND technician_id = ?", V::Text(t.clone()));
        }
        if !self.statuses.is_empty() {
            // Statuses come from the enum, never from the client's text.
            let list: Vec<String> = self
                .statuses
                .iter()
                .map(|s| format!("'{}'", s.as_str()))
                .collect();
            sql.push_str(&format!(" AND status IN ({})", list.join(",")));
        }
        if let Some(t) = &self.service_type {
            bind(&mut sql, " AND service_type = ?", V::Text(t.clone()));
        }
        if let Some(c) = &self.service_category {
            bind(&mut sql, " AND service_category = ?", V::Text(c.clone()));
        }
        if let Some(from) = self.scheduled_from {
            bind(&mut sql, " AND scheduled_at >= ?", V::Integer(from));
        }
        if let Some(to) = self.scheduled_to {
            bind(&mut sql, " AND scheduled_at <= ?", V::Integer(to));
        }
        (sql, args)
    }

    /// The counts row that answers `total` for this filter, when one does.
    fn counted_scope(&self) -> Option<(&'static str, &str)> {
        if self.service_type.is_some()
            || self.service_category.is_some()
            || self.scheduled_from.is_some()
            || self.scheduled_to.is_some()
        {
            return None;
        }
        match (&self.customer_id, &self.technician_id) {
            (None, None) => Some(("all", "")),
            (Some(c), None) => Some(("customer", c.as_str())),
            (None, Some(t)) => Some(("technician", t.as_str())),
            (Some(_), Some(_)) => None,
        }
    }
}

/// The list query for `filter` and its arguments, LIMIT and OFFSET last.
fn list_query(
    filter: &ListFilter,
    limit: i64,
    offset: i64,
) -> (String, Vec<rusqlite::types::Value>) {
    if let Some(merged) = status_merge_query(filter, limit, offset) {
        return merged;
    }
    let (clause, mut args) = filter.where_clause();
    let n = args.len();
    let sql = format!(
        "SELECT {COLUMNS} FROM bookings{clause} ORDER BY {} LIMIT ?{} OFFSET ?{}",
        filter.sort.sql(),
        n + 1,
        n + 2
    );
    args.push(limit.into());
    args.push(offset.into());
    (sql, args)
}

/// A technician's (or the whole platform's) bookings filtered by status
/// only, by creation time: one range of `bookings_technician_status` (or
/// `bookings_status`) per status, each read for at most `offset + limit`
/// entries from the index alone, merged, and only the page's rows fetched.
/// A rare status among a million bookings then costs what a common one does.
fn status_merge_query(
    filter: &ListFilter,
    limit: i64,
    offset: i64,
) -> Option<(String, Vec<rusqlite::types::Value>)> {
    use rusqlite::types::Value as V;
    if filter.statuses.is_empty()
        || filter.customer_id.is_some()
        || filter.service_type.is_some()
        || filter.service_category.is_some()
        || filter.scheduled_from.is_some()
        || filter.scheduled_to.is_some()
    {
        return None;
    }
    let dir = match filter.sort {
        Sort::NewestFirst => "DESC",
        Sort::OldestFirst => "ASC",
        Sort::ScheduledFirst | Sort::ScheduledLast => return None,
    };
    let (index, party, mut args) = match &filter.technician_id {
        Some(t) => (
            "bookings_technician_status",
            "technician_id = ?1 AND ",
            vec![V::Text(t.clone())],
        ),
        None => ("bookings_status", "", Vec::new()),
    };
    let n = args.len();
    let (reach, lim, off) = (n + 1, n + 2, n + 3);
    let arms: Vec<String> = filter
        .statuses
        .iter()
        .map(|s| {
            // Statuses come from the enum, never from the client's text.
            format!(
                "SELECT rid, created_at FROM (SELECT rowid AS rid, created_at FROM bookings INDEXED BY {index}
                   WHERE {party}status = '{}' ORDER BY created_at {dir}, rowid {dir} LIMIT ?{reach})",
                s.as_str()
            )
        })
        .collect();
    let sql = format!(
        "SELECT {COLUMNS} FROM bookings WHERE rowid IN (
           SELECT rid FROM ({}) ORDER BY created_at {dir}, rid {dir} LIMIT ?{lim} OFFSET ?{off})
         ORDER BY created_at {dir}, rowid {dir}",
        arms.join(" UNION ALL ")
    );
    args.push(V::Integer(offset + limit));
    args.push(V::Integer(limit));
    args.push(V::Integer(offset));
    Some((sql, args))
}

/// One page of the bookings `filter` selects and how many it selects in
/// all. The total comes from `booking_counts` when the filter is a party
/// and statuses only, else from a count over the same indexed range.
pub fn list(
    conn: &Connection,
    filter: &ListFilter,
    limit: i64,
    offset: i64,
) -> ApiResult<(Vec<BookingRow>, i64)> {
    let (clause, args) = filter.where_clause();
    let total = list_total(conn, filter, &clause, &args)?;
    let (sql, args) = list_query(filter, limit, offset);
    let rows = conn
        .prepare_cached(&sql)?
        .query_map(rusqlite::params_from_iter(args.iter()), from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((rows, total))
}

/// `EXPLAIN QUERY PLAN` of the first page of [`list`] for `filter`, one
/// line per plan step (benchmarks print it; so can diagnostics).
pub fn list_plan(conn: &Connection, filter: &ListFilter) -> ApiResult<Vec<String>> {
    let (sql, args) = list_query(filter, 20, 0);
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), |r| {
        r.get::<_, String>(3)
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn list_total(
    conn: &Connection,
    filter: &ListFilter,
    clause: &str,
    args: &[rusqlite::types::Value],
) -> ApiResult<i64> {
    if let Some((scope, party)) = filter.counted_scope() {
        let statuses = if filter.statuses.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = filter
                .statuses
                .iter()
                .map(|s| format!("'{}'", s.as_str()))
                .collect();
            format!(" AND status IN ({})", list.join(","))
        };
        let sql = format!(
            "SELECT COALESCE(SUM(n), 0) FROM booking_counts WHERE scope = ?1 AND party_id = ?2{statuses}"
        );
        return Ok(conn
            .prepare_cached(&sql)?
            .query_row(params![scope, party], |r| r.get(0))?);
    }
    let sql = format!("SELECT COUNT(*) FROM bookings{clause}");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(rusqlite::params_from_iter(args.iter()), |r| r.get(0))?)
}

// ---------------------------------------------------------------- counts

/// Adds `dn` bookings (and their amounts) to the counts of every party of `b`.
fn count_deltas(
    out: &mut Vec<(&'static str, String, Status, i64, i64, i64)>,
    b: &BookingRow,
    sign: i64,
) {
    let mut add = |scope: &'static str, party: &str| {
        let key_match = |e: &&mut (&'static str, String, Status, i64, i64, i64)| {
            e.0 == scope && e.1 == party && e.2 == b.status
        };
        if let Some(e) = out.iter_mut().find(key_match) {
            e.3 += sign;
            e.4 += sign * b.total_minor;
            e.5 += sign * b.platform_fee_minor;
        } else {
            out.push((
                scope,
                party.to_string(),
                b.status,
                sign,
                sign * b.total_minor,
                sign * b.platform_fee_minor,
            ));
        }
    };
    add("all", "");
    add("customer", &b.customer_id);
    if let Some(t) = &b.technician_id {
        add("technician", t);
    }
}

/// Moves a booking's weight in `booking_counts` from its `before` state to
/// its `after` state (either may be `None`: created, deleted).
fn move_counts(
    conn: &Connection,
    before: Option<&BookingRow>,
    after: Option<&BookingRow>,
) -> ApiResult<()> {
    let mut deltas = Vec::with_capacity(6);
    if let Some(b) = before {
        count_deltas(&mut deltas, b, -1);
    }
    if let Some(a) = after {
        count_deltas(&mut deltas, a, 1);
    }
    let mut stmt = conn.prepare_cached(
        "INSERT INTO booking_counts (scope, party_id, status, n, amount_minor, fee_minor) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (scope, party_id, status) DO UPDATE SET n = n + excluded.n,
             amount_minor = amount_minor + excluded.amount_minor, fee_minor = fee_minor + excluded.fee_minor",
    )?;
    for (scope, party, status, dn, da, df) in deltas {
        if dn != 0 || da != 0 || df != 0 {
            stmt.execute(params![scope, party, status.as_str(), dn, da, df])?;
        }
    }
    Ok(())
}

/// Recomputes `booking_counts` from the bookings table (after a bulk
/// import, or to repair); the routes keep it exact on their own.
pub fn rebuild_counts(conn: &Connection) -> ApiResult<()> {
    conn.execute_batch(
        "DELETE FROM booking_counts;
         INSERT INTO booking_counts (scope, party_id, status, n, amount_minor, fee_minor)
           SELECT 'all', '', status, COUNT(*), SUM(total_amount_minor), SUM(platform_fee_minor) FROM bookings GROUP BY status;
         INSERT INTO booking_counts (scope, party_id, status, n, amount_minor, fee_minor)
           SELECT 'customer', customer_id, status, COUNT(*), SUM(total_amount_minor), SUM(platform_fee_minor)
           FROM bookings GROUP BY customer_id, status;
         INSERT INTO booking_counts (scope, party_id, status, n, amount_minor, fee_minor)
           SELECT 'technician', technician_id, status, COUNT(*), SUM(total_amount_minor), SUM(platform_fee_minor)
           FROM bookings WHERE technician_id IS NOT NULL GROUP BY technician_id, status;",
    )?;
    Ok(())
}

/// Bookings of one status in a scope, with their totals and platform fees.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusCount {
    pub status: Status,
    pub count: i64,
    pub amount_minor: i64,
    pub fee_minor: i64,
}

/// The counts of a scope (`all` with party `""`, `customer` or `technician`), statuses with bookings only.
pub fn counts(conn: &Connection, scope: &str, party: &str) -> ApiResult<Vec<StatusCount>> {
    let mut stmt = conn.prepare_cached(
        "SELECT status, n, amount_minor, fee_minor FROM booking_counts
         WHERE scope = ?1 AND party_id = ?2 AND n > 0 ORDER BY status",
    )?;
    let rows = stmt.query_map(params![scope, party], |r| {
        Ok(StatusCount {
            status: parse_status(r.get(0)?, 0)?,
            count: r.get(1)?,
            amount_minor: r.get(2)?,
            fee_minor: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

// ---------------------------------------------------------------- technician figures

/// A technician's running job figures as this module keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Figures {
    pub completed: i64,
    pub cancelled: i64,
    pub answers: i64,
    pub answer_ms_total: i64,
}

impl Figures {
    /// `(completion rate %, average response minutes)`.
    pub fn rates(&self) -> (Option<f64>, Option<f64>) {
        model::job_figures(
            self.completed,
            self.cancelled,
            self.answers,
            self.answer_ms_total,
        )
    }
}

/// The running figures of a technician (zeros before the first job).
pub fn figures(conn: &Connection, technician_id: &str) -> ApiResult<Figures> {
    Ok(conn
        .prepare_cached(
            "SELECT completed, cancelled, answers, answer_ms_total FROM booking_technician_figures WHERE technician_id = ?1",
        )?
        .query_row([technician_id], |r| {
            Ok(Figures {
                completed: r.get(0)?,
                cancelled: r.get(1)?,
                answers: r.get(2)?,
                answer_ms_total: r.get(3)?,
            })
        })
        .optional()?
        .unwrap_or_default())
}

/// Applies a figure change and writes the derived profile numbers through
/// the users module, in the caller's transaction.
fn change_figures(
    conn: &Connection,
    technician_id: &str,
    change: model::FigureChange,
    answer_ms: i64,
) -> ApiResult<()> {
    let answers = i64::from(change.answered);
    let f: Figures = conn
        .prepare_cached(
            "INSERT INTO booking_technician_figures (technician_id, completed, cancelled, answers, answer_ms_total)
             VALUES (?1, MAX(?2, 0), ?3, ?4, ?5)
             ON CONFLICT (technician_id) DO UPDATE SET completed = MAX(completed + ?2, 0), cancelled = cancelled + ?3,
                 answers = answers + ?4, answer_ms_total = answer_ms_total + ?5
             RETURNING completed, cancelled, answers, answer_ms_total",
        )?
        .query_row(
            params![
                technician_id,
                change.completed,
                change.cancelled,
                answers,
                answer_ms * answers
            ],
            |r| {
                Ok(Figures {
                    completed: r.get(0)?,
                    cancelled: r.get(1)?,
                    answers: r.get(2)?,
                    answer_ms_total: r.get(3)?,
                })
            },
        )?;
    let (completion_rate, avg_response_mins) = f.rates();
    crate::users::technician::set_job_stats(
        conn,
        technician_id,
        &crate::users::technician::JobStats {
            completed_jobs: f.completed,
            cancelled_jobs: f.cancelled,
            completion_rate,
            avg_response_mins,
        },
    )
}

// ---------------------------------------------------------------- transitions

/// One move decided by [`model::transition`], with what the caller adds.
#[derive(Debug, Clone)]
pub struct Move<'a> {
    pub action: Action,
    pub relation: Relation,
    pub to: Status,
    pub actor_id: &'a str,
    pub reason: Option<&'a str>,
    /// The technician named by an assignment.
    pub assign_to: Option<&'a str>,
    /// What a cancellation costs the customer (minor units).
    pub cancellation_fee_minor: i64,
}

/// Applies a decided move to `before` (read in this same transaction):
/// compare-and-set on the status, the timeline entry, the counts, the
/// technician's figures and a `booking.status_changed` event. A booking
/// whose status changed since it was read is a 409.
pub fn apply_move(conn: &Connection, before: &BookingRow, mv: &Move) -> ApiResult<BookingRow> {
    let now = now_ms();
    let mut after = before.clone();
    after.status = mv.to;
    after.updated_at = now;
    match mv.action {
        Action::Assign => {
            after.technician_id = mv.assign_to.map(str::to_string);
            after.assigned_at = Some(now);
        }
        Action::Accept => after.accepted_at = Some(now),
        Action::Decline => {
            after.technician_id = None;
            after.assigned_at = None;
            after.accepted_at = None;
        }
        Action::Start => after.started_at = after.started_at.or(Some(now)),
        Action::Complete => after.completed_at = Some(now),
        Action::ResolveCompleted => after.completed_at = after.completed_at.or(Some(now)),
        Action::Cancel => {
            after.cancelled_at = Some(now);
            after.cancelled_by = Some(mv.actor_id.to_string());
            after.cancellation_reason = mv.reason.map(str::to_string);
            after.cancellation_fee_minor = Some(mv.cancellation_fee_minor);
        }
        Action::EnRoute | Action::Arrive | Action::Dispute | Action::ResolveRefunded => {}
    }
    let changed = conn
        .prepare_cached(
            "UPDATE bookings SET status = ?3, technician_id = ?4, assigned_at = ?5, accepted_at = ?6, started_at = ?7,
                 completed_at = ?8, cancelled_at = ?9, cancelled_by = ?10, cancellation_reason = ?11,
                 cancellation_fee_minor = ?12, updated_at = ?13
             WHERE id = ?1 AND status = ?2",
        )?
        .execute(params![
            before.id,
            before.status.as_str(),
            after.status.as_str(),
            after.technician_id,
            after.assigned_at,
            after.accepted_at,
            after.started_at,
            after.completed_at,
            after.cancelled_at,
            after.cancelled_by,
            after.cancellation_reason,
            after.cancellation_fee_minor,
            now
        ])?;
    if changed != 1 {
        return Err(ApiError::Conflict(format!(
            "The booking is no longer {}; reload it and try again",
            before.status
        )));
    }
    record_history(
        conn,
        &before.id,
        Some(before.status),
        mv.to,
        mv.action.as_str(),
        Some(mv.actor_id),
        mv.reason,
        now,
    )?;
    move_counts(conn, Some(before), Some(&after))?;
    if let (Action::Assign, Some(tech)) = (mv.action, after.technician_id.as_deref()) {
        crate::chat::ensure_booking_conversation(
            conn,
            &before.id,
            &before.customer_id,
            tech,
            mv.actor_id,
        )?;
    }
    let change = model::figure_change(mv.action, mv.relation, before.completed_at.is_some());
    if let (false, Some(tech)) = (change.is_none(), before.technician_id.as_deref()) {
        let answer_ms = before.assigned_at.map(|at| (now - at).max(0)).unwrap_or(0);
        change_figures(conn, tech, change, answer_ms)?;
    }
    crate::events::emit(
        conn,
        "booking.status_changed",
        Some(&before.id),
        Some(mv.actor_id),
        &json!({
            "from": before.status.as_str(),
            "to": mv.to.as_str(),
            "customerId": before.customer_id,
            "technicianId": after.technician_id.as_ref().or(before.technician_id.as_ref()),
        }),
    )?;
    Ok(after)
}

// ---------------------------------------------------------------- pricing

/// One stored line of a price.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredItem {
    pub position: i64,
    pub item: LineItem,
    pub amount_minor: i64,
}

/// The current line items of a booking, in order.
pub fn price_items(conn: &Connection, booking_id: &str) -> ApiResult<Vec<StoredItem>> {
    let mut stmt = conn.prepare_cached(
        "SELECT position, kind, description, quantity, unit_minor, amount_minor FROM booking_price_items
         WHERE booking_id = ?1 ORDER BY position",
    )?;
    let rows = stmt.query_map([booking_id], |r| {
        let kind: String = r.get(1)?;
        Ok(StoredItem {
            position: r.get(0)?,
            item: LineItem {
                kind: ItemKind::parse(&kind).unwrap_or(ItemKind::Labour),
                description: r.get(2)?,
                quantity: r.get(3)?,
                unit_minor: r.get(4)?,
            },
            amount_minor: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One past price of a booking.
#[derive(Debug, Clone, PartialEq)]
pub struct PricingChange {
    pub actor_id: String,
    pub items: Value,
    pub subtotal_minor: i64,
    pub platform_fee_minor: i64,
    pub total_minor: i64,
    pub currency: String,
    pub note: Option<String>,
    pub at: i64,
}

/// Every price a booking has had, oldest first.
pub fn pricing_history(conn: &Connection, booking_id: &str) -> ApiResult<Vec<PricingChange>> {
    let mut stmt = conn.prepare_cached(
        "SELECT actor_id, items, subtotal_minor, platform_fee_minor, total_amount_minor, currency, note, at
         FROM booking_pricing_history WHERE booking_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([booking_id], |r| {
        let items: String = r.get(1)?;
        Ok(PricingChange {
            actor_id: r.get(0)?,
            items: serde_json::from_str(&items).unwrap_or(Value::Null),
            subtotal_minor: r.get(2)?,
            platform_fee_minor: r.get(3)?,
            total_minor: r.get(4)?,
            currency: r.get(5)?,
            note: r.get(6)?,
            at: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Replaces a booking's price with `items` priced as `p`: the line items,
/// the booking's totals (`total_amount_minor` is the new total), a pricing
/// history entry, the counts and a `booking.pricing_updated` event. The
/// status is compare-and-set against `before`.
pub fn set_pricing(
    conn: &Connection,
    before: &BookingRow,
    items: &[LineItem],
    p: &Pricing,
    actor_id: &str,
    note: Option<&str>,
) -> ApiResult<BookingRow> {
    let now = now_ms();
    conn.prepare_cached("DELETE FROM booking_price_items WHERE booking_id = ?1")?
        .execute([&before.id])?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO booking_price_items (booking_id, position, kind, description, quantity, unit_minor, amount_minor)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut logged = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        insert.execute(params![
            before.id,
            i as i64,
            item.kind.as_str(),
            item.description,
            item.quantity,
            item.unit_minor,
            item.amount_minor()
        ])?;
        logged.push(json!({"kind": item.kind.as_str(), "description": item.description, "quantity": item.quantity,
                           "unitMinor": item.unit_minor, "amountMinor": item.amount_minor()}));
    }
    let changed = conn
        .prepare_cached(
            "UPDATE bookings SET labour_minor = ?3, materials_minor = ?4, transport_minor = ?5, discount_minor = ?6,
                 platform_fee_minor = ?7, total_amount_minor = ?8, priced_at = ?9, updated_at = ?9
             WHERE id = ?1 AND status = ?2",
        )?
        .execute(params![
            before.id,
            before.status.as_str(),
            p.labour_minor,
            p.materials_minor,
            p.transport_minor,
            p.discount_minor,
            p.platform_fee_minor,
            p.total_minor,
            now
        ])?;
    if changed != 1 {
        return Err(ApiError::Conflict(format!(
            "The booking is no longer {}; reload it and try again",
            before.status
        )));
    }
    conn.prepare_cached(
        "INSERT INTO booking_pricing_history (booking_id, actor_id, items, subtotal_minor, platform_fee_minor,
             total_amount_minor, currency, note, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        before.id,
        actor_id,
        Value::Array(logged).to_string(),
        p.subtotal_minor,
        p.platform_fee_minor,
        p.total_minor,
        before.currency,
        note,
        now
    ])?;
    let mut after = before.clone();
    after.labour_minor = p.labour_minor;
    after.materials_minor = p.materials_minor;
    after.transport_minor = p.transport_minor;
    after.discount_minor = p.discount_minor;
    after.platform_fee_minor = p.platform_fee_minor;
    after.total_minor = p.total_minor;
    after.priced_at = Some(now);
    after.updated_at = now;
    move_counts(conn, Some(before), Some(&after))?;
    crate::events::emit(
        conn,
        "booking.pricing_updated",
        Some(&before.id),
        Some(actor_id),
        &json!({"totalAmount": model::major(p.total_minor), "currency": before.currency,
                "customerId": before.customer_id, "technicianId": before.technician_id}),
    )?;
    Ok(after)
}

// ---------------------------------------------------------------- QA checkpoints

/// One quality checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub id: String,
    pub technician_id: String,
    pub name: String,
    pub passed: bool,
    pub notes: Option<String>,
    pub photo_ids: Vec<String>,
    pub checklist: Value,
    pub created_at: i64,
}

/// Records a checkpoint on a booking (the caller checked who and when).
pub fn add_checkpoint(conn: &Connection, booking_id: &str, c: &Checkpoint) -> ApiResult<()> {
    conn.prepare_cached(
        "INSERT INTO booking_checkpoints (id, booking_id, technician_id, name, passed, notes, photo_ids, checklist, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        c.id,
        booking_id,
        c.technician_id,
        c.name,
        c.passed,
        c.notes,
        serde_json::to_string(&c.photo_ids)?,
        c.checklist.to_string(),
        c.created_at
    ])?;
    conn.prepare_cached("UPDATE bookings SET updated_at = ?2 WHERE id = ?1")?
        .execute(params![booking_id, c.created_at])?;
    crate::events::emit(
        conn,
        "booking.qa_checkpoint_added",
        Some(booking_id),
        Some(&c.technician_id),
        &json!({"checkpointId": c.id, "name": c.name, "passed": c.passed}),
    )?;
    Ok(())
}

/// A booking's checkpoints, oldest first.
pub fn checkpoints(conn: &Connection, booking_id: &str) -> ApiResult<Vec<Checkpoint>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, technician_id, name, passed, notes, photo_ids, checklist, created_at FROM booking_checkpoints
         WHERE booking_id = ?1 ORDER BY created_at, rowid",
    )?;
    let rows = stmt.query_map([booking_id], |r| {
        let photos: String = r.get(5)?;
        let checklist: String = r.get(6)?;
        Ok(Checkpoint {
            id: r.get(0)?,
            technician_id: r.get(1)?,
            name: r.get(2)?,
            passed: r.get(3)?,
            notes: r.get(4)?,
            photo_ids: serde_json::from_str(&photos).unwrap_or_default(),
            checklist: serde_json::from_str(&checklist).unwrap_or(Value::Array(vec![])),
            created_at: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

// ---------------------------------------------------------------- disputes

/// A dispute on a booking.
#[derive(Debug, Clone, PartialEq)]
pub struct Dispute {
    pub id: String,
    pub raised_by: String,
    pub raised_at: i64,
    pub from_status: String,
    pub reason: String,
    pub description: String,
    pub evidence: Vec<String>,
    /// `open`, `investigating`, `resolved` or `closed`.
    pub status: String,
    pub resolution: Option<String>,
    pub outcome: Option<String>,
    pub refund_amount_minor: Option<i64>,
    pub resolution_notes: Option<String>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<i64>,
}

/// The latest dispute of a booking, if any.
pub fn latest_dispute(conn: &Connection, booking_id: &str) -> ApiResult<Option<Dispute>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, raised_by, raised_at, from_status, reason, description, evidence, status, resolution, outcome,
                    refund_amount_minor, resolution_notes, resolved_by, resolved_at
             FROM booking_disputes WHERE booking_id = ?1 ORDER BY raised_at DESC, rowid DESC LIMIT 1",
        )?
        .query_row([booking_id], |r| {
            let evidence: String = r.get(6)?;
            Ok(Dispute {
                id: r.get(0)?,
                raised_by: r.get(1)?,
                raised_at: r.get(2)?,
                from_status: r.get(3)?,
                reason: r.get(4)?,
                description: r.get(5)?,
                evidence: serde_json::from_str(&evidence).unwrap_or_default(),
                status: r.get(7)?,
                resolution: r.get(8)?,
                outcome: r.get(9)?,
                refund_amount_minor: r.get(10)?,
                resolution_notes: r.get(11)?,
                resolved_by: r.get(12)?,
                resolved_at: r.get(13)?,
            })
        })
        .optional()?)
}

/// Records a new open dispute (after the move to `disputed`).
pub fn open_dispute(conn: &Connection, booking_id: &str, d: &Dispute) -> ApiResult<()> {
    conn.prepare_cached(
        "INSERT INTO booking_disputes (id, booking_id, raised_by, raised_at, from_status, reason, description, evidence, status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'open')",
    )?
    .execute(params![
        d.id,
        booking_id,
        d.raised_by,
        d.raised_at,
        d.from_status,
        d.reason,
        d.description,
        serde_json::to_string(&d.evidence)?
    ])?;
    Ok(())
}

/// Closes the open dispute of `after` (already moved out of `disputed`)
/// with its resolution, and emits `booking.dispute_resolved` for the
/// payments module: `refundAmount` is in major units, `null` for a full
/// refund or when nothing is refunded.
#[allow(clippy::too_many_arguments)]
pub fn resolve_dispute(
    conn: &Connection,
    after: &BookingRow,
    resolution: &str,
    outcome: Status,
    refund_amount_minor: Option<i64>,
    notes: &str,
    admin_id: &str,
) -> ApiResult<Option<Dispute>> {
    let now = now_ms();
    let outcome_str = match outcome {
        Status::Refunded => "refunded",
        _ => "completed",
    };
    conn.prepare_cached(
        "UPDATE booking_disputes SET status = 'resolved', resolution = ?2, outcome = ?3, refund_amount_minor = ?4,
             resolution_notes = ?5, resolved_by = ?6, resolved_at = ?7
         WHERE booking_id = ?1 AND status IN ('open','investigating')",
    )?
    .execute(params![
        after.id,
        resolution,
        outcome_str,
        refund_amount_minor,
        notes,
        admin_id,
        now
    ])?;
    crate::events::emit(
        conn,
        "booking.dispute_resolved",
        Some(&after.id),
        Some(admin_id),
        &json!({
            "outcome": outcome_str,
            "refundAmount": refund_amount_minor.map(model::major),
            "customerId": after.customer_id,
            "technicianId": after.technician_id,
        }),
    )?;
    latest_dispute(conn, &after.id)
}

/// Whether a booking ever had a dispute resolved (a second one is refused).
pub fn has_resolved_dispute(conn: &Connection, booking_id: &str) -> ApiResult<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM booking_disputes WHERE booking_id = ?1 AND status IN ('resolved','closed'))",
        )?
        .query_row([booking_id], |r| r.get(0))?)
}

// ---------------------------------------------------------------- platform figures

/// One local day of platform-wide figures.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DayFigures {
    /// Days since the epoch, local.
    pub day: i64,
    pub created: i64,
    pub completed: i64,
    pub cancelled: i64,
    /// Totals of the bookings completed that day.
    pub revenue_minor: i64,
    pub platform_fees_minor: i64,
}

/// Platform-wide figures per local day for `[from, to)` (ms), each day
/// present even when empty. Three range scans over indexes.
pub fn daily(
    conn: &Connection,
    from: i64,
    to: i64,
    offset_mins: i32,
) -> ApiResult<Vec<DayFigures>> {
    let offset_ms = offset_mins as i64 * 60_000;
    let first = model::local_day(from, offset_mins);
    let last = model::local_day(to - 1, offset_mins);
    let mut days: Vec<DayFigures> = (first..=last)
        .map(|day| DayFigures {
            day,
            ..Default::default()
        })
        .collect();
    let idx = |d: i64| (d - first) as usize;
    let mut created = conn.prepare_cached(
        "SELECT (created_at + ?3) / 86400000, COUNT(*) FROM bookings
         WHERE created_at >= ?1 AND created_at < ?2 GROUP BY 1",
    )?;
    for row in created.query_map(params![from, to, offset_ms], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
    })? {
        let (d, n) = row?;
        if let Some(e) = days.get_mut(idx(d)) {
            e.created = n;
        }
    }
    // `+status`: the range on `completed_at` picks the rows, read from the
    // covering `bookings_completed` index alone; left to itself the planner
    // (no ANALYZE statistics) takes the status index and reads every
    // completed booking ever made.
    let mut completed = conn.prepare_cached(
        "SELECT (completed_at + ?3) / 86400000, COUNT(*), SUM(total_amount_minor), SUM(platform_fee_minor)
         FROM bookings WHERE completed_at >= ?1 AND completed_at < ?2 AND completed_at IS NOT NULL
           AND +status IN ('completed','disputed') GROUP BY 1",
    )?;
    for row in completed.query_map(params![from, to, offset_ms], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })? {
        let (d, n, revenue, fees) = row?;
        if let Some(e) = days.get_mut(idx(d)) {
            e.completed = n;
            e.revenue_minor = revenue;
            e.platform_fees_minor = fees;
        }
    }
    let mut cancelled = conn.prepare_cached(
        "SELECT (cancelled_at + ?3) / 86400000, COUNT(*) FROM bookings
         WHERE cancelled_at >= ?1 AND cancelled_at < ?2 AND cancelled_at IS NOT NULL GROUP BY 1",
    )?;
    for row in cancelled.query_map(params![from, to, offset_ms], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
    })? {
        let (d, n) = row?;
        if let Some(e) = days.get_mut(idx(d)) {
            e.cancelled = n;
        }
    }
    Ok(days)
}
