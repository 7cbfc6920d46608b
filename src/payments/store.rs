//! SQL for the payments tables: transactions, webhooks, M-Pesa receipts and
//! Idempotency-Key records. (The ledger's own SQL is in `ledger.rs`.)
//!
//! Stage changes are compare-and-set (`WHERE id = ? AND stage = ?`), so of
//! racing requests exactly one changes a transaction; callers run them in
//! the transaction that also writes the ledger entry.

use rusqlite::types::ToSql;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::ids::{new_id, now_ms};
use crate::payments::model::{Gateway, Stage, TxType};

/// One stored transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct TxRow {
    pub id: String,
    pub number: String,
    pub kind: TxType,
    pub method: Gateway,
    pub stage: Stage,
    pub status: String,
    pub payer_id: String,
    pub payee_id: Option<String>,
    pub booking_id: Option<String>,
    pub parent_id: Option<String>,
    pub currency: String,
    pub gross: i64,
    pub fee: i64,
    pub net: i64,
    pub description: Option<String>,
    pub notes: Option<String>,
    pub recorded_by: Option<String>,
    pub external_id: Option<String>,
    pub phone: Option<String>,
    pub mpesa_merchant_request_id: Option<String>,
    pub mpesa_checkout_request_id: Option<String>,
    pub mpesa_conversation_id: Option<String>,
    pub mpesa_receipt: Option<String>,
    pub mpesa_transaction_date: Option<String>,
    pub mpesa_result_code: Option<String>,
    pub mpesa_result_desc: Option<String>,
    pub stripe_payment_intent_id: Option<String>,
    pub stripe_client_secret: Option<String>,
    pub stripe_charge_id: Option<String>,
    pub stripe_refund_id: Option<String>,
    pub escrow_held: bool,
    pub escrow_held_at: Option<i64>,
    pub escrow_released_at: Option<i64>,
    pub escrow_release_condition: Option<String>,
    pub refunded: i64,
    pub refund_reason: Option<String>,
    pub refund_status: Option<String>,
    pub refunded_at: Option<i64>,
    pub refunded_by: Option<String>,
    pub refund_transaction_id: Option<String>,
    pub failure_reason: Option<String>,
    pub failure_code: Option<String>,
    pub webhook_received_at: Option<i64>,
    pub webhook_verified: bool,
    pub webhook_event_id: Option<i64>,
    pub initiated_at: i64,
    pub processed_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub failed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl TxRow {
    /// What is still in escrow for this payment.
    pub fn held_amount(&self) -> i64 {
        if self.stage == Stage::Held {
            self.gross - self.refunded
        } else {
            0
        }
    }

    /// Whether `user_id` is the payer or the payee.
    pub fn involves(&self, user_id: &str) -> bool {
        self.payer_id == user_id || self.payee_id.as_deref() == Some(user_id)
    }
}

const COLUMNS: &str = "id, transaction_number, type, payment_method, stage, status, payer_id, payee_id, booking_id, parent_id, \
    currency, gross_minor, platform_fee_minor, net_minor, description, notes, recorded_by, external_id, phone, \
    mpesa_merchant_request_id, mpesa_checkout_request_id, mpesa_conversation_id, mpesa_receipt, mpesa_transaction_date, \
    mpesa_result_code, mpesa_result_desc, stripe_payment_intent_id, stripe_client_secret, stripe_charge_id, stripe_refund_id, \
    escrow_held, escrow_held_at, escrow_released_at, escrow_release_condition, refunded_minor, refund_reason, refund_status, \
    refunded_at, refunded_by, refund_transaction_id, failure_reason, failure_code, webhook_received_at, webhook_verified, \
    webhook_event_id, initiated_at, processed_at, completed_at, failed_at, created_at, updated_at";

