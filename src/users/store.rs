//! SQL for the users module's tables (`user_profiles`, `follows`,
//! `portfolio_items`, `fcm_tokens`, `kyc_submissions`, the technician
//! contract tables) and the profile columns of `users`.
//!
//! Every function takes `&Connection`, so it runs alone or inside the
//! caller's transaction; the routes wrap each change in one `db.write`.

use std::collections::HashMap;

use rusqlite::functions::FunctionFlags;
use rusqlite::types::Value as Sql;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use serde_json::{json, Value};

use crate::auth::Role;
use crate::error::{ApiError, ApiResult};
use crate::http::Page;
use crate::ids::{iso, iso_opt, new_id};
use crate::users::document::{self, Viewer};
use crate::users::geo::distance_km;
use crate::users::model::{
    FollowEdge, KycDecision, KycSubmission, Picture, PortfolioInput, ProfileUpdate, SortKey,
};
use crate::users::technician::ScheduleSlot;

/// Job kind of the personal-data scrub that follows a soft delete.
pub const SCRUB_JOB: &str = "users.scrub";

/// The SQL function `geo_distance_km(lng1, lat1, lng2, lat2)`: great-circle
/// distance in km (NULL when a coordinate is NULL).
pub const DISTANCE_FN: &str = "geo_distance_km";

/// Registers [`DISTANCE_FN`] on `conn` unless it is already there (the
/// check is one cached statement, so calling this per request is cheap).
pub fn ensure_distance_function(conn: &Connection) -> ApiResult<()> {
    if conn
        .prepare_cached("SELECT geo_distance_km(0.0, 0.0, 0.0, 0.0)")
        .is_ok()
    {
        return Ok(());
    }
    conn.create_scalar_function(
        DISTANCE_FN,
        4,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let get = |i| ctx.get::<Option<f64>>(i);
            Ok(match (get(0)?, get(1)?, get(2)?, get(3)?) {
                (Some(a), Some(b), Some(c), Some(d)) => Some(distance_km((a, b), (c, d))),
                _ => None,
            })
        },
    )?;
    Ok(())
}

/// What the routes need to know of an account before acting on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Basics {
    pub id: String,
    pub role: Role,
    pub status: String,
    pub kyc_status: String,
    pub deleted_at: Option<i64>,
}

impl Basics {
    /// Whether the account was soft-deleted (gone for everyone but admins).
    pub fn is_deleted(&self) -> bool {
        self.status == "deleted" || self.deleted_at.is_some()
    }
}

/// The role, status and KYC status of `id`, whatever its status.
pub fn basics(conn: &Connection, id: &str) -> ApiResult<Option<Basics>> {
    Ok(conn
        .prepare_cached("SELECT id, role, status, kyc_status, deleted_at FROM users WHERE id = ?1")?
        .query_row([id], |r| {
            let role: String = r.get(1)?;
            Ok(Basics {
                id: r.get(0)?,
                role: Role::parse(&role).unwrap_or(Role::Customer),
                status: r.get(2)?,
                kyc_status: r.get(3)?,
                deleted_at: r.get(4)?,
            })
        })
        .optional()?)
}

fn ensure_user_profile(conn: &Connection, id: &str, now: i64) -> ApiResult<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO user_profiles (user_id, updated_at) VALUES (?1, ?2)",
    )?
    .execute(params![id, now])?;
    Ok(())
}

fn ensure_technician_profile(conn: &Connection, id: &str, now: i64) -> ApiResult<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO technician_profiles (user_id, updated_at) VALUES (?1, ?2)",
    )?
    .execute(params![id, now])?;
    Ok(())
}

/// `UPDATE <table> SET a = ?, b = ? ... WHERE <key> = ?` for the given pairs.
fn update_columns(
    conn: &Connection,
    table: &str,
    key: &str,
    id: &str,
    sets: Vec<(&str, Sql)>,
) -> ApiResult<usize> {
    if sets.is_empty() {
        return Ok(0);
    }
    let assignments: Vec<String> = sets
        .iter()
        .enumerate()
        .map(|(i, (c, _))| format!("{c} = ?{}", i + 1))
        .collect();
    let sql = format!(
        "UPDATE {table} SET {} WHERE {key} = ?{}",
        assignments.join(", "),
        sets.len() + 1
    );
    let mut values: Vec<Sql> = sets.into_iter().map(|(_, v)| v).collect();
    values.push(Sql::Text(id.to_string()));
    Ok(conn.execute(&sql, params_from_iter(values))?)
}

fn text(v: &Option<String>) -> Sql {
    match v {
        Some(s) => Sql::Text(s.clone()),
        None => Sql::Null,
    }
}

fn json_text<T: serde::Serialize>(v: &T) -> ApiResult<Sql> {
    Ok(Sql::Text(serde_json::to_string(v)?))
}

