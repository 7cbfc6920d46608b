//! Gateway webhooks: verified, stored with their raw body, and processed
//! exactly once.
//!
//! * Stripe: the `Stripe-Signature` header is verified first (400 when it
//!   fails); the event is deduplicated by its id and processed in the same
//!   transaction that stores it, so a 200 means it took effect and a crash
//!   before the 200 makes Stripe retry.
//! * M-Pesa: Daraja signs nothing. A callback must come to the secret path,
//!   name a CheckoutRequestID (or OriginatorConversationID) we issued, carry
//!   the exact amount and a receipt number never accepted before, and
//!   (configurable) be confirmed by an STK Query. Exact replays are
//!   deduplicated by the SHA-256 of the body. Anything unknown or
//!   mismatched changes nothing and is kept with outcome `review` (and
//!   logged). Daraja is always answered `{"ResultCode": 0, ...}`.

use axum::http::HeaderMap;
use bytes::Bytes;
use rusqlite::Connection;
use serde_json::{json, Value};

use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::ids::{now_ms, sha256_hex};
use crate::payments::background::JOB_WEBHOOK;
use crate::payments::model::{self, Action, Gateway, Stage, TxType};
use crate::payments::movements::{self, Evidence};
use crate::payments::store::{self, TxRow};
use crate::providers::gateway::ProviderError;
use crate::providers::mpesa::{self, StkCallback, StkQueryAnswer};
use crate::providers::stripe;
use crate::state::AppState;

/// Provider name of Stripe events, as stored.
pub const STRIPE: &str = "stripe";
/// Provider name of Daraja STK Push callbacks.
pub const MPESA_STK: &str = "mpesa_stk";
/// Provider name of Daraja B2C results and timeouts.
pub const MPESA_B2C: &str = "mpesa_b2c";

/// Seconds before the safety-net job re-tries a callback left `received`.
const RETRY_AFTER_MS: i64 = 30_000;

/// How one webhook ended.
#[derive(Debug, Clone)]
struct Outcome {
    outcome: &'static str,
    detail: String,
    transaction: Option<String>,
}

fn outcome(outcome: &'static str, detail: impl Into<String>, tx: Option<&TxRow>) -> Outcome {
    Outcome {
        outcome,
        detail: detail.into(),
        transaction: tx.map(|t| t.id.clone()),
    }
}

fn review(detail: impl Into<String>, tx: Option<&TxRow>) -> Outcome {
    outcome("review", detail, tx)
}

/// Not finished yet: left `received` for the retry job.
fn later(detail: impl Into<String>, tx: Option<&TxRow>) -> Outcome {
    outcome("received", detail, tx)
}

fn record(conn: &Connection, provider: &str, id: i64, o: &Outcome) -> ApiResult<()> {
    if o.outcome == "received" {
        crate::jobs::enqueue(
            conn,
            JOB_WEBHOOK,
            &json!({"webhookId": id}),
            Some(now_ms() + RETRY_AFTER_MS),
        )?;
        return Ok(());
    }
    if o.outcome == "review" {
        tracing::warn!(provider, webhook = id, transaction = ?o.transaction, detail = %o.detail, "webhook kept for review; nothing changed");
    }
    store::finish_webhook(conn, id, o.outcome, &o.detail, o.transaction.as_deref())?;
    Ok(())
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(given: &str, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// What Daraja expects back, plus our envelope's keys.
pub fn mpesa_ack() -> Value {
    json!({"ResultCode": 0, "ResultDesc": "Accepted", "success": true, "message": "Webhook processed successfully"})
}

fn stripe_ack(duplicate: bool) -> Value {
    json!({"success": true, "message": "Webhook processed successfully", "received": true, "duplicate": duplicate})
}

// ------------------------------------------------------------------ Stripe

/// `POST /transactions/webhook/stripe`.
pub async fn stripe(state: &AppState, headers: &HeaderMap, body: Bytes) -> ApiResult<Value> {
    let secret = state.config.stripe_webhook_secret.clone();
    if secret.is_empty() {
        return Err(ApiError::BadRequest(
            "Stripe webhooks are not configured on this server".into(),
        ));
    }
    let header = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let now = chrono::Utc::now().timestamp();
    if let Err(e) = stripe::verify_signature(
        header,
        &body,
        &secret,
        now,
        stripe::SIGNATURE_TOLERANCE_SECS,
    ) {
        tracing::warn!(error = e.message(), "Stripe webhook refused");
        return Err(ApiError::BadRequest(e.message().into()));
    }
    let event: Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::BadRequest("Webhook body is not JSON".into()))?;
    let id = event
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::BadRequest("Webhook event without an id".into()))?
        .to_string();
    let kind = event
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let raw = String::from_utf8_lossy(&body).into_owned();
    let config = state.config.clone();
    let duplicate = state
        .db
        .write(move |tx| {
            let Some(webhook) = store::insert_webhook(tx, STRIPE, &id, Some(&kind), &raw)? else {
                return Ok(true);
            };
            let o = process_stripe(tx, &config, webhook, &kind, &event)?;
            record(tx, STRIPE, webhook, &o)?;
            Ok(false)
        })
        .await?;
    Ok(stripe_ack(duplicate))
}

