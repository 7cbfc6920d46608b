//! The double-entry ledger in SQLite: accounts, entries and postings.
//!
//! [`apply`] writes one operation's postings and the account balances in
//! the caller's transaction, so a movement commits or rolls back with the
//! transaction record and its status change. Balances are kept on the
//! account row (fast reads) and can always be recomputed from the postings:
//! [`check`] does exactly that and reports any difference.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::ids::{iso, now_ms};
use crate::payments::model::{self, Account, Op};

/// The row id of `account` in `currency`, created with a zero balance when new.
pub fn account_id(conn: &Connection, account: &Account, currency: &str) -> ApiResult<i64> {
    let key = account.key(currency);
    if let Some(id) = conn
        .prepare_cached("SELECT id FROM ledger_accounts WHERE key = ?1")?
        .query_row([&key], |r| r.get(0))
        .optional()?
    {
        return Ok(id);
    }
    let now = now_ms();
    conn.prepare_cached(
        "INSERT INTO ledger_accounts (key, kind, owner_id, currency, balance_minor, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 0, ?5, ?5)",
    )?
    .execute(params![key, account.kind(), account.owner(), currency, now])?;
    Ok(conn.last_insert_rowid())
}

/// Why a movement could not be written.
fn negative_balance(account: &Account) -> ApiError {
    match account {
        Account::Wallet(_) => ApiError::BadRequest("Insufficient wallet balance".into()),
        other => ApiError::internal(format!("ledger: {} would go below zero", other.key("?"))),
    }
}

