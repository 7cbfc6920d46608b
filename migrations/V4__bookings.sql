-- Bookings: the job between a customer and a technician.
-- (The bookings module owns this file and extends it; the columns of the
-- first block below are the contract other modules rely on through
-- bookings::store.) Money is integer minor units; times are ms since the epoch.

CREATE TABLE bookings (
    id                  TEXT PRIMARY KEY,
    booking_number      TEXT NOT NULL UNIQUE,
    customer_id         TEXT NOT NULL REFERENCES users (id),
    technician_id       TEXT REFERENCES users (id),
    status              TEXT NOT NULL,
    service_category    TEXT NOT NULL DEFAULT 'other',
    service_type        TEXT NOT NULL DEFAULT '',
    description         TEXT NOT NULL DEFAULT '',
    urgency             TEXT NOT NULL DEFAULT 'medium',
    scheduled_at        INTEGER,
    estimated_duration_mins INTEGER NOT NULL DEFAULT 120,
    location_lng        REAL,
    location_lat        REAL,
    location_address    TEXT,
    budget_minor        INTEGER,
    source              TEXT NOT NULL DEFAULT 'api',
    match_score         REAL,
    currency            TEXT NOT NULL DEFAULT 'KES',
    -- Always equal to the current pricing total (payments reads it).
    total_amount_minor  INTEGER NOT NULL DEFAULT 0,
    assigned_at         INTEGER,
    completed_at        INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,

    -- Owned by the bookings module alone.
    location_city       TEXT,
    location_county     TEXT,
    location_landmarks  TEXT,
    location_access     TEXT,
    -- Minutes east of UTC of the zone the client's local times are in.
    utc_offset_mins     INTEGER NOT NULL DEFAULT 180,
    -- JSON array of media ids.
    photo_ids           TEXT NOT NULL DEFAULT '[]',
    accepted_at         INTEGER,
    started_at          INTEGER,
    cancelled_at        INTEGER,
    cancelled_by        TEXT,
    cancellation_reason TEXT,
    cancellation_fee_minor INTEGER,
    -- The pricing breakdown (line items in booking_price_items).
    labour_minor        INTEGER NOT NULL DEFAULT 0,
    materials_minor     INTEGER NOT NULL DEFAULT 0,
    transport_minor     INTEGER NOT NULL DEFAULT 0,
    discount_minor      INTEGER NOT NULL DEFAULT 0,
    platform_fee_minor  INTEGER NOT NULL DEFAULT 0,
    priced_at           INTEGER
);
CREATE INDEX bookings_customer ON bookings (customer_id, created_at);
CREATE INDEX bookings_technician ON bookings (technician_id, created_at);
CREATE INDEX bookings_created ON bookings (created_at);
-- Lists filtered by status (one range per status, merged: store::list).
CREATE INDEX bookings_technician_status ON bookings (technician_id, status, created_at);
CREATE INDEX bookings_status ON bookings (status, created_at);
CREATE INDEX bookings_completed ON bookings (completed_at) WHERE completed_at IS NOT NULL;
CREATE INDEX bookings_cancelled ON bookings (cancelled_at) WHERE cancelled_at IS NOT NULL;

-- The sequence behind booking numbers (BKG-<ms>-<sequence>).
CREATE TABLE booking_number_seq (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    last    INTEGER NOT NULL
);
INSERT INTO booking_number_seq (id, last) VALUES (1, 0);

-- Every status change: the booking's timeline.
CREATE TABLE booking_status_history (
    id          INTEGER PRIMARY KEY,
    booking_id  TEXT NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    action      TEXT NOT NULL,
    actor_id    TEXT,
    reason      TEXT,
    at          INTEGER NOT NULL
);
CREATE INDEX booking_status_history_booking ON booking_status_history (booking_id, id);

-- The current line items of a booking's price.
CREATE TABLE booking_price_items (
    booking_id   TEXT NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('labour','parts','materials','transport','discount')),
    description  TEXT NOT NULL DEFAULT '',
    quantity     INTEGER NOT NULL CHECK (quantity > 0),
    unit_minor   INTEGER NOT NULL CHECK (unit_minor >= 0),
    amount_minor INTEGER NOT NULL CHECK (amount_minor >= 0),
    PRIMARY KEY (booking_id, position)
) WITHOUT ROWID;

-- Every price a booking has had, with who set it.
CREATE TABLE booking_pricing_history (
    id                 INTEGER PRIMARY KEY,
    booking_id         TEXT NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    actor_id           TEXT NOT NULL,
    -- JSON array of {kind, description, quantity, unitMinor, amountMinor}
    items              TEXT NOT NULL,
    subtotal_minor     INTEGER NOT NULL,
    platform_fee_minor INTEGER NOT NULL,
    total_amount_minor INTEGER NOT NULL,
    currency           TEXT NOT NULL,
    note               TEXT,
    at                 INTEGER NOT NULL
);
CREATE INDEX booking_pricing_history_booking ON booking_pricing_history (booking_id, id);

-- Quality checkpoints the technician records during the job.
CREATE TABLE booking_checkpoints (
    id            TEXT PRIMARY KEY,
    booking_id    TEXT NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    technician_id TEXT NOT NULL,
    name          TEXT NOT NULL,
    passed        INTEGER NOT NULL,
    notes         TEXT,
    photo_ids     TEXT NOT NULL DEFAULT '[]',
    -- JSON array of checklist entries as sent
    checklist     TEXT NOT NULL DEFAULT '[]',
    created_at    INTEGER NOT NULL
);
CREATE INDEX booking_checkpoints_booking ON booking_checkpoints (booking_id, created_at);

-- Disputes; at most one open per booking.
CREATE TABLE booking_disputes (
    id                  TEXT PRIMARY KEY,
    booking_id          TEXT NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    raised_by           TEXT NOT NULL,
    raised_at           INTEGER NOT NULL,
    from_status         TEXT NOT NULL,
    reason              TEXT NOT NULL,
    description         TEXT NOT NULL,
    evidence            TEXT NOT NULL DEFAULT '[]',
    status              TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open','investigating','resolved','closed')),
    resolution          TEXT,
    outcome             TEXT CHECK (outcome IS NULL OR outcome IN ('completed','refunded')),
    -- NULL with outcome 'refunded' means the full amount.
    refund_amount_minor INTEGER,
    resolution_notes    TEXT,
    resolved_by         TEXT,
    resolved_at         INTEGER
);
CREATE INDEX booking_disputes_booking ON booking_disputes (booking_id, raised_at);
CREATE UNIQUE INDEX booking_disputes_open ON booking_disputes (booking_id) WHERE status IN ('open','investigating');

-- Bookings counted by party and status, with their totals and fees, kept
-- in the transaction of every change: list totals and stats without
-- counting a million rows. scope 'all' has party_id ''.
CREATE TABLE booking_counts (
    scope        TEXT NOT NULL CHECK (scope IN ('all','customer','technician')),
    party_id     TEXT NOT NULL,
    status       TEXT NOT NULL,
    n            INTEGER NOT NULL DEFAULT 0,
    amount_minor INTEGER NOT NULL DEFAULT 0,
    fee_minor    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, party_id, status)
) WITHOUT ROWID;

-- The running figures behind a technician's derived profile numbers.
CREATE TABLE booking_technician_figures (
    technician_id   TEXT PRIMARY KEY,
    completed       INTEGER NOT NULL DEFAULT 0,
    cancelled       INTEGER NOT NULL DEFAULT 0,
    answers         INTEGER NOT NULL DEFAULT 0,
    answer_ms_total INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
