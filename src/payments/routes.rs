//! `/api/v1/transactions` and `/api/v1/wallet`: parse, authorise, call a
//! movement, respond. Every POST that moves money takes an
//! `Idempotency-Key` header.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::{policy, CurrentUser, Role};
use crate::error::{check, finish, ApiError, ApiResult};
use crate::http::json::from_value;
use crate::http::{list_response, AppJson, AppQuery, Page};
use crate::ids::{is_valid_id, parse_datetime};
use crate::openapi::schemas::ErrorBody;
use crate::payments::document::{transaction_json, Users, View};
use crate::payments::idempotency::{self, Replayable};
use crate::payments::model::{self, Account as LedgerAccount, Gateway, TxType};
use crate::payments::movements::{self, Actor, PaymentRequest, RefundTo};
use crate::payments::schemas::{
    CreatedTransaction, MpesaAck, RefundResponse, TransactionList, TransactionResponse,
    TransactionStats, WalletResponse, WebhookAck,
};
use crate::payments::{checkout, ledger, store, webhooks};
use crate::providers::mpesa;
use crate::state::AppState;

/// The `/api/v1/transactions` router.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_transactions, create_transaction))
        .routes(routes!(transaction_stats))
        .routes(routes!(get_transaction))
        .routes(routes!(release_escrow))
        .routes(routes!(refund_transaction))
        .routes(routes!(confirm_transaction))
        .routes(routes!(gateway_webhook))
        .routes(routes!(mpesa_callback))
        .routes(routes!(mpesa_b2c_result))
        .routes(routes!(mpesa_b2c_timeout))
}

/// The `/api/v1/wallet` router.
pub fn wallet_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_wallet))
        .routes(routes!(withdraw))
}

fn parse_id(id: &str) -> ApiResult<()> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(ApiError::not_found("Transaction"))
    }
}

fn text(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

fn document(conn: &rusqlite::Connection, tx: &store::TxRow, viewer: &str) -> ApiResult<Value> {
    transaction_json(
        conn,
        tx,
        View {
            viewer_id: viewer,
            detail: true,
        },
        &mut Users::default(),
    )
}

// ---------------------------------------------------------------- list

/// Filters of `GET /transactions`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    /// A transaction status.
    status: Option<String>,
    /// mpesa, stripe, cash or wallet (also `paymentMethod`).
    gateway: Option<String>,
    payment_method: Option<String>,
    /// A transaction type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    kind: Option<String>,
    /// A booking id.
    booking: Option<String>,
    /// Created at or after (ISO 8601 or YYYY-MM-DD).
    start_date: Option<String>,
    /// Created at or before.
    end_date: Option<String>,
    /// `-createdAt` (default), `createdAt`, `-amount` or `amount`.
    sort: Option<String>,
    /// Page number, from 1.
    page: Option<String>,
    /// Items per page, 1 to 100.
    limit: Option<String>,
}

