//! Every money movement, each a function that runs inside the caller's one
//! SQLite transaction (`db.write`): the transaction record, its stage
//! change (compare-and-set), the balanced ledger entry, any job it needs and
//! its domain event commit together or not at all.
//!
//! Events emitted (subject = the transaction id): `payment.held`,
//! `payment.failed`, `payment.released`, `payment.refunded`,
//! `payment.refund_settled`, `wallet.credited`,
//! `wallet.withdrawal_requested`, `wallet.withdrawal_settled`,
//! `wallet.withdrawal_failed`.

use rusqlite::Connection;
use serde_json::{json, Value};

use crate::bookings::store::{find_parties, BookingParties};
use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::events::emit;
use crate::ids::now_ms;
use crate::payments::background::{JOB_AUTO_RELEASE, JOB_PAYOUT};
use crate::payments::ledger;
use crate::payments::model::{
    self, platform_fee, transition, wire_status, Action, FeePolicy, Gateway, Op, Refusal, Stage,
    TxType,
};
use crate::payments::store::{self, NewTx, TxRow};
use crate::providers::mpesa;

/// The fee policy configured for this process.
pub fn fee_policy(config: &Config) -> FeePolicy {
    FeePolicy::from_config(config.platform_fee_percent, config.platform_fee_minimum)
}

/// The answer a refused transition gets on the wire: 400 for requests that
/// can never apply to this transaction, 409 for a state that does not allow it.
pub fn refusal_error(r: Refusal) -> ApiError {
    match r.message() {
        m @ "This transaction does not use escrow" => ApiError::BadRequest(m.into()),
        m @ "Refund amount exceeds transaction amount" => ApiError::field("amount", m),
        m => ApiError::Conflict(m.into()),
    }
}

/// Who asks for a movement.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub id: &'a str,
    pub is_admin: bool,
}

fn event_payload(tx: &TxRow) -> Value {
    json!({
        "transactionId": tx.id,
        "type": tx.kind.as_str(),
        "bookingId": tx.booking_id,
        "payerId": tx.payer_id,
        "payeeId": tx.payee_id,
        "amount": model::major(tx.gross),
        "currency": tx.currency,
        "paymentMethod": tx.method.as_str(),
    })
}

fn reload(conn: &Connection, id: &str) -> ApiResult<TxRow> {
    store::find(conn, id)?.ok_or_else(|| ApiError::not_found("Transaction"))
}

/// Queues the automatic release of a completed booking's escrow for
/// `escrow_release_delay_secs` after its completion (or now, if that passed).
pub fn schedule_auto_release(
    conn: &Connection,
    config: &Config,
    booking: &BookingParties,
) -> ApiResult<()> {
    if booking.status != "completed" {
        return Ok(());
    }
    let now = now_ms();
    let delay = (config.escrow_release_delay_secs as i64).saturating_mul(1000);
    let due = booking
        .completed_at
        .unwrap_or(now)
        .saturating_add(delay)
        .max(now);
    crate::jobs::enqueue(
        conn,
        JOB_AUTO_RELEASE,
        &json!({"bookingId": booking.id}),
        Some(due),
    )?;
    Ok(())
}

// ------------------------------------------------------------------ payments

/// A payment or top-up a client asks for (already validated in shape).
#[derive(Debug, Clone)]
pub struct PaymentRequest {
    pub kind: TxType,
    pub method: Gateway,
    pub booking_id: Option<String>,
    pub currency: Option<&'static str>,
    pub amount: i64,
    pub description: Option<String>,
    /// E.164, for M-Pesa (defaults to the payer's own number).
    pub phone: Option<String>,
}

