//! Payments: transactions, a double-entry ledger, escrow per booking,
//! wallets, refunds, payouts, and the M-Pesa and Stripe webhooks.
//!
//! Money only moves through [`ledger::apply`], inside the same SQLite
//! transaction as the transaction record and its stage change
//! ([`movements`]); the pure rules (postings of each operation, fees,
//! lifecycle) are in [`model`]. Gateways are reached through
//! `crate::providers::{mpesa, stripe}`; with no credentials configured they
//! write to the data dir's outbox and payments stay pending, so the platform
//! runs offline.
//!
//! Offline development: an M-Pesa payment created without Daraja
//! credentials gets the CheckoutRequestID `offline-<transaction id>` (see
//! `outbox/mpesa-stkpush-<id>.json`); posting a Daraja-shaped callback with
//! that id to `/api/v1/transactions/webhook/mpesa/<callback secret>`
//! completes it (no STK Query is made offline).

pub mod background;
pub mod checkout;
pub mod document;
pub mod idempotency;
pub mod ledger;
pub mod model;
pub mod movements;
pub mod routes;
pub mod schemas;
pub mod store;
pub mod webhooks;

use std::path::Path;

use crate::config::Config;
use crate::events::EventBus;
use crate::jobs::JobRegistry;
use crate::providers::mpesa::TokenCache;

/// Process-wide payments state kept in `AppState`.
pub struct Payments {
    /// The secret path segment of the M-Pesa callback URLs.
    pub callback_secret: String,
    /// The Daraja OAuth token, cached until shortly before it expires.
    pub daraja_tokens: TokenCache,
}

impl Payments {
    /// Loads (or generates and keeps in `<data_dir>/mpesa-callback.secret`)
    /// the callback secret.
    pub fn open(config: &Config) -> Result<Payments, String> {
        let callback_secret = if config.mpesa_callback_secret.is_empty() {
            persisted_secret(&config.data_dir.join("mpesa-callback.secret"))?
        } else {
            config.mpesa_callback_secret.clone()
        };
        Ok(Payments {
            callback_secret,
            daraja_tokens: TokenCache::default(),
        })
    }
}

/// The M-Pesa STK callback URL Daraja is given.
pub fn stk_callback_url(config: &Config, secret: &str) -> String {
    format!(
        "{}/api/v1/transactions/webhook/mpesa/{secret}",
        config.public_url
    )
}

fn persisted_secret(path: &Path) -> Result<String, String> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        let existing = existing.trim().to_string();
        if existing.len() >= 32 {
            return Ok(existing);
        }
    }
    let secret = crate::ids::random_token(24);
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(secret.as_bytes()).map_err(|e| e.to_string())?;
    f.sync_all().map_err(|e| e.to_string())?;
    Ok(secret)
}

/// Registers the payments job handlers and the booking-event consumer.
pub fn register(jobs: &mut JobRegistry, events: &mut EventBus) {
    background::register(jobs, events);
}