fn from_row(r: &Row) -> rusqlite::Result<TxRow> {
    let bad = |i: usize, what: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("unknown {what}").into(),
        )
    };
    let kind: String = r.get(2)?;
    let method: String = r.get(3)?;
    let stage: String = r.get(4)?;
    Ok(TxRow {
        id: r.get(0)?,
        number: r.get(1)?,
        kind: TxType::parse(&kind).ok_or_else(|| bad(2, "type"))?,
        method: Gateway::parse(&method).ok_or_else(|| bad(3, "payment method"))?,
        stage: Stage::parse(&stage).ok_or_else(|| bad(4, "stage"))?,
        status: r.get(5)?,
        payer_id: r.get(6)?,
        payee_id: r.get(7)?,
        booking_id: r.get(8)?,
        parent_id: r.get(9)?,
        currency: r.get(10)?,
        gross: r.get(11)?,
        fee: r.get(12)?,
        net: r.get(13)?,
        description: r.get(14)?,
        notes: r.get(15)?,
        recorded_by: r.get(16)?,
        external_id: r.get(17)?,
        phone: r.get(18)?,
        mpesa_merchant_request_id: r.get(19)?,
        mpesa_checkout_request_id: r.get(20)?,
        mpesa_conversation_id: r.get(21)?,
        mpesa_receipt: r.get(22)?,
        mpesa_transaction_date: r.get(23)?,
        mpesa_result_code: r.get(24)?,
        mpesa_result_desc: r.get(25)?,
        stripe_payment_intent_id: r.get(26)?,
        stripe_client_secret: r.get(27)?,
        stripe_charge_id: r.get(28)?,
        stripe_refund_id: r.get(29)?,
        escrow_held: r.get(30)?,
        escrow_held_at: r.get(31)?,
        escrow_released_at: r.get(32)?,
        escrow_release_condition: r.get(33)?,
        refunded: r.get(34)?,
        refund_reason: r.get(35)?,
        refund_status: r.get(36)?,
        refunded_at: r.get(37)?,
        refunded_by: r.get(38)?,
        refund_transaction_id: r.get(39)?,
        failure_reason: r.get(40)?,
        failure_code: r.get(41)?,
        webhook_received_at: r.get(42)?,
        webhook_verified: r.get(43)?,
        webhook_event_id: r.get(44)?,
        initiated_at: r.get(45)?,
        processed_at: r.get(46)?,
        completed_at: r.get(47)?,
        failed_at: r.get(48)?,
        created_at: r.get(49)?,
        updated_at: r.get(50)?,
    })
}

/// A transaction to create.
#[derive(Debug, Clone)]
pub struct NewTx {
    pub kind: TxType,
    pub method: Gateway,
    pub stage: Stage,
    pub status: &'static str,
    pub payer_id: String,
    pub payee_id: Option<String>,
    pub booking_id: Option<String>,
    pub parent_id: Option<String>,
    pub currency: String,
    pub gross: i64,
    pub fee: i64,
    pub description: Option<String>,
    pub recorded_by: Option<String>,
    pub phone: Option<String>,
}

/// Inserts a transaction and returns it. The number is
/// `TXN-<epoch ms>-<6 digits of a sequence>`, unique under the single writer.
pub fn insert(conn: &Connection, new: &NewTx) -> ApiResult<TxRow> {
    let id = new_id();
    let now = now_ms();
    let seq: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(rowid), 0) + 1 FROM transactions")?
        .query_row([], |r| r.get(0))?;
    let number = format!("TXN-{now}-{:06}", seq % 1_000_000);
    let held = new.stage == Stage::Held;
    let done = matches!(new.stage, Stage::Held | Stage::Settled);
    conn.prepare_cached(
        "INSERT INTO transactions (id, transaction_number, type, payment_method, stage, status, payer_id, payee_id,
            booking_id, parent_id, currency, gross_minor, platform_fee_minor, net_minor, description, recorded_by, phone,
            escrow_held, escrow_held_at, initiated_at, processed_at, completed_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?20, ?20)",
    )?
    .execute(params![
        id,
        number,
        new.kind.as_str(),
        new.method.as_str(),
        new.stage.as_str(),
        new.status,
        new.payer_id,
        new.payee_id,
        new.booking_id,
        new.parent_id,
        new.currency,
        new.gross,
        new.fee,
        new.gross - new.fee,
        new.description,
        new.recorded_by,
        new.phone,
        held,
        held.then_some(now),
        now,
        done.then_some(now),
        done.then_some(now),
    ])?;
    find(conn, &id)?.ok_or_else(|| ApiError::internal("inserted transaction vanished"))
}