fn process_stripe(
    conn: &Connection,
    config: &Config,
    webhook: i64,
    kind: &str,
    event: &Value,
) -> ApiResult<Outcome> {
    let object = &event["data"]["object"];
    let str_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(String::from);
    match kind {
        "payment_intent.succeeded" | "payment_intent.payment_failed" => {
            let Some(intent) = str_of(object, "id") else {
                return Ok(review("event without a PaymentIntent id", None));
            };
            let Some(tx) = store::find_by(conn, "stripe_payment_intent_id", &intent)? else {
                return Ok(review(format!("unknown PaymentIntent {intent}"), None));
            };
            if let Some(meta) = object["metadata"]
                .get("transaction_id")
                .and_then(Value::as_str)
            {
                if meta != tx.id {
                    return Ok(review("metadata names another transaction", Some(&tx)));
                }
            }
            if kind == "payment_intent.payment_failed" {
                let error = &object["last_payment_error"];
                let reason =
                    str_of(error, "message").unwrap_or_else(|| "Card payment failed".into());
                let code = str_of(error, "code");
                return Ok(
                    match movements::fail_payment(conn, &tx, "failed", &reason, code.as_deref())? {
                        Ok(_) => outcome("processed", "payment failed", Some(&tx)),
                        Err(r) => outcome("ignored", r.message(), Some(&tx)),
                    },
                );
            }
            let received = object
                .get("amount_received")
                .or_else(|| object.get("amount"))
                .and_then(Value::as_i64);
            if received != Some(tx.gross) {
                return Ok(review(
                    format!("amount {received:?} does not match {}", tx.gross),
                    Some(&tx),
                ));
            }
            let currency = str_of(object, "currency").unwrap_or_default();
            if !currency.eq_ignore_ascii_case(&tx.currency) {
                return Ok(review(
                    format!("currency {currency} does not match"),
                    Some(&tx),
                ));
            }
            let evidence = Evidence::Stripe {
                charge_id: str_of(object, "latest_charge"),
                webhook_id: webhook,
            };
            Ok(
                match movements::confirm_payment(conn, config, &tx, &evidence)? {
                    Ok(_) => outcome("processed", "payment confirmed", Some(&tx)),
                    Err(r) => outcome("ignored", r.message(), Some(&tx)),
                },
            )
        }
        "charge.refunded" => {
            let Some(intent) = str_of(object, "payment_intent") else {
                return Ok(review("charge without a PaymentIntent", None));
            };
            let Some(parent) = store::find_by(conn, "stripe_payment_intent_id", &intent)? else {
                return Ok(review(format!("unknown PaymentIntent {intent}"), None));
            };
            let refunded = object
                .get("amount_refunded")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let refunds: Vec<TxRow> = store::refunds_of(conn, &parent.id)?
                .into_iter()
                .filter(|r| r.method == Gateway::Stripe)
                .collect();
            let settled: i64 = refunds
                .iter()
                .filter(|r| r.stage == Stage::Settled)
                .map(|r| r.gross)
                .sum();
            let mut covered = refunded - settled;
            let mut any = false;
            for r in refunds
                .iter()
                .filter(|r| matches!(r.stage, Stage::Pending | Stage::Processing))
            {
                if r.gross <= covered
                    && movements::payout_settled(conn, r, None, Some(webhook))?.is_ok()
                {
                    any = true;
                    covered -= r.gross;
                }
            }
            Ok(if any {
                outcome("processed", "refund confirmed", Some(&parent))
            } else if covered > 0 {
                review("a refund we did not issue", Some(&parent))
            } else {
                outcome("ignored", "no refund awaiting confirmation", Some(&parent))
            })
        }
        _ => Ok(outcome(
            "ignored",
            format!("event type {kind} not handled"),
            None,
        )),
    }
}

