//! The Booking document as clients read it: the original model's keys
//! (`bookingNumber`, `serviceLocation`, `timeSlot`, `pricing`,
//! `statusHistory`...), the spec's `scheduledDate`, customer and technician
//! populated, and, in the full view, the timeline, line items, pricing
//! history, QA checkpoints and dispute.

use std::collections::HashMap;

use rusqlite::Connection;
use serde::{Serialize, Serializer};
use serde_json::{json, Map, Value};

use crate::auth::store::{Account, DEFAULT_AVATAR};
use crate::bookings::model::{self, major, Status};
use crate::bookings::store::{self, BookingRow, Checkpoint, Dispute, HistoryEntry};
use crate::error::ApiResult;
use crate::ids::{iso, iso_opt, now_ms};

/// How much of a booking to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Lists: the booking with its status history, parties as cards.
    Summary,
    /// One booking: also the timeline, line items, pricing history, QA
    /// checkpoints, dispute, and the parties' email and location.
    Full,
}

/// The customer's card (lists and creation).
fn customer_card(a: &Account) -> Value {
    json!({
        "_id": a.id,
        "id": a.id,
        "firstName": a.first_name,
        "lastName": a.last_name,
        "fullName": format!("{} {}", a.first_name, a.last_name),
        "phoneNumber": a.phone,
        "profilePicture": {"url": a.profile_picture_url.clone().unwrap_or_else(|| DEFAULT_AVATAR.to_string())},
        "role": a.role.as_str(),
    })
}

/// The populated `customer`: the card of lists, plus email and location in the full view.
fn customer_json(conn: &Connection, id: &str, view: View) -> ApiResult<Value> {
    let Some(a) = crate::auth::store::find_by_id(conn, id)? else {
        return Ok(json!({"_id": id, "id": id}));
    };
    let mut doc = customer_card(&a);
    if view == View::Full {
        let location = crate::users::document::user_document(
            conn,
            id,
            crate::users::document::Viewer::Public,
        )?
        .map(|d| d["location"].clone())
        .unwrap_or(Value::Null);
        let obj = doc.as_object_mut().expect("object");
        obj.insert("email".into(), json!(a.email));
        obj.insert("location".into(), location);
    }
    Ok(doc)
}

/// The populated `technician` of `ids`, by id: in lists the original's
/// fields (`firstName lastName phoneNumber profilePicture rating skills`),
/// in the full view the whole card with email and location.
fn technician_cards(
    conn: &Connection,
    ids: &[String],
    view: View,
) -> ApiResult<HashMap<String, Value>> {
    let mut out = HashMap::new();
    for t in crate::users::technician::find_many(conn, ids)? {
        let card = match view {
            View::Summary => json!({
                "_id": t.id,
                "id": t.id,
                "firstName": t.first_name,
                "lastName": t.last_name,
                "fullName": format!("{} {}", t.first_name, t.last_name),
                "phoneNumber": t.phone,
                "profilePicture": {"url": t.profile_picture.clone().unwrap_or_else(|| DEFAULT_AVATAR.to_string())},
                "rating": {"average": t.rating_avg, "count": t.rating_count},
                "skills": t.skills,
            }),
            View::Full => {
                let mut card = t.card_json();
                let email = crate::auth::store::find_by_id(conn, &t.id)?.map(|a| a.email);
                let obj = card.as_object_mut().expect("object");
                obj.insert("email".into(), json!(email));
                obj.insert(
                    "location".into(),
                    t.location
                        .map(|(lng, lat)| json!({"type": "Point", "coordinates": [lng, lat]}))
                        .unwrap_or(Value::Null),
                );
                card
            }
        };
        out.insert(t.id.clone(), card);
    }
    Ok(out)
}

/// One timeline entry: `{status, from, action, changedBy, changedAt, reason, notes}`.
pub fn history_json(h: &HistoryEntry) -> Value {
    json!({
        "status": h.to.as_str(),
        "from": h.from.map(Status::as_str),
        "action": h.action,
        "changedBy": h.actor_id,
        "changedAt": iso(h.at),
        "reason": h.reason,
        "notes": h.reason.clone().unwrap_or_default(),
    })
}

/// One stored line item: `{_id, kind, description, quantity, unitPrice, amount}`.
pub fn item_json(booking_id: &str, s: &store::StoredItem) -> Value {
    json!({
        "_id": format!("{booking_id}-{}", s.position),
        "kind": s.item.kind.as_str(),
        "description": s.item.description,
        "quantity": s.item.quantity,
        "unitPrice": major(s.item.unit_minor),
        "amount": major(s.amount_minor),
    })
}

