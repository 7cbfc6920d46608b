//! The Booking document as clients read it: the original model's keys
//! (`bookingNumber`, `serviceLocation`, `timeSlot`, `pricing`,
//! `statusHistory`...), the spec's `scheduledDate`, customer and technician
//! populated, and, in the full view, the timeline, line items, pricing
//! history, QA checkpoints and dispute.

use std::collections::HashMap;

use rusqlite::Connection;
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

/// The populated `technician` cards of `ids`, by id.
fn technician_cards(
    conn: &Connection,
    ids: &[String],
    view: View,
) -> ApiResult<HashMap<String, Value>> {
    let mut out = HashMap::new();
    for t in crate::users::technician::find_many(conn, ids)? {
        let mut card = t.card_json();
        if view == View::Full {
            let email = crate::auth::store::find_by_id(conn, &t.id)?.map(|a| a.email);
            let obj = card.as_object_mut().expect("object");
            obj.insert("email".into(), json!(email));
            obj.insert(
                "location".into(),
                t.location
                    .map(|(lng, lat)| json!({"type": "Point", "coordinates": [lng, lat]}))
                    .unwrap_or(Value::Null),
            );
        }
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

/// The `pricing` object: the model's keys plus the breakdown.
pub fn pricing_json(b: &BookingRow) -> Value {
    let p = b.pricing();
    json!({
        "basePrice": major(p.labour_minor),
        "serviceCharge": major(p.labour_minor),
        "materialsTotal": major(p.materials_minor),
        "additionalCosts": major(p.transport_minor),
        "discount": major(p.discount_minor),
        "tax": 0,
        "subtotal": major(p.subtotal_minor),
        "platformFee": major(p.platform_fee_minor),
        "totalAmount": major(p.total_minor),
        "technicianEarnings": major(p.technician_earnings_minor()),
        "currency": b.currency,
        "updatedAt": iso_opt(b.priced_at),
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
pub fn checkpoint_json(c: &Checkpoint) -> Value {
    json!({
        "_id": c.id,
        "id": c.id,
        "name": c.name,
        "description": c.name,
        "passed": c.passed,
        "status": if c.passed { "passed" } else { "failed" },
        "notes": c.notes,
        "photos": c.photo_ids,
        "images": photos_json(&c.photo_ids),
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

/// Photos as the model's `images` (`{_id, publicId, mediaId}`); the media
/// module serves them by id.
fn photos_json(ids: &[String]) -> Value {
    Value::Array(
        ids.iter()
            .map(|id| json!({"_id": id, "publicId": id, "mediaId": id}))
            .collect(),
    )
}

/// The booking document from its row, its populated parties and timeline
/// (`now` decides the time-based flags).
pub fn booking_json(
    b: &BookingRow,
    customer: Value,
    technician: Value,
    history: &[HistoryEntry],
    now: i64,
) -> Value {
    let offset = b.utc_offset_mins;
    let time_slot = b.scheduled_at.map(|at| {
        json!({
            "date": iso(at),
            "startTime": model::local_hhmm(at, offset),
            "endTime": model::local_hhmm(at + b.estimated_duration_mins * 60_000, offset),
            "estimatedDuration": b.estimated_duration_mins,
        })
    });
    let actual_duration = b
        .started_at
        .zip(b.completed_at)
        .map(|(s, e)| ((e - s).max(0) as f64 / 60_000.0).round() as i64);
    let mut doc = json!({
        "_id": b.id,
        "id": b.id,
        "bookingNumber": b.booking_number,
        "customer": customer,
        "technician": technician,
        "serviceCategory": b.service_category,
        "serviceType": b.service_type,
        "description": b.description,
        "urgency": b.urgency,
        "images": photos_json(&b.photo_ids),
        "photos": b.photo_ids,
        "serviceLocation": {
            "type": "Point",
            "coordinates": b.location.map(|(lng, lat)| vec![lng, lat]).unwrap_or_default(),
            "address": b.address,
            "city": b.city,
            "county": b.county,
            "landmarks": b.landmarks,
            "accessInstructions": b.access_instructions,
        },
        "scheduledDate": iso_opt(b.scheduled_at),
        "timeSlot": time_slot,
        "actualStartTime": iso_opt(b.started_at),
        "actualEndTime": iso_opt(b.completed_at),
        "actualDuration": actual_duration,
        "durationInHours": actual_duration.map(|m| format!("{:.2}", m as f64 / 60.0)),
        "status": b.status.as_str(),
        "statusHistory": history.iter().map(history_json).collect::<Vec<_>>(),
        "pricing": pricing_json(b),
        "budget": b.budget_minor.map(major),
        "source": b.source,
        "assignedAt": iso_opt(b.assigned_at),
        "acceptedAt": iso_opt(b.accepted_at),
        "completedAt": iso_opt(b.completed_at),
        "isUpcoming": b.scheduled_at.is_some_and(|at| at > now) && b.status.is_upcoming(),
        "isActive": b.status.is_active(),
        "isPastDue": b.scheduled_at.is_some_and(|at| at < now) && !b.status.is_settled(),
        "createdAt": iso(b.created_at),
        "updatedAt": iso(b.updated_at),
    });
    let obj = doc.as_object_mut().expect("object");
    if let Some(score) = b.match_score {
        obj.insert("matchingDetails".into(), json!({"matchScore": score}));
    }
    if b.cancelled_at.is_some() {
        obj.insert(
            "cancellation".into(),
            json!({
                "cancelledBy": b.cancelled_by,
                "cancelledAt": iso_opt(b.cancelled_at),
                "reason": b.cancellation_reason,
                "cancellationFee": major(b.cancellation_fee_minor.unwrap_or(0)),
            }),
        );
    }
    doc
}

/// Documents for a page of bookings, parties and timelines loaded in a
/// few queries (one per distinct customer, two for all technicians, one
/// for all timelines).
pub fn summaries(conn: &Connection, rows: &[BookingRow]) -> ApiResult<Vec<Value>> {
    let now = now_ms();
    let ids: Vec<&str> = rows.iter().map(|b| b.id.as_str()).collect();
    let mut histories = store::histories(conn, &ids)?;
    let mut customers: HashMap<&str, Value> = HashMap::new();
    for b in rows {
        if !customers.contains_key(b.customer_id.as_str()) {
            customers.insert(
                &b.customer_id,
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
    let techs = technician_cards(conn, &tech_ids, View::Summary)?;
    Ok(rows
        .iter()
        .map(|b| {
            let tech = b
                .technician_id
                .as_ref()
                .map(|t| {
                    techs
                        .get(t)
                        .cloned()
                        .unwrap_or_else(|| json!({"_id": t, "id": t}))
                })
                .unwrap_or(Value::Null);
            let history = histories.remove(&b.id).unwrap_or_default();
            booking_json(
                b,
                customers
                    .get(b.customer_id.as_str())
                    .cloned()
                    .unwrap_or(Value::Null),
                tech,
                &history,
                now,
            )
        })
        .collect())
}

/// The summary document of a booking just created by `customer` (with the
/// technician it names), built from what the caller holds: no query.
pub fn render_created(
    b: &BookingRow,
    customer: &Account,
    technician: Option<&crate::users::technician::Technician>,
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
        now_ms(),
    )
}

/// The document of one booking in `view`.
pub fn render(conn: &Connection, b: &BookingRow, view: View) -> ApiResult<Value> {
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
    let mut doc = booking_json(b, customer, technician, &history, now_ms());
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
            json!({"checkpoints": store::checkpoints(conn, &b.id)?.iter().map(checkpoint_json).collect::<Vec<_>>()}),
        );
        if let Some(d) = store::latest_dispute(conn, &b.id)? {
            obj.insert("dispute".into(), dispute_json(&d));
        }
    }
    Ok(doc)
}

/// The full document of the booking `id`, for other modules that answer
/// with a booking (matching's accept), or `None`.
pub fn document(conn: &Connection, id: &str) -> ApiResult<Option<Value>> {
    match store::find(conn, id)? {
        Some(b) => Ok(Some(render(conn, &b, View::Full)?)),
        None => Ok(None),
    }
}