/// The transaction with this id.
pub fn find(conn: &Connection, id: &str) -> ApiResult<Option<TxRow>> {
    let sql = format!("SELECT {COLUMNS} FROM transactions WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], from_row)
        .optional()?)
}

/// The transaction whose `column` equals `value`. `column` is one of the
/// unique gateway reference columns (never client input).
pub fn find_by(conn: &Connection, column: &'static str, value: &str) -> ApiResult<Option<TxRow>> {
    let sql = format!("SELECT {COLUMNS} FROM transactions WHERE {column} = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([value], from_row)
        .optional()?)
}

/// What is already paid or on its way for `booking_id`, in minor units:
/// booking payments pending, processing, held or released, less what was
/// refunded of them.
pub fn committed_for_booking(conn: &Connection, booking_id: &str) -> ApiResult<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT COALESCE(SUM(gross_minor - refunded_minor), 0) FROM transactions
             WHERE booking_id = ?1 AND type = 'booking_payment'
               AND stage IN ('pending', 'processing', 'held', 'released')",
        )?
        .query_row([booking_id], |r| r.get(0))?)
}

/// Booking payments of `booking_id` still in escrow, oldest first.
pub fn held_for_booking(conn: &Connection, booking_id: &str) -> ApiResult<Vec<TxRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM transactions WHERE booking_id = ?1 AND stage = 'held' AND type = 'booking_payment'
         ORDER BY created_at, rowid"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([booking_id], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Refund transactions made from payment `parent_id`, oldest first.
pub fn refunds_of(conn: &Connection, parent_id: &str) -> ApiResult<Vec<TxRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM transactions WHERE parent_id = ?1 AND type = 'refund' ORDER BY created_at, rowid"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([parent_id], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Moves `id` from stage `from` to `to` (with its wire status); `false`
/// when it was not in `from` any more (someone else won the race).
pub fn cas_stage(
    conn: &Connection,
    id: &str,
    from: Stage,
    to: Stage,
    status: &str,
) -> ApiResult<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE transactions SET stage = ?3, status = ?4, updated_at = ?5 WHERE id = ?1 AND stage = ?2",
        )?
        .execute(params![id, from.as_str(), to.as_str(), status, now_ms()])?;
    Ok(n == 1)
}

/// Records a refund on a held payment if nothing was refunded since we
/// read `previous`: the compare-and-set of refunds.
#[allow(clippy::too_many_arguments)]
pub fn cas_refund(
    conn: &Connection,
    id: &str,
    previous: i64,
    refunded: i64,
    to: Stage,
    status: &str,
    reason: &str,
    by: Option<&str>,
    refund_tx: &str,
    refund_status: &str,
) -> ApiResult<bool> {
    let now = now_ms();
    let n = conn
        .prepare_cached(
            "UPDATE transactions SET stage = ?4, status = ?5, refunded_minor = ?3, refund_reason = ?6, refunded_by = ?7,
                refund_transaction_id = ?8, refund_status = ?9, refunded_at = ?10, updated_at = ?10,
                escrow_held = CASE WHEN ?4 = 'held' THEN 1 ELSE 0 END
             WHERE id = ?1 AND stage = 'held' AND refunded_minor = ?2",
        )?
        .execute(params![id, previous, refunded, to.as_str(), status, reason, by, refund_tx, refund_status, now])?;
    Ok(n == 1)
}