/// One pricing history entry, amounts in major units.
pub fn pricing_change_json(c: &store::PricingChange) -> Value {
    let items: Vec<Value> = c
        .items
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| {
                    json!({
                        "kind": i["kind"],
                        "description": i["description"],
                        "quantity": i["quantity"],
                        "unitPrice": major(i["unitMinor"].as_i64().unwrap_or(0)),
                        "amount": major(i["amountMinor"].as_i64().unwrap_or(0)),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "changedBy": c.actor_id,
        "changedAt": iso(c.at),
        "items": items,
        "subtotal": major(c.subtotal_minor),
        "platformFee": major(c.platform_fee_minor),
        "totalAmount": major(c.total_minor),
        "currency": c.currency,
        "note": c.note,
    })
}

/// The `materialsUsed` view of the parts and materials lines.
fn materials_json(booking_id: &str, items: &[store::StoredItem]) -> Value {
    Value::Array(
        items
            .iter()
            .filter(|s| {
                matches!(
                    s.item.kind,
                    model::ItemKind::Parts | model::ItemKind::Materials
                )
            })
            .map(|s| {
                json!({
                    "_id": format!("{booking_id}-{}", s.position),
                    "name": s.item.description,
                    "quantity": s.item.quantity,
                    "unitPrice": major(s.item.unit_minor),
                    "totalPrice": major(s.amount_minor),
                    "providedBy": "technician",
                })
            })
            .collect(),
    )
}

/// One QA checkpoint: the issue's `name / passed / notes / photos / time`
/// plus the original's `description / images / checklist / timestamp`.
pub fn checkpoint_json(c: &Checkpoint, photos: &Photos) -> Value {
    json!({
        "_id": c.id,
        "id": c.id,
        "name": c.name,
        "description": c.name,
        "passed": c.passed,
        "status": if c.passed { "passed" } else { "failed" },
        "notes": c.notes,
        "photos": c.photo_ids,
        "images": photo_list(&c.photo_ids, photos),
        "checklist": c.checklist,
        "technician": c.technician_id,
        "timestamp": iso(c.created_at),
        "createdAt": iso(c.created_at),
    })
}

/// The `dispute` object.
pub fn dispute_json(d: &Dispute) -> Value {
    json!({
        "_id": d.id,
        "id": d.id,
        "raisedBy": d.raised_by,
        "raisedAt": iso(d.raised_at),
        "reason": d.reason,
        "description": d.description,
        "evidence": d.evidence,
        "status": d.status,
        "resolution": d.resolution,
        "outcome": d.outcome,
        "refundAmount": d.refund_amount_minor.map(major),
        "resolutionNotes": d.resolution_notes,
        "resolvedBy": d.resolved_by,
        "resolvedAt": iso_opt(d.resolved_at),
    })
}

/// Photos by media id, as the media module shows them
/// (`{type, url, publicId, thumbnail, width, height, format, size}`, or
/// `{publicId, url: null, removed: true}` once deleted), with `_id` and
/// `mediaId` added. `base` is `config.public_url`.
pub type Photos = HashMap<String, Value>;

/// The photos of `ids`, looked up through the media module.
pub fn photos(conn: &Connection, base: &str, ids: &[String]) -> ApiResult<Photos> {
    let mut wanted: Vec<String> = ids.to_vec();
    wanted.sort();
    wanted.dedup();
    let slots = crate::media::store::media_refs(conn, base, &wanted)?;
    Ok(wanted
        .into_iter()
        .zip(slots)
        .map(|(id, slot)| (id.clone(), photo_json(&id, slot.to_json())))
        .collect())
}

/// The photos of media items the caller just checked (`owned_media`).
pub fn photos_of(refs: &[crate::media::store::MediaRef]) -> Photos {
    refs.iter()
        .map(|r| (r.id.clone(), photo_json(&r.id, r.to_json())))
        .collect()
}

fn photo_json(id: &str, mut media: Value) -> Value {
    if let Some(obj) = media.as_object_mut() {
        obj.insert("_id".into(), json!(id));
        obj.insert("mediaId".into(), json!(id));
    }
    media
}

fn photo_list(ids: &[String], photos: &Photos) -> Value {
    Value::Array(
        ids.iter()
            .filter_map(|id| photos.get(id).cloned())
            .collect(),
    )
}

/// Money in minor units, written as the JSON number in major units.
#[derive(Debug, Clone, Copy)]
struct Money(i64);

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 % 100 == 0 {
            s.serialize_i64(self.0 / 100)
        } else {
            s.serialize_f64(self.0 as f64 / 100.0)
        }
    }
}