fn list_filter(q: &ListQuery, user: &CurrentUser) -> ApiResult<store::ListFilter> {
    let mut errors = Vec::new();
    let status = text(&q.status);
    check(
        &mut errors,
        status
            .as_deref()
            .is_none_or(|s| model::WIRE_STATUSES.contains(&s)),
        "status",
        "Unknown transaction status",
    );
    let method_raw = text(&q.gateway).or_else(|| text(&q.payment_method));
    let method = method_raw.as_deref().map(Gateway::parse);
    check(
        &mut errors,
        !matches!(method, Some(None)),
        "gateway",
        "Gateway must be mpesa, stripe, cash or wallet",
    );
    let kind = text(&q.kind);
    check(
        &mut errors,
        kind.as_deref()
            .is_none_or(|k| model::WIRE_TYPES.contains(&k)),
        "type",
        "Unknown transaction type",
    );
    let booking = text(&q.booking);
    check(
        &mut errors,
        booking.as_deref().is_none_or(is_valid_id),
        "booking",
        "Valid booking ID is required",
    );
    let from = text(&q.start_date).map(|s| parse_datetime(&s));
    check(
        &mut errors,
        !matches!(from, Some(None)),
        "startDate",
        "startDate must be a date",
    );
    let mut to = text(&q.end_date).map(|s| parse_datetime(&s));
    check(
        &mut errors,
        !matches!(to, Some(None)),
        "endDate",
        "endDate must be a date",
    );
    // A bare date as the end means the whole of that day.
    if let (Some(Some(t)), Some(raw)) = (to, text(&q.end_date)) {
        if raw.len() == 10 {
            to = Some(Some(t + 86_400_000 - 1));
        }
    }
    let order = match text(&q.sort).as_deref() {
        None | Some("-createdAt") => "created_at DESC",
        Some("createdAt") => "created_at ASC",
        Some("-amount") => "gross_minor DESC",
        Some("amount") => "gross_minor ASC",
        Some(_) => {
            check(
                &mut errors,
                false,
                "sort",
                "sort must be -createdAt, createdAt, -amount or amount",
            );
            ""
        }
    };
    finish(errors)?;
    Ok(store::ListFilter {
        party: (!user.is_admin()).then(|| user.id.clone()),
        status,
        method: method.flatten().map(|g| g.as_str().to_string()),
        kind,
        booking,
        from_ms: from.flatten(),
        to_ms: to.flatten(),
        order,
    })
}

/// The caller's transactions (as payer or payee); admins see all.
#[utoipa::path(get, path = "/", tag = "transactions", params(ListQuery), security(("bearer" = [])),
    responses((status = 200, body = TransactionList), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn list_transactions(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(q): AppQuery<ListQuery>,
) -> ApiResult<Json<Value>> {
    let page = Page::of(q.page.as_deref(), q.limit.as_deref(), 20)?;
    let filter = list_filter(&q, &user)?;
    let viewer = user.id.clone();
    let body = state
        .db
        .read(move |c| {
            let (rows, total) = store::list(c, &filter, page.limit as i64, page.offset())?;
            let mut users = Users::default();
            let view = View {
                viewer_id: &viewer,
                detail: false,
            };
            let items = rows
                .iter()
                .map(|t| transaction_json(c, t, view, &mut users))
                .collect::<ApiResult<Vec<_>>>()?;
            Ok(list_response("transactions", items, total, page))
        })
        .await?;
    Ok(Json(body))
}

// ---------------------------------------------------------------- stats

/// Query of `GET /transactions/stats`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Currency of the money figures (default KES).
    currency: Option<String>,
}

/// Counts and money figures: own (spent, earned, held, fees) or, for
/// admins, platform-wide.
#[utoipa::path(get, path = "/stats", tag = "transactions", params(StatsQuery), security(("bearer" = [])),
    responses((status = 200, body = TransactionStats), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn transaction_stats(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(q): AppQuery<StatsQuery>,
) -> ApiResult<Json<Value>> {
    let currency = match text(&q.currency) {
        None => "KES",
        Some(c) => model::parse_currency(&c)
            .ok_or_else(|| ApiError::field("currency", "Unsupported currency"))?,
    };
    let party = (!user.is_admin()).then(|| user.id.clone());
    let body = state
        .db
        .read(move |c| {
            let filter = store::ListFilter {
                party: party.clone(),
                ..Default::default()
            };
            let counts = store::status_counts(c, &filter)?;
            let total: i64 = counts.iter().map(|(_, n, _)| n).sum();
            let money = store::money_stats(c, party.as_deref(), currency)?;
            let stats: Vec<Value> = counts
                .iter()
                .map(|(status, count, gross)| {
                    json!({"_id": status, "count": count, "totalAmount": model::major(*gross)})
                })
                .collect();
            Ok(json!({
                "success": true,
                "scope": if party.is_some() { "own" } else { "platform" },
                "currency": currency,
                "total": total,
                "totalRevenue": model::major(money.completed_gross),
                "spent": model::major(money.spent),
                "earned": model::major(money.earned),
                "held": model::major(money.held),
                "fees": model::major(money.fees),
                "stats": stats,
            }))
        })
        .await?;
    Ok(Json(body))
}

// ---------------------------------------------------------------- create

/// `POST /transactions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateTransactionBody {
    /// The booking paid for (booking payments).
    booking: Option<String>,
    /// In major units, at most 2 decimals (whole shillings for M-Pesa).
    #[schema(value_type = Option<f64>)]
    amount: Option<Value>,
    /// mpesa, stripe, cash or wallet.
    gateway: Option<String>,
    /// Same as `gateway`.
    payment_method: Option<String>,
    /// booking_payment (default) or wallet_topup.
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    kind: Option<String>,
    description: Option<String>,
    /// M-Pesa number to prompt (default: the payer's own).
    phone_number: Option<String>,
    /// Must match the booking's currency; top-ups default to KES.
    currency: Option<String>,
}

