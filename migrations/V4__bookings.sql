-- Bookings: the job between a customer and a technician.
-- (The bookings module owns this file and extends it; the columns below are
-- the contract other modules rely on through bookings::store.)

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
    total_amount_minor  INTEGER NOT NULL DEFAULT 0,
    assigned_at         INTEGER,
    completed_at        INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE INDEX bookings_customer ON bookings (customer_id, created_at);
CREATE INDEX bookings_technician ON bookings (technician_id, created_at);
