//! `/api/v1/bookings`: create, list, read, the status machine, assignment,
//! pricing, QA checkpoints, disputes and stats. Handlers parse, authorise
//! (through `model`), call the store in one transaction, and answer.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::extract::{CurrentUser, Role};
use crate::bookings::document::{self, View};
use crate::bookings::model::{
    self, Action, ItemKind, LineItem, Refusal, Relation, Resolution, Status,
};
use crate::bookings::schemas::{
    BookingDisputeResponse, BookingList, BookingPricingResponse, BookingResponse, BookingStats,
    QaCheckpointResponse,
};
use crate::bookings::store::{self, BookingRow, ListFilter, Move, NewBooking, Sort};
use crate::error::{check, finish, ApiError, ApiResult, FieldError};
use crate::http::{AppJson, AppQuery, Page};
use crate::ids::{is_valid_id, new_id, now_ms};
use crate::openapi::schemas::ErrorBody;
use crate::state::AppState;

/// The router mounted at `/api/v1/bookings`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_bookings, create_booking))
        .routes(routes!(booking_stats))
        .routes(routes!(get_booking))
        .routes(routes!(update_status))
        .routes(routes!(assign_technician))
        .routes(routes!(update_pricing))
        .routes(routes!(add_qa_checkpoint))
        .routes(routes!(open_dispute))
        .routes(routes!(resolve_dispute))
}

const DAY_MS: i64 = 86_400_000;
/// The most photos (or evidence items) one request may attach.
const MAX_PHOTOS: usize = 10;
const DEFAULT_DURATION_MINS: i64 = 120;
const MAX_DURATION_MINS: i64 = 7 * 24 * 60;

fn text(v: &Option<String>) -> String {
    v.as_deref().map(str::trim).unwrap_or("").to_string()
}

fn opt_text(v: Option<&Value>, max: usize) -> Result<Option<String>, ()> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.chars().count() > max {
                Err(())
            } else {
                Ok((!s.is_empty()).then(|| s.to_string()))
            }
        }
        Some(_) => Err(()),
    }
}

/// A booking id from the path; anything that cannot be an id is a 404.
fn booking_id(raw: &str) -> ApiResult<String> {
    if is_valid_id(raw) {
        Ok(raw.to_string())
    } else {
        Err(ApiError::not_found("Booking"))
    }
}

/// The booking `id` as `user` may see it: 404 when missing or hidden from them.
fn load_visible(
    conn: &rusqlite::Connection,
    id: &str,
    user: &crate::auth::store::Account,
) -> ApiResult<(BookingRow, Relation)> {
    let b = store::find(conn, id)?.ok_or_else(|| ApiError::not_found("Booking"))?;
    let relation = b.relation(user);
    if !relation.can_view() {
        return Err(ApiError::not_found("Booking"));
    }
    Ok((b, relation))
}

/// Media keys from `photos` / `images`: media ids or publicIds, as strings
/// or as the media upload's items (`_id`, `id`, `mediaId` or `publicId`),
/// deduplicated, at most [`MAX_PHOTOS`]. Ownership is checked in the
/// transaction (`media::store::owned_media`).
/// The media ids of `photos` and `images` (clients send either), each
/// once, at most [`MAX_PHOTOS`] in all.
fn photo_ids(
    photos: &Option<Vec<Value>>,
    images: &Option<Vec<Value>>,
    errors: &mut Vec<FieldError>,
) -> Vec<String> {
    let mut ids = Vec::new();
    for (field, list) in [("photos", photos), ("images", images)] {
        if let Some(list) = list {
            for id in parse_media_ids(field, list, errors) {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
    }
    check(
        errors,
        ids.len() <= MAX_PHOTOS,
        "photos",
        "At most 10 photos can be attached",
    );
    ids
}

fn parse_media_ids(field: &str, list: &[Value], errors: &mut Vec<FieldError>) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    if list.len() > MAX_PHOTOS {
        check(errors, false, field, "At most 10 photos can be attached");
        return ids;
    }
    for (i, v) in list.iter().enumerate() {
        let id = match v {
            Value::String(s) => Some(s.trim().to_string()),
            Value::Object(o) => ["mediaId", "_id", "id", "publicId"]
                .iter()
                .find_map(|k| o.get(*k).and_then(Value::as_str))
                .map(|s| s.trim().to_string()),
            _ => None,
        };
        match id.filter(|s| model::is_media_key(s)) {
            Some(id) if !ids.contains(&id) => ids.push(id),
            Some(_) => {}
            None => check(
                errors,
                false,
                &format!("{field}[{i}]"),
                "Photos must be media ids from the media upload",
            ),
        }
    }
    ids
}

/// The technician a booking may be assigned to: existing, active,
/// KYC-approved when `require_kyc`, and offering the booking's category
/// (else a 400 naming `technician`).
fn bookable_technician(
    conn: &rusqlite::Connection,
    id: &str,
    category: &str,
    require_kyc: bool,
) -> ApiResult<crate::users::technician::Technician> {
    let t = crate::users::technician::find(conn, id)?
        .ok_or_else(|| ApiError::field("technician", "Invalid technician"))?;
    if !t.is_bookable(require_kyc) {
        return Err(ApiError::field(
            "technician",
            "This technician cannot take bookings (account not active or KYC not approved)",
        ));
    }
    if !t.offers(category) {
        return Err(ApiError::field(
            "technician",
            format!("This technician does not offer {category}"),
        ));
    }
    Ok(t)
}

fn refusal(r: Refusal) -> ApiError {
    r.into()
}

// ---------------------------------------------------------------- list

/// Filters of `GET /bookings`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// One status or a comma-separated list (`assigned` reads as `awaiting_acceptance`).
    status: Option<String>,
    /// Exact service type.
    service_type: Option<String>,
    /// Exact service category.
    service_category: Option<String>,
    /// Scheduled on or after (ISO 8601 or YYYY-MM-DD, local day start).
    start_date: Option<String>,
    /// Scheduled on or before (ISO 8601 or YYYY-MM-DD, through the end of that local day).
    end_date: Option<String>,
    /// Only bookings with this technician.
    technician: Option<String>,
    /// Only bookings of this customer (admins, support and technicians).
    customer: Option<String>,
    /// `-createdAt` (default), `createdAt`, `scheduledDate`, `-scheduledDate`.
    sort: Option<String>,
    /// Read and ignored (the original accepted it).
    role: Option<String>,
    /// Page number, from 1.
    page: Option<String>,
    /// Items per page, 1 to 100.
    limit: Option<String>,
}

