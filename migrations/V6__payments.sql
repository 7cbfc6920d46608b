-- Payments: a double-entry ledger, transactions (payments, top-ups, refunds,
-- withdrawals), gateway webhooks, and Idempotency-Key replays.
-- Money is integer minor units with a currency; times are integer ms.

-- Ledger accounts: a wallet per user, an escrow per booking, platform
-- revenue, and per gateway a clearing account (money that came in from /
-- went out to the outside world) and a payout account (money on its way
-- out, until the gateway confirms). One account per currency.
CREATE TABLE ledger_accounts (
    id             INTEGER PRIMARY KEY,
    key            TEXT NOT NULL UNIQUE,
    kind           TEXT NOT NULL CHECK (kind IN ('wallet','escrow','revenue','clearing','payout')),
    owner_id       TEXT,
    currency       TEXT NOT NULL,
    balance_minor  INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    -- Only clearing accounts (the outside world) may go below zero.
    CHECK (kind = 'clearing' OR balance_minor >= 0)
);
CREATE INDEX ledger_accounts_owner ON ledger_accounts (kind, owner_id);

-- One balanced movement (its postings sum to zero).
CREATE TABLE ledger_entries (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL,
    transaction_id  TEXT,
    currency        TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX ledger_entries_transaction ON ledger_entries (transaction_id);

-- A signed amount on one account: positive adds to its balance.
CREATE TABLE ledger_postings (
    id            INTEGER PRIMARY KEY,
    entry_id      INTEGER NOT NULL REFERENCES ledger_entries (id),
    account_id    INTEGER NOT NULL REFERENCES ledger_accounts (id),
    amount_minor  INTEGER NOT NULL CHECK (amount_minor <> 0),
    created_at    INTEGER NOT NULL
);
CREATE INDEX ledger_postings_account ON ledger_postings (account_id, id);

-- Transactions as clients see them. `stage` is the internal lifecycle
-- (pending, processing, held, released, refunded, settled, failed);
-- `status` is the wire vocabulary derived from it.
CREATE TABLE transactions (
    id                        TEXT PRIMARY KEY,
    transaction_number        TEXT NOT NULL UNIQUE,
    type                      TEXT NOT NULL,
    payment_method            TEXT NOT NULL,
    stage                     TEXT NOT NULL,
    status                    TEXT NOT NULL,
    payer_id                  TEXT NOT NULL REFERENCES users (id),
    payee_id                  TEXT REFERENCES users (id),
    booking_id                TEXT REFERENCES bookings (id),
    parent_id                 TEXT REFERENCES transactions (id),
    currency                  TEXT NOT NULL,
    gross_minor               INTEGER NOT NULL CHECK (gross_minor > 0),
    platform_fee_minor        INTEGER NOT NULL DEFAULT 0,
    net_minor                 INTEGER NOT NULL,
    description               TEXT,
    notes                     TEXT,
    recorded_by               TEXT,
    external_id               TEXT,
    phone                     TEXT,
    mpesa_merchant_request_id TEXT,
    mpesa_checkout_request_id TEXT UNIQUE,
    mpesa_conversation_id     TEXT UNIQUE,
    mpesa_receipt             TEXT UNIQUE,
    mpesa_transaction_date    TEXT,
    mpesa_result_code         TEXT,
    mpesa_result_desc         TEXT,
    stripe_payment_intent_id  TEXT UNIQUE,
    stripe_client_secret      TEXT,
    stripe_charge_id          TEXT,
    stripe_refund_id          TEXT UNIQUE,
    escrow_held               INTEGER NOT NULL DEFAULT 0,
    escrow_held_at            INTEGER,
    escrow_released_at        INTEGER,
    escrow_release_condition  TEXT,
    refunded_minor            INTEGER NOT NULL DEFAULT 0,
    refund_reason             TEXT,
    refund_status             TEXT,
    refunded_at               INTEGER,
    refunded_by               TEXT,
    refund_transaction_id     TEXT,
    failure_reason            TEXT,
    failure_code              TEXT,
    webhook_received_at       INTEGER,
    webhook_verified          INTEGER NOT NULL DEFAULT 0,
    webhook_event_id          INTEGER,
    initiated_at              INTEGER NOT NULL,
    processed_at              INTEGER,
    completed_at              INTEGER,
    failed_at                 INTEGER,
    created_at                INTEGER NOT NULL,
    updated_at                INTEGER NOT NULL,
    CHECK (refunded_minor >= 0 AND refunded_minor <= gross_minor)
);
CREATE INDEX transactions_payer ON transactions (payer_id, created_at);
CREATE INDEX transactions_payee ON transactions (payee_id, created_at);
CREATE INDEX transactions_booking ON transactions (booking_id, stage);
CREATE INDEX transactions_created ON transactions (created_at);
CREATE INDEX transactions_parent ON transactions (parent_id);

-- Every M-Pesa receipt ever accepted: a receipt is accepted once.
CREATE TABLE mpesa_receipts (
    receipt         TEXT PRIMARY KEY,
    transaction_id  TEXT NOT NULL,
    accepted_at     INTEGER NOT NULL
);

-- Every webhook received, with its raw body: processed exactly once.
-- event_key is Stripe's event id, or the SHA-256 of a Daraja body.
CREATE TABLE payment_webhooks (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    provider        TEXT NOT NULL,
    event_key       TEXT NOT NULL,
    event_type      TEXT,
    raw_body        TEXT NOT NULL,
    received_at     INTEGER NOT NULL,
    outcome         TEXT NOT NULL CHECK (outcome IN ('received','processed','ignored','review')),
    detail          TEXT,
    transaction_id  TEXT,
    processed_at    INTEGER,
    UNIQUE (provider, event_key)
);
CREATE INDEX payment_webhooks_outcome ON payment_webhooks (outcome, received_at);

-- Idempotency-Key replays of money-moving POSTs, kept 24 h.
CREATE TABLE payment_idempotency (
    user_id      TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending','done')),
    status_code  INTEGER,
    response     TEXT,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX payment_idempotency_expiry ON payment_idempotency (expires_at);