/// Creates a payment. A booking payment is made by the booking's customer
/// (or an admin for them), except cash, which the booking's technician
/// records. Wallet payments land in escrow at once (400 when the wallet
/// is short); every other payment starts `pending`.
pub fn create_payment(
    conn: &Connection,
    config: &Config,
    actor: Actor,
    req: &PaymentRequest,
) -> ApiResult<TxRow> {
    let (payer_id, payee_id, booking, currency) = match req.kind {
        TxType::BookingPayment => {
            let booking_id = req
                .booking_id
                .as_deref()
                .ok_or_else(|| ApiError::field("booking", "Valid booking ID is required"))?;
            let b =
                find_parties(conn, booking_id)?.ok_or_else(|| ApiError::not_found("Booking"))?;
            let is_customer = b.customer_id == actor.id;
            let is_technician = b.technician_id.as_deref() == Some(actor.id);
            if !(is_customer || is_technician || actor.is_admin) {
                return Err(ApiError::not_found("Booking"));
            }
            if req.method == Gateway::Cash {
                if !(is_technician || actor.is_admin) {
                    return Err(ApiError::Forbidden(
                        "Only the booking's technician records a cash payment".into(),
                    ));
                }
                if b.technician_id.is_none() {
                    return Err(ApiError::Conflict(
                        "The booking has no technician to receive cash".into(),
                    ));
                }
            } else if !(is_customer || actor.is_admin) {
                return Err(ApiError::Forbidden(
                    "Not authorized to create payment for this booking".into(),
                ));
            }
            if matches!(b.status.as_str(), "cancelled" | "refunded") {
                return Err(ApiError::Conflict(format!(
                    "Cannot pay for a {} booking",
                    b.status
                )));
            }
            if let Some(c) = req.currency {
                if c != b.currency {
                    return Err(ApiError::field(
                        "currency",
                        format!("This booking is priced in {}", b.currency),
                    ));
                }
            }
            if b.total_minor > 0 && req.amount > b.total_minor {
                return Err(ApiError::field(
                    "amount",
                    "Amount exceeds the booking total",
                ));
            }
            if b.total_minor > 0 {
                // Checked and recorded in the same write (one writer): two
                // concurrent retries cannot both pass.
                let paid = crate::payments::store::committed_for_booking(conn, booking_id)?;
                if let Some(refusal) = crate::payments::model::overpayment(
                    b.total_minor,
                    paid,
                    req.amount,
                    &b.currency,
                ) {
                    return Err(ApiError::Conflict(refusal));
                }
            }
            let currency = b.currency.clone();
            (
                b.customer_id.clone(),
                b.technician_id.clone(),
                Some(b),
                currency,
            )
        }
        TxType::WalletTopup => (
            actor.id.to_string(),
            Some(actor.id.to_string()),
            None,
            req.currency.unwrap_or("KES").to_string(),
        ),
        _ => return Err(ApiError::field("type", "Unsupported transaction type")),
    };
    let mut phone = None;
    if req.method == Gateway::Mpesa {
        if currency != "KES" {
            return Err(ApiError::field("currency", "M-Pesa payments are in KES"));
        }
        if req.amount % 100 != 0 {
            return Err(ApiError::field(
                "amount",
                "M-Pesa amounts must be whole shillings",
            ));
        }
        if req.amount > model::MPESA_MAX_MINOR {
            return Err(ApiError::field(
                "amount",
                "M-Pesa allows at most KES 250,000 per payment",
            ));
        }
        let number = match &req.phone {
            Some(p) => p.clone(),
            None => crate::auth::store::find_by_id(conn, &payer_id)?
                .map(|a| a.phone)
                .unwrap_or_default(),
        };
        if mpesa::msisdn(&number).is_none() {
            return Err(ApiError::field(
                "phoneNumber",
                "A Kenyan M-Pesa number (+2547... or 07...) is required",
            ));
        }
        phone = Some(number);
    }
    let fee = if req.kind == TxType::BookingPayment {
        platform_fee(req.amount, fee_policy(config))
    } else {
        0
    };
    let immediate = req.method == Gateway::Wallet;
    let stage = if immediate {
        Stage::Held
    } else {
        Stage::Pending
    };
    let tx = store::insert(
        conn,
        &NewTx {
            kind: req.kind,
            method: req.method,
            stage,
            status: wire_status(stage, 0, None),
            payer_id: payer_id.clone(),
            payee_id,
            booking_id: booking.as_ref().map(|b| b.id.clone()),
            parent_id: None,
            currency: currency.clone(),
            gross: req.amount,
            fee,
            description: req.description.clone(),
            recorded_by: (req.method == Gateway::Cash).then(|| actor.id.to_string()),
            phone,
        },
    )?;
    if immediate {
        let b = booking
            .as_ref()
            .ok_or_else(|| ApiError::field("gateway", "Wallet pays bookings only"))?;
        ledger::apply(
            conn,
            &Op::HoldFromWallet {
                user_id: payer_id,
                booking_id: b.id.clone(),
                amount: req.amount,
            },
            &currency,
            Some(&tx.id),
        )?;
        emit(
            conn,
            "payment.held",
            Some(&tx.id),
            Some(actor.id),
            &event_payload(&tx),
        )?;
        schedule_auto_release(conn, config, b)?;
    }
    Ok(tx)
}