fn parse_statuses(raw: &Option<String>, errors: &mut Vec<FieldError>) -> Vec<Status> {
    let mut out = Vec::new();
    for part in text(raw)
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        match Status::parse(part) {
            Some(s) if !out.contains(&s) => out.push(s),
            Some(_) => {}
            None => check(errors, false, "status", &format!("Unknown status {part:?}")),
        }
    }
    out
}

/// `startDate` / `endDate` as ms: a bare date covers the whole local day.
fn parse_range_bound(
    raw: &Option<String>,
    field: &str,
    end_of_day: bool,
    offset: i32,
    errors: &mut Vec<FieldError>,
) -> Option<i64> {
    let s = text(raw);
    if s.is_empty() {
        return None;
    }
    match model::schedule_ms(&s, None, offset) {
        Some(ms) if end_of_day && s.len() == 10 => Some(ms + DAY_MS - 1),
        Some(ms) => Some(ms),
        None => {
            check(
                errors,
                false,
                field,
                &format!("{field} must be a date (YYYY-MM-DD) or an ISO 8601 date-time"),
            );
            None
        }
    }
}

fn parse_party_filter(
    raw: &Option<String>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let s = text(raw);
    if s.is_empty() {
        return None;
    }
    check(
        errors,
        is_valid_id(&s),
        field,
        &format!("{field} must be a user id"),
    );
    Some(s)
}

/// The list shape of every module (`http::list_response`), serialised
/// straight from the page's rows.
#[derive(serde::Serialize)]
struct ListBody {
    success: bool,
    count: usize,
    total: i64,
    page: u32,
    pages: i64,
    limit: u32,
    bookings: document::Summaries,
}

/// Bookings the caller may see: customers and corporate accounts their
/// own, technicians those assigned to them, admins and support all.
#[utoipa::path(get, path = "/", tag = "bookings", params(ListQuery), security(("bearer" = [])),
    responses((status = 200, body = BookingList), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn list_bookings(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(q): AppQuery<ListQuery>,
) -> ApiResult<Json<ListBody>> {
    let page = Page::of(q.page.as_deref(), q.limit.as_deref(), 20)?;
    let offset = state.config.booking_utc_offset_mins;
    let mut errors = Vec::new();
    let statuses = parse_statuses(&q.status, &mut errors);
    let scheduled_from = parse_range_bound(&q.start_date, "startDate", false, offset, &mut errors);
    let scheduled_to = parse_range_bound(&q.end_date, "endDate", true, offset, &mut errors);
    let technician = parse_party_filter(&q.technician, "technician", &mut errors);
    let customer = parse_party_filter(&q.customer, "customer", &mut errors);
    let sort = match text(&q.sort).as_str() {
        "" => Sort::default(),
        s => Sort::parse(s).unwrap_or_else(|| {
            check(
                &mut errors,
                false,
                "sort",
                "sort must be -createdAt, createdAt, scheduledDate or -scheduledDate",
            );
            Sort::default()
        }),
    };
    finish(errors)?;
    let _ = &q.role;
    let mut filter = ListFilter {
        statuses,
        service_type: Some(text(&q.service_type)).filter(|s| !s.is_empty()),
        service_category: Some(text(&q.service_category)).filter(|s| !s.is_empty()),
        scheduled_from,
        scheduled_to,
        sort,
        customer_id: customer,
        technician_id: technician,
    };
    match user.role {
        Role::Customer | Role::Corporate => filter.customer_id = Some(user.id.clone()),
        Role::Technician => filter.technician_id = Some(user.id.clone()),
        Role::Admin | Role::Support => {}
    }
    // The caller's own scope overrides a filter on the same party.
    let (limit, skip) = (page.limit as i64, page.offset());
    let base = state.config.public_url.clone();
    let (bookings, total) = state
        .db
        .read(move |c| {
            let (rows, total) = store::list(c, &filter, limit, skip)?;
            Ok((document::summaries(c, &base, rows)?, total))
        })
        .await?;
    Ok(Json(ListBody {
        success: true,
        count: bookings.len(),
        total,
        page: page.page,
        pages: page.pages(total),
        limit: page.limit,
        bookings,
    }))
}

// ---------------------------------------------------------------- stats

/// Range of the platform-wide daily figures.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// First day (admins; default 30 days before endDate).
    start_date: Option<String>,
    /// Last day, inclusive (admins; default today).
    end_date: Option<String>,
}

