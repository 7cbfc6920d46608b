//! Creating a payment: record it, ask the gateway (STK Push or a Stripe
//! PaymentIntent), record the gateway's answer. The gateway is called
//! between two transactions, never while holding the writer; the
//! Idempotency-Key is `pending` in between, so a concurrent replay is a 409
//! and a finished one replays the answer, gateway references included.

use serde_json::{json, Value};

use crate::auth::store::Account;
use crate::auth::Role;
use crate::error::{ApiError, ApiResult};
use crate::payments::background::JOB_STK_RECONCILE;
use crate::payments::document::{transaction_json, Users, View};
use crate::payments::idempotency::{self, Key, Replayable};
use crate::payments::model::Gateway;
use crate::payments::movements::{self, Actor, GatewayRefs, PaymentRequest};
use crate::payments::store::{self, TxRow};
use crate::providers::gateway::{ProviderError, Sent};
use crate::providers::{mpesa, stripe};
use crate::state::AppState;

enum Step {
    Replay(Replayable),
    Done(Value),
    Gateway(Box<TxRow>),
}

/// The body of a created transaction, with the gateway's references on top.
pub fn created_body(conn: &rusqlite::Connection, tx: &TxRow, viewer: &str) -> ApiResult<Value> {
    let doc = transaction_json(
        conn,
        tx,
        View {
            viewer_id: viewer,
            detail: true,
        },
        &mut Users::default(),
    )?;
    let mut body = json!({
        "success": true,
        "message": "Transaction created successfully",
        "transaction": doc,
    });
    if tx.method == Gateway::Mpesa {
        body["checkoutRequestID"] = json!(tx.mpesa_checkout_request_id);
        body["merchantRequestID"] = json!(tx.mpesa_merchant_request_id);
    }
    if tx.method == Gateway::Stripe {
        body["paymentIntentId"] = json!(tx.stripe_payment_intent_id);
        body["clientSecret"] = json!(tx.stripe_client_secret);
    }
    Ok(body)
}

/// Creates the payment `req` for `user` and answers `201`.
pub async fn start(
    state: &AppState,
    user: &Account,
    req: PaymentRequest,
    key: Option<Key>,
) -> ApiResult<Replayable> {
    let config = state.config.clone();
    let actor_id = user.id.clone();
    let is_admin = user.role == Role::Admin;
    let k = key.clone();
    let first = state
        .db
        .write(move |c| {
            if let Some(k) = &k {
                if let Some(replay) = idempotency::lookup(c, k)? {
                    return Ok(Step::Replay(replay));
                }
            }
            let actor = Actor {
                id: &actor_id,
                is_admin,
            };
            let tx = movements::create_payment(c, &config, actor, &req)?;
            if matches!(tx.method, Gateway::Mpesa | Gateway::Stripe) {
                if let Some(k) = &k {
                    idempotency::reserve(c, k)?;
                }
                return Ok(Step::Gateway(Box::new(tx)));
            }
            let body = created_body(c, &tx, &actor_id)?;
            if let Some(k) = &k {
                idempotency::complete(c, k, 201, &body)?;
            }
            Ok(Step::Done(body))
        })
        .await?;
    let tx = match first {
        Step::Replay(r) => return Ok(r),
        Step::Done(body) => {
            return Ok(Replayable {
                status: 201,
                body,
                replayed: false,
            })
        }
        Step::Gateway(tx) => *tx,
    };
    let answer = match tx.method {
        Gateway::Mpesa => stk_push(state, &tx).await,
        _ => payment_intent(state, &tx).await,
    };
    let id = tx.id.clone();
    let viewer = user.id.clone();
    let reconcile_secs = state.config.mpesa_reconcile_after_secs;
    let gateway = if tx.method == Gateway::Mpesa {
        "M-Pesa"
    } else {
        "card"
    };
    let outcome = state
        .db
        .write(move |c| match answer {
            Ok((live, refs)) => {
                let tx = if live {
                    let tx = movements::gateway_accepted(c, &id, &refs)?;
                    if tx.method == Gateway::Mpesa {
                        // Settles it by STK Query should the callback never come.
                        let after = (reconcile_secs as i64).saturating_mul(1000);
                        crate::jobs::enqueue(
                            c,
                            JOB_STK_RECONCILE,
                            &json!({"transactionId": tx.id}),
                            Some(crate::ids::now_ms().saturating_add(after)),
                        )?;
                    }
                    tx
                } else {
                    movements::gateway_offline(c, &id, &refs)?
                };
                let body = created_body(c, &tx, &viewer)?;
                if let Some(k) = &key {
                    idempotency::complete(c, k, 201, &body)?;
                }
                Ok(Ok(body))
            }
            Err(e) => {
                if let Some(tx) = store::find(c, &id)? {
                    let _ = movements::fail_payment(c, &tx, "failed", &e.to_string(), None)?;
                }
                if let Some(k) = &key {
                    idempotency::release(c, k)?;
                }
                Ok(Err(e))
            }
        })
        .await?;
    match outcome {
        Ok(body) => Ok(Replayable {
            status: 201,
            body,
            replayed: false,
        }),
        Err(ProviderError::Rejected(m)) => Err(ApiError::BadRequest(format!(
            "Failed to initiate {gateway} payment: {m}"
        ))),
        Err(ProviderError::Unavailable(m)) => Err(ApiError::ServiceUnavailable(format!(
            "Failed to initiate {gateway} payment: {m}"
        ))),
    }
}