/// Writes `op` as one balanced entry in `currency`, linked to
/// `transaction_id`, and updates the balances. A wallet that would go
/// below zero refuses the whole movement (400 "Insufficient wallet
/// balance"); the caller's transaction must then roll back, which the
/// `Err` return does. Returns the entry id.
pub fn apply(
    conn: &Connection,
    op: &Op,
    currency: &str,
    transaction_id: Option<&str>,
) -> ApiResult<i64> {
    let postings = model::postings(op);
    if postings.iter().map(|p| p.amount).sum::<i64>() != 0 || postings.len() < 2 {
        return Err(ApiError::internal(format!("unbalanced operation {op:?}")));
    }
    let now = now_ms();
    conn.prepare_cached(
        "INSERT INTO ledger_entries (kind, transaction_id, currency, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![op.kind(), transaction_id, currency, now])?;
    let entry = conn.last_insert_rowid();
    for posting in &postings {
        let id = account_id(conn, &posting.account, currency)?;
        let balance: i64 = conn
            .prepare_cached(
                "UPDATE ledger_accounts SET balance_minor = balance_minor + ?2, updated_at = ?3
                 WHERE id = ?1 AND (kind = 'clearing' OR balance_minor + ?2 >= 0)
                 RETURNING balance_minor",
            )?
            .query_row(params![id, posting.amount, now], |r| r.get(0))
            .optional()?
            .ok_or_else(|| negative_balance(&posting.account))?;
        debug_assert!(balance >= 0 || !posting.account.is_non_negative());
        conn.prepare_cached(
            "INSERT INTO ledger_postings (entry_id, account_id, amount_minor, created_at) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![entry, id, posting.amount, now])?;
    }
    Ok(entry)
}

/// The balance of `account` in `currency` (0 when it has never moved).
pub fn balance(conn: &Connection, account: &Account, currency: &str) -> ApiResult<i64> {
    Ok(conn
        .prepare_cached("SELECT balance_minor FROM ledger_accounts WHERE key = ?1")?
        .query_row([account.key(currency)], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// Postings of one account, newest first, as the wallet shows them.
pub fn account_postings(
    conn: &Connection,
    account: &Account,
    currency: &str,
    limit: i64,
    offset: i64,
) -> ApiResult<(Vec<Value>, i64)> {
    let Some(id): Option<i64> = conn
        .prepare_cached("SELECT id FROM ledger_accounts WHERE key = ?1")?
        .query_row([account.key(currency)], |r| r.get(0))
        .optional()?
    else {
        return Ok((Vec::new(), 0));
    };
    let total: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM ledger_postings WHERE account_id = ?1")?
        .query_row([id], |r| r.get(0))?;
    let mut stmt = conn.prepare_cached(
        "SELECT p.id, p.amount_minor, p.created_at, e.kind, e.transaction_id, e.id
         FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id
         WHERE p.account_id = ?1 ORDER BY p.id DESC LIMIT ?2 OFFSET ?3",
    )?;
    let rows = stmt.query_map(params![id, limit, offset], |r| {
        let amount: i64 = r.get(1)?;
        Ok(json!({
            "id": r.get::<_, i64>(0)?.to_string(),
            "amount": model::major(amount),
            "direction": if amount > 0 { "credit" } else { "debit" },
            "kind": r.get::<_, String>(3)?,
            "transaction": r.get::<_, Option<String>>(4)?,
            "entry": r.get::<_, i64>(5)?.to_string(),
            "currency": currency,
            "createdAt": iso(r.get(2)?),
        }))
    })?;
    Ok((rows.collect::<Result<_, _>>()?, total))
}

/// The sum of balances of every account of `kind` in `currency`.
pub fn total_of_kind(conn: &Connection, kind: &str, currency: &str) -> ApiResult<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT COALESCE(SUM(balance_minor), 0) FROM ledger_accounts WHERE kind = ?1 AND currency = ?2",
        )?
        .query_row(params![kind, currency], |r| r.get(0))?)
}

/// What [`check`] found. `is_ok()` when every invariant holds.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LedgerReport {
    pub accounts: usize,
    pub entries: usize,
    pub postings: usize,
    /// Entries whose postings do not sum to zero: `(entry id, sum)`.
    pub unbalanced_entries: Vec<(i64, i64)>,
    /// Entries with a posting on an account of another currency.
    pub mixed_currency_entries: Vec<i64>,
    /// Accounts whose stored balance differs from the sum of their postings:
    /// `(key, stored balance, sum of postings)`.
    pub mismatched_accounts: Vec<(String, i64, i64)>,
    /// Accounts below zero that may never be: `(key, balance)`.
    pub negative_accounts: Vec<(String, i64)>,
    /// Sum of all balances per currency (zero when the ledger balances).
    pub totals: Vec<(String, i64)>,
}

impl LedgerReport {
    /// Whether every invariant holds.
    pub fn is_ok(&self) -> bool {
        self.unbalanced_entries.is_empty()
            && self.mixed_currency_entries.is_empty()
            && self.mismatched_accounts.is_empty()
            && self.negative_accounts.is_empty()
            && self.totals.iter().all(|(_, t)| *t == 0)
    }

    /// A few lines for humans (the `ledger-check` command prints them).
    pub fn summary(&self) -> String {
        let mut s = format!(
            "accounts: {}, entries: {}, postings: {}\n",
            self.accounts, self.entries, self.postings
        );
        for (cur, total) in &self.totals {
            s.push_str(&format!("sum of balances ({cur}): {total}\n"));
        }
        for (id, sum) in self.unbalanced_entries.iter().take(20) {
            s.push_str(&format!("UNBALANCED entry {id}: postings sum to {sum}\n"));
        }
        for id in self.mixed_currency_entries.iter().take(20) {
            s.push_str(&format!("MIXED CURRENCY entry {id}\n"));
        }
        for (key, stored, sum) in self.mismatched_accounts.iter().take(20) {
            s.push_str(&format!(
                "MISMATCH {key}: balance {stored}, postings sum {sum}\n"
            ));
        }
        for (key, balance) in self.negative_accounts.iter().take(20) {
            s.push_str(&format!("NEGATIVE {key}: {balance}\n"));
        }
        s.push_str(if self.is_ok() {
            "ledger: ok"
        } else {
            "ledger: VIOLATED"
        });
        s
    }
}

/// Verifies the ledger's invariants by recomputing everything from the
/// postings in one pass: each entry sums to zero in one currency, each
/// account's balance equals the sum of its postings, no wallet, escrow,
/// payout or revenue account is negative, and all balances sum to zero per
/// currency. Reads only; run it on any connection (one snapshot).
pub fn check(conn: &Connection) -> ApiResult<LedgerReport> {
    // Everything in one read transaction, so the figures are one snapshot.
    if !conn.is_autocommit() {
        return check_snapshot(conn);
    }
    conn.execute_batch("BEGIN DEFERRED")?;
    let result = check_snapshot(conn);
    let _ = conn.execute_batch("COMMIT");
    result
}

fn check_snapshot(conn: &Connection) -> ApiResult<LedgerReport> {
    let mut currencies: Vec<String> = Vec::new();
    let mut currency_index = |c: String| -> u8 {
        match currencies.iter().position(|x| *x == c) {
            Some(i) => i as u8,
            None => {
                currencies.push(c);
                (currencies.len() - 1) as u8
            }
        }
    };
    struct Acct {
        key: String,
        kind: String,
        currency: u8,
        balance: i64,
        sum: i64,
    }
    let mut accounts: Vec<Option<Acct>> = Vec::new();
    {
        let mut stmt =
            conn.prepare("SELECT id, key, kind, currency, balance_minor FROM ledger_accounts")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let idx = usize::try_from(id).map_err(ApiError::internal)?;
            if accounts.len() <= idx {
                accounts.resize_with(idx + 1, || None);
            }
            accounts[idx] = Some(Acct {
                key: r.get(1)?,
                kind: r.get(2)?,
                currency: currency_index(r.get(3)?),
                balance: r.get(4)?,
                sum: 0,
            });
        }
    }
    let mut entries: Vec<(i64, u8, bool)> = Vec::new(); // (sum, currency, exists)
    {
        let mut stmt = conn.prepare("SELECT id, currency FROM ledger_entries")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let idx = usize::try_from(id).map_err(ApiError::internal)?;
            if entries.len() <= idx {
                entries.resize(idx + 1, (0, 0, false));
            }
            entries[idx] = (0, currency_index(r.get(1)?), true);
        }
    }
    let mut report = LedgerReport::default();
    let mut mixed = Vec::new();
    {
        let mut stmt =
            conn.prepare("SELECT entry_id, account_id, amount_minor FROM ledger_postings")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let entry: i64 = r.get(0)?;
            let account: i64 = r.get(1)?;
            let amount: i64 = r.get(2)?;
            report.postings += 1;
            let acct = usize::try_from(account)
                .ok()
                .and_then(|i| accounts.get_mut(i))
                .and_then(Option::as_mut)
                .ok_or_else(|| {
                    ApiError::internal(format!("posting on unknown account {account}"))
                })?;
            acct.sum += amount;
            let e = usize::try_from(entry)
                .ok()
                .and_then(|i| entries.get_mut(i))
                .filter(|e| e.2)
                .ok_or_else(|| ApiError::internal(format!("posting of unknown entry {entry}")))?;
            e.0 += amount;
            if e.1 != acct.currency {
                mixed.push(entry);
            }
        }
    }
    mixed.sort_unstable();
    mixed.dedup();
    report.mixed_currency_entries = mixed;
    let mut totals = vec![0i64; currencies.len()];
    for a in accounts.iter().flatten() {
        report.accounts += 1;
        totals[a.currency as usize] += a.balance;
        if a.balance != a.sum {
            report
                .mismatched_accounts
                .push((a.key.clone(), a.balance, a.sum));
        }
        if a.kind != "clearing" && a.balance < 0 {
            report.negative_accounts.push((a.key.clone(), a.balance));
        }
    }
    for (id, e) in entries.iter().enumerate() {
        if e.2 {
            report.entries += 1;
            if e.0 != 0 {
                report.unbalanced_entries.push((id as i64, e.0));
            }
        }
    }
    report.totals = currencies.into_iter().zip(totals).collect();
    Ok(report)
}