/// References a gateway gave for a payment it accepted.
#[derive(Debug, Clone, Default)]
pub struct GatewayRefs {
    pub merchant_request_id: Option<String>,
    pub checkout_request_id: Option<String>,
    pub payment_intent_id: Option<String>,
    pub client_secret: Option<String>,
    pub conversation_id: Option<String>,
    pub stripe_refund_id: Option<String>,
}

fn store_refs(conn: &Connection, id: &str, refs: &GatewayRefs) -> ApiResult<()> {
    let given = [
        ("mpesa_merchant_request_id", &refs.merchant_request_id),
        ("mpesa_checkout_request_id", &refs.checkout_request_id),
        ("stripe_payment_intent_id", &refs.payment_intent_id),
        ("stripe_client_secret", &refs.client_secret),
        ("mpesa_conversation_id", &refs.conversation_id),
        ("stripe_refund_id", &refs.stripe_refund_id),
    ];
    let mut sets: Vec<store::Set> = given
        .iter()
        .filter(|(_, v)| v.is_some())
        .map(|(column, v)| (*column, *v as &dyn rusqlite::ToSql))
        .collect();
    let external = refs
        .checkout_request_id
        .clone()
        .or_else(|| refs.payment_intent_id.clone())
        .or_else(|| refs.conversation_id.clone())
        .or_else(|| refs.stripe_refund_id.clone());
    if external.is_some() {
        sets.push(("external_id", &external));
    }
    if sets.is_empty() {
        return Ok(());
    }
    store::update(conn, id, &sets)
}

/// The gateway accepted the request: `processing`, with its references.
/// A transaction that moved on meanwhile (a fast webhook) keeps its stage.
pub fn gateway_accepted(conn: &Connection, id: &str, refs: &GatewayRefs) -> ApiResult<TxRow> {
    let tx = reload(conn, id)?;
    store_refs(conn, id, refs)?;
    if let Ok(to) = transition(tx.kind, tx.stage, Action::GatewayAccepted) {
        if store::cas_stage(conn, id, tx.stage, to, wire_status(to, tx.refunded, None))? {
            store::update(conn, id, &[("processed_at", &now_ms())])?;
        }
    }
    reload(conn, id)
}

/// No credentials: the request went to the outbox. The transaction stays
/// `pending` with offline references, so a simulated callback can finish it.
pub fn gateway_offline(conn: &Connection, id: &str, refs: &GatewayRefs) -> ApiResult<TxRow> {
    store_refs(conn, id, refs)?;
    store::update(
        conn,
        id,
        &[(
            "notes",
            &"No gateway credentials configured: the request was written to the outbox",
        )],
    )?;
    reload(conn, id)
}

/// What proves that money arrived.
#[derive(Debug, Clone)]
pub enum Evidence {
    Mpesa {
        receipt: String,
        transaction_date: Option<String>,
        phone: Option<String>,
        result_code: i64,
        result_desc: String,
        webhook_id: i64,
    },
    Stripe {
        charge_id: Option<String>,
        webhook_id: i64,
    },
    Cash {
        confirmed_by: String,
    },
    /// No callback came; Daraja's STK Query (our authenticated request)
    /// says the customer paid.
    MpesaQuery {
        result_desc: String,
    },
}