/// Applies a validated profile update to `id` (one call, in the caller's
/// transaction). A phone number taken by another account is a 409; a new
/// phone number is unverified again. Skills are replaced as a set, keeping
/// the `verified` flag of skills that stay (never taken from a body).
pub fn apply_update(conn: &Connection, id: &str, u: &ProfileUpdate, now: i64) -> ApiResult<()> {
    let mut sets: Vec<(&str, Sql)> = Vec::new();
    if let Some(v) = &u.first_name {
        sets.push(("first_name", Sql::Text(v.clone())));
    }
    if let Some(v) = &u.last_name {
        sets.push(("last_name", Sql::Text(v.clone())));
    }
    if let Some(v) = &u.bio {
        sets.push(("bio", text(v)));
    }
    if let Some(h) = &u.handle {
        crate::users::handle::set(conn, id, h)?;
    }
    if let Some(phone) = &u.phone {
        let current: String =
            conn.query_row("SELECT phone FROM users WHERE id = ?1", [id], |r| r.get(0))?;
        if &current != phone {
            let taken = conn
                .query_row(
                    "SELECT 1 FROM users WHERE phone = ?1 AND id <> ?2",
                    params![phone, id],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if taken {
                return Err(ApiError::Conflict("Phone number already registered".into()));
            }
            sets.push(("phone", Sql::Text(phone.clone())));
            sets.push(("is_phone_verified", Sql::Integer(0)));
        }
    }
    if let Some(loc) = &u.location {
        let l = loc.as_ref();
        sets.push(("location_lng", l.map_or(Sql::Null, |l| Sql::Real(l.lng))));
        sets.push(("location_lat", l.map_or(Sql::Null, |l| Sql::Real(l.lat))));
        sets.push((
            "location_address",
            l.map_or(Sql::Null, |l| text(&l.address)),
        ));
        sets.push(("location_city", l.map_or(Sql::Null, |l| text(&l.city))));
        sets.push(("location_county", l.map_or(Sql::Null, |l| text(&l.county))));
        sets.push((
            "location_country",
            l.map_or(Sql::Null, |l| {
                Sql::Text(l.country.clone().unwrap_or_else(|| "Kenya".into()))
            }),
        ));
    }
    if let Some(p) = &u.picture {
        sets.push((
            "profile_picture_url",
            p.as_ref().map_or(Sql::Null, |p| Sql::Text(p.url.clone())),
        ));
        sets.push((
            "profile_picture_public_id",
            p.as_ref().map_or(Sql::Null, |p| text(&p.public_id)),
        ));
    }
    if let Some(role) = u.role {
        sets.push(("role", Sql::Text(role.as_str().into())));
    }
    if let Some(status) = &u.status {
        sets.push(("status", Sql::Text(status.clone())));
    }
    sets.push(("updated_at", Sql::Integer(now)));
    update_columns(conn, "users", "id", id, sets).map_err(|e| match e {
        ApiError::Internal(m) if m.contains("UNIQUE") => {
            ApiError::Conflict("Phone number already registered".into())
        }
        other => other,
    })?;

    if u.touches_technician_profile() {
        ensure_technician_profile(conn, id, now)?;
        let mut t: Vec<(&str, Sql)> = Vec::new();
        if let Some(v) = &u.business_name {
            t.push(("business_name", text(v)));
        }
        if let Some(v) = &u.schedule {
            t.push(("schedule", json_text(v)?));
        }
        if let Some(v) = &u.availability_status {
            t.push(("availability_status", Sql::Text(v.clone())));
        }
        if let Some(v) = &u.hourly_rate_minor {
            t.push(("hourly_rate_minor", v.map_or(Sql::Null, Sql::Integer)));
        }
        if let Some(v) = &u.currency {
            t.push(("currency", Sql::Text(v.clone())));
        }
        if let Some(v) = u.service_radius_km {
            t.push(("service_radius_km", Sql::Real(v)));
        }
        if let Some(v) = u.years_experience {
            t.push(("years_experience", Sql::Integer(v)));
        }
        if let Some(v) = &u.service_categories {
            t.push(("service_categories", json_text(v)?));
        }
        t.push(("updated_at", Sql::Integer(now)));
        update_columns(conn, "technician_profiles", "user_id", id, t)?;
    }

    if let Some(skills) = &u.skills {
        ensure_technician_profile(conn, id, now)?;
        let verified: Vec<String> = conn
            .prepare("SELECT lower(name) FROM user_skills WHERE user_id = ?1 AND is_verified = 1")?
            .query_map([id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        conn.execute("DELETE FROM user_skills WHERE user_id = ?1", [id])?;
        let mut insert = conn.prepare_cached(
            "INSERT INTO user_skills (user_id, name, category, proficiency, years_experience, is_verified)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for s in skills {
            let was_verified = verified.contains(&s.name.to_lowercase());
            insert.execute(params![
                id,
                s.name,
                s.category,
                s.proficiency,
                s.years_of_experience,
                was_verified
            ])?;
        }
    }

    if u.touches_user_profile() {
        ensure_user_profile(conn, id, now)?;
        let mut p: Vec<(&str, Sql)> = Vec::new();
        if let Some(v) = &u.gender {
            p.push(("gender", text(v)));
        }
        if let Some(v) = &u.date_of_birth {
            p.push(("date_of_birth", text(v)));
        }
        if let Some(v) = &u.company_name {
            p.push(("company_name", text(v)));
        }
        if let Some(v) = &u.company_registration {
            p.push(("company_registration", text(v)));
        }
        if let Some(v) = &u.department {
            p.push(("department", text(v)));
        }
        if let Some(v) = &u.employee_count {
            p.push(("employee_count", v.map_or(Sql::Null, Sql::Integer)));
        }
        if let Some(b) = &u.billing {
            p.push(("billing_tax_id", text(&b.tax_id)));
            p.push(("billing_email", text(&b.billing_email)));
            p.push(("billing_address", text(&b.billing_address)));
            p.push(("billing_contact_name", text(&b.contact_name)));
            p.push(("billing_contact_phone", text(&b.contact_phone)));
            p.push(("payment_terms", text(&b.payment_terms)));
        }
        p.push(("updated_at", Sql::Integer(now)));
        update_columns(conn, "user_profiles", "user_id", id, p)?;
    }
    Ok(())
}

/// A technician's availability status and schedule (`available` and an
/// empty schedule when there is no profile row yet).
pub fn availability(conn: &Connection, id: &str) -> ApiResult<(String, Vec<ScheduleSlot>)> {
    let row: Option<(String, String)> = conn
        .query_row(
            "SELECT availability_status, schedule FROM technician_profiles WHERE user_id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(match row {
        Some((status, schedule)) => (status, serde_json::from_str(&schedule).unwrap_or_default()),
        None => ("available".into(), Vec::new()),
    })
}

/// Stores a technician's availability status and schedule.
pub fn set_availability(
    conn: &Connection,
    id: &str,
    status: &str,
    schedule: &[ScheduleSlot],
    now: i64,
) -> ApiResult<()> {
    ensure_technician_profile(conn, id, now)?;
    conn.execute(
        "UPDATE technician_profiles SET availability_status = ?2, schedule = ?3, updated_at = ?4 WHERE user_id = ?1",
        params![id, status, serde_json::to_string(schedule)?, now],
    )?;
    conn.execute(
        "UPDATE users SET updated_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}

/// The availability object of documents: `{isAvailable, status, schedule}`.
pub fn availability_json(status: &str, schedule: &[ScheduleSlot]) -> Value {
    json!({"isAvailable": status == "available", "status": status, "schedule": schedule})
}

// ------------------------------------------------------------ lists

/// Which statuses a list shows.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusFilter {
    /// Active accounts only (everyone but admins).
    Active,
    /// One status (admins; `deleted` shows deleted accounts).
    Only(String),
    /// Every status but `deleted` (admins without a status filter).
    NotDeleted,
}

/// A point and radius in km.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Near {
    pub lng: f64,
    pub lat: f64,
    pub radius_km: f64,
}

/// The filters of `GET /users`, combinable.
#[derive(Debug, Clone, PartialEq)]
pub struct ListFilter {
    pub role: Option<Role>,
    pub status: StatusFilter,
    /// Lower-case skill names or categories; any one matches.
    pub skills: Vec<String>,
    pub min_rating: Option<f64>,
    pub near: Option<Near>,
    /// Plain-SQL text match (first/last name, bio, business name, skills):
    /// the fallback used when no search index supplies candidates.
    pub text: Option<String>,
    pub kyc_status: Option<String>,
    /// `None`: by distance when `near`, by candidate rank when candidates
    /// are given, else newest first.
    pub sort: Option<Vec<SortKey>>,
    /// Leave admin and support accounts out (callers who are not staff).
    pub hide_staff: bool,
}

/// Appends a bound value and answers its placeholder.
fn arg(v: Sql, args: &mut Vec<Sql>) -> String {
    args.push(v);
    format!("?{}", args.len())
}

fn like_pattern(word: &str) -> String {
    let mut p = String::from("%");
    for c in word.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// One page of users matching `filter`, and the total. With `candidates`
/// (ids from a search index, best first) only those users are considered
/// and, unless a sort is asked for, their order is kept. Each user is the
/// document `viewer_of(id)` may see; with `near`, each carries `distance`
/// (km).
pub fn list_users(
    conn: &Connection,
    filter: &ListFilter,
    candidates: Option<&[String]>,
    page: Page,
    viewer_of: &dyn Fn(&str) -> Viewer,
) -> ApiResult<(Vec<Value>, i64)> {
    if candidates.is_some_and(|c| c.is_empty()) {
        return Ok((Vec::new(), 0));
    }
    let mut conds: Vec<String> = Vec::new();
    let mut args: Vec<Sql> = Vec::new();
    let mut from = String::from(
        "users u LEFT JOIN technician_profiles tp ON tp.user_id = u.id
         LEFT JOIN user_profiles up ON up.user_id = u.id",
    );
    if let Some(ids) = candidates {
        // Each id once, first rank kept.
        let mut seen = std::collections::HashSet::new();
        let ids: Vec<&String> = ids.iter().filter(|id| seen.insert(id.as_str())).collect();
        let p = arg(Sql::Text(serde_json::to_string(&ids)?), &mut args);
        // CROSS JOIN keeps the candidates the outer loop: left to itself the
        // planner may walk every active user (status index) and probe the
        // list for each, which costs 100k probes per COUNT on a big city.
        from = format!("json_each({p}) c CROSS JOIN {from}");
        conds.push("u.id = c.value".into());
    }
    match &filter.status {
        StatusFilter::Active => conds.push("u.status = 'active'".into()),
        StatusFilter::NotDeleted => conds.push("u.status <> 'deleted'".into()),
        StatusFilter::Only(s) => {
            let p = arg(Sql::Text(s.clone()), &mut args);
            conds.push(format!("u.status = {p}"));
        }
    }
    if let Some(role) = filter.role {
        let p = arg(Sql::Text(role.as_str().into()), &mut args);
        conds.push(format!("u.role = {p}"));
    }
    if filter.hide_staff {
        conds.push("u.role NOT IN ('admin', 'support')".into());
    }
    if let Some(k) = &filter.kyc_status {
        let p = arg(Sql::Text(k.clone()), &mut args);
        conds.push(format!("u.kyc_status = {p}"));
    }
    if !filter.skills.is_empty() {
        let p = arg(Sql::Text(serde_json::to_string(&filter.skills)?), &mut args);
        conds.push(format!(
            "EXISTS (SELECT 1 FROM user_skills s WHERE s.user_id = u.id
                 AND (lower(s.name) IN (SELECT value FROM json_each({p})) OR s.category IN (SELECT value FROM json_each({p}))))"
        ));
    }
    if let Some(r) = filter.min_rating {
        let p = arg(Sql::Real(r), &mut args);
        conds.push(format!("u.rating_avg >= {p}"));
    }
    if let Some(text) = &filter.text {
        for word in text.split_whitespace().take(5) {
            let p = arg(Sql::Text(like_pattern(word)), &mut args);
            conds.push(format!(
                "(u.first_name LIKE {p} ESCAPE '\\' OR u.last_name LIKE {p} ESCAPE '\\' OR u.bio LIKE {p} ESCAPE '\\'
                  OR tp.business_name LIKE {p} ESCAPE '\\'
                  OR EXISTS (SELECT 1 FROM user_skills s WHERE s.user_id = u.id AND s.name LIKE {p} ESCAPE '\\'))"
            ));
        }
    }
    let mut distance_col = String::new();
    if let Some(n) = filter.near {
        ensure_distance_function(conn)?;
        let (lng, lat, r) = (
            arg(Sql::Real(n.lng), &mut args),
            arg(Sql::Real(n.lat), &mut args),
            arg(Sql::Real(n.radius_km), &mut args),
        );
        // A latitude band first (cheap), then the exact great circle.
        let band = n.radius_km / 111.0 + 0.01;
        let (lo, hi) = (
            arg(Sql::Real(n.lat - band), &mut args),
            arg(Sql::Real(n.lat + band), &mut args),
        );
        conds.push(format!(
            "u.location_lat BETWEEN {lo} AND {hi} AND geo_distance_km(u.location_lng, u.location_lat, {lng}, {lat}) <= {r}"
        ));
        distance_col =
            format!(", geo_distance_km(u.location_lng, u.location_lat, {lng}, {lat}) AS distance");
    }
    let where_sql = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM {from} {where_sql}"),
        params_from_iter(args.iter()),
        |r| r.get(0),
    )?;
    let order = match &filter.sort {
        Some(keys) => keys
            .iter()
            .map(|k| format!("{} {}", k.expr, if k.descending { "DESC" } else { "ASC" }))
            .collect::<Vec<_>>()
            .join(", "),
        None if filter.near.is_some() => "distance ASC".into(),
        None if candidates.is_some() => "c.key ASC".into(),
        None => "u.created_at DESC".into(),
    };
    let (limit, offset) = (
        arg(Sql::Integer(page.limit as i64), &mut args),
        arg(Sql::Integer(page.offset()), &mut args),
    );
    let sql = format!(
        "SELECT u.id {distance_col} FROM {from} {where_sql} ORDER BY {order}, u.id LIMIT {limit} OFFSET {offset}"
    );
    let has_distance = filter.near.is_some();
    let rows: Vec<(String, Option<f64>)> = conn
        .prepare(&sql)?
        .query_map(params_from_iter(args.iter()), |r| {
            Ok((r.get(0)?, if has_distance { r.get(1)? } else { None }))
        })?
        .collect::<Result<_, _>>()?;
    let mut users = Vec::with_capacity(rows.len());
    for (id, distance) in rows {
        if let Some(mut doc) = document::user_document(conn, &id, viewer_of(&id))? {
            if let Some(d) = distance {
                doc["distance"] = json!(round_km(d));
            }
            users.push(doc);
        }
    }
    Ok((users, total))
}