// ------------------------------------------------------------------ M-Pesa STK

fn parse_body(body: &[u8]) -> Option<Value> {
    serde_json::from_slice(body).ok()
}

/// `POST /transactions/webhook/mpesa/{secret}`: the STK Push result.
pub async fn mpesa_stk(state: &AppState, secret: &str, body: Bytes) -> ApiResult<Value> {
    if !same_secret(secret, &state.payments.callback_secret) {
        tracing::warn!("M-Pesa callback on a wrong secret path refused");
        return Err(ApiError::NotFound("Webhook not found".into()));
    }
    let raw = String::from_utf8_lossy(&body).into_owned();
    let key = sha256_hex(&raw);
    let callback = parse_body(&body)
        .as_ref()
        .and_then(mpesa::parse_stk_callback);
    let config = state.config.clone();
    let wants_query = config.mpesa_confirm_with_query
        && mpesa::is_configured(&config)
        && callback.as_ref().is_some_and(|c| c.result_code == 0);
    let stored = state
        .db
        .write(move |tx| {
            let Some(id) = store::insert_webhook(tx, MPESA_STK, &key, Some("stk_callback"), &raw)?
            else {
                return Ok(None);
            };
            if wants_query {
                // Kept `received` until the STK Query answers; the job is the safety net.
                crate::jobs::enqueue(
                    tx,
                    JOB_WEBHOOK,
                    &json!({"webhookId": id}),
                    Some(now_ms() + RETRY_AFTER_MS),
                )?;
                return Ok(Some(id));
            }
            let o = process_stk(tx, &config, id, callback.as_ref(), None)?;
            record(tx, MPESA_STK, id, &o)?;
            Ok(None)
        })
        .await?;
    if let Some(id) = stored {
        if let Err(e) = finish_pending(state, id).await {
            tracing::warn!(webhook = id, error = %e, "M-Pesa callback not confirmed yet; will retry");
        }
    }
    Ok(mpesa_ack())
}

/// Finishes a stored webhook still `received` (STK callbacks awaiting
/// their STK Query, B2C results that raced ahead of their request).
/// Idempotent: a webhook already settled is left alone.
pub async fn finish_pending(state: &AppState, id: i64) -> ApiResult<()> {
    let Some(row) = state.db.read(move |c| store::find_webhook(c, id)).await? else {
        return Ok(());
    };
    if row.outcome != "received" {
        return Ok(());
    }
    let body = parse_body(row.raw_body.as_bytes());
    let config = state.config.clone();
    if row.provider == MPESA_B2C {
        let settled = state
            .db
            .write(move |tx| {
                if store::find_webhook(tx, id)?.is_none_or(|w| w.outcome != "received") {
                    return Ok(true);
                }
                let result = body.as_ref().and_then(mpesa::parse_b2c_result);
                let o = process_b2c(tx, id, result.as_ref())?;
                if o.outcome == "received" {
                    return Ok(false);
                }
                record(tx, MPESA_B2C, id, &o)?;
                Ok(true)
            })
            .await?;
        // Still waiting for the payout request to be recorded: the job retries.
        return if settled {
            Ok(())
        } else {
            Err(ApiError::ServiceUnavailable(
                "B2C result ahead of its request; retrying".into(),
            ))
        };
    }
    let callback = body.as_ref().and_then(mpesa::parse_stk_callback);
    let mut query = None;
    if let Some(cb) = callback.clone() {
        let checked = cb.clone();
        let paid = state
            .db
            .read(move |c| Ok(matches!(stk_checks(c, Some(&checked))?, StkCheck::Paid(..))))
            .await?;
        if paid && config.mpesa_confirm_with_query && mpesa::is_configured(&config) {
            let daraja = mpesa::Daraja {
                http: &state.http,
                config: &state.config,
                tokens: &state.payments.daraja_tokens,
            };
            query = Some(match daraja.stk_query(&cb.checkout_request_id).await {
                Ok(answer) => answer,
                Err(ProviderError::Rejected(m)) => StkQueryAnswer {
                    result_code: "rejected".into(),
                    result_desc: m,
                },
                Err(ProviderError::Unavailable(m)) => return Err(ApiError::ServiceUnavailable(m)),
            });
        }
    }
    state
        .db
        .write(move |tx| {
            if store::find_webhook(tx, id)?.is_none_or(|w| w.outcome != "received") {
                return Ok(());
            }
            let o = process_stk(tx, &config, id, callback.as_ref(), query.as_ref())?;
            record(tx, MPESA_STK, id, &o)?;
            Ok(())
        })
        .await
}