/// Money for a pending payment or top-up is verified as received: a
/// booking payment goes into escrow (scheduling its automatic release when
/// the booking is already completed), a top-up into the wallet.
/// `Ok(Err(refusal))` when it was already confirmed: nothing changes.
pub fn confirm_payment(
    conn: &Connection,
    config: &Config,
    tx: &TxRow,
    evidence: &Evidence,
) -> ApiResult<Result<TxRow, Refusal>> {
    let to = match transition(tx.kind, tx.stage, Action::Confirmed) {
        Ok(s) => s,
        Err(r) => return Ok(Err(r)),
    };
    if !store::cas_stage(conn, &tx.id, tx.stage, to, wire_status(to, 0, None))? {
        return Ok(Err(Refusal::AlreadyDone("Payment already confirmed")));
    }
    let now = now_ms();
    let actor = match evidence {
        Evidence::Cash { confirmed_by } => Some(confirmed_by.as_str()),
        _ => None,
    };
    match tx.kind {
        TxType::BookingPayment => {
            let booking_id = tx
                .booking_id
                .clone()
                .ok_or_else(|| ApiError::internal("booking payment without booking"))?;
            ledger::apply(
                conn,
                &Op::HoldFromGateway {
                    gateway: tx.method,
                    booking_id,
                    amount: tx.gross,
                },
                &tx.currency,
                Some(&tx.id),
            )?;
            store::update(
                conn,
                &tx.id,
                &[
                    ("escrow_held", &true),
                    ("escrow_held_at", &now),
                    ("completed_at", &now),
                    ("processed_at", &tx.processed_at.unwrap_or(now)),
                ],
            )?;
        }
        _ => {
            ledger::apply(
                conn,
                &Op::TopUp {
                    gateway: tx.method,
                    user_id: tx.payer_id.clone(),
                    amount: tx.gross,
                },
                &tx.currency,
                Some(&tx.id),
            )?;
            store::update(
                conn,
                &tx.id,
                &[
                    ("completed_at", &now),
                    ("processed_at", &tx.processed_at.unwrap_or(now)),
                ],
            )?;
        }
    }
    match evidence {
        Evidence::Mpesa {
            receipt,
            transaction_date,
            phone,
            result_code,
            result_desc,
            webhook_id,
        } => store::update(
            conn,
            &tx.id,
            &[
                ("mpesa_receipt", receipt),
                ("mpesa_transaction_date", transaction_date),
                ("phone", &phone.clone().or_else(|| tx.phone.clone())),
                ("mpesa_result_code", &result_code.to_string()),
                ("mpesa_result_desc", result_desc),
                ("webhook_received_at", &now),
                ("webhook_verified", &true),
                ("webhook_event_id", webhook_id),
            ],
        )?,
        Evidence::Stripe {
            charge_id,
            webhook_id,
        } => store::update(
            conn,
            &tx.id,
            &[
                ("stripe_charge_id", charge_id),
                ("webhook_received_at", &now),
                ("webhook_verified", &true),
                ("webhook_event_id", webhook_id),
            ],
        )?,
        Evidence::Cash { confirmed_by } => store::update(
            conn,
            &tx.id,
            &[("notes", &format!("Cash confirmed by {confirmed_by}"))],
        )?,
        Evidence::MpesaQuery { result_desc } => store::update(
            conn,
            &tx.id,
            &[
                ("mpesa_result_code", &"0"),
                ("mpesa_result_desc", result_desc),
                ("notes", &"Confirmed by STK Query; no callback was received"),
            ],
        )?,
    }
    let done = reload(conn, &tx.id)?;
    let kind = if done.kind == TxType::BookingPayment {
        "payment.held"
    } else {
        "wallet.credited"
    };
    emit(conn, kind, Some(&done.id), actor, &event_payload(&done))?;
    if let Some(b) = done.booking_id.as_deref() {
        if let Some(parties) = find_parties(conn, b)? {
            schedule_auto_release(conn, config, &parties)?;
        }
    }
    Ok(Ok(done))
}

/// The gateway reported that a pending payment failed (`failed`,
/// `cancelled` or `expired`). A payment already held is never undone.
pub fn fail_payment(
    conn: &Connection,
    tx: &TxRow,
    failure_status: &str,
    reason: &str,
    code: Option<&str>,
) -> ApiResult<Result<TxRow, Refusal>> {
    let to = match transition(tx.kind, tx.stage, Action::Failed) {
        Ok(s) => s,
        Err(r) => return Ok(Err(r)),
    };
    let status = wire_status(to, 0, Some(failure_status));
    if !store::cas_stage(conn, &tx.id, tx.stage, to, status)? {
        return Ok(Err(Refusal::AlreadyDone("Transaction already failed")));
    }
    store::update(
        conn,
        &tx.id,
        &[
            ("failure_reason", &reason),
            ("failure_code", &code),
            ("failed_at", &now_ms()),
        ],
    )?;
    let done = reload(conn, &tx.id)?;
    emit(
        conn,
        "payment.failed",
        Some(&done.id),
        None,
        &event_payload(&done),
    )?;
    Ok(Ok(done))
}