/// A value for [`update`].
pub type Set<'a> = (&'static str, &'a dyn ToSql);

/// Sets columns of one transaction (and `updated_at`). Column names are
/// constants of this module's callers, never client input.
pub fn update(conn: &Connection, id: &str, sets: &[Set]) -> ApiResult<()> {
    let mut sql = String::from("UPDATE transactions SET updated_at = ?1");
    for (i, (column, _)) in sets.iter().enumerate() {
        sql.push_str(&format!(", {column} = ?{}", i + 3));
    }
    sql.push_str(" WHERE id = ?2");
    let now = now_ms();
    let mut values: Vec<&dyn ToSql> = vec![&now, &id];
    values.extend(sets.iter().map(|(_, v)| *v));
    conn.prepare_cached(&sql)?.execute(values.as_slice())?;
    Ok(())
}

/// Filters of `GET /transactions`.
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    /// Only transactions where this user is payer or payee (non-admins).
    pub party: Option<String>,
    pub status: Option<String>,
    pub method: Option<String>,
    pub kind: Option<String>,
    pub booking: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// `created_at DESC` etc., from a fixed list.
    pub order: &'static str,
}

fn add_condition(
    conds: &mut Vec<String>,
    values: &mut Vec<Box<dyn ToSql>>,
    column: &str,
    op: &str,
    v: Box<dyn ToSql>,
) {
    values.push(v);
    conds.push(format!("{column} {op} ?{}", values.len()));
}

fn where_clause(f: &ListFilter) -> (String, Vec<Box<dyn ToSql>>) {
    let mut conds: Vec<String> = Vec::new();
    let mut values: Vec<Box<dyn ToSql>> = Vec::new();
    if let Some(p) = &f.party {
        values.push(Box::new(p.clone()));
        let n = values.len();
        conds.push(format!("(payer_id = ?{n} OR payee_id = ?{n})"));
    }
    let text = |v: &Option<String>| v.clone().map(|s| Box::new(s) as Box<dyn ToSql>);
    for (column, value) in [
        ("status", text(&f.status)),
        ("payment_method", text(&f.method)),
        ("type", text(&f.kind)),
        ("booking_id", text(&f.booking)),
    ] {
        if let Some(v) = value {
            add_condition(&mut conds, &mut values, column, "=", v);
        }
    }
    if let Some(t) = f.from_ms {
        add_condition(&mut conds, &mut values, "created_at", ">=", Box::new(t));
    }
    if let Some(t) = f.to_ms {
        add_condition(&mut conds, &mut values, "created_at", "<=", Box::new(t));
    }
    let clause = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    (clause, values)
}