/// A distance rounded to metres, as sent.
pub fn round_km(d: f64) -> f64 {
    (d * 1000.0).round() / 1000.0
}

const CARD_SQL: &str = "SELECT u.id, u.first_name, u.last_name, u.profile_picture_url, u.profile_picture_public_id,
        u.rating_avg, u.rating_count, u.location_lng, u.location_lat, u.location_address, u.location_city,
        u.location_county, COALESCE(u.location_country, 'Kenya'), u.kyc_status, p.business_name, p.hourly_rate_minor,
        COALESCE(p.currency, 'KES'), COALESCE(p.service_radius_km, 10), COALESCE(p.years_experience, 0),
        COALESCE(p.availability_status, 'available'), COALESCE(p.schedule, '[]'), COALESCE(p.service_categories, '[]'),
        COALESCE(p.completed_jobs, 0)
     FROM users u LEFT JOIN technician_profiles p ON p.user_id = u.id
     WHERE u.id IN (SELECT value FROM json_each(?1)) AND +u.role = 'technician'";

fn json_column(r: &rusqlite::Row, i: usize) -> rusqlite::Result<Value> {
    let raw = r
        .get_ref(i)?
        .as_str_or_null()
        .map_err(rusqlite::Error::from)?;
    Ok(match raw {
        None | Some("[]") => json!([]),
        Some(s) => serde_json::from_str(s).unwrap_or_else(|_| json!([])),
    })
}