/// The customer (or an admin) confirms a cash payment the technician
/// recorded: it goes into escrow. Strangers get 404, the technician 403.
pub fn confirm_cash(
    conn: &Connection,
    config: &Config,
    id: &str,
    actor: Actor,
) -> ApiResult<TxRow> {
    let tx = store::find(conn, id)?
        .filter(|t| actor.is_admin || t.involves(actor.id))
        .ok_or_else(|| ApiError::not_found("Transaction"))?;
    if tx.method != Gateway::Cash {
        return Err(ApiError::BadRequest(
            "Only cash payments are confirmed this way".into(),
        ));
    }
    if !(actor.is_admin || tx.payer_id == actor.id) {
        return Err(ApiError::Forbidden(
            "Only the customer or an admin confirms a cash payment".into(),
        ));
    }
    confirm_payment(
        conn,
        config,
        &tx,
        &Evidence::Cash {
            confirmed_by: actor.id.to_string(),
        },
    )?
    .map_err(refusal_error)
}

// ------------------------------------------------------------------ escrow

/// Releases a held payment: what is left in escrow goes to the booking's
/// technician less the platform fee (separate postings). `condition` says
/// why (`admin`, `auto_release`, `dispute_resolved`).
pub fn release(
    conn: &Connection,
    config: &Config,
    id: &str,
    condition: &str,
    actor: Option<&str>,
) -> ApiResult<TxRow> {
    let tx = reload(conn, id)?;
    let to = transition(tx.kind, tx.stage, Action::Release).map_err(refusal_error)?;
    let booking_id = tx
        .booking_id
        .clone()
        .ok_or_else(|| ApiError::BadRequest("This transaction does not use escrow".into()))?;
    // Cash stays with the technician who received it; otherwise the booking's technician now.
    let current = find_parties(conn, &booking_id)?.and_then(|b| b.technician_id);
    let technician = if tx.method == Gateway::Cash {
        tx.payee_id.clone().or(current)
    } else {
        current.or_else(|| tx.payee_id.clone())
    }
    .ok_or_else(|| ApiError::Conflict("The booking has no technician to pay".into()))?;
    let amount = tx.gross - tx.refunded;
    let fee = platform_fee(amount, fee_policy(config));
    if !store::cas_stage(
        conn,
        &tx.id,
        tx.stage,
        to,
        wire_status(to, tx.refunded, None),
    )? {
        return Err(ApiError::Conflict("Escrow already released".into()));
    }
    ledger::apply(
        conn,
        &Op::Release {
            booking_id,
            technician_id: technician.clone(),
            amount,
            fee,
            cash: tx.method == Gateway::Cash,
        },
        &tx.currency,
        Some(&tx.id),
    )?;
    let now = now_ms();
    store::update(
        conn,
        &tx.id,
        &[
            ("escrow_held", &false),
            ("escrow_released_at", &now),
            ("escrow_release_condition", &condition),
            ("platform_fee_minor", &fee),
            ("net_minor", &(amount - fee)),
            ("payee_id", &technician),
            ("completed_at", &tx.completed_at.unwrap_or(now)),
        ],
    )?;
    let done = reload(conn, &tx.id)?;
    let mut payload = event_payload(&done);
    payload["released"] = model::major(amount);
    payload["platformFee"] = model::major(fee);
    payload["net"] = model::major(amount - fee);
    payload["condition"] = json!(condition);
    emit(conn, "payment.released", Some(&done.id), actor, &payload)?;
    Ok(done)
}

/// Where a refund goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundTo {
    /// Back through the gateway the payment came from (M-Pesa B2C, Stripe
    /// Refunds API); wallet and cash payments go to the wallet.
    Original,
    /// To the customer's wallet.
    Wallet,
}