fn parse_create(body: &CreateTransactionBody) -> ApiResult<PaymentRequest> {
    let mut errors = Vec::new();
    let kind = match text(&body.kind).as_deref() {
        None => Some(TxType::BookingPayment),
        Some("booking_payment") => Some(TxType::BookingPayment),
        Some("wallet_topup") => Some(TxType::WalletTopup),
        Some(_) => None,
    };
    check(
        &mut errors,
        kind.is_some(),
        "type",
        "type must be booking_payment or wallet_topup",
    );
    let booking = text(&body.booking);
    if kind == Some(TxType::BookingPayment) {
        check(
            &mut errors,
            booking.as_deref().is_some_and(is_valid_id),
            "booking",
            "Valid booking ID is required",
        );
    } else {
        check(
            &mut errors,
            booking.is_none(),
            "booking",
            "A wallet top-up is not for a booking",
        );
    }
    let amount = model::parse_amount(body.amount.as_ref().unwrap_or(&Value::Null));
    if let Err(m) = amount {
        check(&mut errors, false, "amount", m);
    }
    let method = text(&body.gateway)
        .or_else(|| text(&body.payment_method))
        .and_then(|g| Gateway::parse(&g));
    check(
        &mut errors,
        method.is_some(),
        "gateway",
        "Valid payment gateway is required",
    );
    if kind == Some(TxType::WalletTopup) {
        check(
            &mut errors,
            matches!(method, None | Some(Gateway::Mpesa | Gateway::Stripe)),
            "gateway",
            "A wallet is topped up through mpesa or stripe",
        );
    }
    let currency = match text(&body.currency) {
        None => None,
        Some(c) => {
            let parsed = model::parse_currency(&c);
            check(
                &mut errors,
                parsed.is_some(),
                "currency",
                "Unsupported currency",
            );
            parsed
        }
    };
    let phone = match text(&body.phone_number) {
        None => None,
        Some(p) => {
            let normalized = policy::normalize_phone(&p);
            check(
                &mut errors,
                normalized.as_deref().and_then(mpesa::msisdn).is_some(),
                "phoneNumber",
                "A Kenyan M-Pesa number (+2547... or 07...) is required",
            );
            normalized
        }
    };
    let description = text(&body.description);
    check(
        &mut errors,
        description
            .as_ref()
            .is_none_or(|d| d.chars().count() <= 500),
        "description",
        "Description is at most 500 characters",
    );
    finish(errors)?;
    Ok(PaymentRequest {
        kind: kind.unwrap_or(TxType::BookingPayment),
        method: method.unwrap_or(Gateway::Wallet),
        booking_id: booking,
        currency,
        amount: amount.unwrap_or(0),
        description,
        phone,
    })
}