/// What an STK callback comes to before any network check.
enum StkCheck {
    /// Nothing to do but record this outcome.
    Decided(Outcome),
    /// The customer did not pay (`ResultCode` other than 0).
    Failed(TxRow),
    /// Every local check passed; only the STK Query (when configured) is left.
    Paid(TxRow, String),
}

fn receipt_used(conn: &Connection, receipt: &str) -> ApiResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM mpesa_receipts WHERE receipt = ?1")?
        .exists([receipt])?)
}

/// The checks that need no network: our CheckoutRequestID and
/// MerchantRequestID, the exact amount, a receipt never accepted, a
/// transaction still waiting for its money.
fn stk_checks(conn: &Connection, callback: Option<&StkCallback>) -> ApiResult<StkCheck> {
    let Some(cb) = callback else {
        return Ok(StkCheck::Decided(review("not an STK callback", None)));
    };
    let Some(tx) = store::find_by(conn, "mpesa_checkout_request_id", &cb.checkout_request_id)?
    else {
        return Ok(StkCheck::Decided(review(
            format!("unknown CheckoutRequestID {}", cb.checkout_request_id),
            None,
        )));
    };
    if let Some(ours) = tx.mpesa_merchant_request_id.as_deref() {
        if ours != cb.merchant_request_id {
            return Ok(StkCheck::Decided(review(
                "MerchantRequestID does not match",
                Some(&tx),
            )));
        }
    }
    if cb.result_code != 0 {
        return Ok(StkCheck::Failed(tx));
    }
    let amount = cb.amount.as_ref().and_then(|v| model::parse_amount(v).ok());
    if amount != Some(tx.gross) {
        return Ok(StkCheck::Decided(review(
            format!("amount {:?} does not match {}", cb.amount, tx.gross),
            Some(&tx),
        )));
    }
    let Some(receipt) = cb.receipt.clone().filter(|r| !r.is_empty()) else {
        return Ok(StkCheck::Decided(review(
            "success without a receipt number",
            Some(&tx),
        )));
    };
    if let Err(r) = model::transition(tx.kind, tx.stage, Action::Confirmed) {
        return Ok(StkCheck::Decided(outcome(
            "ignored",
            r.message(),
            Some(&tx),
        )));
    }
    if receipt_used(conn, &receipt)? {
        return Ok(StkCheck::Decided(review(
            format!("receipt {receipt} was already used"),
            Some(&tx),
        )));
    }
    Ok(StkCheck::Paid(tx, receipt))
}

fn process_stk(
    conn: &Connection,
    config: &Config,
    webhook: i64,
    callback: Option<&StkCallback>,
    query: Option<&StkQueryAnswer>,
) -> ApiResult<Outcome> {
    let (tx, receipt) = match stk_checks(conn, callback)? {
        StkCheck::Decided(o) => return Ok(o),
        StkCheck::Failed(tx) => {
            let cb = callback.ok_or_else(|| ApiError::internal("failed check without callback"))?;
            let status = model::mpesa_failure_status(cb.result_code);
            let code = cb.result_code.to_string();
            store::update(
                conn,
                &tx.id,
                &[
                    ("mpesa_result_code", &code),
                    ("mpesa_result_desc", &cb.result_desc),
                ],
            )?;
            return Ok(
                match movements::fail_payment(conn, &tx, status, &cb.result_desc, Some(&code))? {
                    Ok(_) => outcome("processed", format!("payment {status}"), Some(&tx)),
                    Err(r) => outcome("ignored", r.message(), Some(&tx)),
                },
            );
        }
        StkCheck::Paid(tx, receipt) => (tx, receipt),
    };
    let cb = callback.ok_or_else(|| ApiError::internal("paid check without callback"))?;
    if let Some(q) = query {
        if !q.is_paid() {
            return Ok(review(
                format!(
                    "STK Query does not confirm the payment: {} {}",
                    q.result_code, q.result_desc
                ),
                Some(&tx),
            ));
        }
    }
    if !store::accept_receipt(conn, &receipt, &tx.id)? {
        return Ok(review(
            format!("receipt {receipt} was already used"),
            Some(&tx),
        ));
    }
    let evidence = Evidence::Mpesa {
        receipt,
        transaction_date: cb.transaction_date.clone(),
        phone: cb
            .phone
            .as_ref()
            .map(|p| format!("+{}", p.trim_start_matches('+'))),
        result_code: cb.result_code,
        result_desc: cb.result_desc.clone(),
        webhook_id: webhook,
    };
    Ok(
        match movements::confirm_payment(conn, config, &tx, &evidence)? {
            Ok(_) => outcome("processed", "payment confirmed", Some(&tx)),
            Err(r) => outcome("ignored", r.message(), Some(&tx)),
        },
    )
}