/// Refunds `amount` (default: all that is held) of a held payment, as a
/// child transaction of type `refund`. To the wallet it is immediate; back
/// through a gateway the money waits in that gateway's payout account until
/// the gateway confirms (a payout job sends it). A partial refund leaves
/// the rest in escrow (`partially_refunded`). Returns (payment, refund).
pub fn refund(
    conn: &Connection,
    id: &str,
    amount: Option<i64>,
    reason: &str,
    to: RefundTo,
    actor: Option<&str>,
) -> ApiResult<(TxRow, TxRow)> {
    let parent = reload(conn, id)?;
    let held = parent.held_amount();
    let amount = amount.unwrap_or(held);
    let next = transition(parent.kind, parent.stage, Action::Refund { amount, held })
        .map_err(refusal_error)?;
    let booking_id = parent
        .booking_id
        .clone()
        .ok_or_else(|| ApiError::internal("held payment without booking"))?;
    let mut method = Gateway::Wallet;
    let mut phone = None;
    if to == RefundTo::Original {
        match parent.method {
            Gateway::Mpesa => {
                let number = match &parent.phone {
                    Some(p) => Some(p.clone()),
                    None => {
                        crate::auth::store::find_by_id(conn, &parent.payer_id)?.map(|a| a.phone)
                    }
                };
                if let Some(n) = number.filter(|n| mpesa::msisdn(n).is_some()) {
                    if amount % 100 == 0 {
                        method = Gateway::Mpesa;
                        phone = Some(n);
                    }
                }
            }
            Gateway::Stripe if parent.stripe_payment_intent_id.is_some() => {
                method = Gateway::Stripe
            }
            _ => {}
        }
    }
    let via_gateway = method != Gateway::Wallet;
    let child_stage = if via_gateway {
        Stage::Pending
    } else {
        Stage::Settled
    };
    let child = store::insert(
        conn,
        &NewTx {
            kind: TxType::Refund,
            method,
            stage: child_stage,
            status: wire_status(child_stage, 0, None),
            payer_id: parent
                .payee_id
                .clone()
                .unwrap_or_else(|| parent.payer_id.clone()),
            payee_id: Some(parent.payer_id.clone()),
            booking_id: Some(booking_id.clone()),
            parent_id: Some(parent.id.clone()),
            currency: parent.currency.clone(),
            gross: amount,
            fee: 0,
            description: Some(reason.to_string()),
            recorded_by: actor.map(String::from),
            phone,
        },
    )?;
    let op = if via_gateway {
        Op::RefundToGateway {
            booking_id,
            gateway: method,
            amount,
        }
    } else {
        Op::RefundToWallet {
            booking_id,
            user_id: parent.payer_id.clone(),
            amount,
        }
    };
    ledger::apply(conn, &op, &parent.currency, Some(&child.id))?;
    let refunded = parent.refunded + amount;
    let refund_status = if via_gateway { "pending" } else { "completed" };
    if !store::cas_refund(
        conn,
        &parent.id,
        parent.refunded,
        refunded,
        next,
        wire_status(next, refunded, None),
        reason,
        actor,
        &child.id,
        refund_status,
    )? {
        return Err(ApiError::Conflict(
            "The transaction changed meanwhile; try again".into(),
        ));
    }
    if via_gateway {
        crate::jobs::enqueue(conn, JOB_PAYOUT, &json!({"transactionId": child.id}), None)?;
    }
    let done = reload(conn, &parent.id)?;
    let mut payload = event_payload(&done);
    payload["refundAmount"] = model::major(amount);
    payload["refundTransactionId"] = json!(child.id);
    payload["full"] = json!(next == Stage::Refunded);
    payload["destination"] = json!(method.as_str());
    emit(conn, "payment.refunded", Some(&done.id), actor, &payload)?;
    Ok((done, child))
}

// ------------------------------------------------------------------ payouts

/// A technician withdraws `amount` from the wallet to M-Pesa: the wallet
/// is debited at once into the M-Pesa payout account (400 when short) and a
/// payout job sends the B2C request; the result callback settles it.
pub fn withdraw(conn: &Connection, user_id: &str, amount: i64, phone: &str) -> ApiResult<TxRow> {
    let tx = store::insert(
        conn,
        &NewTx {
            kind: TxType::WalletWithdrawal,
            method: Gateway::Mpesa,
            stage: Stage::Pending,
            status: "pending",
            payer_id: user_id.to_string(),
            payee_id: None,
            booking_id: None,
            parent_id: None,
            currency: "KES".into(),
            gross: amount,
            fee: 0,
            description: Some("Wallet withdrawal to M-Pesa".into()),
            recorded_by: None,
            phone: Some(phone.to_string()),
        },
    )?;
    ledger::apply(
        conn,
        &Op::Withdraw {
            user_id: user_id.to_string(),
            gateway: Gateway::Mpesa,
            amount,
        },
        "KES",
        Some(&tx.id),
    )?;
    crate::jobs::enqueue(conn, JOB_PAYOUT, &json!({"transactionId": tx.id}), None)?;
    emit(
        conn,
        "wallet.withdrawal_requested",
        Some(&tx.id),
        Some(user_id),
        &event_payload(&tx),
    )?;
    Ok(tx)
}