/// `(sent live?, references)` of an STK Push for `tx`.
async fn stk_push(state: &AppState, tx: &TxRow) -> Result<(bool, GatewayRefs), ProviderError> {
    let daraja = mpesa::Daraja {
        http: &state.http,
        config: &state.config,
        tokens: &state.payments.daraja_tokens,
    };
    let phone = tx
        .phone
        .as_deref()
        .and_then(mpesa::msisdn)
        .ok_or_else(|| ProviderError::Rejected("no M-Pesa phone number".into()))?;
    let request = mpesa::StkPush {
        reference: tx.id.clone(),
        amount: tx.gross / 100,
        phone,
        callback_url: crate::payments::stk_callback_url(
            &state.config,
            &state.payments.callback_secret,
        ),
        account_reference: "BaiTech".into(),
        description: if tx.booking_id.is_some() {
            "Booking".into()
        } else {
            "Wallet topup".into()
        },
    };
    match daraja.stk_push(&request).await? {
        Sent::Live(a) => Ok((
            true,
            GatewayRefs {
                merchant_request_id: Some(a.merchant_request_id),
                checkout_request_id: Some(a.checkout_request_id),
                ..Default::default()
            },
        )),
        Sent::Outbox(_) => Ok((
            false,
            GatewayRefs {
                merchant_request_id: Some(format!("offline-{}", tx.id)),
                checkout_request_id: Some(format!("offline-{}", tx.id)),
                ..Default::default()
            },
        )),
    }
}

/// `(sent live?, references)` of a PaymentIntent for `tx`.
async fn payment_intent(
    state: &AppState,
    tx: &TxRow,
) -> Result<(bool, GatewayRefs), ProviderError> {
    let client = stripe::Stripe {
        http: &state.http,
        config: &state.config,
    };
    let mut metadata = vec![
        ("transaction_id".to_string(), tx.id.clone()),
        ("transaction_number".to_string(), tx.number.clone()),
        ("type".to_string(), tx.kind.as_str().to_string()),
    ];
    if let Some(b) = &tx.booking_id {
        metadata.push(("booking_id".into(), b.clone()));
    }
    let request = stripe::NewIntent {
        amount: tx.gross,
        currency: tx.currency.clone(),
        description: format!("BaiTech {}", tx.number),
        metadata,
        idempotency_key: format!("pi-{}", tx.id),
    };
    match client.create_payment_intent(&request).await? {
        Sent::Live(intent) => Ok((
            true,
            GatewayRefs {
                payment_intent_id: Some(intent.id),
                client_secret: intent.client_secret,
                ..Default::default()
            },
        )),
        Sent::Outbox(_) => Ok((
            false,
            GatewayRefs {
                payment_intent_id: Some(format!("pi_offline_{}", tx.id)),
                ..Default::default()
            },
        )),
    }
}