/// One page of transactions matching `f`, and how many match in all.
pub fn list(
    conn: &Connection,
    f: &ListFilter,
    limit: i64,
    offset: i64,
) -> ApiResult<(Vec<TxRow>, i64)> {
    let (clause, values) = where_clause(f);
    let refs: Vec<&dyn ToSql> = values.iter().map(|b| b.as_ref()).collect();
    let total: i64 = conn
        .prepare(&format!("SELECT COUNT(*) FROM transactions{clause}"))?
        .query_row(refs.as_slice(), |r| r.get(0))?;
    let order = if f.order.is_empty() {
        "created_at DESC"
    } else {
        f.order
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM transactions{clause} ORDER BY {order}, rowid DESC LIMIT {limit} OFFSET {offset}"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(refs.as_slice(), from_row)?;
    Ok((rows.collect::<Result<_, _>>()?, total))
}

/// `(status, count, sum of gross)` over the transactions matching `f`.
pub fn status_counts(conn: &Connection, f: &ListFilter) -> ApiResult<Vec<(String, i64, i64)>> {
    let (clause, values) = where_clause(f);
    let refs: Vec<&dyn ToSql> = values.iter().map(|b| b.as_ref()).collect();
    let mut stmt = conn.prepare(&format!(
        "SELECT status, COUNT(*), COALESCE(SUM(gross_minor), 0) FROM transactions{clause} GROUP BY status ORDER BY status"
    ))?;
    let rows = stmt.query_map(refs.as_slice(), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Money figures for `GET /transactions/stats`, in one currency.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MoneyStats {
    /// Booking payments that reached escrow, less what was refunded.
    pub spent: i64,
    /// Net released to technicians.
    pub earned: i64,
    /// Still in escrow.
    pub held: i64,
    /// Platform fees on released payments.
    pub fees: i64,
    /// Gross of completed transactions (the original `totalRevenue`).
    pub completed_gross: i64,
}

/// [`MoneyStats`] for `user` (as payer: spent; as payee: earned, fees;
/// either: held), or platform-wide when `user` is `None`. The
/// platform-wide figures are one row of running totals (`admin_totals`,
/// kept by triggers on `transactions`), not a sum over every transaction;
/// a user's own figures sum their transactions through the payer and
/// payee indexes.
pub fn money_stats(conn: &Connection, user: Option<&str>, currency: &str) -> ApiResult<MoneyStats> {
    let Some(user) = user else {
        return platform_money(conn, currency);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT
            COALESCE(SUM(CASE WHEN payer_id = ?1 AND type = 'booking_payment' AND stage IN ('held','released','refunded')
                     THEN gross_minor - refunded_minor END), 0),
            COALESCE(SUM(CASE WHEN payee_id = ?1 AND type = 'booking_payment' AND stage = 'released' THEN net_minor END), 0),
            COALESCE(SUM(CASE WHEN type = 'booking_payment' AND stage = 'held' THEN gross_minor - refunded_minor END), 0),
            COALESCE(SUM(CASE WHEN payee_id = ?1 AND type = 'booking_payment' AND stage = 'released' THEN platform_fee_minor END), 0),
            COALESCE(SUM(CASE WHEN status = 'completed' THEN gross_minor END), 0)
         FROM transactions WHERE currency = ?2 AND (payer_id = ?1 OR payee_id = ?1)",
    )?;
    Ok(stmt.query_row(params![user, currency], money_row)?)
}

fn money_row(r: &Row) -> rusqlite::Result<MoneyStats> {
    Ok(MoneyStats {
        spent: r.get(0)?,
        earned: r.get(1)?,
        held: r.get(2)?,
        fees: r.get(3)?,
        completed_gross: r.get(4)?,
    })
}

/// Platform-wide [`MoneyStats`] in `currency` from the running totals
/// (all zero before the first transaction in that currency).
pub fn platform_money(conn: &Connection, currency: &str) -> ApiResult<MoneyStats> {
    Ok(conn
        .prepare_cached(
            "SELECT spent_minor, earned_minor, escrow_held_minor, platform_fees_minor, completed_gross_minor
             FROM admin_totals WHERE currency = ?1",
        )?
        .query_row([currency], money_row)
        .optional()?
        .unwrap_or_default())
}

/// Platform-wide [`MoneyStats`] in `currency` summed over every
/// transaction: what the running totals must equal (tests and repairs).
pub fn recount_platform_money(conn: &Connection, currency: &str) -> ApiResult<MoneyStats> {
    Ok(conn
        .prepare_cached(
            "SELECT
                COALESCE(SUM(CASE WHEN type = 'booking_payment' AND stage IN ('held','released','refunded')
                         THEN gross_minor - refunded_minor END), 0),
                COALESCE(SUM(CASE WHEN type = 'booking_payment' AND stage = 'released' THEN net_minor END), 0),
                COALESCE(SUM(CASE WHEN type = 'booking_payment' AND stage = 'held' THEN gross_minor - refunded_minor END), 0),
                COALESCE(SUM(CASE WHEN type = 'booking_payment' AND stage = 'released' THEN platform_fee_minor END), 0),
                COALESCE(SUM(CASE WHEN status = 'completed' THEN gross_minor END), 0)
             FROM transactions WHERE currency = ?1",
        )?
        .query_row([currency], money_row)?)
}

// ------------------------------------------------------------------ receipts

/// Accepts an M-Pesa receipt number for `transaction_id`; `false` when the
/// receipt was already accepted (for any transaction).
pub fn accept_receipt(conn: &Connection, receipt: &str, transaction_id: &str) -> ApiResult<bool> {
    let n = conn
        .prepare_cached(
            "INSERT INTO mpesa_receipts (receipt, transaction_id, accepted_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (receipt) DO NOTHING",
        )?
        .execute(params![receipt, transaction_id, now_ms()])?;
    Ok(n == 1)
}

// ------------------------------------------------------------------ webhooks

/// A stored webhook.
#[derive(Debug, Clone)]
pub struct WebhookRow {
    pub id: i64,
    pub provider: String,
    pub event_key: String,
    pub raw_body: String,
    pub outcome: String,
    pub received_at: i64,
}

/// Stores a webhook as `received`; `None` when this provider's event key
/// was stored before (a replay).
pub fn insert_webhook(
    conn: &Connection,
    provider: &str,
    event_key: &str,
    event_type: Option<&str>,
    raw_body: &str,
) -> ApiResult<Option<i64>> {
    let n = conn
        .prepare_cached(
            "INSERT INTO payment_webhooks (provider, event_key, event_type, raw_body, received_at, outcome)
             VALUES (?1, ?2, ?3, ?4, ?5, 'received') ON CONFLICT (provider, event_key) DO NOTHING",
        )?
        .execute(params![provider, event_key, event_type, raw_body, now_ms()])?;
    Ok((n == 1).then(|| conn.last_insert_rowid()))
}

/// The stored webhook `id`.
pub fn find_webhook(conn: &Connection, id: i64) -> ApiResult<Option<WebhookRow>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, provider, event_key, raw_body, outcome, received_at FROM payment_webhooks WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok(WebhookRow {
                id: r.get(0)?,
                provider: r.get(1)?,
                event_key: r.get(2)?,
                raw_body: r.get(3)?,
                outcome: r.get(4)?,
                received_at: r.get(5)?,
            })
        })
        .optional()?)
}