/// Booking figures for the caller: a customer's bookings by status and
/// total spent; a technician's jobs by status, earnings, completion rate
/// and average response time; platform-wide by day for admins and support.
#[utoipa::path(get, path = "/stats", tag = "bookings", params(StatsQuery), security(("bearer" = [])),
    responses((status = 200, body = BookingStats), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn booking_stats(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(q): AppQuery<StatsQuery>,
) -> ApiResult<Json<Value>> {
    let offset = state.config.booking_utc_offset_mins;
    let staff = matches!(user.role, Role::Admin | Role::Support);
    let mut range = None;
    if staff {
        let mut errors = Vec::new();
        let now = now_ms();
        let to = parse_range_bound(&q.end_date, "endDate", true, offset, &mut errors)
            .map(|t| t + 1)
            .unwrap_or_else(|| {
                (model::local_day(now, offset) + 1) * DAY_MS - offset as i64 * 60_000
            });
        let from = parse_range_bound(&q.start_date, "startDate", false, offset, &mut errors)
            .unwrap_or(to - 30 * DAY_MS);
        check(
            &mut errors,
            from < to,
            "startDate",
            "startDate must be before endDate",
        );
        check(
            &mut errors,
            to - from <= 366 * DAY_MS,
            "endDate",
            "The range can be at most 366 days",
        );
        finish(errors)?;
        range = Some((from, to));
    }
    let (scope, party) = match user.role {
        Role::Customer | Role::Corporate => ("customer", user.id.clone()),
        Role::Technician => ("technician", user.id.clone()),
        Role::Admin | Role::Support => ("all", String::new()),
    };
    let role = user.role;
    let body = state
        .db
        .read(move |c| {
            let counts = store::counts(c, scope, &party)?;
            let total: i64 = counts.iter().map(|s| s.count).sum();
            let stats: Vec<Value> = counts
                .iter()
                .map(|s| json!({"_id": s.status.as_str(), "count": s.count, "totalRevenue": model::major(s.amount_minor)}))
                .collect();
            let completed = counts.iter().find(|s| s.status == Status::Completed);
            let completed_amount = completed.map(|s| s.amount_minor).unwrap_or(0);
            let mut body = json!({"success": true, "total": total, "stats": stats, "currency": "KES"});
            let obj = body.as_object_mut().expect("object");
            match role {
                Role::Customer | Role::Corporate => {
                    obj.insert("totalSpent".into(), model::major(completed_amount));
                }
                Role::Technician => {
                    let fees = completed.map(|s| s.fee_minor).unwrap_or(0);
                    let f = store::figures(c, &party)?;
                    let (rate, avg) = f.rates();
                    obj.insert("earnings".into(), model::major(completed_amount - fees));
                    obj.insert("completedJobs".into(), json!(f.completed));
                    obj.insert("cancelledJobs".into(), json!(f.cancelled));
                    obj.insert("completionRate".into(), json!(rate));
                    obj.insert("averageResponseTime".into(), json!(avg));
                }
                Role::Admin | Role::Support => {
                    let (from, to) = range.unwrap_or((0, 1));
                    let days = store::daily(c, from, to, offset)?;
                    obj.insert("range".into(), json!({"startDate": crate::ids::iso(from), "endDate": crate::ids::iso(to - 1)}));
                    obj.insert("revenue".into(), model::major(completed_amount));
                    obj.insert(
                        "daily".into(),
                        Value::Array(
                            days.iter()
                                .map(|d| json!({
                                    "date": model::day_string(d.day),
                                    "created": d.created,
                                    "completed": d.completed,
                                    "cancelled": d.cancelled,
                                    "revenue": model::major(d.revenue_minor),
                                    "platformFees": model::major(d.platform_fees_minor),
                                }))
                                .collect(),
                        ),
                    );
                }
            }
            Ok(body)
        })
        .await?;
    Ok(Json(body))
}

// ---------------------------------------------------------------- create

/// `POST /bookings`: the summary's example body and the web client's body both work.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateBookingBody {
    service_type: Option<String>,
    /// A service category; otherwise derived from serviceType, else `other`.
    service_category: Option<String>,
    description: Option<String>,
    /// ISO 8601 date-time, or YYYY-MM-DD with scheduledTime (local time).
    scheduled_date: Option<String>,
    /// HH:MM (local time).
    scheduled_time: Option<String>,
    /// `{date, startTime, endTime, estimatedDuration}` instead of scheduledDate/scheduledTime.
    #[schema(value_type = Option<Object>)]
    time_slot: Option<Value>,
    /// Minutes (default 120).
    #[schema(value_type = Option<f64>)]
    estimated_duration: Option<Value>,
    /// `{coordinates: [lng, lat], address, city, county, landmarks, accessInstructions}`.
    #[schema(value_type = Option<Object>)]
    service_location: Option<Value>,
    /// Same as serviceLocation (matching's name).
    #[schema(value_type = Option<Object>)]
    location: Option<Value>,
    /// A technician id ('' for none): the booking then awaits their acceptance.
    technician: Option<String>,
    preferred_technician: Option<String>,
    /// low, medium (normal), high, emergency (urgent).
    urgency: Option<String>,
    /// Major units.
    #[schema(value_type = Option<f64>)]
    budget: Option<Value>,
    /// Media ids of photos.
    #[schema(value_type = Option<Vec<String>>)]
    photos: Option<Vec<Value>>,
    #[schema(value_type = Option<Vec<String>>)]
    images: Option<Vec<Value>>,
    /// `[{name, price, quantity}]`: the first pricing lines.
    #[schema(value_type = Option<Vec<Object>>)]
    materials: Option<Vec<Value>>,
    /// mobile_app, web_app, admin_panel or api.
    source: Option<String>,
}

fn parse_duration(v: Option<&Value>, errors: &mut Vec<FieldError>) -> Option<i64> {
    let n = match v {
        None | Some(Value::Null) => return None,
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) if s.trim().is_empty() => return None,
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(f) if f.fract() == 0.0 && (1.0..=MAX_DURATION_MINS as f64).contains(&f) => {
            Some(f as i64)
        }
        _ => {
            check(
                errors,
                false,
                "estimatedDuration",
                "Estimated duration must be whole minutes, from 1 to 10080",
            );
            None
        }
    }
}

/// The service location as `((lng, lat), address, details)`.
fn parse_service_location(
    v: Option<&Value>,
    errors: &mut Vec<FieldError>,
) -> Option<((f64, f64), String, store::Details)> {
    let v = v.filter(|v| v.is_object());
    let coords = v
        .and_then(|v| v.get("coordinates"))
        .and_then(Value::as_array);
    let pair = coords.and_then(|c| match c.as_slice() {
        [lng, lat] => Some((lng.as_f64()?, lat.as_f64()?)),
        _ => None,
    });
    let pair =
        pair.filter(|(lng, lat)| (-180.0..=180.0).contains(lng) && (-90.0..=90.0).contains(lat));
    check(
        errors,
        pair.is_some(),
        "serviceLocation.coordinates",
        "Valid coordinates are required",
    );
    let address = v
        .and_then(|v| v.get("address"))
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or("");
    check(
        errors,
        !address.is_empty() && address.chars().count() <= 500,
        "serviceLocation.address",
        "Service address is required",
    );
    let mut details = store::Details::default();
    for (key, slot) in [
        ("city", &mut details.city),
        ("county", &mut details.county),
        ("landmarks", &mut details.landmarks),
        ("accessInstructions", &mut details.access_instructions),
    ] {
        match opt_text(v.and_then(|v| v.get(key)), 500) {
            Ok(s) => *slot = s,
            Err(()) => check(
                errors,
                false,
                &format!("serviceLocation.{key}"),
                "Must be text of at most 500 characters",
            ),
        }
    }
    pair.map(|p| (p, address.to_string(), details))
}

/// Line items from the original's pricing shapes: `serviceCharge` (labour),
/// `materials` `[{name, price|unitPrice, quantity}]`, `additionalCosts`
/// `[{description, amount, kind?}]` (transport unless a kind is given),
/// `discount`, and the new `items` `[{kind, description, quantity, unitPrice}]`.
#[derive(Debug, Default)]
struct PriceInput<'a> {
    items: Option<&'a [Value]>,
    service_charge: Option<&'a Value>,
    materials: Option<&'a [Value]>,
    additional_costs: Option<&'a [Value]>,
    discount: Option<&'a Value>,
}