/// Skills of each of `ids`, best first, as sent on the wire.
fn skills_json(conn: &Connection, list: &str) -> ApiResult<HashMap<String, Vec<Value>>> {
    let mut stmt = conn.prepare_cached(
        "SELECT user_id, name, category, proficiency, years_experience, is_verified FROM user_skills
         WHERE user_id IN (SELECT value FROM json_each(?1)) ORDER BY user_id, proficiency DESC, name",
    )?;
    let mut out: HashMap<String, Vec<Value>> = HashMap::new();
    let rows = stmt.query_map([list], |r| {
        Ok((
            r.get::<_, String>(0)?,
            json!({
                "name": r.get::<_, String>(1)?,
                "category": r.get::<_, String>(2)?,
                "proficiency": r.get::<_, i64>(3)?,
                "yearsOfExperience": r.get::<_, i64>(4)?,
                "verified": r.get::<_, bool>(5)?,
            }),
        ))
    })?;
    for row in rows {
        let (id, skill) = row?;
        out.entry(id).or_default().push(skill);
    }
    Ok(out)
}

/// The cards of nearby technicians, by id (two queries for all of them):
/// name, picture, rating, skills, location, trade and availability, the
/// fields a list of technicians shows, no private ones.
pub fn technician_cards(conn: &Connection, ids: &[String]) -> ApiResult<HashMap<String, Value>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let list = serde_json::to_string(ids)?;
    let mut skills = skills_json(conn, &list)?;
    let mut stmt = conn.prepare_cached(CARD_SQL)?;
    let rows = stmt.query_map([&list], |r| {
        let id: String = r.get(0)?;
        let first: String = r.get(1)?;
        let last: String = r.get(2)?;
        let lng: Option<f64> = r.get(7)?;
        let lat: Option<f64> = r.get(8)?;
        let location = match (lng, lat) {
            (Some(lng), Some(lat)) => json!({
                "type": "Point", "coordinates": [lng, lat], "address": r.get::<_, Option<String>>(9)?,
                "city": r.get::<_, Option<String>>(10)?, "county": r.get::<_, Option<String>>(11)?,
                "country": r.get::<_, String>(12)?,
            }),
            _ => Value::Null,
        };
        let status: String = r.get(19)?;
        let card = json!({
            "_id": id,
            "id": id,
            "firstName": first,
            "lastName": last,
            "fullName": format!("{first} {last}"),
            "age": Value::Null,
            "profilePicture": {
                "url": r.get::<_, Option<String>>(3)?.unwrap_or_else(|| crate::auth::store::DEFAULT_AVATAR.to_string()),
                "publicId": r.get::<_, Option<String>>(4)?,
            },
            "rating": {"average": r.get::<_, f64>(5)?, "count": r.get::<_, i64>(6)?},
            "skills": [],
            "serviceCategories": json_column(r, 21)?,
            "location": location,
            "businessName": r.get::<_, Option<String>>(14)?,
            "hourlyRate": r.get::<_, Option<i64>>(15)?.map(crate::users::model::minor_to_major),
            "currency": r.get::<_, String>(16)?,
            "serviceRadius": r.get::<_, f64>(17)?,
            "yearsOfExperience": r.get::<_, i64>(18)?,
            "availability": {"isAvailable": status == "available", "status": status, "schedule": json_column(r, 20)?},
            "completedJobs": r.get::<_, i64>(22)?,
            "kyc": {"verified": r.get::<_, String>(13)? == "approved", "status": r.get::<_, String>(13)?},
        });
        Ok((id, card))
    })?;
    let mut cards = HashMap::with_capacity(ids.len());
    for row in rows {
        let (id, mut card) = row?;
        if let Some(list) = skills.remove(&id) {
            card["skills"] = Value::Array(list);
        }
        cards.insert(id, card);
    }
    Ok(cards)
}

// ------------------------------------------------------------ follows

/// The stored state of the pair `follower → followee`.
pub fn follow_edge(
    conn: &Connection,
    follower: &str,
    followee: &str,
) -> ApiResult<Option<FollowEdge>> {
    Ok(conn
        .prepare_cached(
            "SELECT active, changed_at FROM follows WHERE follower_id = ?1 AND followee_id = ?2",
        )?
        .query_row(params![follower, followee], |r| {
            Ok(FollowEdge {
                active: r.get(0)?,
                changed_at: r.get(1)?,
            })
        })
        .optional()?)
}