// ------------------------------------------------------------------ M-Pesa B2C

/// `POST /transactions/webhook/mpesa/{secret}/result` (and `/timeout`,
/// which is only kept for review: a queue timeout does not say whether the
/// money left).
pub async fn mpesa_b2c(
    state: &AppState,
    secret: &str,
    body: Bytes,
    timeout: bool,
) -> ApiResult<Value> {
    if !same_secret(secret, &state.payments.callback_secret) {
        tracing::warn!("M-Pesa B2C callback on a wrong secret path refused");
        return Err(ApiError::NotFound("Webhook not found".into()));
    }
    let raw = String::from_utf8_lossy(&body).into_owned();
    let key = sha256_hex(&raw);
    let result = parse_body(&body).as_ref().and_then(mpesa::parse_b2c_result);
    state
        .db
        .write(move |tx| {
            let kind = if timeout { "b2c_timeout" } else { "b2c_result" };
            let Some(id) = store::insert_webhook(tx, MPESA_B2C, &key, Some(kind), &raw)? else {
                return Ok(());
            };
            let o = if timeout {
                let t = match result.as_ref() {
                    Some(r) => store::find(tx, &r.originator_conversation_id)?,
                    None => None,
                };
                review("B2C queue timeout: reconcile with Safaricom", t.as_ref())
            } else {
                process_b2c(tx, id, result.as_ref())?
            };
            record(tx, MPESA_B2C, id, &o)?;
            Ok(())
        })
        .await?;
    Ok(mpesa_ack())
}

fn process_b2c(
    conn: &Connection,
    webhook: i64,
    result: Option<&mpesa::B2cResult>,
) -> ApiResult<Outcome> {
    let Some(r) = result else {
        return Ok(review("not a B2C result", None));
    };
    let Some(tx) = store::find(conn, &r.originator_conversation_id)? else {
        return Ok(review(
            format!(
                "unknown OriginatorConversationID {}",
                r.originator_conversation_id
            ),
            None,
        ));
    };
    if !matches!(tx.kind, TxType::WalletWithdrawal | TxType::Refund) || tx.method != Gateway::Mpesa
    {
        return Ok(review("not an M-Pesa payout", Some(&tx)));
    }
    match tx.mpesa_conversation_id.as_deref() {
        Some(ours) if ours != r.conversation_id => {
            return Ok(review("ConversationID does not match", Some(&tx)));
        }
        None if tx.stage == Stage::Pending => {
            return Ok(later("the payout request is not recorded yet", Some(&tx)));
        }
        None => return Ok(review("payout without a ConversationID", Some(&tx))),
        Some(_) => {}
    }
    if let Err(refusal) = model::transition(tx.kind, tx.stage, Action::PayoutDone) {
        return Ok(outcome("ignored", refusal.message(), Some(&tx)));
    }
    if r.result_code != 0 {
        return Ok(match movements::payout_failed(conn, &tx, &r.result_desc)? {
            Ok(_) => outcome(
                "processed",
                "payout failed; returned to the wallet",
                Some(&tx),
            ),
            Err(refusal) => outcome("ignored", refusal.message(), Some(&tx)),
        });
    }
    let amount = r.amount.as_ref().and_then(|v| model::parse_amount(v).ok());
    if amount != Some(tx.gross) {
        return Ok(review(
            format!("amount {:?} does not match {}", r.amount, tx.gross),
            Some(&tx),
        ));
    }
    let Some(receipt) = r.transaction_id.clone() else {
        return Ok(review("success without a receipt number", Some(&tx)));
    };
    if !store::accept_receipt(conn, &receipt, &tx.id)? {
        return Ok(review(
            format!("receipt {receipt} was already used"),
            Some(&tx),
        ));
    }
    Ok(
        match movements::payout_settled(conn, &tx, Some(&receipt), Some(webhook))? {
            Ok(_) => outcome("processed", "payout confirmed", Some(&tx)),
            Err(refusal) => outcome("ignored", refusal.message(), Some(&tx)),
        },
    )
}