/// Settles a `received` webhook with its outcome; `false` when another
/// worker already did (the caller must then roll back its effects).
pub fn finish_webhook(
    conn: &Connection,
    id: i64,
    outcome: &str,
    detail: &str,
    transaction_id: Option<&str>,
) -> ApiResult<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE payment_webhooks SET outcome = ?2, detail = ?3, transaction_id = ?4, processed_at = ?5
             WHERE id = ?1 AND outcome = 'received'",
        )?
        .execute(params![id, outcome, detail, transaction_id, now_ms()])?;
    Ok(n == 1)
}

/// Webhooks of `provider` by outcome, for `GET`-less review and tests.
pub fn count_webhooks(conn: &Connection, provider: &str, outcome: &str) -> ApiResult<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT COUNT(*) FROM payment_webhooks WHERE provider = ?1 AND outcome = ?2",
        )?
        .query_row(params![provider, outcome], |r| r.get(0))?)
}

/// A stored webhook as an operator reviews it (the raw body included: it
/// is what the provider sent, kept for exactly this review).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSummary {
    pub id: i64,
    pub provider: String,
    pub event_key: String,
    pub event_type: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
    pub transaction_id: Option<String>,
    pub raw_body: String,
    pub received_at: i64,
    pub processed_at: Option<i64>,
}

/// The outcomes a stored webhook can have.
pub const WEBHOOK_OUTCOMES: [&str; 4] = ["received", "processed", "ignored", "review"];