/// Whether `follower` currently follows `followee`.
pub fn is_following(conn: &Connection, follower: &str, followee: &str) -> ApiResult<bool> {
    Ok(follow_edge(conn, follower, followee)?.is_some_and(|e| e.active))
}

/// Recomputes the followers/following counts of `id` from `follows`.
fn recount(conn: &Connection, id: &str, now: i64) -> ApiResult<()> {
    ensure_user_profile(conn, id, now)?;
    conn.prepare_cached(
        "UPDATE user_profiles SET
            followers_count = (SELECT COUNT(*) FROM follows WHERE followee_id = ?1 AND active = 1),
            following_count = (SELECT COUNT(*) FROM follows WHERE follower_id = ?1 AND active = 1)
         WHERE user_id = ?1",
    )?
    .execute([id])?;
    Ok(())
}

/// Sets the pair to `active` and keeps both accounts' counts equal to the
/// table (in the caller's transaction).
pub fn set_follow(
    conn: &Connection,
    follower: &str,
    followee: &str,
    active: bool,
    now: i64,
) -> ApiResult<()> {
    conn.prepare_cached(
        "INSERT INTO follows (follower_id, followee_id, active, changed_at, created_at) VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (follower_id, followee_id) DO UPDATE SET active = ?3, changed_at = ?4",
    )?
    .execute(params![follower, followee, active, now])?;
    recount(conn, follower, now)?;
    recount(conn, followee, now)?;
    Ok(())
}