/// An optional timestamp written as ISO 8601, or null.
#[derive(Debug, Clone, Copy)]
struct Time(Option<i64>);

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(ms) => s.serialize_str(&iso(ms)),
            None => s.serialize_none(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LocationDoc<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    coordinates: Vec<f64>,
    address: Option<&'a str>,
    city: Option<&'a str>,
    county: Option<&'a str>,
    landmarks: Option<&'a str>,
    access_instructions: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TimeSlotDoc {
    date: Time,
    start_time: String,
    end_time: String,
    estimated_duration: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HistoryDoc<'a> {
    status: &'static str,
    from: Option<&'static str>,
    action: &'a str,
    changed_by: Option<&'a str>,
    changed_at: Time,
    reason: Option<&'a str>,
    notes: &'a str,
}

impl<'a> From<&'a HistoryEntry> for HistoryDoc<'a> {
    fn from(h: &'a HistoryEntry) -> Self {
        HistoryDoc {
            status: h.to.as_str(),
            from: h.from.map(Status::as_str),
            action: &h.action,
            changed_by: h.actor_id.as_deref(),
            changed_at: Time(Some(h.at)),
            reason: h.reason.as_deref(),
            notes: h.reason.as_deref().unwrap_or(""),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PricingDoc<'a> {
    base_price: Money,
    service_charge: Money,
    materials_total: Money,
    additional_costs: Money,
    discount: Money,
    tax: Money,
    subtotal: Money,
    platform_fee: Money,
    total_amount: Money,
    technician_earnings: Money,
    currency: &'a str,
    updated_at: Time,
}

impl<'a> From<&'a BookingRow> for PricingDoc<'a> {
    fn from(b: &'a BookingRow) -> Self {
        let p = b.pricing();
        PricingDoc {
            base_price: Money(p.labour_minor),
            service_charge: Money(p.labour_minor),
            materials_total: Money(p.materials_minor),
            additional_costs: Money(p.transport_minor),
            discount: Money(p.discount_minor),
            tax: Money(0),
            subtotal: Money(p.subtotal_minor),
            platform_fee: Money(p.platform_fee_minor),
            total_amount: Money(p.total_minor),
            technician_earnings: Money(p.technician_earnings_minor()),
            currency: &b.currency,
            updated_at: Time(b.priced_at),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MatchDoc {
    match_score: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CancellationDoc<'a> {
    cancelled_by: Option<&'a str>,
    cancelled_at: Time,
    reason: Option<&'a str>,
    cancellation_fee: Money,
}

/// The booking document, borrowing from its row, parties and timeline, and
/// serialised straight to the response (no intermediate JSON tree).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Doc<'a> {
    #[serde(rename = "_id")]
    underscore_id: &'a str,
    id: &'a str,
    booking_number: &'a str,
    customer: &'a Value,
    technician: &'a Value,
    service_category: &'a str,
    service_type: &'a str,
    description: &'a str,
    urgency: &'a str,
    images: Vec<&'a Value>,
    photos: &'a [String],
    service_location: LocationDoc<'a>,
    scheduled_date: Time,
    time_slot: Option<TimeSlotDoc>,
    actual_start_time: Time,
    actual_end_time: Time,
    actual_duration: Option<i64>,
    duration_in_hours: Option<String>,
    status: &'static str,
    status_history: Vec<HistoryDoc<'a>>,
    pricing: PricingDoc<'a>,
    budget: Option<Money>,
    source: &'a str,
    assigned_at: Time,
    accepted_at: Time,
    completed_at: Time,
    is_upcoming: bool,
    is_active: bool,
    is_past_due: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    matching_details: Option<MatchDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cancellation: Option<CancellationDoc<'a>>,
    created_at: Time,
    updated_at: Time,
}

fn doc<'a>(
    b: &'a BookingRow,
    customer: &'a Value,
    technician: &'a Value,
    history: &'a [HistoryEntry],
    photos: &'a Photos,
    now: i64,
) -> Doc<'a> {
    let offset = b.utc_offset_mins;
    let actual_duration = b
        .started_at
        .zip(b.completed_at)
        .map(|(s, e)| ((e - s).max(0) as f64 / 60_000.0).round() as i64);
    Doc {
        underscore_id: &b.id,
        id: &b.id,
        booking_number: &b.booking_number,
        customer,
        technician,
        service_category: &b.service_category,
        service_type: &b.service_type,
        description: &b.description,
        urgency: &b.urgency,
        images: b.photo_ids.iter().filter_map(|id| photos.get(id)).collect(),
        photos: &b.photo_ids,
        service_location: LocationDoc {
            kind: "Point",
            coordinates: b
                .location
                .map(|(lng, lat)| vec![lng, lat])
                .unwrap_or_default(),
            address: b.address.as_deref(),
            city: b.city.as_deref(),
            county: b.county.as_deref(),
            landmarks: b.landmarks.as_deref(),
            access_instructions: b.access_instructions.as_deref(),
        },
        scheduled_date: Time(b.scheduled_at),
        time_slot: b.scheduled_at.map(|at| TimeSlotDoc {
            date: Time(Some(at)),
            start_time: model::local_hhmm(at, offset),
            end_time: model::local_hhmm(at + b.estimated_duration_mins * 60_000, offset),
            estimated_duration: b.estimated_duration_mins,
        }),
        actual_start_time: Time(b.started_at),
        actual_end_time: Time(b.completed_at),
        actual_duration,
        duration_in_hours: actual_duration.map(|m| format!("{:.2}", m as f64 / 60.0)),
        status: b.status.as_str(),
        status_history: history.iter().map(HistoryDoc::from).collect(),
        pricing: PricingDoc::from(b),
        budget: b.budget_minor.map(Money),
        source: &b.source,
        assigned_at: Time(b.assigned_at),
        accepted_at: Time(b.accepted_at),
        completed_at: Time(b.completed_at),
        is_upcoming: b.scheduled_at.is_some_and(|at| at > now) && b.status.is_upcoming(),
        is_active: b.status.is_active(),
        is_past_due: b.scheduled_at.is_some_and(|at| at < now) && !b.status.is_settled(),
        matching_details: b.match_score.map(|match_score| MatchDoc { match_score }),
        cancellation: b.cancelled_at.map(|_| CancellationDoc {
            cancelled_by: b.cancelled_by.as_deref(),
            cancelled_at: Time(b.cancelled_at),
            reason: b.cancellation_reason.as_deref(),
            cancellation_fee: Money(b.cancellation_fee_minor.unwrap_or(0)),
        }),
        created_at: Time(Some(b.created_at)),
        updated_at: Time(Some(b.updated_at)),
    }
}

/// The booking document from its row, its populated parties and timeline
/// (`now` decides the time-based flags).
pub fn booking_json(
    b: &BookingRow,
    customer: Value,
    technician: Value,
    history: &[HistoryEntry],
    photos: &Photos,
    now: i64,
) -> Value {
    serde_json::to_value(doc(b, &customer, &technician, history, photos, now))
        .unwrap_or(Value::Null)
}

/// A page of booking documents with what they show of their parties and
/// timelines; serialises as the array of documents, without building an
/// intermediate JSON tree.
pub struct Summaries {
    rows: Vec<BookingRow>,
    customers: HashMap<String, Value>,
    technicians: HashMap<String, Value>,
    histories: HashMap<String, Vec<HistoryEntry>>,
    photos: Photos,
    now: i64,
}

impl Summaries {
    /// Documents on this page.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the page is empty.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl Serialize for Summaries {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let missing = Value::Null;
        let none: Vec<HistoryEntry> = Vec::new();
        let mut seq = s.serialize_seq(Some(self.rows.len()))?;
        for b in &self.rows {
            let customer = self.customers.get(&b.customer_id).unwrap_or(&missing);
            let technician = b
                .technician_id
                .as_ref()
                .and_then(|t| self.technicians.get(t))
                .unwrap_or(&missing);
            let history = self.histories.get(&b.id).unwrap_or(&none);
            seq.serialize_element(&doc(
                b,
                customer,
                technician,
                history,
                &self.photos,
                self.now,
            ))?;
        }
        seq.end()
    }
}

