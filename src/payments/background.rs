//! Payments work done off the request path: the booking-event consumer,
//! the automatic escrow release, payouts through gateways (withdrawals and
//! refunds), the re-processing of M-Pesa callbacks awaiting an STK Query,
//! and the STK Query of pushes that got no callback. Every handler is idempotent:
//! jobs and events are delivered at least once.

use serde_json::{json, Value};

use crate::error::ApiError;
use crate::events::{Event, EventBus};
use crate::ids::now_ms;
use crate::jobs::{Job, JobRegistry};
use crate::payments::model::{Gateway, Stage, TxType};
use crate::payments::{movements, store, webhooks};
use crate::providers::gateway::{ProviderError, Sent};
use crate::providers::{mpesa, stripe};
use crate::state::AppState;

/// Releases a completed booking's escrow (payload `{bookingId}`).
pub const JOB_AUTO_RELEASE: &str = "payments.auto_release";
/// Sends a payout through its gateway (payload `{transactionId}`).
pub const JOB_PAYOUT: &str = "payments.payout";
/// Finishes an M-Pesa callback that awaits its STK Query (payload `{webhookId}`).
pub const JOB_WEBHOOK: &str = "payments.webhook";
/// Settles an STK Push that got no callback, by STK Query (payload `{transactionId}`).
pub const JOB_STK_RECONCILE: &str = "payments.stk_reconcile";
/// The event consumer's name (its cursor).
pub const CONSUMER: &str = "payments";

/// Registers every handler of this module.
pub fn register(jobs: &mut JobRegistry, events: &mut EventBus) {
    jobs.register(JOB_AUTO_RELEASE, auto_release);
    jobs.register(JOB_PAYOUT, payout);
    jobs.register(JOB_WEBHOOK, finish_webhook);
    jobs.register(JOB_STK_RECONCILE, stk_reconcile);
    events.subscribe(CONSUMER, on_booking_event);
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(String::from)
}

async fn auto_release(state: AppState, job: Job) -> Result<(), String> {
    let Some(booking) = text(&job.payload, "bookingId") else {
        return Ok(());
    };
    let config = state.config.clone();
    let released = state
        .db
        .write(move |tx| movements::auto_release(tx, &config, &booking))
        .await
        .map_err(|e| e.to_string())?;
    if released > 0 {
        tracing::info!(released, "escrow released automatically");
    }
    Ok(())
}

async fn finish_webhook(state: AppState, job: Job) -> Result<(), String> {
    let Some(id) = job.payload.get("webhookId").and_then(Value::as_i64) else {
        return Ok(());
    };
    webhooks::finish_pending(&state, id)
        .await
        .map_err(|e| e.to_string())
}

async fn stk_reconcile(state: AppState, job: Job) -> Result<(), String> {
    let Some(id) = text(&job.payload, "transactionId") else {
        return Ok(());
    };
    let lookup = id.clone();
    let Some(tx) = state
        .db
        .read(move |c| store::find(c, &lookup))
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(());
    };
    let checkout = match tx.mpesa_checkout_request_id.clone() {
        Some(c)
            if matches!(tx.stage, Stage::Pending | Stage::Processing)
                && !c.starts_with("offline-") =>
        {
            c
        }
        _ => return Ok(()),
    };
    let daraja = mpesa::Daraja {
        http: &state.http,
        config: &state.config,
        tokens: &state.payments.daraja_tokens,
    };
    let answer = match daraja.stk_query(&checkout).await {
        Ok(a) => a,
        Err(ProviderError::Unavailable(m)) => return Err(m),
        Err(ProviderError::Rejected(m)) => {
            tracing::warn!(transaction = %id, error = %m, "STK Query refused; payment left for review");
            return Ok(());
        }
    };
    let config = state.config.clone();
    state
        .db
        .write(move |c| {
            let Some(tx) = store::find(c, &id)? else {
                return Ok(());
            };
            if answer.is_paid() {
                let evidence = movements::Evidence::MpesaQuery {
                    result_desc: answer.result_desc.clone(),
                };
                let _ = movements::confirm_payment(c, &config, &tx, &evidence)?;
            } else if let Ok(code) = answer.result_code.parse::<i64>() {
                let status = crate::payments::model::mpesa_failure_status(code);
                let _ = movements::fail_payment(
                    c,
                    &tx,
                    status,
                    &answer.result_desc,
                    Some(&answer.result_code),
                )?;
            }
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())
}

/// Reacts to the bookings module's events: a completed booking schedules
/// the automatic release; a cancelled one gives back what was held (less a
/// late-cancellation fee); a resolved dispute releases or refunds.
async fn on_booking_event(state: AppState, event: Event) -> Result<(), String> {
    let Some(booking) = event.subject_id.clone() else {
        return Ok(());
    };
    let config = state.config.clone();
    match event.kind.as_str() {
        "booking.status_changed"
            if event.payload.get("to").and_then(Value::as_str) == Some("cancelled") =>
        {
            let actor = event.actor_id.clone();
            state
                .db
                .write(move |tx| {
                    movements::settle_cancellation(tx, &config, &booking, actor.as_deref())
                })
                .await
                .map_err(|e| e.to_string())
        }
        "booking.status_changed" => {
            if event.payload.get("to").and_then(Value::as_str) != Some("completed") {
                return Ok(());
            }
            state
                .db
                .write(move |tx| {
                    let delay = (config.escrow_release_delay_secs as i64).saturating_mul(1000);
                    crate::jobs::enqueue(
                        tx,
                        JOB_AUTO_RELEASE,
                        &json!({"bookingId": booking}),
                        Some(now_ms().saturating_add(delay)),
                    )?;
                    Ok(())
                })
                .await
                .map_err(|e| e.to_string())
        }
        "booking.dispute_resolved" => {
            let outcome = text(&event.payload, "outcome").unwrap_or_default();
            if outcome != "completed" && outcome != "refunded" {
                tracing::warn!(event = event.id, %outcome, "dispute outcome not understood; nothing moved");
                return Ok(());
            }
            let refund = match event.payload.get("refundAmount") {
                None | Some(Value::Null) => None,
                Some(v) => match crate::payments::model::parse_amount(v) {
                    Ok(minor) => Some(minor),
                    Err(e) => {
                        tracing::warn!(
                            event = event.id,
                            error = e,
                            "dispute refund amount unreadable; refunding in full"
                        );
                        None
                    }
                },
            };
            let actor = event.actor_id.clone();
            state
                .db
                .write(move |tx| {
                    movements::resolve_dispute(
                        tx,
                        &config,
                        &booking,
                        &outcome,
                        refund,
                        actor.as_deref(),
                    )
                })
                .await
                .map_err(|e| e.to_string())
        }
        _ => Ok(()),
    }
}