/// The followers/following counts of `id`.
pub fn follow_counts(conn: &Connection, id: &str) -> ApiResult<(i64, i64)> {
    Ok(conn
        .prepare_cached(
            "SELECT followers_count, following_count FROM user_profiles WHERE user_id = ?1",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .unwrap_or((0, 0)))
}

/// One page of the people who follow `id` (`followers`) or whom `id`
/// follows, newest first, as populated-user cards; and the total.
pub fn follow_list(
    conn: &Connection,
    id: &str,
    followers: bool,
    page: Page,
) -> ApiResult<(Vec<Value>, i64)> {
    let (mine, other) = if followers {
        ("followee_id", "follower_id")
    } else {
        ("follower_id", "followee_id")
    };
    let total: i64 = conn.query_row(
        &format!(
            "SELECT COUNT(*) FROM follows f JOIN users u ON u.id = f.{other}
             WHERE f.{mine} = ?1 AND f.active = 1 AND u.status <> 'deleted'"
        ),
        [id],
        |r| r.get(0),
    )?;
    let sql = format!(
        "SELECT u.id, u.first_name, u.last_name, u.role, u.profile_picture_url, u.profile_picture_public_id,
                u.rating_avg, u.rating_count, up.date_of_birth
         FROM follows f JOIN users u ON u.id = f.{other} LEFT JOIN user_profiles up ON up.user_id = u.id
         WHERE f.{mine} = ?1 AND f.active = 1 AND u.status <> 'deleted'
         ORDER BY f.changed_at DESC, u.id LIMIT ?2 OFFSET ?3"
    );
    let items = conn
        .prepare(&sql)?
        .query_map(params![id, page.limit, page.offset()], |r| {
            let first: String = r.get(1)?;
            let last: String = r.get(2)?;
            let dob: Option<String> = r.get(8)?;
            Ok(json!({
                "_id": r.get::<_, String>(0)?,
                "id": r.get::<_, String>(0)?,
                "firstName": first,
                "lastName": last,
                "fullName": format!("{first} {last}"),
                "age": document::age_of(dob.as_deref()),
                "role": r.get::<_, String>(3)?,
                "profilePicture": {
                    "url": r.get::<_, Option<String>>(4)?.unwrap_or_else(|| crate::auth::store::DEFAULT_AVATAR.to_string()),
                    "publicId": r.get::<_, Option<String>>(5)?,
                },
                "rating": {"average": r.get::<_, f64>(6)?, "count": r.get::<_, i64>(7)?},
            }))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((items, total))
}

/// The ids of the accounts `follower` follows now (for feeds of "people I
/// follow" and followers-only visibility), unordered.
pub fn followee_ids(conn: &Connection, follower: &str) -> ApiResult<Vec<String>> {
    Ok(conn
        .prepare_cached("SELECT followee_id FROM follows WHERE follower_id = ?1 AND active = 1")?
        .query_map([follower], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?)
}

/// Moves the denormalised `postsCount` of `user_id` by `delta` (never below
/// zero), in the caller's transaction (the posts module, on create and
/// delete).
pub fn add_to_posts_count(conn: &Connection, user_id: &str, delta: i64, now: i64) -> ApiResult<()> {
    ensure_user_profile(conn, user_id, now)?;
    conn.prepare_cached(
        "UPDATE user_profiles SET posts_count = MAX(0, posts_count + ?2), updated_at = ?3 WHERE user_id = ?1",
    )?
    .execute(params![user_id, delta, now])?;
    Ok(())
}

/// Populated authors of posts and comments, by id (one query): `{_id, id,
/// firstName, lastName, fullName, age, profilePicture, role, rating,
/// subscription: {plan}}` (`subscription` for technicians only). Ids of
/// unknown users are absent.
pub fn author_cards(conn: &Connection, ids: &[String]) -> ApiResult<HashMap<String, Value>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let list = serde_json::to_string(ids)?;
    let mut stmt = conn.prepare_cached(
        "SELECT u.id, u.first_name, u.last_name, u.role, u.profile_picture_url, u.profile_picture_public_id,
                u.rating_avg, u.rating_count, tp.subscription_plan
         FROM users u LEFT JOIN technician_profiles tp ON tp.user_id = u.id
         WHERE u.id IN (SELECT value FROM json_each(?1))",
    )?;
    let rows = stmt.query_map([&list], |r| {
        let id: String = r.get(0)?;
        let first: String = r.get(1)?;
        let last: String = r.get(2)?;
        let mut card = json!({
            "_id": id,
            "id": id,
            "firstName": first,
            "lastName": last,
            "fullName": format!("{first} {last}"),
            "age": Value::Null,
            "role": r.get::<_, String>(3)?,
            "profilePicture": {
                "url": r.get::<_, Option<String>>(4)?.unwrap_or_else(|| crate::auth::store::DEFAULT_AVATAR.to_string()),
                "publicId": r.get::<_, Option<String>>(5)?,
            },
            "rating": {"average": r.get::<_, f64>(6)?, "count": r.get::<_, i64>(7)?},
        });
        if let Some(plan) = r.get::<_, Option<String>>(8)? {
            card["subscription"] = json!({"plan": plan});
        }
        Ok((id, card))
    })?;
    Ok(rows.collect::<Result<HashMap<_, _>, _>>()?)
}

/// Which of `ids` name existing, not deleted accounts (mentions).
pub fn existing_user_ids(conn: &Connection, ids: &[String]) -> ApiResult<Vec<String>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = serde_json::to_string(ids)?;
    let found: Vec<String> = conn
        .prepare_cached(
            "SELECT id FROM users WHERE status <> 'deleted' AND id IN (SELECT value FROM json_each(?1))",
        )?
        .query_map([&list], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids.iter().filter(|i| found.contains(i)).cloned().collect())
}

// ------------------------------------------------------------ portfolio

fn portfolio_json(r: &rusqlite::Row) -> rusqlite::Result<Value> {
    let images: String = r.get(5)?;
    Ok(json!({
        "_id": r.get::<_, String>(0)?,
        "id": r.get::<_, String>(0)?,
        "user": r.get::<_, String>(1)?,
        "title": r.get::<_, String>(2)?,
        "description": r.get::<_, Option<String>>(3)?,
        "category": r.get::<_, Option<String>>(4)?,
        "images": serde_json::from_str::<Value>(&images).unwrap_or_else(|_| json!([])),
        "completedAt": iso_opt(r.get(6)?),
        "client": {"name": r.get::<_, Option<String>>(7)?, "testimonial": r.get::<_, Option<String>>(8)?},
        "createdAt": iso(r.get(9)?),
        "updatedAt": iso(r.get(10)?),
    }))
}

const PORTFOLIO_COLUMNS: &str = "id, user_id, title, description, category, images, completed_at, client_name, client_testimonial, created_at, updated_at";

/// A technician's portfolio, newest first.
pub fn portfolio(conn: &Connection, user_id: &str) -> ApiResult<Vec<Value>> {
    let sql = format!(
        "SELECT {PORTFOLIO_COLUMNS} FROM portfolio_items WHERE user_id = ?1 ORDER BY created_at DESC, id DESC"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_map([user_id], portfolio_json)?
        .collect::<Result<_, _>>()?)
}

/// One portfolio item of `user_id`, or `None`.
pub fn portfolio_item(conn: &Connection, user_id: &str, item_id: &str) -> ApiResult<Option<Value>> {
    let sql =
        format!("SELECT {PORTFOLIO_COLUMNS} FROM portfolio_items WHERE id = ?1 AND user_id = ?2");
    Ok(conn
        .query_row(&sql, params![item_id, user_id], portfolio_json)
        .optional()?)
}

/// One stored portfolio item of `user_id` as an input (the base a partial
/// update starts from), or `None`.
pub fn portfolio_input(
    conn: &Connection,
    user_id: &str,
    item_id: &str,
) -> ApiResult<Option<PortfolioInput>> {
    Ok(conn
        .query_row(
            "SELECT title, description, category, images, completed_at, client_name, client_testimonial
             FROM portfolio_items WHERE id = ?1 AND user_id = ?2",
            params![item_id, user_id],
            |r| {
                let images: String = r.get(3)?;
                let images: Vec<Value> = serde_json::from_str(&images).unwrap_or_default();
                Ok(PortfolioInput {
                    title: r.get(0)?,
                    description: r.get(1)?,
                    category: r.get(2)?,
                    images: images
                        .iter()
                        .filter_map(|i| {
                            Some(Picture {
                                url: i.get("url")?.as_str()?.to_string(),
                                public_id: i.get("publicId").and_then(Value::as_str).map(String::from),
                            })
                        })
                        .collect(),
                    completed_at: r.get(4)?,
                    client_name: r.get(5)?,
                    client_testimonial: r.get(6)?,
                })
            },
        )
        .optional()?)
}

fn images_json(images: &[Picture]) -> Value {
    Value::Array(
        images
            .iter()
            .map(|p| json!({"_id": new_id(), "url": p.url, "publicId": p.public_id}))
            .collect(),
    )
}

/// Adds an item unless the user already has `max` (409); returns its id.
pub fn add_portfolio_item(
    conn: &Connection,
    user_id: &str,
    item: &PortfolioInput,
    max: u32,
    now: i64,
) -> ApiResult<String> {
    let count: i64 = conn.query_row(
        "SELECT COUNT(*) FROM portfolio_items WHERE user_id = ?1",
        [user_id],
        |r| r.get(0),
    )?;
    if count >= max as i64 {
        return Err(ApiError::Conflict(format!(
            "A portfolio holds at most {max} items"
        )));
    }
    let id = new_id();
    conn.execute(
        "INSERT INTO portfolio_items (id, user_id, title, description, category, images, completed_at, client_name,
             client_testimonial, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
        params![
            id,
            user_id,
            item.title,
            item.description,
            item.category,
            images_json(&item.images).to_string(),
            item.completed_at,
            item.client_name,
            item.client_testimonial,
            now
        ],
    )?;
    Ok(id)
}

/// Replaces an item's fields; `false` when the user has no such item.
pub fn update_portfolio_item(
    conn: &Connection,
    user_id: &str,
    item_id: &str,
    item: &PortfolioInput,
    now: i64,
) -> ApiResult<bool> {
    Ok(conn.execute(
        "UPDATE portfolio_items SET title = ?3, description = ?4, category = ?5, images = ?6, completed_at = ?7,
             client_name = ?8, client_testimonial = ?9, updated_at = ?10
         WHERE id = ?1 AND user_id = ?2",
        params![
            item_id,
            user_id,
            item.title,
            item.description,
            item.category,
            images_json(&item.images).to_string(),
            item.completed_at,
            item.client_name,
            item.client_testimonial,
            now
        ],
    )? == 1)
}

/// Removes an item; `false` when the user has no such item.
pub fn delete_portfolio_item(conn: &Connection, user_id: &str, item_id: &str) -> ApiResult<bool> {
    Ok(conn.execute(
        "DELETE FROM portfolio_items WHERE id = ?1 AND user_id = ?2",
        params![item_id, user_id],
    )? == 1)
}

// ------------------------------------------------------------ FCM tokens

/// One push token of a user.
#[derive(Debug, Clone, PartialEq)]
pub struct FcmToken {
    pub token: String,
    pub platform: String,
    pub device: Option<String>,
    pub added_at: i64,
}

/// Adds (or refreshes) `token` for `user_id`. A token is one device, so it
/// moves away from any other account that had it; beyond `cap` tokens the
/// oldest are dropped.
pub fn add_fcm_token(
    conn: &Connection,
    user_id: &str,
    token: &str,
    platform: &str,
    device: Option<&str>,
    cap: u32,
    now: i64,
) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO fcm_tokens (token, user_id, platform, device, added_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (token) DO UPDATE SET user_id = ?2, platform = ?3, device = ?4, added_at = ?5",
        params![token, user_id, platform, device, now],
    )?;
    conn.execute(
        "DELETE FROM fcm_tokens WHERE user_id = ?1 AND token NOT IN
            (SELECT token FROM fcm_tokens WHERE user_id = ?1 ORDER BY added_at DESC, rowid DESC LIMIT ?2)",
        params![user_id, cap.max(1)],
    )?;
    Ok(())
}

/// Removes `token` from `user_id` (nothing happens when it is not theirs).
pub fn remove_fcm_token(conn: &Connection, user_id: &str, token: &str) -> ApiResult<bool> {
    Ok(conn.execute(
        "DELETE FROM fcm_tokens WHERE token = ?1 AND user_id = ?2",
        params![token, user_id],
    )? == 1)
}

/// The push tokens of `user_id`, newest first: what the notifications
/// module sends to.
pub fn fcm_tokens(conn: &Connection, user_id: &str) -> ApiResult<Vec<FcmToken>> {
    Ok(conn
        .prepare_cached(
            "SELECT token, platform, device, added_at FROM fcm_tokens WHERE user_id = ?1 ORDER BY added_at DESC, rowid DESC",
        )?
        .query_map([user_id], |r| {
            Ok(FcmToken {
                token: r.get(0)?,
                platform: r.get(1)?,
                device: r.get(2)?,
                added_at: r.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?)
}

/// Forgets a token wherever it is (FCM said it is no longer registered).
pub fn forget_fcm_token(conn: &Connection, token: &str) -> ApiResult<()> {
    conn.execute("DELETE FROM fcm_tokens WHERE token = ?1", [token])?;
    Ok(())
}

// ------------------------------------------------------------ KYC

/// Records a submission and moves the account to `pending`; a 409 when
/// the account's KYC is pending or approved already (checked and set in
/// one statement, so two concurrent submissions cannot both pass).
pub fn submit_kyc(conn: &Connection, user_id: &str, s: &KycSubmission, now: i64) -> ApiResult<()> {
    let changed = conn.execute(
        "UPDATE users SET kyc_status = 'pending', updated_at = ?2 WHERE id = ?1 AND kyc_status IN ('none','rejected')",
        params![user_id, now],
    )?;
    if changed == 0 {
        let status: String = conn.query_row(
            "SELECT kyc_status FROM users WHERE id = ?1",
            [user_id],
            |r| r.get(0),
        )?;
        let msg = crate::users::model::kyc_can_submit(&status)
            .err()
            .unwrap_or("KYC cannot be submitted now");
        return Err(ApiError::Conflict(msg.into()));
    }
    conn.execute(
        "INSERT INTO kyc_submissions (id, user_id, id_type, id_number, id_front_url, id_front_public_id, id_back_url,
             id_back_public_id, selfie_url, selfie_public_id, status, submitted_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'pending', ?11)",
        params![
            new_id(),
            user_id,
            s.id_type,
            s.id_number,
            s.front.url,
            s.front.public_id,
            s.back.as_ref().map(|p| &p.url),
            s.back.as_ref().and_then(|p| p.public_id.as_ref()),
            s.selfie.as_ref().map(|p| &p.url),
            s.selfie.as_ref().and_then(|p| p.public_id.as_ref()),
            now
        ],
    )?;
    Ok(())
}

/// Applies an admin's decision to the pending submission of `user_id`;
/// a 409 when nothing is pending. Returns the new status.
pub fn review_kyc(
    conn: &Connection,
    user_id: &str,
    decision: &KycDecision,
    admin_id: &str,
    now: i64,
) -> ApiResult<&'static str> {
    let current: String = conn.query_row(
        "SELECT kyc_status FROM users WHERE id = ?1",
        [user_id],
        |r| r.get(0),
    )?;
    let next = crate::users::model::kyc_review(&current, decision)
        .map_err(|m| ApiError::Conflict(m.into()))?;
    let changed = conn.execute(
        "UPDATE users SET kyc_status = ?2, updated_at = ?3 WHERE id = ?1 AND kyc_status = 'pending'",
        params![user_id, next, now],
    )?;
    if changed == 0 {
        return Err(ApiError::Conflict(
            "This KYC submission was already reviewed".into(),
        ));
    }
    let reason = match decision {
        KycDecision::Reject { reason } => Some(reason.as_str()),
        KycDecision::Approve => None,
    };
    conn.execute(
        "UPDATE kyc_submissions SET status = ?2, reason = ?3, reviewed_by = ?4, reviewed_at = ?5
         WHERE id = (SELECT id FROM kyc_submissions WHERE user_id = ?1 AND status = 'pending'
                     ORDER BY submitted_at DESC, rowid DESC LIMIT 1)",
        params![user_id, next, reason, admin_id, now],
    )?;
    Ok(next)
}

/// The `kyc` object of a document: `{status, verified}` for everyone (the
/// badge clients show); with `detailed` (owner, admins) the latest
/// submission's documents and review.
pub fn kyc_json(
    conn: &Connection,
    user_id: &str,
    status: &str,
    detailed: bool,
) -> ApiResult<Value> {
    if !detailed {
        return Ok(json!({"status": status, "verified": status == "approved"}));
    }
    let latest = conn
        .prepare_cached(
            "SELECT id_type, id_number, id_front_url, id_front_public_id, id_back_url, id_back_public_id,
                    selfie_url, selfie_public_id, reason, reviewed_by, reviewed_at, submitted_at
             FROM kyc_submissions WHERE user_id = ?1 ORDER BY submitted_at DESC, rowid DESC LIMIT 1",
        )?
        .query_row([user_id], |r| {
            let pic = |u: Option<String>, p: Option<String>| {
                u.map(|u| json!({"url": u, "publicId": p})).unwrap_or(Value::Null)
            };
            Ok(json!({
                "idType": r.get::<_, String>(0)?,
                "idNumber": r.get::<_, String>(1)?,
                "idFrontImage": pic(r.get(2)?, r.get(3)?),
                "idBackImage": pic(r.get(4)?, r.get(5)?),
                "selfieImage": pic(r.get(6)?, r.get(7)?),
                "rejectionReason": r.get::<_, Option<String>>(8)?,
                "reviewedBy": r.get::<_, Option<String>>(9)?,
                "reviewedAt": iso_opt(r.get(10)?),
                "submittedAt": iso(r.get(11)?),
            }))
        })
        .optional()?;
    let mut out = json!({"status": status, "verified": status == "approved"});
    if let Some(Value::Object(m)) = latest {
        let obj = out.as_object_mut().expect("object");
        obj.extend(m);
        if status == "approved" {
            obj.insert("verifiedAt".into(), obj["reviewedAt"].clone());
            obj.insert("verifiedBy".into(), obj["reviewedBy"].clone());
        }
    }
    Ok(out)
}

// ------------------------------------------------------------ deletion

/// Soft-deletes `user_id`: status `deleted`, `deleted_at` set, every token
/// revoked (token version bump), follows undone, push tokens forgotten.
/// Bookings and money records are untouched. `false` when the account was
/// already deleted (or does not exist). Returns the ids whose follow counts
/// changed too.
pub fn soft_delete(
    conn: &Connection,
    user_id: &str,
    reason: Option<&str>,
    now: i64,
) -> ApiResult<Option<Vec<String>>> {
    let changed = conn.execute(
        "UPDATE users SET status = 'deleted', deleted_at = ?2, token_version = token_version + 1, updated_at = ?2
         WHERE id = ?1 AND status <> 'deleted'",
        params![user_id, now],
    )?;
    if changed == 0 {
        return Ok(None);
    }
    ensure_user_profile(conn, user_id, now)?;
    conn.execute(
        "UPDATE user_profiles SET delete_reason = ?2, updated_at = ?3 WHERE user_id = ?1",
        params![user_id, reason, now],
    )?;
    let others: Vec<String> = conn
        .prepare(
            "SELECT followee_id FROM follows WHERE follower_id = ?1 AND active = 1
             UNION SELECT follower_id FROM follows WHERE followee_id = ?1 AND active = 1",
        )?
        .query_map([user_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    conn.execute(
        "UPDATE follows SET active = 0, changed_at = ?2 WHERE (follower_id = ?1 OR followee_id = ?1) AND active = 1",
        params![user_id, now],
    )?;
    for other in &others {
        recount(conn, other, now)?;
    }
    recount(conn, user_id, now)?;
    conn.execute("DELETE FROM fcm_tokens WHERE user_id = ?1", [user_id])?;
    Ok(Some(others))
}

/// Blanks the personal data of a soft-deleted account, keeping the row (and
/// unique placeholders for email and phone) so bookings and money records
/// still point at it. `false` when the account is not deleted or was
/// scrubbed already, so a second run does nothing.
pub fn scrub(conn: &Connection, user_id: &str, now: i64) -> ApiResult<bool> {
    let due = conn
        .query_row(
            "SELECT 1 FROM users u LEFT JOIN user_profiles p ON p.user_id = u.id
             WHERE u.id = ?1 AND u.status = 'deleted' AND p.scrubbed_at IS NULL",
            [user_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if !due {
        return Ok(false);
    }
    let (email, phone) = crate::users::model::scrubbed_identity(user_id);
    // Sign-in attempts carry the address, IP and device: gone with the
    // account, including failed ones recorded under the email alone.
    conn.execute(
        "DELETE FROM login_history
         WHERE user_id = ?1 OR email = (SELECT email FROM users WHERE id = ?1)",
        [user_id],
    )?;
    conn.execute(
        "UPDATE users SET first_name = 'Deleted', last_name = 'User', email = ?2, phone = ?3, password_hash = '!',
             two_factor_enabled = 0, two_factor_secret = NULL, bio = NULL, profile_picture_url = NULL,
             profile_picture_public_id = NULL, location_lng = NULL, location_lat = NULL, location_address = NULL,
             location_city = NULL, location_county = NULL, location_country = NULL, is_email_verified = 0,
             is_phone_verified = 0, kyc_status = 'none', handle = NULL, token_version = token_version + 1, updated_at = ?4
         WHERE id = ?1",
        params![user_id, email, phone, now],
    )?;
    ensure_user_profile(conn, user_id, now)?;
    conn.execute(
        "UPDATE user_profiles SET gender = NULL, date_of_birth = NULL, company_name = NULL, company_registration = NULL,
             department = NULL, employee_count = NULL, billing_tax_id = NULL, billing_email = NULL,
             billing_address = NULL, billing_contact_name = NULL, billing_contact_phone = NULL, payment_terms = NULL,
             delete_reason = NULL, scrubbed_at = ?2, updated_at = ?2
         WHERE user_id = ?1",
        params![user_id, now],
    )?;
    conn.execute(
        "UPDATE technician_profiles SET business_name = NULL, schedule = '[]', service_categories = '[]', updated_at = ?2
         WHERE user_id = ?1",
        params![user_id, now],
    )?;
    for sql in [
        "DELETE FROM user_skills WHERE user_id = ?1",
        "DELETE FROM portfolio_items WHERE user_id = ?1",
        "DELETE FROM kyc_submissions WHERE user_id = ?1",
        "DELETE FROM fcm_tokens WHERE user_id = ?1",
        "DELETE FROM follows WHERE follower_id = ?1 OR followee_id = ?1",
    ] {
        conn.execute(sql, [user_id])?;
    }
    Ok(true)
}

/// Accounts per role, deleted ones left out (the admin overview's chart).
/// Every role is present, with 0 when it has no accounts.
pub fn count_by_role(conn: &Connection) -> ApiResult<Vec<(String, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT role, COUNT(*) FROM users WHERE status != 'deleted' GROUP BY role",
    )?;
    let found: Vec<(String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(["customer", "technician", "corporate", "support", "admin"]
        .iter()
        .map(|role| {
            let n = found.iter().find(|(r, _)| r == role).map_or(0, |(_, n)| *n);
            (role.to_string(), n)
        })
        .collect())
}