/// The gateway confirmed a payout (withdrawal or refund): the money left
/// the platform. `Ok(Err(_))` when it was already settled.
pub fn payout_settled(
    conn: &Connection,
    tx: &TxRow,
    receipt: Option<&str>,
    webhook_id: Option<i64>,
) -> ApiResult<Result<TxRow, Refusal>> {
    let to = match transition(tx.kind, tx.stage, Action::PayoutDone) {
        Ok(s) => s,
        Err(r) => return Ok(Err(r)),
    };
    if !store::cas_stage(conn, &tx.id, tx.stage, to, wire_status(to, 0, None))? {
        return Ok(Err(Refusal::AlreadyDone("Payout already settled")));
    }
    ledger::apply(
        conn,
        &Op::PayoutSettled {
            gateway: tx.method,
            amount: tx.gross,
        },
        &tx.currency,
        Some(&tx.id),
    )?;
    let now = now_ms();
    store::update(
        conn,
        &tx.id,
        &[
            ("completed_at", &now),
            (
                "mpesa_receipt",
                &receipt
                    .map(String::from)
                    .or_else(|| tx.mpesa_receipt.clone()),
            ),
            ("webhook_received_at", &webhook_id.map(|_| now)),
            ("webhook_verified", &webhook_id.is_some()),
            ("webhook_event_id", &webhook_id),
        ],
    )?;
    settle_parent_refund(conn, tx, "completed")?;
    let done = reload(conn, &tx.id)?;
    let kind = if tx.kind == TxType::Refund {
        "payment.refund_settled"
    } else {
        "wallet.withdrawal_settled"
    };
    emit(conn, kind, Some(&done.id), None, &event_payload(&done))?;
    Ok(Ok(done))
}

/// The gateway refused a payout: the money goes to the user's wallet. A
/// withdrawal ends `failed`; a refund is then completed to the wallet.
pub fn payout_failed(
    conn: &Connection,
    tx: &TxRow,
    reason: &str,
) -> ApiResult<Result<TxRow, Refusal>> {
    if let Err(r) = transition(tx.kind, tx.stage, Action::PayoutDone) {
        return Ok(Err(r));
    }
    let (to, status) = if tx.kind == TxType::WalletWithdrawal {
        (Stage::Failed, "failed")
    } else {
        (Stage::Settled, "completed")
    };
    if !store::cas_stage(conn, &tx.id, tx.stage, to, status)? {
        return Ok(Err(Refusal::AlreadyDone("Payout already settled")));
    }
    let user = if tx.kind == TxType::Refund {
        tx.payee_id.clone().unwrap_or_else(|| tx.payer_id.clone())
    } else {
        tx.payer_id.clone()
    };
    ledger::apply(
        conn,
        &Op::PayoutReturned {
            gateway: tx.method,
            user_id: user,
            amount: tx.gross,
        },
        &tx.currency,
        Some(&tx.id),
    )?;
    let now = now_ms();
    if tx.kind == TxType::Refund {
        store::update(
            conn,
            &tx.id,
            &[
                ("payment_method", &Gateway::Wallet.as_str()),
                ("completed_at", &now),
                (
                    "notes",
                    &format!(
                        "The {} refund failed ({reason}); credited to the wallet instead",
                        tx.method.as_str()
                    ),
                ),
            ],
        )?;
        settle_parent_refund(conn, tx, "completed")?;
    } else {
        store::update(
            conn,
            &tx.id,
            &[("failure_reason", &reason), ("failed_at", &now)],
        )?;
    }
    let done = reload(conn, &tx.id)?;
    let kind = if tx.kind == TxType::Refund {
        "payment.refund_settled"
    } else {
        "wallet.withdrawal_failed"
    };
    emit(conn, kind, Some(&done.id), None, &event_payload(&done))?;
    Ok(Ok(done))
}

fn settle_parent_refund(conn: &Connection, child: &TxRow, status: &str) -> ApiResult<()> {
    if child.kind != TxType::Refund {
        return Ok(());
    }
    if let Some(parent) = child.parent_id.as_deref() {
        conn.prepare_cached(
            "UPDATE transactions SET refund_status = ?3, updated_at = ?4 WHERE id = ?1 AND refund_transaction_id = ?2",
        )?
        .execute(rusqlite::params![parent, child.id, status, now_ms()])?;
    }
    Ok(())
}