/// What a payout job learnt from the gateway.
enum PayoutAnswer {
    Accepted(movements::GatewayRefs),
    Settled(movements::GatewayRefs),
    Refused(String),
    Offline,
}

async fn payout(state: AppState, job: Job) -> Result<(), String> {
    let Some(id) = text(&job.payload, "transactionId") else {
        return Ok(());
    };
    let lookup = id.clone();
    let found = state
        .db
        .read(move |c| {
            let tx = store::find(c, &lookup)?;
            let parent = match tx.as_ref().and_then(|t| t.parent_id.clone()) {
                Some(p) => store::find(c, &p)?,
                None => None,
            };
            Ok((tx, parent))
        })
        .await
        .map_err(|e| e.to_string())?;
    let (Some(tx), parent) = found else {
        return Ok(());
    };
    if tx.stage != Stage::Pending || !matches!(tx.kind, TxType::WalletWithdrawal | TxType::Refund) {
        return Ok(());
    }
    let answer = match tx.method {
        Gateway::Mpesa => {
            let phone = tx
                .phone
                .as_deref()
                .and_then(mpesa::msisdn)
                .unwrap_or_default();
            let base =
                crate::payments::stk_callback_url(&state.config, &state.payments.callback_secret);
            let daraja = mpesa::Daraja {
                http: &state.http,
                config: &state.config,
                tokens: &state.payments.daraja_tokens,
            };
            let request = mpesa::B2cPayment {
                originator_id: tx.id.clone(),
                amount: tx.gross / 100,
                phone,
                remarks: if tx.kind == TxType::Refund {
                    "BaiTech refund".into()
                } else {
                    "BaiTech withdrawal".into()
                },
                occasion: tx.number.clone(),
                result_url: format!("{base}/result"),
                timeout_url: format!("{base}/timeout"),
            };
            match daraja.b2c(&request).await {
                Ok(Sent::Live(a)) => PayoutAnswer::Accepted(movements::GatewayRefs {
                    conversation_id: Some(a.conversation_id).filter(|s| !s.is_empty()),
                    ..Default::default()
                }),
                Ok(Sent::Outbox(_)) => PayoutAnswer::Offline,
                Err(ProviderError::Rejected(m)) => PayoutAnswer::Refused(m),
                Err(ProviderError::Unavailable(m)) => return Err(m),
            }
        }
        Gateway::Stripe => {
            let Some(intent) = parent.and_then(|p| p.stripe_payment_intent_id) else {
                return Err(format!("refund {} has no PaymentIntent to refund", tx.id));
            };
            let client = stripe::Stripe {
                http: &state.http,
                config: &state.config,
            };
            let request = stripe::NewRefund {
                payment_intent: intent,
                amount: tx.gross,
                metadata: vec![
                    ("transaction_id".into(), tx.id.clone()),
                    (
                        "parent_transaction_id".into(),
                        tx.parent_id.clone().unwrap_or_default(),
                    ),
                ],
                idempotency_key: format!("refund-{}", tx.id),
            };
            match client.create_refund(&request).await {
                Ok(Sent::Live(r)) => {
                    let refs = movements::GatewayRefs {
                        stripe_refund_id: Some(r.id.clone()).filter(|s| !s.is_empty()),
                        ..Default::default()
                    };
                    match r.status.as_str() {
                        "succeeded" => PayoutAnswer::Settled(refs),
                        "failed" | "canceled" => {
                            PayoutAnswer::Refused(format!("Stripe refund {}", r.status))
                        }
                        _ => PayoutAnswer::Accepted(refs),
                    }
                }
                Ok(Sent::Outbox(_)) => PayoutAnswer::Offline,
                Err(ProviderError::Rejected(m)) => PayoutAnswer::Refused(m),
                Err(ProviderError::Unavailable(m)) => return Err(m),
            }
        }
        other => return Err(format!("payout through {} is not possible", other.as_str())),
    };
    state
        .db
        .write(move |c| {
            let Some(tx) = store::find(c, &id)? else {
                return Ok(());
            };
            match answer {
                PayoutAnswer::Accepted(refs) => {
                    movements::gateway_accepted(c, &tx.id, &refs)?;
                }
                PayoutAnswer::Settled(refs) => {
                    let tx = movements::gateway_accepted(c, &tx.id, &refs)?;
                    let _ = movements::payout_settled(c, &tx, None, None)?;
                }
                PayoutAnswer::Refused(reason) => {
                    let _ = movements::payout_failed(c, &tx, &reason)?;
                }
                PayoutAnswer::Offline => {
                    movements::gateway_offline(c, &tx.id, &movements::GatewayRefs::default())?;
                }
            }
            Ok::<(), ApiError>(())
        })
        .await
        .map_err(|e| e.to_string())
}