fn parse_quantity(v: Option<&Value>) -> Option<i64> {
    match v {
        None | Some(Value::Null) => Some(1),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

fn parse_line(
    field: &str,
    v: &Value,
    default_kind: Option<ItemKind>,
    amount_keys: &[&str],
    errors: &mut Vec<FieldError>,
) -> Option<LineItem> {
    let Some(o) = v.as_object() else {
        check(errors, false, field, "Must be an object");
        return None;
    };
    let kind = match o
        .get("kind")
        .or_else(|| o.get("type"))
        .and_then(Value::as_str)
    {
        Some(k) => ItemKind::parse(k),
        None => default_kind,
    };
    let Some(kind) = kind else {
        check(
            errors,
            false,
            &format!("{field}.kind"),
            "Kind must be labour, parts, materials, transport or discount",
        );
        return None;
    };
    let description = match opt_text(o.get("description").or_else(|| o.get("name")), 200) {
        Ok(d) => d.unwrap_or_default(),
        Err(()) => {
            check(
                errors,
                false,
                &format!("{field}.description"),
                "Description must be text of at most 200 characters",
            );
            return None;
        }
    };
    let quantity = parse_quantity(o.get("quantity"));
    let Some(quantity) = quantity.filter(|q| (1..=model::MAX_QUANTITY).contains(q)) else {
        check(
            errors,
            false,
            &format!("{field}.quantity"),
            "Quantity must be a whole number from 1 to 100000",
        );
        return None;
    };
    let amount = amount_keys
        .iter()
        .find_map(|k| o.get(*k).filter(|v| !v.is_null()));
    let unit = match amount.map(model::parse_money_minor) {
        Some(Ok(m)) => m,
        Some(Err(e)) => {
            check(
                errors,
                false,
                &format!("{field}.{}", amount_keys[0]),
                &format!("Amount {e}"),
            );
            return None;
        }
        None => {
            check(
                errors,
                false,
                &format!("{field}.{}", amount_keys[0]),
                "Amount is required",
            );
            return None;
        }
    };
    Some(LineItem {
        kind,
        description,
        quantity,
        unit_minor: unit,
    })
}

/// The line items of a pricing request (None when it names none at all).
fn parse_price_input(p: &PriceInput, errors: &mut Vec<FieldError>) -> Option<Vec<LineItem>> {
    if p.items.is_none()
        && p.service_charge.is_none()
        && p.materials.is_none()
        && p.additional_costs.is_none()
        && p.discount.is_none()
    {
        return None;
    }
    let mut lines = Vec::new();
    if let Some(items) = p.items {
        for (i, v) in items.iter().enumerate() {
            lines.extend(parse_line(
                &format!("items[{i}]"),
                v,
                None,
                &["unitPrice", "price", "amount"],
                errors,
            ));
        }
    }
    if let Some(v) = p.service_charge.filter(|v| !v.is_null()) {
        match model::parse_money_minor(v) {
            Ok(0) => {}
            Ok(m) => lines.push(LineItem {
                kind: ItemKind::Labour,
                description: "Service charge".into(),
                quantity: 1,
                unit_minor: m,
            }),
            Err(e) => check(
                errors,
                false,
                "serviceCharge",
                &format!("Service charge {e}"),
            ),
        }
    }
    if let Some(items) = p.materials {
        for (i, v) in items.iter().enumerate() {
            lines.extend(parse_line(
                &format!("materials[{i}]"),
                v,
                Some(ItemKind::Materials),
                &["price", "unitPrice"],
                errors,
            ));
        }
    }
    if let Some(items) = p.additional_costs {
        for (i, v) in items.iter().enumerate() {
            lines.extend(parse_line(
                &format!("additionalCosts[{i}]"),
                v,
                Some(ItemKind::Transport),
                &["amount", "price"],
                errors,
            ));
        }
    }
    if let Some(v) = p.discount.filter(|v| !v.is_null()) {
        match model::parse_money_minor(v) {
            Ok(0) => {}
            Ok(m) => lines.push(LineItem {
                kind: ItemKind::Discount,
                description: "Discount".into(),
                quantity: 1,
                unit_minor: m,
            }),
            Err(e) => check(errors, false, "discount", &format!("Discount {e}")),
        }
    }
    Some(lines)
}

/// Create a booking (customers and corporate accounts). Naming a
/// technician sends it straight to `awaiting_acceptance`.
#[utoipa::path(post, path = "/", tag = "bookings", request_body = CreateBookingBody, security(("bearer" = [])),
    responses((status = 201, body = BookingResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn create_booking(
    State(state): State<AppState>,
    user: CurrentUser,
    AppJson(body): AppJson<CreateBookingBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    user.require_role(&[Role::Customer, Role::Corporate])?;
    let config = &state.config;
    let offset = config.booking_utc_offset_mins;
    let mut errors = Vec::new();
    let service_type = text(&body.service_type);
    check(
        &mut errors,
        !service_type.is_empty(),
        "serviceType",
        "Service type is required",
    );
    check(
        &mut errors,
        service_type.chars().count() <= 100,
        "serviceType",
        "Service type is at most 100 characters",
    );
    let description = text(&body.description);
    check(
        &mut errors,
        !description.is_empty(),
        "description",
        "Description is required",
    );
    check(
        &mut errors,
        description.chars().count() <= 1000,
        "description",
        "Description is at most 1000 characters",
    );
    let category = model::service_category(body.service_category.as_deref(), &service_type);

    // When: scheduledDate (+ scheduledTime), or timeSlot {date, startTime, endTime, estimatedDuration}.
    let slot = body.time_slot.as_ref().filter(|v| v.is_object());
    let slot_str = |k: &str| {
        slot.and_then(|s| s.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let date = body
        .scheduled_date
        .clone()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| slot_str("date"));
    let time = body
        .scheduled_time
        .clone()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| slot_str("startTime"));
    let now = now_ms();
    let scheduled_at = date
        .as_deref()
        .and_then(|d| model::schedule_ms(d, time.as_deref(), offset));
    match scheduled_at {
        None => check(
            &mut errors,
            false,
            "scheduledDate",
            "Valid scheduled date is required",
        ),
        Some(at) => {
            check(
                &mut errors,
                at > now,
                "scheduledDate",
                "Scheduled date must be in the future",
            );
            let horizon = config.booking_horizon_days as i64;
            check(
                &mut errors,
                at <= now + horizon * DAY_MS,
                "scheduledDate",
                &format!("Scheduled date must be within {horizon} days"),
            );
        }
    }
    let mut duration = parse_duration(
        body.estimated_duration
            .as_ref()
            .or_else(|| slot.and_then(|s| s.get("estimatedDuration"))),
        &mut errors,
    );
    if duration.is_none() {
        if let (Some(start), Some(end)) = (
            time.as_deref().and_then(model::parse_hhmm),
            slot_str("endTime").as_deref().and_then(model::parse_hhmm),
        ) {
            duration = Some(if end > start {
                end - start
            } else {
                end + 1440 - start
            });
        }
    }
    let location = parse_service_location(
        body.service_location.as_ref().or(body.location.as_ref()),
        &mut errors,
    );
    let urgency = match text(&body.urgency).as_str() {
        "" => "medium",
        u => model::parse_urgency(u).unwrap_or_else(|| {
            check(
                &mut errors,
                false,
                "urgency",
                "Urgency must be low, medium (normal), high or emergency (urgent)",
            );
            "medium"
        }),
    };
    let budget_minor = match body.budget.as_ref().filter(|v| !v.is_null()) {
        None => None,
        Some(v) => match model::parse_money_minor(v) {
            Ok(m) => Some(m),
            Err(e) => {
                check(&mut errors, false, "budget", &format!("Budget {e}"));
                None
            }
        },
    };
    let technician = [&body.technician, &body.preferred_technician]
        .into_iter()
        .map(text)
        .find(|s| !s.is_empty());
    if let Some(t) = &technician {
        check(
            &mut errors,
            is_valid_id(t),
            "technician",
            "Invalid technician",
        );
    }
    let photo_ids = photo_ids(&body.photos, &body.images, &mut errors);
    let source = match text(&body.source).as_str() {
        "" | "api" => "api",
        "mobile_app" => "mobile_app",
        "web_app" => "web_app",
        "admin_panel" => "admin_panel",
        _ => {
            check(
                &mut errors,
                false,
                "source",
                "Source must be mobile_app, web_app, admin_panel or api",
            );
            "api"
        }
    };
    let price_input = PriceInput {
        materials: body.materials.as_deref(),
        ..Default::default()
    };
    let lines = parse_price_input(&price_input, &mut errors).unwrap_or_default();
    let pricing = model::price(&lines, crate::payments::movements::fee_policy(config));
    if let Err(e) = &pricing {
        let (field, message) = e.field_error();
        check(
            &mut errors,
            false,
            &field.replace("items", "materials"),
            &message,
        );
    }
    finish(errors)?;
    let (Some(scheduled_at), Some(((lng, lat), address, mut details)), Ok(pricing)) =
        (scheduled_at, location, pricing)
    else {
        return Err(ApiError::internal("validated booking fields missing"));
    };
    details.utc_offset_mins = Some(offset);
    let new = NewBooking {
        customer_id: user.id.clone(),
        technician_id: technician,
        service_category: category.to_string(),
        service_type,
        description,
        urgency: urgency.to_string(),
        scheduled_at,
        estimated_duration_mins: duration.unwrap_or(DEFAULT_DURATION_MINS),
        location: (lng, lat),
        address,
        budget_minor,
        source: source.to_string(),
        match_score: None,
    };
    let customer = user.0.clone();
    let base = state.config.public_url.clone();
    let require_kyc = state.config.require_technician_kyc;
    let booking = state
        .db
        .write(move |tx| {
            let technician = match &new.technician_id {
                Some(t) => Some(bookable_technician(
                    tx,
                    t,
                    &new.service_category,
                    require_kyc,
                )?),
                None => None,
            };
            let media =
                crate::media::store::owned_media(tx, &base, &customer.id, "photos", &photo_ids)?;
            details.photo_ids = media.iter().map(|m| m.id.clone()).collect();
            let mut row = store::create_with(tx, &new, &details, &customer.id)?;
            if !lines.is_empty() {
                row = store::set_pricing(
                    tx,
                    &row,
                    &lines,
                    &pricing,
                    &customer.id,
                    Some("materials given at booking"),
                )?;
            }
            Ok(document::render_created(
                &row,
                &customer,
                technician.as_ref(),
                &document::photos_of(&media),
            ))
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"success": true, "message": "Booking created successfully", "booking": booking}),
        ),
    ))
}

// ---------------------------------------------------------------- read one

/// One booking with its timeline, pricing, QA checkpoints and dispute, for
/// its customer, its technician, admins and support (others get 404).
#[utoipa::path(get, path = "/{id}", tag = "bookings", security(("bearer" = [])),
    params(("id" = String, Path, description = "Booking id")),
    responses((status = 200, body = BookingResponse), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn get_booking(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = booking_id(&id)?;
    let account = user.0.clone();
    let base = state.config.public_url.clone();
    let booking = state
        .db
        .read(move |c| {
            let (b, _) = load_visible(c, &id, &account)?;
            document::render(c, &base, &b, View::Full)
        })
        .await?;
    Ok(Json(json!({"success": true, "booking": booking})))
}

// ---------------------------------------------------------------- status

/// `PUT /bookings/:id/status`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct BookingStatusBody {
    /// accepted, rejected (decline), en_route, arrived, in_progress, completed or cancelled.
    status: Option<String>,
    /// Kept in the timeline; the reason of a cancellation or decline.
    notes: Option<String>,
    /// Same as notes.
    reason: Option<String>,
}

/// Move a booking through the state machine: the technician accepts,
/// declines (`rejected`), sets out, arrives, starts and completes; the
/// customer, the technician or an admin cancels. Any other move is a 409
/// naming the current status and the moves allowed from it.
#[utoipa::path(put, path = "/{id}/status", tag = "bookings", request_body = BookingStatusBody, security(("bearer" = [])),
    params(("id" = String, Path, description = "Booking id")),
    responses((status = 200, body = BookingResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn update_status(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<BookingStatusBody>,
) -> ApiResult<Json<Value>> {
    let requested = text(&body.status);
    if requested.is_empty() {
        return Err(ApiError::field("status", "Status is required"));
    }
    let Some(action) = Action::from_requested_status(&requested) else {
        return Err(match Status::parse(&requested) {
            Some(_) => ApiError::field(
                "status",
                format!("A booking moves to {requested} through its own route (assign-technician, dispute, dispute/resolve)"),
            ),
            None => ApiError::field("status", "Invalid status"),
        });
    };
    let reason = [&body.reason, &body.notes]
        .into_iter()
        .map(text)
        .find(|s| !s.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > 1000) {
        return Err(ApiError::field(
            "notes",
            "Notes are at most 1000 characters",
        ));
    }
    let id = booking_id(&id)?;
    let account = user.0.clone();
    let config = state.config.clone();
    let base = state.config.public_url.clone();
    let booking = state
        .db
        .write(move |tx| {
            let (b, relation) = load_visible(tx, &id, &account)?;
            let to = model::transition(b.status, relation, action).map_err(refusal)?;
            if action == Action::Cancel
                && relation == Relation::AssignedTechnician
                && reason.is_none()
            {
                return Err(ApiError::field(
                    "reason",
                    "A technician must give a reason to cancel",
                ));
            }
            let fee = if action == Action::Cancel {
                model::cancellation_fee_minor(
                    relation,
                    b.status,
                    b.scheduled_at,
                    now_ms(),
                    b.total_minor,
                    config.booking_late_cancel_hours as i64 * 3_600_000,
                    config.booking_cancellation_fee_percent,
                )
            } else {
                0
            };
            let after = store::apply_move(
                tx,
                &b,
                &Move {
                    action,
                    relation,
                    to,
                    actor_id: &account.id,
                    reason: reason.as_deref(),
                    assign_to: None,
                    cancellation_fee_minor: fee,
                },
            )?;
            document::render(tx, &base, &after, View::Full)
        })
        .await?;
    Ok(Json(json!({
        "success": true,
        "message": format!("Booking {requested} successfully"),
        "booking": booking,
    })))
}

// ---------------------------------------------------------------- assign

/// `PUT /bookings/:id/assign-technician`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AssignTechnicianBody {
    /// The technician's user id.
    technician: Option<String>,
}

/// Assign a pending booking to a technician who is active, KYC-approved
/// and offers the booking's service category (admins).
#[utoipa::path(put, path = "/{id}/assign-technician", tag = "bookings", request_body = AssignTechnicianBody, security(("bearer" = [])),
    params(("id" = String, Path, description = "Booking id")),
    responses((status = 200, body = BookingResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn assign_technician(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<AssignTechnicianBody>,
) -> ApiResult<Json<Value>> {
    user.require_role(&[Role::Admin])?;
    let technician = text(&body.technician);
    if !is_valid_id(&technician) {
        return Err(ApiError::field(
            "technician",
            "Valid technician ID is required",
        ));
    }
    let id = booking_id(&id)?;
    let account = user.0.clone();
    let base = state.config.public_url.clone();
    let require_kyc = state.config.require_technician_kyc;
    let booking = state
        .db
        .write(move |tx| {
            let (b, relation) = load_visible(tx, &id, &account)?;
            let to = model::transition(b.status, relation, Action::Assign).map_err(refusal)?;
            bookable_technician(tx, &technician, &b.service_category, require_kyc)?;
            let after = store::apply_move(
                tx,
                &b,
                &Move {
                    action: Action::Assign,
                    relation,
                    to,
                    actor_id: &account.id,
                    reason: None,
                    assign_to: Some(&technician),
                    cancellation_fee_minor: 0,
                },
            )?;
            document::render(tx, &base, &after, View::Full)
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Technician assigned successfully", "booking": booking}),
    ))
}

// ---------------------------------------------------------------- pricing

/// `PUT /bookings/:id/pricing`: the whole new price.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookingPricingBody {
    /// `[{kind: labour|parts|materials|transport|discount, description, quantity, unitPrice}]`, amounts in major units.
    #[schema(value_type = Option<Vec<Object>>)]
    items: Option<Vec<Value>>,
    /// A labour line (the original's field).
    #[schema(value_type = Option<f64>)]
    service_charge: Option<Value>,
    /// `[{name, price, quantity}]` (the original's field).
    #[schema(value_type = Option<Vec<Object>>)]
    materials: Option<Vec<Value>>,
    /// `[{description, amount}]`, transport unless a kind is given (the original's field).
    #[schema(value_type = Option<Vec<Object>>)]
    additional_costs: Option<Vec<Value>>,
    /// A discount line.
    #[schema(value_type = Option<f64>)]
    discount: Option<Value>,
    /// Must be the booking's currency (KES) when given.
    currency: Option<String>,
    /// Kept in the pricing history.
    note: Option<String>,
}

/// Set a booking's price as line items with a computed total (the
/// assigned technician or an admin; not once the job is over). Every
/// change is kept in the pricing history.
#[utoipa::path(put, path = "/{id}/pricing", tag = "bookings", request_body = BookingPricingBody, security(("bearer" = [])),
    params(("id" = String, Path, description = "Booking id")),
    responses((status = 200, body = BookingPricingResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn update_pricing(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<BookingPricingBody>,
) -> ApiResult<Json<Value>> {
    user.require_role(&[Role::Technician, Role::Admin])
        .map_err(|_| ApiError::Forbidden("Not authorized to update pricing".into()))?;
    let mut errors = Vec::new();
    let input = PriceInput {
        items: body.items.as_deref(),
        service_charge: body.service_charge.as_ref(),
        materials: body.materials.as_deref(),
        additional_costs: body.additional_costs.as_deref(),
        discount: body.discount.as_ref(),
    };
    let lines = parse_price_input(&input, &mut errors);
    if lines.is_none() {
        check(
            &mut errors,
            false,
            "items",
            "Give the price as items (or serviceCharge, materials, additionalCosts)",
        );
    }
    let currency = text(&body.currency).to_ascii_uppercase();
    check(
        &mut errors,
        currency.is_empty() || currency == "KES",
        "currency",
        "Bookings are priced in KES",
    );
    let note = text(&body.note);
    check(
        &mut errors,
        note.chars().count() <= 500,
        "note",
        "Note is at most 500 characters",
    );
    finish(errors)?;
    let lines = lines.unwrap_or_default();
    let pricing = model::price(
        &lines,
        crate::payments::movements::fee_policy(&state.config),
    )
    .map_err(|e| {
        let (field, message) = e.field_error();
        ApiError::field(field, message)
    })?;
    let id = booking_id(&id)?;
    let account = user.0.clone();
    let base = state.config.public_url.clone();
    let (priced, history, booking) = state
        .db
        .write(move |tx| {
            let (b, relation) = load_visible(tx, &id, &account)?;
            model::may_price(b.status, relation).map_err(|r| match r {
                Refusal::Conflict { status, .. } => {
                    ApiError::Conflict(model::pricing_closed_message(status))
                }
                other => other.into(),
            })?;
            let note = Some(note.as_str()).filter(|n| !n.is_empty());
            let after = store::set_pricing(tx, &b, &lines, &pricing, &account.id, note)?;
            let doc = document::render(tx, &base, &after, View::Full)?;
            Ok((doc["pricing"].clone(), doc["pricingHistory"].clone(), doc))
        })
        .await?;
    Ok(Json(json!({
        "success": true,
        "message": "Pricing updated successfully",
        "pricing": priced,
        "pricingHistory": history,
        "booking": booking,
    })))
}

// ---------------------------------------------------------------- QA checkpoints

/// `POST /bookings/:id/qa-checkpoint`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QaCheckpointBody {
    /// What was checked.
    name: Option<String>,
    /// Same as name (the original's field).
    description: Option<String>,
    /// Whether the check passed (default true).
    passed: Option<bool>,
    /// `passed` or `failed`, instead of passed.
    status: Option<String>,
    notes: Option<String>,
    /// Media ids of photos.
    #[schema(value_type = Option<Vec<String>>)]
    photos: Option<Vec<Value>>,
    #[schema(value_type = Option<Vec<String>>)]
    images: Option<Vec<Value>>,
    /// Checklist entries, kept as sent.
    #[schema(value_type = Option<Vec<Object>>)]
    checklist_items: Option<Vec<Value>>,
    #[schema(value_type = Option<Vec<Object>>)]
    checklist: Option<Vec<Value>>,
}

/// Record a QA checkpoint (the assigned technician, while the job is in progress).
#[utoipa::path(post, path = "/{id}/qa-checkpoint", tag = "bookings", request_body = QaCheckpointBody, security(("bearer" = [])),
    params(("id" = String, Path, description = "Booking id")),
    responses((status = 200, body = QaCheckpointResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn add_qa_checkpoint(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<QaCheckpointBody>,
) -> ApiResult<Json<Value>> {
    user.require_role(&[Role::Technician]).map_err(|_| {
        ApiError::Forbidden("Only assigned technician can add QA checkpoints".into())
    })?;
    let mut errors = Vec::new();
    let name = [&body.name, &body.description]
        .into_iter()
        .map(text)
        .find(|s| !s.is_empty())
        .unwrap_or_default();
    check(
        &mut errors,
        !name.is_empty(),
        "name",
        "Checkpoint description is required",
    );
    check(
        &mut errors,
        name.chars().count() <= 200,
        "name",
        "Checkpoint name is at most 200 characters",
    );
    let passed = match (body.passed, text(&body.status).as_str()) {
        (Some(p), _) => p,
        (None, "" | "passed" | "pass") => true,
        (None, "failed" | "fail") => false,
        (None, _) => {
            check(
                &mut errors,
                false,
                "status",
                "Status must be passed or failed",
            );
            true
        }
    };
    let notes = text(&body.notes);
    check(
        &mut errors,
        notes.chars().count() <= 2000,
        "notes",
        "Notes are at most 2000 characters",
    );
    let photo_ids = photo_ids(&body.photos, &body.images, &mut errors);
    let checklist = body
        .checklist_items
        .clone()
        .or_else(|| body.checklist.clone())
        .unwrap_or_default();
    check(
        &mut errors,
        checklist.len() <= 50,
        "checklistItems",
        "At most 50 checklist items",
    );
    check(
        &mut errors,
        Value::Array(checklist.clone()).to_string().len() <= 20_000,
        "checklistItems",
        "The checklist is too large",
    );
    finish(errors)?;
    let id = booking_id(&id)?;
    let account = user.0.clone();
    let base = state.config.public_url.clone();
    let (checkpoint, booking) = state
        .db
        .write(move |tx| {
            let (b, relation) = load_visible(tx, &id, &account)?;
            model::may_add_checkpoint(b.status, relation).map_err(|r| match r {
                Refusal::Conflict { status, .. } => {
                    ApiError::Conflict(model::checkpoint_closed_message(status))
                }
                other => other.into(),
            })?;
            let media =
                crate::media::store::owned_media(tx, &base, &account.id, "photos", &photo_ids)?;
            let c = store::Checkpoint {
                id: new_id(),
                technician_id: account.id.clone(),
                name,
                passed,
                notes: Some(notes).filter(|n| !n.is_empty()),
                photo_ids: media.iter().map(|m| m.id.clone()).collect(),
                checklist: Value::Array(checklist),
                created_at: now_ms(),
            };
            store::add_checkpoint(tx, &b.id, &c)?;
            let b = store::find(tx, &b.id)?.ok_or_else(|| ApiError::not_found("Booking"))?;
            Ok((
                document::checkpoint_json(&c, &document::photos_of(&media)),
                document::render(tx, &base, &b, View::Full)?,
            ))
        })
        .await?;
    Ok(Json(json!({
        "success": true,
        "message": "QA checkpoint added successfully",
        "checkpoint": checkpoint,
        "booking": booking,
    })))
}

// ---------------------------------------------------------------- disputes

/// `POST /bookings/:id/dispute`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct BookingDisputeBody {
    reason: Option<String>,
    description: Option<String>,
    /// Media ids or links supporting the dispute.
    evidence: Option<Vec<String>>,
}

/// Open a dispute (the customer or the technician, while the job is in
/// progress or within the dispute window after completion).
#[utoipa::path(post, path = "/{id}/dispute", tag = "bookings", request_body = BookingDisputeBody, security(("bearer" = [])),
    params(("id" = String, Path, description = "Booking id")),
    responses((status = 200, body = BookingDisputeResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn open_dispute(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<BookingDisputeBody>,
) -> ApiResult<Json<Value>> {
    let mut errors = Vec::new();
    let reason = text(&body.reason);
    check(
        &mut errors,
        !reason.is_empty(),
        "reason",
        "Dispute reason is required",
    );
    check(
        &mut errors,
        reason.chars().count() <= 200,
        "reason",
        "Dispute reason is at most 200 characters",
    );
    let description = text(&body.description);
    check(
        &mut errors,
        !description.is_empty(),
        "description",
        "Dispute description is required",
    );
    check(
        &mut errors,
        description.chars().count() <= 2000,
        "description",
        "Dispute description is at most 2000 characters",
    );
    let evidence: Vec<String> = body
        .evidence
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty())
        .collect();
    check(
        &mut errors,
        evidence.len() <= MAX_PHOTOS,
        "evidence",
        "At most 10 pieces of evidence",
    );
    check(
        &mut errors,
        evidence.iter().all(|e| e.chars().count() <= 500),
        "evidence",
        "Each piece of evidence is at most 500 characters",
    );
    finish(errors)?;
    let id = booking_id(&id)?;
    let account = user.0.clone();
    let window_ms = state.config.booking_dispute_window_hours as i64 * 3_600_000;
    let base = state.config.public_url.clone();
    let (dispute, booking) = state
        .db
        .write(move |tx| {
            let (b, relation) = load_visible(tx, &id, &account)?;
            let to = model::transition(b.status, relation, Action::Dispute).map_err(refusal)?;
            let now = now_ms();
            if !model::dispute_window_open(b.status, b.completed_at, now, window_ms) {
                return Err(ApiError::Conflict(format!(
                    "The dispute window closed {} hours after completion",
                    window_ms / 3_600_000
                )));
            }
            if store::has_resolved_dispute(tx, &b.id)? {
                return Err(ApiError::Conflict(
                    "This booking's dispute was already resolved".into(),
                ));
            }
            let after = store::apply_move(
                tx,
                &b,
                &Move {
                    action: Action::Dispute,
                    relation,
                    to,
                    actor_id: &account.id,
                    reason: Some(&reason),
                    assign_to: None,
                    cancellation_fee_minor: 0,
                },
            )?;
            let d = store::Dispute {
                id: new_id(),
                raised_by: account.id.clone(),
                raised_at: now,
                from_status: b.status.as_str().to_string(),
                reason,
                description,
                evidence,
                status: "open".into(),
                resolution: None,
                outcome: None,
                refund_amount_minor: None,
                resolution_notes: None,
                resolved_by: None,
                resolved_at: None,
            };
            store::open_dispute(tx, &b.id, &d)?;
            Ok((
                document::dispute_json(&d),
                document::render(tx, &base, &after, View::Full)?,
            ))
        })
        .await?;
    Ok(Json(json!({
        "success": true,
        "message": "Dispute created successfully. Admin will review shortly.",
        "dispute": dispute,
        "booking": booking,
    })))
}

/// `PUT /bookings/:id/dispute/resolve`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolveDisputeBody {
    /// customer_favor (refund), technician_favor, partial_refund (refund refundAmount), no_action.
    resolution: Option<String>,
    /// `completed` or `refunded`, instead of resolution.
    outcome: Option<String>,
    resolution_notes: Option<String>,
    /// Major units; with a refund, the amount to refund (default: all of it).
    #[schema(value_type = Option<f64>)]
    refund_amount: Option<Value>,
}

/// Resolve an open dispute (admins): the booking becomes `completed` or
/// `refunded`, and a `booking.dispute_resolved` event tells payments what
/// to do with the money.
#[utoipa::path(put, path = "/{id}/dispute/resolve", tag = "bookings", request_body = ResolveDisputeBody, security(("bearer" = [])),
    params(("id" = String, Path, description = "Booking id")),
    responses((status = 200, body = BookingDisputeResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn resolve_dispute(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<ResolveDisputeBody>,
) -> ApiResult<Json<Value>> {
    user.require_role(&[Role::Admin])?;
    let mut errors = Vec::new();
    let resolution = match (
        text(&body.resolution).as_str(),
        text(&body.outcome).as_str(),
    ) {
        ("", "completed") => Some(Resolution::TechnicianFavor),
        ("", "refunded") => Some(Resolution::CustomerFavor),
        (r, _) => Resolution::parse(r),
    };
    check(
        &mut errors,
        resolution.is_some(),
        "resolution",
        "Valid resolution is required",
    );
    let notes = text(&body.resolution_notes);
    check(
        &mut errors,
        !notes.is_empty(),
        "resolutionNotes",
        "Resolution notes are required",
    );
    check(
        &mut errors,
        notes.chars().count() <= 2000,
        "resolutionNotes",
        "Resolution notes are at most 2000 characters",
    );
    let refund = match body.refund_amount.as_ref().filter(|v| !v.is_null()) {
        None => None,
        Some(v) => match model::parse_money_minor(v) {
            Ok(m) => Some(m),
            Err(e) => {
                check(
                    &mut errors,
                    false,
                    "refundAmount",
                    &format!("Refund amount {e}"),
                );
                None
            }
        },
    };
    if let Some(r) = resolution {
        match r.action() {
            Action::ResolveCompleted => check(
                &mut errors,
                refund.unwrap_or(0) == 0,
                "refundAmount",
                "Nothing is refunded when the job stands",
            ),
            _ if r == Resolution::PartialRefund => check(
                &mut errors,
                refund.is_some_and(|m| m > 0),
                "refundAmount",
                "A partial refund needs a refund amount",
            ),
            _ => {}
        }
    }
    finish(errors)?;
    let Some(resolution) = resolution else {
        return Err(ApiError::field(
            "resolution",
            "Valid resolution is required",
        ));
    };
    let action = resolution.action();
    let refund = if action == Action::ResolveRefunded {
        refund
    } else {
        None
    };
    let id = booking_id(&id)?;
    let account = user.0.clone();
    let base = state.config.public_url.clone();
    let (dispute, booking) = state
        .db
        .write(move |tx| {
            let (b, relation) = load_visible(tx, &id, &account)?;
            let to = model::transition(b.status, relation, action).map_err(refusal)?;
            if let Some(r) = refund {
                if r > b.total_minor {
                    return Err(ApiError::field(
                        "refundAmount",
                        format!(
                            "The refund cannot exceed the booking's total of {} {}",
                            model::major(b.total_minor),
                            b.currency
                        ),
                    ));
                }
            }
            let after = store::apply_move(
                tx,
                &b,
                &Move {
                    action,
                    relation,
                    to,
                    actor_id: &account.id,
                    reason: Some(&notes),
                    assign_to: None,
                    cancellation_fee_minor: 0,
                },
            )?;
            let d = store::resolve_dispute(
                tx,
                &after,
                resolution.as_str(),
                to,
                refund,
                &notes,
                &account.id,
            )?;
            Ok((
                d.as_ref().map(document::dispute_json),
                document::render(tx, &base, &after, View::Full)?,
            ))
        })
        .await?;
    Ok(Json(json!({
        "success": true,
        "message": "Dispute resolved successfully",
        "dispute": dispute,
        "booking": booking,
    })))
}