/// Loads what a page of bookings shows of its parties and timelines, in a
/// few queries: one per distinct customer, two for all technicians, one
/// for all timelines, one per photo.
pub fn summaries(conn: &Connection, base: &str, rows: Vec<BookingRow>) -> ApiResult<Summaries> {
    let ids: Vec<&str> = rows.iter().map(|b| b.id.as_str()).collect();
    let histories = store::histories(conn, &ids)?;
    let mut customers: HashMap<String, Value> = HashMap::new();
    for b in &rows {
        if !customers.contains_key(&b.customer_id) {
            customers.insert(
                b.customer_id.clone(),
                customer_json(conn, &b.customer_id, View::Summary)?,
            );
        }
    }
    let mut tech_ids: Vec<String> = rows
        .iter()
        .filter_map(|b| b.technician_id.clone())
        .collect();
    tech_ids.sort();
    tech_ids.dedup();
    let mut technicians = technician_cards(conn, &tech_ids, View::Summary)?;
    for t in tech_ids {
        technicians
            .entry(t.clone())
            .or_insert_with(|| json!({"_id": t, "id": t}));
    }
    let photo_ids: Vec<String> = rows
        .iter()
        .flat_map(|b| b.photo_ids.iter().cloned())
        .collect();
    let photos = photos(conn, base, &photo_ids)?;
    Ok(Summaries {
        rows,
        customers,
        technicians,
        histories,
        photos,
        now: now_ms(),
    })
}