/// Stored webhooks with `outcome` (any when `None`), newest first, and how
/// many match. The caller validates `outcome` against [`WEBHOOK_OUTCOMES`].
pub fn list_webhooks(
    conn: &Connection,
    outcome: Option<&str>,
    limit: i64,
    offset: i64,
) -> ApiResult<(Vec<WebhookSummary>, i64)> {
    let total: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM payment_webhooks WHERE (?1 IS NULL OR outcome = ?1)")?
        .query_row([outcome], |r| r.get(0))?;
    let mut stmt = conn.prepare_cached(
        "SELECT id, provider, event_key, event_type, outcome, detail, transaction_id, raw_body, received_at, processed_at
         FROM payment_webhooks WHERE (?1 IS NULL OR outcome = ?1) ORDER BY id DESC LIMIT ?2 OFFSET ?3",
    )?;
    let rows = stmt.query_map(params![outcome, limit, offset], |r| {
        Ok(WebhookSummary {
            id: r.get(0)?,
            provider: r.get(1)?,
            event_key: r.get(2)?,
            event_type: r.get(3)?,
            outcome: r.get(4)?,
            detail: r.get(5)?,
            transaction_id: r.get(6)?,
            raw_body: r.get(7)?,
            received_at: r.get(8)?,
            processed_at: r.get(9)?,
        })
    })?;
    Ok((rows.collect::<Result<_, _>>()?, total))
}

// ------------------------------------------------------------------ idempotency

/// A stored Idempotency-Key.
#[derive(Debug, Clone)]
pub struct IdempotencyRow {
    pub fingerprint: String,
    pub state: String,
    pub status_code: Option<u16>,
    pub response: Option<Value>,
    pub expires_at: i64,
}

/// The record of `key` for `user_id`, if any (expired ones included).
pub fn find_idempotency(
    conn: &Connection,
    user_id: &str,
    key: &str,
) -> ApiResult<Option<IdempotencyRow>> {
    Ok(conn
        .prepare_cached(
            "SELECT fingerprint, state, status_code, response, expires_at FROM payment_idempotency WHERE user_id = ?1 AND key = ?2",
        )?
        .query_row(params![user_id, key], |r| {
            let response: Option<String> = r.get(3)?;
            Ok(IdempotencyRow {
                fingerprint: r.get(0)?,
                state: r.get(1)?,
                status_code: r.get(2)?,
                response: response.and_then(|s| serde_json::from_str(&s).ok()),
                expires_at: r.get(4)?,
            })
        })
        .optional()?)
}

/// Writes (or overwrites) the record of `key`.
#[allow(clippy::too_many_arguments)]
pub fn put_idempotency(
    conn: &Connection,
    user_id: &str,
    key: &str,
    fingerprint: &str,
    state: &str,
    status_code: Option<u16>,
    response: Option<&Value>,
    ttl_ms: i64,
) -> ApiResult<()> {
    let now = now_ms();
    conn.prepare_cached(
        "INSERT INTO payment_idempotency (user_id, key, fingerprint, state, status_code, response, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (user_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, state = excluded.state,
            status_code = excluded.status_code, response = excluded.response, expires_at = excluded.expires_at",
    )?
    .execute(params![
        user_id,
        key,
        fingerprint,
        state,
        status_code,
        response.map(|v| v.to_string()),
        now,
        now + ttl_ms
    ])?;
    Ok(())
}

/// Forgets `key` (a request that failed is not replayed).
pub fn delete_idempotency(conn: &Connection, user_id: &str, key: &str) -> ApiResult<()> {
    conn.prepare_cached("DELETE FROM payment_idempotency WHERE user_id = ?1 AND key = ?2")?
        .execute(params![user_id, key])?;
    Ok(())
}

/// Deletes up to `batch` expired keys; returns how many. Called with every
/// key recorded, so expired keys never pile up and no sweeper job is needed.
pub fn sweep_idempotency(conn: &Connection, now: i64, batch: i64) -> ApiResult<usize> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM payment_idempotency WHERE rowid IN
               (SELECT rowid FROM payment_idempotency WHERE expires_at <= ?1 LIMIT ?2)",
        )?
        .execute(params![now, batch])?)
}
