//! The Transaction document as clients read it: the original model's keys
//! (amounts in major units), payer and payee populated, plus the
//! references of the gateway it went through.

use std::collections::HashMap;

use rusqlite::Connection;
use serde_json::{json, Value};

use crate::error::ApiResult;
use crate::ids::{iso, iso_opt};
use crate::payments::model::{major, Gateway, Stage};
use crate::payments::store::TxRow;

/// Who is looking and how much to show.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    pub viewer_id: &'a str,
    /// A single transaction: users with their phone number.
    pub detail: bool,
}

/// Populated users of one response, looked up once each.
#[derive(Default)]
pub struct Users(HashMap<String, Value>);

impl Users {
    fn get(&mut self, conn: &Connection, id: &str, detail: bool) -> ApiResult<Value> {
        if let Some(v) = self.0.get(id) {
            return Ok(v.clone());
        }
        let v = match crate::auth::store::find_by_id(conn, id)? {
            Some(a) => {
                let mut v = json!({
                    "_id": a.id,
                    "id": a.id,
                    "firstName": a.first_name,
                    "lastName": a.last_name,
                    "fullName": format!("{} {}", a.first_name, a.last_name),
                    "email": a.email,
                });
                if detail {
                    v["phoneNumber"] = json!(a.phone);
                }
                v
            }
            // A user that no longer exists shows as its id (never a 500).
            None => json!(id),
        };
        self.0.insert(id.to_string(), v.clone());
        Ok(v)
    }
}

/// The document of `tx` for `view`.
pub fn transaction_json(
    conn: &Connection,
    tx: &TxRow,
    view: View,
    users: &mut Users,
) -> ApiResult<Value> {
    let payer = users.get(conn, &tx.payer_id, view.detail)?;
    let payee = match tx.payee_id.as_deref() {
        Some(p) => users.get(conn, p, view.detail)?,
        None => Value::Null,
    };
    let booking = match tx.booking_id.as_deref() {
        Some(b) => match crate::bookings::store::find_parties(conn, b)? {
            Some(parties) => {
                json!({"_id": parties.id, "id": parties.id, "bookingNumber": parties.booking_number,
                   "serviceType": parties.service_type, "status": parties.status})
            }
            None => json!(b),
        },
        None => Value::Null,
    };
    let status = tx.status.as_str();
    let processing_time = tx
        .completed_at
        .map(|done| (done - tx.initiated_at).max(0) / 1000);
    let mut doc = json!({
        "_id": tx.id,
        "id": tx.id,
        "transactionNumber": tx.number,
        "externalTransactionId": tx.external_id,
        "payer": payer,
        "payee": payee,
        "booking": booking,
        "parentTransaction": tx.parent_id,
        "type": tx.kind.as_str(),
        "amount": {
            "gross": major(tx.gross),
            "platformFee": major(tx.fee),
            "processingFee": 0,
            "tax": 0,
            "net": major(tx.net),
            "currency": tx.currency,
        },
        "paymentMethod": tx.method.as_str(),
        "status": status,
        "initiatedAt": iso(tx.initiated_at),
        "processedAt": iso_opt(tx.processed_at),
        "completedAt": iso_opt(tx.completed_at),
        "failedAt": iso_opt(tx.failed_at),
        "failureReason": tx.failure_reason,
        "failureCode": tx.failure_code,
        "description": tx.description,
        "notes": tx.notes,
        "webhookData": {
            "received": tx.webhook_received_at.is_some(),
            "receivedAt": iso_opt(tx.webhook_received_at),
            "verified": tx.webhook_verified,
        },
        "settlement": {"scheduled": false},
        "splits": [],
        "escrow": {
            "held": tx.escrow_held,
            "heldAt": iso_opt(tx.escrow_held_at),
            "releasedAt": iso_opt(tx.escrow_released_at),
            "releaseCondition": tx.escrow_release_condition,
        },
        "receipt": {"generated": false},
        "invoice": {"generated": false},
        "reconciliation": {"reconciled": false},
        "metadata": {"location": {"coordinates": []}},
        "fraudCheck": {"flagged": false, "reasons": []},
        "isPending": matches!(status, "initiated" | "pending" | "processing"),
        "isSuccessful": status == "completed",
        "isFailed": matches!(status, "failed" | "cancelled" | "expired"),
        "processingTime": processing_time,
        "createdAt": iso(tx.created_at),
        "updatedAt": iso(tx.updated_at),
        "__v": 0,
    });
    let obj = doc.as_object_mut().expect("object");
    let was_mpesa = tx.mpesa_checkout_request_id.is_some() || tx.mpesa_conversation_id.is_some();
    if tx.method == Gateway::Mpesa || was_mpesa {
        obj.insert(
            "mpesaDetails".into(),
            json!({
                "merchantRequestId": tx.mpesa_merchant_request_id,
                "checkoutRequestId": tx.mpesa_checkout_request_id,
                "conversationId": tx.mpesa_conversation_id,
                "mpesaReceiptNumber": tx.mpesa_receipt,
                "phoneNumber": tx.phone,
                "transactionDate": tx.mpesa_transaction_date,
                "resultCode": tx.mpesa_result_code,
                "resultDescription": tx.mpesa_result_desc,
            }),
        );
    }
    if tx.method == Gateway::Stripe || tx.stripe_payment_intent_id.is_some() {
        let awaiting = matches!(tx.stage, Stage::Pending | Stage::Processing);
        let secret = tx
            .stripe_client_secret
            .clone()
            .filter(|_| awaiting && tx.payer_id == view.viewer_id);
        obj.insert(
            "stripeDetails".into(),
            json!({
                "paymentIntentId": tx.stripe_payment_intent_id,
                "chargeId": tx.stripe_charge_id,
                "refundId": tx.stripe_refund_id,
                "clientSecret": secret,
            }),
        );
    }
    if tx.refunded > 0 {
        obj.insert(
            "refund".into(),
            json!({
                "amount": major(tx.refunded),
                "reason": tx.refund_reason,
                "refundedAt": iso_opt(tx.refunded_at),
                "refundedBy": tx.refunded_by,
                "status": tx.refund_status,
                "transactionId": tx.refund_transaction_id,
            }),
        );
    }
    Ok(doc)
}