/// Pay for a booking (M-Pesa STK Push, Stripe, wallet into escrow), record
/// cash received (the booking's technician), or top up the wallet
/// (`type: "wallet_topup"`).
#[utoipa::path(post, path = "/", tag = "transactions", request_body = CreateTransactionBody, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for the same request")),
    responses((status = 201, body = CreatedTransaction), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn create_transaction(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    AppJson(raw): AppJson<Value>,
) -> ApiResult<Replayable> {
    let key = idempotency::from_request(&headers, &user.id, "POST /transactions", &raw)?;
    let body: CreateTransactionBody = from_value(raw)?;
    let req = parse_create(&body)?;
    checkout::start(&state, &user, req, key).await
}

// ---------------------------------------------------------------- one

/// One transaction, to its payer, its payee or an admin (others: 404).
#[utoipa::path(get, path = "/{id}", tag = "transactions", security(("bearer" = [])),
    params(("id" = String, Path, description = "Transaction id")),
    responses((status = 200, body = TransactionResponse), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn get_transaction(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    parse_id(&id)?;
    let (viewer, admin) = (user.id.clone(), user.is_admin());
    let doc = state
        .db
        .read(move |c| {
            let tx = store::find(c, &id)?
                .filter(|t| admin || t.involves(&viewer))
                .ok_or_else(|| ApiError::not_found("Transaction"))?;
            document(c, &tx, &viewer)
        })
        .await?;
    Ok(Json(json!({"success": true, "transaction": doc})))
}

// ---------------------------------------------------------------- escrow

/// Release escrow to the booking's technician less the platform fee (admin).
#[utoipa::path(post, path = "/{id}/release-escrow", tag = "transactions", security(("bearer" = [])),
    params(("id" = String, Path, description = "Transaction id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for the same request")),
    responses((status = 200, body = TransactionResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn release_escrow(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    AppJson(raw): AppJson<Value>,
) -> ApiResult<Replayable> {
    user.require_role(&[Role::Admin])?;
    parse_id(&id)?;
    let key = idempotency::from_request(
        &headers,
        &user.id,
        &format!("POST /transactions/{id}/release-escrow"),
        &raw,
    )?;
    let config = state.config.clone();
    let admin = user.id.clone();
    state
        .db
        .write(move |c| {
            idempotency::once(c, key.as_ref(), 200, || {
                let tx = movements::release(c, &config, &id, "admin", Some(&admin))?;
                Ok(json!({
                    "success": true,
                    "message": "Escrow released successfully",
                    "transaction": document(c, &tx, &admin)?,
                }))
            })
        })
        .await
}

/// `POST /transactions/:id/refund`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundBody {
    /// Why (required).
    reason: Option<String>,
    /// Major units; absent, null or 0 refunds everything still held.
    #[schema(value_type = Option<f64>)]
    amount: Option<Value>,
    /// `original` (default: back through the gateway the payment came from) or `wallet`.
    refund_to: Option<String>,
}

/// Refund a payment from escrow, in full or in part (admin).
#[utoipa::path(post, path = "/{id}/refund", tag = "transactions", request_body = RefundBody, security(("bearer" = [])),
    params(("id" = String, Path, description = "Transaction id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for the same request")),
    responses((status = 200, body = RefundResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn refund_transaction(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    AppJson(raw): AppJson<Value>,
) -> ApiResult<Replayable> {
    user.require_role(&[Role::Admin])?;
    parse_id(&id)?;
    let key = idempotency::from_request(
        &headers,
        &user.id,
        &format!("POST /transactions/{id}/refund"),
        &raw,
    )?;
    let body: RefundBody = from_value(raw)?;
    let mut errors = Vec::new();
    let reason = text(&body.reason);
    check(
        &mut errors,
        reason.is_some(),
        "reason",
        "Refund reason is required",
    );
    check(
        &mut errors,
        reason.as_ref().is_none_or(|r| r.chars().count() <= 500),
        "reason",
        "Refund reason is at most 500 characters",
    );
    let amount = match &body.amount {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_f64() == Some(0.0) => None,
        Some(Value::String(s)) if s.trim().is_empty() || s.trim() == "0" => None,
        Some(v) => match model::parse_amount(v) {
            Ok(a) => Some(a),
            Err(m) => {
                check(&mut errors, false, "amount", m);
                None
            }
        },
    };
    let to = match text(&body.refund_to).as_deref() {
        None | Some("original") => Some(RefundTo::Original),
        Some("wallet") => Some(RefundTo::Wallet),
        Some(_) => None,
    };
    check(
        &mut errors,
        to.is_some(),
        "refundTo",
        "refundTo must be original or wallet",
    );
    finish(errors)?;
    let (reason, to) = (reason.unwrap_or_default(), to.unwrap_or(RefundTo::Original));
    let admin = user.id.clone();
    state
        .db
        .write(move |c| {
            idempotency::once(c, key.as_ref(), 200, || {
                let (tx, child) = movements::refund(c, &id, amount, &reason, to, Some(&admin))?;
                Ok(json!({
                    "success": true,
                    "message": "Refund processed successfully",
                    "transaction": document(c, &tx, &admin)?,
                    "refundTransaction": document(c, &child, &admin)?,
                }))
            })
        })
        .await
}

/// The customer (or an admin) confirms a cash payment the technician
/// recorded; it then sits in escrow like any payment.
#[utoipa::path(post, path = "/{id}/confirm", tag = "transactions", security(("bearer" = [])),
    params(("id" = String, Path, description = "Transaction id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for the same request")),
    responses((status = 200, body = TransactionResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn confirm_transaction(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    AppJson(raw): AppJson<Value>,
) -> ApiResult<Replayable> {
    parse_id(&id)?;
    let key = idempotency::from_request(
        &headers,
        &user.id,
        &format!("POST /transactions/{id}/confirm"),
        &raw,
    )?;
    let config = state.config.clone();
    let (uid, admin) = (user.id.clone(), user.is_admin());
    state
        .db
        .write(move |c| {
            idempotency::once(c, key.as_ref(), 200, || {
                let actor = Actor {
                    id: &uid,
                    is_admin: admin,
                };
                let tx = movements::confirm_cash(c, &config, &id, actor)?;
                Ok(json!({
                    "success": true,
                    "message": "Cash payment confirmed; held in escrow",
                    "transaction": document(c, &tx, &uid)?,
                }))
            })
        })
        .await
}

// ---------------------------------------------------------------- webhooks

/// Gateway webhooks: `stripe` (signed with `Stripe-Signature`). M-Pesa
/// posts to its own secret path.
#[utoipa::path(post, path = "/webhook/{gateway}", tag = "transactions",
    params(("gateway" = String, Path, description = "stripe"),
           ("Stripe-Signature" = Option<String>, Header, description = "t=<unix time>,v1=<HMAC-SHA256>")),
    request_body(content = Object, description = "The provider's event, verbatim"),
    responses((status = 200, body = WebhookAck), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn gateway_webhook(
    State(state): State<AppState>,
    Path(gateway): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    match gateway.as_str() {
        "stripe" => Ok(Json(webhooks::stripe(&state, &headers, body).await?)),
        _ => Err(ApiError::NotFound("Webhook not found".into())),
    }
}

/// Daraja's STK Push callback (`Body.stkCallback`), on the secret path.
#[utoipa::path(post, path = "/webhook/mpesa/{secret}", tag = "transactions",
    params(("secret" = String, Path, description = "The configured callback secret")),
    request_body(content = Object, description = "Daraja's callback, verbatim"),
    responses((status = 200, body = MpesaAck), (status = 404, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn mpesa_callback(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    Ok(Json(webhooks::mpesa_stk(&state, &secret, body).await?))
}

/// Daraja's B2C result (`Result`), on the secret path.
#[utoipa::path(post, path = "/webhook/mpesa/{secret}/result", tag = "transactions",
    params(("secret" = String, Path, description = "The configured callback secret")),
    request_body(content = Object, description = "Daraja's result, verbatim"),
    responses((status = 200, body = MpesaAck), (status = 404, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn mpesa_b2c_result(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        webhooks::mpesa_b2c(&state, &secret, body, false).await?,
    ))
}

/// Daraja's B2C queue timeout, on the secret path (kept for review).
#[utoipa::path(post, path = "/webhook/mpesa/{secret}/timeout", tag = "transactions",
    params(("secret" = String, Path, description = "The configured callback secret")),
    request_body(content = Object, description = "Daraja's timeout notice, verbatim"),
    responses((status = 200, body = MpesaAck), (status = 404, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn mpesa_b2c_timeout(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        webhooks::mpesa_b2c(&state, &secret, body, true).await?,
    ))
}

// ---------------------------------------------------------------- wallet

/// Query of `GET /wallet`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WalletQuery {
    /// Currency of the wallet (default KES).
    currency: Option<String>,
    /// Page of postings, from 1.
    page: Option<String>,
    /// Postings per page, 1 to 100.
    limit: Option<String>,
}

/// The caller's wallet: balance and postings, newest first.
#[utoipa::path(get, path = "/", tag = "wallet", params(WalletQuery), security(("bearer" = [])),
    responses((status = 200, body = WalletResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn get_wallet(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(q): AppQuery<WalletQuery>,
) -> ApiResult<Json<Value>> {
    let page = Page::of(q.page.as_deref(), q.limit.as_deref(), 20)?;
    let currency = match text(&q.currency) {
        None => "KES",
        Some(c) => model::parse_currency(&c)
            .ok_or_else(|| ApiError::field("currency", "Unsupported currency"))?,
    };
    let account = LedgerAccount::Wallet(user.id.clone());
    let wallet = state
        .db
        .read(move |c| {
            let balance = ledger::balance(c, &account, currency)?;
            let (postings, total) =
                ledger::account_postings(c, &account, currency, page.limit as i64, page.offset())?;
            Ok(json!({
                "balance": model::major(balance),
                "currency": currency,
                "postings": postings,
                "total": total,
                "page": page.page,
                "pages": page.pages(total),
            }))
        })
        .await?;
    Ok(Json(json!({"success": true, "wallet": wallet})))
}

/// `POST /wallet/withdraw`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WithdrawBody {
    /// Whole shillings, at least 10.
    #[schema(value_type = Option<f64>)]
    amount: Option<Value>,
    /// M-Pesa number to pay (default: the technician's own).
    phone_number: Option<String>,
}

/// A technician withdraws from the wallet to M-Pesa (B2C); pending until
/// M-Pesa confirms.
#[utoipa::path(post, path = "/withdraw", tag = "wallet", request_body = WithdrawBody, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for the same request")),
    responses((status = 201, body = TransactionResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn withdraw(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    AppJson(raw): AppJson<Value>,
) -> ApiResult<Replayable> {
    user.require_role(&[Role::Technician])?;
    let key = idempotency::from_request(&headers, &user.id, "POST /wallet/withdraw", &raw)?;
    let body: WithdrawBody = from_value(raw)?;
    let mut errors = Vec::new();
    let amount = match model::parse_amount(body.amount.as_ref().unwrap_or(&Value::Null)) {
        Ok(a) if a % 100 != 0 => {
            check(
                &mut errors,
                false,
                "amount",
                "M-Pesa amounts must be whole shillings",
            );
            0
        }
        Ok(a) if a < model::MPESA_MIN_WITHDRAWAL_MINOR => {
            check(
                &mut errors,
                false,
                "amount",
                "The smallest withdrawal is KES 10",
            );
            0
        }
        Ok(a) if a > model::MPESA_MAX_MINOR => {
            check(
                &mut errors,
                false,
                "amount",
                "M-Pesa allows at most KES 250,000 per payment",
            );
            0
        }
        Ok(a) => a,
        Err(m) => {
            check(&mut errors, false, "amount", m);
            0
        }
    };
    let phone = match text(&body.phone_number) {
        Some(p) => policy::normalize_phone(&p),
        None => Some(user.phone.clone()),
    };
    let phone = phone.filter(|p| mpesa::msisdn(p).is_some());
    check(
        &mut errors,
        phone.is_some(),
        "phoneNumber",
        "A Kenyan M-Pesa number (+2547... or 07...) is required",
    );
    finish(errors)?;
    let phone = phone.unwrap_or_default();
    let uid = user.id.clone();
    state
        .db
        .write(move |c| {
            idempotency::once(c, key.as_ref(), 201, || {
                let tx = movements::withdraw(c, &uid, amount, &phone)?;
                Ok(json!({
                    "success": true,
                    "message": "Withdrawal requested; it completes when M-Pesa confirms",
                    "transaction": document(c, &tx, &uid)?,
                }))
            })
        })
        .await
}
