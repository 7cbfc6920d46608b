-- Bookings: the job between a customer and a technician.
-- (The bookings module owns this file and extends it; the columns below are
-- the contract other modules rely on through bookings::store.)

CREATE TABLE bookings (
    id                  TEXT PRIMARY KEY,
    booking_number      TEXT NOT NULL UNIQUE,
    customer_id         TEXT NOT NULL REFERENCES users (id),
    technician_id       TEXT REFERENCES users (id),
    status              TEXT NOT NULL,
    currency            TEXT NOT NULL DEFAULT 'KES',
    total_amount_minor  INTEGER NOT NULL DEFAULT 0,
    completed_at        INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE INDEX bookings_customer ON bookings (customer_id, created_at);
CREATE INDEX bookings_technician ON bookings (technician_id, created_at);