// ------------------------------------------------------------------ bookings

/// The scheduled release: only while the booking is still `completed`
/// (a dispute stops it). Returns how many payments were released.
pub fn auto_release(conn: &Connection, config: &Config, booking_id: &str) -> ApiResult<usize> {
    let Some(b) = find_parties(conn, booking_id)? else {
        return Ok(0);
    };
    if b.status != "completed" {
        return Ok(0);
    }
    let mut released = 0;
    for tx in store::held_for_booking(conn, booking_id)? {
        let done = release(conn, config, &tx.id, "auto_release", None);
        if unless_refused(done, &tx.id, "automatic escrow release skipped")?.is_some() {
            released += 1;
        }
    }
    Ok(released)
}

/// A dispute was resolved: `completed` releases everything held for the
/// booking; `refunded` refunds `refund` (default: all) through the gateways
/// the payments came from and releases whatever is left.
pub fn resolve_dispute(
    conn: &Connection,
    config: &Config,
    booking_id: &str,
    outcome: &str,
    refund: Option<i64>,
    actor: Option<&str>,
) -> ApiResult<()> {
    let refund = if outcome == "refunded" {
        refund.unwrap_or(i64::MAX)
    } else {
        0
    };
    let why = Settlement {
        refund_reason: "Dispute resolved in the customer's favour",
        release_reason: "dispute_resolved",
    };
    refund_then_release(conn, config, booking_id, refund, &why, actor)
}

/// A booking was cancelled: what was held for it goes back to the
/// customer, except a late-cancellation fee the bookings module charged,
/// which is released to the technician who had taken the job.
pub fn settle_cancellation(
    conn: &Connection,
    config: &Config,
    booking_id: &str,
    actor: Option<&str>,
) -> ApiResult<()> {
    let booking: Option<(Option<String>, i64)> = crate::db::optional(conn.query_row(
        "SELECT technician_id, COALESCE(cancellation_fee_minor, 0) FROM bookings WHERE id = ?1",
        [booking_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    ))?;
    let Some((technician, fee)) = booking else {
        return Ok(());
    };
    let held: i64 = store::held_for_booking(conn, booking_id)?
        .iter()
        .map(|t| t.held_amount())
        .sum();
    let kept = if technician.is_some() {
        fee.clamp(0, held)
    } else {
        0
    };
    let why = Settlement {
        refund_reason: "Booking cancelled",
        release_reason: "cancellation_fee",
    };
    refund_then_release(conn, config, booking_id, held - kept, &why, actor)
}

/// Why money held for a booking moves, as the ledger records it.
struct Settlement {
    refund_reason: &'static str,
    release_reason: &'static str,
}

/// Refunds up to `refund` of what is held for the booking, oldest payment
/// first, through the gateways the payments came from, then releases the
/// rest to the technician.
fn refund_then_release(
    conn: &Connection,
    config: &Config,
    booking_id: &str,
    refund: i64,
    why: &Settlement,
    actor: Option<&str>,
) -> ApiResult<()> {
    let mut remaining = refund;
    for tx in store::held_for_booking(conn, booking_id)? {
        if remaining > 0 {
            let held = tx.held_amount();
            let part = held.min(remaining);
            refund_part(conn, &tx.id, part, why.refund_reason, actor)?;
            remaining -= part;
            if part == held {
                continue;
            }
        }
        let done = release(conn, config, &tx.id, why.release_reason, actor);
        unless_refused(done, &tx.id, "escrow release skipped")?;
    }
    Ok(())
}

fn refund_part(
    conn: &Connection,
    id: &str,
    amount: i64,
    reason: &str,
    actor: Option<&str>,
) -> ApiResult<()> {
    let done = refund(conn, id, Some(amount), reason, RefundTo::Original, actor);
    unless_refused(done, id, "escrow refund skipped").map(|_| ())
}

/// A movement that the rules refused (already released, nothing left to
/// refund...) is logged and skipped, so settling a booking moves what it
/// can; any other error aborts the settlement.
fn unless_refused<T>(result: ApiResult<T>, id: &str, what: &str) -> ApiResult<Option<T>> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(ApiError::Conflict(m)) | Err(ApiError::BadRequest(m)) => {
            tracing::warn!(transaction = %id, reason = %m, "{what}");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}