/// The summary document of a booking just created by `customer` (with the
/// technician it names), built from what the caller holds: no query.
pub fn render_created(
    b: &BookingRow,
    customer: &Account,
    technician: Option<&crate::users::technician::Technician>,
    photos: &Photos,
) -> Value {
    let first = HistoryEntry {
        from: None,
        to: b.status,
        action: "create".into(),
        actor_id: Some(customer.id.clone()),
        reason: None,
        at: b.created_at,
    };
    booking_json(
        b,
        customer_card(customer),
        technician.map(|t| t.card_json()).unwrap_or(Value::Null),
        &[first],
        photos,
        now_ms(),
    )
}

/// The document of one booking in `view`.
pub fn render(conn: &Connection, base: &str, b: &BookingRow, view: View) -> ApiResult<Value> {
    let customer = customer_json(conn, &b.customer_id, view)?;
    let technician = match &b.technician_id {
        Some(t) => technician_cards(conn, std::slice::from_ref(t), view)?
            .remove(t)
            .unwrap_or_else(|| json!({"_id": t, "id": t})),
        None => Value::Null,
    };
    let history = store::histories(conn, &[b.id.as_str()])?
        .remove(&b.id)
        .unwrap_or_default();
    let checkpoints = match view {
        View::Full => store::checkpoints(conn, &b.id)?,
        View::Summary => Vec::new(),
    };
    let mut photo_ids = b.photo_ids.clone();
    photo_ids.extend(checkpoints.iter().flat_map(|c| c.photo_ids.iter().cloned()));
    let photos = photos(conn, base, &photo_ids)?;
    let mut doc = booking_json(b, customer, technician, &history, &photos, now_ms());
    if view == View::Full {
        let items = store::price_items(conn, &b.id)?;
        let obj = doc.as_object_mut().expect("object");
        let mut pricing: Map<String, Value> =
            obj["pricing"].as_object().cloned().unwrap_or_default();
        pricing.insert(
            "items".into(),
            Value::Array(items.iter().map(|s| item_json(&b.id, s)).collect()),
        );
        obj.insert("pricing".into(), Value::Object(pricing));
        obj.insert("materialsUsed".into(), materials_json(&b.id, &items));
        obj.insert(
            "pricingHistory".into(),
            Value::Array(
                store::pricing_history(conn, &b.id)?
                    .iter()
                    .map(pricing_change_json)
                    .collect(),
            ),
        );
        obj.insert(
            "timeline".into(),
            Value::Array(history.iter().map(history_json).collect()),
        );
        obj.insert(
            "qualityAssurance".into(),
            json!({"checkpoints": checkpoints.iter().map(|c| checkpoint_json(c, &photos)).collect::<Vec<_>>()}),
        );
        if let Some(d) = store::latest_dispute(conn, &b.id)? {
            obj.insert("dispute".into(), dispute_json(&d));
        }
    }
    Ok(doc)
}

/// The full document of the booking `id`, for other modules that answer
/// with a booking (matching's accept), or `None`. `base` is `config.public_url`.
pub fn document(conn: &Connection, base: &str, id: &str) -> ApiResult<Option<Value>> {
    match store::find(conn, id)? {
        Some(b) => Ok(Some(render(conn, base, &b, View::Full)?)),
        None => Ok(None),
    }
}
